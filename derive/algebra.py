"""Matrix expressions the rules need beyond sympy's own: broadcasting, sums, row blocks.

Broadcasting is written with ones so that every expression stays exact algebra:
a bias b (H×1) added across N columns is b·1ᵀ, and the δ it gets back is δz·1 (a row sum).
"""

from dataclasses import dataclass

import sympy as sp
from sympy import OneMatrix


def ones(rows, cols):
    return OneMatrix(rows, cols)


def broadcast(expr, shape):
    """expr (r×c, with r or c possibly 1) stretched to `shape` by multiplying with ones."""
    (r, c), (rows, cols) = expr.shape, shape
    if r != rows:
        expr = ones(rows, 1) * expr
    if c != cols:
        expr = expr * ones(1, cols)
    return expr


def unstretched(term):
    """A column stretched across the columns (b 1ᵀ) as the column b; any other term as it is."""
    if isinstance(term, sp.MatMul) and len(term.args) == 2 and \
            isinstance(term.args[1], OneMatrix) and term.args[1].shape[0] == 1:
        return term.args[0]
    return term


def unbroadcast(delta, shape):
    """The δ of an operand of `shape` that was broadcast: δ summed over the stretched axes."""
    (r, c), (rows, cols) = delta.shape, shape
    if rows != r:
        delta = ones(1, r) * delta
    if cols != c:
        delta = delta * ones(c, 1)
    return delta


def sum_all(expr):
    """Σ of all entries, as a 1×1 matrix."""
    r, c = expr.shape
    return ones(1, r) * expr * ones(c, 1)


def scale_by(delta, expr):
    """δE·expr for a scalar node's δ; the loss's own δE = 1 leaves expr as it is."""
    if delta == ROOT_DELTA:
        return expr
    return delta[0, 0] * expr


ROOT_DELTA = OneMatrix(1, 1)  # δE = ∂E/∂E


class _ShapedLikeItsArgument(sp.MatrixExpr):
    def __new__(cls, arg):
        return super().__new__(cls, arg)

    @property
    def arg(self):
        return self.args[0]

    @property
    def shape(self):
        return self.arg.shape


@dataclass(frozen=True)
class Helper:
    """A function the generated module defines: `def name(args):`, its docstring, `code`, whose
    last line is the returned expression. `needs` holds the helpers its code calls (each a
    Helper, or the name of one that a registered entry defines)."""

    name: str
    doc: str
    code: tuple
    args: str = "u"
    needs: tuple = ()


# Σ_rows and Σ_cols in generated code: a product with a vector of ones is one BLAS call,
# faster than np.sum along an axis at every size (and several times faster across rows).
ONES = Helper("ones_column", "A column of n ones in `dtype`, made once for each (n, dtype) and "
              "remembered (the last 64): a sum multiplies by it every step.",
              ("ones = known.get((n, dtype))  # one lookup: another thread may clear them",
               "if ones is None:",
               "    if len(known) >= 64:",
               "        known.clear()",
               "    ones = known[n, dtype] = np.ones((n, 1), dtype=dtype)",
               "ones"), args="n, dtype, known={}")
SUM_ROWS = Helper("sum_rows", "Σ_rows u, each column's sum: 1ᵀ u, one BLAS call (steps first: "
                  "each step's).", ("ones_column(u.shape[-2], u.dtype).T @ u",), needs=(ONES,))
SUM_COLS = Helper("sum_cols", "Σ_cols u, each row's sum: u 1, one BLAS call (steps first: each "
                  "step's).", ("u @ ones_column(u.shape[-1], u.dtype)",), needs=(ONES,))
# u − its mean over the rows (columns): one pass leaves the mean's rounding in every entry, an
# ulp of a large entry that the variance of layer norm can make ±1 (found by a hunt: a column
# of equal entries normalised to ±0.93); the mean of what is left, taken off too, is exact
CENTRED_ROWS = Helper("centred_rows", "u − the mean of each column, in two passes: the mean of "
                      "what the first leaves is taken off too, so a column of equal entries is "
                      "0 exactly (steps first: each step's).",
                      ("c = u - sum_rows(u) / u.shape[-2]", "c -= sum_rows(c) / u.shape[-2]",
                       "c"), needs=(SUM_ROWS,))
