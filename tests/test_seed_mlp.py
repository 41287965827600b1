"""The seed MLP of the core issue: its δs are exactly the textbook ones."""

import numpy as np
import sympy as sp
from sympy import OneMatrix, hadamard_product

import derive as d
from helpers import check_grads, sigmoid, squared_error


def seed_mlp(biases=False):
    g = d.Graph("mlp")
    x, label = g.input("x", ("D", "N")), g.input("label", ("K", "N"))
    W1, W2 = g.param("W1", ("H", "D")), g.param("W2", ("K", "H"))
    z1 = W1 @ x
    if biases:
        z1 = z1 + g.param("b1", ("H", 1))
    h = d.sigmoid(z1.named("z1")).named("h")
    out = d.sigmoid((W2 @ h).named("z2")).named("out")
    g.loss(d.squared_error(out, label))
    return g


def test_seed_mlp_deltas_are_the_textbook_ones():
    der = d.derive(seed_mlp())
    K, N, H = (sp.Symbol(n, integer=True, positive=True) for n in "KNH")
    out, label, h, x = der.symbol("out"), der.symbol("label"), der.symbol("h"), der.symbol("x")
    W2 = der.symbol("W2")
    δout, δz2, δh, δz1 = (der.delta(n) for n in ("out", "z2", "h", "z1"))

    assert der.deltas["out"] == out - label
    assert der.deltas["z2"] == hadamard_product(δout, out, OneMatrix(K, N) - out)
    assert der.deltas["h"] == W2.T * δz2
    assert der.deltas["z1"] == hadamard_product(δh, h, OneMatrix(H, N) - h)
    assert der.gradients["W2"] == δz2 * h.T
    assert der.gradients["W1"] == δz1 * x.T


def test_each_term_records_its_rule_and_consumer():
    der = d.derive(seed_mlp())
    (term,) = der.terms["h"]
    assert (term.rule, der.place(term.consumer)) == (d.Rule.WEIGHT_MATRIX, "z2")
    (term,) = der.terms["z1"]
    assert (term.rule, der.place(term.consumer)) == (d.Rule.FUNCTION_APPLICATION, "h")
    (term,) = der.terms["out"]
    assert term.rule is d.Rule.LOSS


def test_seed_mlp_gradients_match_finite_differences_and_autograd():
    def loss(p, inputs):
        h = sigmoid(p["W1"] @ inputs["x"] + p["b1"])
        return squared_error(sigmoid(p["W2"] @ h), inputs["label"])

    check_grads(seed_mlp(biases=True), loss)


def test_the_api_of_the_issue_trains():
    g = seed_mlp(biases=True)
    mod = d.compile_numpy(d.derive(g))
    dims = {"D": 3, "H": 4, "K": 2, "N": 5}
    params = mod.init_params(dims, seed=0)
    rng = np.random.default_rng(0)
    data = {"x": rng.normal(size=(3, 5)), "label": rng.uniform(size=(2, 5))}
    losses = [mod.sgd_step(params, data, lr=1.0) for _ in range(300)]
    assert losses[-1] < 0.2 * losses[0]
