"""The generated module's training code: the optimizers step for step against the published
update rules written out here, gradient clipping, initialisation by what each parameter
feeds, float32, and predict."""

import numpy as np
import pytest

import derive as d
from derive.gradcheck import random_inputs
from derive.losses import one_hot

DIMS = {"D": 3, "H": 4, "K": 2, "N": 5}


def classifier():
    return d.compile_numpy(d.derive(d.models.softmax_classifier()))


def data(module, seed=0, dims=DIMS):
    rng = np.random.default_rng(seed)
    return {"x": rng.normal(size=(dims["D"], dims["N"])),
            "t": one_hot(rng, (dims["K"], dims["N"]))}


def copy(params):
    return {k: v.copy() for k, v in params.items()}


def grad(module, params, inputs):
    loss, cache = module.forward(params, inputs)
    return module.backward(params, cache)


# --- the published update rules, written independently of the templates ------------------

def momentum_reference(module, params, batches, lr, mu, nesterov):
    """Sutskever et al. as torch.optim.SGD writes it: b ← μb + g; p ← p − lr(g + μb) with
    Nesterov, else p ← p − lr b (b = g at the first step)."""
    buffers = {}
    for inputs in batches:
        g = grad(module, params, inputs)
        for k in params:
            buffers[k] = g[k] if k not in buffers else mu * buffers[k] + g[k]
            step = g[k] + mu * buffers[k] if nesterov else buffers[k]
            params[k] = params[k] - lr * step
    return params


def adamw_reference(module, params, batches, lr, b1, b2, eps, wd):
    """Loshchilov & Hutter's AdamW (Kingma & Ba's Adam when wd = 0), bias-corrected."""
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    for t, inputs in enumerate(batches, start=1):
        g = grad(module, params, inputs)
        for k in params:
            params[k] = params[k] * (1 - lr * wd)
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
            m_hat, v_hat = m[k] / (1 - b1 ** t), v[k] / (1 - b2 ** t)
            params[k] = params[k] - lr * m_hat / (np.sqrt(v_hat) + eps)
    return params


BATCHES = [data(None, seed) for seed in range(5)]


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_step_is_sgd_with_momentum_step_for_step(nesterov):
    module = classifier()
    params = module.init_params(DIMS, seed=1)
    expected = momentum_reference(module, copy(params), BATCHES, 0.1, 0.9, nesterov)
    state = module.optimizer_state(params)
    for inputs in BATCHES:
        module.momentum_step(params, inputs, state, 0.1, momentum=0.9, nesterov=nesterov)
    for k in params:
        np.testing.assert_allclose(params[k], expected[k], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_adam_step_is_adam_with_decoupled_weight_decay_step_for_step(weight_decay):
    module = classifier()
    params = module.init_params(DIMS, seed=2)
    expected = adamw_reference(module, copy(params), BATCHES, 0.01, 0.9, 0.999, 1e-8,
                               weight_decay)
    state = module.optimizer_state(params)
    losses = [module.adam_step(params, inputs, state, lr=0.01, weight_decay=weight_decay)
              for inputs in BATCHES]
    assert state["step"] == 5
    assert losses[0] == module.forward(module.init_params(DIMS, seed=2), BATCHES[0])[0]
    for k in params:
        np.testing.assert_allclose(params[k], expected[k], rtol=1e-12, atol=1e-14)


def test_the_optimizers_match_torch_where_it_is_installed():
    torch = pytest.importorskip("torch")
    module = classifier()
    start = module.init_params(DIMS, seed=3)
    for make, step in [
            (lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
             lambda p, i, s: module.momentum_step(p, i, s, 0.1, nesterov=True)),
            (lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.01),
             lambda p, i, s: module.adam_step(p, i, s, lr=0.01, weight_decay=0.01))]:
        params, state = copy(start), module.optimizer_state(start)
        tensors = {k: torch.tensor(v, requires_grad=True) for k, v in start.items()}
        optimizer = make(list(tensors.values()))
        for inputs in BATCHES:
            g = grad(module, {k: t.detach().numpy() for k, t in tensors.items()}, inputs)
            for k, t in tensors.items():
                t.grad = torch.tensor(g[k])
            optimizer.step()
            step(params, inputs, state)
        for k in params:
            np.testing.assert_allclose(params[k], tensors[k].detach().numpy(), rtol=1e-10,
                                       atol=1e-13)


