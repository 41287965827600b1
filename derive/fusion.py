"""Fusion: weight matrices that multiply the same operands become one stacked matrix.

Forward equations z_k = Σ_j P_kj v_j + b_k that read the same operands v_j (an LSTM's four
gates on x_t and h_{t−1}, a GRU's two) are computed as one product of stacked weights,

    [z_i; z_f; z_g; z_o] = [U_i; U_f; U_g; U_o] h_{t−1} + [W_i; W_f; W_g; W_o] x_t + [b_i; …],

each z_k then a block of its rows. Rule 5 (weight matrix) runs the same way back: the terms
P_kjᵀ δz_k of δv_j become one [P_1j; …]ᵀ [δz_1; …], and the gradients δP_kj = δz_k v_jᵀ one
[δz_1; …] v_jᵀ, split into blocks. It is a pass over the derivation, not a case of a cell:
it finds such groups in whatever network it is given, and leaves alone any weight used
elsewhere (whose gradient has other terms). `Plan` rewrites the equations; `Comments` writes
the fused ones for the code, each stack shown as its blocks.
"""

import os
from dataclasses import dataclass

import sympy as sp
from sympy import MatMul, MatrixSymbol, OneMatrix, Transpose
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from .algebra import Rows, Stack
from .display import joined, text_printer
from .naming import Delta, delta_symbol
from .printers.notation import split_coefficient_list


@dataclass(frozen=True)
class Group:
    """Equations z_k = Σ_j P_kj v_j (+ b_k), or a_k = f_k(Σ_j P_kj v_j (+ b_k)), k = 1…m,
    fused into one product of stacked weights."""

    members: tuple      # the z_k (or a_k), in forward order
    operands: tuple     # the v_j, sympy expressions, in a fixed order
    weights: tuple      # for each operand, its weights (P_1j, …, P_mj) by name
    biases: tuple       # (b_1, …, b_m), or () when the sums have none
    starts: tuple       # each member's first row in the stack
    functions: tuple    # each member's f_k (a Lambda), or None where z_k is the sum itself
    sums: tuple         # each member's Σ_j P_kj v_j (+ b_k)
    deltas: tuple       # each sum's δ as the gradients read it: δz_k, or δa_k ⊙ f_k′

    @staticmethod
    def key(names):
        """A name no node can have (nodes are identifiers): what a stack is called in the
        derivation's terms, [z_i; z_f; z_g; z_o]."""
        return "[" + "; ".join(names) + "]"

    @property
    def stacked(self):
        return self.key(self.members)

    def stacked_weights(self):
        return [self.key(ws) for ws in self.weights] + ([self.key(self.biases)] * bool(self.biases))


def wanted(names):
    """The identifier a stack would like in code: z_i, z_f, z_g, z_o → z_ifgo."""
    prefix = os.path.commonprefix(names)
    rest = [n[len(prefix):] for n in names]
    return prefix + "".join(rest) if prefix and all(rest) else "_".join(names)


def _terms(der, expr):
    """(operand → weight, bias, f) of Σ_j P_j v_j + b, or of f(that), with P_j and b
    parameters; None for any other equation."""
    function = None
    if type(expr).__name__ == "ElementwiseApplyFunction":
        function, expr = expr.function, expr.expr
    weights, bias = {}, None
    for term in expr.args if type(expr).__name__ == "MatAdd" else (expr,):
        if not isinstance(term, MatMul):
            return None
        coeff, factors = split_coefficient_list(term)
        if coeff != 1 or len(factors) != 2 or not isinstance(factors[0], MatrixSymbol) or \
                der.kinds.get(factors[0].name) != "param":
            return None
        weight, operand = factors
        if isinstance(operand, OneMatrix) and operand.shape[0] == 1 and bias is None:
            bias = weight.name
        elif not isinstance(operand, OneMatrix) and operand not in weights:
            weights[operand] = weight.name
        else:
            return None
    return (weights, bias, function, expr) if weights else None


