"""A worked example as a person reads it, in text and in LaTeX, from one list of equations.

Each equation is the derivation's own row (`display.rows`, spelt by `display.sides`), then the
same with the numbers put in (`printers.values`), then its value: `z1 = W1 x + b1 = [[1, 2],
[3, 4]] [1, 1]ᵀ + [0, 0]ᵀ = [3, 7]ᵀ`. A δ carries the rule words of `derive equations`; one
that gathers several terms (rule 1) shows each term with its number, then their sum. A
recurrent net goes forward for t = 1..T and back for t = T..1, each step's share of a
gradient written `δW += …`, and the gradients are the sums over the steps; so is the share of
a state's δ that step t sends back (`δh_1 += Uᵀ δz_2`), which step t − 1 adds to its own.
"""

from dataclasses import dataclass

import sympy as sp

from .algebra import Next
from .display import (compact_words, displayed_time, joined, over_steps, rows, sides,
                      text_printer, text_why)
from .latex import latex_printer, latex_why
from .printers.notation import T, Verbatim
from .printers.values import LatexValuePrinter, TextValuePrinter
from .registry import Rule
from .rendering import render

WIDTH = 100  # a text equation longer than this is broken at its = signs


@dataclass
class Equation:
    lhs: str
    chain: list             # the right sides in turn: symbols, numbers, value
    why: str = None         # the rule words
    terms: tuple = ()       # a δ of several terms: an Equation for each (rule 1)
    relation: str = "="     # "+=" for a step's share of a gradient, "←" for an update
    wide: bool = False      # it shows a value larger than 1×1


class Spelling:
    """One target's words and printers: the derivation's notation, and the same with the
    numbers put in."""

    TITLES = {
        "text": {"forward": "Forward pass", "backward": "Backward pass",
                 "gradients": "Gradients", "loss": "Loss, summed over the steps",
                 "summed": "Gradients, summed over the steps",
                 "update": "One step of gradient descent, P ← P − lr·δP"},
        "latex": {"forward": "Forward pass", "backward": "Backward pass",
                  "gradients": "Gradients", "loss": "Loss, summed over the steps",
                  "summed": "Gradients, summed over the steps",
                  "update": r"One step of gradient descent, "
                            r"$P \leftarrow P - \mathrm{lr} \, \delta P$"}}
    RELATIONS = {"text": {"=": "=", "+=": "+=", "←": "←"},
                 "latex": {"=": "=", "+=": r"\mathrel{+}=", "←": r"\leftarrow"}}

    def __init__(self, worked, target):
        der = worked.der
        self.der, self.target = der, target
        self.symbols = text_printer(der) if target == "text" else latex_printer(der)
        numbers = TextValuePrinter() if target == "text" else \
            LatexValuePrinter(self.symbols.latex_names)
        numbers.timing = self.symbols.timing
        self.numbers = numbers.bind(worked.lookup, worked.sizes, worked.digits)
        self.sigma = "Σ_t" if target == "text" else r"\sum_t"
        self.relations = self.RELATIONS[target]

    def title(self, kind, time=None):
        title = self.TITLES[self.target][kind]
        return title if time is None else f"{title}, t = {time}"

    def compact_words(self, compact):
        """What a compact form's line says of itself."""
        return compact_words(compact) if self.target == "text" else r"\text{compact form}"

    def why(self, terms):
        """The rule words of a δ made of `terms`, as `derive equations` (or its LaTeX) says."""
        if self.target == "text":
            return text_why(self.der, terms, self.symbols)
        if len(terms) > 1:
            return rf"\text{{{Rule.SPLITTING}}}"
        return latex_why(self.der, terms[0], self.symbols)


def sections(worked, s):
    """[(title, [Equation])] in computation order."""
    der, out = worked.der, []
    table = rows(der)
    forward = [r for r in table if not r.delta]
    backward = [r for r in table if r.delta and r.lhs not in der.gradients]
    gradients = [r for r in table if r.delta and r.lhs in der.gradients]
    if not der.recurrent:
        out += [(s.title(kind), [eq for r in part
                                 for eq in _equations(worked, s, r, displayed_time(r))])
                for kind, part in (("forward", forward), ("backward", backward),
                                   ("gradients", gradients))]
    else:
        times = [sp.Integer(t) for t in worked.times]  # printers' times are sympy's
        out += [(s.title("forward", t), [_equation(worked, s, r, t) for r in forward])
                for t in times]
        out.append((s.title("loss"), [_loss(worked, s)]))
        out += [(s.title("backward", t), [eq for r in backward
                                          for eq in _equations(worked, s, r, t, _share(r, t))] +
                 [_equation(worked, s, r, t, "+=") for r in gradients])
                for t in reversed(times)]
        out.append((s.title("summed"), [_summed(worked, s, r) for r in gradients]))
    if worked.lr is not None:
        out.append((s.title("update"), [_update(worked, s, p) for p in der.params]))
    return out


