"""derive's generated training step timed against independent AD systems.

Run from the project root:

    python -m derive.bench_peers           # full run, a few minutes
    python -m derive.bench_peers --quick   # smoke run: tiny sizes, one round

Each workload (`WORKLOADS`) is one float64 SGD step, forward + backward + in-place update
p ← p − lr·δp with lr = 1e-3, of a model that derive builds into numpy (`compile_numpy`).
The peers (`PEERS`) run the same step, each written from the math rather than from derive's
output: autograd (`value_and_grad` of an autograd.numpy loss, the update in numpy), PyTorch
eager (CPU, float64, `loss.backward()`, the update under `no_grad`) and `jax.jit` (float64,
CPU, `lax.scan` over time for the LSTM). A peer that cannot be imported is skipped, and the
run says so and how to install it.

Before any timing every peer takes one step from the same starting parameters as the
generated step and must give the same loss (rtol 1e-9) and the same updated parameters
(rtol 1e-9, atol 1e-12); a mismatch raises AssertionError naming the peer, the workload and
the parameter. Then the steps are timed in alternation over several rounds (derive, each
peer, derive, …), each measurement a run of consecutive steps from the starting parameters
lasting about 5 ms (short turns, so a drift in the machine's speed hits all alike), and the
minimum ms per step is kept. Ratios are peer time / derive
time, so > 1 means derive is faster. Targets: jax.jit / derive ≥ 1.0 and autograd / derive
≥ 3; torch eager is a reference column. Timings are only printed, never asserted.
"""

import argparse
import os
from importlib.metadata import version
import timeit
from collections import namedtuple
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Callable

import numpy as np

from . import functions, models
from .bench_hand import hand_deep_step, hand_lstm_step, hand_step
from .bench_timing import fastest_ms
from .codegen import compile_numpy
from .derivation import derive

LR = 1e-3
CHECK_LR = 0.1   # the check's step: large, so each update stands well above rounding
RTOL, ATOL = 1e-9, 1e-12
TARGETS = "jax.jit / derive ≥ 1.0, autograd / derive ≥ 3, torch eager for reference"

# The few array operations a peer's loss needs, from that peer's own library.
Ops = namedtuple("Ops", "sigmoid tanh sum")


# ---- the math, written once for any array library (not read off derive's output) ----

def dense_loss(activations, ops, p, inputs):
    """½ Σ (out − label)² of dense layers h ← act(W_k h + b_k), k = 1, 2, …, one example a
    column; an activation of None leaves that layer linear."""
    h = inputs["x"]
    for k, act in enumerate(activations, 1):
        h = p[f"W{k}"] @ h + p[f"b{k}"]
        if act is not None:
            h = getattr(ops, act)(h)
    r = h - inputs["label"]
    return 0.5 * ops.sum(r * r)


def lstm_cell(ops, p, h, c, x):
    """One LSTM step: gates z = W x_t + U h_{t−1} + b; c_t = f c_{t−1} + i g, h_t = o tanh c_t."""
    def z(gate):
        return p[f"W_{gate}"] @ x + p[f"U_{gate}"] @ h + p[f"b_{gate}"]
    i, f, o = ops.sigmoid(z("i")), ops.sigmoid(z("f")), ops.sigmoid(z("o"))
    c = f * c + i * ops.tanh(z("g"))
    return o * ops.tanh(c), c


def lstm_output_loss(ops, p, h, label):
    """½ Σ (W_y h_t + b_y − label_t)², one step's share of the loss."""
    r = p["W_y"] @ h + p["b_y"] - label
    return 0.5 * ops.sum(r * r)


def lstm_loss_unrolled(ops, p, inputs):
    """Σ_t of the step losses, by a Python loop over time: how eager libraries run an RNN."""
    h, c, loss = inputs["h0"], inputs["c0"], 0.0
    for t in range(inputs["x"].shape[0]):
        h, c = lstm_cell(ops, p, h, c, inputs["x"][t])
        loss = loss + lstm_output_loss(ops, p, h, inputs["label"][t])
    return loss


