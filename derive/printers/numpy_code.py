"""numpy expressions for generated code, with every identifier chosen by the module's namer.

Helpers (sigmoid, softmax, a user's phi) are functions the template defines; Max, Min, Abs,
sign, Heaviside and Piecewise of user formulas become numpy's own elementwise functions.
"""

from contextlib import contextmanager

from sympy import (Float, Function, Lambda, MatMul, MatrixSymbol, Max, Min, OneMatrix,
                   Rational, Symbol, fraction)
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.precedence import PRECEDENCE, precedence

from ..algebra import (CENTRED_COLS, CENTRED_ROWS, SUM_COLS, SUM_PRODUCTS, SUM_ROWS,
                       SUM_SQUARES, Helper, unstretched)
from ..naming import Delta
from .notation import (ATOM, Notation, outer_ones, broadcast_last, full_shaped,
                       split_coefficient, split_coefficient_list)


class IdentityNames:
    """The identity namer: every name is its own identifier (for printing outside a module)."""

    def value(self, name):
        return name

    def delta(self, name):
        return f"delta_{name}"

    dimension = function = value


class Unmade(Exception):
    """An equation's first operation cannot be written into given rows (`made_into`)."""


def numbers_as_floats(body):
    """A formula's constants that are not fractions (log 2, √2, σ(1)) as Python floats: numpy
    gives np.log(2) as a float64 scalar, which makes a float32 array float64, and a helper
    such as sigmoid takes arrays, not numbers."""
    return body.replace(lambda e: e.is_number and not (e.is_Rational or e.is_Float),
                        lambda e: Float(e.evalf(17), 17))


