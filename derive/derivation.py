"""The walker: reverse topological order, one rule per consumer edge, rule 1 as the sum.

`derive(graph)` gives a `Derivation`: a forward equation for every activation, a δ equation
for every activation the loss depends on through a parameter, and a gradient for every
parameter. Every expression is written over the *names* of neighbouring nodes (δh = W2ᵀ δz2),
so its size does not grow with depth.

Unnamed intermediates that are used once, whose value no rule reads and whose δ feeds a single
term are folded into their neighbours (`z1 = W1 x + b1` rather than `t1 = W1 x; z1 = t1 + b1`);
the others are named t1, t2, … in order.
"""

import functools
import operator
from dataclasses import dataclass, field
from typing import Optional

import networkx as nx
import sympy as sp

from .algebra import ROOT_DELTA, Next
from .errors import GraphError, ShapeError
from .naming import Delta, delta_symbol, temporaries
from .rules import Kind, Rule, rule_for


@dataclass
class Term:
    """One edge's contribution to a δ: `expr`, made by `rule` at the node `consumer`.

    When the consumer was folded away, `upstream` is the term that carried δ into it.
    """

    expr: sp.Basic
    rule: Rule
    consumer: str
    upstream: Optional["Term"] = None

    def chain(self):
        """(rule, consumer) from this edge back to the named node whose δ it carries."""
        steps, term = [], self
        while term is not None:
            steps.append((term.rule, term.consumer))
            term = term.upstream
        return steps


@dataclass
class Derivation:
    graph: object
    loss: str
    shapes: dict                       # name -> (rows, cols) of every materialized node
    kinds: dict                        # name -> Kind
    forward: dict                      # name -> expression, in computation order
    deltas: dict                       # name -> δ expression, in backward order
    gradients: dict                    # parameter name -> δW expression
    terms: dict = field(repr=False)    # name -> [Term] that sum to its δ or gradient
    nodes: dict = field(repr=False)    # name -> Node

    @property
    def inputs(self):
        return [n for n, k in self.kinds.items() if k is Kind.INPUT]

    @property
    def params(self):
        return [n for n, k in self.kinds.items() if k is Kind.PARAM]

    @property
    def states(self):
        """State name (h_prev) -> (the node it carries, h; its initial input, h0)."""
        return {name: (node.attrs["carrier"], node.attrs["initial"])
                for name, node in self.nodes.items() if node.kind is Kind.STATE}

    @property
    def sequences(self):
        return [n for n in self.inputs if self.nodes[n].attrs.get("sequence")]

    @property
    def recurrent(self):
        return self.graph.recurrent

    def per_step(self, name):
        """Whether a node has a value at every time step (all but parameters)."""
        return self.recurrent and self.kinds[name] is not Kind.PARAM and not (
            self.kinds[name] is Kind.INPUT and not self.nodes[name].attrs.get("sequence"))

    @property
    def dims(self):
        """The dimension symbols, sorted by name."""
        found = {d for shape in self.shapes.values() for d in shape if isinstance(d, sp.Symbol)}
        return sorted(found, key=str)

    def symbol(self, name):
        return sp.MatrixSymbol(name, *self.shapes[name])

    def delta(self, name):
        return delta_symbol(name, self.shapes[name])

    def size(self):
        """Total number of sympy nodes over all equations: linear in the graph's size."""
        exprs = [*self.forward.values(), *self.deltas.values(), *self.gradients.values()]
        return sum(sum(1 for _ in sp.preorder_traversal(e)) for e in exprs)

    def __str__(self):
        from .display import text_equations
        return "\n".join(text_equations(self))

    def to_latex(self, standalone=False, tags=True):
        """The equations in an `align` environment; a complete document if `standalone`."""
        from .latex import to_latex
        return to_latex(self, standalone=standalone, tags=tags)

    def explain(self, latex=False):
        """Step by step: which rule made each term of each δ, and through which consumer."""
        from .explain import explain
        return explain(self, as_latex=latex)

    def _repr_latex_(self):
        from .latex import to_latex
        return to_latex(self, environment="aligned")


