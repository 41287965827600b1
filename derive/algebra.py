"""Matrix expressions the rules need beyond sympy's own: broadcasting, sums, softmax.

Broadcasting is written with ones so that every expression stays exact algebra:
a bias b (H×1) added across N columns is b·1ᵀ, and the δ it gets back is δz·1 (a row sum).
"""

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


class _Columnwise(_ShapedLikeItsArgument):
    """A function of each column of its argument, shaped like it."""

    def _column_logsumexp(self, j):
        rows = self.arg.shape[0]
        return sp.log(sum(sp.exp(self.arg[k, j]) for k in range(rows)))


class Softmax(_Columnwise):
    """softmax of each column: y_kj = exp(z_kj) / Σ_k' exp(z_k'j)."""

    def _entry(self, i, j, **kwargs):
        return sp.exp(self.arg[i, j] - self._column_logsumexp(j))


class LogSoftmax(_Columnwise):
    """log softmax of each column: z_kj − log Σ_k' exp(z_k'j)."""

    def _entry(self, i, j, **kwargs):
        return self.arg[i, j] - self._column_logsumexp(j)


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
