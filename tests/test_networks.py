"""Whole networks: each against central differences and autograd on the same numbers."""

import autograd.numpy as anp
import numpy as np

import derive as d
from derive.display import place_text
from derive.losses import Softmax
from derive.gradcheck import random_inputs
from derive.rules import Rule
from helpers import check_grads, sigmoid, softmax_cross_entropy, squared_error
from test_oracle import fan_out


def neuron_by_neuron():
    """The textbook 2-3-1 network, one 1×1 node per neuron and per weight."""
    g = d.Graph("net231")
    x = [g.input(f"x{i}", (1, 1)) for i in (1, 2)]
    target = g.input("target", (1, 1))
    hidden = []
    for j in (1, 2, 3):
        z = sum((g.param(f"w{i}{j}", (1, 1)) @ x[i - 1] for i in (1, 2)),
                start=g.param(f"b{j}", (1, 1)))
        hidden.append(d.sigmoid(z.named(f"z{j}")).named(f"h{j}"))
    z = sum((g.param(f"v{j}", (1, 1)) @ hidden[j - 1] for j in (1, 2, 3)), start=g.param("c", (1, 1)))
    out = d.sigmoid(z.named("z")).named("out")
    g.loss(d.squared_error(out, target))
    return g


def test_2_3_1_network_neuron_by_neuron():
    def loss(p, inputs):
        h = [sigmoid(p[f"b{j}"] + p[f"w1{j}"] * inputs["x1"] + p[f"w2{j}"] * inputs["x2"])
             for j in (1, 2, 3)]
        out = sigmoid(p["c"] + sum(p[f"v{j}"] * h[j - 1] for j in (1, 2, 3)))
        return squared_error(out, inputs["target"])

    module, *_ = check_grads(neuron_by_neuron(), loss, dims={})
    der = d.derive(neuron_by_neuron())
    (term,) = der.terms["h2"]
    rule, consumer = term.chain()[0]  # folded into z's equation, named in its notation
    assert (rule, place_text(der, der.place(consumer))) == (Rule.WEIGHT_MATRIX, "v2 h2")
    assert {rule for rule, _ in term.chain()[1:]} == {Rule.ADDING}
    assert der.place(term.origin) == "z"
    assert str(d.derive(neuron_by_neuron())).count("δw") == 6


def test_deep_mlp_with_biases():
    def loss(p, inputs):
        h = inputs["x"]
        for layer in range(1, 7):
            h = anp.tanh(p[f"W{layer}"] @ h + p[f"b{layer}"])
        return squared_error(p["W7"] @ h + p["b7"], inputs["label"])

    check_grads(d.models.deep_mlp(depth=6, activation=d.tanh), loss)


def test_deep_relu_mlp_away_from_kinks():
    def loss(p, inputs):
        h = inputs["x"]
        for layer in range(1, 4):
            h = anp.maximum(p[f"W{layer}"] @ h + p[f"b{layer}"], 0.0)
        return squared_error(p["W4"] @ h + p["b4"], inputs["label"])

    check_grads(d.models.deep_mlp(depth=3), loss)


def test_softmax_with_cross_entropy_gives_y_minus_t():
    der = d.derive(d.models.softmax_classifier())
    assert der.deltas["z2"] == Softmax(der.symbol("z2")) - der.symbol("t")

    def loss(p, inputs):
        h = anp.tanh(p["W1"] @ inputs["x"] + p["b1"])
        return softmax_cross_entropy(p["W2"] @ h + p["b2"], inputs["t"])

    check_grads(d.models.softmax_classifier(), loss)


def test_cross_entropy_backward_reads_the_log_softmax_forward_computed():
    """softmax(z2) = exp(log_softmax(z2)): the loss's log_softmax is named and cached, and
    backward takes its exp, not a second softmax."""
    source = d.to_numpy(d.models.softmax_classifier())
    backward = source[source.index("def backward"):source.index("def predict")]
    code = [line for line in backward.splitlines() if not line.strip().startswith("#")]
    assert any("np.exp(log_softmax_z2)" in line for line in code)
    assert not any("softmax(z2)" in line for line in code)


def test_a_log_softmax_node_beside_cross_entropy_on_the_same_logits():
    """y = log_softmax(z) is a node of its own: backward takes exp(y) for the loss's softmax(z)."""
    g = d.Graph("both")
    x, t, label = g.input("x", ("D", "N")), g.input("t", ("K", "N")), g.input("label", ("K", "N"))
    z = (g.param("W", ("K", "D")) @ x).named("z")
    y = d.log_softmax(z).named("y")
    g.loss(d.softmax_cross_entropy(z, t) + d.squared_error(y, label))
    assert "np.exp(y)" in d.to_numpy(g)

    def loss(p, i):
        z_ = p["W"] @ i["x"]
        y_ = z_ - anp.log(anp.sum(anp.exp(z_), axis=0, keepdims=True))
        return softmax_cross_entropy(z_, i["t"]) + squared_error(y_, i["label"])

    check_grads(g, loss)


def test_one_activation_feeding_three_places_sums_three_terms():
    der = d.derive(fan_out())
    rules = sorted(t.rule.value for t in der.terms["h"])
    assert rules == [3, 3, 4, 5] or rules == [4, 5, 5]

    def loss(p, inputs):
        h = anp.tanh(p["W1"] @ inputs["x"])
        out = p["W2"] @ h + p["W3"] @ sigmoid(h) + 0.5 * (p["W2"] @ (h * h))
        return squared_error(out, inputs["label"])

    check_grads(fan_out(), loss)


def test_training_lowers_the_loss_of_every_builtin_model():
    rng = np.random.default_rng(0)
    for name, build in d.models.BUILTIN.items():
        der = d.derive(build())
        module = d.compile_numpy(der)
        dims = dict(D=4, H=8, K=3, N=16, T=5, d_k=3, D_ff=8)
        params = module.init_params(dims, seed=0)
        data = random_inputs(der, dims, rng)
        first = module.sgd_step(params, data, lr=0.002)
        for _ in range(200):
            last = module.sgd_step(params, data, lr=0.002)
        assert last < first, name
