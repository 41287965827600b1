"""Backpropagation through time: the built-in cells against central differences and autograd
(every parameter and initial state, several sequence lengths), and the δ equations' form."""

import re

import autograd.numpy as anp
import numpy as np
import pytest
from sympy import HadamardPower, hadamard_product

import derive as d
from derive.algebra import Next
from helpers import check_grads, gradcheck_of_mutant, sigmoid, squared_error
from test_random_graphs import twin

DIMS = {"D": 3, "H": 4, "K": 2, "N": 3}


def unroll(step, state_names):
    """A reference loss in autograd.numpy: run `step` over the sequence, sum ½‖y_t − label_t‖²."""
    def loss(p, inputs):
        states = [inputs[name] for name in state_names]
        total = 0.0
        for t in range(inputs["x"].shape[0]):
            states = step(p, inputs["x"][t], *states)
            y = p["W_y"] @ states[0] + p["b_y"]
            total = total + squared_error(y, inputs["label"][t])
        return total
    return loss


def gate(p, name, x, h, extra=0.0):
    return p[f"W_{name}"] @ x + p[f"U_{name}"] @ h + extra + p[f"b_{name}"]


def rnn_step(p, x, h):
    return [anp.tanh(p["W"] @ x + p["U"] @ h + p["b"])]


def lstm_step(p, x, h, c, peepholes=False):
    def peep(name, cell):
        return p[f"p_{name}"] * cell if peepholes else 0.0
    i = sigmoid(gate(p, "i", x, h, peep("i", c)))
    f = sigmoid(gate(p, "f", x, h, peep("f", c)))
    g = anp.tanh(gate(p, "g", x, h))
    c = f * c + i * g
    o = sigmoid(gate(p, "o", x, h, peep("o", c)))
    return [o * anp.tanh(c), c]


def stacked_step(p, x, h, c):
    z = p["W"] @ anp.concatenate([x, h]) + p["b"]
    H = h.shape[0]
    i, f, o = (sigmoid(z[k * H:(k + 1) * H]) for k in range(3))
    c = f * c + i * anp.tanh(z[3 * H:])
    return [o * anp.tanh(c), c]


def gru_step(p, x, h):
    r = sigmoid(gate(p, "r", x, h))
    u = sigmoid(gate(p, "u", x, h))
    h_hat = anp.tanh(gate(p, "h", x, r * h))
    return [(1 - u) * h + u * h_hat]


CELLS = {
    "rnn": (d.models.rnn, unroll(rnn_step, ["h0"])),
    "lstm": (d.models.lstm, unroll(lstm_step, ["h0", "c0"])),
    "lstm_peephole": (d.models.lstm_peephole,
                      unroll(lambda p, x, h, c: lstm_step(p, x, h, c, True), ["h0", "c0"])),
    "gru": (d.models.gru, unroll(gru_step, ["h0"])),
    "lstm_stacked": (d.models.lstm_stacked, unroll(stacked_step, ["h0", "c0"])),
}


@pytest.mark.parametrize("steps", [1, 2, 5])
@pytest.mark.parametrize("cell", list(CELLS))
def test_cell_gradients_through_time(cell, steps):
    build, reference = CELLS[cell]
    check_grads(build(), reference, dims={**DIMS, "T": steps})


@pytest.mark.parametrize("cell", list(CELLS))
def test_gradients_summed_after_the_loop_are_those_summed_in_it(cell):
    """Small steps sum δW = Σ_t δz_t x_tᵀ as one product after the loop (which the test
    above checks against autograd); large ones step by step. Forced both ways, the
    gradients agree."""
    module = d.compile_numpy(CELLS[cell][0]())
    dims = {**DIMS, "T": 5}
    params = module.init_params(dims, seed=0, scheme="normal")
    rng = np.random.default_rng(1)
    inputs = {name: rng.normal(size=[dims.get(s, s) if isinstance(s, str) else s
                                     for s in module.SHAPES[name]])
              for name in [*module.INPUTS, *module.STATES]}
    after = module.gradients(params, inputs)[1]
    assert module.BATCHED_UP_TO >= 5 * 1000  # these few values: after the loop
    module.BATCHED_UP_TO = 0
    during = module.gradients(params, inputs)[1]
    for name, gradient in after.items():
        np.testing.assert_allclose(gradient, during[name], rtol=1e-11, atol=1e-13)


