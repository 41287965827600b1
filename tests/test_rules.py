"""One row per registered operation: a tiny graph, its math in autograd.numpy, and the
generated gradients checked against central differences and autograd on the same numbers."""

import autograd.numpy as anp
import numpy as np
import pytest
import sympy as sp

import derive as d
from derive.registry import OPS
from helpers import check_grads, sigmoid, softmax_cross_entropy, squared_error


def softplus(z):
    return anp.logaddexp(0.0, z)


def log_softmax(z):
    shifted = z - anp.max(z, axis=0, keepdims=True)
    return shifted - anp.log(anp.sum(anp.exp(shifted), axis=0, keepdims=True))


def layer_norm(z, eps):
    centred = z - anp.mean(z, axis=0, keepdims=True)
    return centred / anp.sqrt(anp.mean(centred ** 2, axis=0, keepdims=True) + eps)


def convolved(a, f):
    """f (1×3) slid along each column of a, one zero beyond either end."""
    zero = anp.zeros((1, a.shape[1]))
    padded = anp.concatenate([zero, a, zero])
    return anp.stack([f[0, 0] * padded[r] + f[0, 1] * padded[r + 1] + f[0, 2] * padded[r + 2]
                      for r in range(a.shape[0])])


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
    ("rows from K − 1", lambda o, t: d.squared_error(  # overlapping blocks, a bound 0 at K = 1
        d.concat(o.a, o.b)[K - 1:2 * K - 1] * d.concat(o.a, o.b)[0:K], t),
     lambda o, t: squared_error(anp.concatenate([o.a, o.b])[len(o.a) - 1:2 * len(o.a) - 1] * o.a,
                                t)),
    ("transpose", lambda o, t: d.squared_error(o.b @ (o.a.T @ o.b).T, t),
     lambda o, t: squared_error(o.b @ (o.a.T @ o.b).T, t)),
    ("divide", lambda o, t: d.squared_error(o.a / d.exp(o.b) + 2 / d.exp(o.a) - o.a / 4, t),
     lambda o, t: squared_error(o.a / anp.exp(o.b) + 2 / anp.exp(o.a) - o.a / 4, t)),
    ("power", lambda o, t: d.squared_error(o.a ** 3 + d.exp(o.b) ** 0.5 - d.exp(o.a) ** -2, t),
     lambda o, t: squared_error(o.a ** 3 + anp.exp(o.b) ** 0.5 - anp.exp(o.a) ** -2, t)),
    ("sqrt", lambda o, t: d.squared_error(d.sqrt(d.exp(o.a)), t),
     lambda o, t: squared_error(anp.sqrt(anp.exp(o.a)), t)),
    ("abs", lambda o, t: d.squared_error(d.abs(o.a), t),
     lambda o, t: squared_error(anp.abs(o.a), t)),
    ("maximum and minimum", lambda o, t: d.squared_error(
        d.maximum(o.a, o.b) + d.minimum(o.a, o.c) + d.maximum(o.a, o.s), t),
     lambda o, t: squared_error(anp.maximum(o.a, o.b) + anp.minimum(o.a, o.c)
                                + anp.maximum(o.a, o.s), t)),
    ("maximum and minimum with a number", lambda o, t: d.squared_error(
        d.maximum(o.a, 0) + d.minimum(0.5, o.b) + d.maximum(-1, o.c) + d.minimum(o.a, 2), t),
     lambda o, t: squared_error(anp.maximum(o.a, 0.0) + anp.minimum(0.5, o.b)
                                + anp.maximum(-1.0, o.c) + anp.minimum(o.a, 2.0), t)),
    ("sum and mean", lambda o, t: d.squared_error(
        d.sum(o.a, axis=0) + d.mean(o.a, axis=1) + d.sum(o.a * o.b) - d.mean(o.b), t),
     lambda o, t: squared_error(
         anp.sum(o.a, axis=0, keepdims=True) + anp.mean(o.a, axis=1, keepdims=True)
         + anp.sum(o.a * o.b) - anp.mean(o.b), t)),
    ("layer norm", lambda o, t: d.squared_error(o.c * d.layer_norm(o.a, eps=0.1) + o.b, t),
     lambda o, t: squared_error(o.c * layer_norm(o.a, 0.1) + o.b, t)),
    ("scale by a constant of a dimension", lambda o, t: d.squared_error(o.a / sp.sqrt(K), t),
     lambda o, t: squared_error(o.a / anp.sqrt(t.shape[0]), t)),
    ("conv1d with a bias", lambda o, t: d.squared_error(
        d.conv1d(o.a, o.f, signal=(1, K), kernel=3, padding=1, bias=o.s), t),
     lambda o, t: squared_error(convolved(o.a, o.f) + o.s, t)),
    ("conv2d", lambda o, t: d.squared_error(
        d.conv2d(o.a, o.f, image=(1, 1, K), kernel=(1, 3), padding=(0, 1)), t),
     lambda o, t: squared_error(convolved(o.a, o.f), t)),
    ("max and average pooling", lambda o, t: d.squared_error(o.a * d.sum(
        d.max_pool2d(o.b, image=(1, 1, K), size=(1, 2), stride=1)
        + d.avg_pool2d(o.b, image=(1, 1, K), size=(1, 2), stride=1), axis=0), t),
     lambda o, t: squared_error(o.a * sum(
         anp.maximum(o.b[r], o.b[r + 1]) + (o.b[r] + o.b[r + 1]) / 2
         for r in range(o.b.shape[0] - 1)), t)),
    ("softmax", lambda o, t: d.squared_error(d.softmax(o.a) * o.b, t),
     lambda o, t: squared_error(anp.exp(log_softmax(o.a)) * o.b, t)),
    ("log softmax", lambda o, t: d.squared_error(d.log_softmax(o.a) * o.b, t),
     lambda o, t: squared_error(log_softmax(o.a) * o.b, t)),
    ("binary cross-entropy", lambda o, t: d.binary_cross_entropy(o.a, t),
     lambda o, t: anp.sum(softplus(o.a) - t * o.a)),
    ("binary cross-entropy mean onto an activation", lambda o, t: d.binary_cross_entropy(
        o.a, d.sigmoid(o.b), reduce="mean") + d.squared_error(o.b, t),
     lambda o, t: anp.sum(softplus(o.a) - sigmoid(o.b) * o.a) / t.shape[1]
     + squared_error(o.b, t)),
    ("loss plus a penalty", lambda o, t: d.squared_error(o.a, t) + 1e-3 * d.sum(o.b * o.b),
     lambda o, t: squared_error(o.a, t) + 1e-3 * anp.sum(o.b * o.b)),
    ("squared error mean", lambda o, t: d.squared_error(o.a, t, reduce="mean"),
     lambda o, t: squared_error(o.a, t) / t.shape[1]),
    ("softmax cross-entropy", lambda o, t: d.softmax_cross_entropy(o.a, t),
     lambda o, t: softmax_cross_entropy(o.a, t)),
    ("softmax cross-entropy mean", lambda o, t: d.softmax_cross_entropy(o.a, t, reduce="mean"),
     lambda o, t: softmax_cross_entropy(o.a, t) / t.shape[1]),
]



