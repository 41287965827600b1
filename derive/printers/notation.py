"""What the matrix expressions mean and how tightly each binds; subclasses spell them.

Every target prints from the expression tree: `binding(expr)` says how an expression will be
printed (a sum, a product of one kind, a scaled product, a prefix Σ, or an atom), and an
operand is bracketed whenever it binds more loosely than the place it goes, or is a product of
another kind (numpy gives `@` and `*` the same precedence, so `A @ (c * B)` must keep its
brackets). A bias broadcast as b·1ᵀ prints as b, a sum over an axis as Σ, a constant as c·1.
"""

from functools import cmp_to_key

import sympy as sp
from sympy import Integer, MatMul, MatrixSymbol, OneMatrix, Symbol
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from ..algebra import Place, Spelled
from ..functions import NamedFunction, step
from ..naming import Delta
from ..operations import CALLABLE

SUM, NEGATED, SCALED, REDUCED, PRODUCT, POWER, ATOM = range(7)
T = Symbol("t")


class Verbatim(Symbol):
    """Stands for an already printed matrix inside a scalar formula (the u of f(u))."""


def time_index(time, minus="-"):
    """t, t+1, t−1 or a number, for a time that is t plus a constant or a constant."""
    if time.is_Integer:
        return str(time)
    shift = time - T
    return "t" if shift == 0 else f"t+{shift}" if shift > 0 else f"t{minus}{-shift}"


def entry_of(function):
    """The registered Function entry that spells a sympy function class, or None."""
    if isinstance(function, type) and issubclass(function, NamedFunction):
        return function.entry
    return _BY_SCALAR.get(function)


_BY_SCALAR = {getattr(e, "scalar", None): e for e in CALLABLE.values()
              if getattr(e, "scalar", None) is not None}


_ONE_BY_ONE = sp.Identity(1)
_BINDS = {"atom": ATOM, "power": POWER, "scaled": SCALED, "sum": SUM}  # Function.binds


def is_ones(expr):
    return isinstance(expr, OneMatrix)


def split_coefficient_list(expr):
    """A product's number and its matrix factors; a factor c I₁ (a 1×1 identity, scaled)
    beside others is the number c: 𝟏 (c I₁) 𝟏ᵀ is c 𝟏 (found by a hunt: the coefficient
    stayed inside, and the product printed as 1/10 1)."""
    scalars, factors = [], []
    for a in expr.args:
        if isinstance(a, MatMul) and sum(f.is_Matrix for f in expr.args) > 1 and \
                all(f == _ONE_BY_ONE for f in a.args if f.is_Matrix):
            scalars.extend(f for f in a.args if not f.is_Matrix)
        else:
            (factors if a.is_Matrix else scalars).append(a)
    return sp.Mul(*scalars), factors


def split_coefficient(term):
    if isinstance(term, MatMul):
        coeff, factors = split_coefficient_list(term)
        return coeff, factors[0] if len(factors) == 1 else MatMul(*factors)
    return Integer(1), term


def stretches(factors):
    """Whether ones on the outside of a product stretch it (1 b: more rows, b 1ᵀ: columns)."""
    return (is_ones(factors[0]) and factors[0].shape[0] != 1) or \
        (is_ones(factors[-1]) and factors[-1].shape[1] != 1)


def full_shaped(expr):
    """Whether an expression's printed value has its whole shape (no stretch left out)."""
    name = type(expr).__name__
    if name == "MatMul":
        factors = split_coefficient_list(expr)[1]
        return not (factors and stretches(factors)) or not outer_ones(factors)[2]
    if name in ("MatAdd", "HadamardProduct"):
        return any(full_shaped(a) for a in expr.args)
    if isinstance(expr, ElementwiseApplyFunction):  # f of a number is printed as one
        return expr.function.expr.has(*expr.function.variables) and full_shaped(expr.args[-1])
    if name in ("HadamardPower", "Next"):
        return full_shaped(expr.args[0])
    return True


def outer_ones(factors):
    """(sums rows, sums columns, inner factors): ones on the outside of a product sum an axis
    (1ᵀ x, x 1, or 1 1ᵀ x: sum, then stretch back) or only stretch (1 b, b 1ᵀ: a bias
    broadcast, which numpy's broadcasting keeps)."""
    rows = cols = False
    if factors and is_ones(factors[0]):
        rows, factors = factors[0].shape[1] != 1, factors[1:]
    if factors and is_ones(factors[-1]):
        cols, factors = factors[-1].shape[0] != 1, factors[:-1]
    return rows, cols, factors