def derive(graph):
    """Apply the five rules to `graph` and return its `Derivation`."""
    loss = graph.loss_node
    if loss is None:
        raise GraphError(f"graph {graph.name!r} has no loss: call g.loss(node) first")
    dag = graph.dag()
    upstream = nx.ancestors(dag, loss) | {loss}
    position = {n: k for k, n in enumerate(graph.nodes)}
    order = [n for n in nx.lexicographical_topological_sort(dag, key=position.get)
             if n in upstream]
    relevant = set(order)
    for p in graph.params:
        if p not in relevant:
            raise GraphError(f"parameter {p} does not affect the loss {loss}")
    _check_names(graph, order)
    carriers = _carriers(graph, order)
    sources = [*graph.params, *carriers]
    trainable = set(sources).union(*(nx.descendants(dag, s) for s in sources))

    names = _provisional_names(order, loss)
    symbols = {n: sp.MatrixSymbol(names[n], *n.shape) for n in order}
    terms = _walk(order, loss, trainable, symbols, names)
    for state, carrier in carriers.items():  # rule 1 through time: h_t also feeds step t+1
        if state in trainable:
            terms[carrier].append(Term(Next(delta_symbol(names[state], state.shape)),
                                       Rule.SPLITTING, state))
    folded = _foldable(order, loss, terms, symbols, names)
    final = _final_names(order, folded, names)
    rename = {}
    for n in order:
        if n not in folded and final[n] != names[n]:
            rename[symbols[n]] = sp.MatrixSymbol(final[n], *n.shape)
            rename[delta_symbol(names[n], n.shape)] = delta_symbol(final[n], n.shape)

    kept = [n for n in order if n not in folded]
    forward_expr = _forward(order, folded, symbols)
    resolved = _fold_deltas(order, folded, terms, names)
    for n in kept:
        for t in resolved.get(n, []):
            _rename(t, rename, final)

    def total(n):
        return functools.reduce(operator.add, [t.expr for t in resolved[n]])

    return Derivation(
        graph=graph, loss=final[loss],
        shapes={final[n]: n.shape for n in kept},
        kinds={final[n]: n.kind for n in kept},
        forward={final[n]: forward_expr[n].xreplace(rename) for n in kept if not n.is_leaf},
        deltas={final[n]: (ROOT_DELTA if n is loss else total(n))
                for n in reversed(kept) if n in trainable and n.kind is not Kind.PARAM},
        gradients={final[n]: total(n) for n in kept if n.kind is Kind.PARAM},
        terms={final[n]: resolved[n] for n in reversed(kept) if resolved.get(n)},
        nodes={final[n]: n for n in kept})


def _check_names(graph, order):
    """Node, dimension and function names share the generated module's namespace."""
    owners = {}
    for n in order:
        if n.name:
            owners[n.name] = f"node {n.name}"
    for n in order:
        claims = [(str(dim), "dimension") for dim in n.shape if isinstance(dim, sp.Symbol)]
        if n.kind is Kind.APPLY and n.attrs["function"].user:
            claims.append((n.attrs["function"].name, "function"))
        for name, what in claims:
            owner = owners.setdefault(name, f"{what} {name}")
            if owner != f"{what} {name}":
                raise GraphError(f"graph {graph.name!r}: {what} {name!r} has the same name as "
                                 f"{owner}; rename one of them")
    if graph.recurrent and "T" in owners:
        raise GraphError(f"graph {graph.name!r}: the {owners['T']} is named 'T', which a recurrent "
                         "graph keeps for the number of time steps")
    functions = {}
    for n in order:
        if n.kind is Kind.APPLY:
            f = n.attrs["function"]
            if f.user and functions.setdefault(f.name, f) is not f:
                raise GraphError(f"graph {graph.name!r}: two different functions are named "
                                 f"{f.name!r}")


def _carriers(graph, order):
    """Each state h_prev and the node h whose value the next step receives as h_{t−1}."""
    carriers = {}
    for state in graph.states:
        name = state.attrs["carrier"]
        carrier = graph.by_name.get(name)
        if carrier is None or carrier not in order:
            raise GraphError(f"state {state} has no next value: name the node that computes "
                             f"it {name!r} (and make the loss depend on it)")
        if state not in order:
            raise GraphError(f"state {state} is never read on the way to the loss: use it in "
                             f"an equation, or drop the state")
        if carrier.shape != state.shape:
            raise ShapeError(f"recurrence {name}: {state} is {'×'.join(map(str, state.shape))} "
                             f"but {name} is {'×'.join(map(str, carrier.shape))}")
        carriers[state] = carrier
    return carriers


