"""The best numpy training steps we could write by hand, which the generated ones are timed
against (`bench`): a baseline is only as honest as it is good. Each updates its parameters in
place and returns the loss before the step; `bench` first checks each gives the generated
step's loss and updated parameters."""

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=None)
def ones(n):
    """A column of n ones, made once: Σ_cols d is d @ ones(N), one BLAS call, 2–10× faster
    than d.sum(axis=1) at these sizes."""
    return np.ones((n, 1))


def sigmoid_(u):
    """Sigmoid as 1/(1 + e^−u) in place, overwriting `u` (0 where e^−u overflows)."""
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
    b2 -= d_z2 @ ones(x.shape[1])
    W1 -= d_z1 @ x.T
    b1 -= d_z1 @ ones(x.shape[1])
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
        b -= d @ ones(x.shape[1])
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
    d_b = np.add.reduce(d_z) @ ones(N)    # Σ_t, then Σ_cols in one BLAS call
    p["W_y"] -= np.tensordot(d_y, hs[1:], axes=over_steps)
    p["b_y"] -= np.add.reduce(d_y) @ ones(N)
    for k, gate in enumerate(GATES):
        rows = slice(k * H, (k + 1) * H)
        p[f"W_{gate}"] -= d_W[rows]
        p[f"U_{gate}"] -= d_U[rows]
        p[f"b_{gate}"] -= d_b[rows]
    return loss


LN_EPS = 1e-5  # the layer norms' ε, as in models.transformer_block


def _layer_norm_(r, ones):
    """Normalise each column of `r` in place (mean and variance over its rows, ε = 1e-5, the
    mean taken off twice as derive's `centred_rows` does, so equal entries give 0 exactly);
    returns `r`, now x̂, and each column's scale s = 1/√(σ² + ε), a row of T. `ones` is a
    vector of ones as long as a column: a sum over rows is then one BLAS matrix-vector call."""
    n = r.shape[0]
    r -= (ones @ r) / n
    r -= (ones @ r) / n                     # what one pass leaves of the mean's rounding
    s = np.einsum("ij,ij->j", r, r)        # Σ_rows x_c², no squared temporary
    s /= n
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
    ones_d, ones_t = ones(D)[:, 0], ones(T)  # ones_d @ x: Σ_rows; x @ ones_t: Σ_cols
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
    z3 -= np.maximum.reduce(z3)            # each column's maximum
    e = np.exp(z3)
    s = ones(10).T @ e                      # Σ_rows e, 1 × N
    loss = (float(np.vdot(np.log(s), ones(N))) - float(np.vdot(t, z3))) / N  # columns of t sum to 1
    c = lr / N
    e *= c / s
    e -= c * t                              # lr·δz3 = lr/N (softmax − t)
    d_h2 = W3.T @ e
    W3 -= e @ h2.T
    b3 -= e @ ones(N)
    np.multiply(d_h2, h2 > 0, out=d_h2)     # lr·δz2
    d_z2 = d_h2.reshape(8, -1)
    spread = np.empty((145, N))             # Kᵀ δz2 at every position, and a zero row
    spread[144] = 0.0
    np.matmul(K2.T, d_z2, out=spread[:144].reshape(36, -1))
    K2 -= d_z2 @ cols2.T
    b2 -= d_z2 @ ones(4 * N)
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
    b1 -= d_p1.reshape(4, -1) @ ones(16 * N)  # Σ δz1 = Σ δp1 in each channel
    return loss