def test_clipping_scales_all_gradients_by_their_global_norm():
    module = classifier()
    params = module.init_params(DIMS, seed=4)
    inputs = BATCHES[0]
    g = grad(module, params, inputs)
    norm = np.sqrt(sum(np.sum(v ** 2) for v in g.values()))
    clip = norm / 4
    clipped = copy(params)
    module.sgd_step(clipped, inputs, 1.0, clip=clip)
    for k in params:
        np.testing.assert_allclose(params[k] - clipped[k], g[k] * clip / (norm + 1e-6),
                                   rtol=1e-12)
    unclipped = copy(params)
    module.sgd_step(unclipped, inputs, 1.0, clip=10 * norm)  # below the clip: unchanged
    for k in params:
        np.testing.assert_allclose(params[k] - unclipped[k], g[k], rtol=1e-12)


def test_clipping_scales_the_parameters_gradients_not_the_initial_states():
    """As torch.nn.utils.clip_grad_norm_ given the parameters: ‖g‖ is theirs, and δh0, δc0
    come back as they were (the docstring says so)."""
    module = d.compile_numpy(d.derive(d.models.lstm()))
    dims = {"D": 2, "H": 3, "K": 2, "N": 4}
    params = module.init_params(dims, seed=1, scheme="normal")
    rng = np.random.default_rng(2)
    inputs = {"x": rng.normal(size=(3, 2, 4)), "label": rng.normal(size=(3, 2, 4)),
              "h0": rng.normal(size=(3, 4)), "c0": rng.normal(size=(3, 4))}
    _, g = module.gradients(params, inputs)
    _, clipped = module.gradients(params, inputs, clip=1e-3)
    norm = np.sqrt(sum(np.vdot(g[k], g[k]) for k in module.PARAMS))
    for k in g:
        scale = 1e-3 / (norm + 1e-6) if k in module.PARAMS else 1.0
        np.testing.assert_allclose(clipped[k], g[k] * scale, rtol=1e-12)
    assert "initial states' gradients are not clipped" in module.gradients.__doc__


@pytest.mark.parametrize("call, message", [
    (lambda m, p, i, s: m.sgd_step(p, i, 0.0), r"lr must be a number in \(0, inf\)"),
    (lambda m, p, i, s: m.momentum_step(p, i, s, 0.1, momentum=1.0), r"momentum .* \[0, 1\)"),
    (lambda m, p, i, s: m.adam_step(p, i, s, beta2=1.5), r"beta2 .* \[0, 1\)"),
    (lambda m, p, i, s: m.adam_step(p, i, s, eps=0), r"eps .* \(0, inf\)"),
    (lambda m, p, i, s: m.adam_step(p, i, s, weight_decay=-1), r"weight_decay .* \[0, inf\)"),
    (lambda m, p, i, s: m.sgd_step(p, i, 0.1, clip=float("nan")), r"clip .* \(0, inf\)"),
    (lambda m, p, i, s: m.sgd_step(p, i, True), r"lr must be a number")])
def test_a_bad_hyperparameter_is_named(call, message):
    module = classifier()
    params = module.init_params(DIMS)
    before = copy(params)
    with pytest.raises(ValueError, match=message):
        call(module, params, BATCHES[0], module.optimizer_state(params))
    assert all(np.array_equal(params[k], before[k]) for k in params)


# --- initialisation -----------------------------------------------------------------------

def test_biases_start_at_zero_gains_at_one_and_weights_by_what_follows_them():
    module = d.compile_numpy(d.derive(d.models.layer_norm_mlp()))
    starts = {name: start for name, (start, _, _) in module.INIT.items()}
    assert {starts[k] for k in module.PARAMS if k.startswith("b")} == {"zeros"}
    assert starts["gamma"] == "ones" and starts["beta"] == "zeros"
    relu_net = d.compile_numpy(d.derive(d.models.deep_mlp(depth=2)))
    assert [relu_net.INIT[k][0] for k in ("W1", "W2", "W3")] == ["he", "he", "glorot"]
    lenet = d.compile_numpy(d.derive(d.models.lenet()))
    kernels = {k: v for k, v in lenet.INIT.items() if k.startswith("K")}
    assert kernels and all(start == "he" and spread > 1 for start, spread, _ in kernels.values())


