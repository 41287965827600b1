"""Built-in example networks, each a function returning its Graph."""

import numpy as np
import sympy as sp

from . import functions as f
from .errors import GraphError
from .graph import Graph, Node
from .rules import concat, split
from .naming import dims
from .losses import softmax_cross_entropy, squared_error
from .normalization import layer_norm
from .softmax import softmax
from .convolution import conv2d, max_pool2d


def mlp():
    """The seed network: one sigmoid hidden layer, sigmoid outputs, squared error."""
    g = Graph("mlp")
    x, label = g.input("x", ("D", "N")), g.input("label", ("K", "N"))
    W1, b1 = g.param("W1", ("H", "D")), g.param("b1", ("H", 1))
    W2, b2 = g.param("W2", ("K", "H")), g.param("b2", ("K", 1))
    z1 = (W1 @ x + b1).named("z1")
    h = f.sigmoid(z1).named("h")
    z2 = (W2 @ h + b2).named("z2")
    out = f.sigmoid(z2).named("out")
    g.loss(squared_error(out, label).named("E"))
    return g


def softmax_classifier():
    """A tanh hidden layer and a softmax output trained with cross-entropy (δz = y − t)."""
    g = Graph("softmax_classifier")
    x, t = g.input("x", ("D", "N")), g.input("t", ("K", "N"))
    W1, b1 = g.param("W1", ("H", "D")), g.param("b1", ("H", 1))
    W2, b2 = g.param("W2", ("K", "H")), g.param("b2", ("K", 1))
    h = f.tanh((W1 @ x + b1).named("z1")).named("h")
    z2 = (W2 @ h + b2).named("z2")
    g.loss(softmax_cross_entropy(z2, t).named("E"))
    return g


