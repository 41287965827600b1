"""One helper for every gradient test: the generated backward pass against central
differences and against autograd on the same float64 numbers (HIPS autograd style)."""

import ast
import importlib

import autograd
import autograd.numpy as anp
import numpy as np

import derive as d
from derive.codegen import loaded, module_names, render_module
from derive.gradcheck import moves, random_inputs, relative_error, resolution, sgd_gradients

DIMS = {"D": 3, "H": 4, "K": 2, "N": 5}
TOLERANCE = 1e-6


class CentralDifferencesDisagree(AssertionError):
    """derive's gradients and central differences differ beyond the tolerance."""


def check_grads(graph, reference_loss, dims=DIMS, seed=0, inputs=None, eps=1e-3,
                differences=True):
    """Derive `graph`, then require of its generated module that
    - its loss equals `reference_loss(params, inputs)` (an independent autograd.numpy forward),
    - its gradients match central differences (derive.gradcheck), unless `differences` is
      False, and
    - its gradients match autograd's gradient of the reference, entry by entry, as backward
      returns them and as sgd_step moves the parameters by them, and
    - each gradient is an array of its own (the optimizers update them in place), and
    - its forward, backward and predict compute nothing they do not read.
    Returns the module, the parameters and inputs checked, and the gradients."""
    der = d.derive(graph)
    drawn = 0
    if differences:
        report = d.gradcheck(der, dims, seed=seed, inputs=inputs, eps=eps)
        if not report.ok:
            raise CentralDifferencesDisagree(f"central differences disagree:\n{report}")
        drawn = report.draw
    module = d.compile_numpy(der)
    assert not unread(module.__source__)
    params = module.init_params(dims, seed=seed + drawn, scheme="normal")
    if inputs is None:
        inputs = random_inputs(der, dims, np.random.default_rng([seed, drawn]))
    loss, cache = module.forward(params, inputs)
    grads = module.backward(params, cache)
    # a loss that cancels to 0 differs from its twin by roundoff squared (~1e-32), no more
    assert np.isclose(loss, reference_loss(params, inputs), rtol=1e-12, atol=1e-20)
    initial = [initial for _, initial in der.states.values()]  # h0, c0 of a recurrent net
    oracle = autograd_gradients(reference_loss, params, inputs, initial)
    assert grads.keys() == params.keys() | set(initial)
    assert_own_arrays(grads, params, inputs)
    # two analytic gradients differ by roundoff: a few ε_mach of the loss's scale, or, where
    # terms cancel, what autograd itself moves by when the parameters move by an ulp or two
    # (measured only when the first floor is not enough: it costs three more gradients)
    noise = None
    moved = sgd_gradients(module, params, inputs) if moves(module) else {}
    for name, grad in [*grads.items(), *moved.items()]:
        assert grad.shape == oracle[name].shape
        worst = np.max(relative_error(grad, oracle[name], resolution(loss, 1.0) / TOLERANCE))
        if worst >= TOLERANCE:
            noise = noise or roundoff(reference_loss, params, inputs, initial, oracle)
            tiny = max(resolution(loss, 1.0), 100 * noise[name]) / TOLERANCE
            worst = np.max(relative_error(grad, oracle[name], tiny))
        assert worst < TOLERANCE, f"autograd disagrees on {name}: rel. error {worst:.2e}"
    return module, params, inputs, grads


def gradcheck_of_mutant(monkeypatch, der, edit, dims):
    """gradcheck's report on `der` when the module it judges is derive's own with `edit`
    (old, new) made in its source: a fault it must catch."""
    gradcheck = importlib.import_module("derive.gradcheck")  # the module, not d.gradcheck
    right = d.to_numpy(der)
    wrong = right.replace(*edit)
    assert wrong != right
    monkeypatch.setattr(gradcheck, "compile_numpy", lambda der: loaded(wrong, der.graph.name))
    return gradcheck.gradcheck(der, dims)


