"""Hypothesis draws random 2-D convolutional networks and checks each generated backward pass
against central differences and autograd (the graph's twin, from each operation's reference),
the module that pools first against the one that computes every value as written, and
`predict` against the references.

test_random_graphs.py convolves only 1×1×H images with stride 1 (H a symbol); here every size
is a number: images of 1–3 channels and 3–7 rows and columns, kernels of 1–3 on each axis,
strides of 1–2, padding of 0–1 (also as wide as the kernel: positions of pure padding), 1-d
convolutions over the channel-major rows read as a signal, max and average poolings whose
windows tile the image (stride = size, no padding: the helpers' tiling branch) or overlap or
leave rows out, pools of pools, a max and an average pool of one value, residual sums and
products, values read twice (by a later layer or by the head), kernels shared between
layers, values named like the generated code's own arrays, and a head: a dense layer into a
squared error or a softmax cross-entropy (mean), or a squared error on the last value itself.
A "pooled conv" draws maxpool(f(z)), z = K ⋆ h + b, whole, which the module computes as
f(maxpool(z − b) + b) when f never decreases and has slope 0 wherever it is flat
(derive.pool_first; not max(0, z), whose z takes the tie at 0): with each f or none, with a
bias or not, after conv2d, conv1d or h + K ⋆ h, with z or f(z) read elsewhere or not.

DERIVE_FUZZ=300 python -m pytest tests/test_random_convnets.py   # 300 nets"""

import os

import numpy as np
import sympy as sp
from hypothesis import example, given, settings
from hypothesis import strategies as st

import derive as d
from derive.gradcheck import random_inputs, relative_error
from helpers import as_written
from test_random_graphs import FUZZ, check_graph

COUNT = int(os.environ.get("DERIVE_FUZZ", "40"))
CONVNETS = settings(FUZZ, max_examples=COUNT)
ACTIVATIONS = {"relu": d.relu, "tanh": d.tanh, "sigmoid": d.sigmoid, "abs": d.abs,
               "softplus": d.softplus, "max(0, z)": lambda z: d.maximum(0, z),
               "min(z, 1/2)": lambda z: d.minimum(z, 0.5)}
# drawn alike: those listed more than once come more often
LAYERS = ("pooled conv", "conv2d", "activation", "max_pool2d", "pooled conv", "join",
          "residual", "avg_pool2d", "pooled conv", "conv2d", "avg_pool2d", "conv1d",
          "pooled conv", "activation", "max_pool2d", "tap", "join", "fork")
LOSSES = ("squared_error", "softmax_cross_entropy")
# names of values, some of them what the generated code calls its own arrays and helpers
NAMES = ("z", "h", "p", "y", "pooled_z", "z_unbiased", "pooled_z_unbiased", "delta_z", "x_",
         "patches", "convolve", "max_pool", "max_unpool", "spread", "relu", "step", "cache")


