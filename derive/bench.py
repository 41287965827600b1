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
   timed in alternation; each reported time is the minimum over repeats, in ms per step.
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
from .bench_peers import bench_peers, torch_sgd_
from .codegen import compile_numpy
from .derivation import derive
from .functions import tanh

TARGET = "derivation linear in depth (ratios ≈ 1)"
LR = 1e-3


def sigmoid_(u):
    """Sigmoid as 1/(1 + e^−u) in place, overwriting `u` (e^−u = inf gives exactly 0)."""
    np.negative(u, out=u)
    with np.errstate(over="ignore"):
        np.exp(u, out=u)
    u += 1.0
    return np.divide(1.0, u, out=u)


def hand_step(params, x, label, lr):
    """One SGD step of the seed MLP, written by hand; updates `params` in place, returns E."""
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    z1 = W1 @ x
    z1 += b1
    h = sigmoid_(z1)
    z2 = W2 @ h
    z2 += b2
    out = sigmoid_(z2)
    d_z2 = out - label                     # δout, then δz2 = δout ⊙ out ⊙ (1 − out) in place
    loss = 0.5 * float(np.vdot(d_z2, d_z2))
    d_z2 *= out
    d_z2 *= 1.0 - out
    d_z1 = W2.T @ d_z2                     # δh, before W2 changes; then δz1 in place
    d_z1 *= h
    d_z1 *= 1.0 - h
    d_z2 *= lr                             # fold lr into the small δs, not the big δWs
    d_z1 *= lr
    W2 -= d_z2 @ h.T
    b2 -= d_z2.sum(axis=1, keepdims=True)
    W1 -= d_z1 @ x.T
    b1 -= d_z1.sum(axis=1, keepdims=True)
    return loss


def hand_deep_step(params, x, label, lr):
    """One SGD step of `models.deep_mlp(depth, tanh)`, written by hand: tanh layers in place,
    δz = δh ⊙ (1 − h²) in place, lr folded into the δs, each parameter moved after its last
    use; returns E."""
    depth = len(params) // 2 - 1
    hs = [x]
    for layer in range(1, depth + 1):
        z = params[f"W{layer}"] @ hs[-1]
        z += params[f"b{layer}"]
        hs.append(np.tanh(z, out=z))
    d = params[f"W{depth + 1}"] @ hs[-1]
    d += params[f"b{depth + 1}"]
    d -= label                             # δout = out − label
    loss = 0.5 * float(np.vdot(d, d))
    d *= lr
    for layer in range(depth + 1, 0, -1):
        W, b, below = params[f"W{layer}"], params[f"b{layer}"], hs[layer - 1]
        if layer > 1:
            d_below = W.T @ d              # δh below, before W changes
            square = below * below
            np.subtract(1.0, square, out=square)
            d_below *= square              # δz = δh ⊙ (1 − h²)
        W -= d @ below.T
        b -= d.sum(axis=1, keepdims=True)
        if layer > 1:
            d = d_below
    return loss


GATES = "ifog"  # the hand-written LSTM's row blocks: the three sigmoid gates, then g