def _flag(name, value):
    if value not in (True, False):  # "no" is truthy: it would build the other model
        raise GraphError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def deep_mlp(depth=4, activation=f.relu):
    """`depth` hidden layers of width H with biases, a linear output, squared error."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise GraphError(f"deep_mlp: depth must be a whole number of layers, 1 or more, got "
                         f"{depth!r}")
    if not isinstance(activation, f.Function):
        raise GraphError(f"deep_mlp: activation must be one of derive's functions (d.relu, "
                         f"d.tanh, d.elementwise(...)), got {activation!r}")
    g = Graph("deep_mlp")
    x, label = g.input("x", ("D", "N")), g.input("label", ("K", "N"))
    h, rows = x, "D"
    for layer in range(1, depth + 1):
        W = g.param(f"W{layer}", ("H", rows))
        b = g.param(f"b{layer}", ("H", 1))
        h = activation((W @ h + b).named(f"z{layer}")).named(f"h{layer}")
        rows = "H"
    W, b = g.param(f"W{depth + 1}", ("K", "H")), g.param(f"b{depth + 1}", ("K", 1))
    out = (W @ h + b).named("out")
    g.loss(squared_error(out, label).named("E"))
    return g


def _output_layer(g, h):
    """y_t = W_y h_t + b_y, with loss ½ Σ_t Σ (y_t − label_t)²."""
    label = g.sequence("label", ("K", "N"))
    W_y, b_y = g.param("W_y", ("K", "H")), g.param("b_y", ("K", 1))
    y = (W_y @ h + b_y).named("y")
    g.loss(squared_error(y, label).named("E"))
    return g


def _gate(g, gate, x, h_prev, extra=0):
    """z_gate = W x_t + U h_{t−1} (+ a peephole) + b, with its own W_gate, U_gate, b_gate."""
    W = g.param(f"W_{gate}", ("H", "D"))
    U = g.param(f"U_{gate}", ("H", "H"))
    b = g.param(f"b_{gate}", ("H", 1))
    return (W @ x + U @ h_prev + extra + b).named(f"z_{gate}")


def rnn():
    """Vanilla RNN: h_t = tanh(W x_t + U h_{t−1} + b), y_t = W_y h_t + b_y."""
    g = Graph("rnn")
    x, h_prev = g.sequence("x", ("D", "N")), g.state("h", ("H", "N"))
    W, U, b = g.param("W", ("H", "D")), g.param("U", ("H", "H")), g.param("b", ("H", 1))
    h = f.tanh((W @ x + U @ h_prev + b).named("z")).named("h")
    return _output_layer(g, h)


def lstm(peepholes=False):
    """LSTM: gates i, f, o, candidate g; c_t = f ⊙ c_{t−1} + i ⊙ g, h_t = o ⊙ tanh(c_t)."""
    peepholes = _flag("peepholes", peepholes)
    g = Graph("lstm_peephole" if peepholes else "lstm")
    x = g.sequence("x", ("D", "N"))
    h_prev, c_prev = g.state("h", ("H", "N")), g.state("c", ("H", "N"))

    def peep(gate, c):  # a peephole lets the gate see the cell: p ⊙ c, p one weight per unit
        return g.param(f"p_{gate}", ("H", 1)) * c if peepholes else 0

    i = f.sigmoid(_gate(g, "i", x, h_prev, peep("i", c_prev))).named("i")
    f_ = f.sigmoid(_gate(g, "f", x, h_prev, peep("f", c_prev))).named("f")
    g_ = f.tanh(_gate(g, "g", x, h_prev)).named("g")
    c = (f_ * c_prev + i * g_).named("c")
    o = f.sigmoid(_gate(g, "o", x, h_prev, peep("o", c))).named("o")
    h = (o * f.tanh(c).named("tanh_c")).named("h")
    return _output_layer(g, h)


def lstm_peephole():
    """LSTM whose gates also see the cell: i, f through c_{t−1}, o through c_t."""
    return lstm(peepholes=True)


def lstm_stacked():
    """LSTM with its four gates in one matrix: z = W [x_t; h_{t−1}] + b, then i, f, o, g = z's
    four row blocks."""
    g = Graph("lstm_stacked")
    D, H = dims("D H")
    x = g.sequence("x", (D, "N"))
    h_prev, c_prev = g.state("h", (H, "N")), g.state("c", (H, "N"))
    W, b = g.param("W", (4 * H, D + H)), g.param("b", (4 * H, 1))
    z = (W @ concat(x, h_prev).named("xh") + b).named("z")
    z_i, z_f, z_o, z_g = (block.named(name) for block, name in
                          zip(split(z, 4), ("z_i", "z_f", "z_o", "z_g")))
    i, f_, o = (f.sigmoid(a).named(n) for a, n in ((z_i, "i"), (z_f, "f"), (z_o, "o")))
    c = (f_ * c_prev + i * f.tanh(z_g).named("g")).named("c")
    h = (o * f.tanh(c).named("tanh_c")).named("h")
    return _output_layer(g, h)


def gru():
    """GRU: r, u gates; ĥ = tanh(W_h x_t + U_h (r ⊙ h_{t−1}) + b_h), h_t = (1 − u) ⊙ h_{t−1} + u ⊙ ĥ."""
    g = Graph("gru")
    x, h_prev = g.sequence("x", ("D", "N")), g.state("h", ("H", "N"))
    r = f.sigmoid(_gate(g, "r", x, h_prev)).named("r")
    u = f.sigmoid(_gate(g, "u", x, h_prev)).named("u")
    h_hat = f.tanh(_gate(g, "h", x, (r * h_prev).named("r_h"))).named("h_hat")
    h = ((1 - u) * h_prev + u * h_hat).named("h")
    return _output_layer(g, h)


def _normalised(g, x, prefix, suffix):
    """γ ⊙ layer_norm(x) + β, with the gain γ and bias β of its own (one per row)."""
    rows = x.shape[0]
    x_hat = layer_norm(x).named(f"{x.name}_hat")
    gamma = g.param(f"{prefix}gamma{suffix}", (rows, 1))
    beta = g.param(f"{prefix}beta{suffix}", (rows, 1))
    return gamma * x_hat + beta


def layer_norm_mlp():
    """An MLP whose hidden layer is normalised over each column before its relu:
    z = W1 x + b1, a = γ ⊙ layer_norm(z) + β, h = relu(a), out = W2 h + b2."""
    g = Graph("layer_norm_mlp")
    x, label = g.input("x", ("D", "N")), g.input("label", ("K", "N"))
    W1, b1 = g.param("W1", ("H", "D")), g.param("b1", ("H", 1))
    W2, b2 = g.param("W2", ("K", "H")), g.param("b2", ("K", 1))
    z = (W1 @ x + b1).named("z")
    h = f.relu(_normalised(g, z, "", "").named("a")).named("h")
    out = (W2 @ h + b2).named("out")
    g.loss(squared_error(out, label).named("E"))
    return g


def attention_layer(g, X, mask=None, prefix=""):
    """Single-head self-attention over the columns (tokens) of X (D×T): Q = W_q X,
    K = W_k X, V = W_v X, S = Kᵀ Q, Z = S/√d_k (+ mask), A = softmax(Z), Y = V A. Column j of A is
    query j's weights over the keys; a mask of 0 and −∞ hides keys from queries. Every name
    it gives starts with `prefix`, so layers stack."""
    _layer_arguments(g, X, prefix)
    D, d_k = X.shape[0], dims("d_k")[0]
    Q = (g.param(f"{prefix}W_q", (d_k, D)) @ X).named(f"{prefix}Q")
    K = (g.param(f"{prefix}W_k", (d_k, D)) @ X).named(f"{prefix}K")
    V = (g.param(f"{prefix}W_v", (D, D)) @ X).named(f"{prefix}V")
    S = (K.T @ Q).named(f"{prefix}S")
    Z = (S / sp.sqrt(d_k) if mask is None else S / sp.sqrt(d_k) + mask).named(f"{prefix}Z")
    A = softmax(Z).named(f"{prefix}A")
    return (V @ A).named(f"{prefix}Y")


def _layer_arguments(g, X, prefix):
    if not (isinstance(g, Graph) and isinstance(X, Node) and isinstance(prefix, str)):
        raise GraphError(f"a layer takes a graph, a node of it and a prefix of names, got "
                         f"{type(g).__name__}, {type(X).__name__}, {prefix!r}")


def attention():
    """Self-attention on one sequence X (D×T, tokens as columns), squared error to a target."""
    g = Graph("attention")
    X, label = g.input("X", ("D", "T")), g.input("label", ("D", "T"))
    g.loss(squared_error(attention_layer(g, X), label).named("E"))
    return g


def transformer_layer(g, X, mask=None, prefix=""):
    """A post-norm transformer block on X (D×T): self-attention with a residual and layer
    norm, then a position-wise relu feed-forward layer (width D_ff) with its own residual and
    layer norm. Every name it gives starts with `prefix` (say "l2_"), so blocks stack."""
    _layer_arguments(g, X, prefix)
    D = X.shape[0]
    R1 = (X + attention_layer(g, X, mask, prefix)).named(f"{prefix}R1")
    H1 = _normalised(g, R1, f"{prefix}", "1").named(f"{prefix}H1")
    W1, b1 = g.param(f"{prefix}W1", ("D_ff", D)), g.param(f"{prefix}b1", ("D_ff", 1))
    W2, b2 = g.param(f"{prefix}W2", (D, "D_ff")), g.param(f"{prefix}b2", (D, 1))
    F = f.relu((W1 @ H1 + b1).named(f"{prefix}U")).named(f"{prefix}F")
    R2 = (H1 + W2 @ F + b2).named(f"{prefix}R2")
    return _normalised(g, R2, prefix, "2").named(f"{prefix}H2")


def causal_mask(rng, shape):
    """A causal mask as checks and worked examples draw it: 0 where key i ≤ query j (row i,
    column j), else −10⁹, whose exp is 0 in float64 as −∞'s is, and which prints."""
    rows, cols = shape
    return np.where(np.arange(rows)[:, None] <= np.arange(cols)[None, :], 0.0, -1e9)


