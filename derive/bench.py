"""Benchmarks: how derivation scales with depth, and how fast the generated code trains.

Run from the project root:

    python -m derive.bench           # full run, about a minute
    python -m derive.bench --quick   # smoke run: small depths, few repeats

It prints four markdown tables:

1. Derivation of `models.deep_mlp(depth)`: wall time and `der.size()` per depth, and both
   divided by depth relative to the smallest depth. Linear scaling shows as ratios near 1.
2. One SGD step of the seed MLP (sigmoid hidden and output layers, squared error, biases):
   the generated `sgd_step` against a hand-written numpy step of the same math. The two are
   first checked to give the same loss and the same updated parameters, then timed in
   alternation; each reported time is the minimum over repeats, in ms per step.

3. One SGD step of the LSTM (H=128, D=64, N=32, T=50): generated against `hand_lstm_step`,
   again checked to agree first, and the time to derive the LSTM.
4. One SGD step of `models.transformer_block()` (D=64, T=32, d_k=16, D_ff=256): the generated
   `sgd_step` against `hand_transformer_step`, a careful hand-written numpy step (stable
   in-place softmax, the compact layer-norm and softmax δs, every δ scaled by lr from the
   start), checked to agree first, timed in alternation like the MLP; and the time to derive
   the block.

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

TARGET = ("derivation linear in depth (ratios ≈ 1); generated step ≤ 1.1× hand-written; "
          "generated transformer step ≤ 1.2× hand-written")
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


LN_EPS = 1e-5  # the layer norms' ε, as in models.transformer_block


def _layer_norm_(r, ones):
    """Normalise each column of `r` in place (mean and variance over its rows, ε = 1e-5);
    returns `r`, now x̂, and each column's scale s = 1/√(σ² + ε), a row of T. `ones` is a
    vector of ones as long as a column: a sum over rows is then one BLAS matrix-vector call."""
    inv_n = 1.0 / r.shape[0]
    r -= (ones @ r) * inv_n
    s = np.einsum("ij,ij->j", r, r)        # Σ_rows x_c², no squared temporary
    s *= inv_n
    s += LN_EPS
    np.sqrt(s, out=s)
    np.divide(1.0, s, out=s)
    r *= s
    return r, s


def _layer_norm_back_(d_xhat, xhat, s, ones):
    """The compact layer-norm δ, s ⊙ (δx̂ − mean δx̂ − x̂ ⊙ mean(δx̂ ⊙ x̂)), over δx̂."""
    inv_n = 1.0 / xhat.shape[0]
    m = np.einsum("ij,ij->j", d_xhat, xhat)
    m *= inv_n
    d_xhat -= (ones @ d_xhat) * inv_n
    d_xhat -= xhat * m
    d_xhat *= s
    return d_xhat


def hand_transformer_step(p, inputs, lr):
    """One SGD step of `models.transformer_block()`, written by hand: forward, backward and
    an in-place update of `p`; returns E. Every δ carries the factor lr from δH2 on, so the
    updates are plain subtractions, and each parameter moves only after its last use. Sums
    over rows or columns are products with vectors of ones (BLAS beats numpy's reductions)."""
    X, label = inputs["X"], inputs["label"]
    W_q, W_k, W_v, W1, b1, W2, b2 = (p[k] for k in ("W_q", "W_k", "W_v", "W1", "b1", "W2", "b2"))
    gamma1, beta1, gamma2, beta2 = p["gamma1"], p["beta1"], p["gamma2"], p["beta2"]
    D, T = X.shape
    ones_d, ones_t = np.ones(D), np.ones((T, 1))  # ones_d @ x: Σ_rows; x @ ones_t: Σ_cols
    c = 1.0 / np.sqrt(W_q.shape[0])        # 1/√d_k
    Q = W_q @ X
    Q *= c                                  # Z = Kᵀ (cQ): scale the small d_k×T factor
    K = W_k @ X
    V = W_v @ X
    A = K.T @ Q                             # Z, T×T: keys down the rows, queries across
    A -= np.maximum.reduce(A, axis=0)       # softmax of each column, stable, in place
    np.exp(A, out=A)
    A /= ones_t[:, 0] @ A
    R1 = V @ A
    R1 += X
    xh1, s1 = _layer_norm_(R1, ones_d)
    H1 = xh1 * gamma1
    H1 += beta1
    F = W1 @ H1
    F += b1
    np.maximum(F, 0.0, out=F)               # relu in place: F > 0 exactly where U > 0
    R2 = W2 @ F
    R2 += H1
    R2 += b2
    xh2, s2 = _layer_norm_(R2, ones_d)
    d = xh2 * gamma2
    d += beta2
    d -= label                              # δH2 = H2 − label
    loss = 0.5 * float(np.vdot(d, d))
    d *= lr                                 # lr·δH2: all δs below carry lr
    d_r2 = d * gamma2                       # δx̂2, before gamma2 moves
    gamma2 -= np.einsum("ij,ij->i", d, xh2)[:, None]
    beta2 -= d @ ones_t
    d_r2 = _layer_norm_back_(d_r2, xh2, s2, ones_d)  # δR2
    d_u = W2.T @ d_r2                       # δF
    np.multiply(d_u, F > 0, out=d_u)        # δU
    d_h1 = W1.T @ d_u
    d_h1 += d_r2                            # δH1
    W2 -= d_r2 @ F.T
    b2 -= d_r2 @ ones_t
    W1 -= d_u @ H1.T
    b1 -= d_u @ ones_t
    d_y = d_h1 * gamma1                     # δx̂1
    gamma1 -= np.einsum("ij,ij->i", d_h1, xh1)[:, None]
    beta1 -= d_h1 @ ones_t
    d_y = _layer_norm_back_(d_y, xh1, s1, ones_d)  # δR1 = δY
    d_a = V.T @ d_y                         # δA
    W_v -= (d_y @ A.T) @ X.T                # δW_v = δV Xᵀ, δV = δY Aᵀ
    d_a -= np.einsum("ij,ij->j", d_a, A)    # δZ = A ⊙ (δA − Σ_rows δA ⊙ A), in place
    d_a *= A
    d_k = Q @ d_a.T                         # δK = (cQ) δZᵀ
    d_q = K @ d_a                           # δQ = c K δZ
    d_q *= c
    W_k -= d_k @ X.T
    W_q -= d_q @ X.T
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


TRANSFORMER_DIMS = {"D": 64, "T": 32, "d_k": 16, "D_ff": 256}


def _transformer_problem(mod, seed=0):
    rng = np.random.default_rng(seed + 1)
    dims = TRANSFORMER_DIMS
    inputs = {"X": rng.normal(size=(dims["D"], dims["T"])),
              "label": rng.normal(size=(dims["D"], dims["T"]))}
    return mod.init_params(dims, seed), inputs


def check_same_transformer_step(mod):
    """Fail loudly unless the generated and hand-written transformer steps give the same loss
    and the same updated parameters (float64, a large lr so every update shows)."""
    params, inputs = _transformer_problem(mod)
    gen = {k: v.copy() for k, v in params.items()}
    hand = {k: v.copy() for k, v in params.items()}
    gen_loss = mod.sgd_step(gen, inputs, 0.1)
    hand_loss = hand_transformer_step(hand, inputs, 0.1)
    if not np.isclose(gen_loss, hand_loss, rtol=1e-10):
        raise AssertionError(f"transformer losses differ: generated {gen_loss!r}, "
                             f"hand-written {hand_loss!r}")
    for name in mod.PARAMS:
        if not np.allclose(gen[name], hand[name], rtol=1e-10, atol=1e-12):
            raise AssertionError(f"updated transformer {name} differs between generated and "
                                 "hand-written")
        if np.array_equal(gen[name], params[name]):
            raise AssertionError(f"transformer {name} was not updated")


def bench_transformer(repeats, rounds):
    """The generated transformer-block step against `hand_transformer_step`, after checking
    they agree; then the time to derive the block."""
    start = time.perf_counter()
    der = derive(models.transformer_block())
    derive_s = time.perf_counter() - start
    mod = compile_numpy(der)
    check_same_transformer_step(mod)
    params, inputs = _transformer_problem(mod)
    gen = {k: v.copy() for k, v in params.items()}
    run_gen = partial(mod.sgd_step, gen, inputs, LR)
    run_hand = partial(hand_transformer_step, params, inputs, LR)
    number, _ = timeit.Timer(run_gen).autorange()  # steps taking ≥ 0.2 s
    number = max(1, number // 4)
    gen_t, hand_t = [], []
    for _ in range(rounds):  # alternate so drifts in machine speed hit both alike
        gen_t.append(_time(run_gen, repeats, number))
        hand_t.append(_time(run_hand, repeats, number))
    g, h = min(gen_t) * 1e3, min(hand_t) * 1e3
    dims = TRANSFORMER_DIMS
    print(f"SGD step of the transformer block, ms per step, min over {rounds}×{repeats} "
          f"interleaved repeats. Target: generated ≤ 1.2× hand-written.\n")
    print("| D | T | d_k | D_ff | generated (ms) | hand-written (ms) | generated / hand |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {dims['D']} | {dims['T']} | {dims['d_k']} | {dims['D_ff']} "
          f"| {g:.3f} | {h:.3f} | {g / h:.2f} |")
    print(f"\nDeriving the transformer block takes {derive_s:.2f} s.\n")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m derive.bench",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small depths and few repeats")
    args = parser.parse_args(argv)
    if args.quick:
        bench_derivation((2, 4, 8), repeats=1)
        bench_training(repeats=1, rounds=2)
        bench_lstm(repeats=2)
        bench_transformer(repeats=1, rounds=2)
    else:
        bench_derivation((8, 32, 128), repeats=3)
        bench_training(repeats=5, rounds=5)
        bench_lstm(repeats=7)
        bench_transformer(repeats=5, rounds=5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