def test_the_cell_state_gets_its_delta_from_this_step_and_the_next():
    der = d.derive(d.models.lstm())
    δc, δtanh_c, δc_prev = der.delta("c"), der.delta("tanh_c"), der.delta("c_prev")
    tanh_c, f = der.symbol("tanh_c"), der.symbol("f")
    ones = d.algebra.ones(*der.shapes["c"])
    assert der.deltas["c"] == (hadamard_product(δtanh_c, ones - HadamardPower(tanh_c, 2))
                               + Next(δc_prev))
    assert der.deltas["c_prev"] == hadamard_product(δc, f)
    (line,) = [line for line in str(der).splitlines() if line.startswith("δc_t = ")]
    equation, reason = (part.strip() for part in line.split("#"))
    assert equation == "δc_t = δtanh_c_t ⊙ (1 − tanh_c_t²) + δc_{t+1} ⊙ f_{t+1}"
    assert reason == ("rule 1 (splitting): rule 4 (function application) at tanh_c; "
                      "the next step's δ")


def test_shared_parameters_sum_their_gradients_over_steps():
    lines = str(d.derive(d.models.rnn())).splitlines()
    assert any(line.startswith("δU = Σ_t δz_t h_{t−1}ᵀ") for line in lines)
    assert any(line.startswith("δh0 = Uᵀ δz_1") for line in lines)  # steps are t = 1 … T


def test_a_state_without_next_value_or_of_the_wrong_shape():
    g = d.Graph("g")
    x, h_prev = g.sequence("x", ("D", "N")), g.state("h", ("H", "N"))
    out = (g.param("W", ("K", "D")) @ x + g.param("U", ("K", "H")) @ h_prev).named("out")
    g.loss(d.squared_error(out, g.sequence("label", ("K", "N"))))
    with pytest.raises(d.GraphError, match="state h_prev has no next value: name the node "
                                           "that computes it 'h'"):
        d.derive(g)
    out.graph.by_name.pop("out")
    out.name = None
    out.named("h")
    with pytest.raises(d.ShapeError, match="recurrence h: h_prev is H×N but h is K×N"):
        d.derive(g)


@pytest.mark.parametrize("leaf", ["param", "sequence", "input"])
def test_a_state_whose_next_value_is_a_leaf_is_refused(leaf):
    """h_prev's next value named 'h' a parameter: its δ through time was taken for the
    parameter's own gradient, silently wrong (found by a hunt); a sequence broke the module."""
    g = d.Graph("g")
    h_prev, x = g.state("h", ("H", "N")), g.sequence("x", ("H", "N"))
    h = getattr(g, leaf)("h", ("H", "N"))
    g.loss(d.sum(d.tanh(g.param("V", ("H", "H")) @ (x + h_prev)) * h))
    with pytest.raises(d.GraphError, match="state h_prev: its next value 'h' is an? "
                                           "(parameter|input), not a value the step computes"):
        d.derive(g)


def test_a_loss_that_is_a_states_next_value_is_refused_and_its_identity_is_not():
    """E = Σ_t s_t with s_t carried to step t+1: the loss's δ is 1 by definition, and the
    share step t+1 sends back was lost (found by a hunt: every gradient wrong, h0's too, and
    the worked example agreed with the module). loss = identity(s) is a node of its own."""
    def cell(loss_of):
        g = d.Graph("carried")
        x, s_prev = g.sequence("x", ("H", "N")), g.state("s", (1, 1))
        s = (0.5 * s_prev + d.sum(d.tanh(g.param("W", ("H", "H")) @ x))).named("s")
        g.loss(loss_of(s))
        return g
    with pytest.raises(d.GraphError, match=re.escape(
            "state s_prev: its next value 's' is the loss, whose δ is 1 by definition")):
        d.derive(cell(lambda s: s))
    g = cell(d.identity)
    check_grads(g, twin(g), dims={**DIMS, "T": 3})


def test_sequences_of_different_lengths_name_the_input():
    module = d.compile_numpy(d.derive(d.models.rnn()))
    params = module.init_params(DIMS, scheme="normal")
    inputs = {"x": np.zeros((5, 3, 3)), "label": np.zeros((4, 2, 3)), "h0": np.zeros((4, 3))}
    with pytest.raises(ValueError, match=r"input 'label' has shape \(4, 2, 3\), but its shape is "
                                         r"\('T', 'K', 'N'\) and T = 5"):
        module.forward(params, inputs)
    del inputs["h0"]
    inputs["label"] = np.zeros((5, 2, 3))
    with pytest.raises(ValueError, match="missing input 'h0'"):
        module.forward(params, inputs)