def _float_text(p, q):
    """p/q as Python writes the float it is exactly (π, 0.30000000000000004, 2⁻⁵²), where q
    is a power of two too large for a fraction to read well; else None."""
    if q < 2**20 or q & (q - 1) or sp.Rational(float(p / q)) != sp.Rational(p, q):
        return None
    return repr(p / q)


class Notation:
    """The shared half of every printer; subclasses give `matmul`, `hadamard`, `minus`,
    `reduced` (how tightly a Σ binds) and the spelling methods.

    In a recurrent graph `timing` says which names have a value per time step ("step") and
    which are states (their carrier and initial input): x_t, h_{t−1}, and h0 at the first
    step, t = 1.
    """

    matmul = " "
    hadamard = " ⊙ "
    reduced = REDUCED
    target = "text"
    timing = {}
    time = T

    def _print_Rational(self, expr):
        """A constant given as a float that no short fraction is (π) as Python writes that
        float, 3.141592653589793, not as p/2⁴⁸; others as sympy writes them (1/3, 5/2)."""
        written = _float_text(int(expr.p), int(expr.q))  # ("-", as sympy's: its sums read it)
        return super()._print_Rational(expr) if written is None else written

    # --- how tightly each expression binds, as printed ----------------------------------

    def binding(self, expr):
        name = type(expr).__name__
        if name == "MatAdd":
            return ATOM if self._stacked(expr) is not None else SUM
        if name == "MatMul":
            coeff, factors = split_coefficient_list(expr)
            rows, cols, inner = outer_ones(factors)
            if not inner:
                return ATOM if coeff == 1 else SCALED
            if coeff == -1:
                return NEGATED
            if coeff != 1:
                return SCALED
            if rows or cols:
                return self.reduced
            return self.binding(inner[0]) if len(inner) == 1 else PRODUCT
        if name == "HadamardProduct":
            return PRODUCT
        if name == "HadamardPower":
            return POWER
        if name == "Next":
            return self.binding(expr.args[0])
        if isinstance(expr, Spelled) and expr.infix and self.target != "numpy":
            return PRODUCT
        if isinstance(expr, ElementwiseApplyFunction):  # 1/(a tanh(b z)), not 1/a tanh(b z)
            entry = entry_of(type(expr.function.expr))
            return _BINDS[entry.binds] if entry is not None else ATOM
        return ATOM

    def _kind(self, expr):
        """Which product an expression is, so products of two kinds keep their brackets."""
        name = type(expr).__name__
        if name == "MatMul":
            _, factors = split_coefficient_list(expr)
            _, _, inner = outer_ones(factors)
            return self._kind(inner[0]) if len(inner) == 1 else name
        return name

    def _operand(self, expr, kind=None):
        """An operand of a product of `kind` (None: of a transpose, slice, power or scalar
        formula, which take atoms only): bracketed unless it binds tighter, or is a product of
        the same kind."""
        text = self._print(expr)
        level = self.binding(expr)
        if level == ATOM or \
                (kind is not None and level == PRODUCT and self._kind(expr) == kind) or \
                (kind is not None and level > PRODUCT):
            return text
        return self._bracket(text)

    def _bracket(self, text):
        return f"({text})"

    # --- expressions ----------------------------------------------------------------------

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
            return self._print(expr.args[0])
        finally:
            self.time -= 1

    def _print_MatrixSymbol(self, expr):
        return self.stamp(*self._timed(expr.name))

    def _print_MatAdd(self, expr):
        stacked = self._stacked(expr)
        if stacked is not None:
            return stacked
        positive, negative = [], []
        for term in expr.args:
            negated, text = self._signed_term(term)
            (negative if negated else positive).append((broadcast_last(term), text))
        positive = [t for _, t in sorted(positive, key=lambda p: p[0])]
        negative = [t for _, t in sorted(negative, key=lambda p: p[0])]
        out = " + ".join(positive) if positive else f"{self.minus}{negative.pop(0)}"
        return "".join([out, *(f" {self.minus.strip()} {t}" for t in negative)])

    def _signed_term(self, term):
        """(whether the term is subtracted, its size as printed after + or −): a constant
        c·1 as the number c."""
        coeff, rest = split_coefficient(term)
        negated = coeff.could_extract_minus_sign()
        size = -coeff if negated else coeff
        if is_ones(rest):
            return negated, self._scalar_atom(size)
        if size == 1:
            return negated, (self._print(rest) if self.binding(rest) > SUM
                             else f"({self._print(rest)})")
        text = self._print(size * rest)
        if negated and self.binding(size * rest) <= SUM:
            text = f"({text})"
        return negated, text

    def _print_MatMul(self, expr):
        coeff, factors = split_coefficient_list(expr)
        if expr.shape == (1, 1) and self.target != "numpy" and \
                all(f == _ONE_BY_ONE or is_ones(f) for f in factors):
            return self._scalar(coeff)  # c I₁ is c, not "3 1" (a hunt: read as 31)
        if not outer_ones(factors)[2]:  # a constant matrix, c·1
            ones = self._print(OneMatrix(*expr.shape))
            return ones if coeff == 1 else self._scaled(coeff, ones)
        return self._stretched(self._product(coeff, factors), expr, stretches(factors))

    def _stretched(self, text, expr, stretched):
        """A product whose outer ones stretch it: notation leaves the stretch to the reader
        (numpy's printer writes it out where broadcasting would not restore it)."""
        return text

    def _product(self, coeff, factors):
        rows, cols, inner = outer_ones(factors)
        if len(inner) == 1:
            body_expr = inner[0]
            body = self._print(body_expr) if not (rows or cols) else \
                self._reduce(body_expr, rows, cols)
        else:
            body_expr = MatMul(*inner)
            body = self.matmul.join(self._matmul_factor(f) for f in inner)
            if rows or cols:
                body = self._reduce_text(body, rows, cols)
        if coeff == 1:
            return body
        if (self.reduced if rows or cols else self.binding(body_expr)) <= SCALED:
            body = f"({body})"
        return f"{self.minus}{body}" if coeff == -1 else self._scaled(coeff, body)

    def _matmul_factor(self, expr):
        """A factor of a matrix product, a stretch's ones written out (𝟏 c xᵀ, D×D): the
        notation leaves them to the reader in a sum or ⊙, where broadcasting restores them,
        but c xᵀ alone is another matrix."""
        stretched = sp.transpose(expr.arg) if isinstance(expr, sp.Transpose) else expr
        factors = split_coefficient_list(stretched)[1] if isinstance(stretched, MatMul) else ()
        if not (factors and stretches(factors)):
            return self._operand(expr, "MatMul")
        text = self._operand(stretched, "MatMul")
        if is_ones(factors[0]) and factors[0].shape[0] != 1:
            text = f"{self._print(OneMatrix(factors[0].shape[0], 1))}{self.matmul}{text}"
        if is_ones(factors[-1]) and factors[-1].shape[1] != 1:
            ones = sp.Transpose(OneMatrix(factors[-1].shape[1], 1))
            text = f"{text}{self.matmul}{self._print(ones)}"
        return text

    def _reduce(self, expr, rows, cols):
        """Σ over the rows, the columns or both of one expression."""
        return self._reduce_text(self._reduce_operand(expr), rows, cols)

    def _reduce_operand(self, expr):
        return self._operand(expr, "reduce")

    def _print_HadamardProduct(self, expr):
        return self.hadamard.join(self._operand(a, "HadamardProduct") for a in self._factors(expr))

    def _factors(self, expr):
        """A Hadamard product's factors as printed: δ first, then plain names, then
        bracketed terms, δout ⊙ out ⊙ (1 − out)."""
        return sorted(expr.args, key=lambda a: (not isinstance(a, Delta), self.binding(a) < ATOM,
                                                not isinstance(a, MatrixSymbol)))

    def _print_Identity(self, expr):
        return self._print(OneMatrix(*expr.shape))  # only ever 1×1: a scalar's δE = 1

    def _print_MatrixElement(self, expr):
        return self._print(expr.parent)  # only ever the 1×1 δ of a scalar node

    def _print_ElementwiseApplyFunction(self, expr):
        body = expr.function.expr
        arg = expr.function.variables[0]
        if body.is_Function and body.args == (arg,) and entry_of(body.func) is not None:
            return self._call(entry_of(body.func), self._print(expr.expr),
                              self._factor(expr.expr), self._atom(expr.expr))
        text = self._scalar(body.xreplace({arg: Verbatim(self._operand(expr.expr))}))
        alone = body.is_Atom or body.is_Function or (body.is_Pow and body.base == arg
                                                     and body.exp.is_Integer and body.exp > 0)
        return text if alone else f"({text})"

    def _print_Heaviside(self, expr, exp=None):
        """1[u > 0], spelled as relu's step is (1[u ≥ 0] where it is 1 at 0); H(u), the
        Heaviside step, where it is ½ at 0 (as a user's formula may hold it)."""
        at_zero = expr.args[1] if len(expr.args) > 1 else None
        if at_zero not in (0, 1):
            inner = self._print(expr.args[0])
            return rf"H\left({inner}\right)" if self.target == "latex" else f"H({inner})"
        text = step.spell(self.target, self._print(expr.args[0]))
        return text if at_zero == 0 else text.replace(" > 0]", f" {self.at_least} 0]")

    def _print(self, expr, **kwargs):
        """A named function by its entry's spelling, never by a printer method that shares
        its name: numpy's printer has its own `maximum` (which printed max(u, c) as u, the
        constant dropped), `sinc`, `gamma`, … ."""
        if isinstance(expr, NamedFunction):
            return self._print_Function(expr)
        return super()._print(expr, **kwargs)

    def _print_MatPow(self, expr):
        """A power of a 1×1 value, which is how sympy writes f′ of one there (f(u) = u^1.5):
        entrywise, as everywhere else (a matrix power of 1/2 was numpy's TypeError)."""
        if expr.base.shape == (1, 1):
            return self._print(sp.HadamardPower(*expr.args))
        return super()._print_MatPow(expr)

    def _print_Function(self, expr, exp=None):
        entry = entry_of(type(expr))
        if entry is None:
            return super()._print_Function(expr, exp) if exp is not None else \
                super()._print_Function(expr)
        text = self._call(entry, ", ".join(self._print(a) for a in expr.args),
                          ", ".join(self._factor(a) for a in expr.args),
                          ", ".join(self._atom(a) for a in expr.args))
        return text if exp is None else self._power(text, exp)

    def _factor(self, expr):
        """`expr` as a factor of a scalar multiple: sums and negations bracketed."""
        text = self._print(expr)
        return f"({text})" if self.binding(expr) <= SCALED else text

    def _atom(self, expr):
        """`expr` as a base or a divisor: bracketed unless it is a name or a number (a
        product too, V x, which 1/V x or V x² would misread)."""
        if isinstance(expr, sp.MatrixExpr):
            return self._operand(expr)
        return self._print(expr) if expr.is_Atom else f"({self._print(expr)})"

    def _print_Spelled(self, expr):
        spelling = getattr(type(expr), self.target)
        if expr.infix and self.target != "numpy":
            kind = "reduce" if expr.reduces else type(expr).__name__
            return spelling.format(*(
                self._print(a) if not isinstance(a, sp.MatrixExpr) or
                (expr.reduces and self.binding(a) == self.reduced) else self._operand(a, kind)
                for a in expr.args))
        return spelling.format(*(self._print(a) for a in expr.args))

    def _print_Stack(self, expr):
        return self._stack([self._print(a) for a in expr.args])

    def _print_Rows(self, expr):
        return self._rows(self._operand(expr.args[0]), self._scalar(expr.args[1]),
                          self._scalar(expr.args[2]))

    def _print_Place(self, expr):
        return self._placed([expr]) or self._stack([self._print(expr.args[0])])

    def _stacked(self, expr):
        if all(isinstance(t, Place) for t in expr.args):
            return self._placed(expr.args)
        return None

    def _placed(self, places):
        """Row blocks of δ put back where they were taken: [δi; δf; 0; δg]; None if they
        overlap, or may at some sizes (s[0:H] and s[1:H+1]: the gap 1 − H), and then the
        sum is printed term by term."""
        order = sorted(places, key=cmp_to_key(lambda a, b: -1 if (a.start - b.start).is_negative
                                              else 1 if (a.start - b.start).is_positive else 0))
        rows, cols = order[0].shape
        blocks, at = [], sp.Integer(0)
        for place in order:
            gap = place.start - at
            if not gap.is_nonnegative:
                return None
            if gap != 0:
                blocks.append(self._zeros(gap, cols))
            blocks.append(self._print(place.arg))
            at = place.start + place.arg.shape[0]
        if not (rows - at).is_nonnegative:
            return None
        if rows - at != 0:
            blocks.append(self._zeros(rows - at, cols))
        return self._stack(blocks)

    def _print_Verbatim(self, expr):
        return expr.name

    def _scalar_atom(self, number):
        """A scalar as a factor: a sum of dimensions is bracketed, (D + 1) z (numpy brackets
        whatever is not a plain number or name)."""
        text = self._scalar(number)
        return f"({text})" if isinstance(number, sp.Add) else text

    def _zeros(self, rows, cols):
        return "0"

    def _call(self, entry, arg, factor=None, atom=None):
        return entry.spell(self.target, arg, factor, atom)

    def _scaled(self, coeff, body):
        if coeff.could_extract_minus_sign():
            return f"{self.minus}{self._scaled(-coeff, body)}"
        return f"{self._scalar_atom(coeff)}{self.times}{body}"


def broadcast_last(term):
    """Sort key: a bias (b·1ᵀ) or a constant comes after the products it is added to."""
    rest = split_coefficient(term)[1]
    return isinstance(rest, OneMatrix) or (isinstance(rest, MatMul) and is_ones(rest.args[-1]))