def test_a_weights_fan_in_is_what_it_sums_over_columns_in_W_x_rows_in_x_V_and_W_T_x():
    g = d.Graph("sides")
    x, t = g.input("x", ("D", "N")), g.input("t", ("N", "K"))
    W, b, V = g.param("W", ("D", "H")), g.param("b", ("H", 1)), g.param("V", ("H", "K"))
    h = d.relu(W.T @ x + b).named("h")                 # W sums over its D rows
    g.loss(d.squared_error((h.T @ V).named("o"), t))    # V sums over its H rows
    module = d.compile_numpy(d.derive(g))
    assert module.INIT["W"][0] == "he" and module.INIT["V"][0] == "glorot"
    dims = {"D": 400, "H": 100, "K": 300, "N": 1}
    for scheme in ("auto", "he", "glorot"):
        params = module.init_params(dims, seed=0, scheme=scheme)
        he, glorot = np.sqrt(2 / 400), np.sqrt(2 / (400 + 100))
        assert abs(params["W"].std() - (glorot if scheme == "glorot" else he)) < 0.01 * he
        V_std = np.sqrt(2 / 100) if scheme == "he" else np.sqrt(2 / (100 + 300))
        assert abs(params["V"].std() - V_std) < 0.01 * V_std


def test_glorot_and_he_draw_with_their_published_spreads():
    module = d.compile_numpy(d.derive(d.models.deep_mlp(depth=1)))
    dims = {"D": 300, "H": 400, "K": 200, "N": 1}
    params = module.init_params(dims, seed=0)
    assert np.all(params["b1"] == 0) and np.all(params["b2"] == 0)
    he = params["W1"]  # relu follows: N(0, 2/fan_in)
    assert abs(he.std() - np.sqrt(2 / 300)) < 0.01 * np.sqrt(2 / 300)
    glorot = params["W2"]  # linear output: N(0, 2/(fan_in + fan_out)), METHOD.md's
    sigma = np.sqrt(2 / (400 + 200))
    assert abs(glorot.std() - sigma) < 0.01 * sigma
    assert abs(np.mean(np.abs(glorot) > 2 * sigma) - 0.0455) < 0.005  # normal, not uniform
    everyone = module.init_params(dims, seed=0, scheme="glorot")
    assert abs(everyone["W1"].std() - np.sqrt(2 / (300 + 400))) < 0.01 * np.sqrt(2 / 700)
    drawn = module.init_params(dims, seed=0, scheme="normal")
    assert np.all(drawn["b1"] != 0)


@pytest.mark.parametrize("size", [0, 2.7, "8", True, -1, None])
def test_a_dimension_that_is_not_a_positive_integer_is_named(size):
    with pytest.raises(ValueError, match=r"dimension 'H' must be a positive integer"):
        classifier().init_params({"D": 3, "H": size, "K": 2})


def test_an_unknown_scheme_or_dtype_is_refused():
    with pytest.raises(ValueError, match="scheme must be"):
        classifier().init_params(DIMS, scheme="xavier")
    with pytest.raises(ValueError, match="dtype must be float64 or float32"):
        classifier().init_params(DIMS, dtype="int32")


# --- precision ----------------------------------------------------------------------------

@pytest.mark.parametrize("model", sorted(d.models.BUILTIN))
def test_float32_parameters_keep_every_array_float32(model):
    """Every value, δ, gradient, prediction and optimizer state stays float32, and agrees with
    float64 to float32's precision."""
    der = d.derive(d.models.BUILTIN[model]())
    module = d.compile_numpy(der)
    dims = {"D": 3, "H": 4, "K": 2, "N": 3, "T": 3, **d.models.EXAMPLE_DIMS}
    params = module.init_params(dims, seed=0, scheme="normal")
    inputs = random_inputs(der, dims, np.random.default_rng(0))
    single = {k: v.astype(np.float32) for k, v in params.items()}
    loss, cache = module.forward(single, inputs)
    grads = module.backward(single, cache)
    arrays = [*grads.values(), module.predict(single, inputs),
              *(np.asarray(v) for k, v in cache.items() if k not in ("dims", "dtype"))]
    assert all(a.dtype == np.float32 for a in arrays)
    exact = module.backward(params, module.forward(params, inputs)[1])
    for k in params:
        scale = np.max(np.abs(exact[k])) + 1e-3
        assert np.max(np.abs(grads[k] - exact[k])) < 1e-3 * scale, k
    state = module.optimizer_state(single)
    module.adam_step(single, inputs, state, clip=1.0)
    assert all(v.dtype == np.float32 for v in [*single.values(), *state["m"].values()])


