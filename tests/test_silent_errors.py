"""Wrong answers that once came with no error, each now checked against autograd on the same
graph (and its whole family drawn by the random-graph tests)."""

import math
import warnings

import autograd.numpy as anp
import numpy as np
import pytest
import sympy as sp

import derive as d
from derive.gradcheck import GradcheckReport
from helpers import (check_grads, gradcheck_of_mutant, sigmoid, softmax_cross_entropy,
                     squared_error)
from test_latex import pdflatex

# --- 1. a loss's target is an activation like any other ----------------------------------


def test_an_autoencoder_whose_target_is_its_own_code():
    """squared_error(tanh(Dec code), code): δEnc was 39% off when the target lost its δ."""
    g = d.Graph("autoencoder")
    x = g.input("x", ("D", "N"))
    code = d.tanh(g.param("Enc", ("H", "D")) @ x).named("code")
    out = d.tanh(g.param("Dec", ("H", "H")) @ code).named("out")
    g.loss(d.squared_error(out, code))

    def reference(p, i):
        code = anp.tanh(p["Enc"] @ i["x"])
        return squared_error(anp.tanh(p["Dec"] @ code), code)
    check_grads(g, reference)
    lines = str(d.derive(g)).splitlines()
    assert any(line.startswith("δcode = code − out + Decᵀ δt1") for line in lines)


def test_a_target_that_cancels_out_gives_a_zero_gradient():
    """y = W x1 + s, E = ½ Σ (y − s)²: E does not depend on V, so δV = 0 exactly."""
    g = d.Graph("g")
    x1, x2 = g.input("x1", ("D", "N")), g.input("x2", ("D", "N"))
    s = d.tanh(g.param("V", ("H", "D")) @ x2).named("s")
    g.loss(d.squared_error((g.param("W", ("H", "D")) @ x1 + s).named("y"), s))
    *_, grads = check_grads(g, lambda p, i: squared_error(
        p["W"] @ i["x1"] + anp.tanh(p["V"] @ i["x2"]), anp.tanh(p["V"] @ i["x2"])))
    assert not grads["V"].any()


def test_parameters_reached_through_the_label_only():
    g = d.Graph("g")
    x1, x2 = g.input("x1", ("D", "N")), g.input("x2", ("D", "N"))
    W = g.param("W", ("H", "D"))
    g.loss(d.squared_error(d.tanh(W @ x1), d.tanh(W @ x2)))
    check_grads(g, lambda p, i: squared_error(anp.tanh(p["W"] @ i["x1"]),
                                              anp.tanh(p["W"] @ i["x2"])))


def test_cross_entropy_onto_an_activation_that_is_not_a_distribution():
    """δz = softmax(z) ⊙ 1(1ᵀt) − t, δt = −log softmax(z): exact for any targets."""
    g = d.Graph("g")
    x = g.input("x", ("D", "N"))
    t = d.sigmoid(g.param("V", ("K", "D")) @ x).named("t")
    g.loss(d.softmax_cross_entropy((g.param("W", ("K", "D")) @ x).named("z"), t))
    check_grads(g, lambda p, i: softmax_cross_entropy(p["W"] @ i["x"], sigmoid(p["V"] @ i["x"])))
    der = d.derive(g)
    assert "δz = softmax(z) ⊙ (Σ_rows t) − t" in str(der)
    assert "δt = −log_softmax(z)" in str(der)


# --- 3. targets given as data must be distributions -----------------------------------------

def test_cross_entropy_refuses_input_targets_whose_columns_do_not_sum_to_1():
    module = d.compile_numpy(d.derive(d.models.softmax_classifier()))
    params = module.init_params({"D": 3, "H": 4, "K": 2}, scheme="normal")
    x = np.ones((3, 2))
    module.forward(params, {"x": x, "t": np.eye(2)})  # one-hot columns: fine
    with pytest.raises(ValueError, match="input 't': softmax_cross_entropy needs target "
                                         "columns that each sum to 1"):
        module.forward(params, {"x": x, "t": 2 * np.eye(2)})


def test_binary_cross_entropy_refuses_input_targets_outside_0_and_1():
    """Σ softplus(z) − t z is a loss for any t, but with labels 0–3 its minimum is not the
    labels' and train's accuracy meant nothing (found by a hunt): labels 0 and 1 and
    probabilities pass, anything else (or NaN) is named."""
    g = d.Graph("logistic")
    x, t = g.input("x", ("D", "N")), g.input("t", ("K", "N"))
    g.loss(d.binary_cross_entropy(g.param("W", ("K", "D")) @ x, t))
    module = d.compile_numpy(d.derive(g))
    params = module.init_params({"D": 3, "K": 2}, scheme="normal")
    x = np.ones((3, 2))
    for fine in ([[0, 1], [1, 0]], [[0.25, 1], [0, 0.5]]):
        module.forward(params, {"x": x, "t": np.array(fine, dtype=float)})
    for wrong in ([[0, 3], [1, 0]], [[0, 1], [-1, 0]], [[0, np.nan], [1, 0]]):
        with pytest.raises(ValueError, match="input 't': binary_cross_entropy needs targets "
                                             r"in \[0, 1\]"):
            module.forward(params, {"x": x, "t": np.array(wrong, dtype=float)})


