"""Every operation's forward meaning and its backward rule, registered together.

Contract of a rule: `backward(node, delta, y, *xs)` receives the node, its δ (a matrix symbol
shaped like the node), the symbol y of its own output and the symbols xs of its inputs, and
returns one term per input: that input's share of ∂E/∂input through this node, or None where no
δ flows (a label). The walker in `derivation` adds the terms an input gets from all the places
it feeds: that sum is rule 1, and it lives only there.

`shape(node, *input_shapes)` checks operands and gives the output shape; `forward(node, *xs)`
is the node's value as a sympy matrix expression of its inputs.
"""

import functools
import operator
from dataclasses import dataclass
from enum import Enum
from typing import Callable

import sympy as sp

from .algebra import (LogSoftmax, Place, Rows, Softmax, Stack, broadcast, ones, scale_by,
                      sum_all, unbroadcast)
from .errors import ShapeError
from .functions import apply


class Rule(Enum):
    """The five graphical rules, plus the loss, which starts the backward pass."""

    SPLITTING = 1
    ADDING = 2
    ELEMENTWISE_MULTIPLICATION = 3
    FUNCTION_APPLICATION = 4
    WEIGHT_MATRIX = 5
    LOSS = 0

    def __str__(self):
        words = self.name.lower().replace("_", " ")
        return words if self is Rule.LOSS else f"rule {self.value} ({words})"


class Kind(Enum):
    INPUT = "input"
    PARAM = "param"
    STATE = "state"  # the previous step's value of a recurrent node: h_{t−1}
    MATMUL = "matmul"
    ADD = "add"
    HADAMARD = "hadamard"
    SCALE = "scale"
    APPLY = "apply"
    CONCAT = "concat"
    SLICE = "slice"
    SQUARED_ERROR = "squared_error"
    SOFTMAX_CROSS_ENTROPY = "softmax_cross_entropy"


@dataclass(frozen=True)
class Op:
    kind: Kind
    rule: Rule
    shape: Callable
    forward: Callable
    backward: Callable


RULES: dict[Kind, Op] = {}


def register(kind, rule, shape, forward):
    def decorate(backward):
        RULES[kind] = Op(kind, rule, shape, forward, backward)
        return backward
    return decorate


def rule_for(node):
    try:
        return RULES[node.kind]
    except KeyError:
        raise NotImplementedError(f"no rule registered for {node.kind} (node {node})") from None


def _fmt(shape):
    return "×".join(map(str, shape))


def _mismatch(node, why, *shapes):
    operands = ", ".join(f"{x} is {_fmt(s)}" for x, s in zip(node.inputs, shapes))
    return ShapeError(f"{node.describe()}: {why}: {operands}")


def same_shape(node, *shapes):
    if any(s != shapes[0] for s in shapes):
        raise _mismatch(node, "operands must have the same shape", *shapes)
    return shapes[0]


def broadcast_shape(node, *shapes):
    """Shapes combine entrywise when each axis agrees or is 1 (a bias column, a scalar)."""
    out = []
    for axis in zip(*shapes):
        sizes = {n for n in axis if n != 1}
        if len(sizes) > 1:
            raise _mismatch(node, "shapes do not broadcast", *shapes)
        out.append(sizes.pop() if sizes else sp.Integer(1))
    return tuple(out)


def matmul_shape(node, a, b):
    if a[1] != b[0]:
        raise _mismatch(node, f"inner dimensions {a[1]} and {b[0]} differ", a, b)
    return (a[0], b[1])


def one_input(node, shape):
    return shape


def scalar_loss(node, *shapes):
    same_shape(node, *shapes)
    return (sp.Integer(1), sp.Integer(1))


# --- rule 5: weight matrix ----------------------------------------------------------------

@register(Kind.MATMUL, Rule.WEIGHT_MATRIX, matmul_shape, lambda node, a, b: a * b)
def weight_matrix(node, delta, y, a, b):
    """z = W x:  δW = δz xᵀ,  δx = Wᵀ δz."""
    return delta * b.T, a.T * delta


# Stacking and slicing are rule 5 with selection matrices: [a; b] = [I; 0] a + [0; I] b, so
# δa = [I 0] δz, the rows of δz that came from a; z[r] = [0 I 0] z, so δz ← δ put back in place.

def stack_shape(node, *shapes):
    if any(s[1] != shapes[0][1] for s in shapes):
        raise _mismatch(node, "stacked operands must have the same number of columns", *shapes)
    return (sp.Add(*(s[0] for s in shapes)), shapes[0][1])


