"""Attention and layer normalization: the built-in models against autograd twins written
from the papers' formulas, layer norm's compact δ against the rule-by-rule one in numbers,
the same models as model files, and the mistakes a user can make with them."""

import re
from pathlib import Path

import autograd.numpy as anp
import numpy as np
import pytest
import sympy as sp

import derive as d
from derive.codegen import called_helpers, module_names
from derive.display import joined
from derive.gradcheck import random_inputs
from derive.modelfile import load
from derive.printers.numpy_code import NumpyCodePrinter
from derive.rendering import render
from derive.worked_values import random_values
from helpers import check_grads, squared_error

DIMS = {"D": 4, "T": 5, "d_k": 3, "D_ff": 6, "H": 4, "K": 2, "N": 5}
MODELS = Path(__file__).parent / "models"
EPS = 1e-5


# --- the formulas, in autograd.numpy --------------------------------------------------------

def layer_norm(x):
    centred = x - anp.mean(x, axis=0, keepdims=True)
    return centred / anp.sqrt(anp.mean(centred ** 2, axis=0, keepdims=True) + EPS)


def softmax(z):
    e = anp.exp(z - anp.max(z, axis=0, keepdims=True))
    return e / anp.sum(e, axis=0, keepdims=True)


def attention(p, X, mask=0.0):
    Q, K, V = p["W_q"] @ X, p["W_k"] @ X, p["W_v"] @ X
    return V @ softmax(K.T @ Q / anp.sqrt(Q.shape[0]) + mask)


def block(p, X, mask=0.0):
    H1 = p["gamma1"] * layer_norm(X + attention(p, X, mask)) + p["beta1"]
    F = anp.maximum(p["W1"] @ H1 + p["b1"], 0.0)
    return p["gamma2"] * layer_norm(H1 + p["W2"] @ F + p["b2"]) + p["beta2"]


def causal_mask(T):
    """0 where key i ≤ query j (column j attends to rows i ≤ j), −∞ elsewhere."""
    return np.where(np.arange(T)[:, None] <= np.arange(T)[None, :], 0.0, -np.inf)


# --- gradients -------------------------------------------------------------------------------

def test_layer_norm_mlp():
    def loss(p, i):
        a = p["gamma"] * layer_norm(p["W1"] @ i["x"] + p["b1"]) + p["beta"]
        out = p["W2"] @ anp.maximum(a, 0.0) + p["b2"]
        return squared_error(out, i["label"])
    check_grads(d.models.layer_norm_mlp(), loss, dims=DIMS)


def test_attention():
    check_grads(d.models.attention(), lambda p, i: squared_error(attention(p, i["X"]),
                                                                 i["label"]), dims=DIMS)


def test_transformer_block():
    check_grads(d.models.transformer_block(), lambda p, i: squared_error(block(p, i["X"]),
                                                                         i["label"]), dims=DIMS)


def test_causal_transformer_block_with_a_mask_of_zeros_and_minus_infinity():
    graph = d.models.causal_transformer_block()
    rng = np.random.default_rng(1)
    T, D = DIMS["T"], DIMS["D"]
    inputs = {"X": rng.normal(size=(D, T)), "label": rng.normal(size=(D, T)),
              "mask": causal_mask(T)}
    module, params, _, grads = check_grads(
        graph, lambda p, i: squared_error(block(p, i["X"], i["mask"]), i["label"]),
        dims=DIMS, inputs=inputs)
    _, cache = module.forward(params, inputs)
    assert np.all(cache["A"][causal_mask(T) < 0] == 0)  # no query sees a later key
    assert np.allclose(cache["A"].sum(axis=0), 1)


