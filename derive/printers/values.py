"""Equations with numbers put in: each operand's name replaced by its value, for worked examples.

The printers here are the text and LaTeX printers with one change: a node's name (or its δ,
or a transposed one) prints as the node's value, found by `lookup(kind, name, time)`, kind
"value" or "delta", at the time the printer stands at (`Next` moves it to t+1). Everything
else — brackets, ⊙, Σ, function names — is the notation's own, so the numbers line reads
like the equation above it. A product whose result is 1×1 is written with `·` (2 · 3, not
2 3). Values are exact (sympy Rationals: 3, 1/3) or rounded to `digits` decimals; an axis
longer than CUT shows its first SHOWN entries and the value its shape.
"""

import sympy as sp

from ..naming import Delta
from .latex import LatexPrinter
from .text import TextPrinter

CUT = 6     # an axis longer than this is shown cut, with the shape
SHOWN = 3   # entries shown of a cut axis


class Substituting:
    """The shared half: where a name would print, its value; subclasses spell numbers
    (`_signed`, `_fraction`, `_scientific`, `_special`), arrays (`_array`) and the product
    of numbers (`dot`)."""

    def bind(self, lookup, sizes, digits):
        """Where the values come from, the sizes of the dimensions, and the rounding."""
        self.lookup, self.sizes, self.digits = lookup, sizes, digits
        self.matrices = False  # whether a value larger than 1×1 was printed
        self.plain = set()     # operands written inside a call's own brackets: f(−2)
        self.alone = set()     # operands a call's spelling leaves bare: a², 1/a, tanh(b a)
        return self

    # --- values in place of names -----------------------------------------------------

    def _print_MatrixSymbol(self, expr):
        return self._put(expr, self.lookup("value", expr.name, self.time))

    def _print_Delta(self, expr):
        return self._put(expr, self.lookup("delta", expr.node_name, self.time))

    def _print_Transpose(self, expr):
        """xᵀ of a node: its value transposed (a column's transpose is a row, [1, 2])."""
        if isinstance(expr.arg, sp.MatrixSymbol):
            delta = isinstance(expr.arg, Delta)
            name = expr.arg.node_name if delta else expr.arg.name
            return self._put(expr, self.lookup("delta" if delta else "value", name,
                                               self.time).T)
        return super()._print_Transpose(expr)

    def _put(self, expr, array):
        if expr in self.plain:
            return self.value(array)
        return self.operand(array, alone=expr in self.alone)

    def _print_ElementwiseApplyFunction(self, expr):
        body, arg = expr.function.expr, expr.function.variables[0]
        called = body.is_Function and body.args == (arg,)  # f(u): u inside f's brackets
        return self._inside_call([expr.expr] if called else [], expr, super()
                                 ._print_ElementwiseApplyFunction)

    def _print_Function(self, expr, exp=None):
        return self._inside_call(expr.args, expr, lambda e: super(Substituting, self)
                                 ._print_Function(e, exp))

    def _atom(self, expr):
        return self._left_bare(expr, super()._atom)

    def _factor(self, expr):
        return self._left_bare(expr, super()._factor)

    def _left_bare(self, expr, spell):
        """An operand that a call's spelling writes outside its own brackets, as a base, a
        divisor or a factor ({atom}, {factor}: a², 1/a, tanh(b a)): its value is bracketed
        unless it is a plain number, (−3/4)², 1/(3/4) (found by a hunt: a = −3/4 printed
        a² = −3/4² = 9/16)."""
        saved = self.plain, self.alone
        self.plain, self.alone = self.plain - {expr}, self.alone | {expr}
        try:
            return spell(expr)
        finally:
            self.plain, self.alone = saved

    def _inside_call(self, args, expr, spell):
        added = set(args) - self.plain
        self.plain |= added
        try:
            return spell(expr)
        finally:
            self.plain -= added

    def _print_Symbol(self, expr, *args, **kwargs):
        """A dimension (1/N) is its size."""
        if expr.name in self.sizes:
            return str(self.sizes[expr.name])
        return super()._print_Symbol(expr, *args, **kwargs)

    def _print_MatMul(self, expr):
        return self._scalar_product(expr, super()._print_MatMul)

    def _print_HadamardProduct(self, expr):
        return self._scalar_product(expr, super()._print_HadamardProduct)

    def _scalar_product(self, expr, spell):
        """A product of 1×1 values is a product of numbers, 2 · 3; the products inside it
        choose for themselves."""
        sizes = [d.xreplace({s: self.sizes[s.name] for s in d.free_symbols})
                 for d in expr.shape]
        saved = self.matmul, self.hadamard, self.times
        kind = type(self)
        self.matmul, self.hadamard, self.times = (self.dot,) * 3 if sizes == [1, 1] else \
            (kind.matmul, kind.hadamard, kind.times)
        try:
            return spell(expr)
        finally:
            self.matmul, self.hadamard, self.times = saved

    # --- values ---------------------------------------------------------------------

    def operand(self, array, alone=False):
        """A value inside an equation: a negative number is bracketed, (−2); standing bare
        as a base, divisor or factor (`alone`), any number not written in digits alone too,
        (3/4)², 1/(2e−05)."""
        text = self.value(array)
        if array.shape != (1, 1):
            return text
        bare = text.replace(".", "").isdigit()
        return self._bracket(text) if _negative(array[0, 0]) or (alone and not bare) else text

    def value(self, array):
        """A value on its own: a number, [a, b]ᵀ for a column, [a, b] for a row, else rows."""
        rows, cols = array.shape
        if (rows, cols) == (1, 1):
            return self.number(array[0, 0])
        self.matrices = True
        shown = [[None if i is None or j is None else self.number(array[i, j])
                  for j in _kept(cols)] for i in _kept(rows)]
        cut = rows > CUT or cols > CUT
        return self._array(shown, rows, cols, cut)

    def number(self, x):
        """Exact numbers as they are (3, 1/3), others rounded to `digits` decimals."""
        if isinstance(x, (int, sp.Rational)):
            x = sp.Rational(x)
            return self._fraction(abs(x.p), x.q, x < 0)
        x = float(x)
        if x != x or x in (float("inf"), float("-inf")):
            return self._special(x)
        fixed = f"{abs(x):.{self.digits}f}"
        if abs(x) < 1 and len(fixed.replace(".", "").lstrip("0")) < 2 and float(fixed) != abs(x):
            # too small for the decimals to show two digits of it (a hunt: 0.00014 was 0.0001,
            # so 0.0001 · 3 = 0.0004): its leading digits
            mantissa, exponent = f"{abs(x):.{max(self.digits - 1, 1)}e}".split("e")
            return self._scientific(mantissa, int(exponent), x < 0)
        text = fixed.rstrip("0").rstrip(".") if "." in fixed else fixed  # (10 at 0 decimals)
        return self._signed(text, x < 0 and text != "0")