def test_T_is_kept_for_the_number_of_steps():
    g = d.Graph("g")
    x, h_prev = g.sequence("x", ("T", "N")), g.state("h", ("H", "N"))
    h = d.tanh(g.param("W", ("H", "T")) @ x + h_prev).named("h")
    g.loss(d.squared_error(h, g.sequence("label", ("H", "N"))))
    with pytest.raises(d.GraphError, match="the dimension T is named 'T'"):
        d.derive(g)


@pytest.mark.parametrize("state, params, output, where, what", [
    ("h[H, N]", "W[H, D], U[H, H], W_y[K, H], T[K, 1]", "W_y @ h + T", "3:36", "a parameter"),
    ("h[T, N]", "W[T, D], U[T, T], W_y[K, T]", "W_y @ h", "2:9", "a dimension")])
def test_T_in_a_model_file_is_named_at_its_line_and_column(state, params, output, where, what):
    """Found by a hunt: the graph's error, without the file's line, where every other
    mistake in a model file is shown at its place."""
    text = (f"sequence x[D, N], label[K, N]\nstate {state}\nparam {params}\n"
            f"h = tanh(W @ x + U @ h[t-1])\ny = {output}\nloss = squared_error(y, label)")
    with pytest.raises(d.ModelFileError) as raised:
        d.modelfile.loads(text, "cell.bp")
    assert str(raised.value).startswith(f"cell.bp:{where}: 'T' is {what} here, but in a model "
                                         "with states T counts the time steps: rename it")


@pytest.mark.parametrize("declared, read, message", [
    ("param W[H, D], U[H, H], W_y[K, H], x_1[K, 1]", "W_y @ h + x_1",
     "3:36: 'x_1' is a parameter here, but in a model with states x_1 reads as x at step 1"),
    ("param W[H, D], U[H, H], W_y[K, H], h_t[K, 1]", "W_y @ h + h_t",
     "3:36: 'h_t' is a parameter here, but in a model with states h_t reads as h at step t"),
    ("param W[H, D], U[H, H], W_y[K, H], x_T[K, 1]", "W_y @ h + x_T",  # x at the last step
     "3:36: 'x_T' is a parameter here, but in a model with states x_T reads as x at step T"),
    ("param W[H, D], U[H, H], W_y[K, H], E_t[K, 1]", "W_y @ h + E_t",  # the loss at step t
     "3:36: 'E_t' is a parameter here, but in a model with states E_t reads as E at step t"),
    ("param W[H, D], U[H, H], W_y[K, H]\ninput m[t, 1]", "W_y @ h + sum(m)",
     "4:9: 't' is a dimension here, but in a model with states t indexes the time steps")])
def test_a_name_that_reads_as_a_value_at_a_step_is_refused(declared, read, message):
    """Found by a hunt: a parameter x_1 printed as the sequence x at step 1 (in the worked
    examples two values of one name in an equation), a dimension t as the step's index."""
    text = (f"sequence x[D, N], label[K, N]\nstate h[H, N]\n{declared}\n"
            f"h = tanh(W @ x + U @ h[t-1])\ny = {read}\nloss = squared_error(y, label)")
    with pytest.raises(d.ModelFileError, match="^" + re.escape(f"cell.bp:{message}: rename it")):
        d.modelfile.loads(text, "cell.bp")
    g = d.Graph("cell")  # the same from Python
    x, h_prev = g.sequence("x", ("D", "N")), g.state("h", ("H", "N"))
    h = d.tanh(g.param("W", ("H", "D")) @ x + g.param("U", ("H", "H")) @ h_prev).named("h")
    g.loss(d.squared_error(h + g.param("x_1", ("H", 1)), g.sequence("label", ("H", "N"))))
    with pytest.raises(d.GraphError, match=re.escape("the node x_1 is named 'x_1', but in a "
                                                     "recurrent graph x_1 reads as x at step 1")):
        d.derive(g)


def test_a_state_that_is_never_read():
    g = d.Graph("g")
    x, _ = g.sequence("x", ("D", "N")), g.state("h", ("H", "N"))
    h = d.tanh(g.param("W", ("H", "D")) @ x).named("h")
    g.loss(d.squared_error(h, g.sequence("label", ("H", "N"))))
    with pytest.raises(d.GraphError, match="state h_prev is never read on the way to the loss"):
        d.derive(g)