def transformer_block(causal=False):
    """One transformer block on X (D×T), squared error to a target; `causal` adds an input
    mask (T×T, 0 where key i ≤ query j, −∞ elsewhere) before the softmax, as decoders do."""
    causal = _flag("causal", causal)
    g = Graph("causal_transformer_block" if causal else "transformer_block")
    X, label = g.input("X", ("D", "T")), g.input("label", ("D", "T"))
    mask = g.input("mask", ("T", "T"), sample=causal_mask) if causal else None
    g.loss(squared_error(transformer_layer(g, X, mask), label).named("E"))
    return g


def causal_transformer_block():
    """A decoder's transformer block: each token attends to itself and the tokens before it."""
    return transformer_block(causal=True)


def lenet():
    """A small LeNet for 8×8 grey digits (1×8×8, one image a column of 64): conv 3×3 with
    padding 1 to 4 channels, relu, 2×2 max pooling, conv 3×3 with stride 2 and padding 1 to
    8 channels, relu, a dense layer to 10 classes, softmax cross-entropy (mean over N)."""
    g = Graph("lenet")
    x, t = g.input("x", (64, "N")), g.input("t", (10, "N"))
    K1, b1 = g.param("K1", (4, 1 * 3 * 3)), g.param("b1", (4, 1))
    K2, b2 = g.param("K2", (8, 4 * 3 * 3)), g.param("b2", (8, 1))
    W3, b3 = g.param("W3", (10, 8 * 2 * 2)), g.param("b3", (10, 1))
    z1 = conv2d(x, K1, image=(1, 8, 8), kernel=3, padding=1, bias=b1).named("z1")
    h1 = f.relu(z1).named("h1")
    p1 = max_pool2d(h1, image=(4, 8, 8), size=2).named("p1")
    z2 = conv2d(p1, K2, image=(4, 4, 4), kernel=3, stride=2, padding=1, bias=b2).named("z2")
    h2 = f.relu(z2).named("h2")
    z3 = (W3 @ h2 + b3).named("z3")
    g.loss(softmax_cross_entropy(z3, t, reduce="mean").named("E"))
    return g


