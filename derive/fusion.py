"""Fusion: weight matrices that multiply the same operands become one stacked matrix.

Forward equations z_k = Σ_j P_kj v_j + b_k that read the same operands v_j (an LSTM's four
gates on x_t and h_{t−1}, a GRU's two) are computed as one product of stacked weights,

    [z_i; z_f; z_g; z_o] = [U_i; U_f; U_g; U_o] h_{t−1} + [W_i; W_f; W_g; W_o] x_t + [b_i; …],

each z_k then a block of its rows. Rule 5 (weight matrix) runs the same way back: the terms
P_kjᵀ δz_k of δv_j become one [P_1j; …]ᵀ [δz_1; …], and the gradients δP_kj = δz_k v_jᵀ one
[δz_1; …] v_jᵀ, split into blocks. It is a pass over the derivation, not a case of a cell:
it finds such groups in whatever network it is given, and leaves alone any weight used
elsewhere (whose gradient has other terms). Members whose activations share a function
(an LSTM's i, f and o, all σ) sit next to each other in the stack, and one call of the
function covers their rows, [i; f; o] = σ([z_i; z_f; z_o]); back, where each member's
δz = δa ⊙ f′ has the same form, one pass makes δ[z_i; z_f; z_o] = [δi; δf; δo] ⊙ [i; f; o]
⊙ (1 − [i; f; o]). `Plan` rewrites the equations; `Comments` writes the fused ones for the
code, each stack shown as its blocks.
"""

import os
from dataclasses import dataclass

import sympy as sp
from sympy import MatMul, MatrixSymbol, OneMatrix, Transpose
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from .algebra import Rows, Stack
from .display import joined, text_printer
from .functions import Entrywise
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
    runs: tuple = ()    # Run: members next to each other whose activations share a function

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


@dataclass(frozen=True)
class Run:
    """Activations a_k = f(z_k) of stacked members k = first…first+len−1 with one function f,
    computed as one f([z_first; …]) over the stack's rows: one call, not one a member.
    An activation is the member itself when the member's equation applies f (a = f(P v)),
    else the node that applies f to the member alone (i = σ(z_i))."""

    function: object    # f, a Lambda
    first: int          # the first member's index in the group
    activations: tuple  # the a_k, by name, in the stack's order

    @property
    def key(self):
        return Group.key(self.activations)


def wanted(names):
    """The identifier a stack would like in code: z_i, z_f, z_g, z_o → z_ifgo."""
    prefix = os.path.commonprefix(names)
    rest = [n[len(prefix):] for n in names]
    return prefix + "".join(rest) if prefix and all(rest) else "_".join(names)


def _terms(der, expr):
    """(operand → weight, bias, f) of Σ_j P_j v_j + b, or of f(that), with P_j and b
    parameters; None for any other equation."""
    function = None
    if isinstance(expr, ElementwiseApplyFunction):
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
    applied = _applied(der)
    fused = []
    for (operands, _), members in found.items():
        if len(members) < 2:
            continue
        activation = {m[0]: (m[3], m[0]) if m[3] is not None else applied.get(m[0], (None, None))
                      for m in members}
        order = list(dict.fromkeys(activation[m[0]][0] or m[0] for m in members))
        members.sort(key=lambda m: order.index(activation[m[0]][0] or m[0]))  # f's together
        starts, at = [], sp.Integer(0)
        for name, *_ in members:
            starts.append(at)
            at += der.shapes[name][0]
        names, weights, biases, functions, sums, deltas = zip(*members)
        fused.append(Group(names, operands, tuple(tuple(w[v] for w in weights) for v in operands),
                           tuple(b for b in biases if b), tuple(starts), functions, sums, deltas,
                           _runs([activation[n] for n in names])))
    return fused


def _applied(der):
    """{z: (f, a)} for each forward equation a = f(z) of a node z alone, where z has no other
    such equation."""
    found = {}
    for name, expr in der.forward.items():
        if isinstance(expr, ElementwiseApplyFunction) and \
                isinstance(expr.expr, MatrixSymbol) and expr.expr.name in der.forward:
            found.setdefault(expr.expr.name, []).append((expr.function, name))
    return {z: uses[0] for z, uses in found.items() if len(uses) == 1}


def _runs(activations):
    """The runs of two members or more, next to each other, whose activations share f."""
    runs, k = [], 0
    while k < len(activations):
        function = activations[k][0]
        end = k + 1
        while function is not None and end < len(activations) and \
                activations[end][0] == function:
            end += 1
        if end - k > 1:
            runs.append(Run(function, k, tuple(a for _, a in activations[k:end])))
        k = end
    return tuple(runs)


