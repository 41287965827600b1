"""Benchmarks: how derivation scales with depth, and how fast the generated code trains.

Run from the project root:

    python -m derive.bench           # full run, a few minutes
    python -m derive.bench --quick   # smoke run: small depths, few repeats
    python -m derive.bench --peers   # against autograd, PyTorch and jax.jit, where installed

It prints markdown tables:

1. Derivation of `models.deep_mlp(depth)`: wall time and `der.size()` per depth, and both
   divided by depth relative to the smallest depth. Linear scaling shows as ratios near 1.
2. One SGD step of feed-forward networks (`FEED_FORWARD`: the seed MLP at two sizes, a deep
   tanh MLP): the generated `sgd_step` against the best hand-written numpy step of the same
   math (sigmoid as 1/(1 + e^−u) in place, δ chains in place, lr folded into the small δs).
   The two are first checked to give the same loss and the same updated parameters, then
   timed in alternation (short turns, so a drift in the machine's speed hits both alike);
   each reported time is the fastest turn, in ms per step.
3. One SGD step of the LSTM at two sizes: generated against `hand_lstm_step` (the four gates
   as one GEMM, input projections and the output layer batched over time, δs in place,
   parameter gradients as one product over all steps), again checked to agree first.
4. One SGD step of `models.transformer_block()` (D=64, T=32, d_k=16, D_ff=256): the generated
   `sgd_step` against `hand_transformer_step`, a careful hand-written numpy step (stable
   in-place softmax, the compact layer-norm and softmax δs, every δ scaled by lr from the
   start), checked to agree first, timed in alternation like the MLP; and the time to derive
   the block.
5. One SGD step of `models.lenet()` (N=64 one-hot labels; 1×8×8 images, conv 3×3 to 4
   channels, relu, 2×2 max pooling, conv 3×3 stride 2 to 8 channels, relu, dense, mean
   softmax cross-entropy): the generated `sgd_step` against `hand_lenet_step`, careful
   hand-written im2col numpy (precomputed gather indices, one GEMM per convolution, col2im
   by a gather and adds, max-pool backward by comparison masks, lr folded into the δs),
   and against the same step in PyTorch on the CPU in float64 (autograd, SGD under
   `no_grad`) when `import torch` works — all three checked to agree first, timed in
   alternation; and the time to derive lenet. Without PyTorch its column says how to
   install it; `--quick` runs PyTorch on one thread (a loaded machine stalls its threads).
6. `bench_costs`: `to_numpy` against depth, the start-up of `derive codegen lstm` as a whole
   process, and the peak memory of the LSTM step against the hand-written one.
7. With `--peers`, `bench_peers`: the generated step against autograd, PyTorch eager and
   jax.jit on the same workloads, each peer checked to agree first, where installed.

Each step table also times a twin of the generated module whose input checks (shapes and
precision, targets that must be distributions) are answered in advance: the last column
says what the generated step costs beyond the checks the hand-written steps leave out.

Timings are only printed, never asserted: machines are noisy.
"""

import argparse
import time
import timeit
from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np

from . import models
from .bench_costs import bench_codegen, bench_memory, bench_startup
from .bench_hand import (hand_deep_step, hand_lenet_step, hand_lstm_step, hand_step,
                         hand_transformer_step)
from .bench_peers import bench_peers, torch_sgd_
from .bench_timing import fastest_ms, steady_allocator
from .codegen import compile_numpy, loaded
from .derivation import derive
from .functions import tanh
from .operations import OPS

TARGET = "derivation linear in depth (ratios ≈ 1)"
LR = 1e-3


def _interleaved(runs, rounds, number=None):
    """ms per step of each of `runs` (name → step), timed in alternation (`fastest_ms`)."""
    return fastest_ms({who: timeit.Timer(run) for who, run in runs.items()}, rounds, number)


def _heading(what, rounds, extra=""):
    """A step table's heading: what is timed, how, and the target."""
    return (f"SGD step of {what}, ms per step, the fastest of {rounds} interleaved rounds."
            f"{extra} Target: generated ≤ 1.0× the best hand-written.\n")