def test_the_causal_mask_is_drawn_causal_where_derive_draws_values():
    """Gradient checks and worked examples drew the mask as N(0, 1) noise, so the default
    worked example had queries weigh later keys, and nothing said so (found by a hunt): the
    input says how it is drawn, 0 on and above the diagonal, −10⁹ below."""
    der = d.derive(d.models.causal_transformer_block())
    mask = random_inputs(der, {**DIMS, "T": 4}, np.random.default_rng(0))["mask"]
    assert np.array_equal(mask == 0, causal_mask(4) == 0) and np.all(mask[mask != 0] == -1e9)
    sizes = {"D": 2, "D_ff": 3, "T": 3, "d_k": 2}
    worked = der.worked(*random_values(der, d.compile_numpy(der), sizes, seed=0))
    assert np.all(worked.value("A")[causal_mask(3) < 0] == 0) and worked.agrees
    with pytest.raises(d.GraphError, match="sample must be a function"):
        d.Graph("g").input("mask", ("T", "T"), sample="causal")


# --- the compact form of layer norm's δ ----------------------------------------------------------

def equation_values(der, params, inputs):
    """Every value and δ of `der`, from its equations one by one as the generated module
    spells them, in that module's namespace (its helpers)."""
    module, names = d.compile_numpy(der), module_names(der)
    printer = NumpyCodePrinter(names)
    forward = {names.value(k): printer.doprint(e) for k, e in der.forward.items()}
    backward = {names.delta(k): joined(printer, [t.expr for t in der.terms[k]])
                for k in der.deltas if k != der.loss}
    # the helpers these call, defined as the module defines them (the module itself may call
    # fewer: it sums its loss as a number)
    space = {"np": np}
    exec(render("_helpers.py.j2", helpers=called_helpers(der, names, printer.helpers)), space)
    sizes = module.dimensions(params, inputs)
    space.update({names.dimension(str(k)): sizes[str(k)] for k in der.dims})
    space.update({names.value(k): v for k, v in {**params, **inputs}.items()})
    for name, code in {**forward, **backward}.items():
        space[name] = eval(code, space)
    return space, names


@pytest.mark.parametrize("model", ["layer_norm_mlp", "transformer_block"])
def test_the_compact_layer_norm_delta_equals_the_rule_by_rule_one(model):
    der = d.derive(getattr(d.models, model)())
    assert der.compact, "the equations give layer norm's δ in compact form"
    module = d.compile_numpy(der)
    params = module.init_params(DIMS, seed=3, scheme="normal")
    space, names = equation_values(der, params, random_inputs(der, DIMS,
                                                             np.random.default_rng(3)))
    for name, compact in der.compact.items():
        by_rules = space[names.delta(name)]
        written = eval(joined(NumpyCodePrinter(names), compact.terms), space)
        assert np.allclose(written, by_rules, rtol=1e-10, atol=1e-12), name
        assert np.abs(by_rules).max() > 1e-3  # not two zeros


def test_the_compact_form_is_shown_beside_the_rules():
    text = str(d.derive(d.models.layer_norm_mlp()))
    assert "δz = z_s ⊙ (δz_hat − z_hat ⊙ (1/H Σ_rows (δz_hat ⊙ z_hat)) − 1/H Σ_rows δz_hat)" \
        "   # layer norm, compact form" in text
    assert "δz = δz_c + 1/H (−Σ_rows δz_c)" in text  # the rules' own, first


def test_a_node_that_also_feeds_elsewhere_keeps_its_other_terms_in_the_compact_form():
    g = d.Graph("g")
    x, label = g.input("x", ("D", "N")), g.input("label", ("D", "N"))
    z = (g.param("W", ("D", "D")) @ x).named("z")
    g.loss(d.squared_error(d.layer_norm(z).named("z_hat") + d.tanh(z), label))
    der = d.derive(g)
    form = der.compact["z"]
    assert len(form.terms) == 2
    params = d.compile_numpy(der).init_params(DIMS, seed=0, scheme="normal")
    space, names = equation_values(der, params, random_inputs(der, DIMS,
                                                             np.random.default_rng(0)))
    assert np.allclose(eval(joined(NumpyCodePrinter(names), form.terms), space),
                       space[names.delta("z")], rtol=1e-10, atol=1e-12)


# --- the same models as model files -------------------------------------------------------------

@pytest.mark.parametrize("model", ["layer_norm_mlp", "attention", "transformer_block",
                                   "causal_transformer_block"])