CENTRED_COLS = Helper("centred_cols", "u − the mean of each row, in two passes: the mean of "
                      "what the first leaves is taken off too, so a row of equal entries is 0 "
                      "exactly (steps first: each step's).",
                      ("c = u - sum_cols(u) / u.shape[-1]", "c -= sum_cols(c) / u.shape[-1]",
                       "c"), needs=(SUM_COLS,))
# (np.asarray: a worked example's exact numbers make vdot a sympy number, not a numpy scalar)
SUM_SQUARES = Helper("sum_squares", "Σ u², 1×1: the dot product of u with itself (one BLAS "
                     "call, no array of squares).", ("np.asarray(np.vdot(u, u)).reshape(1, 1)",))
SUM_PRODUCTS = Helper("sum_products", "Σ u ⊙ v, 1×1: the dot product of u and v (one BLAS "
                      "call, no array of products).",
                      ("np.asarray(np.vdot(u, v)).reshape(1, 1)",), args="u, v")

# every step's arrays, steps first: np.stack checks and reshapes each array before it joins
# them (9 µs for 20 steps of 32×8, against 3.5 for one concatenate and a view)
STEPS_FIRST = Helper("steps_first", "The steps' arrays (a list of rows×cols) as one "
                     "T×rows×cols array: joined in one concatenate, then viewed steps first.",
                     ("np.concatenate(arrays).reshape(len(arrays), *arrays[0].shape)",),
                     args="arrays")


class Spelled(_ShapedLikeItsArgument):
    """A notation of an operation's own, spelled by its class: `text`, `latex` and `numpy` are
    format strings over the printed arguments ({0}, {1}, …), `helper` the numpy function the
    numpy spelling calls, if any. Printers need no method of their own for it. An `infix`
    notation brackets its operands as a product would."""

    text = latex = numpy = None
    helper = None
    fresh = False    # its numpy helper returns a new array (a statement may update it in place)
    infix = False   # written between its operands (K ⋆ x): binds like a product
    reduces = False  # a sum (Σ_positions): brackets its operand as Σ_rows does, a sum apart

    def __new__(cls, *args):
        return sp.MatrixExpr.__new__(cls, *args)


class Next(_ShapedLikeItsArgument):
    """expr at step t+1: how a recurrent node's δ reaches back from the next time step."""


class Stack(sp.MatrixExpr):
    """[a; b; …]: the operands one above the other (they share their columns)."""

    @property
    def shape(self):
        return (sp.Add(*(a.shape[0] for a in self.args)), self.args[0].shape[1])

    def _entry(self, i, j, **kwargs):
        for block in self.args:
            if i < block.shape[0]:
                return block[i, j]
            i -= block.shape[0]
        raise IndexError(i)


class Rows(sp.MatrixExpr):
    """z[start:stop]: a block of rows."""

    def __new__(cls, arg, start, stop):
        return super().__new__(cls, arg, start, stop)  # sympy expressions of dimensions

    arg, start, stop = (property(lambda self, k=k: self.args[k]) for k in range(3))

    @property
    def shape(self):
        return (self.stop - self.start, self.arg.shape[1])

    def _entry(self, i, j, **kwargs):
        return self.arg[self.start + i, j]


class Place(sp.MatrixExpr):
    """δ of a row block put back where the block was taken from, zeros elsewhere."""

    def __new__(cls, arg, start, rows):
        return super().__new__(cls, arg, start, rows)

    arg, start, rows = (property(lambda self, k=k: self.args[k]) for k in range(3))

    @property
    def shape(self):
        return (self.rows, self.arg.shape[1])

    def _entry(self, i, j, **kwargs):
        inside = self.start <= i < self.start + self.arg.shape[0]
        return self.arg[i - self.start, j] if inside else sp.Integer(0)
