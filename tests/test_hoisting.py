"""Hoisting (derive.hoisting): what the next step does not read — the output layer, the loss —
runs once for every step at once, after the forward loop, and its δs once before the backward
loop; anything whose numpy code would mean something else on every step at once stays in the
loops. Each module is checked against autograd and central differences."""

import re

import pytest

import derive as d
from helpers import check_grads
from test_random_graphs import DIMS, Program, twin

AFTER = "After the loop, for every step at once: what the next step does not read"
AHEAD = "Before the loop, for every step at once (arrays T×rows×cols): the inputs' shares"


def cell(output):
    """h_t = tanh(z_t), z_t = W x_t + U h_{t−1}; the loss is `output(graph, h, z, label)`."""
    g = d.Graph("cell")
    x, label = g.sequence("x", ("D", "N")), g.sequence("label", ("H", "N"))
    h_prev = g.state("h", ("H", "N"))
    z = (g.param("W", ("H", "D")) @ x + g.param("U", ("H", "H")) @ h_prev).named("z")
    g.loss(output(g, d.tanh(z).named("h"), z, label))
    return g


def checked(graph):
    """The module's source, after its gradients are checked over three steps."""
    check_grads(graph, twin(graph), dims={**DIMS, "T": 3})
    return d.to_numpy(graph)


def forward_loop(source):
    """The forward loop's body."""
    start = source.index("    for t in range(dims[\"T\"]):", source.index("def forward("))
    return source[start:source.index("\n    return loss, cache", start)]


def test_the_lstm_output_layer_and_loss_run_after_the_loop():
    source = d.to_numpy(d.models.lstm())
    after = forward_loop(source).split(AFTER)[1]
    assert "    y_all = W_y @ h_all\n    y_all += b_y\n" in after
    assert "    E_all = sum_squares(y_all - label_all) / 2\n    loss = E_all.item()" in after
    assert "W_y @ h\n" not in forward_loop(source).split(AFTER)[0]
    assert "    delta_y_all = y_all - label_all\n    delta_y_all *= scale\n" in source
    assert "        delta_y = delta_y_all[t]\n" in source


def test_the_lstm_gates_take_the_inputs_share_and_δh_the_outputs_from_before_the_loop():
    source = d.to_numpy(d.models.lstm())
    forward = source[source.index("def forward("):source.index("def backward(")]
    ahead, loop = forward.split("    for t in range")
    assert AHEAD in ahead
    assert "    z_ifog_inputs_all = W_ifog @ x_all\n    z_ifog_inputs_all += b_ifog\n" in ahead
    assert "        z_ifog = U_ifog @ h_prev\n        z_ifog += z_ifog_inputs\n" in loop
    assert "    delta_h_outputs_all = W_y.T @ delta_y_all\n" in source
    assert "        delta_h = delta_h_prev + delta_h_outputs\n" in source


def test_an_output_through_layers_of_its_own():
    source = checked(cell(lambda g, h, z, label: d.squared_error(
        d.sigmoid(g.param("V", ("H", "H")) @ d.tanh(h)).named("y"), label)))
    assert re.search(r"\n    delta_\w+_all = V\.T @ delta_\w+_all\n", source)


def test_a_value_backward_does_not_read_is_collected_by_the_loop():
    source = checked(cell(lambda g, h, z, label: d.squared_error(2 * z + h, label)))
    assert 'cache["z"]' not in source
    assert "    z_all = []\n" in source and "        z_all.append(z)\n" in source
    assert "    z_all = steps_first(z_all)\n" in source


def test_an_output_of_the_state_alone():
    source = checked(cell(lambda g, h, z, label: d.squared_error(h, label)))
    assert "    E_all = sum_squares(h_all - label_all) / 2" in source
    assert "    # h_t − label_t, times δE = scale, for every step\n" \
           "    delta_h_outputs_all = h_all - label_all\n" \
           "    delta_h_outputs_all *= scale\n" in source
    assert "        # δh_t = h_t − label_t + Uᵀ δz_{t+1}, times δE = scale\n" in source


