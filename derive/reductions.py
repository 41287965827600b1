"""Sums and means over an axis (rule 2, adding): each entry of x is added into one entry of y,
so its δ is that entry's δ, broadcast back over the axis (÷ the count for a mean).

axis=0 sums down each column (1×cols), axis=1 across each row (rows×1), None everything
(1×1), as numpy's sum with keepdims.
"""

import sympy as sp

from .algebra import broadcast, ones
from .registry import Rule, Signature, register

AXES = (None, 0, 1)


def _shape(node, shape):
    rows, cols = shape
    return {None: (sp.Integer(1), sp.Integer(1)), 0: (sp.Integer(1), cols),
            1: (rows, sp.Integer(1))}[node.attrs["axis"]]


def _count(node, shape):
    """How many entries each entry of the result adds up."""
    rows, cols = shape
    return {None: rows * cols, 0: rows, 1: cols}[node.attrs["axis"]]


def _summed(node, x):
    rows, cols = x.shape
    axis = node.attrs["axis"]
    if axis in (None, 0):
        x = ones(1, rows) * x
    if axis in (None, 1):
        x = x * ones(cols, 1)
    return x


def _numbers(xp, node, x):
    return xp.sum(x, axis=node.attrs["axis"], keepdims=True)


@register("sum", Rule.ADDING, _shape, _summed, signature=Signature(1, options={"axis": AXES}),
          reference=lambda xp, at, node, x: _numbers(xp, node, x))
def summing(node, delta, y, x):
    """y = Σ x over an axis:  δx = δy, broadcast back over that axis."""
    return (broadcast(delta, x.shape),)


@register("mean", Rule.ADDING, _shape, lambda node, x: _summed(node, x) / _count(node, x.shape),
          signature=Signature(1, options={"axis": AXES}),
          reference=lambda xp, at, node, x: _numbers(xp, node, x) / (
              x.size if node.attrs["axis"] is None else x.shape[node.attrs["axis"]]))
def averaging(node, delta, y, x):
    """y = mean of x over an axis:  δx = δy / count, broadcast back over that axis."""
    return (broadcast(delta, x.shape) / _count(node, x.shape),)
