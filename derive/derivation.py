"""`derive(graph)`: the five rules applied to a graph, and the `Derivation` they give.

A derivation holds a forward equation for every activation, a δ equation for every activation
the loss depends on through a parameter, and a gradient for every parameter. Every expression
is written over the *names* of neighbouring nodes (δh = W2ᵀ δz2), so its size does not grow
with depth. Its views (text, LaTeX, explanations, pictures) are attached by `views`.
"""

import functools
import operator
from dataclasses import dataclass, field

import networkx as nx
import sympy as sp

from .algebra import ROOT_DELTA, Next
from .errors import GraphError
from .graph import Graph
from .folding import (final_names, fold_deltas, foldable, forward_expressions,
                      provisional_names, renamed)
from .naming import delta_symbol
from .registry import Rule
from .validation import carriers, check_names
from .walker import Term, walk


@dataclass
class Derivation:
    graph: object
    loss: str
    shapes: dict                       # name -> (rows, cols) of every materialized node
    kinds: dict                        # name -> "input", "param", "state" or the op's name
    forward: dict                      # name -> expression, in computation order
    deltas: dict                       # name -> δ expression, in backward order
    gradients: dict                    # parameter name -> δW expression
    terms: dict = field(repr=False)    # name -> [Term] that sum to its δ or gradient
    nodes: dict = field(repr=False)    # name -> Node
    places: dict = field(repr=False)   # Node -> its name, or (folded) its forward expression
    compact: dict = field(default_factory=dict, repr=False)  # name -> Compact: a textbook δ

    # Read once a statement while writing code: worked out once (a derivation does not change).
    @functools.cached_property
    def inputs(self):
        return tuple(n for n, k in self.kinds.items() if k == "input")

    @functools.cached_property
    def params(self):
        return tuple(n for n, k in self.kinds.items() if k == "param")

    @functools.cached_property
    def states(self):
        """State name (h_prev) -> (the node it carries, h; its initial input, h0)."""
        return {name: (node.attrs["carrier"], node.attrs["initial"])
                for name, node in self.nodes.items() if node.kind == "state"}

    @functools.cached_property
    def sequences(self):
        return tuple(n for n in self.inputs if self.nodes[n].attrs.get("sequence"))

    @functools.cached_property
    def recurrent(self):
        return self.graph.recurrent

    def per_step(self, name):
        """Whether a node has a value at every time step (all but parameters)."""
        return self.recurrent and self.kinds[name] != "param" and not (
            self.kinds[name] == "input" and not self.nodes[name].attrs.get("sequence"))

    @property
    def dims(self):
        """The dimension symbols, sorted by name."""
        found = {d for shape in self.shapes.values() for d in _symbols(shape)}
        return sorted(found, key=str)

    def symbol(self, name):
        return sp.MatrixSymbol(name, *self.shapes[name])

    def delta(self, name):
        return delta_symbol(name, self.shapes[name])

    def place(self, node):
        """How equations refer to a node that made a term: its name, or, for a node folded
        into its neighbours, its value written out (a sympy expression)."""
        return self.places[node]

    def size(self):
        """Total number of sympy nodes over all equations: linear in the graph's size."""
        exprs = [*self.forward.values(), *self.deltas.values(), *self.gradients.values()]
        return sum(sum(1 for _ in sp.preorder_traversal(e)) for e in exprs)


@dataclass(frozen=True)
class Compact:
    """δ of a node in a textbook's compact form, equal to the rule-by-rule one: `terms` add
    up to it (the form, then any terms from outside the block that has it)."""

    title: str
    terms: list


def _compact_forms(graph, dag, kept, resolved, final):
    """For each compact form a builder declared whose node has a δ, that δ in compact form;
    none where a node inside the block is also used outside it (its δ would then have terms
    the textbook formula does not know)."""
    out = {}
    for form in graph.compact_forms:
        terms = resolved.get(form.of, ())
        inside = [t for t in terms if t.consumer in form.inside]
        sealed = all(set(dag.successors(n)) <= form.inside | {form.output} for n in form.inside)
        if not (sealed and inside and {form.of, *form.reads} <= kept):
            continue
        written = form.write(lambda n: sp.MatrixSymbol(final[n], *n.shape),
                             lambda n: delta_symbol(final[n], n.shape))
        outside = [t.expr for t in terms if t.consumer not in form.inside]
        out[final[form.of]] = Compact(form.title, [written, *outside])
    return out