@pytest.mark.parametrize("error, accepted", [(0.9, True), (1.1, False)])
def test_each_target_column_is_judged_by_itself_however_many_there_are(error, accepted):
    """Every column within the tolerance (K·1e-6) passes, though the squares of 10,000 such
    errors add up to more than its square; one beyond it fails among 9,999 exact ones."""
    module = d.compile_numpy(d.derive(d.models.softmax_classifier()))
    params = module.init_params({"D": 3, "H": 4, "K": 2}, scheme="normal")
    N, tol = 10_000, 2 * 1e-6
    t = np.tile([[0.5], [0.5]], N)
    if accepted:
        t[0] += error * tol
    else:
        t[0, 1234] += error * tol
    inputs = {"x": np.ones((3, N)), "t": t}
    if accepted:
        module.forward(params, inputs)
    else:
        with pytest.raises(ValueError, match="each sum to 1"):
            module.forward(params, inputs)


# --- 5. user functions: what numpy has, kinks, constants ------------------------------------

PIECEWISE = [
    ("max", lambda u: sp.Max(u, 0) + sp.Max(u, -1) / 2, lambda v: anp.maximum(v, 0) + anp.maximum(v, -1) / 2),
    ("min", lambda u: sp.Min(u, sp.Rational(1, 2)), lambda v: anp.minimum(v, 0.5)),
    ("absolute", lambda u: sp.Abs(u) * u, lambda v: anp.abs(v) * v),
    ("sign", lambda u: u**2 * sp.sign(u), lambda v: v**2 * anp.sign(v)),
    ("piecewise", lambda u: sp.Piecewise((u**2, u > 0), (u / 2, True)),
     lambda v: anp.where(v > 0, v**2, v / 2)),
    # found by a hunt: the arguments equal over an interval (u = |u| for u > 0) took slope 0
    # there, and a Heaviside of the formula's own took 0 for its value ½ at its jump
    ("max_of_equals", lambda u: sp.Max(u, sp.Abs(u)), lambda v: anp.abs(v)),
    ("min_of_equals", lambda u: sp.Min(u, (u + sp.Abs(u)) / 2) * u, lambda v: v * v),
    ("max_of_three", lambda u: sp.Max(u, 2 * u, sp.Abs(u)), lambda v: anp.maximum(2 * v, -v)),
    ("held_step", lambda u: u * sp.Heaviside(sp.Max(u, 0)), lambda v: anp.where(v > 0, v, v / 2)),
]


def through(f):
    """E = ½ Σ (f(W x) − t)² with the user function f."""
    g = d.Graph("user")
    x, t = g.input("x", ("D", "N")), g.input("t", ("K", "N"))
    g.loss(d.squared_error(f(g.param("W", ("K", "D")) @ x), t))
    return g


@pytest.mark.parametrize("name, formula, twin", PIECEWISE, ids=[p[0] for p in PIECEWISE])
def test_user_functions_with_kinks_match_autograd(name, formula, twin):
    f = d.elementwise(name, formula)
    assert f.kinks, "its kinks are found"
    check_grads(through(f), lambda p, i: squared_error(twin(p["W"] @ i["x"]), i["t"]))


@pytest.mark.parametrize("name, formula, twin", PIECEWISE, ids=[p[0] for p in PIECEWISE])
def test_user_functions_with_kinks_of_a_scalar_derive(name, formula, twin):
    """f(w x) of 1×1 values: sympy called f′ on the 1×1 matrix as if it were a number, and
    its Heaviside, Max or Piecewise refused it (a bare ValueError inside d.derive)."""
    f = d.elementwise(name, formula)
    g = d.Graph("scalars")
    x, t, w = g.input("x", (1, 1)), g.input("t", (1, 1)), g.param("w", (1, 1))
    g.loss(d.squared_error(f(w @ x), t))
    check_grads(g, lambda p, i: squared_error(twin(p["w"] @ i["x"]), i["t"]), dims={})


def test_a_user_max_has_the_slope_of_relu_at_the_kink():
    """Heaviside(0) is ½ in sympy; derive takes every slope at a kink as relu's: 0."""
    modules = [d.compile_numpy(d.derive(through(f)))
               for f in (d.relu, d.elementwise("ramp", lambda u: sp.Max(u, 0)))]
    params = {"W": np.zeros((2, 3))}  # every input of the function sits on its kink
    inputs = {"x": np.ones((3, 4)), "t": np.ones((2, 4))}
    grads = [m.backward(params, m.forward(params, inputs)[1])["W"] for m in modules]
    assert not grads[0].any() and not grads[1].any()


def test_gradcheck_steps_around_the_kinks_of_a_user_function():
    """|sin(10⁶ u)| has a kink every 3·10⁻⁶: every draw puts one within a step, even the
    finest (10⁻⁵), and gradcheck says so rather than report differences taken across it."""
    der = d.derive(through(d.elementwise("comb", lambda u: sp.Abs(sp.sin(10**6 * u)))))
    with pytest.raises(d.DeriveError, match="put a kink within a step"):
        d.gradcheck(der, {"D": 3, "K": 2, "N": 50})


