"""Convolution and pooling in the column layout: one kernel shared over the whole image.

An image batch is a node of C·H·W rows (channel, row, column order: numpy's reshape of a
C×H×W image) and one column per example; a kernel K is C_out × (C·kh·kw), in the same order.
With P(x) the matrix whose columns are the (zero-padded) patches of x, one per output position,
a convolution is rule 5 at every patch at once, z = K P(x), written K ⋆ x:

  δx = K ⋆ᵀ δz         each position's column of Kᵀ δz pushed back onto the pixels its patch
                       was gathered from (overlapping patches add: rule 1)
  δK = Σ_patches δz ⋆ x  the kernel's gradient summed over every position it was used at

Average pooling is the same with a fixed kernel of 1/(kh·kw); max pooling (rule 4) sends each
window's δ to the window's maximum, the first in row-major order at a tie.
"""

from dataclasses import dataclass

import numpy as np
import sympy as sp

from .convolution_notation import (AvgPooled, AvgUnpooled, Convolved, KernelGradient,
                                   MaxPooled, MaxUnpooled, OverPositions, PerPosition,
                                   PushedBack, output_size)
from .errors import GraphError, ShapeError
from .graph import Node
from .naming import dimension
from .registry import Builder, Rule, Signature, add, make, register


@dataclass(frozen=True)
class Geometry:
    """Sizes of one layer: image C×H×W, kernel (or window) kh×kw, stride, zero padding."""

    C: object
    H: object
    W: object
    kh: int
    kw: int
    sh: int = 1
    sw: int = 1
    ph: int = 0
    pw: int = 0

    @property
    def out(self):
        """(H′, W′): ⌊(H + 2p − k)/s⌋ + 1 on each axis."""
        return (output_size(self.H, self.ph, self.kh, self.sh),
                output_size(self.W, self.pw, self.kw, self.sw))

    @property
    def positions(self):
        return self.out[0] * self.out[1]

    @property
    def patch(self):
        """Rows of one patch: C·kh·kw."""
        return self.C * self.kh * self.kw

    @property
    def pixels(self):
        return self.C * self.H * self.W

    def args(self):
        """The sizes as the generated helpers take them: (C, H, W, kh, kw, sh, sw, ph, pw)."""
        return sp.Tuple(self.C, self.H, self.W, self.kh, self.kw, self.sh, self.sw, self.ph,
                        self.pw)

    def numbers(self, at):
        return tuple(int(at(v)) for v in self.args())


# --- numbers, for checks that must not trust the rules -------------------------------------

def _gather(geometry):
    """Indices into an image's pixels (C·H·W of them, then one zero row for the padding) of
    every patch: shape (C, kh·kw, H′·W′)."""
    C, H, W, kh, kw, sh, sw, ph, pw = geometry
    rows, cols = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    c, i, j, r, s = np.ogrid[:C, :kh, :kw, :rows, :cols]
    y, x = r * sh + i - ph, s * sw + j - pw
    inside = (0 <= y) & (y < H) & (0 <= x) & (x < W)
    index = np.where(inside, (c * H + y) * W + x, C * H * W)
    return index.reshape(C, kh * kw, rows * cols)


def _windows(xp, x, geometry):
    """(C, kh·kw, H′·W′, N): every window of every image, zeros where padding reaches out."""
    padded = xp.concatenate([x, xp.zeros((1, x.shape[1]))], axis=0)
    return padded[_gather(geometry)]


def _convolved_numbers(xp, at, node, x, K, *bias):
    geometry = node.attrs["geometry"].numbers(at)
    windows = _windows(xp, x, geometry)  # (C, kh·kw, P, N)
    C = geometry[0]
    kernel = xp.reshape(K, (K.shape[0], C, -1))
    out = xp.einsum("ocr,crpn->opn", kernel, windows)
    return xp.reshape(out, (-1, x.shape[1]))


# --- the operations ----------------------------------------------------------------------

def _image_rows(node, shape):
    """The layer's sizes, once its input's rows are checked to be one image of them."""
    g = node.attrs["geometry"]
    if sp.simplify(shape[0] - g.pixels) != 0:
        raise ShapeError(f"{node.attrs['layer']}: {node.inputs[0]} has {shape[0]} rows, but an "
                         f"image of {g.C}×{g.H}×{g.W} has {g.pixels}")
    return g


