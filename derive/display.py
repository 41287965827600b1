"""The equations of a derivation as a person reads them: forward pass, δs, gradients, each δ
with the rule behind each of its terms; shared by the text and LaTeX outputs."""

from dataclasses import dataclass

import sympy as sp

from .algebra import Next
from .printing import T, TextPrinter, timing


@dataclass(frozen=True)
class Row:
    """One displayed equation: `lhs` (a node or δ of one) at `time` equals `expr`."""

    lhs: str
    delta: bool
    expr: object
    time: object
    terms: tuple = ()      # (Term, its expression as displayed) for each term of a δ
    summed: bool = False   # a shared parameter's gradient: Σ over the steps


def display_rows(der):
    """The equations as a person reads them: forward, δs, gradients. In a recurrent net δ
    from step t+1 is written out (δc_t = … + δc_{t+1} ⊙ f_{t+1}), and a state's δ is shown
    where it matters, at the first step t = 1, as the gradient of the initial value h0."""
    states = der.states
    per_step = der.recurrent
    time = T if per_step else None
    from_next = {Next(der.delta(s)): Next(der.deltas[s]) for s in states}

    def terms(name):
        return tuple((t, t.expr.xreplace(from_next)) for t in der.terms[name])

    rows = [Row(n, False, e, time if der.per_step(n) else None) for n, e in der.forward.items()]
    for name, expr in der.deltas.items():
        if name == der.loss:
            continue
        if name in states:
            rows.append(Row(states[name][1], True, expr, sp.Integer(1), terms(name)))
        else:
            rows.append(Row(name, True, expr.xreplace(from_next), time, terms(name)))
    rows += [Row(n, True, e, None, terms(n), summed=per_step) for n, e in der.gradients.items()]
    return rows


def text_equations(der):
    """The derivation as lines of text: forward pass, then each δ and parameter gradient with
    the rule that made each of its terms."""
    printer = TextPrinter()
    printer.timing = timing(der)
    lines, backward = [], []
    for row in display_rows(der):
        printer.time = row.time if row.time is not None else T
        lhs = printer._stamp(row.lhs, row.time if row.lhs in printer.timing else None)
        rhs = printer.doprint(row.expr)
        if row.summed:
            rhs = f"Σ_t {rhs}" if len(row.terms) == 1 else f"Σ_t ({rhs})"
        if not row.delta:
            lines.append(f"{lhs} = {rhs}")
        else:
            backward.append((f"δ{lhs} = {rhs}", why([t for t, _ in row.terms])))
    width = max((len(eq) for eq, _ in backward), default=0)
    return lines + [f"{eq:<{width}}   # {reason}" for eq, reason in backward]


def why(terms):
    """Which rule made each term, and at which consumer: 'rule 5 (weight matrix) at z2'."""
    parts = ["the loss's δ" if t.rule.name == "LOSS" else
             "the next step's δ" if t.rule.name == "SPLITTING" else
             f"{t.rule} at {t.chain()[-1][1]}" for t in terms]
    if len(parts) == 1:
        return parts[0]
    return f"rule 1 (splitting): {'; '.join(parts)}"