def test_a_loss_undefined_at_every_draw_is_named_not_failed():
    """log(W x) is NaN wherever W x has a negative entry: gradcheck says the draws lie outside
    the model's domain, and a worked example says its values do, rather than report a
    failed check, "a bug in derive" (found by a hunt)."""
    der = d.derive(through(d.log))
    with pytest.raises(d.DeriveError, match="the loss is not finite at any of 21 draws"):
        d.gradcheck(der, {"D": 3, "K": 2, "N": 5})
    values = {"x": [[1], [2], [3]], "t": [[0], [0]]}
    with pytest.raises(d.ValuesError, match="the loss is nan at these values: an operation"):
        der.worked(values, {"W": [[-1, 0, 0], [1, 1, 1]]})



def test_a_loss_finite_only_through_values_that_overflow_is_passed_over_not_failed():
    """σ(W u¹⁰⁰⁰): where u¹⁰⁰⁰ overflows, σ saturates and the loss is finite, but no gradient
    is (∞ · 0): such a draw is outside float64's range, and gradcheck takes another rather
    than report the derivation wrong (found by a hunt: "W NaN NO, FAILED"). Where it is
    finite, u¹⁰⁰⁰ is too curved for steps of 1e-3 (off by 4e-3): the differences have not
    converged, and a finer step is taken."""
    power = d.elementwise("power", lambda u: u**1000)
    g = d.Graph("g")
    x, t = g.input("x", ("D", "N")), g.input("t", ("K", "N"))
    h = power(g.param("V", ("H", "D")) @ x + g.param("b", ("H", 1)))
    g.loss(d.squared_error(d.sigmoid(g.param("W", ("K", "H")) @ h), t))
    der = d.derive(g)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and says nothing of numpy's overflows
        report = d.gradcheck(der, {"D": 3, "H": 4, "K": 2, "N": 5}, max_entries=2)
    assert report.ok and report.undefined > 0 and report.eps < 1e-3


MLP_DIMS = {"D": 3, "H": 4, "K": 2, "N": 5}


def test_a_gradient_that_is_not_finite_on_any_path_fails_the_check(monkeypatch):
    """gradcheck takes the worst of the paths backward has (δE = 1, δE = 0.375, a recurrent
    module's sums in the loop), by Python's max, which drops a NaN that comes after a number:
    a module whose every gradient was NaN under sgd_step's seed, or whose in-loop δW_y was ∞,
    was "all ok" (found by a hunt mutating modules). An error that is not finite is ∞."""
    nan_when_seeded = ("    delta_out = scale * out_minus_label\n",
                       "    delta_out = scale * out_minus_label\n    if scale != 1.0:\n"
                       "        delta_out *= np.nan\n")
    assert not gradcheck_of_mutant(monkeypatch, d.derive(d.models.mlp()), nan_when_seeded,
                                   MLP_DIMS).ok
    infinite_in_the_loop = ("            delta_W_y += delta_y @ h.T",
                            "            delta_W_y += np.inf * (delta_y @ h.T)")
    assert not gradcheck_of_mutant(monkeypatch, d.derive(d.models.lstm()), infinite_in_the_loop,
                                   dict(d.models.EXAMPLE_DIMS)).ok


def test_a_gradient_that_is_not_finite_beside_a_mask_of_minus_infinity_is_no_overflow(
        monkeypatch):
    """relu(W x + b + mask), a mask of −∞ given: forward's values are not all finite at any
    draw, and a wrong backward's ∞ was taken for an overflow and its draws passed over until
    one passed (found by a hunt). Inputs that are not finite are the user's, not an
    overflow: the gradients are judged."""
    g = d.Graph("masked")
    x, t = g.input("x", ("D", "N")), g.input("t", ("K", "N"))
    mask = g.input("mask", ("H", "N"), sample=lambda rng, shape: np.where(
        np.arange(shape[0])[:, None] == shape[0] - 1, -np.inf, np.zeros(shape)))
    h = d.relu((g.param("W1", ("H", "D")) @ x + g.param("b1", ("H", 1)) + mask).named("z"))
    g.loss(d.squared_error(g.param("W2", ("K", "H")) @ h.named("h"), t))
    der = d.derive(g)
    assert d.gradcheck(der, MLP_DIMS).ok
    report = gradcheck_of_mutant(monkeypatch, der, ("delta_z = delta_h * step(z)",
                                                    "delta_z = delta_h * step(z) * z / z"),
                                 MLP_DIMS)
    assert not report.ok and report.draw == 0


def test_a_backward_that_writes_its_cache_cannot_pass_its_nan_off_as_an_overflow(monkeypatch):
    """Found by a hunt: values were judged finite after backward had run, so one that wrote
    NaN into its cache had its draws passed over as overflows. They are read before."""
    edit = ("    delta_out = scale * out_minus_label\n",
            "    delta_out = scale * out_minus_label\n    out_minus_label[...] = np.nan\n")
    report = gradcheck_of_mutant(monkeypatch, d.derive(d.models.mlp()), edit, MLP_DIMS)
    assert not report.ok and report.draw == 0