def _conv_shape(node, x_shape, K_shape):
    g = _image_rows(node, x_shape)
    layer = node.attrs["layer"]
    if sp.simplify(K_shape[1] - g.patch) != 0:
        raise ShapeError(f"{layer}: kernel {node.inputs[1]} is {K_shape[0]}×{K_shape[1]}, but "
                         f"{g.C} channel{'s' * (g.C != 1)} of {g.kh}×{g.kw} need{'s' * (g.C == 1)} "
                         f"{g.patch} columns (C_out × C·kh·kw)")
    return (K_shape[0] * g.positions, x_shape[1])


@register("conv2d_kernel", Rule.WEIGHT_MATRIX, _conv_shape,
          lambda node, x, K: Convolved(x, K, node.attrs["geometry"].args()),
          reference=_convolved_numbers, init=lambda node, index: "weight" if index == 1 else None,
          fan_out=lambda node: node.attrs["geometry"].kh * node.attrs["geometry"].kw, shared={
              0: "a pixel sits in every patch that covers it, and the push-back adds a piece "
                 "from each",
              1: "the kernel is used at every patch, and its gradient adds those uses"})
def convolving(node, delta, y, x, K):
    """z = K ⋆ x (z = K P(x)):  δx = K ⋆ᵀ δz,  δK = Σ_patches δz ⋆ x."""
    g = node.attrs["geometry"].args()
    return PushedBack(K, delta, g), KernelGradient(delta, x, g)


def _per_position_numbers(xp, at, node, b):
    return xp.repeat(b, int(at(node.attrs["positions"])), axis=0)


@register("per_position", Rule.ADDING,
          lambda node, shape: (shape[0] * node.attrs["positions"], sp.Integer(1)),
          lambda node, b: PerPosition(b, node.attrs["positions"]),
          reference=_per_position_numbers, init=lambda node, index: "bias")
def repeating(node, delta, y, b):
    """A channel's bias at every position:  δb = Σ_positions δ of its copies."""
    return (OverPositions(delta, node.attrs["positions"]),)


def _pool_shape(node, shape):
    g = _image_rows(node, shape)
    return (g.C * g.positions, shape[1])


def _pooled_numbers(reduce):
    """A pooling's value in numbers: `reduce` (max or mean) over each window."""
    def numbers(xp, at, node, z):
        windows = _windows(xp, z, node.attrs["geometry"].numbers(at))
        return xp.reshape(getattr(xp, reduce)(windows, axis=1), (-1, z.shape[1]))
    return numbers


def _window_maxima(node):
    """Max pooling's kinks: which entry of each window is the largest. A step that changes it
    crosses a tie, where the slope jumps."""
    def side(at, z):  # z is rows×N, or steps×rows×N in a recurrent net
        z = np.moveaxis(z, -2, 0).reshape(z.shape[-2], -1)
        return np.argmax(_windows(np, z, node.attrs["geometry"].numbers(at)), axis=1)
    return [((0,), side)]


@register("max_pool2d_window", Rule.FUNCTION_APPLICATION, _pool_shape,
          lambda node, z: MaxPooled(z, node.attrs["geometry"].args()),
          kinks=_window_maxima, reference=_pooled_numbers("max"))
def max_pooling(node, delta, y, z):
    """y = max of each window of z:  δz = δy at each window's maximum, 0 elsewhere."""
    return (MaxUnpooled(delta, z, y, node.attrs["geometry"].args()),)


@register("avg_pool2d_window", Rule.WEIGHT_MATRIX, _pool_shape,
          lambda node, z: AvgPooled(z, node.attrs["geometry"].args()),
          reference=_pooled_numbers("mean"))
def avg_pooling(node, delta, y, z):
    """y = mean of each window of z (a fixed kernel of 1/(kh·kw)):  δz = δy/(kh·kw) spread
    back over each window."""
    return (AvgUnpooled(delta, node.attrs["geometry"].args()),)


# --- the calls users make -----------------------------------------------------------------

def _pair(value, what, layer, smallest):
    """An int or a pair of ints, each at least `smallest`."""
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer, sp.Integer)) and
                                 not isinstance(v, bool) and v >= smallest for v in pair):
        raise GraphError(f"{layer}: {what} must be a whole number ≥ {smallest} or a pair of "
                         f"them, got {value!r}")
    return tuple(int(v) for v in pair)