class Plan:
    """The equations of a module with `groups` fused: what to compute once before the steps
    (the stacked weights), and the forward and backward equations rewritten, each (key, expr)
    with key a node's name or a stack's; `display` turns a stack's key back into its blocks,
    for the comments."""

    def __init__(self, der, found):
        self.der, self.groups = der, found
        self.shapes, self.display, self.wanted = {}, {}, {}
        self.stacks = {group.stacked for group in found}  # of the sums (the rest: weights)
        self.runs = {}  # run key → (its group, the Run, its argument as shown: [z_i; z_f])
        self.weights = [key for group in found for key in group.stacked_weights()]
        for group in found:
            rows = sum(der.shapes[m][0] for m in group.members)
            cols = der.shapes[group.members[0]][1]
            blocks = group.sums if any(group.functions) else \
                [MatrixSymbol(m, *der.shapes[m]) for m in group.members]
            self._add(group.stacked, (rows, cols), group.members, blocks, group.deltas)
            for run in group.runs:
                members = range(run.first, run.first + len(run.activations))
                run_rows = sum(der.shapes[group.members[k]][0] for k in members)
                self.runs[run.key] = (group, run, Stack(*(blocks[k] for k in members)))
                self._add(run.key, (run_rows, cols), run.activations,
                          [MatrixSymbol(a, *der.shapes[a]) for a in run.activations],
                          [der.delta(a) for a in run.activations])
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
        in_run = {}  # activation → (run key, its first row in the run)
        for key, (group, run, _) in self.runs.items():
            at = sp.Integer(0)
            for a in run.activations:
                in_run[a] = (key, at)
                at += self.der.shapes[a][0]
        out, started = [], set()
        for name, expr in self.der.forward.items():
            if name in by_member:
                group, k = by_member[name]
                if group.stacked not in started:  # where its first member was
                    started.add(group.stacked)
                    out.append((group.stacked, self._stacked_sum(group)))
                    out += self._run_equations(group)
                stop = group.starts[k] + self.der.shapes[name][0]
                expr = Rows(self.symbol(group.stacked), group.starts[k], stop)
                if group.functions[k] is not None:
                    expr = Entrywise(group.functions[k], expr)
            if name in in_run:
                key, at = in_run[name]
                expr = Rows(self.symbol(key), at, at + self.der.shapes[name][0])
            out.append((name, expr))
        return out

    def _run_equations(self, group):
        """[a_1; …; a_m] = f(rows of the stack), for each run of the group."""
        out = []
        for run in group.runs:
            last = run.first + len(run.activations) - 1
            stop = group.starts[last] + self.der.shapes[group.members[last]][0]
            rows = Rows(self.symbol(group.stacked), group.starts[run.first], stop)
            out.append((run.key, Entrywise(run.function, rows)))
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
        merged_away = set()  # δz_k a run's δ made in one pass, unless something else reads it
        for group in self.groups:
            stacked_delta = delta_symbol(group.stacked, self.shapes[group.stacked])
            runs, shown, members = self._run_deltas(group, terms)
            merged_away |= members
            whole = any(key == group.stacked for key, _ in runs)  # a run of every member
            made = runs if whole else [*runs, (group.stacked, [shown])]  # is the stack's δ
            read = {a.node_name for _, (e,) in made for a in e.atoms(Delta)}
            last = max((at[n] for n in read if n in at), default=-1)
            after.setdefault(last, []).extend(made)
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
        read = {a.node_name for _, ts in out for t in ts for a in t.atoms(Delta)}
        return [(n, ts) for n, ts in out if n not in merged_away - read], blocks

    def _run_deltas(self, group, terms):
        """Each run's δ in one pass over its rows, δ[z_i; z_f; z_o] = [δi; δf; δo] ⊙ [i; f; o]
        ⊙ (1 − [i; f; o]), where every member's δ is that same form of its own δa and a;
        returns those equations, the stack's δ as its blocks with each such run's δ one
        block, and the members whose own δ equations that leaves unread."""
        runs, members, merged = [], set(), []
        for run in group.runs:
            ks = range(run.first, run.first + len(run.activations))
            form = self._common_form(group, terms, run, ks)
            if form is None:
                continue
            key = group.key([group.members[k] for k in ks])
            shape = (sum(self.der.shapes[group.members[k]][0] for k in ks),
                     self.shapes[run.key][1])
            deltas = Stack(*(self.der.delta(a) for a in run.activations))
            runs.append((key, [form.xreplace({_DELTA: deltas, _VALUE: self.symbol(run.key),
                                              OneMatrix(*_ROWS): OneMatrix(*shape)})]))
            self._add(key, shape, [group.members[k] for k in ks],
                      [MatrixSymbol(group.members[k], *self.der.shapes[group.members[k]])
                       for k in ks], [group.deltas[k] for k in ks])
            self.stacks.add(key)
            merged.append((ks, delta_symbol(key, shape)))
            members |= {group.members[k] for k in ks} - set(run.activations)
        blocks = list(group.deltas)
        for ks, block in sorted(merged, key=lambda m: m[0].start, reverse=True):
            blocks[ks.start:ks.stop] = [block]  # the last first: ks counts the members
        return runs, Stack(*blocks), members

    def _common_form(self, group, terms, run, ks):
        """The δ of the run's members, δz_k = δa_k ⊙ f′, as one form of placeholders for δa_k
        and a_k, or None unless every member's δ is that same form and reads nothing else
        (f′ written through a, as σ′ = σ(1 − σ) is, not through z)."""
        found = None
        for k, a in zip(ks, run.activations):
            member = group.members[k]
            if a == member:  # f applied inside the member's own equation
                delta = group.deltas[k]
            else:
                written = terms.get(member)
                if written is None or len(written) != 1:
                    return None
                delta = written[0]
            rows, cols = self.der.shapes[a]
            form = delta.xreplace({self.der.delta(a): _DELTA, self.der.symbol(a): _VALUE,
                                   OneMatrix(rows, cols): OneMatrix(*_ROWS)})
            if found is not None and form != found:
                return None
            found = form
        others = found.atoms(MatrixSymbol) - {_DELTA, _VALUE}
        shaped = {m.shape for m in found.atoms(OneMatrix, sp.ZeroMatrix, sp.Identity)}
        return found if not others and shaped <= {_ROWS} else None

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


