"""Any identifier is a name: the generated module's own names step aside for the user's.

Every identifier the templates bind (read off the templates themselves, not from a list) is
used as the name of a node, an input, a parameter, a user function and a dimension, and each
module is checked against central differences and autograd.
"""

import autograd.numpy as anp
import numpy as np
import pytest

import derive as d
from derive.codegen import reserved_names
from helpers import check_grads, sigmoid, squared_error

TEMPLATE_NAMES = sorted(reserved_names())


def test_the_template_names_include_what_broke_before():
    assert {"t", "dimensions", "range", "size", "PARAMS", "np", "params", "cache"} <= \
        set(TEMPLATE_NAMES)


def network(node="h", x="x", W="W", phi="phi", H="H"):
    """label ≈ V phi(W x) with sigmoid hidden units; every name chosen by the caller."""
    g = d.Graph("names")
    f = d.elementwise(phi, lambda u: u * d.sigmoid.scalar(u))
    inputs, label = g.input(x, ("D", "N")), g.input("label", ("K", "N"))
    hidden = f(g.param(W, (H, "D")) @ inputs).named(node)
    g.loss(d.squared_error(g.param("V", ("K", H)) @ hidden, label))

    def reference(p, i):
        z = p[W] @ i[x]
        return squared_error(p["V"] @ (z * sigmoid(z)), i["label"])
    dims = {"D": 3, H: 4, "K": 2, "N": 5}
    return g, reference, dims


@pytest.mark.parametrize("role", ["node", "x", "W", "phi", "H"])
@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_a_template_name_as_a_users_name(name, role):
    if role == "phi" and name in d.registry.CALLABLE:
        with pytest.raises(d.GraphError, match=f"'{name}' is a built-in function"):
            network(phi=name)
        return
    graph, reference, dims = network(**{role: name})
    check_grads(graph, reference, dims=dims)


def recurrent(static="s", state="h", sequence="x"):
    """h_t = tanh(W x_t + U h_{t−1} + s) with a sequence x and a static input s, named by the
    caller (W x_t is computed for every step before the loop, reading x by its key)."""
    g = d.Graph("names")
    x, s = g.sequence(sequence, ("D", "N")), g.input(static, ("H", "N"))
    h_prev = g.state(state, ("H", "N"))
    W, U = g.param("W", ("H", "D")), g.param("U", ("H", "H"))
    h = d.tanh(W @ x + U @ h_prev + s).named(state)
    g.loss(d.squared_error(h, g.sequence("label", ("H", "N"))))

    def reference(p, i):
        h, total = i[f"{state}0"], 0.0
        for step in range(i[sequence].shape[0]):
            h = anp.tanh(p["W"] @ i[sequence][step] + p["U"] @ h + i[static])
            total = total + squared_error(h, i["label"][step])
        return total
    return g, reference


@pytest.mark.parametrize("name", [n for n in TEMPLATE_NAMES if n != "T"])
def test_a_template_name_as_a_static_input_state_or_sequence_of_a_recurrent_net(name):
    for kwargs in ({"static": name}, {"state": name}, {"sequence": name}):
        graph, reference = recurrent(**kwargs)
        check_grads(graph, reference, dims={"D": 2, "H": 3, "N": 2, "T": 3})


def test_a_static_input_named_t_is_not_the_loop_variable():
    """The bug this replaced: the loop variable overwrote t; the loss was off by 10⁵."""
    graph, reference = recurrent(static="t")
    module = d.compile_numpy(d.derive(graph))
    rng = np.random.default_rng(0)
    params = module.init_params({"D": 2, "H": 3}, seed=0, scheme="normal")
    inputs = {"x": rng.normal(size=(4, 2, 2)), "t": 100 * rng.normal(size=(3, 2)),
              "label": rng.normal(size=(4, 3, 2)), "h0": rng.normal(size=(3, 2))}
    loss, _ = module.forward(params, inputs)
    assert np.isclose(loss, reference(params, inputs), rtol=1e-12)


def test_names_are_keys_as_given_and_identifiers_step_aside():
    graph, _, _ = network(node="t", x="params", W="np")
    source = d.to_numpy(d.derive(graph))
    assert 'params_ = np.asarray(inputs["params"], dtype=dtype)' in source
    assert 'np_ = params["np"]' in source
    assert "# t = phi(t1)" in source and "# t1 = np params" in source


def test_a_sequence_named_like_a_states_previous_value_is_named_at_the_state():
    g = d.Graph("clash")
    g.sequence("h_prev", ("D", "N"))
    with pytest.raises(d.GraphError, match=r"state 'h': its value at the previous step, "
                                           r"h\[t-1\], is named 'h_prev', which is already"):
        g.state("h", ("H", "N"))