def test_model_files_are_the_builtin_models(model):
    from_file, builtin = d.derive(load(MODELS / f"{model}.bp")), d.derive(
        getattr(d.models, model)())
    assert str(from_file) == str(builtin)
    assert d.to_numpy(from_file) == d.to_numpy(builtin)


def test_the_generated_softmax_is_shifted_and_finite_for_large_scores():
    der = d.derive(d.models.attention())
    module = d.compile_numpy(der)
    params = module.init_params(DIMS, seed=0, scheme="normal")
    params["W_q"] *= 1e4  # scores of order 1e4·1e4: exp would overflow unshifted
    inputs = random_inputs(der, DIMS, np.random.default_rng(0))
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow is fine
        loss, cache = module.forward(params, inputs)
        grads = module.backward(params, cache)
    assert np.isfinite(loss) and all(np.isfinite(g).all() for g in grads.values())


def _predicting(name, output):
    """The module of a graph whose loss is squared_error(output(x), t): its predict is
    output(x)."""
    g = d.Graph(name)
    x, t = g.input("x", ("H", "N")), g.input("t", ("H", "N"))
    g.loss(d.squared_error(output(g, x).named("out"), t))
    return d.compile_numpy(d.derive(g))


@pytest.mark.parametrize("dtype, low, high", [(np.float32, 3e4, 1e7), (np.float64, 1e13, 1e16)])
def test_a_column_of_equal_entries_normalises_to_zero_as_a_row_centres_to_zero(dtype, low, high):
    """x − mean(x) is 0 where every entry is equal (found by a hunt: one pass left the mean's
    rounding, an ulp of a large entry, which σ² + ε made ±0.93). Entries of every mantissa,
    in columns of every height; and centred across each row."""
    normalised = _predicting("equal", lambda g, x: g.param("gamma", ("H", 1)) * d.layer_norm(x))
    centred = _predicting("across", lambda g, x: x - d.mean(x, axis=1))
    rng = np.random.default_rng(0)
    for H in range(2, 40):
        v = rng.uniform(low, high, size=(1, 40)) * rng.choice([-1, 1], size=(1, 40))
        x = np.repeat(v, H, axis=0).astype(dtype)  # H×40, each column equal entries
        x_hat = normalised.predict({"gamma": np.ones((H, 1), dtype)}, {"x": x})
        assert not x_hat.any(), (H, v[0, np.flatnonzero(x_hat.any(axis=0))[:1]])
        assert not centred.predict({}, {"x": x.T}).any(), H  # 40×H, each row equal entries


# --- mistakes -----------------------------------------------------------------------------------

def test_layer_norm_of_one_row_is_refused():
    g = d.Graph("g")
    with pytest.raises(d.ShapeError, match="1 row, so x − μ is identically 0"):
        d.layer_norm(g.input("x", (1, "N")))


@pytest.mark.parametrize("eps", [0, -1e-5])
def test_layer_norm_needs_a_positive_eps(eps):
    g = d.Graph("g")
    with pytest.raises(d.GraphError, match="eps must be positive"):
        d.layer_norm(g.input("x", ("D", "N")), eps=eps)


def test_layer_norm_takes_eps_by_position_or_keyword_and_says_how_to_call_it():
    def equations(**how):
        g = d.Graph("g")
        x, label = g.input("x", ("D", "N")), g.input("label", ("D", "N"))
        z = (g.param("W", ("D", "D")) @ x).named("z")
        g.loss(d.squared_error(d.layer_norm(z, *how.get("given", ()), **how.get("named", {})),
                               label))
        return str(d.derive(g))
    assert equations(given=(1e-3,)) == equations(named={"eps": 1e-3})
    assert "sqrt(1/D Σ_rows z_c² + 1/1000)" in equations(given=(1e-3,))
    assert "+ 1/100000)" in equations()  # the default, 1e-5
    g = d.Graph("g")
    with pytest.raises(TypeError, match=r"layer_norm\(z, eps=1e-05\)"):
        d.layer_norm(g.input("x", ("D", "N")), 1e-3, eps=1e-3)