def lstm_loss_scan(ops, p, inputs):
    """Σ_t of the step losses by `jax.lax.scan`: one compiled loop body, as jax users write it."""
    from jax import lax

    def body(carry, xs):
        h, c = lstm_cell(ops, p, *carry, xs[0])
        return (h, c), lstm_output_loss(ops, p, h, xs[1])

    _, losses = lax.scan(body, (inputs["h0"], inputs["c0"]), (inputs["x"], inputs["label"]))
    return ops.sum(losses)


# ---- the workloads: adding one touches only this table ----

def deep_tanh_mlp():
    """`models.deep_mlp` with 8 tanh hidden layers (a named function, so derive runs once)."""
    return models.deep_mlp(8, activation=functions.tanh)


def dense_inputs(dims, rng):
    """x ~ N(0, 1) (D×N) and labels uniform in [0, 1) (K×N), reachable by a sigmoid."""
    return {"x": rng.normal(size=(dims["D"], dims["N"])),
            "label": rng.random((dims["K"], dims["N"]))}


def lstm_inputs(dims, rng):
    """Sequences x (T×D×N) and labels (T×K×N) ~ N(0, 1), zero initial states h0, c0 (H×N)."""
    T, N, H = dims["T"], dims["N"], dims["H"]
    return {"x": rng.normal(size=(T, dims["D"], N)), "label": rng.normal(size=(T, dims["K"], N)),
            "h0": np.zeros((H, N)), "c0": np.zeros((H, N))}


def same_loss(loss, **overrides):
    """The loss each peer (by key) runs: `loss` for all, but for the `overrides`."""
    return {"autograd": loss, "torch": loss, "jax": loss, **overrides}


@dataclass(frozen=True)
class Workload:
    """One benchmarked training step: derive's model, its sizes (full and --quick), how to
    make its inputs, and the loss function each peer differentiates (by peer key)."""
    name: str
    build: Callable
    dims: dict
    quick_dims: dict
    make_inputs: Callable
    losses: dict = field(repr=False)
    hand: Callable = None  # the best hand-written numpy step, (params, inputs, lr) -> E

    def sizes(self, quick):
        return self.quick_dims if quick else self.dims


def dense_step(step):
    """A hand-written dense step, step(params, x, label, lr), taking the inputs as a dict."""
    return lambda params, inputs, lr: step(params, inputs["x"], inputs["label"], lr)


def lstm_step(params, inputs, lr):
    return hand_lstm_step(params, inputs["x"], inputs["label"], inputs["h0"], inputs["c0"], lr)


SEED_MLP_LOSS = same_loss(partial(dense_loss, ("sigmoid", "sigmoid")))
DEEP_TANH_LOSS = same_loss(partial(dense_loss, ("tanh",) * 8 + (None,)))
LSTM_LOSS = same_loss(lstm_loss_unrolled, jax=lstm_loss_scan)

WORKLOADS = (
    Workload("seed mlp", models.mlp, {"D": 64, "H": 128, "K": 10, "N": 32},
             {"D": 4, "H": 5, "K": 3, "N": 6}, dense_inputs, SEED_MLP_LOSS,
             dense_step(hand_step)),
    Workload("seed mlp", models.mlp, {"D": 784, "H": 1024, "K": 10, "N": 256},
             {"D": 6, "H": 7, "K": 2, "N": 8}, dense_inputs, SEED_MLP_LOSS,
             dense_step(hand_step)),
    Workload("deep tanh mlp ×8", deep_tanh_mlp, {"D": 256, "H": 256, "K": 10, "N": 64},
             {"D": 3, "H": 4, "K": 2, "N": 5}, dense_inputs, DEEP_TANH_LOSS,
             dense_step(hand_deep_step)),
    Workload("lstm", models.lstm, {"H": 128, "D": 64, "K": 10, "N": 32, "T": 50},
             {"H": 5, "D": 4, "K": 3, "N": 2, "T": 3}, lstm_inputs, LSTM_LOSS, lstm_step),
    Workload("lstm", models.lstm, {"H": 32, "D": 16, "K": 10, "N": 8, "T": 20},
             {"H": 3, "D": 2, "K": 2, "N": 2, "T": 2}, lstm_inputs, LSTM_LOSS, lstm_step),
)


