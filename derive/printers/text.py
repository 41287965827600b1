"""Unicode equations for people: δz2 = δout ⊙ out ⊙ (1 − out)."""

import re

from sympy import true as sympy_true
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.str import StrPrinter

from .notation import REDUCED, T, Notation, time_index

_SUPERSCRIPTS = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_TIMES = re.compile(r"(?<!\*)\*(?!\*)")  # a product's *, not a power's **


class TextPrinter(Notation, StrPrinter):
    delta_mark = "δ"
    minus = "−"
    at_least = "≥"
    times = " "
    reduced = REDUCED

    def _print_Delta(self, expr):
        return "δ" + self.stamp(*self._timed_delta(expr.node_name))

    def _print_Pi(self, expr):
        return "π"

    def _print_Exp1(self, expr):
        return "exp(1)"  # (E is the loss, and e may be a node)

    def stamp(self, name, time):
        if time is None:
            return name
        index = time_index(time, minus="−")
        return f"{name}_{index}" if len(index) == 1 else f"{name}_{{{index}}}"

    def _print_Transpose(self, expr):
        return f"{self._operand(expr.arg)}ᵀ"

    def _print_HadamardPower(self, expr):
        return f"{self._operand(expr.base)}{str(expr.exp).translate(_SUPERSCRIPTS)}"

    def _print_Pow(self, expr, rational=False):
        """u² rather than u**2 in a formula, as the matrix notation writes powers."""
        if expr.exp.is_Integer and expr.exp > 1:
            return self.parenthesize(expr.base, PRECEDENCE["Pow"], strict=True) + \
                str(expr.exp).translate(_SUPERSCRIPTS)
        return super()._print_Pow(expr, rational)

    def _print_OneMatrix(self, expr):
        """A matrix of ones as the bold 𝟏 of the LaTeX (1/N 𝟏, not 1/N 1); a 1×1 one as 1."""
        return "1" if expr.shape == (1, 1) else "𝟏"

    def _stack(self, items):
        return "[" + "; ".join(items) + "]"

    def _rows(self, arg, start, stop):
        return f"{arg}[{start}:{stop}]"

    def _reduce_text(self, text, rows, cols):
        axis = "" if rows and cols else "_rows" if rows else "_cols"
        return f"Σ{axis} {text}"

    def _scalar(self, expr):
        """A scalar formula as the equations write the rest: 2·u, 1/(2·t), −u, u^(1/2), not
        sympy's 2*u, -u, u**(1/2)."""
        text = StrPrinter.doprint(self, expr).replace("**", "^")
        return _TIMES.sub("·", text).replace("-", self.minus)

    def _print_Piecewise(self, expr):
        """{a if u < 1; b otherwise}: each piece with its condition, the first that holds."""
        pieces = [f"{self._print(value)} if {self._print(condition)}"
                  if condition is not sympy_true else f"{self._print(value)} otherwise"
                  for value, condition in expr.args]
        return "{" + "; ".join(pieces) + "}"

    def _print_Equality(self, expr):
        return f"{self._print(expr.lhs)} = {self._print(expr.rhs)}"

    def _print_And(self, expr):
        return " and ".join(self._print(a) for a in expr.args)

    def _power(self, text, exp):
        return f"{text}**{exp}"



def text(expr, timing=None, time=T):
    """`expr` in the text notation; `timing` (see `Notation`) stamps time indices."""
    printer = TextPrinter()
    printer.timing, printer.time = timing or {}, time
    return printer.doprint(expr)