class NumpyCodePrinter(Notation, NumPyPrinter):
    matmul = " @ "
    hadamard = " * "
    minus = "-"
    times = " * "
    reduced = ATOM
    target = "numpy"

    def __init__(self, names=None, dtype="dtype"):
        super().__init__({"fully_qualified_modules": True})
        self.names = names or IdentityNames()
        self.dtype = dtype       # code naming the arrays' float type, where the code has one
        self.loose = set()       # expressions numpy's broadcasting will stretch in place
        self.within = False      # printing one statement's pieces (`statement`)
        self.dimensions = set()  # dimension names printed (the caller binds them)
        self.helpers = set()     # helper entries called
        self.typed = False       # whether it made an array (np.zeros) in the module's `dtype`
        self.out = None          # rows to write an equation's first operation into (`made_into`)
        self.number = False      # printing the loss, read as a number (`statement`)
        # (hoisted code) whether an expression reads an array of every step, steps first
        self.of_every_step = getattr(self.names, "of_every_step", None)

    @contextmanager
    def statement(self, number=False):
        """Printing one equation, in pieces: what broadcasting may stretch is known within
        it only. δs 1ᵀ left to broadcast beside a factor of the whole shape in one equation
        is no reason to leave it 1×1 in another (Σ_cols of it was δs, not N δs). A `number`
        (the loss, which only `.item()` reads) takes its sums over every entry as numbers,
        not 1×1 arrays: arithmetic on a numpy scalar costs a fraction of a ufunc call."""
        self.loose, self.within, self.number = set(), True, number
        try:
            yield self
        finally:
            self.within = self.number = False

    def doprint(self, expr, assign_to=None):
        if not self.within:  # an expression printed on its own is an equation of its own
            self.loose = set()
        return super().doprint(expr, assign_to)

    def _module_format(self, fqn, register=True):
        return "np." + fqn.removeprefix("numpy.") if fqn.startswith("numpy.") else fqn

    def _print_Delta(self, expr):
        return self.names.delta(expr.node_name)

    def _print_MatrixSymbol(self, expr):
        return self.names.value(expr.name)

    def _print_Next(self, expr):  # only ever a state's δ, carried over from step t+1
        return self._print(expr.args[0])

    def _print_Symbol(self, expr):
        self.dimensions.add(expr.name)
        return self.names.dimension(expr.name)

    def _print_Transpose(self, expr):
        return f"{self._operand(expr.arg)}.T"

    def _print_HadamardPower(self, expr):
        return f"{self._operand(expr.base)}**{self._scalar_atom(expr.exp)}"

    def _print_OneMatrix(self, expr):
        rows, cols = (self._print(n) for n in expr.shape)
        self.typed = True
        return f"np.ones(({rows}, {cols}), dtype=dtype)"

    def _scalar_atom(self, number):
        text = self._scalar(number)
        plain = (number.is_Integer or number.is_Float or number.is_Symbol) and \
            not number.could_extract_minus_sign()
        return text if plain else f"({text})"

    def _matmul_factor(self, expr):
        return self._operand(expr, "MatMul")  # a stretch is np.broadcast_to (_stretched)

    def _stretched(self, text, expr, stretched):
        if not stretched or expr in self.loose:
            return text
        rows, cols = (self._print(n) for n in expr.shape)
        return f"np.broadcast_to({text}, ({rows}, {cols}))"

    def _print_MatAdd(self, expr):
        self._loosen(expr)
        return self._centred(expr) or self._added_onto(expr) or super()._print_MatAdd(expr)

    def _centred(self, expr):
        """a − mean(a) over its rows (a − 1/k 𝟏 a, 𝟏 k×k) or its columns (a − 1/k a 𝟏) as
        one helper call, which takes the mean off twice (`CENTRED_ROWS`); else None."""
        if len(expr.args) != 2:
            return None
        for term, rest in (expr.args, expr.args[::-1]):
            if not isinstance(term, MatMul):
                continue
            coeff, factors = split_coefficient_list(term)
            rows, cols = rest.shape
            for helper, mean, k in ((CENTRED_ROWS, [OneMatrix(rows, rows), rest], rows),
                                    (CENTRED_COLS, [rest, OneMatrix(cols, cols)], cols)):
                if factors == mean and coeff == -1 / k:
                    self.helpers.add(helper)
                    return f"{helper.name}({self._print(rest)})"
        return None

    def _added_onto(self, expr):
        """a + b as one helper call where b's notation adds itself onto an array of the
        whole shape (`onto`: a bias of each channel, by broadcasting); else None."""
        if len(expr.args) != 2:
            return None
        for term, rest in (expr.args, expr.args[::-1]):
            added = unstretched(term)
            helper = getattr(added, "onto", None)
            if helper is not None and full_shaped(rest):
                self.helpers.add(helper)
                return f"{helper.name}({self._print(rest)}, {self._print(added.args[0])})"
        return None

    def _print_HadamardProduct(self, expr):
        self._loosen(expr)
        return super()._print_HadamardProduct(expr)

    def _loosen(self, parent):
        """Operands of an elementwise sum or product may leave their stretch to broadcasting
        when another operand has the whole shape, or when the whole may leave it too."""
        if not (parent in self.loose or any(full_shaped(a) for a in parent.args)):
            return
        for inner in parent.args:
            while True:
                self.loose.add(inner)
                kind = type(inner).__name__
                if isinstance(inner, ElementwiseApplyFunction):
                    inner = inner.args[-1]
                elif kind in ("HadamardPower", "Next"):
                    inner = inner.args[0]
                elif kind == "MatMul" and len(split_coefficient_list(inner)[1]) == 1:
                    inner = split_coefficient_list(inner)[1][0]
                else:
                    break

    def in_place(self, name, terms, accumulate=False):
        """The equation `name = Σ terms` as (code, updates) — `name = code`, then
        `name op= update` for each (op, update) — or None to print it whole. A sum starts
        from a term that makes a new array of the whole shape (a matrix product) and adds the
        rest into it; a product multiplies into one such factor: one array an equation, not
        one an operation (z = W x; z += b). `accumulate` (a gradient summed over steps) adds
        every term into `name`. An equation that reads `name` itself stays whole."""
        if len(terms) == 1 and type(terms[0]).__name__ == "MatAdd" and \
                self._stacked(terms[0]) is None:
            self._loosen(terms[0])
            terms = list(terms[0].args)
        if name in self._reads(terms):
            return None
        if len(terms) > 1 and all(type(t).__name__ == "Place" for t in terms):
            if self.out is not None:  # (found by a hunt: the stack's rows were left unwritten)
                raise Unmade
            whole = self._placed(terms)  # [δt1; δt2]: the blocks of a split, put back
            return None if whole is None else (whole, ())
        if len(terms) == 1 and not accumulate:
            return self._product_in_place(terms[0])
        if accumulate:
            head = terms[0]
        else:
            head = self._head(terms)
            if head is None:
                return None
            head, terms = self._absorbed(head, terms)
            product = self._product_in_place(head) \
                if type(head).__name__ == "HadamardProduct" else None
            if product is not None:  # δc = 1 − tanh²c; δc *= δtanh_c; δc += δc_{t+1} ⊙ f
                return product[0], (*product[1], *self._added(head, terms))
        code, updates = self._made(head)
        return code, (*updates, *self._added(head, terms))

    def made_into(self, name, terms, out):
        """The equation `name = Σ terms` as `in_place` gives it, its first operation written
        into `out` (rows of a stack built in place, `stacks`) as a ufunc call,
        `np.multiply(δc, g, out=…)`; None where that operation is not one elementwise
        product or sum."""
        self.out = out
        try:
            split = self.in_place(name, terms)
            if split is None and len(terms) == 1 and name not in self._reads(terms):
                split = self._made(terms[0])
            return split
        except Unmade:
            return None
        finally:
            self.out = None

    def _made(self, head):
        """`head` printed, as (code, updates): the whole of it, or into `self.out`."""
        if self.out is None:
            return self._print(head), ()
        kind = type(head).__name__
        if kind == "HadamardProduct":
            self._loosen(head)
            first, second, *rest = self._factors(head)
            return (f"np.multiply({self._print(first)}, {self._print(second)}, out={self.out})",
                    tuple(("*=", self._operand(a, kind)) for a in rest))
        if kind == "MatAdd" and self._stacked(head) is None and self._added_onto(head) is None:
            self._loosen(head)
            signed = sorted(((*self._signed_term(t), t) for t in head.args),
                            key=lambda s: (s[0], broadcast_last(s[2])))
            if signed[0][0]:  # −a − b: no term to start from
                raise Unmade
            (_, first, _), (negated, second, _), *rest = signed
            ufunc = "subtract" if negated else "add"
            return (f"np.{ufunc}({first}, {second}, out={self.out})",
                    tuple(("-=" if n else "+=", text) for n, text, _ in rest))
        raise Unmade

    def _absorbed(self, head, terms):
        """(head, terms) with one of the other terms taken into the head where its notation
        can (a convolution its bias): one call, not a call and an update."""
        absorb = getattr(head, "absorb", None)
        for term in terms if absorb else ():
            whole = absorb(term) if term is not head else None
            if whole is not None:
                return whole, [whole if t is head else t for t in terms if t is not term]
        return head, terms

    def _added(self, head, terms):
        """The updates that add every term but `head` into it, stretched ones last."""
        rest = sorted((t for t in terms if t is not head), key=broadcast_last)
        return tuple(("-=" if negated else "+=", text) for negated, text in
                     (self._signed_term(t) for t in rest))

    def _product_in_place(self, term):
        if type(term).__name__ == "MatMul":
            return self._scaled_in_place(term)
        if type(term).__name__ != "HadamardProduct":
            return None
        self._loosen(term)
        head = self._head(term.args)
        if head is None:
            return None
        code, updates = self._made(head)
        return code, (*updates, *(("*=", self._print(a)) for a in term.args if a is not head))

    def _scaled_in_place(self, term):
        """c (a − b): the sum built as one array (in place where it can be), then scaled in
        it: δ = scale (out − label) as `δ = out − label; δ *= scale`, one array, not two."""
        coeff, factors = split_coefficient_list(term)
        if coeff == 1 or len(factors) != 1 or type(factors[0]).__name__ != "MatAdd" or \
                not full_shaped(factors[0]) or self._stacked(factors[0]) is not None:
            return None
        inner = factors[0]
        self._loosen(inner)
        head = self._head(inner.args)
        scaled = ("*=", self._scalar(coeff))
        code, updates = self._made(head if head is not None else inner)
        if head is None:
            return code, (*updates, scaled)
        return code, (*updates, *self._added(head, inner.args), scaled)

    def _head(self, operands):
        """The operand an equation starts from and updates in place: the first that makes a
        new array of the whole shape. In hoisted code, where arrays of every step (T×rows×cols)
        meet what is the same at every step (rows×cols), one of every step, as an update
        cannot stretch the array it updates."""
        heads = [a for a in operands if self._fresh(a)]
        if self.of_every_step and any(self.of_every_step(a) for a in operands):
            heads = [a for a in heads if self.of_every_step(a)]
        return next(iter(heads), None)

    def _fresh(self, expr):
        """Whether printing `expr` makes a new array of its whole shape (so it may be updated
        in place, saving one): a matrix product or a scaled matrix, an elementwise sum or
        product, a notation whose helper makes a new array (a convolution)."""
        kind = type(expr).__name__
        if kind == "MatMul":
            coeff, factors = split_coefficient_list(expr)
            rows, cols, inner = outer_ones(factors)
            return not (rows or cols) and len(inner) == len(factors) and \
                (len(inner) > 1 or coeff not in (1, -1))  # −x: a − x makes one array
        fresh = kind in ("MatAdd", "HadamardProduct") or getattr(type(expr), "fresh", False)
        return fresh and full_shaped(expr)

    def _reads(self, exprs):
        """The identifiers an expression reads."""
        found = set()
        for expr in exprs:
            for atom in expr.atoms(MatrixSymbol):
                found.add(self.names.delta(atom.node_name) if isinstance(atom, Delta)
                          else self.names.value(atom.name))
        return found

    def _signed_term(self, term):
        if term in self.loose:  # −c·1 1ᵀ x stays loose as c·1 1ᵀ x, printed after the minus
            coeff, rest = split_coefficient(term)
            self.loose.add((-coeff if coeff.could_extract_minus_sign() else coeff) * rest)
        return super()._signed_term(term)

    def _print_Spelled(self, expr):
        if type(expr).helper is not None:
            self.helpers.add(type(expr).helper)
        return super()._print_Spelled(expr)

    def _print_OverPositions(self, expr):
        """Σ_positions Σ_cols δ (a convolution's bias): each channel's rows side by side, times
        ones, in one product; not a column sum, then a sum of its blocks."""
        column = expr.args[0]
        if type(column).__name__ == "MatMul" and len(column.args) == 2 and \
                type(column.args[1]).__name__ == "OneMatrix":
            self.helpers.add(SUM_COLS)
            delta, positions = column.args[0], expr.args[1]
            row = self._scalar(positions * delta.shape[1])  # a channel's entries
            return f"{SUM_COLS.name}({self._operand(delta)}.reshape(-1, {row}))"
        return self._print_Spelled(expr)

    def _reduce(self, expr, rows, cols):
        if rows and cols and type(expr).__name__ == "HadamardPower" and expr.exp == 2:
            return self._dot_product(SUM_SQUARES, expr.base)  # Σ u², a loss: no squares
        if rows and cols and self._one_dot_product(expr):
            return self._dot_product(SUM_PRODUCTS, *expr.args)  # Σ t ⊙ log p, a loss
        return super()._reduce(expr, rows, cols)

    def _dot_product(self, helper, *factors):
        """Σ of the product of `factors` (u ⊙ u: one) as one BLAS dot product: a number in
        the loss (where u is a name: u is not computed twice), else the 1×1 array `helper`
        makes of it."""
        printed = [self._print(f) for f in factors]
        if self.number and (len(factors) == 2 or printed[0].isidentifier()):
            return f"np.vdot({printed[0]}, {printed[-1]})"
        self.helpers.add(helper)
        return f"{helper.name}({', '.join(printed)})"

    def _one_dot_product(self, expr):
        """Whether Σ of `expr` is one dot product of its two factors: both of the whole shape
        and, in hoisted code, both of every step or neither (np.vdot does not broadcast)."""
        if type(expr).__name__ != "HadamardProduct" or len(expr.args) != 2 or \
                not all(full_shaped(a) for a in expr.args):
            return False
        return not self.of_every_step or len({self.of_every_step(a) for a in expr.args}) == 1

    def _reduce_operand(self, expr):
        return self._print(expr)

    def _stack(self, items):  # of 2-D arrays: concatenate is vstack without its checks, 2× faster
        return f"np.concatenate(({', '.join(items)}{',' * (len(items) == 1)}))"

    def _rows(self, arg, start, stop):
        return f"{arg}[{start}:{stop}]"

    def _print_ZeroMatrix(self, expr):
        return self._zeros(*expr.shape)

    def empty(self, shape):
        """A new array of `shape` whose every entry will be written (np.empty)."""
        self.typed = True
        rows, cols = (self._scalar(n) for n in shape)
        return f"np.empty(({rows}, {cols}), dtype=dtype)"

    def _zeros(self, rows, cols):
        self.typed = True
        return f"np.zeros(({self._scalar(rows)}, {self._scalar(cols)}), dtype=dtype)"

    def _reduce_text(self, text, rows, cols):
        if rows and cols:
            return f"np.sum({text})" if self.number else f"np.sum({text}, keepdims=True)"
        helper = SUM_ROWS if rows else SUM_COLS
        self.helpers.add(helper)
        return f"{helper.name}({text})"

    def _print_ElementwiseApplyFunction(self, expr):
        body, (arg,) = expr.function.expr, expr.function.variables
        floats = numbers_as_floats(body)
        if floats != body:  # 2**z * log(2): log(2) as a float, the array's precision kept
            expr = type(expr)(Lambda(arg, floats), expr.expr)
        return super()._print_ElementwiseApplyFunction(expr)

    def _print_Piecewise(self, expr):
        """np.select of the pieces; where every piece is a number ([1, 1/10], a leaky relu's
        slope), in the arrays' float type: numpy would make it float64."""
        text = super()._print_Piecewise(expr)
        if self.dtype is None or any(value.free_symbols for value, _ in expr.args):
            return text
        self.typed = self.typed or self.dtype == "dtype"
        return f"{text}.astype({self.dtype}, copy=False)"

    def _scalar(self, expr):
        """A scalar in Python's own numbers, which keep an array's precision (a numpy float64
        would turn float32 arrays into float64, as np.maximum(D, N) an int64 would): powers by
        **, other functions and maxima by float(), and numbers such as log 2 as floats."""
        expr = numbers_as_floats(expr)
        numerator, denominator = fraction(expr)
        if denominator == 1 or expr.is_Atom:
            text = NumPyPrinter.doprint(self, expr)
        else:
            over = NumPyPrinter.doprint(self, denominator)
            over = over if denominator.is_Atom else f"({over})"
            top = NumPyPrinter.doprint(self, numerator)  # (2*u + 1)/…, never 2*u + 1/…
            top = top if precedence(numerator) >= PRECEDENCE["Mul"] else f"({top})"
            text = f"{top}/{over}"
        constant = all(type(s) is Symbol for s in expr.free_symbols)  # of dimensions only
        return f"float({text})" if constant and expr.atoms(Function, Max, Min) else text

    def _scaled(self, coeff, body):
        """c·body, as body / k where c = ±1/k for a count k (a positive integer, a dimension or
        their product): one rounding where (1/k)·body makes two, so that a mean of equal
        entries is that entry (found by a hunt: the mean of a constant column missed it by an
        ulp, and layer norm gave ±0.93 where it is 0)."""
        numerator, denominator = fraction(coeff)
        if numerator in (1, -1) and denominator != 1 and denominator.is_integer and \
                denominator.is_positive:
            sign = "-" if numerator == -1 else ""
            return f"{sign}{body} / {self._scalar_atom(denominator)}"
        return super()._scaled(coeff, body)

    def _print_Pow(self, expr, rational=False):
        if expr.is_Matrix:
            return super()._print_Pow(expr, rational)
        return super()._print_Pow(expr, rational=True)  # d_k**(1/2), not np.sqrt(d_k)

    def _power(self, text, exp):
        return f"{text}**{exp}"

    def _call(self, entry, arg, factor=None, atom=None):
        """A function of the registry: its numpy form, or a call of its helper."""
        if entry.user:
            self.helpers.add(entry)
            return f"{self.names.function(entry.name)}({arg})"
        if isinstance(entry.numpy, Helper):
            self.helpers.add(entry.numpy)
            return f"{entry.numpy.name}({arg})"
        return entry.spell("numpy", arg, factor, atom)

    # Piecewise-smooth functions of user formulas, elementwise as numpy has them.
    def _nested(self, function, args):
        first, *rest = [self._print(a) for a in args]
        return first if not rest else f"{function}({first}, {self._nested(function, args[1:])})"

    def _print_Max(self, expr):
        return self._nested("np.maximum", expr.args)

    def _print_Min(self, expr):
        return self._nested("np.minimum", expr.args)

    def _print_Abs(self, expr):
        return f"np.abs({self._print(expr.args[0])})"

    def _print_Heaviside(self, expr):
        at_zero = expr.args[1] if len(expr.args) > 1 else Rational(1, 2)
        return f"np.heaviside({self._print(expr.args[0])}, {self._print(at_zero)})"


def numpy_code(expr, names=None):
    return NumpyCodePrinter(names, dtype=None).doprint(expr)
