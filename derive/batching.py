"""Batching over time: a recurrent gradient Σ_t G_t v_tᵀ as one product after the loop.

Backpropagation through time adds up a weight's gradient step by step, δW = Σ_t δz_t x_tᵀ
(rule 5 at every step, rule 1 over the steps). Written with every step side by side,
[δz_1 … δz_T] and [x_1 … x_T], the same sum is one product, δW = [δz_1 … δz_T][x_1 … x_T]ᵀ,
and a bias's δb = Σ_t Σ_cols δz_t is Σ_cols [δz_1 … δz_T]: one large GEMM after the loop
instead of a small one and an addition at every step. The backward loop keeps each step's
δz_t for it; the forward pass has cached the x_t already.
"""

from dataclasses import dataclass

import sympy as sp
from sympy import MatMul, MatrixSymbol, OneMatrix, Transpose

from .naming import Delta


@dataclass(frozen=True)
class Steps:
    """A δ or a value of every step side by side, rows × (T·cols): a δ written into it by the
    backward loop, step by step; a value put together after the loop from the forward
    pass's cache."""

    var: str        # its identifier
    source: str     # the identifier of its steps: a kept δ's, or a cache entry's
    delta: bool     # a δ the backward loop writes into it, step t in columns t·cols…
    rows: str = ""  # (a δ's) one step's rows and columns, as code
    cols: str = ""


def summed_over_steps(comment):
    """`δW += δz_t x_tᵀ`, the loop's comment, as the batched one: `δW = Σ_t δz_t x_tᵀ`."""
    lhs, _, rhs = comment.partition(" += ")
    return f"{lhs} = Σ_t {rhs}" if " + " not in rhs and " − " not in rhs else \
        f"{lhs} = Σ_t ({rhs})"


def over_steps(der, equations, accumulated):
    """The gradient equations among `equations` (keys in `accumulated`) that are sums of
    G_t v_tᵀ and G_t 1, G a step's δ and v a step's value, each as one product over all
    the steps: (those as (key, terms), the δs the loop keeps for them as (name, shape), the
    side-by-side arrays as (key, its steps' name, whether a δ, one step's shape))."""
    T = sp.Symbol("T", integer=True, positive=True)
    batched, sides = [], {}

    def side(symbol, delta):
        name = symbol.node_name if delta else symbol.name
        key = f"{'δ' if delta else ''}{name}, every step"
        sides.setdefault(key, (name, delta, symbol.shape))
        rows, cols = symbol.shape
        return MatrixSymbol(key, rows, T * cols)

    for key, terms in equations:
        forms = [_form(der, t) for t in terms] if key in accumulated else [None]
        if all(f is not None for f in forms):
            batched.append((key, [side(G, True) * (Transpose(side(v, False)) if v is not None
                                                     else OneMatrix(T * G.shape[1], 1))
                                  for G, v in forms]))
    kept = sorted({(name, shape) for name, delta, shape in sides.values() if delta}, key=str)
    return batched, kept, [(key, *value) for key, value in sides.items()]


def kept_size(kept):
    """How many values the backward loop keeps a step, Σ rows × cols of the kept δs
    (`kept` as (name, shape)): a sympy expression of the dimensions."""
    return sp.Add(*(rows * cols for _, (rows, cols) in kept))


def kept_width(kept):
    """The columns of a step's widest kept δ (N): a step's products are as narrow as that,
    and BLAS makes poor use of narrow ones."""
    return sp.Max(*(cols for _, (_, cols) in kept))


def _form(der, term):
    """(G, v) of a term G vᵀ, or (G, None) of G 1 (Σ_cols G), with G a step's δ and v a
    step's value; None for any other term."""
    if not isinstance(term, MatMul) or len(term.args) != 2:
        return None
    G, right = term.args
    if not isinstance(G, Delta) or G.node_name in der.params:
        return None
    if isinstance(right, OneMatrix) and right.shape[1] == 1:
        return G, None
    if isinstance(right, Transpose) and isinstance(right.arg, MatrixSymbol) and \
            not isinstance(right.arg, Delta) and right.arg.name in der.shapes and \
            der.per_step(right.arg.name):
        return G, right.arg
    return None
