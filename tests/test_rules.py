"""One row per registered operation: a tiny graph, its math in autograd.numpy, and the
generated gradients checked against central differences and autograd on the same numbers."""

import autograd.numpy as anp
import pytest
import sympy as sp

import derive as d
from derive.registry import OPS
from helpers import check_grads, sigmoid, softmax_cross_entropy, squared_error


def softplus(z):
    return anp.logaddexp(0.0, z)


phi = d.elementwise("phi", lambda u: u**3 / 3 + sp.sin(u))
(K,) = d.dims("K")

# (id, the loss as a graph of operands o, the same loss in autograd.numpy over operands o)
ROWS = [
    ("matmul", lambda o, t: d.squared_error(o.a, t),
     lambda o, t: squared_error(o.a, t)),
    ("add", lambda o, t: d.squared_error(o.a + o.b, t),
     lambda o, t: squared_error(o.a + o.b, t)),
    ("subtract", lambda o, t: d.squared_error(o.a - o.b, t),
     lambda o, t: squared_error(o.a - o.b, t)),
    ("bias column", lambda o, t: d.squared_error(o.a + o.c, t),
     lambda o, t: squared_error(o.a + o.c, t)),
    ("bias row", lambda o, t: d.squared_error(o.a + o.r, t),
     lambda o, t: squared_error(o.a + o.r, t)),
    ("bias scalar", lambda o, t: d.squared_error(o.s + o.a, t),
     lambda o, t: squared_error(o.s + o.a, t)),
    ("constant minus", lambda o, t: d.squared_error(1 - o.a, t),
     lambda o, t: squared_error(1 - o.a, t)),
    ("plus constant", lambda o, t: d.squared_error(o.a + 2.5, t),
     lambda o, t: squared_error(o.a + 2.5, t)),
    ("hadamard", lambda o, t: d.squared_error(o.a * o.b, t),
     lambda o, t: squared_error(o.a * o.b, t)),
    ("hadamard broadcast", lambda o, t: d.squared_error(o.c * o.a, t),
     lambda o, t: squared_error(o.c * o.a, t)),
    ("scale", lambda o, t: d.squared_error(3 * o.a - o.b / 4, t),
     lambda o, t: squared_error(3 * o.a - o.b / 4, t)),
    ("negate", lambda o, t: d.squared_error(-o.a, t),
     lambda o, t: squared_error(-o.a, t)),
    ("sigmoid", lambda o, t: d.squared_error(d.sigmoid(o.a), t),
     lambda o, t: squared_error(sigmoid(o.a), t)),
    ("tanh", lambda o, t: d.squared_error(d.tanh(o.a), t),
     lambda o, t: squared_error(anp.tanh(o.a), t)),
    ("relu", lambda o, t: d.squared_error(d.relu(o.a), t),
     lambda o, t: squared_error(anp.maximum(o.a, 0.0), t)),
    ("softplus", lambda o, t: d.squared_error(d.softplus(o.a), t),
     lambda o, t: squared_error(softplus(o.a), t)),
    ("exp", lambda o, t: d.squared_error(d.exp(o.a), t),
     lambda o, t: squared_error(anp.exp(o.a), t)),
    ("log", lambda o, t: d.squared_error(d.log(d.softplus(o.a)), t),
     lambda o, t: squared_error(anp.log(softplus(o.a)), t)),
    ("identity", lambda o, t: d.squared_error(d.identity(o.a), t),
     lambda o, t: squared_error(o.a, t)),
    ("scaled tanh", lambda o, t: d.squared_error(d.scaled_tanh(o.a, 1.7159, 2 / 3), t),
     lambda o, t: squared_error(1.7159 * anp.tanh(2 / 3 * o.a), t)),
    ("user function", lambda o, t: d.squared_error(phi(o.a), t),
     lambda o, t: squared_error(o.a**3 / 3 + anp.sin(o.a), t)),
    ("stack and slice", lambda o, t: d.squared_error(
        d.concat(o.a, o.b)[K:2 * K] * d.concat(o.a, o.b)[0:K] + d.split(d.concat(o.b, o.a), 2)[0], t),
     lambda o, t: squared_error(o.b * o.a + o.b, t)),
    ("squared error mean", lambda o, t: d.squared_error(o.a, t, reduce="mean"),
     lambda o, t: squared_error(o.a, t) / t.shape[1]),
    ("softmax cross-entropy", lambda o, t: d.softmax_cross_entropy(o.a, t),
     lambda o, t: softmax_cross_entropy(o.a, t)),
    ("softmax cross-entropy mean", lambda o, t: d.softmax_cross_entropy(o.a, t, reduce="mean"),
     lambda o, t: softmax_cross_entropy(o.a, t) / t.shape[1]),
]



SHAPES = {"W": ("K", "D"), "V": ("K", "D"), "c": ("K", 1), "r": (1, "N"), "s": (1, 1)}


class Operands:
    """a = W x and b = V x, and parameters c (K×1), r (1×N), s (1×1), made when first used,
    either as graph nodes (`graph` given) or as the arrays in `params` (and `x`)."""

    def __init__(self, graph=None, params=None, x=None):
        self.graph, self.params, self.x = graph, params, x

    def _param(self, name):
        if self.graph is None:
            return self.params[name]
        if name not in self.graph.by_name:
            self.graph.param(name, SHAPES[name])
        return self.graph[name]

    a = property(lambda self: self._param("W") @ self._x)
    b = property(lambda self: self._param("V") @ self._x)
    c = property(lambda self: self._param("c"))
    r = property(lambda self: self._param("r"))
    s = property(lambda self: self._param("s"))
    _x = property(lambda self: self.graph["x"] if self.graph is not None else self.x)


def row_graph(body):
    g = d.Graph("row")
    t = g.input("t", ("K", "N"))
    g.input("x", ("D", "N"))
    g.loss(body(Operands(graph=g), t))
    return g


def row_reference(math):
    return lambda p, inputs: math(Operands(params=p, x=inputs["x"]), inputs["t"])


@pytest.mark.parametrize("name, body, math", ROWS, ids=[row[0] for row in ROWS])
def test_rule(name, body, math):
    check_grads(row_graph(body), row_reference(math))


def test_every_registered_operation_has_a_row():
    kinds = {n.kind for _, body, _ in ROWS for n in row_graph(body).nodes}
    assert set(OPS) <= kinds