class ConvNet:
    """A convolutional net from a spec: an image of C×H×W pixels (a column of C·H·W rows per
    example), layers applied in turn to the current value h, then a head. Layers (each leaves
    the image sizes it makes for the next):
      ("conv2d", C_out, (kh, kw), (sh, sw), (ph, pw), bias, shared)
      ("conv1d", C_out, k, s, p, bias, shared)   h's rows read as a signal of C × H·W
      ("relu",) ... ("softplus",)
      ("max_pool2d" | "avg_pool2d", (kh, kw), (sh, sw))
      ("residual", "+" | "*", k, bias, f, shared)  h ∘ f(K ⋆ h (+ b)): K of k×k, "same" padding
      ("join", "+" | "*", j)    h ∘ the j-th value (x, then each layer's), of as many rows as h
      ("fork", "+" | "*", (kh, kw), (sh, sw))   maxpool(h) ∘ avgpool(h): h read by two pools
      ("tap",)                  h read by the head too
      ("name", j, name)         the j-th value named (if it has no name, and the name is free)
    `shared` takes the last kernel (and bias) of the same shape, if there is one, not a new one.
    The head (loss, classes, bias) is W h + Σ V_i tap_i (+ b) into "squared_error" against an
    input label or "softmax_cross_entropy" (mean over N); with 0 classes, h itself (+ b, and
    always if nothing else has a parameter) against a label, plus ½ Σ tap_i² for each tap."""

    def __init__(self, image, layers=(), head=None):
        g = self.graph = d.Graph("convnet")
        self.image = tuple(image)
        self.current = g.input("x", (int(np.prod(image)), "N"))
        self.values = [self.current]  # what a join may read
        self.taps, self.made = [], []
        for layer in layers:
            self.add(layer)
        if head is not None:
            self.finish(*head)

    def param(self, letter, shape, shared=False):
        earlier = [p for p in self.made if p.name[0] == letter and p.shape == shape]
        if shared and earlier:
            return earlier[-1]
        self.made.append(self.graph.param(f"{letter}{len(self.made) + 1}", shape))
        return self.made[-1]

    @property
    def rows(self):
        return int(np.prod(self.image))

    def add(self, layer):
        kind, *args = layer
        C, H, W = self.image
        h = self.current
        if kind == "conv2d":
            C_out, (kh, kw), stride, padding, bias, shared = args
            K = self.param("K", (C_out, C * kh * kw), shared)
            b = self.param("b", (C_out, 1), shared) if bias else None
            out = d.conv2d(h, K, image=self.image, kernel=(kh, kw), stride=stride,
                           padding=padding, bias=b)
            self.image = (C_out, *(size(n, k, s, p) for n, k, s, p in
                                   zip((H, W), (kh, kw), stride, padding)))
        elif kind == "conv1d":
            C_out, k, s, p, bias, shared = args
            K = self.param("K", (C_out, C * k), shared)
            b = self.param("b", (C_out, 1), shared) if bias else None
            out = d.conv1d(h, K, signal=(C, H * W), kernel=k, stride=s, padding=p, bias=b)
            self.image = (C_out, 1, size(H * W, k, s, p))
        elif kind in ACTIVATIONS:
            out = ACTIVATIONS[kind](h)
        elif kind in ("max_pool2d", "avg_pool2d"):
            (kh, kw), (sh, sw) = args
            out = getattr(d, kind)(h, image=self.image, size=(kh, kw), stride=(sh, sw))
            self.image = (C, size(H, kh, sh, 0), size(W, kw, sw, 0))
        elif kind == "residual":
            op, k, bias, f, shared = args
            b = self.param("b", (C, 1), shared) if bias else None
            branch = d.conv2d(h, self.param("K", (C, C * k * k), shared), image=self.image,
                              kernel=k, padding=k // 2, bias=b)
            out = combine(op, h, ACTIVATIONS[f](branch) if f else branch)
        elif kind == "join":
            op, j = args
            out = combine(op, h, self.values[j])
        elif kind == "fork":
            op, window, stride = args
            out = combine(op, *(pool(h, image=self.image, size=window, stride=stride)
                                for pool in (d.max_pool2d, d.avg_pool2d)))
            self.image = (C, *(size(n, k, s, 0) for n, k, s in zip((H, W), window, stride)))
        elif kind == "tap":
            self.taps.append(h)
            return
        elif kind == "name":
            j, name = args
            value = self.values[j]
            if value.name is None and name not in self.graph.by_name:
                value.named(name)
            return
        else:
            raise ValueError(f"no layer {kind!r}")
        if self.rows != out.shape[0]:
            raise AssertionError(f"{layer}: {out.shape[0]} rows, not {self.image}")
        self.current = out
        self.values.append(out)

    def finish(self, loss, classes, bias):
        g = self.graph
        if classes == 0:
            bias = bias or not self.made  # a parameter to check, at least
            out = self.current + self.param("b", (self.rows, 1)) if bias else self.current
            total = d.squared_error(out, g.input("label", (self.rows, "N")))
            for tap in self.taps:
                total = total + 0.5 * d.sum(tap * tap)
            g.loss(total)
            return
        out = self.param("W", (classes, self.rows)) @ self.current
        for tap in self.taps:
            out = out + self.param("V", (classes, tap.shape[0])) @ tap
        if bias:
            out = out + self.param("b", (classes, 1))
        if loss == "squared_error":
            g.loss(d.squared_error(out, g.input("label", (classes, "N"))))
        else:
            g.loss(d.softmax_cross_entropy(out, g.input("t", (classes, "N")), reduce="mean"))


def size(n, k, s, p):
    """⌊(n + 2p − k)/s⌋ + 1: the positions of a window of k slid by s over n padded by p."""
    return (n + 2 * p - k) // s + 1


def combine(op, a, b):
    return a + b if op == "+" else a * b


# --- the strategy --------------------------------------------------------------------------

def conv_axis(draw, n):
    """(k, s, p) along an axis of n pixels, drawn to fit: k ≤ n + 2p."""
    p = draw(st.integers(0, 1))
    return draw(st.integers(1, min(3, n + 2 * p))), draw(st.integers(1, 2)), p


def pool_axis(draw, n, tiling):
    """(k, s) of a pooling along n pixels: windows that tile n (stride = size, k | n), or any
    k ≤ n slid by 1..k."""
    if tiling:
        k = draw(st.sampled_from([k for k in (1, 2, 3) if n % k == 0]))
        return k, k
    k = draw(st.integers(1, min(3, n)))
    return k, draw(st.integers(1, k))


def pooling(draw, net, kind):
    """A pooling of h; windows that tile the image half the time."""
    _, H, W = net.image
    tiling = draw(st.booleans())
    (kh, sh), (kw, sw) = pool_axis(draw, H, tiling), pool_axis(draw, W, tiling)
    return (kind, (kh, kw), (sh, sw))


def conv(draw, net, kind, bias=None):
    """A convolution of h: conv2d, conv1d, or a residual block h ∘ f(K ⋆ h (+ b))."""
    bias = draw(st.booleans()) if bias is None else bias
    shared = draw(st.sampled_from((False, False, True)))
    if kind == "conv2d":
        (kh, sh, ph), (kw, sw, pw) = (conv_axis(draw, n) for n in net.image[1:])
        return ("conv2d", draw(st.integers(1, 3)), (kh, kw), (sh, sw), (ph, pw), bias, shared)
    if kind == "conv1d":
        k, s, p = conv_axis(draw, net.rows // net.image[0])
        return ("conv1d", draw(st.integers(1, 3)), k, s, p, bias, shared)
    return ("residual", draw(st.sampled_from("+*")), draw(st.sampled_from((1, 3))), bias,
            draw(st.sampled_from((None, *ACTIVATIONS))), shared)


def pooled_conv(draw, net):
    """maxpool(f(z)), z = K ⋆ h + b (conv2d, conv1d, or h + K ⋆ h + b): pooled first when f
    never decreases (or is none) and there is a bias, unless z or f(z) is read elsewhere
    (tapped, or joined by a later layer)."""
    kind = draw(st.sampled_from(("conv2d", "conv2d", "conv1d", "residual")))
    layers = [conv(draw, net, kind, bias=draw(st.sampled_from((True, True, False))))]
    if kind == "residual":
        layers[0] = ("residual", "+", *layers[0][2:4], None, layers[0][5])
    f = draw(st.sampled_from((*ACTIVATIONS, None)))
    tap = draw(st.sampled_from((None, None, None, "z", "f(z)")))
    layers += [("tap",)] * (tap == "z") + [(f,)] * (f is not None) + \
        [("tap",)] * (tap == "f(z)" and f is not None)
    for layer in layers:
        net.add(layer)
    layers.append(pooling(draw, net, "max_pool2d"))
    net.add(layers[-1])
    return layers


@st.composite
def convnets(draw):
    """(image, N, layers, head): 1–4 layers (a pooled conv, a few) drawn one by one on a net
    built as they are drawn, each fitting the image the last one left."""
    image = (draw(st.integers(1, 3)), draw(st.integers(3, 7)), draw(st.integers(3, 7)))
    examples = draw(st.sampled_from((2, 3)))
    net, layers = ConvNet(image), []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(LAYERS))
        if kind == "pooled conv":
            layers += pooled_conv(draw, net)
            continue
        same = [j for j, value in enumerate(net.values)
                if value.shape[0] == net.rows and value is not net.current]
        if kind in ("conv2d", "conv1d") or (kind == "join" and not same):
            layer = conv(draw, net, kind if kind != "join" else "residual")
        elif kind == "activation":
            layer = (draw(st.sampled_from(tuple(ACTIVATIONS))),)
        elif kind in ("max_pool2d", "avg_pool2d"):
            layer = pooling(draw, net, kind)
        elif kind == "join":
            layer = ("join", draw(st.sampled_from("+*")), draw(st.sampled_from(same)))
        elif kind == "fork":
            layer = ("fork", draw(st.sampled_from("+*")), *pooling(draw, net, kind)[1:])
        else:
            layer = (kind,) if kind == "tap" else conv(draw, net, "residual")
        net.add(layer)
        layers.append(layer)
    for _ in range(draw(st.integers(0, 2)) if len(net.values) > 1 else 0):  # names, last
        layers.append(("name", draw(st.integers(1, len(net.values) - 1)),
                       draw(st.sampled_from(NAMES))))
    loss = draw(st.sampled_from(("squared_error", "softmax_cross_entropy")))
    classes = draw(st.integers(0 if loss == "squared_error" else 2, 3))
    return image, examples, tuple(layers), (loss, classes, draw(st.booleans()))


# --- the checks ----------------------------------------------------------------------------

def check(spec):
    """δ of every parameter against differences and autograd (the twin of the graph), the
    float32 module kept float32, pooling first against pooling as written, and `predict`."""
    image, examples, layers, head = spec
    graph = ConvNet(image, layers, head).graph
    dims = {"N": examples}
    check_graph(graph, dims)
    pooled_first_as_written(graph, dims)
    assert predicted_as_defined(graph, dims)


def number(expr):
    """A size or a constant of the graph (all numbers here) as numpy takes it."""
    return int(expr) if sp.sympify(expr).is_integer else float(expr)


def predicted_as_defined(graph, dims):
    """`predict` gives what the loss compares with its target, out (or softmax(out) for a
    cross-entropy), as each node's `reference` computes it."""
    der = d.derive(graph)
    module = d.compile_numpy(der)
    params = module.init_params(dims, seed=0, scheme="normal")
    inputs = random_inputs(der, dims, np.random.default_rng([2, 0]))
    leaves, values = {**params, **inputs}, {}
    loss, = (n for n in graph.nodes if n.op is not None and n.op.name in LOSSES)
    with np.errstate(all="ignore"):
        for node in graph.nodes:  # in the order they were made: operands first
            values[node] = leaves[node.name] if node.is_leaf else node.op.reference(
                np, number, node, *(values[n] for n in node.inputs))
        out = values[loss.inputs[0]]
        if loss.op.name == "softmax_cross_entropy":
            e = np.exp(out - out.max(axis=0))
            out = e / e.sum(axis=0)
        got = module.predict(params, inputs)
    if not np.isfinite(out).all():
        return True
    scale = float(np.max(np.abs(out), initial=0.0))
    return got.shape == out.shape and np.allclose(got, out, rtol=1e-9, atol=1e-9 * scale)


def blank(inputs):
    """The first image blank (K ⋆ x is 0 at every position, every window a tie) and the top
    half of the next too: the ties that differences and autograd cannot judge."""
    x = inputs["x"]
    x[:, 0] = 0.0
    x[:x.shape[0] // 2, 1:2] = 0.0
    return inputs


def pooled_first_as_written(graph, dims):
    """The module that pools first and the one that computes every value as written give the
    same loss and gradients, to roundoff, at random images and at blank ones (ties everywhere),
    where the first sends δ to the first maximum of z − b and the second to that of f(z)."""
    der = d.derive(graph)
    pooled, written = d.compile_numpy(der), as_written(graph)
    if written.__source__ == pooled.__source__:
        return
    params = pooled.init_params(dims, seed=0, scheme="normal")
    for draw in range(2):
        inputs = random_inputs(der, dims, np.random.default_rng([1, draw]))
        if draw:
            inputs = blank(inputs)
        with np.errstate(all="ignore"):
            loss, grads = pooled.gradients(params, inputs)
            loss_as_written, grads_as_written = written.gradients(params, inputs)
        if not (np.isfinite(loss) and abs(loss) < 1e8):
            continue
        assert np.isclose(loss, loss_as_written, rtol=1e-13, atol=1e-300), \
            f"pooled first, E = {loss!r}; as written, {loss_as_written!r}"
        for name, want in grads_as_written.items():
            scale = max(float(np.max(np.abs(want))), 1e-300)
            worst = float(np.max(relative_error(grads[name], want, 1e-3 * scale)))
            assert worst < 1e-9, f"pooling first changes δ{name} by {worst:.2e} of it"


POOLED_FIRST = ((2, 6, 6), 2, (
    ("conv2d", 3, (3, 3), (1, 1), (1, 1), True, False), ("relu",),
    ("max_pool2d", (2, 2), (2, 2)),                   # tiling: relu(maxpool(z1) + b2)
    ("conv2d", 2, (2, 3), (1, 1), (1, 1), True, False), ("sigmoid",),
    ("max_pool2d", (2, 3), (1, 1)),                   # overlapping: σ(maxpool(z3) + b4)
    ("max_pool2d", (2, 1), (1, 1)),                   # a pool of that pool, as written
    ("residual", "+", 1, True, None, False), ("tanh",),
    ("max_pool2d", (2, 1), (2, 1))),                  # tanh(maxpool(h + K ⋆ h) + b5)
    ("softmax_cross_entropy", 3, True))

# Found by a run of a few hundred nets: a 1-d layer leaves an image of height 1, and a 1×1 kernel with
# stride 2 and padding 1 reads rows −1 and 1 of it, padding only; push_rows took the max of
# no pixels (a ValueError, not δ = 0).
PADDING_ONLY = ((3, 4, 5), 3, (("conv1d", 1, 1, 1, 0, False, False),
                               ("conv2d", 1, (1, 1), (2, 1), (1, 0), False, False)),
                ("squared_error", 1, False))


def test_the_kept_case_pools_first_three_times():
    """Three poolings computed pooled first (relu over tiling windows, σ over overlapping
    ones, tanh over h + K ⋆ h + b) and a pool of a pool computed as written: the fuzz test
    checks this net before any it draws."""
    source = d.to_numpy(ConvNet(POOLED_FIRST[0], *POOLED_FIRST[2:]).graph)
    assert source.count(": max pooling first, as it commutes with") == 3


@CONVNETS
@given(convnets())
@example(POOLED_FIRST)
@example(PADDING_ONLY)
def test_the_gradients_of_random_convnets_are_those_of_differences_and_autograd(spec):
    check(spec)