def test_integer_or_mixed_parameters_are_refused():
    module = classifier()
    params = module.init_params(DIMS)
    with pytest.raises(ValueError, match="parameter 'W1' is int64: parameters are float64 or "
                                         "float32"):
        module.forward({**params, "W1": np.ones((4, 3), dtype=np.int64)}, BATCHES[0])
    with pytest.raises(ValueError, match=r"parameters mix float32 and float64 \(W1, b1\)"):
        module.forward({**params, "W1": params["W1"].astype(np.float32)}, BATCHES[0])


# --- predict ------------------------------------------------------------------------------

def test_predict_gives_the_probabilities_without_the_targets():
    module = classifier()
    params = module.init_params(DIMS, seed=0)
    inputs = BATCHES[0]
    probabilities = module.predict(params, {"x": inputs["x"]})
    _, cache = module.forward(params, inputs)
    z2 = params["W2"] @ cache["h"] + params["b2"]
    expected = np.exp(z2) / np.exp(z2).sum(axis=0)
    np.testing.assert_allclose(probabilities, expected, rtol=1e-12)
    assert module.LOSS == {"name": "softmax_cross_entropy", "output": "z2", "target": "t",
                           "reduce": "sum", "functions": 1}


def test_predict_of_binary_cross_entropy_is_the_sigmoid_of_the_logits():
    g = d.Graph("logistic")
    x, t = g.input("x", ("D", "N")), g.input("t", (1, "N"))
    z = (g.param("w", (1, "D")) @ x).named("z")
    g.loss(d.binary_cross_entropy(z, t, reduce="mean"))
    module = d.compile_numpy(d.derive(g))
    params = module.init_params({"D": 3})
    x = np.random.default_rng(0).normal(size=(3, 4))
    np.testing.assert_allclose(module.predict(params, {"x": x}),
                               1 / (1 + np.exp(-(params["w"] @ x))), rtol=1e-12)
    assert module.LOSS["reduce"] == "mean"


def test_predict_of_a_recurrent_net_is_every_steps_output():
    module = d.compile_numpy(d.derive(d.models.lstm()))
    dims = {"D": 3, "H": 4, "K": 2, "N": 3, "T": 5}
    params = module.init_params(dims, seed=0)
    rng = np.random.default_rng(0)
    inputs = {"x": rng.normal(size=(5, 3, 3)), "label": rng.normal(size=(5, 2, 3)),
              "h0": np.zeros((4, 3)), "c0": np.zeros((4, 3))}
    outputs = module.predict(params, {k: v for k, v in inputs.items() if k != "label"})
    assert outputs.shape == (5, 2, 3)
    loss, _ = module.forward(params, inputs)
    assert np.isclose(loss, 0.5 * np.sum((outputs - inputs["label"]) ** 2), rtol=1e-12)


def test_parameters_that_get_one_delta_are_each_updated_once():
    """z = A + Bᵀ + x: δA = δz and δB = δzᵀ, one array and a view of it. Each gradient is an
    array of its own, or the in-place updates would move A and B twice (found by review)."""
    g = d.Graph("shared")
    x, label = g.input("x", ("D", "N")), g.input("label", ("D", "N"))
    A, B = g.param("A", ("D", "N")), g.param("B", ("N", "D"))
    g.loss(d.squared_error(A + B.T + x, label))
    module = d.compile_numpy(d.derive(g))
    rng = np.random.default_rng(0)
    inputs = {"x": rng.normal(size=(3, 4)), "label": rng.normal(size=(3, 4))}
    start = module.init_params({"D": 3, "N": 4}, scheme="normal")
    delta = start["A"] + start["B"].T + inputs["x"] - inputs["label"]  # δz
    for step in ("sgd clipped", "momentum", "adam"):
        params = {k: v.copy() for k, v in start.items()}
        state = module.optimizer_state(params)
        if step == "sgd clipped":
            module.sgd_step(params, inputs, 0.1, clip=1e9)
            moved = 0.1 * delta
        elif step == "momentum":
            module.momentum_step(params, inputs, state, 0.1)
            moved = 0.1 * delta
        else:
            module.adam_step(params, inputs, state, 0.1)
            moved = 0.1 * delta / (np.abs(delta) + 1e-8)  # Adam's first: lr m̂/(√v̂ + ε)
        np.testing.assert_allclose(start["A"] - params["A"], moved, rtol=1e-6, err_msg=step)
        np.testing.assert_allclose(start["B"] - params["B"], moved.T, rtol=1e-6, err_msg=step)


