"""Built-in example networks, each a function returning its Graph."""

from . import functions as f
from .graph import Graph
from .losses import softmax_cross_entropy, squared_error


def mlp():
    """The seed network: one sigmoid hidden layer, sigmoid outputs, squared error."""
    g = Graph("mlp")
    x, label = g.input("x", ("D", "N")), g.input("label", ("K", "N"))
    W1, b1 = g.param("W1", ("H", "D")), g.param("b1", ("H", 1))
    W2, b2 = g.param("W2", ("K", "H")), g.param("b2", ("K", 1))
    z1 = (W1 @ x + b1).named("z1")
    h = f.sigmoid(z1).named("h")
    z2 = (W2 @ h + b2).named("z2")
    out = f.sigmoid(z2).named("out")
    g.loss(squared_error(out, label).named("E"))
    return g


def softmax_classifier():
    """A tanh hidden layer and a softmax output trained with cross-entropy (δz = y − t)."""
    g = Graph("softmax_classifier")
    x, t = g.input("x", ("D", "N")), g.input("t", ("K", "N"))
    W1, b1 = g.param("W1", ("H", "D")), g.param("b1", ("H", 1))
    W2, b2 = g.param("W2", ("K", "H")), g.param("b2", ("K", 1))
    h = f.tanh((W1 @ x + b1).named("z1")).named("h")
    z2 = (W2 @ h + b2).named("z2")
    g.loss(softmax_cross_entropy(z2, t).named("E"))
    return g


def deep_mlp(depth=4, activation=f.relu):
    """`depth` hidden layers of width H with biases, a linear output, squared error."""
    g = Graph("deep_mlp")
    x, label = g.input("x", ("D", "N")), g.input("label", ("K", "N"))
    h, rows = x, "D"
    for layer in range(1, depth + 1):
        W = g.param(f"W{layer}", ("H", rows))
        b = g.param(f"b{layer}", ("H", 1))
        h = activation((W @ h + b).named(f"z{layer}")).named(f"h{layer}")
        rows = "H"
    W, b = g.param(f"W{depth + 1}", ("K", "H")), g.param(f"b{depth + 1}", ("K", 1))
    out = (W @ h + b).named("out")
    g.loss(squared_error(out, label).named("E"))
    return g


BUILTIN = {
    "mlp": mlp,
    "softmax-classifier": softmax_classifier,
    "deep-mlp": deep_mlp,
}

# Sizes that make each example small enough to check by finite differences.
EXAMPLE_DIMS = {"D": 3, "H": 4, "K": 2, "N": 5}
