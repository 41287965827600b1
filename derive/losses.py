"""Loss nodes: the scalar E where the backward pass starts (δE = 1)."""

from .errors import GraphError
from .rules import Kind

REDUCTIONS = ("sum", "mean")


def _loss(kind, prediction, target, reduce):
    if reduce not in REDUCTIONS:
        raise ValueError(f"{kind.value}: reduce must be one of {REDUCTIONS}, got {reduce!r}")
    if target.graph is not prediction.graph:
        raise GraphError(f"{kind.value}({prediction}, {target}): the nodes belong to "
                         "different graphs")
    return prediction.graph._op(kind, prediction, target, reduce=reduce)


def squared_error(out, label, reduce="sum"):
    """E = ½ Σ (out − label)² over all entries; reduce="mean" divides by the batch size N."""
    return _loss(Kind.SQUARED_ERROR, out, label, reduce)


def softmax_cross_entropy(z, t, reduce="sum"):
    """E = −Σ t ⊙ log softmax(z), softmax over each column; δz = softmax(z) − t.

    The columns of t are target distributions (one-hot labels, say): each sums to 1.
    """
    return _loss(Kind.SOFTMAX_CROSS_ENTROPY, z, t, reduce)
