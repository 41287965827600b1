"""Printers for derive's matrix expressions: one class per target, one method per type.

Both printers share `_MatrixNotation`, which knows how the rules write things (a bias
broadcast as b·1ᵀ, a column sum as δ·1, a constant as c·1) and how to order and bracket them;
the subclasses say how each target spells them.
"""

from sympy import Function, fraction, Integer, MatMul, MatrixSymbol, Number, OneMatrix, Symbol
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.str import StrPrinter

from .algebra import LogSoftmax, Softmax
from .functions import NAMED, NamedFunction, step_f
from .naming import Delta

_SUM, _PRODUCT, _POWER, _ATOM = 10, 20, 30, 40


def _is_ones(expr):
    return isinstance(expr, OneMatrix)


class _MatrixNotation:
    """What the matrix expressions mean; subclasses provide the spelling."""

    matmul = " "
    hadamard = " ⊙ "

    def _prec(self, expr):
        name = type(expr).__name__
        if name == "MatAdd":
            return _SUM
        if name == "MatMul":
            coeff, _ = expr.as_coeff_mmul()
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
        return expr.name

    def _print_MatAdd(self, expr):
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
        if isinstance(body, NamedFunction) and body.args == (arg,):
            return self._call(body.func, expr.expr)
        text = self._scalar(body.xreplace({arg: Symbol(self._operand(expr.expr))}))
        return text if body.is_Atom or body.is_Function else f"({text})"

    def _print_AppliedUndef(self, expr):
        # derive's named functions and validated user functions, by name
        return f"{_function_name(expr.func)}({', '.join(self._print(a) for a in expr.args)})"

    def _print_Function(self, expr):
        # sympy's printers skip subclasses of Function when dispatching, so look here
        if isinstance(expr, NamedFunction):
            return self._print_AppliedUndef(expr)
        return super()._print_Function(expr)

    def _print_Softmax(self, expr):
        return f"softmax({self._print(expr.arg)})"

    def _print_LogSoftmax(self, expr):
        return f"log_softmax({self._print(expr.arg)})"


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
        return f"δ{expr.node_name}"

    def _print_Transpose(self, expr):
        return f"{self._operand(expr.arg)}ᵀ"

    def _print_HadamardPower(self, expr):
        power = str(expr.exp).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))
        return f"{self._operand(expr.base)}{power}"

    def _print_OneMatrix(self, expr):
        return "1"

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
    HELPERS = {"sigmoid", "softplus", "relu", "step"}

    def __init__(self):
        super().__init__({"fully_qualified_modules": True})
        self.symbols = set()  # names of scalar symbols printed (dimensions, for the caller)

    def _module_format(self, fqn, register=True):
        return "np." + fqn.removeprefix("numpy.") if fqn.startswith("numpy.") else fqn

    def _print_Delta(self, expr):
        return expr.name

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
        name = _function_name(function)
        prefix = "" if name in self.HELPERS else "np."
        return f"{prefix}{name}({self._print(arg)})"



def unsupported_functions(expr):
    """Names of the functions in a scalar expression that numpy code cannot evaluate."""
    known = {name for name, target in NumpyCodePrinter._kf.items() if target.startswith("numpy.")}
    return sorted({type(f).__name__ for f in expr.atoms(Function)
                   if not isinstance(f, NamedFunction) and type(f).__name__ not in known})


def _function_name(function):
    return function.name if issubclass(function, NamedFunction) else function.__name__


def text(expr):
    return TextPrinter().doprint(expr)


def numpy_code(expr):
    return NumpyCodePrinter().doprint(expr)


def text_equations(der):
    """The derivation as lines of text: forward pass, then each δ and parameter gradient with
    the rule that made each of its terms."""
    lines = [f"{name} = {text(e)}" for name, e in der.forward.items()]
    backward = [(f"δ{name} = {text(e)}", why(der.terms[name]))
                for name, e in [*der.deltas.items(), *der.gradients.items()] if name != der.loss]
    width = max((len(eq) for eq, _ in backward), default=0)
    return lines + [f"{eq:<{width}}   # {reason}" for eq, reason in backward]


def why(terms):
    """Which rule made each term, and at which consumer: 'rule 5 (weight matrix) at z2'."""
    parts = [f"{t.rule} at {t.chain()[-1][1]}" if t.rule.name != "LOSS" else "the loss's δ"
             for t in terms]
    if len(parts) == 1:
        return parts[0]
    return f"rule 1 (splitting): {'; '.join(parts)}"