# Placeholders for one member of a run: its δa, its a, and its shape.
_ROWS = (sp.Symbol("run_rows", positive=True, integer=True),
         sp.Symbol("run_cols", positive=True, integer=True))
_DELTA, _VALUE = delta_symbol("run", _ROWS), MatrixSymbol("run", *_ROWS)


class Comments:
    """The comments of fused statements: stacks written out as their blocks,
    [z_i; z_f] = [U_i; U_f] h_{t−1} + …; a node's own equation keeps its comment."""

    def __init__(self, der, plan, comments, rewritten=None):
        self.plan, self.comments = plan, comments
        self.rewritten = rewritten or {}  # (delta, key) → the comment another pass wrote
        self.printer = text_printer(der)

    def text(self, expr):
        return self.printer.doprint(self.shown(expr))

    def shown(self, expr):
        """`expr` with stacks written as their blocks, a stack inside a stack flattened:
        [δz_i; δz_f; δz_o; δz_g], not [[δz_i; δz_f; δz_o]; δz_g]."""
        return expr.xreplace(self.plan.display).replace(
            lambda e: isinstance(e, Stack) and any(isinstance(a, Stack) for a in e.args),
            lambda e: Stack(*(b for a in e.args for b in (a.args if isinstance(a, Stack)
                                                          else (a,)))))

    def comment(self, key, value, delta=False):
        plan = self.plan
        if (delta, key) in self.rewritten:
            return self.rewritten[(delta, key)]
        if (delta, key) in self.comments:
            own = self.comments[(delta, key)]
            if not (delta and any(a.name in plan.shapes for t in value
                                  for a in t.atoms(MatrixSymbol))):
                return own
            lhs, sign, _ = own.partition(" = ")  # δh = [U_i; U_f]ᵀ [δz_i; δz_f]: fused
            return f"{lhs}{sign}{joined(self.printer, [self.shown(t) for t in value])}"
        shape = plan.shapes[key]
        if not delta and key in plan.runs:  # [i_t; f_t; o_t] = sigmoid([z_i_t; z_f_t; z_o_t])
            _, run, shown = plan.runs[key]
            applied = Entrywise(run.function, shown)
            return f"{self.text(MatrixSymbol(key, *shape))} = {self.printer.doprint(applied)}"
        if not delta and key not in plan.stacks:
            return f"{self.text(MatrixSymbol(key, *shape))}, stacked once"
        gradient = delta and key not in plan.stacks
        if delta and not gradient:  # δ[z_i; z_f] = [δz_i; δz_f]: the δs, stacked
            lhs = self.printer.doprint(delta_symbol(key, shape))
        else:
            lhs = self.text(delta_symbol(key, shape) if delta else MatrixSymbol(key, *shape))
        terms = [self.shown(t) for t in (value if delta else [value])]
        sign = "+=" if gradient and plan.der.recurrent else "="
        return f"{lhs} {sign} {joined(self.printer, terms)}"
