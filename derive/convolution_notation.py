"""How convolution and pooling are written: in text and LaTeX (K ⋆ x, K ⋆ᵀ δz,
Σ_patches δz ⋆ x, maxpool, unpool_max) and as the numpy helpers the generated module defines.

Every helper takes the layer's sizes as one tuple g = (C, H, W, kh, kw, sh, sw, ph, pw).
Patches are gathered as rows of x (`np.take`, the padding a zero row) and multiplied in one
GEMM (im2col); a δ is pushed back by gathering, for each pixel, the pieces that land on it,
as many passes as the most pieces a pixel gets (col2im): no Python loop over pixels.
"""

import sympy as sp

from .algebra import Helper, Spelled, unstretched

_WINDOWS = "np.lib.stride_tricks.sliding_window_view"


def output_size(size, pad, kernel, stride):
    """⌊(size + 2·pad − kernel)/stride⌋ + 1, kept symbolic where that is exact."""
    span = size + 2 * pad - kernel
    if span.is_number:
        return sp.Integer(int(span) // stride + 1)
    return sp.simplify(span / stride + 1)


_PATCH_ROWS = Helper(
    "patch_rows", "For patch entry (c, i, j) at output position (y′, x′), in that order, the "
    "row of x it reads: pixel (c, sh·y′ + i − ph, sw·x′ + j − pw), or row C·H·W (a zero row "
    "put below x) in the padding. Worked out once per layer's sizes g, then remembered.",
    ("if g not in known:",
     "    C, H, W, kh, kw, sh, sw, ph, pw = g",
     "    rows, cols = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1",
     "    c, i, j, oy, ox = np.ix_(range(C), range(kh), range(kw), range(rows), range(cols))",
     "    py, px = sh * oy + i - ph, sw * ox + j - pw",
     "    inside = (py >= 0) & (py < H) & (px >= 0) & (px < W)",
     "    known[g] = np.where(inside, (c * H + py) * W + px, C * H * W).reshape(-1)",
     "known[g]"), args="g, known={}")

_PATCHES = Helper(
    "patches", "The zero-padded patches of each image of x, one column per output position "
    "(im2col): rows C·kh·kw, columns H′·W′·N, as one gather of the rows of x and a zero row. "
    "The last ones gathered for each layer's sizes are kept with their x: `reuse` (the "
    "kernel gradient, reading the very x the forward pass read) takes them, not gathering "
    "twice.",
    ("kept = last.get(g)  # read once: another thread may gather for these sizes meanwhile",
     "if reuse and kept is not None and kept[0] is x:",
     "    return kept[1]",
     "C, H, W, kh, kw, sh, sw, ph, pw = g",
     "padded = np.concatenate((x, np.zeros((1, x.shape[1]), dtype=x.dtype)))",
     "columns = padded.take(patch_rows(g), axis=0).reshape(C * kh * kw, -1)",
     "last[g] = x, columns",
     "columns"), args="x, g, reuse=False, last={}",
    needs=(_PATCH_ROWS,))

_PUSH_ROWS = Helper(
    "push_rows", "For each pixel, the rows of the spread patches (laid out as patch_rows reads "
    "them, then a zero row) that land on it: m × C·H·W, m the most any pixel gets (at least "
    "1), the shorter lists padded with the zero row. The transpose of patch_rows, worked out "
    "once per layer's sizes g, then remembered.",
    ("if g not in known:",
     "    C, H, W = g[:3]",
     "    reads = patch_rows(g)",
     "    order = np.argsort(reads, kind=\"stable\")",
     "    pixels = reads[order]",
     "    inside = pixels < C * H * W",
     "    rank = (np.arange(reads.size) - np.searchsorted(pixels, pixels))[inside]",
     "    table = np.full((np.max(rank, initial=0) + 1, C * H * W), reads.size)",
     "    table[rank, pixels[inside]] = order[inside]",
     "    known[g] = table",
     "known[g]"), args="g, known={}", needs=(_PATCH_ROWS,))

_PUSH_BACK = Helper(
    "push_back", "spread (C·kh·kw·H′·W′ rows, a patch entry at an output position each, as "
    "patch_rows lays them out, then a zero row) added back onto the pixels they came from "
    "(col2im): one gather of rows a pass, each pixel taking the next of its pieces, never a "
    "loop over pixels.",
    ("pieces = push_rows(g)",
     "images = spread.take(pieces[0], axis=0)",
     "for rows in pieces[1:]:",
     "    images += spread.take(rows, axis=0)",
     "images"), args="spread, g", needs=(_PUSH_ROWS,))

_SPREAD = Helper(
    "spread_for", "Room for the pieces of δ that push_back adds up: `rows` rows to fill, one "
    "for each patch entry at each output position, then the zero row it reads for padding.",
    ("spread = np.empty((rows + 1, dy.shape[1]), dtype=dy.dtype)",
     "spread[-1] = 0  # (an int: exact numbers stay exact)",
     "spread"), args="rows, dy")


class Convolved(Spelled):
    """K ⋆ x: the kernel applied to every patch of x."""

    text = "{1} ⋆ {0}"
    latex = r"{1} \star {0}"
    numpy = "convolve({0}, {1}, {2})"
    infix = True
    fresh = True
    helper = Helper("convolve", "K ⋆ x (+ b): the kernel times every patch, one GEMM; a bias "
                    "b of each output channel added on the channels' rows, where it "
                    "broadcasts.",
                    ("z = K @ patches(x, g)",
                     "if b is not None:",
                     "    z += b",
                     "z.reshape(-1, x.shape[1])"), args="x, K, g, b=None",
                    needs=(_PATCHES,))

    @property
    def shape(self):
        x, K, g = self.args[:3]
        return (K.shape[0] * g_positions(g), x.shape[1])

    def absorb(self, term):
        """K ⋆ x + b as one call, when `term` is a bias b of K's output channels at every
        position (b 1ᵀ): added as the GEMM's array is made, not as a column of repeats."""
        b = unstretched(term)
        x, K, g = self.args
        if isinstance(b, PerPosition) and b.args[0].shape[0] == K.shape[0] and \
                sp.simplify(b.args[1] - g_positions(g)) == 0:
            return BiasedConvolved(x, K, g, b.args[0])
        return None


class BiasedConvolved(Convolved):
    """K ⋆ x + b, b a bias of each output channel (in generated code only)."""

    text = "{1} ⋆ {0} + {3}"
    latex = r"{1} \star {0} + {3}"
    numpy = "convolve({0}, {1}, {2}, {3})"
    absorb = None


class PushedBack(Spelled):
    """K ⋆ᵀ δz: δz pushed back through the kernel onto the image."""

    text = "{0} ⋆ᵀ {1}"
    latex = r"{0} \star^{{\top}} {1}"
    numpy = "convolve_back({0}, {1}, {2})"
    infix = True
    helper = Helper("convolve_back", "K ⋆ᵀ δz: Kᵀ δz at every position, pushed back onto the "
                    "pixels of its patch.",
                    ("spread = spread_for(K.shape[1] * (dz.shape[0] // K.shape[0]), dz)",
                     "np.matmul(K.T, dz.reshape(K.shape[0], -1), "
                     "out=spread[:-1].reshape(K.shape[1], -1))",
                     "push_back(spread, g)"),
                    args="K, dz, g", needs=(_SPREAD, _PUSH_BACK))

    @property
    def shape(self):
        K, dz, g = self.args
        return (g[0] * g[1] * g[2], dz.shape[1])


class KernelGradient(Spelled):
    """Σ_patches δz ⋆ x: δz times every patch's transpose, summed over the positions."""

    text = "Σ_patches {0} ⋆ {1}"
    latex = r"\mathop{{\textstyle\sum}}\nolimits_{{\mathrm{{patches}}}} {0} \star {1}"
    numpy = "kernel_gradient({0}, {1}, {2})"
    infix = True
    helper = Helper("kernel_gradient", "Σ over patches of δz patchᵀ: one GEMM.",
                    ("columns = patches(x, g, reuse=True)",
                     "dz.reshape(-1, columns.shape[1]) @ columns.T"),
                    args="dz, x, g", needs=(_PATCHES,))

    @property
    def shape(self):
        dz, x, g = self.args
        return (dz.shape[0] / g_positions(g), g[0] * g[3] * g[4])


class PerPosition(Spelled):
    """A channel's bias, repeated at every position of the channel (printed as the bias).
    Added to an array of the whole shape, numpy adds it onto each channel's rows by
    broadcasting (`onto`), with no column of repeats."""

    text = latex = "{0}"
    numpy = "np.repeat({0}, {1}, axis=0)"
    onto = Helper("add_per_channel", "u + b, b a bias of each channel: added onto the "
                  "channel's rows (its positions, every column) by broadcasting, with no "
                  "column of repeats.",
                  ("(u.reshape(b.shape[0], -1) + b).reshape(u.shape)",), args="u, b")

    @property
    def shape(self):
        b, positions = self.args
        return (b.shape[0] * positions, 1)


class OverPositions(Spelled):
    """Σ_positions: the per-position column summed within each channel."""

    text = "Σ_positions {0}"
    latex = r"\mathop{{\textstyle\sum}}\nolimits_{{\mathrm{{positions}}}} {0}"
    numpy = "np.reshape({0}, (-1, {1})).sum(axis=1, keepdims=True)"
    infix = reduces = True

    @property
    def shape(self):
        column, positions = self.args
        return (column.shape[0] / positions, 1)


_TILING = "(sh, sw, ph, pw) == (kh, kw, 0, 0) and H % kh == 0 and W % kw == 0"
_POOL_WINDOWS = ("C, H, W, kh, kw, sh, sw, ph, pw = g",
                 f"windows = {_WINDOWS}(z.reshape(C, H, W, -1), (kh, kw), axis=(1, 2))"
                 "[:, ::sh, ::sw]")


class Pooled(Spelled):
    """One value per window of each channel: C·H′·W′ rows."""

    @property
    def shape(self):
        z, g = self.args
        return (g[0] * g_positions(g), z.shape[1])


class MaxPooled(Pooled):
    """The maximum of each window."""

    text = "maxpool({0})"
    latex = r"\operatorname{{maxpool}}\left({0}\right)"
    numpy = "max_pool({0}, {1})"
    helper = Helper("max_pool", "The maximum of each window. Windows that tile the image "
                    "(stride = size, no padding) take elementwise maxima, of the columns of "
                    "each window row, then of the rows; others reduce strided windows.",
                    (_POOL_WINDOWS[0],
                     f"if {_TILING}:",
                     "    tiles = z.reshape(C * (H // kh), kh, W // kw, kw, -1)",
                     "    rows = tiles[:, :, :, 0].copy() if kw == 1 else "
                     "np.maximum(tiles[:, :, :, 0], tiles[:, :, :, 1])",
                     "    for j in range(2, kw):  # each window row's maximum",
                     "        np.maximum(rows, tiles[:, :, :, j], out=rows)",
                     "    top = rows[:, 0] if kh == 1 else np.maximum(rows[:, 0], rows[:, 1])",
                     "    for i in range(2, kh):",
                     "        np.maximum(top, rows[:, i], out=top)",
                     "    return top.reshape(-1, z.shape[1])",
                     _POOL_WINDOWS[1],
                     "windows.max(axis=(4, 5)).reshape(-1, z.shape[1])"),
                    args="z, g")


class MaxUnpooled(Spelled):
    """δy put back at the maximum of each window of z (the first, at a tie); y = maxpool(z),
    which the code reads rather than finding each window's maximum again."""

    text = "unpool_max({0}, {1})"
    latex = r"\operatorname{{unpool}}_{{\max}}\left({0}, {1}\right)"
    numpy = "max_unpool({0}, {1}, {2}, {3})"
    helper = Helper("max_unpool", "δy sent to the maximum of each window of z, the first in "
                    "row-major order at a tie; y is the pooled maximum. Windows that tile the "
                    "image (stride = size, no padding) are compared with their maximum at "
                    "every offset at once; where several offsets hold it, each claims what "
                    "the offsets before it left (the last, all that is left), and δy is "
                    "multiplied in once. Others through an argmax over copied windows.",
                    (_POOL_WINDOWS[0],
                     f"if {_TILING}:",
                     "    tiles = z.reshape(C * (H // kh), kh, W // kw, kw, -1)",
                     "    top = y.reshape(C * (H // kh), 1, W // kw, 1, -1)",
                     "    claimed = tiles == top",
                     "    if kh * kw == 1:",
                     "        claimed[...] = True",
                     "    else:",
                     "        free = ~claimed[:, 0, :, 0]",
                     "        for k in range(1, kh * kw - 1):",
                     "            hit = claimed[:, k // kw, :, k % kw]",
                     "            hit &= free",
                     "            free ^= hit",
                     "        claimed[:, -1, :, -1] = free",
                     "    out = np.multiply(claimed, dy.reshape(top.shape))",
                     "    return out.reshape(C * H * W, -1)",
                     _POOL_WINDOWS[1],
                     "first = windows.reshape(*windows.shape[:4], kh * kw).argmax(axis=4)",
                     "spread = spread_for(kh * kw * dy.shape[0], dy)",
                     "pieces = spread[:-1].reshape(C, kh, kw, *first.shape[1:])",
                     "for i in range(kh):",
                     "    for j in range(kw):",
                     "        pieces[:, i, j] = np.where(first == i * kw + j, "
                     "dy.reshape(first.shape), 0)",
                     "push_back(spread, g)"),
                    args="dy, z, y, g", needs=(_SPREAD, _PUSH_BACK))

    @property
    def shape(self):
        dy, z, y, g = self.args
        return z.shape


class AvgPooled(Pooled):
    """The mean of each window."""

    text = "avgpool({0})"
    latex = r"\operatorname{{avgpool}}\left({0}\right)"
    numpy = "avg_pool({0}, {1})"
    helper = Helper("avg_pool", "The mean of each window.",
                    (*_POOL_WINDOWS, "windows.mean(axis=(4, 5)).reshape(-1, z.shape[1])"),
                    args="z, g")


class AvgUnpooled(Spelled):
    """δy / (kh·kw) spread evenly over each window."""

    text = "unpool_avg({0})"
    latex = r"\operatorname{{unpool}}_{{\mathrm{{avg}}}}\left({0}\right)"
    numpy = "avg_unpool({0}, {1})"
    helper = Helper("avg_unpool", "δy / (kh·kw) spread evenly over each window.",
                    ("C, kh, kw = g[0], g[3], g[4]",
                     "spread = spread_for(kh * kw * dy.shape[0], dy)",
                     "np.divide(dy.reshape(C, 1, -1), kh * kw, "
                     "out=spread[:-1].reshape(C, kh * kw, -1))",
                     "push_back(spread, g)"),
                    args="dy, g", needs=(_SPREAD, _PUSH_BACK))

    @property
    def shape(self):
        dy, g = self.args
        return (g[0] * g[1] * g[2], dy.shape[1])


def g_positions(g):
    """H′·W′ from the printed sizes (C, H, W, kh, kw, sh, sw, ph, pw)."""
    return output_size(g[1], g[7], g[3], g[5]) * output_size(g[2], g[8], g[4], g[6])