CHECKS = {helper.name for op in OPS.values() for helper in op.checks.values()}


def unchecked(mod, params, inputs):
    """A twin of the generated module `mod` whose checks are answered in advance for these
    arrays: the dimensions and precision `mod` finds, every checked input (targets that
    must be distributions) taken as it is, the learning rate in range, the parameters
    movable (writable, no two sharing memory) and the loss finite. It times what a step
    costs beyond checking what it is given, which the hand-written steps leave out."""
    twin = loaded(mod.__source__, "unchecked")
    dims, dtype = mod.shapes_checked(params, inputs)
    twin.shapes_checked = lambda *args, **kwargs: (dict(dims), dtype)
    twin.checked = lambda name, value, *args, **kwargs: value
    twin.movable = lambda loss, params: loss
    for name in CHECKS & set(vars(twin)):
        setattr(twin, name, lambda name, value: value)
    return twin


def _copied(params):
    return {k: v.copy() for k, v in params.items()}


def updating(step, inputs):
    """`step` (params, inputs, lr) -> E, which updates params in place, as `check_same_step`
    takes it: (params, lr) -> (E, the updated params)."""
    return lambda params, lr: (step(params, inputs, lr), params)


def check_same_step(what, mod, params, inputs, others, lr=0.1):
    """Fail loudly unless the generated step and each of `others` (who → step(params, lr),
    given a copy of `params`, returning E and the updated parameters) give the same loss and
    the same updated parameters: float64, and a large lr so that every update shows."""
    generated = _copied(params)
    loss = mod.sgd_step(generated, inputs, lr)
    for name in mod.PARAMS:
        if np.array_equal(generated[name], params[name]):
            raise AssertionError(f"{what}: {name} was not updated")
    for who, step in others.items():
        their_loss, updated = step(_copied(params), lr)
        if not np.isclose(loss, their_loss, rtol=1e-10):
            raise AssertionError(f"{what}: losses differ: generated {loss!r}, "
                                 f"{who} {their_loss!r}")
        for name in mod.PARAMS:
            if not np.allclose(generated[name], updated[name], rtol=1e-10, atol=1e-12):
                raise AssertionError(f"{what}: updated {name} differs between generated and "
                                     f"{who}")


def _steps(mod, hand, params, inputs, lr):
    """The three steps a table compares, each on its own copy of `params`: the generated
    one, the same without its input checks, and the hand-written one (given params,
    inputs, lr)."""
    copies = [_copied(params) for _ in range(3)]
    return {"generated": partial(mod.sgd_step, copies[0], inputs, lr),
            "unchecked": partial(unchecked(mod, params, inputs).sgd_step, copies[1], inputs, lr),
            "hand": partial(hand, copies[2], inputs, lr)}


HEADER = "generated (ms) | hand-written (ms) | generated / hand | without input checks / hand"


def _ratios(ms):
    """The cells after a table's sizes: the two times and the two ratios to hand-written."""
    g, h = ms["generated"], ms["hand"]
    digits = 3 if h < 10 else 2
    return f"{g:.{digits}f} | {h:.{digits}f} | {g / h:.2f} | {ms['unchecked'] / h:.2f}"