def hand_lstm_step(p, x, label, h0, c0, lr):
    """One SGD step of the LSTM, the best numpy found by hand: the four gates as one GEMM
    on h_{t−1} (rows i, f, o, g: one sigmoid over 3H rows), the input projections of all
    steps and the output layer as batched products outside the loop, activations and δs
    written in place into T×4H×N buffers, the parameter gradients as one product over all
    steps after the loop (δW = Σ_t δz_t x_tᵀ), lr folded into δy; returns E."""
    T, _, N = x.shape
    H = h0.shape[0]
    W, U, b = (np.concatenate([p[f"{k}_{gate}"] for gate in GATES]) for k in "WUb")
    W_y, b_y = p["W_y"], p["b_y"]
    Z = np.matmul(W, x)                    # T × 4H × N: W x_t + b for every t, then the gates
    Z += b
    hs, cs, tanh_cs = np.empty((T + 1, H, N)), np.empty((T + 1, H, N)), np.empty((T, H, N))
    hs[0], cs[0] = h0, c0
    for t in range(T):
        z = Z[t]
        z += U @ hs[t]
        sigmoid_(z[:3 * H])
        np.tanh(z[3 * H:], out=z[3 * H:])
        i, f, o, g = z[:H], z[H:2 * H], z[2 * H:3 * H], z[3 * H:]
        np.multiply(f, cs[t], out=cs[t + 1])
        cs[t + 1] += i * g
        np.tanh(cs[t + 1], out=tanh_cs[t])
        np.multiply(o, tanh_cs[t], out=hs[t + 1])
    d_y = np.matmul(W_y, hs[1:])           # T × K × N
    d_y += b_y
    d_y -= label                           # δy = y − label
    loss = 0.5 * float(np.vdot(d_y, d_y))
    d_y *= lr                              # every δ below carries lr
    d_h = np.matmul(W_y.T, d_y)            # δh_t from the output, all steps at once
    d_z = np.empty_like(Z)
    d_h_next, d_c_next = np.zeros((H, N)), np.zeros((H, N))
    for t in reversed(range(T)):
        z, dz, tc = Z[t], d_z[t], tanh_cs[t]
        i, f, o, g = z[:H], z[H:2 * H], z[2 * H:3 * H], z[3 * H:]
        dh = d_h[t]
        dh += d_h_next
        np.multiply(dh, tc, out=dz[2 * H:3 * H])  # δo
        dc = tc * tc
        np.subtract(1.0, dc, out=dc)
        dc *= o
        dc *= dh
        dc += d_c_next                     # δc = δh ⊙ o ⊙ (1 − tanh²c) + δc_{t+1} ⊙ f_{t+1}
        np.multiply(dc, g, out=dz[:H])     # δi
        np.multiply(dc, cs[t], out=dz[H:2 * H])  # δf
        np.multiply(dc, i, out=dz[3 * H:])  # δg
        dz[:3 * H] *= z[:3 * H]            # δz = δgate ⊙ σ (1 − σ) for i, f, o at once
        dz[:3 * H] *= 1.0 - z[:3 * H]
        dz[3 * H:] *= 1.0 - g * g          # δz_g = δg ⊙ (1 − g²)
        d_h_next = U.T @ dz
        d_c_next = np.multiply(dc, f, out=dc)
    over_steps = ([0, 2], [0, 2])          # Σ_t over the time and batch axes: one GEMM
    d_W = np.tensordot(d_z, x, axes=over_steps)
    d_U = np.tensordot(d_z, hs[:-1], axes=over_steps)
    d_b = d_z.sum(axis=(0, 2))[:, None]
    p["W_y"] -= np.tensordot(d_y, hs[1:], axes=over_steps)
    p["b_y"] -= d_y.sum(axis=(0, 2))[:, None]
    for k, gate in enumerate(GATES):
        rows = slice(k * H, (k + 1) * H)
        p[f"W_{gate}"] -= d_W[rows]
        p[f"U_{gate}"] -= d_U[rows]
        p[f"b_{gate}"] -= d_b[rows]
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


def _time(fn, repeats, number):
    return min(timeit.repeat(fn, repeat=repeats, number=number)) / number