def test_nesterov_is_true_or_false_and_needs_a_momentum():
    module = d.compile_numpy(d.derive(d.models.mlp()))
    params = module.init_params({"D": 2, "H": 3, "K": 2})
    inputs = {"x": np.ones((2, 4)), "label": np.zeros((2, 4))}
    state = module.optimizer_state(params)
    with pytest.raises(ValueError, match="nesterov must be True or False, got 'no'"):
        module.momentum_step(params, inputs, state, 0.1, nesterov="no")
    with pytest.raises(ValueError, match="Nesterov's lookahead needs a momentum above 0"):
        module.momentum_step(params, inputs, state, 0.1, momentum=0.0, nesterov=True)
    assert state["step"] == 0  # refused before anything moved


def test_a_state_not_made_for_these_parameters_is_refused_before_anything_moves():
    module = d.compile_numpy(d.derive(d.models.mlp()))
    params = module.init_params({"D": 2, "H": 3, "K": 2})
    inputs = {"x": np.ones((2, 4)), "label": np.zeros((2, 4))}
    before = {k: v.copy() for k, v in params.items()}
    narrow = module.optimizer_state(module.init_params({"D": 2, "H": 3, "K": 2}, dtype="float32"))
    for step in (module.momentum_step, module.adam_step):
        with pytest.raises(ValueError, match="state must be what optimizer_state"):
            step(params, inputs, {}, 0.1)
        with pytest.raises(ValueError, match=r"state's buffer for 'W1' is float32 \(3, 2\), "
                                             r"but the gradient is float64 \(3, 2\)"):
            step(params, inputs, narrow, 0.1)
        assert all(np.array_equal(params[k], before[k]) for k in params)
        assert narrow["step"] == 0


@pytest.mark.parametrize("spoil, error, message", [
    (lambda p, i: i["x"].__setitem__((1, 2), np.nan), FloatingPointError,
     "the loss is nan, so no parameter was moved"),
    (lambda p, i: i["label"].__setitem__((1, 2), np.inf), FloatingPointError,
     "the loss is inf, so no parameter was moved"),
    (lambda p, i: setattr(p["W2"].flags, "writeable", False), ValueError,
     "parameter 'W2' is read-only, so no parameter was moved")],
    ids=["NaN input", "inf target", "read-only parameter"])
def test_a_step_that_cannot_be_taken_moves_nothing(spoil, error, message):
    """A NaN or inf in the inputs makes the loss NaN or inf, which would write NaN into every
    parameter; a read-only W2 stopped each step halfway, W1 and b1 moved. Each optimizer
    refuses first, leaving parameters and state as they were."""
    module = d.compile_numpy(d.derive(d.models.mlp()))
    params = module.init_params({"D": 2, "H": 3, "K": 2})
    inputs = {"x": np.ones((2, 4)), "label": np.zeros((2, 4))}
    spoil(params, inputs)
    before, state = copy(params), module.optimizer_state(params)
    for step in (lambda: module.sgd_step(params, inputs, 0.1),
                 lambda: module.sgd_step(params, inputs, 0.1, clip=1.0),
                 lambda: module.momentum_step(params, inputs, state, 0.1),
                 lambda: module.adam_step(params, inputs, state)):
        with pytest.raises(error, match=message):
            step()
        assert all(np.array_equal(params[k], before[k]) for k in params)
        assert state["step"] == 0 and not any(m.any() for m in state["m"].values())


@pytest.mark.parametrize("shared", [lambda b1: b1, lambda b1: b1[:], lambda b1: b1.T.T,
                                    lambda b1: b1[::-1]])
def test_one_array_given_as_two_parameters_is_refused_before_anything_moves(shared):
    """b1 and b2 one array (found by a hunt): sgd_step moved it by both gradients, silently;
    and b2 a view of b1 (a second hunt: only the same object was caught)."""
    module = d.compile_numpy(d.derive(d.models.mlp()))
    params = module.init_params({"D": 2, "H": 3, "K": 3})
    params["b2"] = shared(params["b1"])
    before = copy(params)
    with pytest.raises(ValueError, match="parameters 'b1' and 'b2' are one array or share "
                                         "entries, so no parameter was moved"):
        module.sgd_step(params, {"x": np.ones((2, 4)), "label": np.zeros((3, 4))}, 0.1)
    assert all(np.array_equal(params[k], before[k]) for k in params)


