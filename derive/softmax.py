"""Softmax and log-softmax of each column, usable anywhere in a graph: rule 4 (function
application) in its vector form, since each output depends on its whole column.

  y = softmax(z):      δz = y ⊙ (δy − 1(1ᵀ(δy ⊙ y)))
  y = log_softmax(z):  δz = δy − exp(y) ⊙ 1(1ᵀδy)     (exp(y) is softmax(z))
"""

import sympy as sp

from .algebra import SUM_ROWS, Helper, Spelled, ones
from .errors import ShapeError
from .functions import apply
from .registry import Rule, Signature, register


def _column_logsumexp(z, j):
    return sp.log(sum(sp.exp(z[k, j]) for k in range(z.shape[0])))


class LogSoftmax(Spelled):
    """log softmax of each column: z_kj − log Σ_k' exp(z_k'j)."""

    text = "log_softmax({0})"
    latex = r"\log\operatorname{{softmax}}\left({0}\right)"
    numpy = "log_softmax({0})"
    helper = Helper("log_softmax", "log softmax of each column, shifted by the column maximum "
                    "so exp cannot overflow.",
                    ("shifted = u - u.max(axis=0, keepdims=True)",
                     "shifted -= np.log(sum_rows(np.exp(shifted)))",
                     "shifted"), needs=(SUM_ROWS,))

    def _entry(self, i, j, **kwargs):
        return self.args[0][i, j] - _column_logsumexp(self.args[0], j)


class Softmax(Spelled):
    """softmax of each column: y_kj = exp(z_kj) / Σ_k' exp(z_k'j)."""

    text = "softmax({0})"
    latex = r"\operatorname{{softmax}}\left({0}\right)"
    numpy = "softmax({0})"
    helper = Helper("softmax", "softmax of each column, shifted by the column maximum so exp "
                    "cannot overflow: one exp, one division, in one array.",
                    ("e = u - u.max(axis=0, keepdims=True)",
                     "np.exp(e, out=e)",
                     "e /= sum_rows(e)",
                     "e"), needs=(SUM_ROWS,))

    def _entry(self, i, j, **kwargs):
        return sp.exp(self.args[0][i, j] - _column_logsumexp(self.args[0], j))


def log_softmax_numbers(xp, z):
    shifted = z - xp.max(z, axis=0, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=0, keepdims=True))


def softmax_columns(node, shape):
    """A softmax's shape, its operand's: two rows or more (checked in numbers when the rows
    are a dimension)."""
    why = (f"{node.inputs[0]} has 1 row, so its softmax is identically 1 (softmax normalises "
           "each column over its rows)")
    if shape[0] == 1:
        raise ShapeError(f"{node.describe()}: {why}")
    node.attrs["two_rows"] = (shape[0], why)  # a size that is a dimension: checked in numbers
    return shape


@register("softmax", Rule.FUNCTION_APPLICATION, softmax_columns, lambda node, z: Softmax(z),
          signature=Signature(1),
          reference=lambda xp, at, node, z: xp.exp(log_softmax_numbers(xp, z)))
def softmax(node, delta, y, z):
    """y = softmax(z):  δz = y ⊙ (δy − 1(1ᵀ(δy ⊙ y))), per column."""
    rows = z.shape[0]
    return (sp.hadamard_product(y, delta - ones(rows, rows) * sp.hadamard_product(delta, y)),)


@register("log_softmax", Rule.FUNCTION_APPLICATION, softmax_columns, lambda node, z: LogSoftmax(z),
          signature=Signature(1),
          reference=lambda xp, at, node, z: log_softmax_numbers(xp, z))
def log_softmax(node, delta, y, z):
    """y = log softmax(z):  δz = δy − exp(y) ⊙ 1(1ᵀδy), per column."""
    rows = z.shape[0]
    return (delta - sp.hadamard_product(apply(sp.exp, y), ones(rows, rows) * delta),)
