"""The generated module: deterministic, readable, numpy-only and numerically sound."""

import ast
import inspect
import os
import subprocess
import sys
import warnings
from pathlib import Path

import autograd.numpy as anp
import numpy as np
import sympy as sp

import derive as d
from derive import models

from helpers import check_grads, unread

ROOT = Path(__file__).resolve().parent.parent


def test_the_same_graph_gives_byte_identical_code_in_any_process():
    program = "import derive as d; print(d.to_numpy(d.derive(d.models.{})), end='')"
    for model in ("mlp", "softmax_classifier", "deep_mlp"):
        outputs = {
            subprocess.run([sys.executable, "-c", program.format(model + "()")],
                           capture_output=True, text=True, check=True, cwd=ROOT,
                           env={**os.environ, "PYTHONHASHSEED": seed,
                                "PYTHONPATH": str(ROOT)}).stdout
            for seed in ("1", "2", "3")}
        assert len(outputs) == 1
        assert outputs == {d.to_numpy(d.derive(getattr(d.models, model)()))}


def test_the_module_imports_only_numpy():
    source = d.to_numpy(d.derive(_with_everything()))
    imports = [node for node in ast.walk(ast.parse(source))
               if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert [(alias.name, alias.asname) for node in imports for alias in node.names] == \
        [("numpy", "np")]


def test_one_statement_per_equation_under_its_equation_as_comment():
    der = d.derive(d.models.mlp())
    source = d.to_numpy(der)
    lines = source[source.index("def forward("):source.index("def predict(")].splitlines()
    equations = [*(("", n) for n in der.forward),
                 *(("delta_", n) for n in [*der.deltas, *der.gradients] if n != der.loss)]
    for prefix, name in equations:
        (at,) = [k for k, line in enumerate(lines) if line.startswith(f"    {prefix}{name} = ")
                 and not any(f"{source}[" in line for source in ("cache", "params", "inputs"))
                 and "moved(moving, " not in line]  # (sgd_step's move, after its equation)
        symbol = "δ" if prefix else ""
        assert lines[at - 1].startswith(f"    # {symbol}{name} = ")
    assert "    delta_h = W2.T @ delta_z2" in lines
    assert "    delta_W1 = delta_z1 @ x.T" in lines
    assert "    delta_b1 = sum_cols(delta_z1)" in lines


def test_a_scaled_sum_is_one_array_scaled_in_place():
    """δy = scale (y − label): the difference made once and scaled where it is, not a
    second array for the product."""
    source = d.to_numpy(d.derive(d.models.lstm()))
    assert "    delta_y_all = y_all - label_all\n    delta_y_all *= scale\n" in source
    source = d.to_numpy(d.derive(d.models.lenet()))
    assert "    delta_z3 = np.exp(log_softmax_z3) - t_\n    delta_z3 *= scale/N\n" in source


def test_a_difference_the_loss_reads_is_made_once_for_the_loss_and_its_delta():
    """E = ½ Σ (out − label)² and δout = out − label: forward names out − label once, the
    cache keeps it, and backward scales it rather than subtracting again."""
    source = d.to_numpy(d.derive(d.models.mlp()))
    assert "    # out − label, once: E reads it, and so does backward\n" \
           "    out_minus_label = out - label\n" in source
    assert "    E = np.vdot(out_minus_label, out_minus_label) / 2\n" in source
    assert "    # δout = out − label, times δE = scale\n" \
           "    delta_out = scale * out_minus_label\n" in source
    assert source.count("out - label") == 1


def test_a_difference_a_node_holds_is_read_from_it_by_the_loss_and_its_delta():
    """r = y − t is a node, and the loss ½ Σ (y − t)² and δy read y − t again: both read r
    (found by a review: forward made y − t a second time beside r)."""
    g = d.Graph("held")
    y = (g.param("W", ("K", "K")) @ g.input("o", ("K", "N"))).named("y")
    t = g.input("t", ("K", "N"))
    r = (y - t).named("r")
    g.loss(d.squared_error(y, t) + d.sum(d.tanh(r)))
    source = d.to_numpy(d.derive(g))
    assert source.count("y - t_") == 1
    assert "    E = np.sum(t1) + np.vdot(r, r) / 2\n" in source
    assert "    delta_y = scale * r\n" in source
    check_grads(g, lambda p, i: 0.5 * anp.sum((p["W"] @ i["o"] - i["t"]) ** 2)
                + anp.sum(anp.tanh(p["W"] @ i["o"] - i["t"])), dims={"K": 3, "N": 4})


def test_sgd_step_moves_each_parameter_after_its_last_use():
    """sgd_step takes each gradient off its parameter as soon as it is made; a parameter that
    a later statement reads (V in δW = V ⊙ …, a penalty Σ W ⊙ V), itself or through a view
    (Wᵀ, rows of W), moves only after it. check_grads judges the moves against autograd;
    here sgd_step itself is P − lr δP."""
    g = d.Graph("read_late")
    x, label = g.input("x", ("D", "N")), g.input("label", ("D", "N"))
    W, V = g.param("W", ("D", "D")), g.param("V", ("D", "D"))
    top = W[0:1].named("top")
    out = W.T.named("Wt") @ d.tanh(V @ x) + top.T @ (top @ x)
    g.loss(d.squared_error(out, label) + d.sum(W * V))

    def twin(p, i):
        top = p["W"][0:1]
        out = p["W"].T @ anp.tanh(p["V"] @ i["x"]) + top.T @ (top @ i["x"])
        return 0.5 * anp.sum((out - i["label"]) ** 2) + anp.sum(p["W"] * p["V"])

    module, params, inputs, grads = check_grads(g, twin, dims={"D": 3, "N": 4})
    stepped = {k: v.copy() for k, v in params.items()}
    module.sgd_step(stepped, inputs, 0.25)
    for name, grad in grads.items():
        np.testing.assert_allclose(stepped[name], params[name] - 0.25 * grad, rtol=1e-12)


def test_a_product_summed_with_more_is_built_in_its_own_array():
    """δc = δtanh_c ⊙ (1 − tanh_c²) + δc_{t+1} ⊙ f_{t+1}: 1 − tanh_c² is the array the
    others are multiplied and added into, not a temporary of a product made anew."""
    source = d.to_numpy(d.derive(d.models.lstm()))
    assert ("        delta_c = 1 - tanh_c**2\n        delta_c *= delta_tanh_c\n"
            "        delta_c += delta_c_prev\n") in source


def test_no_model_computes_what_it_does_not_read():
    """Fusion makes a gate's own rows, z_i = z_ifog[0:H], a block of the fused sum, and i a
    block of the fused sigmoid: nothing reads z_i then, and the module does not compute it
    (nor reads parameters its backward pass does not use)."""
    for name, build in models.BUILTIN.items():
        assert not unread(d.to_numpy(d.derive(build()))), name


def test_sigmoid_and_softmax_stay_finite_for_huge_inputs():
    for build in (d.models.mlp, d.models.softmax_classifier):
        module = d.compile_numpy(d.derive(build()))
        params = module.init_params({"D": 3, "H": 4, "K": 2})
        params = {k: 1e4 * v for k, v in params.items()}  # saturate everything
        x = np.array([[1e3, -1e3], [-1e3, 1e3], [5e2, -5e2]])
        data = {"x": x, "label": np.eye(2), "t": np.eye(2)}
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # an overflow warning would fail here
            loss, cache = module.forward(params, data)
            grads = module.backward(params, cache)
        assert np.isfinite(loss)
        assert all(np.all(np.isfinite(g)) for g in grads.values())


def test_user_function_and_its_derivative_become_readable_code():
    der = d.derive(_with_everything())
    source = d.to_numpy(der)
    assert "def phi(u):\n    \"\"\"phi(u) = u³/3 + 2*sigmoid(u)\"\"\"\n" in source
    assert "return (1/3)*u**3 + 2*sigmoid(u)" in source
    assert "def sigmoid(u):" in source  # phi needs it though no node is a sigmoid


def test_tracebacks_and_inspect_show_the_generated_lines():
    module = d.compile_numpy(d.derive(d.models.mlp()))
    assert "delta_h = W2.T @ delta_z2" in inspect.getsource(module.backward)


def _with_everything():
    g = d.Graph("everything")
    x, t = g.input("x", ("D", "N")), g.input("t", ("K", "N"))
    phi = d.elementwise("phi", lambda u: u**3 / 3 + 2 * d.sigmoid.scalar(u))
    z = (g.param("W", ("K", "D")) @ x).named("z")
    g.loss(d.squared_error(phi(z) + d.relu(z) * d.softplus(z), t))
    assert isinstance(sp.Symbol("u"), sp.Symbol)
    return g