def _sum_delta(der, weights, bias, cols):
    """The δ of the sum that every one of its parameters' gradients is made of (G in
    δP_j = G v_jᵀ, δb = Σ_cols G), or None when a parameter is used elsewhere too (its
    gradient has other terms) or a gradient has another form."""
    found = None
    for operand, weight in weights.items():
        terms = der.terms.get(weight, [])
        if len(terms) != 1 or not isinstance(terms[0].expr, MatMul) or \
                terms[0].expr.args[-1] != Transpose(operand):
            return None
        delta = MatMul(*terms[0].expr.args[:-1])
        if found is not None and delta != found:
            return None
        found = delta
    if bias is not None:
        terms = der.terms.get(bias, [])
        if len(terms) != 1 or terms[0].expr != found * OneMatrix(cols, 1):
            return None
    return found


def groups(der):
    """The fusable groups of `der`'s forward equations, two members or more each."""
    found = {}
    for name, expr in der.forward.items():
        parts = _terms(der, expr)
        if parts is None:
            continue
        weights, bias, function, total = parts
        delta = _sum_delta(der, weights, bias, der.shapes[name][1])
        if delta is None:
            continue
        signature = (tuple(sorted(weights, key=sp.srepr)), bias is not None)
        found.setdefault(signature, []).append((name, weights, bias, function, total, delta))
    fused = []
    for (operands, _), members in found.items():
        if len(members) < 2:
            continue
        starts, at = [], sp.Integer(0)
        for name, *_ in members:
            starts.append(at)
            at += der.shapes[name][0]
        names, weights, biases, functions, sums, deltas = zip(*members)
        fused.append(Group(names, operands, tuple(tuple(w[v] for w in weights) for v in operands),
                           tuple(b for b in biases if b), tuple(starts), functions, sums, deltas))
    return fused


class Plan:
    """The equations of a module with `groups` fused: what to compute once before the steps
    (the stacked weights), and the forward and backward equations rewritten, each (key, expr)
    with key a node's name or a stack's; `display` turns a stack's key back into its blocks,
    for the comments."""

    def __init__(self, der, found):
        self.der, self.groups = der, found
        self.shapes, self.display, self.wanted = {}, {}, {}
        self.stacks = {group.stacked for group in found}  # of the sums (the rest: weights)
        self.weights = [key for group in found for key in group.stacked_weights()]
        for group in found:
            rows = sum(der.shapes[m][0] for m in group.members)
            cols = der.shapes[group.members[0]][1]
            blocks = group.sums if any(group.functions) else \
                [MatrixSymbol(m, *der.shapes[m]) for m in group.members]
            self._add(group.stacked, (rows, cols), group.members, blocks, group.deltas)
            for names in [*group.weights, *([group.biases] if group.biases else [])]:
                weights = [MatrixSymbol(n, *der.shapes[n]) for n in names]
                self._add(group.key(names), (rows, der.shapes[names[0]][1]), names, weights,
                          [der.delta(n) for n in names])

    def _add(self, key, shape, names, blocks, deltas):
        """A stack called `key`, shown as [block_1; …] and its δ as [δ_1; …]."""
        self.shapes[key], self.wanted[key] = shape, wanted(names)
        self.display[MatrixSymbol(key, *shape)] = Stack(*blocks)
        self.display[delta_symbol(key, shape)] = Stack(*deltas)

    def symbol(self, key):
        return MatrixSymbol(key, *self.shapes[key])

    def setup(self):
        """The stacked weights, [U_i; U_f; U_g; U_o]: computed once, before the steps."""
        return [(key, self.display[self.symbol(key)]) for key in self.weights]

    def forward(self):
        """The forward equations: each group's stack where its first member was, each member
        then a block of its rows."""
        by_member = {m: (g, k) for g in self.groups for k, m in enumerate(g.members)}
        out = []
        for name, expr in self.der.forward.items():
            if name in by_member:
                group, k = by_member[name]
                if k == 0:
                    out.append((group.stacked, self._stacked_sum(group)))
                stop = group.starts[k] + self.der.shapes[name][0]
                expr = Rows(self.symbol(group.stacked), group.starts[k], stop)
                if group.functions[k] is not None:
                    expr = ElementwiseApplyFunction(group.functions[k], expr)
            out.append((name, expr))
        return out

    def _stacked_sum(self, group):
        cols = self.shapes[group.stacked][1]
        terms = [self.symbol(group.key(ws)) * v for ws, v in zip(group.weights, group.operands)]
        if group.biases:
            terms.append(self.symbol(group.key(group.biases)) * OneMatrix(1, cols))
        return sp.MatAdd(*terms)

    def backward(self, equations):
        """The δ and gradient equations, each (key, terms): a stack's δ, [δz_1; …], after its
        members' δs; in each operand's δ the terms P_kjᵀ δz_k as one [P_1j; …]ᵀ δ[z_1; …];
        each stacked weight's gradient δ[z_1; …] v_jᵀ where its blocks' first was. Returns the
        equations and the blocks of the stacked gradients, (parameter, stack, its rows). One
        pass over the equations, whatever the number of groups."""
        equations = list(equations)
        at = {n: i for i, (n, _) in enumerate(equations)}
        terms = dict(equations)
        after, before, gone, blocks = {}, {}, set(), []
        for group in self.groups:
            stacked_delta = delta_symbol(group.stacked, self.shapes[group.stacked])
            read = {a.node_name for d in group.deltas for a in d.atoms(Delta)}
            last = max((at[n] for n in read if n in at), default=-1)
            after.setdefault(last, []).append((group.stacked, [self.display[stacked_delta]]))
            cols = self.shapes[group.stacked][1]
            stacks = [(ws, stacked_delta * Transpose(v)) for ws, v in
                      zip(group.weights, group.operands)]
            if group.biases:
                stacks.append((group.biases, stacked_delta * OneMatrix(cols, 1)))
            for ws, v in zip(group.weights, group.operands):
                if isinstance(v, MatrixSymbol) and v.name in terms:
                    terms[v.name] = self._fused_terms(terms[v.name], group, ws, stacked_delta)
            for params, expr in stacks:
                key = group.key(params)
                before.setdefault(min(at[p] for p in params), []).append((key, [expr]))
                gone |= set(params)
                delta = delta_symbol(key, self.shapes[key])
                blocks += [(p, key, Rows(delta, start, start + self.der.shapes[p][0]))
                           for p, start in zip(params, group.starts)]
        out = after.get(-1, [])
        for i, (name, _) in enumerate(equations):
            out += before.get(i, [])
            if name not in gone:
                out.append((name, terms[name]))
            out += after.get(i, [])
        return out, blocks

    def _fused_terms(self, terms, group, ws, stacked_delta):
        """An operand's δ terms with P_kjᵀ G_k, one for each member, as [P_1j; …]ᵀ δ[z_1; …]
        (unchanged unless every one is there)."""
        singles = [Transpose(self.der.symbol(w)) * delta for w, delta in zip(ws, group.deltas)]
        if not all(s in terms for s in singles):
            return terms
        first = min(terms.index(s) for s in singles)
        rest = [t for t in terms if t not in singles]
        return [*rest[:first], Transpose(self.symbol(group.key(ws))) * stacked_delta,
                *rest[first:]]