def _check_constants(order, forward_expr):
    """A constant written with a dimension (x / sqrt(d_k)) needs that dimension in a shape:
    the generated code reads sizes off the arrays."""
    sized = {s for n in order for d in n.shape for s in d.free_symbols}
    for n in order:
        stray = {s for s in forward_expr[n].free_symbols if isinstance(s, sp.Symbol)} - sized
        if stray:
            names = ", ".join(sorted(map(str, stray)))
            raise GraphError(f"{n.describe()} uses the dimension {names}, which no shape in "
                             "the graph has, so its size can never be known")


def _symbols(shape):
    return {s for d in shape for s in d.free_symbols}


def derived(given, caller):
    """`given` as a derivation: itself, or a graph's, derived now; `caller` names the function
    in the error for anything else."""
    if isinstance(given, Derivation):
        return given
    if isinstance(given, Graph):
        return derive(given)
    raise GraphError(f"{caller} takes a graph or its derivation (d.derive(g)), got "
                     f"{type(given).__name__}")


def derive(graph):
    """Apply the five rules to `graph` and return its `Derivation`."""
    if not isinstance(graph, Graph):
        raise GraphError(f"derive takes a Graph, got {type(graph).__name__}")
    graph = graph.snapshot()
    loss = graph.loss_node
    if loss is None:
        raise GraphError(f"graph {graph.name!r} has no loss: call g.loss(node) first")
    dag = graph.dag()
    upstream = graph.reaching_loss(dag)
    position = {n: k for k, n in enumerate(graph.nodes)}
    order = [n for n in nx.lexicographical_topological_sort(dag, key=position.get)
             if n in upstream]
    relevant = set(order)
    for p in graph.params:
        if p not in relevant:
            raise GraphError(f"parameter {p} does not affect the loss {loss}")
    check_names(graph, order)
    recurrences = carriers(graph, order)
    sources = [*graph.params, *recurrences]
    trainable = set(sources).union(*(nx.descendants(dag, s) for s in sources))

    names = provisional_names(order, loss)
    symbols = {n: sp.MatrixSymbol(names[n], *n.shape) for n in order}
    terms = walk(order, loss, trainable, symbols, names, set(recurrences.values()))
    for state, carrier in recurrences.items():  # rule 1 through time: h_t also feeds step t+1
        if state in trainable and carrier in terms:  # (a carrier that no parameter or state
            # feeds, h_t = tanh(x_t), needs no δ: none flows back through it)
            terms[carrier].append(Term(Next(delta_symbol(names[state], state.shape)),
                                       Rule.SPLITTING, state))
    keep = {n for form in graph.compact_forms for n in form.reads}
    folded = foldable(order, loss, terms, symbols, names, keep)
    final = final_names(order, folded, names)
    rename = {}
    for n in order:
        if n not in folded and final[n] != names[n]:
            rename[symbols[n]] = sp.MatrixSymbol(final[n], *n.shape)
            rename[delta_symbol(names[n], n.shape)] = delta_symbol(final[n], n.shape)

    kept = [n for n in order if n not in folded]
    forward_expr = {n: e.xreplace(rename)
                    for n, e in forward_expressions(order, folded, symbols).items()}
    rename.update({symbols[n]: forward_expr[n] for n in folded if n.op.view})  # Kᵀ where read
    _check_constants(order, forward_expr)
    resolved = fold_deltas(order, folded, terms, names)
    resolved = {n: [renamed(t, rename) for t in resolved[n]] for n in kept if n in resolved}
    for n in kept:
        if n in trainable and n is not loss and not resolved.get(n):
            raise NotImplementedError(f"node {final[n]} depends on parameters but no rule gave "
                                      "it a δ")

    def total(n):
        return functools.reduce(operator.add, [t.expr for t in resolved[n]])

    return Derivation(
        graph=graph, loss=final[loss],
        shapes={final[n]: n.shape for n in kept},
        kinds={final[n]: n.kind for n in kept},
        forward={final[n]: forward_expr[n] for n in kept if not n.is_leaf},
        deltas={final[n]: (ROOT_DELTA if n is loss else total(n))
                for n in reversed(kept) if n in trainable and n.kind != "param"},
        gradients={final[n]: total(n) for n in kept if n.kind == "param"},
        terms={final[n]: resolved[n] for n in reversed(kept) if resolved.get(n)},
        nodes={final[n]: n for n in kept},
        places={n: final[n] if n in final else forward_expr[n] for n in order},
        compact=_compact_forms(graph, dag, set(kept), resolved, final))
