"""Folding and naming: which unnamed intermediates are written into their neighbours'
equations, and the names t1, t2, … of the others.

Unnamed intermediates that are used once, whose value no rule reads and whose δ feeds a single
term are folded (`z1 = W1 x + b1` rather than `t1 = W1 x; z1 = t1 + b1`).
"""

import sympy as sp

from .naming import Delta, delta_symbol, temporaries
from .walker import Term

PROVISIONAL = "__tmp"  # never a user name: those do not start with two underscores


def _dimensions(order):
    """The dimensions' names, which no node's name may take (H, or a dimension E)."""
    return {str(s) for n in order for d in n.shape for s in getattr(d, "free_symbols", ())}


def provisional_names(order, loss):
    taken = {n.name for n in order if n.name} | _dimensions(order)  # (a hunt: a dimension E
    names = {n: n.name for n in order if n.name}                     # read as the loss)
    if loss.name is None and "E" not in taken:
        names[loss] = "E"
    for k, n in enumerate(n for n in order if n not in names):
        names[n] = f"{PROVISIONAL}{k}"
    return names


def foldable(order, loss, terms, symbols, names, keep=frozenset()):
    """Unnamed nodes used once whose value no term reads (or is a view, Kᵀ, written out where
    it is read) and whose δ is cheap to write out: it feeds at most one term, or it is just
    another node's δ (δt = δz through a sum).

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
                and n not in keep and (symbols[n] not in read or n.op.view)):
            continue
        delta = delta_symbol(names[n], n.shape)
        own = [t.expr.xreplace(resolved) for t in terms.get(n, ())]
        if delta_reads.get(delta.name, 0) <= 1 or (len(own) == 1 and isinstance(own[0], Delta)):
            folded.add(n)
            if own:
                resolved[delta] = own[0]
    return folded


def final_names(order, folded, names):
    taken = {names[n] for n in order if not names[n].startswith(PROVISIONAL)} | \
        _dimensions(order)
    fresh = temporaries(taken)
    return {n: (next(fresh) if names[n].startswith(PROVISIONAL) else names[n])
            for n in order if n not in folded}


def forward_expressions(order, folded, symbols):
    """Each node's value over its inputs, with folded inputs written out in place."""
    expr = {}
    for n in order:
        if n.is_leaf:
            expr[n] = symbols[n]
            continue
        args = [expr[x] if x in folded else symbols[x] for x in n.inputs]
        expr[n] = n.op.forward(n, *args)
    return expr


def fold_deltas(order, folded, terms, names):
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
                expr = t.expr.xreplace(_folded_delta(names[consumer], consumer, carrier.expr))
                t = Term(_scalings_merged(expr), t.rule, consumer, upstream=carrier)
            out.append(t)
        resolved[n] = out
    return resolved


def _scalings_merged(expr):
    """c (d X) as (c d) X: a chain of folded scalings (−(−(−z)))) would nest one level deeper
    at each, and sympy works a nest's shape out in time that doubles with each level."""
    def nested(e):
        return isinstance(e, sp.MatMul) and len(e.args) == 2 and e.args[0].is_number and \
            isinstance(e.args[1], sp.MatMul)

    def merged(e):
        coeff, inner = e.args
        factors = [a for a in inner.args if not a.is_number]
        coeff *= sp.Mul(*(a for a in inner.args if a.is_number))
        return sp.MatMul(*([] if coeff == 1 else [coeff]), *factors) \
            if coeff != 1 or len(factors) > 1 else factors[0]
    return expr.replace(nested, merged)


def _folded_delta(name, node, expr):
    """What replaces a folded node's δ: its one term; and where that is a number (a loss
    added up, δ = 1), the number for the δ's entry, so a loss's δ reads out − label, not
    1 (out − label)."""
    delta = delta_symbol(name, node.shape)
    swap = {delta: expr}
    factors = expr.args if isinstance(expr, sp.MatMul) else (expr,)
    if node.shape == (1, 1) and all(f.is_number or isinstance(f, (sp.OneMatrix, sp.Identity))
                                    for f in factors):  # c·1, 1×1: its entry is c
        swap[delta[0, 0]] = sp.Mul(*(f for f in factors if f.is_number))
    return swap


def renamed(term, rename):
    """The term (and the terms it carries) with provisional symbols given their final names."""
    if term is None:
        return None
    return Term(_untransposed(term.expr.xreplace(rename)), term.rule, term.consumer,
                renamed(term.upstream, rename))


def _untransposed(expr):
    """(xᵀ)ᵀ written as x, where a folded Kᵀ meets a rule's own transpose."""
    return expr.replace(lambda e: isinstance(e, sp.Transpose) and isinstance(e.arg, sp.Transpose),
                        lambda e: e.arg.arg)
