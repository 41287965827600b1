"""The larger and the smaller of two activations, entry by entry: rule 4 (function
application) of a function of two arguments, whose slope is 1 for the one chosen and 0 for
the other. At a tie the δ goes to the second argument (so maximum(z, 0) has relu's slope, 0,
at z = 0); the tie is a kink, which gradcheck steps around. A number may stand for either
argument: max(z, c) is then a function of z alone, rule 4 of one argument.
"""

import sympy as sp

from .algebra import Spelled, broadcast, ones, unbroadcast
from .functions import (U, Function, apply, code_number, latex_number, step, step_or_tie,
                        text_number)
from .graph import Node, number
from .registry import KINK_ARGUMENTS, Builder, Rule, Signature, add, make, register
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


@register("maximum", Rule.FUNCTION_APPLICATION, broadcast_shape, _both(Maximum), kinks=_tie,
          reference=lambda xp, at, node, a, b: xp.maximum(a, b))
def _maximum(node, delta, y, a, b):
    """y = max(a, b):  δa = δy ⊙ 1[a > b],  δb = δy ⊙ (1 − 1[a > b])."""
    return _chosen(node, delta, lambda a, b: a - b, a, b)


@register("minimum", Rule.FUNCTION_APPLICATION, broadcast_shape, _both(Minimum), kinks=_tie,
          reference=lambda xp, at, node, a, b: xp.minimum(a, b))
def _minimum(node, delta, y, a, b):
    """y = min(a, b):  δa = δy ⊙ 1[a < b],  δb = δy ⊙ (1 − 1[a < b])."""
    return _chosen(node, delta, lambda a, b: b - a, a, b)


def _extremum(name, cls, pick, wins):
    """What `name`(a, b) calls: the two-node operation, or, given a number c for one argument,
    the function u ↦ pick(u, c) of the other (rule 4), whose slope is 1 where u wins
    (`wins`(u, c) > 0) and, at a tie, where u is the second argument, as between nodes."""
    def build(a, b):
        if isinstance(a, Node) and isinstance(b, Node):
            return make(name, (a, b))
        second = isinstance(b, Node)
        node, c = (b, number(a, name)) if second else (a, number(b, name))
        shown = {"text": text_number(c), "latex": latex_number(c), "numpy": code_number(c)}
        form = {target: getattr(cls, target) for target in shown}  # "max({0}, {1})"
        spelled = {target: form[target].format(*((c_, "{0}") if second else ("{0}", c_)))
                   for target, c_ in shown.items()}
        # u second wins ties too, 1[wins ≥ 0] (a named function: sympy would evaluate a plain
        # Heaviside on a 1×1 matrix). Its slope is then 1 at the end of its flat side
        # (max(c, u) at u = c), so a tie it makes between u = c and u < c takes δ at the
        # first of them, which pooling first would send to the larger u: not pooled first
        slope = (lambda u: step_or_tie.scalar(wins(u, c))) if second else \
            (lambda u: step.scalar(wins(u, c)))
        f = Function(name, lambda u: pick(c, u) if second else pick(u, c), derivative=slope,
                     kinks=(U - c,), nondecreasing=not second,
                     reference=lambda xp, u: getattr(xp, name)(u, float(c)), **spelled)
        return f(node)
    return add(Builder(name, build, Signature(2, constants=True)), callable_name=name)


maximum = _extremum("maximum", Maximum, sp.Max, lambda u, c: u - c)
minimum = _extremum("minimum", Minimum, sp.Min, lambda u, c: c - u)
