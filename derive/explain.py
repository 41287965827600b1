"""Step-by-step explanations: each δ, term by term, with the rule and the place it came from."""

from .latex import latex, latex_name
from .printing import stamped, text

_WORDS = {1: "splitting", 2: "adding", 3: "elementwise multiplication",
          4: "function application", 5: "weight matrix"}


def explain(der, as_latex=False):
    """Why each δ is what it is: the rule behind every term, and the consumer it came through."""
    steps = [_step(der, name, expr, as_latex)
             for name, expr in [*der.deltas.items(), *der.gradients.items()] if name != der.loss]
    if as_latex:
        return "\\begin{enumerate}\n" + "\n".join(steps) + "\n\\end{enumerate}\n"
    intro = f"Backpropagation through {der.graph.name}, from the loss {der.loss} backwards."
    return "\n\n".join([intro, *steps]) + "\n"


def _step(der, name, expr, as_latex):
    terms = der.terms[name]
    reasons = [_reason(der, t, as_latex) for t in terms]
    shown_name = f"${latex_name(name)}$" if as_latex else name
    if len(terms) == 1:
        fan = f"{shown_name} feeds one place, so rule 1 adds nothing."
    else:
        fan = f"{shown_name} feeds {len(terms)} places, so rule 1 (splitting) adds their terms."
    if as_latex:
        items = "".join(f"\n    \\item {r}" for r in reasons)
        return (f"  \\item $\\delta {latex_name(name)} = {latex(expr)}$\n  \\begin{{itemize}}"
                f"{items}\n  \\end{{itemize}}\n  {fan}")
    return "\n".join([f"δ{stamped(der, name)} = {text(expr, der)}", *(f"  • {r}" for r in reasons),
                      f"  {fan}"])


def _reason(der, term, as_latex):
    chain = term.chain()
    named = f"${latex_name(chain[-1][1])}$" if as_latex else chain[-1][1]
    shown = f"${latex(term.expr)}$" if as_latex else text(term.expr, der)
    if term.rule.value == 0:
        return f"{shown}: the derivative of the loss {named} itself"
    if term.rule.value == 1:
        return f"{shown}: rule 1 (splitting) through time: what step t+1 sends back as {named}"
    if len(chain) == 1:
        return f"{shown}: {_rule(term.rule.value)} at {named}"
    carried = ", then ".join(_rule(rule.value) for rule, _ in chain[1:])
    delta = f"$\\delta {latex_name(chain[-1][1])}$" if as_latex else f"δ{named}"
    at = "" if as_latex else f" at {chain[0][1]}"  # a folded term's text is not LaTeX
    return f"{shown}: {_rule(term.rule.value)}{at}, inside {named} ({delta} carried there by {carried})"


def _rule(number):
    return f"rule {number} ({_WORDS[number]})" if number else "the loss"