def _share(row, time):
    """How a δ row is written at step `time`: a state's δ after the first step is only that
    step's share of δh_{t−1} (the rest comes at step t−1, which adds it up), so `+=`."""
    return "+=" if row.state is not None and time > 1 else "="


def _equations(worked, s, row, time, relation="="):
    """A row's equation, and a δ's textbook compact form (layer norm's) if it has one."""
    main = _equation(worked, s, row, time, relation)
    compact = worked.der.compact.get(row.lhs) if row.delta else None
    if compact is None:
        return [main]
    value = worked.steps[time if worked.der.recurrent else None].compact[row.lhs]
    return [main, Equation(main.lhs, _chain(joined(s.symbols, compact.terms),
                                            joined(s.numbers, compact.terms),
                                            s.numbers.value(value)),
                           s.compact_words(compact), wide=True)]


def _equation(worked, s, row, time, relation="="):
    """A row at `time`: its equation, the numbers put in, its value; a δ of several terms
    (rule 1) with an equation for each term."""
    numbers = s.numbers
    numbers.matrices = False
    lhs, rhs = sides(s.symbols, row, time)
    numbers.time = time
    step = worked.steps[time if worked.der.recurrent else None]
    if not row.delta:
        return Equation(lhs, _chain(rhs, _numbers(numbers, row.expr),
                                    numbers.value(step.values[row.lhs])),
                        relation=s.relations[relation], wide=numbers.matrices)
    terms = [t for t, _ in row.terms]
    total = numbers.value(step.deltas[row.lhs])
    if len(terms) == 1:
        return Equation(lhs, _chain(rhs, _numbers(numbers, terms[0].expr), total),
                        s.why(terms), relation=s.relations[relation], wide=numbers.matrices)
    values = step.terms[row.lhs]
    parts = tuple(Equation(s.symbols.doprint(displayed),
                           _chain(_numbers(numbers, term.expr), numbers.value(value)),
                           s.why([term]))
                  for (term, displayed), value in zip(row.terms, values))
    added = " + ".join(numbers.operand(v) for v in values)
    return Equation(lhs, _chain(rhs, added, total), s.why(terms), parts,
                    s.relations[relation], wide=True)


def _summed(worked, s, row):
    """A shared parameter's gradient: Σ_t of its steps' shares."""
    numbers = s.numbers
    numbers.matrices = False
    lhs, rhs = sides(s.symbols, row, T)
    rhs = over_steps(rhs, len(row.terms), s.sigma)
    shares = " + ".join(numbers.operand(worked.steps[t].deltas[row.lhs]) for t in worked.times)
    return Equation(lhs, _chain(rhs, shares, numbers.value(worked.gradients[row.lhs])),
                    wide=numbers.matrices)


def _loss(worked, s):
    """E = Σ_t E_t, with each step's loss."""
    numbers, name = s.numbers, worked.der.loss
    losses = " + ".join(numbers.operand(worked.steps[t].values[name]) for t in worked.times)
    return Equation(s.symbols.stamp(name, None), _chain(
        f"{s.sigma} {s.symbols.stamp(name, T)}", losses, numbers.number(worked.loss)))


def _update(worked, s, param):
    """P ← P − lr·δP, the numbers put in (δP: the whole gradient), the new value."""
    der, numbers = worked.der, s.numbers
    numbers.matrices = False
    step = der.symbol(param) - Verbatim(numbers.number(worked.lr)) * der.delta(param)
    s.symbols.time = numbers.time = None
    return Equation(s.symbols.doprint(der.symbol(param)), _chain(
        s.symbols.doprint(step), numbers.doprint(step), numbers.value(worked.updated[param])),
        relation=s.relations["←"], wide=numbers.matrices)


def _numbers(printer, expr):
    """`expr` with the numbers put in; nothing for a lone name (δh_{t+1} too), whose value
    says it all."""
    alone = expr.args[0] if isinstance(expr, Next) else expr
    return None if alone.is_symbol else printer.doprint(expr)


def _chain(*parts):
    """The parts given, each once: a part equal to the one before it is left out."""
    out = []
    for part in parts:
        if part is not None and (not out or out[-1] != part):
            out.append(part)
    return out


# --- text ---------------------------------------------------------------------------

def text(worked):
    """The worked example as lines of text."""
    lines = [heading(worked)]
    for title, equations in sections(worked, Spelling(worked, "text")):
        lines += ["", title]
        for eq in equations:
            lines += _text_lines(eq)
    return "\n".join([*lines, "", check_words(worked)]) + "\n"


