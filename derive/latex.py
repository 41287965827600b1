"""LaTeX for a derivation: the same rows as the text equations, in an `align` environment."""

from .display import T, displayed_time, joined, reason, rows, sides, timing
from .printers.latex import LatexPrinter
from .registry import Rule
from .rendering import render


def latex_printer(der):
    """A LaTeX printer that knows every name of the derivation, so none prints like another."""
    names = [*der.shapes, *(str(d) for d in der.dims), *(initial for _, initial in
                                                         der.states.values())]
    printer = LatexPrinter(names)
    printer.timing = timing(der)
    return printer


def to_latex(der, standalone=False, tags=True, environment="align"):
    """Forward equations, δs and gradients in an `align`; a whole document if `standalone`.

    A δ that sums several terms (rule 1) gets a line per term, each tagged with its own rule.
    `environment="aligned"` gives `$$\\begin{aligned}…$$`, which notebooks render."""
    printer = latex_printer(der)
    lines = []
    for row in rows(der):
        lhs, _ = sides(printer, row, displayed_time(row))
        if not row.delta:
            lines.append((lhs, printer.doprint(row.expr), None))
            continue
        for k, (term, expr) in enumerate(row.terms):
            body = printer.doprint(expr)
            body = rf"\sum_t {body}" if row.summed else body
            rhs = body if k == 0 or body.startswith("-") else f"+ {body}"
            lines.append((lhs if k == 0 else "", rhs, latex_why(der, term, printer)
                          if tags else None))
        if row.lhs in der.compact:
            compact = der.compact[row.lhs]
            lines.append((lhs, joined(printer, compact.terms),  # the tag short: a long line
                          r"\text{compact form}" if tags else None))
    printer.time = T if der.recurrent else None  # as the equations name them: x_t, h_{t−1}
    shapes = [(printer.doprint(der.symbol(n)), latex_shape(printer, shape))
              for n, shape in der.shapes.items()]
    return render("equations.tex.j2", graph=der.graph.name, rows=lines, shapes=shapes,
                  standalone=standalone, environment=environment)


def latex_place(der, place, printer):
    return printer.name(place) if isinstance(place, str) else printer.doprint(place)


def latex_why(der, term, printer):
    """The rule that made a term, short, for the equation's comment column."""
    r = reason(der, term)
    if r.rule in (Rule.SPLITTING, Rule.LOSS):
        return rf"\text{{{r.label}}}"
    numbers = " and ".join(str(rule.value) for rule in r.rules)
    return rf"\text{{rule{'s' * bool(r.through)} {numbers} at }} " \
        f"{latex_place(der, r.place, printer)}"


def latex_shape(printer, shape):
    """rows × columns, a sum of dimensions bracketed: 4 H × (D + H)."""
    return r" \times ".join(rf"\left({printer.doprint(d)}\right)" if getattr(d, "is_Add", False)
                             else printer.doprint(d) for d in shape)