def test_a_curved_entry_makes_only_its_own_parameter_take_finer_steps(monkeypatch):
    """u¹⁰⁰⁰ needs steps finer than 1e-3; the finer step was taken for every parameter, which
    widened every other one's floor 100×, and a term 10⁻⁹ Σ c² whose gradient was dropped
    passed (found by a hunt). Each parameter takes its own step."""
    power = d.elementwise("power", lambda u: u**1000)
    g = d.Graph("g")
    x, t = g.input("x", ("D", "N")), g.input("t", ("K", "N"))
    h = power(g.param("V", ("H", "D")) @ x + g.param("b", ("H", 1)))
    c = g.param("c", ("K", 1))
    g.loss(d.squared_error(d.sigmoid(g.param("W", ("K", "H")) @ h), t) + 1e-9 * d.sum(c * c))
    der = d.derive(g)
    assert d.gradcheck(der, {**MLP_DIMS, "H": 4}).ok
    line = next(line for line in d.to_numpy(der).splitlines()
                if line.startswith("    delta_c = "))
    report = gradcheck_of_mutant(monkeypatch, der, (line, "    delta_c = 0 * params['c']"),
                                 MLP_DIMS)
    assert not report.ok


def wiggled():
    """W x + c to a target, and Σ wiggle(A x), whose kinks lie closer than gradcheck's finest
    step: A's entries cannot be differenced at any draw."""
    wiggle = d.elementwise("wiggle", lambda u: sp.Abs(sp.sin(10**6 * u)) / 10**6 + u**2)
    g = d.Graph("wiggled")
    x, t = g.input("x", ("D", "N")), g.input("t", ("K", "N"))
    out = g.param("W", ("K", "D")) @ x + g.param("c", ("K", 1))
    g.loss(d.squared_error(out, t) + d.sum(wiggle(g.param("A", ("H", "D")) @ x)))
    return d.derive(g)


def test_a_kink_in_every_step_of_one_parameter_hides_no_fault_in_another(monkeypatch):
    """Found by a hunt: a draw where one parameter's entries had a kink within every step was
    thrown away whole, so W's doubled gradient beside it ended as "a kink within a step" like
    the right module's. The other parameters are judged; a fault among them is a failure, and
    where they agree the error names the parameter that could not be judged."""
    with pytest.raises(d.DeriveError, match="21 of 21 draws put a kink within a step of 1e-05 "
                                            "of an entry of A; W, c agreed at draw 0"):
        d.gradcheck(wiggled(), MLP_DIMS)
    report = gradcheck_of_mutant(monkeypatch, wiggled(), ("    delta_W = delta_t1 @ x.T",
                                                          "    delta_W = 2 * delta_t1 @ x.T"),
                                 MLP_DIMS)
    assert not report.ok and report.errors["W"] > 0.4 and report.unjudged == ("A",)
    assert "A  not judged: a kink within every step at every draw" in str(report)


def test_progress_never_goes_back_and_tells_the_total_once():
    """A step of 0.3 crosses relu's kinks: finer steps and fresh draws go over entries again,
    and progress(done, total) went back to where each started (found by a hunt)."""
    g = d.Graph("relu")
    x, t = g.input("x", ("D", "N")), g.input("t", ("K", "N"))
    g.loss(d.squared_error(g.param("W", ("K", "H")) @ d.relu(g.param("V", ("H", "D")) @ x), t))
    told = []
    report = d.gradcheck(d.derive(g), MLP_DIMS, eps=0.3, seed=1,
                         progress=lambda done, total: told.append((done, total)))
    assert report.ok and report.eps < 0.3  # (the kinks were crossed)
    done = [k for k, _ in told]
    total = 4 * 3 + 2 * 4
    assert done == sorted(set(done)) and done[-1] == total and {n for _, n in told} == {total}


def test_draws_passed_over_for_a_loss_that_is_not_finite_are_not_called_kinks():
    """Found by a hunt: a draw taken after ones whose loss overflowed said the draws before it
    crossed kinks, of a function that has none."""
    report = GradcheckReport({"W": 1e-9}, 1e-6, 1e-3, 0, draw=5, undefined=5)
    assert str(report).endswith("draw 5: the loss, or a value it is made of, was not finite "
                                "at the draws before it)")
    report.undefined = 2
    assert str(report).endswith("draw 5: of the draws before it, 2 had a loss, or a value it "
                                "is made of, that is not finite and 3 crossed kinks)")
    report.undefined = 0
    assert str(report).endswith("draw 5: the draws before it crossed kinks)")
    der = d.derive(through(d.log))  # log(W x): NaN wherever W x has a negative entry
    checked = d.gradcheck(der, {"D": 3, "K": 1, "N": 2})
    assert checked.ok and checked.draw == checked.undefined > 0