# ---- runners: one SGD step each, resettable, readable ----

@dataclass(frozen=True)
class Runner:
    """A training step under test. `step(lr)` takes one step and returns the loss before it;
    `reset()` puts the starting parameters back (outside the timing, so every measurement
    starts alike and long runs cannot drift into divergence); `read()` gives the current
    parameters as numpy arrays, for the check."""
    step: Callable
    reset: Callable
    read: Callable


def copy_params(params):
    """Private float64 copies, so no runner's in-place update reaches another's start."""
    return {k: np.array(v, dtype=np.float64) for k, v in params.items()}


def restore(params, start):
    """Overwrite the numpy `params` in place with `start`: the arrays the step holds stay."""
    for k, v in start.items():
        np.copyto(params[k], v)


@lru_cache(maxsize=None)
def generated_module(build):
    """derive's numpy module for a model builder; cached, as workloads share models."""
    return compile_numpy(derive(build()))


def derive_runner(mod, start, inputs):
    """The generated `sgd_step`, updating its own copy of `start` in place."""
    return numpy_runner(mod.sgd_step, start, inputs)


def numpy_runner(step, start, inputs):
    """A numpy step(params, inputs, lr) updating its own copy of `start` in place: the
    generated one, or the best hand-written one (the ceiling numpy code can reach)."""
    params = copy_params(start)
    return Runner(lambda lr: step(params, inputs, lr), partial(restore, params, start),
                  lambda: params)


def autograd_runner(autograd, loss, start, inputs):
    """autograd's value and gradient of the loss, then the update in numpy, in place."""
    anp = autograd.numpy
    ops = Ops(lambda z: 0.5 * (anp.tanh(0.5 * z) + 1.0), anp.tanh, anp.sum)  # stable sigmoid
    value_and_grad = autograd.value_and_grad(lambda p: loss(ops, p, inputs))
    params = copy_params(start)

    def step(lr):
        value, grads = value_and_grad(params)
        for k, g in grads.items():
            params[k] -= lr * g
        return float(value)

    return Runner(step, partial(restore, params, start), lambda: params)


def torch_runner(torch, loss, start, inputs):
    """PyTorch eager on the CPU in float64: `backward()`, the update under `no_grad`, and the
    gradients dropped (set to None) rather than zeroed, as `zero_grad` does by default."""
    ops = Ops(torch.sigmoid, torch.tanh, torch.sum)
    params = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True)
              for k, v in start.items()}
    tensors = {k: torch.from_numpy(np.asarray(v, dtype=np.float64)) for k, v in inputs.items()}

    def step(lr):
        value = loss(ops, params, tensors)
        value.backward()
        torch_sgd_(torch, params.values(), lr)
        return value.item()

    def reset():
        with torch.no_grad():
            for k, v in params.items():
                v.copy_(torch.from_numpy(start[k]))

    return Runner(step, reset, lambda: {k: v.detach().numpy() for k, v in params.items()})


def torch_sgd_(torch, params, lr):
    """p ← p − lr·δp for each tensor, in place under no_grad; the gradients are dropped
    rather than zeroed (the next backward makes them afresh)."""
    with torch.no_grad():
        for v in params:
            v.sub_(v.grad, alpha=lr)
            v.grad = None


