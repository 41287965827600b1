"""Printers for derive's matrix expressions: one class per target, one method per type.

Both printers share `_MatrixNotation`, which knows how the rules write things (a bias
broadcast as b·1ᵀ, a column sum as δ·1, a constant as c·1) and how to order and bracket them;
the subclasses say how each target spells them.
"""

from functools import cmp_to_key

import sympy as sp
from sympy.core.function import AppliedUndef
from sympy import Function, Integer, MatMul, MatrixSymbol, OneMatrix, Symbol, fraction
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.str import StrPrinter

from .algebra import Place
from .functions import NamedFunction, step_f
from .naming import Delta

_SUM, _PRODUCT, _POWER, _ATOM = 10, 20, 30, 40


def _is_ones(expr):
    return isinstance(expr, OneMatrix)


T = Symbol("t")


class Verbatim(Symbol):
    """Stands for an already printed matrix inside a scalar formula (the u of f(u))."""


def time_index(time, minus="-"):
    """t, t+1, t−1 or a number, for a time that is t plus a constant or a constant."""
    if time.is_Integer:
        return str(time)
    shift = time - T
    return "t" if shift == 0 else f"t+{shift}" if shift > 0 else f"t{minus}{-shift}"


class _MatrixNotation:
    """What the matrix expressions mean; subclasses provide the spelling.

    In a recurrent graph `timing` says which names have a value per time step ("step") and
    which are states (their carrier and initial input): x_t, h_{t−1}, and h0 at the first
    step, t = 1.
    """

    matmul = " "
    hadamard = " ⊙ "
    timing = {}
    time = T

    def _timed(self, name):
        """The name to show for a forward value at the current time, and its time index."""
        kind = self.timing.get(name)
        if kind is None:
            return name, None
        if kind == "step":
            return name, self.time
        carrier, initial = kind
        return (initial, None) if self.time == 1 else (carrier, self.time - 1)

    def _timed_delta(self, name):
        return name, (self.time if name in self.timing else None)

    def _print_Next(self, expr):
        self.time += 1
        try:
            return self._print(expr.arg)
        finally:
            self.time -= 1

    def _prec(self, expr):
        name = type(expr).__name__
        if name == "MatAdd":
            return _SUM
        if name == "MatMul":
            coeff, factors = _split_coefficient_list(expr)
            inner = [f for f in factors if not _is_ones(f)]
            if coeff == 1 and len(inner) == 1 and not _reduces(factors):
                return self._prec(inner[0])  # b·1ᵀ prints as b
            return _SUM if coeff.could_extract_minus_sign() else _PRODUCT
        if name == "HadamardProduct":
            return _PRODUCT
        if name == "HadamardPower":
            return _POWER
        return _ATOM

    def _operand(self, expr, same_kind=None):
        """Bracket a product's operand unless it binds tighter (or is the same product)."""
        text = self._print(expr)
        if self._prec(expr) > _PRODUCT or type(expr).__name__ == same_kind:
            return text
        return f"({text})"

    def _print_MatrixSymbol(self, expr):
        return self._stamp(*self._timed(expr.name))

    def _print_MatAdd(self, expr):
        if all(isinstance(t, Place) for t in expr.args):
            stacked = self._placed(expr.args)
            if stacked is not None:
                return stacked
        positive, negative = [], []
        for term in expr.args:
            coeff, rest = _split_coefficient(term)
            negated = coeff.could_extract_minus_sign()
            size = -coeff if negated else coeff
            if isinstance(rest, OneMatrix):
                text = self._scalar(size)
            elif size == 1:
                text = self._operand(rest) if self._prec(rest) <= _SUM else self._print(rest)
            else:
                text = self._print(size * rest)
            (negative if negated else positive).append((_broadcast_last(rest), text))
        positive = [t for _, t in sorted(positive, key=lambda p: p[0])]
        negative = [t for _, t in sorted(negative, key=lambda p: p[0])]
        out = " + ".join(positive) if positive else f"{self.minus}{negative.pop(0)}"
        return "".join([out, *(f" {self.minus.strip()} {t}" for t in negative)])

    def _print_MatMul(self, expr):
        coeff, factors = _split_coefficient_list(expr)
        if all(_is_ones(f) for f in factors):  # a constant matrix, c·1
            return self._scaled(coeff, self._print(OneMatrix(expr.shape[0], expr.shape[1])))
        # Ones on the outside broadcast (kept by numpy rules) or sum (an axis of δ).
        rows = cols = False
        if factors and _is_ones(factors[0]):
            rows, factors = factors[0].shape[0] == 1, factors[1:]
        if factors and _is_ones(factors[-1]):
            cols, factors = factors[-1].shape[1] == 1, factors[:-1]
        if len(factors) == 1:
            body = self._reduce(factors[0], rows, cols, bracket=coeff != 1)
        else:
            body = self._reduce_text(
                self.matmul.join(self._operand(f, "MatMul") for f in factors), rows, cols)
        if coeff == 1:
            return body
        if coeff == -1:
            return f"{self.minus}{body}"
        return self._scaled(coeff, body)

    def _reduce(self, factor, rows, cols, bracket):
        if not (rows or cols):
            return self._operand(factor) if bracket else self._print(factor)
        return self._reduce_text(self._operand(factor), rows, cols)

    def _print_HadamardProduct(self, expr):
        # δ first, then plain names, then bracketed terms: δout ⊙ out ⊙ (1 − out)
        ordered = sorted(expr.args, key=lambda a: (not isinstance(a, Delta), self._prec(a) < _ATOM,
                                                   not isinstance(a, MatrixSymbol)))
        return self.hadamard.join(self._operand(a, "HadamardProduct") for a in ordered)

    def _print_MatrixElement(self, expr):
        return self._print(expr.parent)  # only ever the 1×1 δ of a scalar node

    def _print_ElementwiseApplyFunction(self, expr):
        body = expr.function.expr
        arg = expr.function.variables[0]
        if body.is_Function and body.args == (arg,):
            return self._call(body.func, expr.expr)
        text = self._scalar(body.xreplace({arg: Verbatim(self._operand(expr.expr))}))
        return text if body.is_Atom or body.is_Function else f"({text})"

    def _print_AppliedUndef(self, expr):
        # derive's named functions and validated user functions, by name
        return f"{_function_name(expr.func)}({', '.join(self._print(a) for a in expr.args)})"

    def _print_Function(self, expr):
        # sympy's printers skip subclasses of Function when dispatching, so look here
        if isinstance(expr, NamedFunction):
            return self._print_AppliedUndef(expr)
        return super()._print_Function(expr)

    def _print_Stack(self, expr):
        return self._stack([self._print(a) for a in expr.args])

    def _print_Rows(self, expr):
        return self._rows(self._operand(expr.arg), self._scalar(expr.start),
                          self._scalar(expr.stop))

    def _print_Place(self, expr):
        return self._placed([expr]) or self._stack([self._print(expr.arg)])

    def _placed(self, places):
        """Row blocks of δ put back where they were taken: [δi; δf; 0; δg]; None if they
        overlap (then the sum is printed term by term)."""
        order = sorted(places, key=cmp_to_key(lambda a, b: -1 if (a.start - b.start).is_negative
                                              else 1 if (a.start - b.start).is_positive else 0))
        rows, cols = order[0].shape
        blocks, at = [], sp.Integer(0)
        for place in order:
            gap = place.start - at
            if gap.is_negative:
                return None
            if gap != 0:
                blocks.append(self._zeros(gap, cols))
            blocks.append(self._print(place.arg))
            at = place.start + place.arg.shape[0]
        if rows - at != 0:
            blocks.append(self._zeros(rows - at, cols))
        return self._stack(blocks)

    def _print_Verbatim(self, expr):
        return expr.name

    def _print_Softmax(self, expr):
        return f"softmax({self._print(expr.arg)})"

    def _print_LogSoftmax(self, expr):
        return f"log_softmax({self._print(expr.arg)})"


