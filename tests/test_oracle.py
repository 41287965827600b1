"""Every δ of a derivation equals sympy.diff of the scalar-expanded loss."""

import pytest
import sympy as sp

import derive as d
from scalar_oracle import max_disagreement
from test_seed_mlp import seed_mlp

SMALL = {"D": 2, "H": 3, "K": 2, "N": 2}


def fan_out():
    """h feeds three places, so rule 1 sums three terms."""
    g = d.Graph("fan_out")
    x, label = g.input("x", ("D", "N")), g.input("label", ("K", "N"))
    W1, W2, W3 = g.param("W1", ("H", "D")), g.param("W2", ("K", "H")), g.param("W3", ("K", "H"))
    h = d.tanh((W1 @ x).named("z")).named("h")
    out = (W2 @ h + W3 @ d.sigmoid(h) + 0.5 * (W2 @ (h * h))).named("out")
    g.loss(d.squared_error(out, label))
    return g


def every_function():
    g = d.Graph("functions")
    x, t = g.input("x", ("D", "N")), g.input("t", ("K", "N"))
    W = g.param("W", ("H", "D"))
    V = g.param("V", ("K", "H"))
    phi = d.elementwise("phi", lambda u: u**3 / 3 + sp.sin(u))
    z = (W @ x).named("z")
    a = d.relu(z) + d.softplus(z) + d.exp(z) * d.identity(z)
    b = d.log(d.softplus(z)) + phi(z) + d.scaled_tanh(z, 1.7159, sp.Rational(2, 3))
    h = d.sigmoid(a.named("a") * b.named("b")).named("h")
    g.loss(d.softmax_cross_entropy((V @ h).named("y"), t, reduce="mean"))
    return g


TINY = {"D": 1, "H": 2, "K": 2, "N": 2}  # every_function's loss is long: keep it small


@pytest.mark.parametrize("build, dims", [(lambda: seed_mlp(biases=True), SMALL),
                                         (fan_out, SMALL), (every_function, TINY)],
                         ids=["seed_mlp", "fan_out", "every_function"])
def test_every_delta_equals_sympy_diff_of_the_scalar_loss(build, dims):
    der = d.derive(build())
    worst = max_disagreement(der, dims, seed=1)
    assert set(worst) == (set(der.deltas) | set(der.gradients)) - {der.loss}
    assert all(w < 1e-20 for w in worst.values()), worst
