"""Benchmarks: how derivation scales with depth, and how fast the generated code trains.

Run from the project root:

    python -m derive.bench           # full run, about a minute
    python -m derive.bench --quick   # smoke run: small depths, few repeats

It prints three markdown tables:

1. Derivation of `models.deep_mlp(depth)`: wall time and `der.size()` per depth, and both
   divided by depth relative to the smallest depth. Linear scaling shows as ratios near 1.
2. One SGD step of the seed MLP (sigmoid hidden and output layers, squared error, biases):
   the generated `sgd_step` against a hand-written numpy step of the same math. The two are
   first checked to give the same loss and the same updated parameters, then timed in
   alternation; each reported time is the minimum over repeats, in ms per step.

3. One SGD step of the LSTM (H=128, D=64, N=32, T=50): generated against `hand_lstm_step`,
   again checked to agree first, and the time to derive the LSTM.

Timings are only printed, never asserted: machines are noisy.
"""

import argparse
import time
import timeit
from functools import partial

import numpy as np

from . import models
from .codegen import compile_numpy
from .derivation import derive

TARGET = "derivation linear in depth (ratios ≈ 1); generated step ≤ 1.1× hand-written"
SIZES = {
    "small": {"D": 64, "H": 128, "K": 10, "N": 32},
    "large": {"D": 784, "H": 1024, "K": 10, "N": 256},
}
LR = 1e-3


def sigmoid_(u):
    """Stable sigmoid, the generated code's exp(−logaddexp(0, −u)), overwriting `u`."""
    np.negative(u, out=u)
    np.logaddexp(0.0, u, out=u)
    np.negative(u, out=u)
    return np.exp(u, out=u)


def hand_step(params, x, label, lr):
    """One SGD step of the seed MLP, written by hand; updates `params` in place, returns E."""
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    z1 = W1 @ x
    z1 += b1
    h = sigmoid_(z1)
    z2 = W2 @ h
    z2 += b2
    out = sigmoid_(z2)
    d_out = out - label
    loss = 0.5 * float(np.vdot(d_out, d_out))
    d_z2 = d_out * out * (1.0 - out)
    d_h = W2.T @ d_z2                      # before W2 changes
    d_z1 = d_h * h * (1.0 - h)
    d_z2 *= lr                             # fold lr into the small δs, not the big δWs
    d_z1 *= lr
    W2 -= d_z2 @ h.T
    b2 -= d_z2.sum(axis=1, keepdims=True)
    W1 -= d_z1 @ x.T
    b1 -= d_z1.sum(axis=1, keepdims=True)
    return loss


def hand_lstm_step(p, x, label, h0, c0, lr):
    """One SGD step of the LSTM, written by hand: forward over T steps, backward through
    time, in-place update; returns E."""
    T = x.shape[0]
    Wx = {g: p[f"W_{g}"] for g in "ifgo"}
    Uh = {g: p[f"U_{g}"] for g in "ifgo"}
    b = {g: p[f"b_{g}"] for g in "ifgo"}
    hs, cs, gates, tanh_cs, ys = [h0], [c0], [], [], []
    loss = 0.0
    h, c = h0, c0
    for t in range(T):
        i = _sigmoid(Wx["i"] @ x[t] + Uh["i"] @ h + b["i"])
        f = _sigmoid(Wx["f"] @ x[t] + Uh["f"] @ h + b["f"])
        g = np.tanh(Wx["g"] @ x[t] + Uh["g"] @ h + b["g"])
        o = _sigmoid(Wx["o"] @ x[t] + Uh["o"] @ h + b["o"])
        c = f * c + i * g
        tc = np.tanh(c)
        h = o * tc
        y = p["W_y"] @ h + p["b_y"]
        loss += 0.5 * np.sum((y - label[t]) ** 2)
        gates.append((i, f, g, o)); tanh_cs.append(tc); hs.append(h); cs.append(c); ys.append(y)
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    dh_next = np.zeros_like(h0)
    dc_next = np.zeros_like(c0)
    for t in reversed(range(T)):
        i, f, g, o = gates[t]
        dy = ys[t] - label[t]
        grads["W_y"] += dy @ hs[t + 1].T
        grads["b_y"] += dy.sum(axis=1, keepdims=True)
        dh = p["W_y"].T @ dy + dh_next
        tc = tanh_cs[t]
        dc = dh * o * (1 - tc ** 2) + dc_next
        dz = {"o": dh * tc * o * (1 - o), "i": dc * g * i * (1 - i),
              "f": dc * cs[t] * f * (1 - f), "g": dc * i * (1 - g ** 2)}
        dh_next = sum(Uh[k].T @ dz[k] for k in "ifgo")
        dc_next = dc * f
        for k in "ifgo":
            grads[f"W_{k}"] += dz[k] @ x[t].T
            grads[f"U_{k}"] += dz[k] @ hs[t].T
            grads[f"b_{k}"] += dz[k].sum(axis=1, keepdims=True)
    for k in p:
        p[k] -= lr * grads[k]
    return loss


def _sigmoid(u):
    return np.exp(-np.logaddexp(0.0, -u))


def _time(fn, repeats, number):
    return min(timeit.repeat(fn, repeat=repeats, number=number)) / number


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


