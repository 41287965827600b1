"""Step-by-step explanations: each δ, term by term, with the rule and the place it came from."""

from .display import displayed_time, over_steps, place_text, reason, rows, sides, text_printer
from .latex import latex_place, latex_printer
from .registry import Rule


def explain(der, as_latex=False):
    """Why each δ is what it is: the rule behind every term, and the consumer it came through."""
    printer = latex_printer(der) if as_latex else text_printer(der)
    steps = [_step(der, row, printer, as_latex) for row in rows(der) if row.delta]
    if as_latex:
        return "\\begin{enumerate}\n" + "\n".join(steps) + "\n\\end{enumerate}\n"
    intro = f"Backpropagation through {der.graph.name}, from the loss {der.loss} backwards."
    return "\n\n".join([intro, *steps]) + "\n"


def _step(der, row, printer, as_latex):
    lhs, rhs = sides(printer, row, displayed_time(row))
    reasons = [_reason(der, term, expr, printer, as_latex) for term, expr in row.terms]
    shown = lhs[len(printer.delta_mark):]  # as the equation shows it: h_t, h0
    shown = f"${shown}$" if as_latex else shown
    count = _places(der, row)
    places = "one place" if count == 1 else f"{count} places"
    if row.summed:  # a parameter of every step (METHOD: shared across steps, summed)
        rhs = over_steps(rhs, len(row.terms), r"\sum_t" if as_latex else "Σ_t")
        every = "every step" if len(row.terms) == 1 else "every place at every step"
        fan = f"{shown} feeds {places} at every step, so {Rule.SPLITTING} adds the terms " \
              f"of {every}."
    elif count == 1:  # (not one term: h_t read twice at t+1 only is one term: a hunt)
        fan = f"{shown} feeds one place, so rule 1 adds nothing."
    else:
        fan = f"{shown} feeds {places}, so {Rule.SPLITTING} adds their terms."
    fan = " ".join([fan, *_shared(der, row)])
    if as_latex:
        items = "".join(f"\n    \\item {r}" for r in reasons)
        return f"  \\item ${lhs} = {rhs}$\n  \\begin{{itemize}}{items}\n  \\end{{itemize}}\n  {fan}"
    return "\n".join([f"{lhs} = {rhs}", *(f"  • {r}" for r in reasons), f"  {fan}"])


def _places(der, row):
    """How many places a node feeds: a state's value feeds, besides its own step's, every
    place its next step's h_{t−1} does (one term here, carried back through time)."""
    return sum(len(der.terms[der.place(term.origin)])
               if reason(der, term).rule is Rule.SPLITTING else 1 for term, _ in row.terms)


def _shared(der, row):
    """Rule 1 inside an operation that uses an input many times (a convolution's kernel)."""
    node, said = der.nodes[row.lhs], set()
    for term, _ in row.terms:
        rule_at = term.chain()[0][1]
        if rule_at.op is not None and node in rule_at.inputs:
            words = rule_at.op.shared.get(rule_at.inputs.index(node))
            if words and words not in said:  # once, however many places say it
                said.add(words)
                where = "that place" if len(row.terms) == 1 else "each such place"
                yield f"Within {where} {words}: {Rule.SPLITTING} over those uses."


def _reason(der, term, expr, printer, as_latex):
    def place(node):
        where = der.place(node)
        return f"${latex_place(der, where, printer)}$" if as_latex else \
            place_text(der, where, printer)

    shown = f"${printer.doprint(expr)}$" if as_latex else printer.doprint(expr)
    r, chain = reason(der, term), term.chain()
    if r.rule is Rule.LOSS and len(chain) == 1:  # (a loss folded into a sum is not the sum: a
        return f"{shown}: the derivative of the loss {place(term.origin)} itself"  # hunt)
    if r.rule is Rule.SPLITTING:
        return f"{shown}: {Rule.SPLITTING} through time: what step t+1 sends back as " \
               f"{place(term.origin)}"
    if len(chain) == 1:
        return f"{shown}: {r.rule} at {place(term.origin)}"
    carried = ", then ".join(str(rule) for rule, _ in reversed(chain[1:]))  # from the δ in
    origin = der.place(term.origin)  # a kept node: a name
    delta = f"${printer.delta_mark}{printer.name(origin)}$" if as_latex else f"δ{origin}"
    return (f"{shown}: {chain[0][0]} at {place(chain[0][1])}, inside {place(term.origin)} "
            f"({delta} carried there by {carried})")