def _reduces(factors):
    """Whether ones on the outside of a product sum an axis (rather than broadcast)."""
    return (_is_ones(factors[0]) and factors[0].shape[0] == 1) or \
        (_is_ones(factors[-1]) and factors[-1].shape[1] == 1)


def _broadcast_last(term):
    """Sort key: a bias (b·1ᵀ) or a constant comes after the products it is added to."""
    return isinstance(term, OneMatrix) or (isinstance(term, MatMul) and _is_ones(term.args[-1]))


def _split_coefficient(term):
    if isinstance(term, MatMul):
        coeff, factors = _split_coefficient_list(term)
        rest = factors[0] if len(factors) == 1 else MatMul(*factors)
        return coeff, rest
    return Integer(1), term


def _split_coefficient_list(expr):
    scalars = [a for a in expr.args if not a.is_Matrix]
    factors = [a for a in expr.args if a.is_Matrix]
    coeff = Integer(1)
    for s in scalars:
        coeff = coeff * s
    return coeff, factors




class TextPrinter(_MatrixNotation, StrPrinter):
    """Unicode equations for people: δz2 = δout ⊙ out ⊙ (1 − out)."""

    minus = "−"

    def _print_Delta(self, expr):
        return "δ" + self._stamp(*self._timed_delta(expr.node_name))

    def _stamp(self, name, time):
        if time is None:
            return name
        index = time_index(time, minus="−")
        return f"{name}_{index}" if len(index) == 1 else f"{name}_{{{index}}}"

    def _print_Transpose(self, expr):
        return f"{self._operand(expr.arg)}ᵀ"

    def _print_HadamardPower(self, expr):
        power = str(expr.exp).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))
        return f"{self._operand(expr.base)}{power}"

    def _print_OneMatrix(self, expr):
        return "1"

    def _stack(self, items):
        return "[" + "; ".join(items) + "]"

    def _rows(self, arg, start, stop):
        return f"{arg}[{start}:{stop}]"

    def _zeros(self, rows, cols):
        return "0"

    def _reduce_text(self, text, rows, cols):
        axis = "" if rows and cols else "_rows" if rows else "_cols" if cols else None
        return text if axis is None else f"Σ{axis} {text}"

    def _scaled(self, coeff, body):
        return f"{self._scalar(coeff)} {body}"

    def _scalar(self, expr):
        return StrPrinter.doprint(self, expr)

    def _call(self, function, arg):
        if function is step_f:
            return f"1[{self._print(arg)} > 0]"
        return f"{_function_name(function)}({self._print(arg)})"


