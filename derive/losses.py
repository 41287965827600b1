"""Losses: the scalar E where the backward pass starts (δE = 1).

A loss's second argument is an activation like any other: when it depends on parameters it
gets its δ too (δlabel = −(out − label); for cross-entropy δt = −log softmax(z)).
"""

import numpy as np
import sympy as sp

from .algebra import ONES, Helper, ones, scale_by, sum_all
from .functions import apply, sigmoid, softplus
from .registry import Rule, Signature, register
from .rules import scalar_loss
from .softmax import LogSoftmax, Softmax, log_softmax_numbers, softmax_columns

REDUCTIONS = ("sum", "mean")
_REDUCE = {"reduce": REDUCTIONS}


def _mean(node, expr, batch):
    return expr / batch if node.attrs["reduce"] == "mean" else expr


@register("squared_error", Rule.LOSS, scalar_loss,
          lambda node, out, label: _mean(
              node, sp.Rational(1, 2) * sum_all(sp.HadamardPower(out - label, 2)), out.shape[1]),
          signature=Signature(2, options=_REDUCE, names=("out", "label")),
          predict=lambda node, out: out,
          reference=lambda xp, at, node, out, label: _mean_of(
              node, 0.5 * xp.sum((out - label) ** 2), out))
def squared_error(node, delta, y, out, label):
    """E = ½ Σ (out − label)²:  δout = out − label,  δlabel = −(out − label) (÷ N for the mean)."""
    error = scale_by(delta, _mean(node, out - label, out.shape[1]))
    return error, -error


def _mean_of(node, total, example):
    return total / example.shape[-1] if node.attrs["reduce"] == "mean" else total


def one_hot(rng, shape):
    """Targets drawn as one-hot columns (the last two axes are rows × columns)."""
    *lead, rows, cols = shape
    hot = rng.integers(rows, size=(*lead, cols))
    return np.moveaxis(np.eye(rows)[hot], -1, -2)


DISTRIBUTIONS = Helper(
    "distributions", "Targets of softmax_cross_entropy: columns that each sum to 1 (within "
    "1e-6 a row). The sum of the squared errors bounds each one, so the largest is sought "
    "only when that sum is too big.",
    ("off = ones_column(t.shape[-2], t.dtype).T @ t",
     "off -= 1.0",
     "tol = 1e-6 * t.shape[-2]",
     "if not (np.vdot(off, off) <= tol * tol or np.abs(off).max() <= tol):  # (NaN fails)",
     '    raise ValueError(f"input {name!r}: softmax_cross_entropy needs target columns that "',
     '                     "each sum to 1 (distributions, such as one-hot columns)")',
     "t"), args="name, t", needs=(ONES,))


PROBABILITIES = Helper(
    "probabilities", "Targets of binary_cross_entropy: each in [0, 1], a label 0 or 1 or a "
    "probability. Σ softplus(z) − t z is a loss for any t, but outside [0, 1] not a "
    "cross-entropy, and its minimum not the targets'.",
    ("if not (np.min(t) >= 0.0 and np.max(t) <= 1.0):  # (NaN fails)",
     '    raise ValueError(f"input {name!r}: binary_cross_entropy needs targets in [0, 1] "',
     '                     "(labels 0 and 1, or probabilities)")',
     "t"), args="name, t")


def _given_distributions(node):
    """Whether the targets are an input, whose columns forward checks to sum to 1."""
    return node.inputs[1].kind == "input"


def _classes(node, z, t):
    """A loss over z's rows as classes, two or more (the softmax of one row is 1: E = 0)."""
    softmax_columns(node, z)
    return scalar_loss(node, z, t)


@register("softmax_cross_entropy", Rule.LOSS, _classes,
          lambda node, z, t: _mean(
              node, -sum_all(sp.hadamard_product(t, LogSoftmax(z))), z.shape[1]),
          signature=Signature(2, options=_REDUCE, names=("z", "t")), samples={1: one_hot},
          checks={1: DISTRIBUTIONS}, predict=lambda node, z: Softmax(z),
          reference=lambda xp, at, node, z, t: _mean_of(
              node, -xp.sum(t * log_softmax_numbers(xp, z)), z))
def softmax_cross_entropy(node, delta, y, z, t):
    """E = −Σ t ⊙ log softmax(z):  δz = softmax(z) ⊙ 1(1ᵀt) − t, which is softmax(z) − t for
    targets known to be distributions;  δt = −log softmax(z) (÷ N for the mean)."""
    probabilities = Softmax(z)
    if not _given_distributions(node):
        rows = z.shape[0]
        probabilities = sp.hadamard_product(probabilities, ones(rows, rows) * t)
    return (scale_by(delta, _mean(node, probabilities - t, z.shape[1])),
            scale_by(delta, _mean(node, -LogSoftmax(z), z.shape[1])))


def _uniform(rng, shape):
    """Targets of binary cross-entropy: probabilities in [0, 1]."""
    return rng.uniform(size=shape)


one_hot.serves = (_uniform,)  # one-hot columns lie in [0, 1]: binary targets too


@register("binary_cross_entropy", Rule.LOSS, scalar_loss,
          lambda node, z, t: _mean(
              node, sum_all(apply(softplus.scalar, z) - sp.hadamard_product(t, z)), z.shape[1]),
          signature=Signature(2, options=_REDUCE, names=("z", "t")), samples={1: _uniform},
          checks={1: PROBABILITIES}, predict=lambda node, z: apply(sigmoid.scalar, z),
          reference=lambda xp, at, node, z, t: _mean_of(
              node, xp.sum(xp.logaddexp(0.0, z) - t * z), z))
def binary_cross_entropy(node, delta, y, z, t):
    """E = −Σ [t log σ(z) + (1 − t) log(1 − σ(z))] = Σ softplus(z) − t z, on logits z:
    δz = σ(z) − t,  δt = −z (÷ N for the mean)."""
    return (scale_by(delta, _mean(node, apply(sigmoid.scalar, z) - t, z.shape[1])),
            scale_by(delta, _mean(node, -z, z.shape[1])))