def test_scores_of_activations_whose_shapes_do_not_fit_name_both():
    g = d.Graph("g")
    K, Q = g.input("K", ("d_k", "T")), g.input("Q", ("D", "T"))
    with pytest.raises(d.ShapeError, match="Kᵀ is T×d_k, Q is D×T"):
        K.T @ Q


@pytest.mark.parametrize("scale, column, error", [
    ("X / (D - D)", 7, "division by zero"),
    ("X / log(D)", 7, "log(D) is not a finite non-zero real number for every size"),
    ("X * sqrt(-D)", 9, "complex"),
    ("X / sqrt(d_k)", 14, "unknown name 'd_k'"),  # a dimension no shape declares
])
def test_a_model_file_scales_by_a_constant_of_its_dimensions_or_says_where_it_cannot(
        scale, column, error, tmp_path):
    path = tmp_path / "bad.bp"
    path.write_text(f"input X[D, T], label[D, T]\nZ = {scale}\n"
                    "loss = squared_error(Z, label)\n")
    with pytest.raises(d.ModelFileError, match=rf"bad.bp:2:{column}: .*{re.escape(error)}"):
        load(path)


def test_the_generated_code_computes_the_compact_form_and_not_the_terms_it_replaces():
    """The tests above check the block's gradients through this code: the compact δ is what
    runs, and the rule-by-rule δs of the centred value and the scale are not computed."""
    code = d.to_numpy(d.derive(d.models.transformer_block()))
    for r in ("R1", "R2"):  # s ⊙ (δx̂ − x̂ ⊙ mean(δx̂ ⊙ x̂) − mean δx̂), multiplied in place
        assert f"delta_{r} = delta_{r}_hat - {r}_hat * " in code
        assert f"\n    delta_{r} *= {r}_s\n" in code
    assert "delta_R1_c" not in code and "delta_R1_s" not in code and "delta_t1" not in code


@pytest.mark.parametrize("reuse", ["z_c", "z_s"])
def test_no_compact_form_when_a_node_inside_the_layer_norm_is_used_outside(reuse):
    """δz_c (or δz_s) then has a term the textbook formula does not know: the rules' δz is
    the only one, and it is the one the code computes."""
    g = d.Graph("g")
    x, label = g.input("x", ("D", "N")), g.input("label", ("D", "N"))
    z = (g.param("W", ("D", "D")) @ x).named("z")
    z_hat = d.layer_norm(z).named("z_hat")
    g.loss(d.squared_error(z_hat + d.tanh(g[reuse]), label))
    der = d.derive(g)
    assert not der.compact
    assert d.gradcheck(der, DIMS).ok


def test_a_constant_with_a_dimension_no_shape_has_is_an_error():
    g = d.Graph("g")
    x, (Q,) = g.input("x", ("D", "N")), d.dims("Q")
    g.loss(d.squared_error((g.param("W", ("D", "D")) @ x) / sp.sqrt(Q), x))
    with pytest.raises(d.GraphError, match="uses the dimension Q, which no shape in the graph"):
        d.derive(g)


def test_a_model_file_gives_eps_once(tmp_path):
    path = tmp_path / "twice.bp"
    path.write_text("input x[D, N]\nparam W[D, D]\nz = W @ x\n"
                    "loss = squared_error(layer_norm(z, 1e-3, eps=1e-3), x)\n")
    with pytest.raises(d.ModelFileError, match="twice.bp:4:42: layer_norm is given eps twice"):
        load(path)


def test_a_model_files_own_names_win_over_the_names_layer_norm_gives(tmp_path):
    path = tmp_path / "names.bp"
    path.write_text("input x[D, N]\nparam W[2*D, D]\nz = W @ x\nz_hat = layer_norm(z)\n"
                    "z_c, z_s = split(z_hat, 2)\nloss = squared_error(z_c + z_s, x)\n")
    text = str(d.derive(load(path)))
    assert "t1 = z − 1/(2·D) Σ_rows z" in text and "z_c = z_hat[0:D]" in text