@pytest.mark.parametrize("formula, message", [
    (lambda u: sp.Float(1e308) * sp.Float(1e308) * u, "is too large for float64"),
    (lambda u: sp.log(-1) * u, "is not real"),
    (lambda u: u * (u - u)**-1, "is infinite or undefined"),
])
def test_constants_that_numpy_cannot_hold_are_refused_when_defined(formula, message):
    with pytest.raises(ValueError, match=message):
        d.elementwise("bad", formula)


def test_a_user_function_may_call_another_by_its_formula():
    """Found by a hunt: outer(u) = inner(u) + u was derived and printed, then the module
    could not name inner (a KeyError); inner's formula is written into outer's."""
    inner = d.elementwise("inner", lambda u: u**3)
    outer = d.elementwise("outer", lambda u: inner.scalar(u) + u)
    u = sp.Symbol("u")
    assert outer.definition(u) == u**3 + u
    check_grads(through(outer), lambda p, i: squared_error((p["W"] @ i["x"]) ** 3
                                                           + p["W"] @ i["x"], i["t"]))


def test_a_constant_formula_is_its_value_at_every_entry():
    """Found by a hunt: phi(u) = 2/3 (sympy simplifies u − (u − 1) to 1 on its own) returned
    the number 2/3, so Σ phi(z) over 3×4 entries came out 2/3, not 8, and gradcheck said ok."""
    phi = d.elementwise("two_thirds", lambda u: sp.Rational(2, 3))
    g = d.Graph("constant")
    z = (g.param("W", ("H", "D")) @ g.input("x", ("D", "N"))).named("z")
    g.loss(d.sum(phi(z)))
    module = d.compile_numpy(d.derive(g))
    params, x = module.init_params({"H": 3, "D": 2}), np.ones((2, 4))
    assert module.forward(params, {"x": x})[0] == pytest.approx(8.0, rel=1e-15)


def test_constants_of_a_formula_are_python_floats():
    """Found by a hunt: u + σ(1) called the sigmoid helper on the number 1 (a TypeError in
    the module), and u·log 2 made float32 values float64 (numpy's np.log(2) is a float64),
    as (2^u)′ = 2^u log 2 made float32 gradients float64."""
    for name, formula in (("shifted", lambda u: u + d.sigmoid.scalar(1)),
                          ("scaled", lambda u: u * sp.log(2)), ("power", lambda u: 2**u)):
        f = d.elementwise(name, formula)
        module = d.compile_numpy(d.derive(through(f)))
        params = module.init_params({"K": 2, "D": 3}, dtype="float32")
        inputs = {"x": np.ones((3, 4), np.float32), "t": np.zeros((2, 4), np.float32)}
        loss, cache = module.forward(params, inputs)
        x = params["W"].astype(np.float64) @ inputs["x"]
        value = {"shifted": x + 1 / (1 + np.exp(-1.0)), "scaled": x * np.log(2),
                 "power": 2**x}[name]
        assert loss == pytest.approx(0.5 * np.sum(value**2), rel=1e-5)
        assert module.predict(params, inputs).dtype == np.float32
        assert module.backward(params, cache)["W"].dtype == np.float32


def test_a_piecewise_slope_of_numbers_keeps_float32():
    """Found by a hunt: the README's leaky relu, Piecewise((u, u > 0), (u/10, True)), has the
    slope np.select(…, [1, 1/10]), float64 whatever the arrays: float32 gradients came out
    float64, and adam refused them."""
    leaky = d.elementwise("leaky", lambda u: sp.Piecewise((u, u > 0), (u / 10, True)))
    module = d.compile_numpy(d.derive(through(leaky)))
    params = module.init_params({"K": 2, "D": 3}, dtype="float32")
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    inputs = {"x": x, "t": np.zeros((2, 4), np.float32)}
    grads = module.gradients(params, inputs)[1]
    assert grads["W"].dtype == np.float32
    z = params["W"].astype(np.float64) @ inputs["x"]
    slope = np.where(z > 0, 1.0, 0.1)
    np.testing.assert_allclose(grads["W"], (np.where(z > 0, z, z / 10) * slope) @ inputs["x"].T,
                               rtol=1e-5)
    module.adam_step(params, inputs, module.optimizer_state(params))


# --- 6. the unstable forms people write are evaluated stably --------------------------------

def stable_sigmoid(v):
    return anp.exp(-anp.logaddexp(0.0, -v))