def _image(value, layer, what="image", count=3):
    names = "(C, H, W)" if count == 3 else "(C, L)"
    if value is None:
        raise GraphError(f"{layer} needs {what}={names}: the sizes its rows are laid out in")
    if not isinstance(value, (tuple, list)) or len(value) != count:
        raise GraphError(f"{layer}: {what} must be {names}, got {value!r}")
    try:
        return tuple(dimension(v) for v in value)
    except GraphError as error:
        raise GraphError(f"{layer}: {what}: {error}") from None


def _geometry(layer, C, H, W, kernel, stride, padding):
    kh, kw = kernel
    g = Geometry(C, H, W, kh, kw, *stride, *padding)
    for size, pad, k, s, axis in ((H, g.ph, kh, g.sh, "height"), (W, g.pw, kw, g.sw, "width")):
        span = size + 2 * pad - k
        if span.is_number and span < 0:
            raise ShapeError(f"{layer}: a kernel (window) of {k} does not fit the {axis} "
                             f"{size} padded by {pad}")
        if not span.is_number and s != 1:
            raise ShapeError(f"{layer}: with stride {s} the output {axis} ⌊({span})/{s}⌋ + 1 "
                             f"is exact only for a numeric {axis}; give {size} as a number")
    return g


def _node(value, layer, what):
    if value is not None and not isinstance(value, Node):
        raise GraphError(f"{layer}: {what} must be a node (a C_out×1 parameter), got {value!r}")
    return value


def _convolution(x, K, C, H, W, kernel, stride, padding, bias, layer):
    geometry = _geometry(layer, C, H, W, kernel, stride, padding)
    z = make("conv2d_kernel", (x, K), geometry=geometry, layer=layer)
    if bias is None:
        return z
    if sp.simplify(bias.shape[0] - K.shape[0]) != 0 or bias.shape[1] != 1:
        raise ShapeError(f"{layer}: bias {bias} is {bias.shape[0]}×{bias.shape[1]}, but "
                         f"{K.shape[0]} output channels need a {K.shape[0]}×1 bias")
    return z + make("per_position", (bias,), positions=geometry.positions)


def _conv2d(x, K, image=None, kernel=None, stride=1, padding=0, bias=None):
    layer = f"conv2d({x}, {K})"
    C, H, W = _image(image, layer)
    return _convolution(x, K, C, H, W, _pair(kernel, "kernel", layer, 1),
                        _pair(stride, "stride", layer, 1), _pair(padding, "padding", layer, 0),
                        _node(bias, layer, "bias"), layer)


def _conv1d(x, K, signal=None, kernel=None, stride=1, padding=0, bias=None):
    """A signal of C channels and length L is an image of height 1."""
    layer = f"conv1d({x}, {K})"
    C, L = _image(signal, layer, "signal", 2)
    for value, what in ((kernel, "kernel"), (stride, "stride"), (padding, "padding")):
        if isinstance(value, (tuple, list)):
            raise GraphError(f"{layer}: {what} of a 1-d convolution is one whole number, got "
                             f"{value!r}")
    return _convolution(x, K, C, sp.Integer(1), L, (1, _pair(kernel, "kernel", layer, 1)[0]),
                        (1, _pair(stride, "stride", layer, 1)[0]),
                        (0, _pair(padding, "padding", layer, 0)[0]),
                        _node(bias, layer, "bias"), layer)


def _pool(name):
    def pool(z, image=None, size=2, stride=None):
        layer = f"{name}({z})"
        C, H, W = _image(image, layer)
        window = _pair(size, "size", layer, 1)
        steps = window if stride is None else _pair(stride, "stride", layer, 1)
        geometry = _geometry(layer, C, H, W, window, steps, (0, 0))
        return make(f"{name}_window", (z,), geometry=geometry, layer=layer)
    return pool


_SIZES = {"stride": "1", "padding": "0"}
conv2d = add(Builder("conv2d", _conv2d, Signature(
    2, names=("x", "K"), sizes={"image": "(C, H, W)", "kernel": "(kh, kw)", **_SIZES},
    node_options=("bias",))), callable_name="conv2d")
conv1d = add(Builder("conv1d", _conv1d, Signature(
    2, names=("x", "K"), sizes={"signal": "(C, L)", "kernel": "k", **_SIZES},
    node_options=("bias",))), callable_name="conv1d")
max_pool2d, avg_pool2d = (
    add(Builder(name, _pool(name), Signature(1, sizes={"image": "(C, H, W)", "size": "2",
                                                      "stride": "size"})),
        callable_name=name) for name in ("max_pool2d", "avg_pool2d"))
