"""An oracle that knows nothing of the five rules: expand the graph into scalar sympy
expressions for small concrete sizes and differentiate the scalar loss with sympy.diff."""

import random

import numpy as np
import sympy as sp

from derive.functions import NamedFunction


def elementary(expr):
    """derive's named functions (sigmoid, relu, step, user functions) by their definitions."""
    while expr.has(NamedFunction):
        expr = expr.replace(lambda e: isinstance(e, NamedFunction),
                            lambda e: e.entry.definition(e.args[0]))
    return expr


DIGITS = 40  # working precision: far beyond float64, so agreement means the formulas agree


class ScalarGraph:
    """The graph's values as explicit matrices of numbers, for concrete dimension sizes."""

    def __init__(self, der, dims, seed=0):
        self.der, self.graph = der, der.graph
        self.dims = {sp.Symbol(k, integer=True, positive=True): v for k, v in dims.items()}
        loss = self.graph.loss_node
        self.nodes = [n for n in self.graph.nodes if n is loss or _reaches(n, loss)]
        self.symbol = {n: sp.MatrixSymbol(f"node{k}", *n.shape) for k, n in enumerate(self.nodes)}
        rng = random.Random(seed)
        self.leaves = {n: self._random(n, rng) for n in self.nodes if n.is_leaf}
        self.values = self.forward()

    def _random(self, node, rng):
        rows, cols = self.concrete(node.shape)
        samplers = {m.inputs[k]: sample for m in self.nodes if m.op
                    for k, sample in m.op.samples.items()}
        if node in samplers:  # drawn as the operation says (one-hot targets)
            drawn = samplers[node](np.random.default_rng(rng.randrange(2**32)), (rows, cols))
            return sp.ImmutableMatrix(rows, cols, lambda i, j: sp.Integer(int(drawn[i, j])))
        return sp.ImmutableMatrix(rows, cols, lambda i, j: sp.Float(rng.uniform(-1, 1), DIGITS))

    def concrete(self, shape):
        return tuple(int(sp.sympify(s).subs(self.dims)) for s in shape)

    def explicit(self, expr, values):
        """`expr` with concrete sizes, its matrix symbols replaced by `values`, written out."""
        expr = expr.subs(self.dims).xreplace(
            {sym.subs(self.dims): value for sym, value in values.items()})
        return sp.ImmutableMatrix(elementary(expr.as_explicit()))

    def forward(self, override=None):
        """Every node's value; `override` = (node, matrix) pins one node to given entries."""
        values = {}
        for n in self.nodes:
            if override and n is override[0]:
                values[n] = override[1]
            elif n.is_leaf:
                values[n] = self.leaves[n]
            else:
                expr = n.op.forward(n, *(self.symbol[x] for x in n.inputs))
                values[n] = self.explicit(expr, {self.symbol[x]: values[x] for x in n.inputs})
        return values

    def oracle_delta(self, node):
        """∂E/∂node by sympy.diff of the scalar loss as a function of the node's entries."""
        rows, cols = self.concrete(node.shape)
        free = sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"v_{i}_{j}"))
        loss = self.forward(override=(node, sp.ImmutableMatrix(free)))[self.graph.loss_node][0, 0]
        at = {free[i, j]: self.values[node][i, j] for i in range(rows) for j in range(cols)}
        return sp.Matrix(rows, cols, lambda i, j: sp.diff(loss, free[i, j]).subs(at))

    def derived_deltas(self):
        """Every δ and gradient of the derivation, evaluated on the same numbers."""
        der, by_name = self.der, {name: n for name, n in self.der.nodes.items()}
        known = {der.symbol(name): self.values[n] for name, n in by_name.items()
                 if n in self.values}
        out = {}
        for name, expr in [*der.deltas.items(), *der.gradients.items()]:
            out[name] = self.explicit(expr, known)
            known[der.delta(name)] = out[name]
        return out


def _reaches(node, target, _seen=None):
    return any(x is node or _reaches(node, x) for x in target.inputs)


def max_disagreement(der, dims, seed=0):
    """Largest |derived − oracle| over every entry of every δ and gradient, per name."""
    scalar = ScalarGraph(der, dims, seed)
    derived = scalar.derived_deltas()
    worst = {}
    for name, value in derived.items():
        if name == der.loss:
            continue
        oracle = scalar.oracle_delta(der.nodes[name])
        worst[name] = max(abs(sp.N(a - b, DIGITS)) for a, b in zip(value, oracle))
    return worst