def _negative(x):
    return bool(x < 0)


def _kept(length):
    """Indices shown along an axis: all, or the first SHOWN and None for the cut."""
    return list(range(length)) if length <= CUT else [*range(SHOWN), None]


class TextValuePrinter(Substituting, TextPrinter):
    dot = " · "

    def _signed(self, text, negative):
        return f"{self.minus}{text}" if negative else text

    def _fraction(self, p, q, negative):
        return self._signed(str(p) if q == 1 else f"{p}/{q}", negative)

    def _scientific(self, mantissa, exponent, negative):
        return self._signed(f"{mantissa}e{exponent:+03d}".replace("-", self.minus), negative)

    def _special(self, x):
        return "nan" if x != x else self._signed("∞", x < 0)

    def _array(self, shown, rows, cols, cut):
        """Entries `shown` (None where cut) as lists: a column as a row with ᵀ."""
        def listed(entries):
            return "[" + ", ".join("…" if e is None else e for e in entries) + "]"

        if cols == 1:
            text = listed([row[0] for row in shown]) + "ᵀ"
        elif rows == 1:
            text = listed(shown[0])
        else:
            text = listed([None if all(e is None for e in row) else listed(row)
                           for row in shown])
        return f"{text} ({rows}×{cols})" if cut else text


class LatexValuePrinter(Substituting, LatexPrinter):
    dot = r" \cdot "

    def _bracket(self, text):
        """Brackets as tall as the matrices inside them."""
        return rf"\left({text}\right)"

    def _signed(self, text, negative):
        return f"-{text}" if negative else text

    def _fraction(self, p, q, negative):
        return self._signed(str(p) if q == 1 else rf"\tfrac{{{p}}}{{{q}}}", negative)

    def _scientific(self, mantissa, exponent, negative):
        return self._signed(rf"{mantissa} \cdot 10^{{{exponent}}}", negative)

    def _special(self, x):
        return r"\mathrm{NaN}" if x != x else self._signed(r"\infty", x < 0)

    def _array(self, shown, rows, cols, cut):
        """Entries `shown` (None where cut) in a bmatrix, ⋯ and ⋮ where cut."""
        lines = []
        for row in shown:
            if all(e is None for e in row):  # the rows cut out
                cells = [r"\vdots"] * len(row)
                if cols > CUT:
                    cells[-1] = r"\ddots"
            else:
                cells = [r"\cdots" if e is None else e for e in row]
            lines.append(" & ".join(cells))
        matrix = r"\begin{bmatrix} " + r" \\ ".join(lines) + r" \end{bmatrix}"
        return rf"{matrix}_{{{rows} \times {cols}}}" if cut else matrix