def bench_derivation(depths, repeats):
    derive(models.deep_mlp(2))  # warm sympy's caches before timing
    rows = []
    for depth in depths:
        times, size = [], None
        for _ in range(repeats):
            graph = models.deep_mlp(depth)
            start = time.perf_counter()
            size = derive(graph).size()
            times.append(time.perf_counter() - start)
        rows.append((depth, min(times), size))
    base_depth, base_time, base_size = rows[0]
    print(f"Derivation of deep_mlp(depth), min of {repeats}. Target: {TARGET}.\n")
    print(f"| depth | derive (s) | size | (time/depth) / (time/depth)@{base_depth} "
          f"| (size/depth) / (size/depth)@{base_depth} | ms per added layer "
          f"| size per added layer |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    previous = rows[0]
    for depth, seconds, size in rows:
        time_ratio = (seconds / depth) / (base_time / base_depth)
        size_ratio = (size / depth) / (base_size / base_depth)
        added = depth - previous[0]  # marginal cost since the row above: constant if linear
        marginal = (f"{1e3 * (seconds - previous[1]) / added:.2f} | {(size - previous[2]) / added:.1f}"
                    if added else "– | –")
        print(f"| {depth} | {seconds:.3f} | {size} | {time_ratio:.2f} | {size_ratio:.2f} "
              f"| {marginal} |")
        previous = (depth, seconds, size)
    print()


@dataclass(frozen=True)
class Workload:
    """A network, its sizes, and the hand-written step the generated one is measured against."""

    name: str
    model: Callable     # () -> Graph
    dims: dict
    hand: Callable      # (params, x, label, lr) -> E, updating params in place


FEED_FORWARD = (
    Workload("seed MLP", models.mlp, {"D": 64, "H": 128, "K": 10, "N": 32}, hand_step),
    Workload("seed MLP", models.mlp, {"D": 784, "H": 1024, "K": 10, "N": 256}, hand_step),
    Workload("deep tanh MLP 8×256", partial(models.deep_mlp, 8, tanh),
             {"D": 256, "H": 256, "K": 10, "N": 64}, hand_deep_step),
)


def _problem(mod, dims, seed=0):
    rng = np.random.default_rng(seed + 1)
    params = mod.init_params(dims, seed)
    return params, {"x": rng.normal(size=(dims["D"], dims["N"])),
                    "label": rng.random((dims["K"], dims["N"]))}


def bench_training(rounds, workloads=FEED_FORWARD):
    print(_heading("feed-forward networks", rounds))
    print(f"| network | sizes | {HEADER} |")
    print("|---|---|---:|---:|---:|---:|")
    modules = {}
    for workload in workloads:
        if workload.model not in modules:
            modules[workload.model] = compile_numpy(derive(workload.model()))
        mod = modules[workload.model]
        params, inputs = _problem(mod, workload.dims)
        hand = lambda p, inputs, lr, step=workload.hand: step(p, inputs["x"], inputs["label"], lr)
        check_same_step(workload.name, mod, params, inputs,
                        {"hand-written": updating(hand, inputs)})
        ms = _interleaved(_steps(mod, hand, params, inputs, LR), rounds)
        sizes = " ".join(f"{k}={v}" for k, v in workload.dims.items())
        print(f"| {workload.name} | {sizes} | {_ratios(ms)} |")
    print()


LSTM_SIZES = ({"D": 64, "H": 128, "K": 10, "N": 32, "T": 50},
              {"D": 16, "H": 32, "K": 10, "N": 8, "T": 20})
LSTM_LR = 1e-6  # small enough that repeated steps stay in the ordinary (non-saturated) regime


def _lstm_problem(mod, dims, seed=0):
    rng = np.random.default_rng(seed)
    inputs = {"x": rng.normal(size=(dims["T"], dims["D"], dims["N"])),
              "label": rng.normal(size=(dims["T"], dims["K"], dims["N"])),
              "h0": rng.normal(size=(dims["H"], dims["N"])),
              "c0": rng.normal(size=(dims["H"], dims["N"]))}
    return mod.init_params(dims, seed, scheme="normal"), inputs


def _hand_lstm(params, inputs, lr):
    return hand_lstm_step(params, inputs["x"], inputs["label"], inputs["h0"], inputs["c0"], lr)


def bench_lstm(rounds, sizes=LSTM_SIZES):
    """The generated LSTM training step against `hand_lstm_step`, after checking they agree."""
    start = time.perf_counter()
    mod = compile_numpy(derive(models.lstm()))
    derive_s = time.perf_counter() - start
    print(_heading("the LSTM", rounds))
    print(f"| H | D | K | N | T | {HEADER} |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for dims in sizes:
        params, inputs = _lstm_problem(mod, dims)  # nonzero initial states: every update shows
        check_same_step("LSTM", mod, params, inputs,
                        {"hand-written": updating(_hand_lstm, inputs)})
        ms = _interleaved(_steps(mod, _hand_lstm, params, inputs, LSTM_LR), rounds)
        print(f"| {dims['H']} | {dims['D']} | {dims['K']} | {dims['N']} | {dims['T']} "
              f"| {_ratios(ms)} |")
    print(f"\nDeriving and compiling the LSTM takes {derive_s:.2f} s.\n")


TRANSFORMER_DIMS = {"D": 64, "T": 32, "d_k": 16, "D_ff": 256}


def _transformer_problem(mod, seed=0):
    rng = np.random.default_rng(seed + 1)
    dims = TRANSFORMER_DIMS
    inputs = {"X": rng.normal(size=(dims["D"], dims["T"])),
              "label": rng.normal(size=(dims["D"], dims["T"]))}
    return mod.init_params(dims, seed), inputs


def bench_transformer(rounds):
    """The generated transformer-block step against `hand_transformer_step`, after checking
    they agree; then the time to derive the block."""
    start = time.perf_counter()
    der = derive(models.transformer_block())
    derive_s = time.perf_counter() - start
    mod = compile_numpy(der)
    params, inputs = _transformer_problem(mod)
    check_same_step("transformer", mod, params, inputs,
                    {"hand-written": updating(hand_transformer_step, inputs)})
    ms = _interleaved(_steps(mod, hand_transformer_step, params, inputs, LR), rounds)
    dims = TRANSFORMER_DIMS
    print(_heading("the transformer block", rounds))
    print(f"| D | T | d_k | D_ff | {HEADER} |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {dims['D']} | {dims['T']} | {dims['d_k']} | {dims['D_ff']} | {_ratios(ms)} |")
    print(f"\nDeriving the transformer block takes {derive_s:.2f} s.\n")


LENET_N = 64
LENET_SIZES = (8, LENET_N, 256)  # a step's fixed costs show at the small batch


def _import_torch():
    """PyTorch, or None when it is not installed (it is optional: the benchmark's column)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


_TORCH_SHAPES = {"K1": (4, 1, 3, 3), "b1": (4,), "K2": (8, 4, 3, 3), "b2": (8,),
                 "W3": (10, 32), "b3": (10,)}


def _torch_lenet(torch, params, inputs):
    """lenet's parameters and inputs in PyTorch's layout: conv weights C_out×C×kh×kw, biases
    flat, images N×1×8×8, labels as class indices."""
    tp = {k: torch.tensor(params[k].reshape(shape), dtype=torch.float64, requires_grad=True)
          for k, shape in _TORCH_SHAPES.items()}
    x, t = inputs["x"], inputs["t"]
    images = torch.from_numpy(np.ascontiguousarray(x.T).reshape(x.shape[1], 1, 8, 8))
    labels = torch.from_numpy(np.argmax(t, axis=0))
    return tp, images, labels


def torch_lenet_step(torch, tp, images, labels, lr):
    """One SGD step of lenet in PyTorch (CPU, float64): autograd, then p ← p − lr·δp under
    no_grad, gradients dropped rather than zeroed; returns E."""
    F = torch.nn.functional
    h1 = F.relu(F.conv2d(images, tp["K1"], tp["b1"], padding=1))
    p1 = F.max_pool2d(h1, 2)
    h2 = F.relu(F.conv2d(p1, tp["K2"], tp["b2"], stride=2, padding=1))
    z3 = F.linear(h2.flatten(1), tp["W3"], tp["b3"])
    loss = F.cross_entropy(z3, labels, reduction="mean")
    loss.backward()
    torch_sgd_(torch, tp.values(), lr)
    return loss.item()


def _lenet_problem(mod, seed=0, N=LENET_N):
    rng = np.random.default_rng(seed + 1)
    inputs = {"x": rng.normal(size=(64, N)),
              "t": np.eye(10)[:, rng.integers(0, 10, N)]}  # one-hot columns
    return mod.init_params({"N": N}, seed), inputs


def check_same_lenet_step(mod, torch=None, problem=None):
    """`check_same_step` for lenet: the generated, hand-written and (given `torch`) PyTorch
    steps, on `problem` (params, inputs) or else the benchmark's."""
    params, inputs = problem or _lenet_problem(mod)
    others = {"hand-written": updating(hand_lenet_step, inputs)}
    if torch is not None:
        others["PyTorch"] = partial(_torch_lenet_updated, torch, inputs)
    check_same_step("lenet", mod, params, inputs, others)


def _torch_lenet_updated(torch, inputs, params, lr):
    """PyTorch's lenet step from `params`: E and the updated parameters, in derive's shapes."""
    tp, images, labels = _torch_lenet(torch, params, inputs)
    loss = torch_lenet_step(torch, tp, images, labels, lr)
    return loss, {k: v.detach().numpy().reshape(params[k].shape) for k, v in tp.items()}


def bench_lenet(rounds, number=None, torch_threads=None, sizes=LENET_SIZES):
    """The generated lenet step against `hand_lenet_step` and PyTorch at each batch size N
    of `sizes`, after checking they agree; then the time to derive lenet. Each time is of
    `number` steps in a row, or of as many as take about `bench_timing.CHUNK`. PyTorch runs
    on its default number of threads, or on `torch_threads` (restored afterwards): on a
    loaded machine its threads wait for each other, and a step can take 100× longer."""
    start = time.perf_counter()
    der = derive(models.lenet())
    derive_s = time.perf_counter() - start
    mod = compile_numpy(der)
    torch = _import_torch()
    default_threads = torch.get_num_threads() if torch is not None else None
    if torch is not None and torch_threads:
        torch.set_num_threads(torch_threads)
    try:
        count = None if torch is None else torch.get_num_threads()
        threads = "" if torch is None else \
            f" PyTorch {torch.__version__}, {count} thread{'s' * (count != 1)}."
        print(_heading("lenet", rounds, f" float64.{threads}"))
        print(f"| N | {HEADER} | PyTorch (ms) | generated / PyTorch |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for N in sizes:
            ms = _time_lenet(mod, torch, rounds, number, N)
            if torch is None:
                torch_ms, torch_ratio = "PyTorch not installed (pip install torch)", "–"
            else:
                torch_ms = f"{ms['torch']:.3f}"
                torch_ratio = f"{ms['generated'] / ms['torch']:.2f}"
            print(f"| {N} | {_ratios(ms)} | {torch_ms} | {torch_ratio} |")
    finally:
        if torch is not None:
            torch.set_num_threads(default_threads)
    print(f"\nDeriving lenet takes {derive_s:.2f} s.\n")


def _time_lenet(mod, torch, rounds, number, N):
    """The lenet steps at batch size N checked to agree, then timed in alternation: ms per
    step of each."""
    problem = _lenet_problem(mod, N=N)
    check_same_lenet_step(mod, torch, problem)
    params, inputs = problem
    runs = _steps(mod, hand_lenet_step, params, inputs, LR)
    if torch is not None:
        runs["torch"] = partial(torch_lenet_step, torch, *_torch_lenet(torch, params, inputs), LR)
    return _interleaved(runs, rounds, number)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m derive.bench",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small depths and few repeats")
    parser.add_argument("--peers", action="store_true",
                        help="only the generated steps against autograd, PyTorch and jax.jit "
                             "(those installed; the run says which it skipped)")
    args = parser.parse_args(argv)
    print(f"Allocator: {steady_allocator()}.\n")
    if args.peers:
        bench_peers(quick=args.quick)
        return 0
    if args.quick:
        bench_derivation((2, 4, 8), repeats=1)
        bench_training(rounds=2)
        bench_lstm(rounds=2)
        bench_transformer(rounds=2)
        bench_lenet(rounds=2, number=10, torch_threads=1)  # a smoke run
        bench_codegen((2, 8), repeats=1)
        bench_startup(repeats=1)
        bench_memory(LSTM_SIZES[1:], _lstm_problem, _hand_lstm, LSTM_LR)
    else:
        bench_derivation((8, 32, 128), repeats=3)
        bench_training(rounds=200)
        bench_lstm(rounds=60)
        bench_transformer(rounds=200)
        bench_lenet(rounds=200)
        bench_codegen((128, 512), repeats=3)
        bench_startup(repeats=5)
        bench_memory(LSTM_SIZES, _lstm_problem, _hand_lstm, LSTM_LR)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