def unread(source):
    """The names that a generated module's forward, backward or predict assigns and never
    reads, as (function, name): work done for nothing (fusion's z_i = z_ifog[0:H] beside
    i = i_f_o[0:H]). The dimensions predict is handed with its precision, a precision let go
    as `_` where no input is read (found by the random programs: dtype, unread), and a loop's
    counter are let be; so is a name for rows of a stack that are updated in place through
    it (`δt1 = np.subtract(1, t2, out=δ[z; t1][H:2H]); δt1 *= δt2`): that writes the stack."""
    found = []
    for function in ast.parse(source).body:
        if isinstance(function, ast.FunctionDef) and \
                function.name in ("forward", "backward", "predict"):
            nodes = list(ast.walk(function))
            names = [n for n in nodes if isinstance(n, ast.Name)]
            stored = {n.id for n in names if isinstance(n.ctx, ast.Store)}
            views = {a.targets[0].id for a in nodes
                     if isinstance(a, ast.Assign) and isinstance(a.value, ast.Call)
                     and any(k.arg == "out" for k in a.value.keywords)}
            updated = {n.target.id for n in nodes if isinstance(n, ast.AugAssign)}
            read = {n.id for n in names if isinstance(n.ctx, ast.Load)} | {"dims", "_"} | \
                {n.target.id for n in nodes if isinstance(n, ast.For)} | (views & updated)
            found += [(function.name, name) for name in sorted(stored - read)]
    return found


def assert_own_arrays(grads, params, inputs):
    """No gradient (of a parameter, or of an initial state h0) shares memory with another
    gradient, a parameter or an input: an optimizer's in-place update of one would change the
    other. And each can be updated in place at all (not a read-only np.broadcast_to view)."""
    others = {**{f"δ{k}": v for k, v in grads.items()}, **params,
              **{k: v for k, v in inputs.items() if isinstance(v, np.ndarray)}}
    for name in grads:
        assert grads[name].flags.writeable, f"δ{name} is read-only"
        for other, array in others.items():
            assert other == f"δ{name}" or not np.shares_memory(grads[name], array), \
                f"δ{name} shares its memory with {other}"


def loss_ulps_off(graph, reference_loss, dims, seed=0):
    """How many ulps the float64 loss at gradcheck's first draw is from the same loss in
    extended precision (numpy's longdouble). Central differences assume a few: where a
    cancellation is then amplified (log_softmax of large values, then 1/h), the loss carries
    hundreds, and no step of differences resolves its gradient to 10⁻⁶."""
    der = d.derive(graph)
    params = d.compile_numpy(der).init_params(dims, seed=seed, scheme="normal")
    inputs = random_inputs(der, dims, np.random.default_rng([seed, 0]))

    def extended(arrays):
        return {k: np.asarray(v, dtype=np.longdouble) for k, v in arrays.items()}
    with np.errstate(all="ignore"):
        plain = reference_loss(params, inputs)
        exact = reference_loss(extended(params), extended(inputs))
    return float(abs(plain - exact) / (np.finfo(np.float64).eps * abs(exact)))


def autograd_gradients(reference_loss, params, inputs, initial=()):
    """autograd's gradient of the loss for every parameter and every initial state."""
    gradients = autograd.grad(reference_loss)(params, inputs)
    by_input = autograd.grad(reference_loss, 1)(params, inputs) if initial else {}
    return {**gradients, **{k: v for k, v in by_input.items() if k in initial}}


def roundoff(reference_loss, params, inputs, initial, oracle, trials=3):
    """The float64 noise of autograd's own gradients: how far each moves, at most, when every
    parameter moves by a few ulps. Where terms cancel (a/a), a gradient that is 0 in exact
    arithmetic comes out as roundoff of the terms, far below the loss but far above 0."""
    rng = np.random.default_rng(0)
    eps = np.finfo(np.float64).eps
    noise = dict.fromkeys(oracle, 0.0)
    for _ in range(trials):
        moved = {k: v * (1 + 4 * eps * rng.uniform(-1, 1, np.shape(v))) for k, v in params.items()}
        again = autograd_gradients(reference_loss, moved, inputs, initial)
        noise = {k: max(noise[k], float(np.max(np.abs(again[k] - oracle[k])))) for k in noise}
    return noise


def sigmoid(z):
    return 1 / (1 + anp.exp(-z))


def squared_error(out, label):
    return 0.5 * anp.sum((out - label) ** 2)


def softmax_cross_entropy(z, t):
    shifted = z - anp.max(z, axis=0, keepdims=True)
    log_y = shifted - anp.log(anp.sum(anp.exp(shifted), axis=0, keepdims=True))
    return -anp.sum(t * log_y)


def as_written(graph):
    """The module with every pooling computed as the equations write it."""
    der = d.derive(graph)
    return loaded(render_module(der, module_names(der), pool_first=False), graph.name)