SHAPES = {"W": ("K", "D"), "V": ("K", "D"), "c": ("K", 1), "r": (1, "N"), "s": (1, 1),
          "F": (1, 3)}


class Operands:
    """a = W x and b = V x, and parameters c (K×1), r (1×N), s (1×1), f (1×3), made when first used,
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
    f = property(lambda self: self._param("F"))  # a 1×3 kernel
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


@pytest.mark.parametrize("extremum, first, slope", [
    ("maximum", "node", 0), ("maximum", "number", 1), ("minimum", "node", 0),
    ("minimum", "number", 1)])
def test_at_a_tie_with_a_number_the_delta_goes_to_the_second_argument(extremum, first, slope):
    """max(z, c) at z = c gives z none of δ (relu′(0) = 0 for max(z, 0)); max(c, z) all."""
    g = d.Graph("tie")
    x, t = g.input("x", ("K", "N")), g.input("t", ("K", "N"))
    z = g.param("W", ("K", "K")) @ x
    f = getattr(d, extremum)
    g.loss(d.squared_error(f(z, 0.5) if first == "node" else f(0.5, z), t))
    module = d.compile_numpy(d.derive(g))
    W, x_, t_ = np.eye(2), np.full((2, 2), 0.5), np.zeros((2, 2))  # z = x = c: all ties
    _, cache = module.forward({"W": W}, {"x": x_, "t": t_})
    delta_z = slope * (x_ - t_)  # δ of the extremum, z − t, times z's slope there
    assert np.array_equal(module.backward({"W": W}, cache)["W"], delta_z @ x_.T)


def test_an_extremum_of_two_numbers_or_of_text_is_refused():
    g = d.Graph("bad")
    z = g.input("x", ("K", "N"))
    with pytest.raises(TypeError, match=r"maximum\(a, b\) takes a derive node among its "
                                        r"arguments, got 0, 1"):
        d.maximum(0, 1)
    with pytest.raises(TypeError, match=r"argument 2 of minimum\(a, b\) must be a derive node "
                                        r"or a number, got '0'"):
        d.minimum(z, "0")
    with pytest.raises(ValueError, match="not a finite real number"):
        d.maximum(z, float("inf"))