def heading(worked):
    sizes = " ".join(f"{k}={v}" for k, v in worked.sizes.items())
    rounding = "exact numbers" if worked.exact else \
        f"numbers rounded to {worked.digits} decimals"
    return f"A worked example of {worked.der.graph.name}" + \
        (f" at {sizes}" if sizes else "") + f", {rounding}."


def _text_lines(eq, indent=""):
    """One line if it fits; else the equation and its rule, its terms, then `= …` lines."""
    first = f"{indent}{eq.lhs} {eq.relation} {eq.chain[0]}"
    comment = f"   # {eq.why}" if eq.why else ""
    whole = " = ".join([first, *eq.chain[1:]]) + comment
    if not eq.terms and len(whole) <= WIDTH:
        return [whole]
    lines = [first + comment]
    for term in eq.terms:
        lines += _text_lines(term, indent + "  • ")
    pad = " " * (len(indent) + len(eq.lhs) + len(eq.relation))
    rest = f"{pad}= " + " = ".join(eq.chain[1:])
    if len(rest) <= WIDTH:
        return lines + [rest] * bool(eq.chain[1:])
    return lines + [f"{pad}= {part}" for part in eq.chain[1:]]


def check_words(worked):
    """What the built-in check found."""
    difference = f"{worked.difference:.1e}" if worked.difference else "0"
    if worked.agrees and worked.pooled_first_differs:
        return ("Check: the generated module's backward, computing every value as the "
                "equations write it, gives these gradients too (largest relative difference "
                f"{difference}). As generated, the module takes each window's maximum before "
                "the function after it, and its gradients differ by "
                f"{worked.pooled_difference:.1e} here. That is right only where rounding makes "
                "a tie in one order of the operations and not in the other (then each sends δ "
                "to another entry); elsewhere it is a bug in derive: please report it.")
    if worked.agrees:
        return ("Check: the generated module's backward gives these gradients too (largest "
                f"relative difference {difference}).")
    return (f"CHECK FAILED: the generated module's backward differs from these gradients by "
            f"{difference} (relative): a bug in derive; please report it.")


# --- LaTeX --------------------------------------------------------------------------

def latex(worked, standalone=False, notebook=False):
    """The worked example in LaTeX: aligned equations under a heading per pass, the rule
    beside each δ (a whole document if `standalone`; `notebook`: $$aligned$$ blocks under
    plain headings, which Jupyter renders)."""
    spelling = Spelling(worked, "latex")
    blocks = [(title, [row for eq in equations for row in _latex_rows(eq)])
              for title, equations in sections(worked, spelling)]
    sizes = ", ".join(f"${spelling.symbols.name(k)} = {v}$" for k, v in worked.sizes.items())
    return render("worked.tex.j2", graph=worked.der.graph.name, blocks=blocks, sizes=sizes,
                  exact=worked.exact, digits=worked.digits, check=check_words(worked),
                  standalone=standalone, notebook=notebook)


def _latex_rows(eq):
    """(left, right, tag) rows of an align: the chain on one row when it shows numbers
    only; else the equation, a row for each term of a δ (rule 1), then the numbers and the
    value on the next row."""
    if not (eq.wide or eq.terms):
        return [(eq.lhs, f"{eq.relation} " + " = ".join(eq.chain), eq.why)]
    rows = [(eq.lhs, f"{eq.relation} {eq.chain[0]}", eq.why)]
    rows += [("", r"\qquad " + " = ".join([term.lhs, *term.chain]), term.why)
             for term in eq.terms]
    return rows + [("", "= " + " = ".join(eq.chain[1:]), None)] * bool(eq.chain[1:])


# --- pictures -----------------------------------------------------------------------

@dataclass
class PictureNumbers:
    """What a picture shows of a worked example: each node's value and δ, each δ term's value
    (by node name and the term's place in `der.terms`), at one step of a recurrent net."""

    nodes: dict     # name -> lines of text
    terms: dict     # (name, k) -> text
    note: str       # what the numbers are


def picture_numbers(worked):
    """The numbers a picture puts on its nodes and edges: a parameter's whole gradient, and
    in a recurrent net the other values at the last step."""
    printer = TextValuePrinter().bind(worked.lookup, worked.sizes, worked.digits)
    last = worked.times[-1]
    step = worked.steps[last]
    nodes = {}
    for name, value in step.values.items():
        delta = worked.gradients.get(name, step.deltas.get(name))
        nodes[name] = [f"= {printer.value(value)}"] + \
            ([] if delta is None else [f"δ = {printer.value(delta)}"])
    terms = {(name, k): printer.value(v) for name, values in step.terms.items()
             for k, v in enumerate(values)}
    note = heading(worked)
    if worked.der.recurrent:
        note += f" Values and δs at t = {last}, the last step; parameters' δ summed over steps."
    return PictureNumbers(nodes, terms, note)