def _lent(b1):
    """A view of b1's memory through np.frombuffer: its base is not b1's."""
    return np.frombuffer(memoryview(b1), dtype=b1.dtype).reshape(b1.shape)


def _overlapping(_):
    """Two 3×1 views of one bytearray, through two np.frombuffer calls, that share an entry."""
    buffer = bytearray(40)
    return (np.frombuffer(buffer, count=3).reshape(3, 1),
            np.frombuffer(buffer, offset=16).reshape(3, 1))


@pytest.mark.parametrize("lend", [lambda b1: (_lent(b1), b1), lambda b1: (b1, _lent(b1)),
                                  lambda b1: (_lent(b1), _lent(b1)), _overlapping],
                         ids=["b1 lent", "b2 lent", "both lent", "two views of one bytearray"])
def test_parameters_over_lent_memory_that_overlap_are_refused_before_anything_moves(lend):
    """Two parameters over memory numpy did not allocate (np.frombuffer, np.memmap, torch's
    .numpy()) have two bases even where they overlap (noted by a review): moved as its
    gradient is made, b1 would change b2's gradient read after it, silently."""
    module = d.compile_numpy(d.derive(d.models.mlp()))
    params = module.init_params({"D": 2, "H": 3, "K": 3})
    params["b1"], params["b2"] = lend(params["b1"])
    before = copy(params)
    with pytest.raises(ValueError, match="parameters 'b[12]' and 'b[12]' are one array or "
                                         "share entries, so no parameter was moved"):
        module.sgd_step(params, {"x": np.ones((2, 4)), "label": np.zeros((3, 4))}, 0.1)
    assert all(np.array_equal(params[k], before[k]) for k in params)


def test_parameters_over_lent_memory_apart_move_as_separate_arrays():
    """Slices of one bytearray that do not overlap are separate parameters, as slices of
    one numpy vector are."""
    module = d.compile_numpy(d.derive(d.models.mlp()))
    params = module.init_params({"D": 2, "H": 3, "K": 3})
    buffer, lent = bytearray(48), {k: v.copy() for k, v in params.items()}
    lent["b1"] = np.frombuffer(buffer, count=3).reshape(3, 1)
    lent["b2"] = np.frombuffer(buffer, offset=24).reshape(3, 1)
    lent["b1"][...], lent["b2"][...] = params["b1"], params["b2"]
    inputs = {"x": np.ones((2, 4)), "label": np.zeros((3, 4))}
    module.sgd_step(params, inputs, 0.1)
    module.sgd_step(lent, inputs, 0.1)
    assert all(np.array_equal(lent[k], params[k]) for k in module.PARAMS)


def test_parameters_that_are_slices_of_one_flat_vector_move_as_separate_arrays():
    """Views of one buffer that do not overlap are separate parameters: each moves by its own
    step, as a flat parameter vector's slices do for an optimizer that wants one vector."""
    module = d.compile_numpy(d.derive(d.models.mlp()))
    params = module.init_params({"D": 2, "H": 3, "K": 3})
    flat = np.concatenate([params[k].ravel() for k in module.PARAMS])
    ends = np.cumsum([0, *(params[k].size for k in module.PARAMS)])
    views = {k: flat[a:b].reshape(params[k].shape)
             for k, a, b in zip(module.PARAMS, ends, ends[1:])}
    inputs = {"x": np.ones((2, 4)), "label": np.zeros((3, 4))}
    module.sgd_step(params, inputs, 0.1)
    module.sgd_step(views, inputs, 0.1)
    assert all(np.array_equal(views[k], params[k]) for k in module.PARAMS)


def test_one_state_is_not_taken_by_two_optimizers():
    """adam's m (a mean of gradients) taken for momentum's velocity, silently (a hunt)."""
    module = d.compile_numpy(d.derive(d.models.mlp()))
    params = module.init_params({"D": 2, "H": 3, "K": 2})
    inputs = {"x": np.ones((2, 4)), "label": np.zeros((2, 4))}
    state = module.optimizer_state(params)
    module.adam_step(params, inputs, state)
    before = copy(params)
    with pytest.raises(ValueError, match="state has been adam_step's: its buffers mean other "
                                         "things to momentum_step"):
        module.momentum_step(params, inputs, state, 0.1)
    assert all(np.array_equal(params[k], before[k]) for k in params)