class Comments:
    """The comments of fused statements: stacks written out as their blocks,
    [z_i; z_f] = [U_i; U_f] h_{t−1} + …; a node's own equation keeps its comment."""

    def __init__(self, der, plan, comments):
        self.plan, self.comments = plan, comments
        self.printer = text_printer(der)

    def text(self, expr):
        return self.printer.doprint(expr.xreplace(self.plan.display))

    def comment(self, key, value, delta=False):
        plan = self.plan
        if (delta, key) in self.comments:
            own = self.comments[(delta, key)]
            if not (delta and any(a.name in plan.shapes for t in value
                                  for a in t.atoms(MatrixSymbol))):
                return own
            lhs, sign, _ = own.partition(" = ")  # δh = [U_i; U_f]ᵀ [δz_i; δz_f]: fused
            return f"{lhs}{sign}{joined(self.printer, [t.xreplace(plan.display) for t in value])}"
        shape = plan.shapes[key]
        if not delta and key not in plan.stacks:
            return f"{self.text(MatrixSymbol(key, *shape))}, stacked once"
        gradient = delta and key not in plan.stacks
        if delta and not gradient:  # δ[z_i; z_f] = [δz_i; δz_f]: the δs, stacked
            lhs = self.printer.doprint(delta_symbol(key, shape))
        else:
            lhs = self.text(delta_symbol(key, shape) if delta else MatrixSymbol(key, *shape))
        terms = [t.xreplace(plan.display) for t in (value if delta else [value])]
        sign = "+=" if gradient and plan.der.recurrent else "="
        return f"{lhs} {sign} {joined(self.printer, terms)}"