@pytest.mark.parametrize("name, formula, twin", [
    ("swish", lambda u: u / (1 + sp.exp(-u)), lambda v: v * stable_sigmoid(v)),
    ("mish", lambda u: u * sp.tanh(sp.log(1 + sp.exp(u))),
     lambda v: v * anp.tanh(anp.logaddexp(0.0, v))),
    ("logistic", lambda u: sp.exp(u) / (1 + sp.exp(u)), stable_sigmoid),
    ("log_sigmoid", lambda u: sp.log(1 / (1 + sp.exp(-u))), lambda v: -anp.logaddexp(0.0, -v)),
    # found by a hunt: written with 1.0, or as the log of e^u/(1 + e^u), they were not found
    ("swish_float", lambda u: u / (1.0 + sp.exp(-u)), lambda v: v * stable_sigmoid(v)),
    ("softplus_float", lambda u: sp.log(1.0 + sp.exp(u)), lambda v: anp.logaddexp(0.0, v)),
    ("log_logistic", lambda u: sp.log(sp.exp(u) / (1 + sp.exp(u))),
     lambda v: -anp.logaddexp(0.0, -v)),
])
def test_unstable_forms_stay_finite_far_out(name, formula, twin):
    f = d.elementwise(name, formula)
    graph = through(f)
    check_grads(graph, lambda p, i: squared_error(twin(p["W"] @ i["x"]), i["t"]))
    module = d.compile_numpy(d.derive(graph))
    params = {"W": np.array([[1.0, 0, 0], [0, -1.0, 0]])}
    inputs = {"x": np.array([[-800.0, 800.0], [800.0, -800.0], [0.0, 0.0]]),
              "t": np.zeros((2, 2))}
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, cache = module.forward(params, inputs)
        grads = module.backward(params, cache)
    assert np.isfinite(loss) and np.isfinite(grads["W"]).all()


# --- 7. every name and function prints in LaTeX that compiles ------------------------------

def test_gelu_and_mish_print_in_latex(tmp_path):
    g = d.Graph("smooth")
    x, t = g.input("x", ("D", "N")), g.input("t", ("K", "N"))
    gelu = d.elementwise("gelu", lambda u: u / 2 * (1 + sp.tanh(sp.sqrt(2 / sp.pi) * (u + 0.044715 * u**3))))
    mish = d.elementwise("mish", lambda u: u * sp.tanh(sp.log(1 + sp.exp(u))))
    h = gelu((g.param("W", ("H", "D")) @ x).named("z")).named("h")
    g.loss(d.squared_error(mish((g.param("V", ("K", "H")) @ h).named("y")), t))
    der = d.derive(g)
    pdflatex(der.to_latex(standalone=True), tmp_path)
    pdflatex("\\documentclass{article}\\usepackage{amsmath,amssymb}\\begin{document}\n"
             + der.explain(latex=True) + "\\end{document}\n", tmp_path)


def test_names_that_would_print_alike_print_apart(tmp_path):
    g = d.Graph("alike")
    x, t = g.input("x", ("D", "N")), g.input("t", ("K", "N"))
    a = (g.param("W1", ("H", "D")) @ x).named("a1")
    b = (g.param("W_1", ("H", "D")) @ x).named("a_1")
    h = d.tanh(a + b).named("hscr")
    g.loss(d.squared_error(g.param("alpha", ("K", "H")) @ h + g.param("_b", ("K", 1)), t))
    tex = d.derive(g).to_latex(standalone=True)
    assert r"\mathrm{W1}" in tex and r"\mathrm{W\_1}" in tex
    assert r"\alpha" in tex and r"\mathrm{hscr}" in tex and r"\mathscr" not in tex
    pdflatex(tex, tmp_path)


# --- 8. one set of equations for every output -----------------------------------------------

def test_the_generated_lstm_says_what_the_equations_say():
    der = d.derive(d.models.lstm())
    module = d.to_numpy(der)
    docstring = module.split('"""')[1]
    equations = [line.split("#")[0].rstrip() for line in str(der).splitlines()]
    per_step = [eq for eq in equations if "_t " in eq.split("=")[0]]
    assert per_step and all(f"    {eq}\n" in docstring for eq in per_step)
    assert "    δh_t = W_yᵀ δy_t + U_fᵀ δz_f_{t+1} + U_gᵀ δz_g_{t+1}" in docstring


# --- 9. a node read only times 0 passes on no δ -------------------------------------------

def test_a_node_read_only_times_zero_passes_on_no_delta():
    """out = z + 0·sqrt(relu(z)) is out = z: δz = δout, not δout + 0 ⊙ 1/(2·0) = NaN where
    z < 0 (the NaN went into every parameter with the loss finite, past sgd_step's guard).
    autograd gives the same NaN (0·∞), so central differences and the graph without the
    term are the oracles."""
    def graph(dropped):
        g = d.Graph("zero")
        x, label = g.input("x", ("D", "N")), g.input("label", ("H", "N"))
        z = (g.param("W", ("H", "D")) @ x).named("z")
        out = (z + 0 * d.sqrt(d.relu(z))).named("out") if dropped else z
        g.loss(d.squared_error(out, label))
        return g
    mod, plain = d.compile_numpy(d.derive(graph(True))), d.compile_numpy(d.derive(graph(False)))
    params = {"W": np.array([[-1.0, -1.0], [1.0, 2.0]])}  # z < 0 in its first row
    inputs = {"x": np.array([[1.0, 2.0, 0.5], [3.0, 1.0, 1.0]]), "label": np.zeros((2, 3))}
    loss, grads = mod.gradients(params, inputs)
    assert loss == plain.gradients(params, inputs)[0]
    np.testing.assert_array_equal(grads["W"], plain.gradients(params, inputs)[1]["W"])
    eps, W = 1e-6, params["W"]
    numerical = np.zeros_like(W)
    for k in np.ndindex(W.shape):
        step = np.zeros_like(W)
        step[k] = eps
        numerical[k] = (mod.forward({"W": W + step}, inputs)[0]
                        - mod.forward({"W": W - step}, inputs)[0]) / (2 * eps)
    np.testing.assert_allclose(grads["W"], numerical, rtol=1e-7)
    assert "sqrt" not in str(d.derive(graph(True))).split("δout")[1]  # no δ through it