def jax_runner(jax, loss, start, inputs):
    """One jitted function (params, inputs, lr) → (loss, new params) on the CPU in float64;
    the old parameters' buffers are donated to the new ones, as a training loop would."""
    jnp = jax.numpy
    ops = Ops(jax.nn.sigmoid, jnp.tanh, jnp.sum)
    cpu = jax.devices("cpu")[0]

    @partial(jax.jit, donate_argnums=0)
    def sgd(params, data, lr):
        value, grads = jax.value_and_grad(lambda p: loss(ops, p, data))(params)
        return value, jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads)

    data = jax.device_put(inputs, cpu)
    state = {}

    def step(lr):
        value, state["params"] = jax.block_until_ready(sgd(state["params"], data, lr))
        return float(value)

    def reset():
        state["params"] = jax.device_put(copy_params(start), cpu)

    reset()
    return Runner(step, reset, lambda: {k: np.asarray(v) for k, v in state["params"].items()})


# ---- the peers ----

def load_autograd():
    """autograd and its numpy wrapper (ImportError when absent)."""
    import autograd
    import autograd.numpy  # noqa: F401  (autograd.numpy is a submodule)
    return autograd


def load_torch():
    """PyTorch (ImportError when absent)."""
    import torch
    return torch


def load_jax():
    """jax with float64 switched on (process-wide: it must precede any jax array)."""
    import jax
    jax.config.update("jax_enable_x64", True)
    return jax


@dataclass(frozen=True)
class Peer:
    """An AD system: its key into `Workload.losses`, its column heading, how to install it,
    how to import it (ImportError when absent), and how to build its runner."""
    key: str
    heading: str
    install: str
    load: Callable
    runner: Callable

    def describe(self, lib):
        """The library's version, and for torch its thread count, for the heading."""
        text = f"{self.key} {version(self.key)}"
        if self.key == "torch":
            count = lib.get_num_threads()
            text += f" on {count} thread{'s' * (count != 1)}"
        return text


PEERS = (
    Peer("autograd", "autograd", "pip install autograd", load_autograd, autograd_runner),
    Peer("torch", "torch", "pip install torch", load_torch, torch_runner),
    Peer("jax", "jax.jit", "pip install jax jaxlib", load_jax, jax_runner),
)


def load_peers(peers):
    """{peer key: library} for the peers that import, and the peers that do not."""
    found, skipped = {}, []
    for peer in peers:
        try:
            found[peer.key] = peer.load()
        except ImportError:
            skipped.append(peer)
    return found, skipped


# ---- check, then time ----

def describe(workload, quick=False):
    """A workload's row label: its name and the sizes it runs at."""
    sizes = workload.sizes(quick)
    return f"{workload.name} " + " ".join(f"{k}={v}" for k, v in sizes.items())


def check_peer(where, who, reference, peer):
    """Fail loudly unless `peer` and `reference` (derive's runner), from the same starting
    parameters, give the same loss and the same updated parameters after one step."""
    reference.reset()
    peer.reset()
    want, got = reference.step(CHECK_LR), peer.step(CHECK_LR)
    if not np.isclose(got, want, rtol=RTOL, atol=0.0):
        raise AssertionError(f"{who} on {where}: loss {got!r}, derive's {want!r}")
    wanted, have = reference.read(), peer.read()
    for name, value in wanted.items():
        if not np.allclose(have[name], value, rtol=RTOL, atol=ATOL):
            worst = np.max(np.abs(np.asarray(have[name]) - value))
            raise AssertionError(f"{who} on {where}: updated parameter {name} differs from "
                                 f"derive's (largest difference {worst:.3g})")
    reference.reset()
    peer.reset()


def best_ms(runners, rounds, number=None):
    """{who: minimum ms per step}, timed in alternation (`fastest_ms`), each turn from the
    starting parameters."""
    return fastest_ms({who: timeit.Timer(partial(r.step, LR), setup=r.reset)
                       for who, r in runners.items()}, rounds, number)


