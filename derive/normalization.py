"""Layer normalization, built from the primitives (rules 2, 3 and 4), with its compact δ.

Each column is normalised: x̂ = (x − μ) ⊙ s, μ = mean(x, axis=0), s = 1/√(σ² + ε) with
σ² = mean((x − μ)², axis=0). The rules give δx term by term, through μ, x − μ and σ²; the
textbook adds those terms up into δx = s ⊙ (δx̂ − mean δx̂ − x̂ ⊙ mean(δx̂ ⊙ x̂)), which the
equations show beside them (a `CompactForm`; tests check the two agree in numbers).
"""

import sympy as sp

from .algebra import broadcast, ones
from .functions import sqrt
from .reductions import averaging as mean
from .errors import ShapeError
from .naming import LONGEST
from .registry import Builder, CompactForm, OptionError, Signature, add


def _layer_norm(x, eps):
    """x̂ = (x − μ) / √(σ² + ε) over each column of x (no gain or bias: multiply by γ and
    add β yourself, they are parameters like any other)."""
    if not eps > 0:
        raise OptionError(f"layer_norm({x}, eps={eps!r}): eps must be positive, it keeps "
                          "√(σ² + ε) away from 0")
    why = (f"{x} has 1 row, so x − μ is identically 0 (layer norm normalises each column over "
           "its rows)")
    if x.shape[0] == 1:
        raise ShapeError(f"layer_norm({x}): {why}")
    graph, first = x.graph, len(x.graph.nodes)
    centred = _named(x - mean(x, axis=0), x, "c")
    centred.attrs["two_rows"] = (x.shape[0], why)  # a size that is a dimension: in numbers
    scale = _named(1 / sqrt(mean(centred ** 2, axis=0) + eps), x, "s")
    normalised = centred * scale
    graph.compact_forms.append(CompactForm(
        "layer norm", x, normalised, frozenset(graph.nodes[first:-1]), (normalised, scale),
        lambda value, delta: _compact(value, delta, normalised, scale)))
    return normalised


def _named(node, x, suffix):
    """z_c for z − μ and z_s for 1/√(σ² + ε) when x is called z and those names are free, so
    the equations read like the textbook's; otherwise the node is a t like any other."""
    name = f"{x.name}_{suffix}" if x.name else None
    graph = x.graph
    if name and len(name) <= LONGEST and name not in graph.by_name and \
            name not in graph.initial_values and name not in graph.reserved:
        node.named(name)
    return node


def _compact(value, delta, normalised, scale):
    """δx = s ⊙ (δx̂ − mean δx̂ − x̂ ⊙ mean(δx̂ ⊙ x̂)), means over each column."""
    d, x_hat, s = delta(normalised), value(normalised), value(scale)
    rows, _ = d.shape

    def column_mean(e):
        return broadcast(ones(1, rows) * e / rows, e.shape)
    spread = sp.hadamard_product(x_hat, column_mean(sp.hadamard_product(d, x_hat)))
    return sp.hadamard_product(broadcast(s, d.shape),
                               sp.MatAdd(d, -column_mean(d), -spread, evaluate=False))


layer_norm = add(Builder("layer_norm", _layer_norm, Signature(1, ("eps",), defaults=(1e-5,))),
                 callable_name="layer_norm")
