"""The walker: reverse topological order, one rule per consumer edge, rule 1 as the sum.

This is the only place terms are added up: every other rule describes one edge.
"""

from dataclasses import dataclass
from typing import Optional

import sympy as sp

from .algebra import ROOT_DELTA
from .naming import delta_symbol
from .registry import Rule


@dataclass
class Term:
    """One edge's contribution to a δ: `expr`, made by `rule` at the node `consumer`.

    When the consumer was folded into its neighbours, `upstream` is the term that carried δ
    into it.
    """

    expr: sp.Basic
    rule: Rule
    consumer: object          # the Node whose rule made this term
    upstream: Optional["Term"] = None

    def chain(self):
        """(rule, consumer) from this edge back to the kept node whose δ it carries."""
        steps, term = [], self
        while term is not None:
            steps.append((term.rule, term.consumer))
            term = term.upstream
        return steps

    @property
    def origin(self):
        """The kept node whose δ this term carries back (the consumer, unless folded)."""
        return self.chain()[-1][1]


def walk(order, loss, trainable, symbols, names, carried=frozenset()):
    """Every consumer edge's term, per input node; the δ of a node is their sum (rule 1).

    A node whose every term is 0 (read only as 0 · sqrt(z), which the forward pass drops)
    passes 0 on to its inputs: δt ⊙ 1/(2 sqrt(z)) would be 0 · ∞ = NaN where its forward
    value, never used, is not finite. A 0 term beside others is left out of the sum. The
    `carried` nodes (a state's next value) get a term from step t+1 after the walk, so
    theirs are never taken for 0."""
    terms = {n: [] for n in order if n in trainable}
    for node in reversed(order):
        if node not in trainable or node.is_leaf:
            continue
        delta = ROOT_DELTA if node is loss else delta_symbol(names[node], node.shape)
        op = node.op
        contributions = op.backward(node, delta, symbols[node], *(symbols[x] for x in node.inputs))
        if len(contributions) != len(node.inputs):
            raise NotImplementedError(f"the rule of {op.name} returned {len(contributions)} "
                                      f"terms for {len(node.inputs)} inputs at node {node}")
        still = node is not loss and node not in carried and bool(terms[node]) and \
            all(_zero(t.expr) for t in terms[node])
        for x, expr in zip(node.inputs, contributions):
            if x in trainable:
                if expr is None:
                    raise NotImplementedError(f"the rule of {op.name} gives no δ for input "
                                              f"{x} of node {node}, which depends on parameters")
                terms[x].append(Term(sp.ZeroMatrix(*x.shape) if still else expr, op.rule, node))
    for node, found in terms.items():
        if not all(_zero(t.expr) for t in found):
            terms[node] = [t for t in found if not _zero(t.expr)]
    return terms


def _zero(expr):
    return expr.is_ZeroMatrix or expr == 0