def _walk(order, loss, trainable, symbols, names):
    """Every consumer edge's term, per input node; the δ of a node is the sum (rule 1)."""
    terms = {n: [] for n in order if n in trainable}
    for node in reversed(order):
        if node not in trainable or node.is_leaf:
            continue
        delta = ROOT_DELTA if node is loss else delta_symbol(names[node], node.shape)
        op = rule_for(node)
        contributions = op.backward(node, delta, symbols[node], *(symbols[x] for x in node.inputs))
        if len(contributions) != len(node.inputs):
            raise NotImplementedError(f"rule for {node.kind} returned {len(contributions)} "
                                      f"terms for {len(node.inputs)} inputs at node {node}")
        for x, expr in zip(node.inputs, contributions):
            if expr is not None and x in trainable:
                terms[x].append(Term(expr, op.rule, node))
    return terms


def _provisional_names(order, loss):
    taken = {n.name for n in order if n.name}
    names = {n: n.name for n in order if n.name}
    if loss.name is None and "E" not in taken:
        names[loss] = "E"
    for k, n in enumerate(n for n in order if n not in names):
        names[n] = f"_tmp{k}"  # never a user name: those start with a letter
    return names


def _foldable(order, loss, terms, symbols, names):
    """Unnamed nodes used once whose value no term reads and whose δ is cheap to write out:
    it feeds at most one term, or it is just another node's δ (δt = δz through a sum).

    Decided from the loss backwards, so `resolved` holds what a folded consumer's δ becomes
    and an alias of an alias of a long expression is not mistaken for a cheap one."""
    uses = {n: 0 for n in order}
    for node in order:
        for x in node.inputs:
            uses[x] += 1
    exprs = [t.expr for ts in terms.values() for t in ts]
    read = set().union(*(e.atoms(sp.MatrixSymbol) for e in exprs)) if exprs else set()
    delta_reads = {}
    for e in exprs:
        for d in e.atoms(Delta):
            delta_reads[d.name] = delta_reads.get(d.name, 0) + 1
    folded, resolved = set(), {}
    for n in reversed(order):
        if not (n.name is None and n is not loss and not n.is_leaf and uses[n] == 1
                and symbols[n] not in read):
            continue
        delta = delta_symbol(names[n], n.shape)
        own = [t.expr.xreplace(resolved) for t in terms.get(n, ())]
        if delta_reads.get(delta.name, 0) <= 1 or (len(own) == 1 and isinstance(own[0], Delta)):
            folded.add(n)
            if own:
                resolved[delta] = own[0]
    return folded


def _final_names(order, folded, names):
    taken = {names[n] for n in order if not names[n].startswith("_")}
    fresh = temporaries(taken)
    return {n: (next(fresh) if names[n].startswith("_") else names[n])
            for n in order if n not in folded}


def _forward(order, folded, symbols):
    """Each node's value over its inputs, with folded inputs written out in place."""
    expr = {}
    for n in order:
        if n.is_leaf:
            expr[n] = symbols[n]
            continue
        args = [expr[x] if x in folded else symbols[x] for x in n.inputs]
        expr[n] = rule_for(n).forward(n, *args)
    return expr


def _fold_deltas(order, folded, terms, names):
    """Terms with the δ of each folded node replaced by that node's single term."""
    resolved = {}
    for n in reversed(order):
        if n not in terms:
            continue
        out = []
        for t in terms[n]:
            consumer = t.consumer
            if consumer in folded:
                (carrier,) = resolved[consumer]
                t = Term(t.expr.xreplace({delta_symbol(names[consumer], consumer.shape):
                                          carrier.expr}),
                         t.rule, consumer, upstream=carrier)
            out.append(t)
        resolved[n] = out
    return resolved


def _rename(term, rename, final):
    while term is not None:
        term.expr = term.expr.xreplace(rename)
        if not isinstance(term.consumer, str):
            term.consumer = final.get(term.consumer, str(term.consumer))
        term = term.upstream