def _interleaved(run_gen, run_hand, rounds, repeats):
    """(generated, hand-written) ms per step: the minimum over rounds that alternate the two,
    so drifts in machine speed hit both alike."""
    number, _ = timeit.Timer(run_gen).autorange()  # steps taking ≥ 0.2 s
    number = max(1, number // 4)
    gen_t, hand_t = [], []
    for _ in range(rounds):
        gen_t.append(_time(run_gen, repeats, number))
        hand_t.append(_time(run_hand, repeats, number))
    return min(gen_t) * 1e3, min(hand_t) * 1e3


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
    x = rng.normal(size=(dims["D"], dims["N"]))
    label = rng.random((dims["K"], dims["N"]))
    return params, x, label


def check_same_step(mod, workload):
    """Fail loudly unless both steps give the same loss and the same updated parameters."""
    params, x, label = _problem(mod, workload.dims)
    gen = {k: v.copy() for k, v in params.items()}
    hand = {k: v.copy() for k, v in params.items()}
    gen_loss = mod.sgd_step(gen, {"x": x, "label": label}, 0.1)
    hand_loss = workload.hand(hand, x, label, 0.1)
    if not np.isclose(gen_loss, hand_loss, rtol=1e-10):
        raise AssertionError(f"{workload.name}: losses differ: generated {gen_loss!r}, "
                             f"hand-written {hand_loss!r}")
    for name in mod.PARAMS:
        if not np.allclose(gen[name], hand[name], rtol=1e-10, atol=1e-12):
            raise AssertionError(f"{workload.name}: updated {name} differs between generated "
                                 "and hand-written")
        if np.array_equal(gen[name], params[name]):
            raise AssertionError(f"{workload.name}: {name} was not updated")


def bench_training(repeats, rounds, workloads=FEED_FORWARD):
    print(f"SGD step of feed-forward networks, ms per step, min over {rounds}×{repeats} "
          f"interleaved repeats. Target: generated ≤ 1.0× the best hand-written.\n")
    print("| network | sizes | generated (ms) | hand-written (ms) | generated / hand |")
    print("|---|---|---:|---:|---:|")
    modules = {}
    for workload in workloads:
        if workload.model not in modules:
            modules[workload.model] = compile_numpy(derive(workload.model()))
        mod = modules[workload.model]
        check_same_step(mod, workload)
        params, x, label = _problem(mod, workload.dims)
        gen = {k: v.copy() for k, v in params.items()}
        run_gen = partial(mod.sgd_step, gen, {"x": x, "label": label}, LR)
        run_hand = partial(workload.hand, params, x, label, LR)
        g, h = _interleaved(run_gen, run_hand, rounds, repeats)
        sizes = " ".join(f"{k}={v}" for k, v in workload.dims.items())
        print(f"| {workload.name} | {sizes} | {g:.3f} | {h:.3f} | {g / h:.2f} |")
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


def check_same_lstm_step(mod, dims):
    """Fail loudly unless both LSTM steps give the same loss and updated parameters (a large
    lr, nonzero initial states, so every update shows)."""
    params, inputs = _lstm_problem(mod, dims)
    gen = {k: v.copy() for k, v in params.items()}
    hand = {k: v.copy() for k, v in params.items()}
    gen_loss, hand_loss = mod.sgd_step(gen, inputs, 0.1), _hand_lstm(hand, inputs, 0.1)
    if not np.isclose(gen_loss, hand_loss, rtol=1e-10):
        raise AssertionError(f"LSTM losses differ: generated {gen_loss!r}, hand {hand_loss!r}")
    for name in mod.PARAMS:
        if not np.allclose(gen[name], hand[name], rtol=1e-10, atol=1e-12):
            raise AssertionError(f"updated LSTM {name} differs between generated and hand-written")
        if np.array_equal(gen[name], params[name]):
            raise AssertionError(f"LSTM {name} was not updated")


def bench_lstm(repeats, sizes=LSTM_SIZES):
    """The generated LSTM training step against `hand_lstm_step`, after checking they agree."""
    start = time.perf_counter()
    mod = compile_numpy(derive(models.lstm()))
    derive_s = time.perf_counter() - start
    print(f"SGD step of the LSTM, ms per step, min of {repeats} interleaved runs. "
          f"Target: generated ≤ 1.0× the best hand-written.\n")
    print("| H | D | K | N | T | generated (ms) | hand-written (ms) | generated / hand |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for dims in sizes:
        check_same_lstm_step(mod, dims)
        params, inputs = _lstm_problem(mod, dims)
        gen = {k: v.copy() for k, v in params.items()}
        g, h = _interleaved(partial(mod.sgd_step, gen, inputs, LSTM_LR),
                            partial(_hand_lstm, params, inputs, LSTM_LR), repeats, 1)
        print(f"| {dims['H']} | {dims['D']} | {dims['K']} | {dims['N']} | {dims['T']} "
              f"| {g:.2f} | {h:.2f} | {g / h:.2f} |")
    print(f"\nDeriving and compiling the LSTM takes {derive_s:.2f} s.\n")


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
    g, h = _interleaved(run_gen, run_hand, rounds, repeats)
    dims = TRANSFORMER_DIMS
    print(f"SGD step of the transformer block, ms per step, min over {rounds}×{repeats} "
          f"interleaved repeats. Target: generated ≤ 1.2× hand-written.\n")
    print("| D | T | d_k | D_ff | generated (ms) | hand-written (ms) | generated / hand |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {dims['D']} | {dims['T']} | {dims['d_k']} | {dims['D_ff']} "
          f"| {g:.3f} | {h:.3f} | {g / h:.2f} |")
    print(f"\nDeriving the transformer block takes {derive_s:.2f} s.\n")


LENET_N = 64


def _patch_rows(C, H, W, k, s, p):
    """im2col as one gather: for each patch entry (c, i, j) at each output position (y′, x′),
    in that order, the row of the C·H·W pixels it reads; zero padding reads row C·H·W, a
    row of zeros appended below the image."""
    Ho, Wo = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
    c, i, j, oy, ox = np.ix_(range(C), range(k), range(k), range(Ho), range(Wo))
    y, x = s * oy + i - p, s * ox + j - p
    inside = (y >= 0) & (y < H) & (x >= 0) & (x < W)
    return np.where(inside, (c * H + y) * W + x, C * H * W).reshape(-1)


def _push_rows(C, H, W, k, s, p):
    """col2im as one gather, the transpose of `_patch_rows`: for each pixel the rows of the
    spread patches (C·k·k·H′·W′ of them, then a zero row) that land on it, padded with the
    zero row to a common count m; returned m × C·H·W, one pixel a column."""
    src = _patch_rows(C, H, W, k, s, p)
    lands = [[] for _ in range(C * H * W)]
    for row, pixel in enumerate(src):
        if pixel < C * H * W:
            lands[pixel].append(row)
    m = max(map(len, lands))
    return np.array([rows + [src.size] * (m - len(rows)) for rows in lands]).T


_LENET_ROWS1 = _patch_rows(1, 8, 8, 3, 1, 1)   # 9·64 rows of x: conv 1's patches
_LENET_ROWS2 = _patch_rows(4, 4, 4, 3, 2, 1)   # 36·4 rows of p1: conv 2's patches
_LENET_PUSH2 = _push_rows(4, 4, 4, 3, 2, 1)    # 4 × 64: conv 2's spread back onto p1
_LENET_M2 = _LENET_PUSH2.shape[0]


def hand_lenet_step(p, inputs, lr):
    """One SGD step of `models.lenet()`, written by hand with im2col: forward, backward and an
    in-place update of `p`; returns E. Images are batch-last (C, H, W, N), so every patch
    row is a contiguous row of N and im2col and col2im are single row gathers (`np.take`
    with precomputed indices) from arrays with a zero row appended for the padding. Max
    pooling commutes with the per-channel bias and with relu, so conv 1 pools first and adds
    b1 and relu on the 4× smaller result (rounding is monotone, so p1 is the same to the
    bit; only a tie the bias alone rounds into being could break differently); its
    backward uses two comparison masks (columns, then rows), which send each window's δ to
    the first maximum in row-major order, and relu's mask at the pooled maximum. Every δ
    carries lr from δz3 on; each parameter moves only after its last use. Assumes one-hot
    (or distribution) columns of t."""
    x, t = inputs["x"], inputs["t"]
    K1, b1, K2, b2, W3, b3 = (p[k] for k in ("K1", "b1", "K2", "b2", "W3", "b3"))
    N = x.shape[1]
    padded = np.empty((65, N))              # x and a zero row, for the padding to read
    padded[:64] = x
    padded[64] = 0.0
    cols1 = padded.take(_LENET_ROWS1, axis=0).reshape(9, -1)  # 9 × (8·8·N)
    z1 = K1 @ cols1                         # 4 × (8·8·N), bias not yet added
    win = z1.reshape(16, 2, 4, 2, N)        # channel·window row, row, window column, column, N
    colmax = np.maximum(win[:, :, :, 0], win[:, :, :, 1])  # 16 × 2 × 4 × N
    pooled = np.empty((65, N))              # p1 and a zero row, for conv 2's padding
    pooled[64] = 0.0
    p1 = pooled[:64]
    np.maximum(colmax[:, 0], colmax[:, 1], out=p1.reshape(16, 4, N))
    p1_channels = p1.reshape(4, -1)         # a view: pooled's first 64 rows are contiguous
    p1_channels += b1                       # maxpool(z + b) = maxpool(z) + b
    np.maximum(p1, 0.0, out=p1)             # maxpool(relu(z)) = relu(maxpool(z))
    cols2 = pooled.take(_LENET_ROWS2, axis=0).reshape(36, -1)  # 36 × (2·2·N)
    z2 = K2 @ cols2                         # 8 × (2·2·N)
    z2 += b2
    h2 = np.maximum(z2, 0.0, out=z2).reshape(32, N)
    z3 = W3 @ h2
    z3 += b3
    z3 -= np.max(z3, axis=0)
    e = np.exp(z3)
    s = e.sum(axis=0)
    loss = (float(np.log(s).sum()) - float(np.vdot(t, z3))) / N  # columns of t sum to 1
    c = lr / N
    e *= c / s
    e -= c * t                              # lr·δz3 = lr/N (softmax − t)
    d_h2 = W3.T @ e
    W3 -= e @ h2.T
    b3 -= e.sum(axis=1, keepdims=True)
    np.multiply(d_h2, h2 > 0, out=d_h2)     # lr·δz2
    d_z2 = d_h2.reshape(8, -1)
    spread = np.empty((145, N))             # Kᵀ δz2 at every position, and a zero row
    spread[144] = 0.0
    np.matmul(K2.T, d_z2, out=spread[:144].reshape(36, -1))
    K2 -= d_z2 @ cols2.T
    b2 -= d_z2.sum(axis=1, keepdims=True)
    parts = spread.take(_LENET_PUSH2.reshape(-1), axis=0).reshape(_LENET_M2, 64, N)
    d_p1 = parts[0] + parts[1]              # col2im: each pixel's (at most 4) contributions
    for part in parts[2:]:
        d_p1 += part
    np.multiply(d_p1, p1 > 0, out=d_p1)     # relu's mask, at each window's maximum
    d_rows = np.empty((16, 2, 4, N))        # δ of colmax: the row of the window's maximum
    lower = colmax[:, 1] > colmax[:, 0]     # ties go to the upper row
    d_p1 = d_p1.reshape(16, 4, N)
    np.multiply(d_p1, lower, out=d_rows[:, 1])
    np.subtract(d_p1, d_rows[:, 1], out=d_rows[:, 0])
    right = win[:, :, :, 1] > win[:, :, :, 0]  # ties go to the left column
    d_z1 = np.empty((16, 2, 4, 2, N))       # lr·δz1
    np.multiply(d_rows, right, out=d_z1[:, :, :, 1])
    np.subtract(d_rows, d_z1[:, :, :, 1], out=d_z1[:, :, :, 0])
    K1 -= d_z1.reshape(4, -1) @ cols1.T
    b1 -= d_p1.reshape(4, -1).sum(axis=1, keepdims=True)  # Σ δz1 = Σ δp1 in each channel
    return loss


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


def _lenet_problem(mod, seed=0):
    rng = np.random.default_rng(seed + 1)
    inputs = {"x": rng.normal(size=(64, LENET_N)),
              "t": np.eye(10)[:, rng.integers(0, 10, LENET_N)]}  # one-hot columns
    return mod.init_params({"N": LENET_N}, seed), inputs


def check_same_lenet_step(mod, torch=None, problem=None):
    """Fail loudly unless the generated, hand-written and (given `torch`) PyTorch lenet steps
    give the same loss and the same updated parameters (float64, a large lr), on `problem`
    (params, inputs) or else the benchmark's."""
    params, inputs = problem or _lenet_problem(mod)
    gen = {k: v.copy() for k, v in params.items()}
    hand = {k: v.copy() for k, v in params.items()}
    losses = {"generated": mod.sgd_step(gen, inputs, 0.1),
              "hand-written": hand_lenet_step(hand, inputs, 0.1)}
    updated = {"hand-written": hand}
    if torch is not None:
        tp, images, labels = _torch_lenet(torch, params, inputs)
        losses["PyTorch"] = torch_lenet_step(torch, tp, images, labels, 0.1)
        updated["PyTorch"] = {k: v.detach().numpy().reshape(params[k].shape)
                              for k, v in tp.items()}
    for who, loss in losses.items():
        if not np.isclose(losses["generated"], loss, rtol=1e-10):
            raise AssertionError(f"lenet losses differ: generated {losses['generated']!r}, "
                                 f"{who} {loss!r}")
    for name in mod.PARAMS:
        if np.array_equal(gen[name], params[name]):
            raise AssertionError(f"lenet {name} was not updated")
        for who, other in updated.items():
            if not np.allclose(gen[name], other[name], rtol=1e-10, atol=1e-12):
                raise AssertionError(f"updated lenet {name} differs between generated and {who}")


def bench_lenet(repeats, rounds, number=None, torch_threads=None):
    """The generated lenet step against `hand_lenet_step` and PyTorch, after checking they
    agree; then the time to derive lenet. Each time is of `number` steps in a row, or of
    as many as take about 0.05 s. PyTorch runs on its default number of threads, or on
    `torch_threads` (restored afterwards): on a loaded machine its threads wait for each
    other, and a step can take 100× longer."""
    start = time.perf_counter()
    der = derive(models.lenet())
    derive_s = time.perf_counter() - start
    mod = compile_numpy(der)
    torch = _import_torch()
    default_threads = torch.get_num_threads() if torch is not None else None
    if torch is not None and torch_threads:
        torch.set_num_threads(torch_threads)
    try:
        best, threads = _time_lenet(mod, torch, repeats, rounds, number)
    finally:
        if torch is not None:
            torch.set_num_threads(default_threads)
    g, h = best["generated"] * 1e3, best["hand"] * 1e3
    if torch is None:
        torch_ms, torch_ratio = "PyTorch not installed (pip install torch)", "–"
    else:
        torch_ms, torch_ratio = f"{best['torch'] * 1e3:.3f}", f"{g / (best['torch'] * 1e3):.2f}"
    print(f"SGD step of lenet, ms per step, min over {rounds}×{repeats} interleaved repeats, "
          f"float64.{threads} Target: generated ≤ 1.2× hand-written.\n")
    print("| N | generated (ms) | hand-written (ms) | PyTorch (ms) | generated / hand "
          "| generated / PyTorch |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(f"| {LENET_N} | {g:.3f} | {h:.3f} | {torch_ms} | {g / h:.2f} | {torch_ratio} |")
    print(f"\nDeriving lenet takes {derive_s:.2f} s.\n")


def _time_lenet(mod, torch, repeats, rounds, number):
    """The three lenet steps checked to agree, then timed in alternation: the best seconds
    per step of each, and PyTorch's version and threads for the heading."""
    check_same_lenet_step(mod, torch)
    params, inputs = _lenet_problem(mod)
    gen = {k: v.copy() for k, v in params.items()}
    runs = {"generated": partial(mod.sgd_step, gen, inputs, LR),
            "hand": partial(hand_lenet_step, params, inputs, LR)}
    threads = ""
    if torch is not None:
        runs["torch"] = partial(torch_lenet_step, torch, *_torch_lenet(torch, params, inputs), LR)
        threads = f" PyTorch {torch.__version__}, {torch.get_num_threads()} threads."
    numbers = {who: number or max(1, timeit.Timer(run).autorange()[0] // 4)  # ≥ 0.05 s
               for who, run in runs.items()}
    best = {who: float("inf") for who in runs}
    for _ in range(rounds):  # alternate so drifts in machine speed hit all alike
        for who, run in runs.items():
            best[who] = min(best[who], _time(run, repeats, numbers[who]))
    return best, threads


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m derive.bench",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small depths and few repeats")
    parser.add_argument("--peers", action="store_true",
                        help="only the generated steps against autograd, PyTorch and jax.jit "
                             "(those installed; the run says which it skipped)")
    args = parser.parse_args(argv)
    if args.peers:
        bench_peers(quick=args.quick)
        return 0
    if args.quick:
        bench_derivation((2, 4, 8), repeats=1)
        bench_training(repeats=1, rounds=2)
        bench_lstm(repeats=2)
        bench_transformer(repeats=1, rounds=2)
        bench_lenet(repeats=1, rounds=2, number=10, torch_threads=1)  # a smoke run
        bench_codegen((2, 8), repeats=1)
        bench_startup(repeats=1)
        bench_memory(LSTM_SIZES[1:], _lstm_problem, _hand_lstm, LSTM_LR)
    else:
        bench_derivation((8, 32, 128), repeats=3)
        bench_training(repeats=5, rounds=5)
        bench_lstm(repeats=7)
        bench_transformer(repeats=5, rounds=5)
        bench_lenet(repeats=5, rounds=5)
        bench_codegen((128, 512), repeats=3)
        bench_startup(repeats=5)
        bench_memory(LSTM_SIZES, _lstm_problem, _hand_lstm, LSTM_LR)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