@pytest.mark.parametrize("output", [
    lambda g, h, z, label: d.softmax_cross_entropy(g.param("V", ("H", "H")) @ h, label),
    lambda g, h, z, label: d.squared_error(h, label) + d.sum(h) * d.sum(h),
    lambda g, h, z, label: d.squared_error(h.T @ h, label.T @ label),
    lambda g, h, z, label: d.squared_error(h, label) * d.squared_error(z, label),
], ids=["softmax down the rows", "a product of sums", "a transpose", "a product of losses"])
def test_an_output_that_would_change_its_meaning_stays_in_the_loop(output):
    source = checked(cell(output))
    assert AFTER not in source and AHEAD in source  # W x_t before the loop all the same


def test_losses_summed_with_constant_coefficients_are_hoisted_as_one_sum_over_the_steps():
    """Σ_t (E1_t + ½ E2_t) = Σ_t E1_t + ½ Σ_t E2_t: each loss is a sum over everything of
    every step at once."""
    source = checked(cell(lambda g, h, z, label: (
        d.squared_error(h, label).named("E1") + 0.5 * d.squared_error(z, label).named("E2"))))
    after = forward_loop(source).split(AFTER)[1]
    assert "    E1_all = sum_squares(h_all - label_all) / 2\n" in after
    assert "    E2_all = sum_squares(z_all - label_all) / 2\n" in after
    assert "loss = " in after


@pytest.mark.parametrize("output", [
    lambda g, h, z, label: d.sum(g.param("V", ("H", "H")) @ h),
    lambda g, h, z, label: (lambda V: d.squared_error(h, label) + 0.01 * d.sum(V * V))(
        g.param("V", ("H", "H"))),
    lambda g, h, z, label: d.squared_error(h, label) + 3 * d.sum(g.param("V", ("H", "H"))),
], ids=["a δ of ones", "a penalty of a weight", "a sum of a weight"])
def test_what_no_step_changes_is_the_same_at_every_step_and_counted_once_a_step(output):
    """δt_t = 1 1ᵀ reads nothing of any step, nor do V ⊙ V and Σ V: computed once, each must
    still be read at every step and summed into the loss once a step. Each was a wrong
    gradient without an error while the loss node itself held the sum: the δ of ones read as
    a first step's rows, the penalty and 3 Σ V counted once."""
    source = checked(cell(output))
    assert AHEAD in source


def with_context(loss):
    """h_t = tanh(W x_t + U h_{t−1} (+ V m)), m an input that is not a sequence: the same at
    every step. The loss is `loss(graph, h, m, label)`; `gate` puts V m into the gate."""
    def build(gate=False):
        g = d.Graph("context")
        x, label = g.sequence("x", ("D", "N")), g.sequence("label", ("H", "N"))
        m, h_prev = g.input("m", ("D", "N")), g.state("h", ("H", "N"))
        z = g.param("W", ("H", "D")) @ x + g.param("U", ("H", "H")) @ h_prev
        h = d.tanh(z + g.param("V", ("H", "D")) @ m if gate else z).named("h")
        g.loss(loss(g, h, m, label))
        return g
    return build


@pytest.mark.parametrize("graph", [
    cell(lambda g, h, z, label: d.sum(g.input("m", ("H", "N")) * (h - label) ** 2)),
    with_context(lambda g, h, m, label: d.squared_error(
        g.param("W2", ("H", "H")) @ h + g.param("V2", ("H", "D")) @ m, label))(),
    with_context(lambda g, h, m, label: d.squared_error(h, label))(gate=True),
], ids=["a mask that no step changes", "an output of a step and of the context",
        "the context in a gate"])
def test_arrays_of_every_step_meet_what_is_the_same_at_every_step(graph):
    """Found by a review: a sum of products printed as one dot product of a T×H×N array with an
    H×N one, and sums built in place from the term no step changes (V m), which then cannot
    take the steps' terms; both crashed. Σ u ⊙ m is now a sum of the product, and a sum
    starts from a term of every step."""
    source = checked(graph)
    assert AFTER in source or "_inputs_all = " in source


def test_a_program_whose_output_is_hoisted_through_many_operations():
    program = ([("sigmoid", 0, 0, 1, 0), ("*", 1, 2, 0, 1), ("**", 2, 0, 0, 1),
                ("+", 3, 1, 0, 1), ("/", 1, 3, 0, 0), ("gate", 4, 2, 1, 1)], 0)
    graph = Program(*program, recurrent=True).graph
    assert AFTER in checked(graph)