def test_a_delta_left_to_broadcasting_in_one_equation_is_stretched_in_the_next():
    """s = Σ (v + b) + Σ max(−0.2, exp(U x)), E = s²: δs 1ᵀ broadcast inside δt1's product
    was then printed 1×1 in δb = Σ_cols δs 1ᵀ, which summed one column: δb was δs, not N δs
    (the printer kept what broadcasting may stretch from one equation to the next)."""
    g = d.Graph("g")
    x, v = g.input("x", (3, "N")), g.input("v", (1, "N"))
    U, b = g.param("U", (1, 3)), g.param("b", (1, 1))
    s = d.sum(v + b) + d.sum(d.maximum(-0.2, d.exp(U @ x)))
    g.loss(s * s)

    def reference(p, i):
        s = anp.sum(i["v"] + p["b"]) + anp.sum(anp.maximum(-0.2, anp.exp(p["U"] @ i["x"])))
        return s * s
    check_grads(g, reference, dims={"N": 3})


def test_a_fractional_power_of_a_scalar_is_taken_entrywise():
    """exp(w x)^1.5 of 1×1 values: sympy writes f′ there as a matrix power, which numpy
    refused for 1/2 (and took for a matrix product for whole powers)."""
    g = d.Graph("scalars")
    x, t, w = g.input("x", (1, 1)), g.input("t", (1, 1)), g.param("w", (1, 1))
    g.loss(d.squared_error(d.exp(w * x) ** 1.5, t))
    assert "matrix_power" not in d.to_numpy(g)
    check_grads(g, lambda p, i: squared_error(anp.exp(p["w"] * i["x"]) ** 1.5, i["t"]), dims={})


@pytest.mark.parametrize("clamp, twin", [
    (lambda s: d.maximum(0.3, s), lambda s: anp.maximum(0.3, s)),
    (lambda s: d.minimum(0.3, s), lambda s: anp.minimum(0.3, s))], ids=["max", "min"])
def test_a_scalar_clamped_by_a_constant_first_derives(clamp, twin):
    """max(c, s) of a 1×1 s: its slope 1[s − c ≥ 0] was a plain Heaviside, which sympy
    evaluated on the 1×1 matrix and refused (TypeError inside d.derive)."""
    g = d.Graph("scalars")
    x, t, w = g.input("x", (1, 1)), g.input("t", (1, 1)), g.param("w", (1, 1))
    g.loss(d.squared_error(clamp(w * x), t))
    check_grads(g, lambda p, i: squared_error(twin(p["w"] * i["x"]), i["t"]), dims={})


# --- 10. a function is spelled by derive, whatever its name -------------------------------

@pytest.mark.parametrize("name, build, twin", [
    ("maximum", lambda x: d.tanh(d.maximum(x, 0.3)), lambda x: anp.tanh(anp.maximum(x, 0.3))),
    ("minimum", lambda x: d.sigmoid(d.minimum(0.3, x)), lambda x: sigmoid(anp.minimum(0.3, x))),
    ("sinc", lambda x: d.elementwise("sinc", lambda u: u ** 2 / 2)(x), lambda x: x ** 2 / 2),
    ("gamma", lambda x: d.elementwise("gamma", lambda u: 3 * u)(d.relu(x)),
     lambda x: 3 * anp.maximum(x, 0.0))])
def test_a_function_named_like_a_numpy_printer_method_is_printed_as_itself(name, build, twin):
    """tanh(max(x, 0.3)) of an input is one folded function, whose max sympy's numpy printer
    spelled by its own `_print_maximum`, dropping the constant: tanh(x), a wrong loss and
    gradient; a user function named sinc or gamma became numpy's."""
    g = d.Graph("g")
    x, label = g.input("x", ("D", "N")), g.input("label", ("D", "N"))
    W = g.param("W", ("D", "D"))
    g.loss(d.squared_error(W @ x + build(x), label))
    check_grads(g, lambda p, i: squared_error(p["W"] @ i["x"] + twin(i["x"]), i["label"]))


def test_a_chain_of_forty_scalings_derives_and_checks():
    """−(2(−(2 … (W x)))): each folded scaling nested the δ one level deeper, and sympy
    worked a nest's shape out in time doubling with each level (24 took 36 s; found by a
    hunt). Now the scalings merge as they fold: (−2)²⁰ W x."""
    g = d.Graph("scalings")
    x, t = g.input("x", ("D", "N")), g.input("t", ("K", "N"))
    z = g.param("W", ("K", "D")) @ x
    for k in range(40):
        z = -z if k % 2 else z * 2
    g.loss(d.squared_error(z, t))
    check_grads(g, lambda p, i: squared_error((-2.0) ** 20 * (p["W"] @ i["x"]), i["t"]))