def run_workload(workload, libs, quick, rounds, number):
    """Check every available peer against the generated step on `workload`, then time them:
    {who: ms per step}, with "derive" among them."""
    sizes = workload.sizes(quick)
    mod = generated_module(workload.build)
    start = mod.init_params(sizes, 0)
    inputs = workload.make_inputs(sizes, np.random.default_rng(1))
    runners = {"derive": derive_runner(mod, start, inputs)}
    if workload.hand is not None:
        runners["hand"] = numpy_runner(workload.hand, start, inputs)
        check_peer(describe(workload, quick), "hand-written", runners["derive"], runners["hand"])
    for peer in PEERS:
        if peer.key in libs:
            runner = peer.runner(libs[peer.key], workload.losses[peer.key], start, inputs)
            check_peer(describe(workload, quick), peer.heading, runners["derive"], runner)
            runners[peer.key] = runner
    return best_ms(runners, rounds, number)


# ---- report ----

def ratio_cell(peer, skipped, times):
    """A peer's column: peer ms / derive ms, or why it is missing."""
    if peer in skipped:
        return f"not installed ({peer.install})"
    return f"{times[peer.key] / times['derive']:.2f}"


def print_heading(libs, skipped, quick, rounds):
    found = [peer.describe(libs[peer.key]) for peer in PEERS if peer.key in libs]
    print(f"Training step (forward + backward + SGD update, lr = {LR:g}) in float64 on the "
          f"CPU: derive's generated numpy against independent AD systems, each first checked "
          f"to give derive's loss and updated parameters (rtol {RTOL:g}, atol {ATOL:g}). "
          f"Ratio = peer time / derive time (> 1: derive is faster); minimum over {rounds} "
          f"alternating rounds{' (quick: tiny sizes)' if quick else ''}. "
          f"Targets: {TARGETS}.")
    print(f"Machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the "
          f"start (other work slows the threaded BLAS most); numpy {np.__version__}; "
          f"{', '.join(found)}.")
    print("Skipped: " + (", ".join(f"{p.key} (not installed: {p.install})" for p in skipped)
                         or "none") + ".\n")


def print_tables(results, skipped, quick):
    """The ratio table the targets read, then every system's own ms per step."""
    print("| workload | derive (ms) | " + " | ".join(f"{p.heading} / derive" for p in PEERS) + " |")
    print("|---|---:|" + "---:|" * len(PEERS))
    for workload, times in results:
        cells = " | ".join(ratio_cell(p, skipped, times) for p in PEERS)
        print(f"| {describe(workload, quick)} | {times['derive']:.3f} | {cells} |")
    print("\nms per step, with the best hand-written numpy step (`bench_hand`), the most numpy "
          "code can do:\n")
    print("| workload | derive | hand-written | " + " | ".join(p.heading for p in PEERS) + " |")
    print("|---|---:|---:|" + "---:|" * len(PEERS))
    for workload, times in results:
        cells = " | ".join("–" if p in skipped else f"{times[p.key]:.3f}" for p in PEERS)
        hand = f"{times['hand']:.3f}" if "hand" in times else "–"
        print(f"| {describe(workload, quick)} | {times['derive']:.3f} | {hand} | {cells} |")
    print()


def bench_peers(quick=False, workloads=WORKLOADS):
    """Check, time and print every workload against every installed peer; `quick` uses tiny
    sizes, one round and two steps a measurement (a smoke run for CI). Returns the results,
    [(workload, {who: ms per step})]."""
    rounds, number = (1, 2) if quick else (60, None)
    libs, skipped = load_peers(PEERS)
    print_heading(libs, skipped, quick, rounds)
    results = [(w, run_workload(w, libs, quick, rounds, number)) for w in workloads]
    print_tables(results, skipped, quick)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m derive.bench_peers",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one round")
    bench_peers(quick=parser.parse_args(argv).quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
