"""LaTeX for a derivation: the same equations as the text printer, in `align`.

Notation follows the method: ⊙ is `\\odot`, transposes are `^\\top`, δ is `\\delta`, layer
indices are subscripts (`W_{1}`), σ and tanh are named, f′ is written through outputs.
"""

import re

from sympy.printing.latex import LatexPrinter as SympyLatexPrinter
from sympy.printing.latex import translate

from .display import display_rows
from .printing import T, _MatrixNotation, _function_name, time_index, timing
from .rendering import render

_NAME = re.compile(r"([A-Za-z]+?)(\d*)\Z")
_FUNCTIONS = {"sigmoid": r"\sigma", "tanh": r"\tanh", "exp": r"\exp", "log": r"\log",
              "relu": r"\operatorname{relu}", "softplus": r"\operatorname{softplus}"}


def latex_name(name, time=None):
    """W1 → W_{1}, h_prev → h_{\\mathrm{prev}}, alpha → \\alpha, label → \\mathrm{label};
    at a time step z1 → z_{1,t}."""
    base, _, sub = name.partition("_")
    match = _NAME.match(base)
    if match and match.group(2):
        base, sub = match.group(1), match.group(2) + ("," + sub if sub else "")
    head = translate(base) if len(base) == 1 or translate(base) != base else \
        rf"\mathrm{{{base}}}"
    parts = [p if p.isdigit() or len(p) == 1 else rf"\mathrm{{{p}}}" for p in sub.split(",") if p]
    if time is not None:
        parts.append(time_index(time))
    return f"{head}_{{{','.join(parts)}}}" if parts else head


class LatexPrinter(_MatrixNotation, SympyLatexPrinter):
    matmul = r" \, "
    hadamard = r" \odot "
    minus = "-"

    def _stamp(self, name, time):
        return latex_name(name, time)

    def _print_Delta(self, expr):
        return r"\delta " + self._stamp(*self._timed_delta(expr.node_name))

    def _print_Transpose(self, expr):
        return f"{self._operand(expr.arg)}^\\top"

    def _print_HadamardPower(self, expr):
        return f"{self._operand(expr.base)}^{{{self._print(expr.exp)}}}"

    def _print_OneMatrix(self, expr):
        return r"\mathbf{1}"

    def _print_Symbol(self, expr, style="plain"):
        return latex_name(expr.name)

    def _stack(self, items):
        return r"\begin{bmatrix} " + r" \\ ".join(items) + r" \end{bmatrix}"

    def _rows(self, arg, start, stop):
        return f"{{{arg}}}_{{[{start}:{stop}]}}"

    def _zeros(self, rows, cols):
        return "0"

    def _reduce_text(self, text, rows, cols):
        if rows and cols:
            return rf"\textstyle\sum {text}"
        if rows or cols:
            return rf"\textstyle\sum_{{\mathrm{{{'rows' if rows else 'cols'}}}}} {text}"
        return text

    def _scaled(self, coeff, body):
        return f"{self._scalar(coeff)} {body}"

    def _scalar(self, expr):
        return SympyLatexPrinter.doprint(self, expr)

    def _call(self, function, arg):
        name = _function_name(function)
        if name == "step":
            return rf"\mathbf{{1}}[{self._print(arg)} > 0]"
        command = _FUNCTIONS.get(name) or rf"\operatorname{{{latex_name(name)}}}"
        return rf"{command}\left({self._print(arg)}\right)"

    def _print_AppliedUndef(self, expr):
        return self._call(expr.func, expr.args[0])

    def _print_Softmax(self, expr):
        return rf"\operatorname{{softmax}}\left({self._print(expr.arg)}\right)"

    def _print_LogSoftmax(self, expr):
        return rf"\log\operatorname{{softmax}}\left({self._print(expr.arg)}\right)"


def latex(expr):
    return LatexPrinter().doprint(expr)


def to_latex(der, standalone=False, tags=True, environment="align"):
    """Forward equations, δs and gradients in an `align`; a whole document if `standalone`.

    A δ that sums several terms (rule 1) gets a line per term, each tagged with its own rule.
    `environment="aligned"` gives `$$\\begin{aligned}…$$`, which notebooks render."""
    printer = LatexPrinter()
    printer.timing = timing(der)
    rows = []
    for row in display_rows(der):
        printer.time = row.time if row.time is not None else T
        lhs = printer._stamp(row.lhs, row.time if row.lhs in printer.timing else None)
        lhs = rf"\delta {lhs}" if row.delta else lhs
        if not row.delta:
            rows.append((lhs, printer.doprint(row.expr), None))
            continue
        for k, (term, expr) in enumerate(row.terms):
            body = printer.doprint(expr)
            body = rf"\sum_t {body}" if row.summed else body
            rhs = body if k == 0 or body.startswith("-") else f"+ {body}"
            rows.append((lhs if k == 0 else "", rhs, latex_why(term) if tags else None))
    shapes = [(latex_name(n), latex_shape(shape)) for n, shape in der.shapes.items()]
    return render("equations.tex.j2", graph=der.graph.name, rows=rows, shapes=shapes,
                  standalone=standalone, environment=environment)


def latex_why(term):
    """The rule that made a term, as text for the equation's comment column."""
    if term.rule.name == "LOSS":
        return r"\text{the loss}"
    if term.rule.name == "SPLITTING":
        return r"\text{rule 1: from step } t+1"
    return rf"\text{{rule {term.rule.value} at }} {latex_name(term.chain()[-1][1])}"


def latex_shape(shape):
    return r" \times ".join(latex_name(str(d)) for d in shape)