def test_two_states_whose_deltas_are_one_array_return_gradients_of_their_own():
    """δh_prev = δc_prev = Uᵀ δz when h_{t−1} + c_{t−1} is what the step reads (a hunt: the
    gradients of h0 and c0 were one array, so scaling one in place scaled the other)."""
    g = d.Graph("twins")
    x, label = g.sequence("x", ("D", "N")), g.sequence("label", ("K", "N"))
    h_prev, c_prev = g.state("h", ("H", "N")), g.state("c", ("H", "N"))
    z = d.tanh(g.param("W", ("H", "D")) @ x + g.param("U", ("H", "H")) @ (h_prev + c_prev))
    z = z.named("z")
    d.identity(z).named("h"), (z * 2).named("c")
    g.loss(d.squared_error(g.param("W_y", ("K", "H")) @ z, label))
    mod = d.compile_numpy(d.derive(g))
    rng = np.random.default_rng(0)
    inputs = {"x": rng.normal(size=(3, 2, 4)), "label": rng.normal(size=(3, 1, 4)),
              "h0": rng.normal(size=(5, 4)), "c0": rng.normal(size=(5, 4))}
    _, grads = mod.gradients(mod.init_params({"D": 2, "H": 5, "K": 1}), inputs)
    np.testing.assert_array_equal(grads["h0"], grads["c0"])
    assert not np.shares_memory(grads["h0"], grads["c0"])


def test_a_state_whose_next_value_no_parameter_feeds():
    """h_t = tanh(x_t), read one step later through W: no δ flows back through h_t, and δh0
    is W's share at the first step (this raised a KeyError inside derive)."""
    g = d.Graph("lag")
    x, label = g.sequence("x", ("H", "N")), g.sequence("label", ("H", "N"))
    h_prev = g.state("h", ("H", "N"))
    h = d.tanh(x).named("h")
    g.loss(d.squared_error(g.param("W", ("H", "H")) @ h_prev + h, label))
    assert "δh0 = Wᵀ δt1_1" in str(d.derive(g))
    check_grads(g, twin(g), dims={**DIMS, "T": 3})


def test_a_sequence_with_no_state_is_one_layer_at_every_step():
    """y_t = W x_t + b, nothing carried: every equation is computed for all steps at once,
    and the module has no forward loop at all (its empty body did not compile)."""
    g = d.Graph("stepwise")
    x, label = g.sequence("x", ("D", "N")), g.sequence("label", ("K", "N"))
    y = (g.param("W", ("K", "D")) @ x + g.param("b", ("K", 1))).named("y")
    g.loss(d.squared_error(d.tanh(y), label))
    forward = d.to_numpy(g).split("def forward")[1].split("def backward")[0]
    assert "for t in" not in forward
    check_grads(g, twin(g), dims={**DIMS, "T": 3})


def test_a_loss_that_reads_the_state_only_one_step_back():
    """E_t = ½ Σ (Wy h_{t−1} − label_t)²: h_t reaches a loss only at step t+1, through
    h[t−1], so δh_t is the next step's δ alone (this was refused: "W does not affect the
    loss")."""
    g = d.Graph("lagged")
    x, label = g.sequence("x", ("D", "N")), g.sequence("label", ("K", "N"))
    h_prev = g.state("h", ("H", "N"))
    d.tanh(g.param("W", ("H", "D")) @ x + g.param("U", ("H", "H")) @ h_prev).named("h")
    g.loss(d.squared_error(g.param("Wy", ("K", "H")) @ h_prev, label))
    der = d.derive(g)
    assert der.deltas["h"] == Next(der.delta("h_prev"))
    check_grads(g, twin(g), dims={**DIMS, "T": 4})


def test_gradcheck_judges_the_gradients_summed_in_the_loop_too(monkeypatch):
    """A recurrent module sums small steps' gradients after its loop and larger ones in it;
    gradcheck's small sizes took only the first way, so a wrong sum in the loop (δU from
    h_t, not h_{t−1}) passed `derive check` (found by a hunt mutating the module)."""
    report = gradcheck_of_mutant(monkeypatch, d.derive(d.models.rnn()),
                                 ("delta_U += delta_z @ h_prev.T", "delta_U += delta_z @ h.T"),
                                 {"D": 3, "H": 4, "K": 2, "N": 5, "T": 4})
    assert not report.ok and report.errors["U"] > 1e-3 and report.errors["W"] < 1e-6