class NumpyCodePrinter(_MatrixNotation, NumPyPrinter):
    """numpy expressions for generated code; helpers (sigmoid, …) are defined by the template."""

    matmul = " @ "
    hadamard = " * "
    minus = "-"

    def __init__(self):
        super().__init__({"fully_qualified_modules": True})
        self.symbols = set()  # names of scalar symbols printed (dimensions, for the caller)

    def _module_format(self, fqn, register=True):
        return "np." + fqn.removeprefix("numpy.") if fqn.startswith("numpy.") else fqn

    def _print_Delta(self, expr):
        return expr.name

    def _stamp(self, name, time):
        return name

    def _timed(self, name):  # code holds each step's values in plain variables
        return name, None

    def _print_Next(self, expr):  # only ever a state's δ, carried over from step t+1
        return self._print(expr.arg)

    def _print_Symbol(self, expr):
        self.symbols.add(expr.name)
        return expr.name

    def _print_Transpose(self, expr):
        return f"{self._operand(expr.arg)}.T"

    def _print_HadamardPower(self, expr):
        return f"{self._operand(expr.base)}**{self._print(expr.exp)}"

    def _print_OneMatrix(self, expr):
        rows, cols = (self._print(n) for n in expr.shape)
        return f"np.ones(({rows}, {cols}))"

    def _stack(self, items):
        return f"np.vstack(({', '.join(items)}))"

    def _rows(self, arg, start, stop):
        return f"{arg}[{start}:{stop}]"

    def _zeros(self, rows, cols):
        return f"np.zeros(({self._scalar(rows)}, {self._scalar(cols)}))"

    def _reduce_text(self, text, rows, cols):
        if rows and cols:
            return f"np.sum({text}, keepdims=True)"
        if rows or cols:
            return f"np.sum({text}, axis={0 if rows else 1}, keepdims=True)"
        return text

    def _scaled(self, coeff, body):
        text = self._scalar(coeff)
        return f"{text} * {body}" if coeff.is_Atom else f"({text}) * {body}"

    def _scalar(self, expr):
        numerator, denominator = fraction(expr)
        if denominator == 1 or expr.is_Atom:
            return NumPyPrinter.doprint(self, expr)
        over = NumPyPrinter.doprint(self, denominator)
        over = over if denominator.is_Atom else f"({over})"
        return f"{NumPyPrinter.doprint(self, numerator)}/{over}"

    def _call(self, function, arg):
        # derive's and the user's functions are the module's helpers; the rest are numpy's
        own = issubclass(function, (NamedFunction, AppliedUndef))
        return f"{'' if own else 'np.'}{_function_name(function)}({self._print(arg)})"



def unsupported_functions(expr):
    """Names of the functions in a scalar expression that numpy code cannot evaluate."""
    known = {name for name, target in NumpyCodePrinter._kf.items() if target.startswith("numpy.")}
    return sorted({type(f).__name__ for f in expr.atoms(Function)
                   if not isinstance(f, NamedFunction) and type(f).__name__ not in known})


def _function_name(function):
    return function.name if issubclass(function, NamedFunction) else function.__name__


def text(expr, der=None, time=T):
    printer = TextPrinter()
    printer.timing, printer.time = timing(der), time
    return printer.doprint(expr)


def stamped(der, name):
    """A node's name as the equations show it: h_t for a per-step value, W for a parameter."""
    printer = TextPrinter()
    printer.timing = timing(der)
    return printer._stamp(name, T if name in printer.timing else None)


def numpy_code(expr):
    return NumpyCodePrinter().doprint(expr)


def timing(der):
    """For a recurrent derivation: which names are per time step, which are states."""
    if der is None or not der.recurrent:
        return {}
    states = der.states
    return {name: states.get(name, "step") for name in der.shapes if der.per_step(name)}