@register(Kind.CONCAT, Rule.WEIGHT_MATRIX, stack_shape, lambda node, *xs: Stack(*xs))
def unstacking(node, delta, y, *xs):
    """z = [a; b]:  δa = the rows of δz that a filled, δb = the rest."""
    terms, start = [], sp.Integer(0)
    for x in xs:
        terms.append(Rows(delta, start, start + x.shape[0]))
        start += x.shape[0]
    return tuple(terms)


def slice_shape(node, shape):
    start, stop = node.attrs["start"], node.attrs["stop"]
    if not ((stop - start).is_positive and start.is_nonnegative
            and (shape[0] - stop).is_nonnegative):
        raise ShapeError(f"{node.describe()}: rows {start}:{stop} are not inside the "
                         f"{shape[0]} rows of {node.inputs[0]}")
    return (stop - start, shape[1])


@register(Kind.SLICE, Rule.WEIGHT_MATRIX, slice_shape,
          lambda node, z: Rows(z, node.attrs["start"], node.attrs["stop"]))
def placing(node, delta, y, z):
    """y = z[r]:  δz ← δy in rows r, zeros elsewhere (slices of one z add up by rule 1)."""
    return (Place(delta, node.attrs["start"], z.shape[0]),)


# --- rule 2: adding ---------------------------------------------------------------------

def _sum(node, *xs):
    terms = [sign * broadcast(x, node.shape) for sign, x in zip(node.attrs["signs"], xs)]
    if node.attrs["constant"]:
        terms.append(node.attrs["constant"] * ones(*node.shape))
    return functools.reduce(operator.add, terms)


@register(Kind.ADD, Rule.ADDING, broadcast_shape, _sum)
def adding(node, delta, y, *xs):
    """z = x ± y:  δx = δz, δy = ±δz, summed over the axes a smaller operand was broadcast."""
    return tuple(sign * unbroadcast(delta, x.shape) for sign, x in zip(node.attrs["signs"], xs))


# --- rule 3: elementwise multiplication -------------------------------------------------

def _product(node, a, b):
    return sp.hadamard_product(broadcast(a, node.shape), broadcast(b, node.shape))


@register(Kind.HADAMARD, Rule.ELEMENTWISE_MULTIPLICATION, broadcast_shape, _product)
def elementwise_multiplication(node, delta, y, a, b):
    """z = x ⊙ y:  δx = δz ⊙ y,  δy = δz ⊙ x."""
    return (unbroadcast(sp.hadamard_product(delta, broadcast(b, node.shape)), a.shape),
            unbroadcast(sp.hadamard_product(delta, broadcast(a, node.shape)), b.shape))


@register(Kind.SCALE, Rule.ELEMENTWISE_MULTIPLICATION, one_input,
          lambda node, x: node.attrs["factor"] * x)
def scaling(node, delta, y, x):
    """z = c x:  δx = c δz."""
    return (node.attrs["factor"] * delta,)


# --- rule 4: function application -------------------------------------------------------

@register(Kind.APPLY, Rule.FUNCTION_APPLICATION, one_input,
          lambda node, x: apply(node.attrs["function"].scalar, x))
def function_application(node, delta, y, x):
    """y = f(x):  δx = δy ⊙ f′(x), with f′ written through the output y where it can be."""
    f = node.attrs["function"]
    if f.through_output is not None:
        slope = f.through_output(y, node.shape)
    else:
        slope = apply(f.derivative_at_input(), x)
    if slope == ones(*node.shape):
        return (delta,)
    return (sp.hadamard_product(delta, slope),)


# --- losses: where δ starts -------------------------------------------------------------

def _mean(node, expr, batch):
    return expr / batch if node.attrs["reduce"] == "mean" else expr


@register(Kind.SQUARED_ERROR, Rule.LOSS, scalar_loss,
          lambda node, out, label: _mean(
              node, sp.Rational(1, 2) * sum_all(sp.HadamardPower(out - label, 2)), out.shape[1]))
def squared_error_rule(node, delta, y, out, label):
    """E = ½ Σ (out − label)²:  δout = out − label (÷ N for the mean)."""
    return scale_by(delta, _mean(node, out - label, out.shape[1])), None


@register(Kind.SOFTMAX_CROSS_ENTROPY, Rule.LOSS, scalar_loss,
          lambda node, z, t: _mean(
              node, -sum_all(sp.hadamard_product(t, LogSoftmax(z))), z.shape[1]))
def softmax_cross_entropy_rule(node, delta, y, z, t):
    """E = −Σ t ⊙ log softmax(z):  δz = softmax(z) − t (÷ N for the mean)."""
    return scale_by(delta, _mean(node, Softmax(z) - t, z.shape[1])), None
