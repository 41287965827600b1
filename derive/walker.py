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


def walk(order, loss, trainable, symbols, names):
    """Every consumer edge's term, per input node; the δ of a node is their sum (rule 1)."""
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
        for x, expr in zip(node.inputs, contributions):
            if x in trainable:
                if expr is None:
                    raise NotImplementedError(f"the rule of {op.name} gives no δ for input "
                                              f"{x} of node {node}, which depends on parameters")
                terms[x].append(Term(expr, op.rule, node))
    return terms