def digits_mlp():
    """An MLP for scikit-learn's 8×8 digits (64 pixels a column): a relu hidden layer of 64,
    10 classes, softmax cross-entropy (mean over N); `derive train digits-mlp --data digits`."""
    g = Graph("digits_mlp")
    x, t = g.input("x", (64, "N")), g.input("t", (10, "N"))
    W1, b1 = g.param("W1", (64, 64)), g.param("b1", (64, 1))
    W2, b2 = g.param("W2", (10, 64)), g.param("b2", (10, 1))
    h = f.relu((W1 @ x + b1).named("z1")).named("h")
    z2 = (W2 @ h + b2).named("z2")
    g.loss(softmax_cross_entropy(z2, t, reduce="mean").named("E"))
    return g


BUILTIN = {
    "mlp": mlp,
    "softmax-classifier": softmax_classifier,
    "deep-mlp": deep_mlp,
    "rnn": rnn,
    "lstm": lstm,
    "lstm-peephole": lstm_peephole,
    "gru": gru,
    "lstm-stacked": lstm_stacked,
    "layer-norm-mlp": layer_norm_mlp,
    "attention": attention,
    "transformer-block": transformer_block,
    "causal-transformer-block": causal_transformer_block,
    "lenet": lenet,
    "digits-mlp": digits_mlp,
}

# Sizes that make each example small enough to check by finite differences.
EXAMPLE_DIMS = {"D": 3, "H": 4, "K": 2, "N": 5, "T": 4, "d_k": 2, "D_ff": 6}