def _problem(mod, dims, seed=0):
    rng = np.random.default_rng(seed + 1)
    params = mod.init_params(dims, seed)
    x = rng.normal(size=(dims["D"], dims["N"]))
    label = rng.random((dims["K"], dims["N"]))
    return params, x, label


def check_same_step(mod, dims):
    """Fail loudly unless both steps give the same loss and the same updated parameters."""
    params, x, label = _problem(mod, dims)
    gen = {k: v.copy() for k, v in params.items()}
    hand = {k: v.copy() for k, v in params.items()}
    gen_loss = mod.sgd_step(gen, {"x": x, "label": label}, 0.1)
    hand_loss = hand_step(hand, x, label, 0.1)
    if not np.isclose(gen_loss, hand_loss, rtol=1e-10):
        raise AssertionError(f"losses differ: generated {gen_loss!r}, hand-written {hand_loss!r}")
    for name in mod.PARAMS:
        if not np.allclose(gen[name], hand[name], rtol=1e-10, atol=1e-12):
            raise AssertionError(f"updated {name} differs between generated and hand-written")
        if np.array_equal(gen[name], params[name]):
            raise AssertionError(f"{name} was not updated")


def bench_training(repeats, rounds):
    mod = compile_numpy(derive(models.mlp()))
    print(f"SGD step of the seed MLP, ms per step, min over {rounds}×{repeats} interleaved "
          f"repeats. Target: {TARGET}.\n")
    print("| size | D | H | K | N | generated (ms) | hand-written (ms) | generated / hand |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label_, dims in SIZES.items():
        check_same_step(mod, dims)
        params, x, label = _problem(mod, dims)
        gen = {k: v.copy() for k, v in params.items()}
        run_gen = partial(mod.sgd_step, gen, {"x": x, "label": label}, LR)
        run_hand = partial(hand_step, params, x, label, LR)
        number, _ = timeit.Timer(run_gen).autorange()  # steps taking ≥ 0.2 s
        number = max(1, number // 4)
        gen_t, hand_t = [], []
        for _ in range(rounds):  # alternate so drifts in machine speed hit both alike
            gen_t.append(_time(run_gen, repeats, number))
            hand_t.append(_time(run_hand, repeats, number))
        g, h = min(gen_t) * 1e3, min(hand_t) * 1e3
        print(f"| {label_} | {dims['D']} | {dims['H']} | {dims['K']} | {dims['N']} "
              f"| {g:.3f} | {h:.3f} | {g / h:.2f} |")
    print()


LSTM_DIMS = {"D": 64, "H": 128, "K": 10, "N": 32, "T": 50}
LSTM_LR = 1e-6  # small enough that repeated steps stay in the ordinary (non-saturated) regime


def bench_lstm(repeats):
    """The generated LSTM training step against `hand_lstm_step`, after checking they agree."""
    mod = compile_numpy(derive(models.lstm()))
    dims = LSTM_DIMS
    rng = np.random.default_rng(0)
    inputs = {"x": rng.normal(size=(dims["T"], dims["D"], dims["N"])),
              "label": rng.normal(size=(dims["T"], dims["K"], dims["N"])),
              "h0": np.zeros((dims["H"], dims["N"])), "c0": np.zeros((dims["H"], dims["N"]))}
    gen = mod.init_params(dims, 0)
    hand = {k: v.copy() for k, v in gen.items()}
    run_gen = partial(mod.sgd_step, gen, inputs, LSTM_LR)
    run_hand = partial(hand_lstm_step, hand, inputs["x"], inputs["label"], inputs["h0"],
                       inputs["c0"], LSTM_LR)
    if not np.isclose(run_gen(), run_hand(), rtol=1e-10) or not all(
            np.allclose(gen[k], hand[k], rtol=1e-10, atol=1e-12) for k in gen):
        raise AssertionError("generated and hand-written LSTM steps differ")
    gen_t, hand_t = [], []
    for _ in range(repeats):  # alternate so drifts in machine speed hit both alike
        gen_t.append(_time(run_gen, 1, 1))
        hand_t.append(_time(run_hand, 1, 1))
    g, h = min(gen_t) * 1e3, min(hand_t) * 1e3
    print(f"SGD step of the LSTM, ms per step, min of {repeats} interleaved runs. "
          f"Target: generated ≤ 1.1× hand-written.\n")
    print("| H | D | K | N | T | generated (ms) | hand-written (ms) | generated / hand |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {dims['H']} | {dims['D']} | {dims['K']} | {dims['N']} | {dims['T']} "
          f"| {g:.1f} | {h:.1f} | {g / h:.2f} |")
    start = time.perf_counter()
    derive(models.lstm())
    print(f"\nDeriving the LSTM takes {time.perf_counter() - start:.2f} s.\n")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m derive.bench",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small depths and few repeats")
    args = parser.parse_args(argv)
    if args.quick:
        bench_derivation((2, 4, 8), repeats=1)
        bench_training(repeats=1, rounds=2)
        bench_lstm(repeats=2)
    else:
        bench_derivation((8, 32, 128), repeats=3)
        bench_training(repeats=5, rounds=5)
        bench_lstm(repeats=7)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