def test_gradcheck_judges_the_gradients_sgd_step_takes(monkeypatch):
    """sgd_step seeds backward with δE = lr, which every δ carries; gradcheck called backward
    with δE = 1 alone, so a module whose δ dropped its scale (`scale *` lost)
    passed `derive check` and trained with steps of the wrong size (found by a hunt
    mutating the module)."""
    report = gradcheck_of_mutant(monkeypatch, d.derive(d.models.mlp()),
                                 ("delta_out = scale * out_minus_label", "delta_out = out_minus_label"),
                                 {"D": 3, "H": 4, "K": 2, "N": 5})
    assert not report.ok


def test_a_parameter_sgd_step_moves_before_its_last_use_fails_the_check(monkeypatch):
    """sgd_step moves each parameter as soon as its gradient is made: one moved before a
    statement that still reads it (W2 before δh = W2ᵀ δz2) makes every gradient below
    wrong, though backward's returned gradients are right. gradcheck judges the moves."""
    der = d.derive(d.models.mlp())
    source = d.to_numpy(der)
    start = source.index("    # δh = W2ᵀ δz2\n")
    move = '    delta_W2 = moved(moving, "W2", delta_W2)\n'
    end = source.index(move) + len(move)
    block = source[start:end]
    too_soon = '    moved(moving, "W2", delta_z2 @ h.T)\n' + block.replace(move, "")
    assert d.gradcheck(der, MLP_DIMS).ok
    assert not gradcheck_of_mutant(monkeypatch, der, (block, too_soon), MLP_DIMS).ok


def test_a_float_constant_keeps_every_digit_it_was_given():
    """Found by a hunt: constants went through sympy's 15 digits, so P·π had the gradient
    3.14159265358979 (7 ulps off), and P·(1 + 2⁻⁵²) − P became exactly 0. Each is the float
    it was given, and prints as that decimal."""
    for written in (lambda P: P * math.pi, d.elementwise("times_pi", lambda u: u * math.pi)):
        g = d.Graph("constant")
        g.loss(d.sum(written(g.param("P", (1, 1)))))
        der = d.derive(g)
        assert "3.141592653589793" in str(der) + d.to_numpy(der)
        module = d.compile_numpy(der)
        params = {"P": np.ones((1, 1))}
        assert module.backward(params, module.forward(params, {})[1])["P"][0, 0] == math.pi
    g = d.Graph("next_after_one")
    P = g.param("P", (1, 1))
    g.loss(d.sum(P * 1.0000000000000002 - P))
    module = d.compile_numpy(d.derive(g))
    assert module.forward({"P": np.ones((1, 1))}, {})[0] == 2.0**-52


def test_a_numpy_scale_keeps_a_float32_module_float32():
    """Found by a hunt: backward(…, scale=np.float64(0.5)) made the weight decay's δ of ones,
    scale · 𝟏, float64 (numpy 2 does not let a numpy scalar adapt), and the gradient with it."""
    g = d.Graph("decayed")
    x, t = g.input("x", ("D", "N")), g.input("t", ("K", "N"))
    W = g.param("W", ("K", "D"))
    g.loss(d.squared_error(W @ x, t) + 0.01 * d.sum(W * W))
    module = d.compile_numpy(d.derive(g))
    params = module.init_params({"D": 3, "K": 2}, dtype="float32")
    inputs = {"x": np.ones((3, 4), np.float32), "t": np.zeros((2, 4), np.float32)}
    cache = module.forward(params, inputs)[1]
    assert module.backward(params, cache, scale=np.float64(0.5))["W"].dtype == np.float32


def test_a_constant_is_written_in_the_code_as_exactly_its_float():
    """Found by a hunt: 1e-23 was kept as 1/10²³, which the code divided by the float 10²³,
    an ulp off; 1e-300 needed an integer no float holds (an internal error). The first is
    now exact, the second refused by name."""
    g = d.Graph("tiny")
    g.loss(1e-23 * d.sum(g.param("P", (1, "M"))))
    module = d.compile_numpy(d.derive(g))
    params = {"P": np.ones((1, 3))}
    assert np.all(module.backward(params, module.forward(params, {})[1])["P"] == 1e-23)
    with pytest.raises(ValueError, match=r"the constant 1e-300 is too small for derive"):
        1e-300 * d.sum(d.Graph("tinier").param("P", (1, "M")))


def test_a_users_step_and_a_max_of_four_read_and_derive(tmp_path):
    """Found by a hunt of today's changes: u·Heaviside(u), its step now held at ½, crashed
    the LaTeX printer; a Max of four arguments with a Min inside took minutes to define."""
    for formula in (lambda u: u * sp.Heaviside(u),
                    lambda u: sp.Max(sp.Min(u, 1), sp.Min(2 * u, 3), -u, u / 2 - 2)):
        der = d.derive(through(d.elementwise("f", formula)))
        assert "H(" in str(der) or "Max" in d.to_numpy(der)
        pdflatex(d.latex.to_latex(der, standalone=True), tmp_path)
