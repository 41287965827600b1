"""The larger and the smaller of two activations, entry by entry: rule 4 (function
application) of a function of two arguments, whose slope is 1 for the one chosen and 0 for
the other. At a tie the δ goes to the second argument (so maximum(z, 0) has relu's slope, 0,
at z = 0); the tie is a kink, which gradcheck steps around.
"""

import sympy as sp

from .algebra import Spelled, broadcast, ones, unbroadcast
from .functions import apply, step
from .registry import KINK_ARGUMENTS, Rule, Signature, register
from .rules import broadcast_shape


class Maximum(Spelled):
    text = "max({0}, {1})"
    latex = r"\max\left({0}, {1}\right)"
    numpy = "np.maximum({0}, {1})"

    @property
    def shape(self):
        return self.args[0].shape

    def _entry(self, i, j, **kwargs):
        return sp.Max(self.args[0][i, j], self.args[1][i, j])


class Minimum(Maximum):
    text = "min({0}, {1})"
    latex = r"\min\left({0}, {1}\right)"
    numpy = "np.minimum({0}, {1})"

    def _entry(self, i, j, **kwargs):
        return sp.Min(self.args[0][i, j], self.args[1][i, j])


def _chosen(node, delta, first, a, b):
    """δ to a where `first` (a step of a − b or b − a) is 1, to b elsewhere."""
    shape = node.shape
    a, b = broadcast(a, shape), broadcast(b, shape)
    where = apply(step.scalar, first(a, b))
    return (unbroadcast(sp.hadamard_product(delta, where), node.inputs[0].shape),
            unbroadcast(sp.hadamard_product(delta, ones(*shape) - where), node.inputs[1].shape))


def _tie(node):
    u0, u1 = KINK_ARGUMENTS[:2]
    return [((0, 1), u0 - u1)]


def _both(cls):
    return lambda node, a, b: cls(broadcast(a, node.shape), broadcast(b, node.shape))


@register("maximum", Rule.FUNCTION_APPLICATION, broadcast_shape, _both(Maximum),
          signature=Signature(2), kinks=_tie,
          reference=lambda xp, at, node, a, b: xp.maximum(a, b))
def maximum(node, delta, y, a, b):
    """y = max(a, b):  δa = δy ⊙ 1[a > b],  δb = δy ⊙ (1 − 1[a > b])."""
    return _chosen(node, delta, lambda a, b: a - b, a, b)


@register("minimum", Rule.FUNCTION_APPLICATION, broadcast_shape, _both(Minimum),
          signature=Signature(2), kinks=_tie,
          reference=lambda xp, at, node, a, b: xp.minimum(a, b))
def minimum(node, delta, y, a, b):
    """y = min(a, b):  δa = δy ⊙ 1[a < b],  δb = δy ⊙ (1 − 1[a < b])."""
    return _chosen(node, delta, lambda a, b: b - a, a, b)
