"""Hypothesis draws random programs over every registered operation and checks each generated
backward pass against central differences and autograd.

The operations come from the registry (what the API calls by name) and from the operators on
nodes, so an operation is fuzzed the day it is registered. The autograd twin of a graph knows
nothing of the rules: it evaluates each node by its operation's `reference` (its value in
numbers) and lets autograd differentiate that. Every value feeds the loss (rule 1 galore),
targets may depend on parameters, weights are shared, and a recurrent variant closes a loop.

DERIVE_FUZZ=10000 python -m pytest tests/test_random_graphs.py   # 10,000 graphs of each kind
"""

import functools
import operator
import os

import autograd
import autograd.numpy as anp
from autograd.tracer import getval
import networkx as nx
import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, assume, given, reject, settings
from hypothesis import strategies as st

import derive as d
from derive.gradcheck import KinkedEverywhere, random_inputs
from derive.graph import OPERATORS
from helpers import CentralDifferencesDisagree, check_grads, loss_ulps_off

COUNT = int(os.environ.get("DERIVE_FUZZ", "40"))
DIMS = {"D": 3, "H": 4, "N": 3}
H, N = d.dims("H N")
NUMBERS = (0.5, -2, 1.5, 0.25)
OPERATIONS = sorted(d.registry.CALLABLE) + sorted(OPERATORS) + ["gate", "pooled conv",
                                                                 "of a product", "of an input",
                                                                 "linear in a parameter", "heads",
                                                                 "c − a", "user formula",
                                                                 "of dimensions",
                                                                 "split heads", "centred"]
HEAD_FUNCTIONS = (d.sigmoid, d.tanh, d.relu)
# "user formula": functions whose slope is a fraction with a sum above the line, (2u + 1)/
# (u² + u + 1) (found by a hunt: the code wrote 2*u + 1/(…)), stable rewrites, and constants:
# a formula of none (it returned one number), σ(1) (the helper took no number), log 2; and a
# Max whose arguments are equal over an interval (a hunt: slope 0 for every u > 0)
USER_FORMULAS = (lambda u: sp.log(u**2 + u + 1), lambda u: sp.log(sp.exp(u) + sp.exp(-u)),
                 lambda u: u / (1 + u**2), lambda u: u / (1 + sp.exp(-u)),
                 lambda u: sp.Rational(2, 3), lambda u: u * sp.log(2) + d.sigmoid.scalar(1),
                 lambda u: sp.Max(u, sp.Abs(u)) * u)
# "of dimensions": constants of the sizes, a fraction with a sum above the line, (H + 1)/N
# (written H + 1/N by the same bug), and max(H, N) (np.maximum gave an int64, which made
# float32 values float64)
OF_DIMENSIONS = ((H + 1) / N, sp.Max(H, N))
# "of a product": the operations that read their first operand whatever their other numbers
# say (not split, whose halves of H rows may be refused after the product's weight is made)
INNER = [name for name, entry in sorted(d.registry.CALLABLE.items())
         if entry.signature.nodes == 1 and name != "split"] + ["+", "*", "/", "**"]

step = st.tuples(st.sampled_from(OPERATIONS), *(st.integers(0, 99) for _ in range(4)))
# (steps, target, extras): extras add to a program what its steps do not (see Program); the
# cases kept below are (steps, target), as they were found
programs = st.tuples(st.lists(step, min_size=1, max_size=7), st.integers(0, 99),
                     st.integers(0, 47))


class Program:
    """A random graph: a pool of H×N activations that steps combine, every one of them summed
    into the loss; 1×1 results (losses of their own) are added to it as penalties, every other
    one squared (a 1×1 node whose δ is not 1, left to broadcast and summed). A recurrent
    one's pool holds the state. `extras` % 3 adds a weight's decay (1) or a constant (2) to the
    loss; `extras` // 3 % 2 (recurrent) puts an input that is not a sequence in the pool, and
    `extras` // 6 % 2 leaves the state's next value out of it: only the next step reads it;
    `extras` // 12 % 2 checks the program on a batch of one column (`check`); `extras` // 24
    (recurrent) gives it a second state c, read only in h_{t−1} + c_{t−1}: the two δs are one
    (a hunt: the gradients of h0 and c0 were one array)."""

    def __init__(self, steps, target, recurrent=False, extras=0):
        g = self.graph = d.Graph("random")
        make = g.sequence if recurrent else g.input
        x, self.label = make("x", ("D", "N")), make("label", ("H", "N"))
        self.make, self.u, self.v = make, None, None  # inputs of their own for "of a product"
        # (u) and "of an input" (v)
        self.weight = g.param("W", ("H", "D"))
        self.pool, self.penalties, self.fresh = [self.weight @ x], [], 0
        self.square = []
        if recurrent:
            state = g.state("h", ("H", "N"))
            twins = extras // 24 % 2
            self.pool.append(state + g.state("c", ("H", "N")) if twins else state)
            if extras // 3 % 2:  # an input that is not a sequence: the same at every step
                self.pool.append(g.input("m", ("H", "N")))
        for name, a, b, n, o in steps:
            operands = [self.pool[a % len(self.pool)], self.pool[b % len(self.pool)]]
            made, kept = len(g.nodes), [len(self.pool), len(self.penalties), len(self.square)]
            try:
                self.absorb(self.apply(name, operands, n, o))
            except (d.DeriveError, TypeError, ValueError, ZeroDivisionError):
                for node in g.nodes[made:]:  # not defined for these operands: what the step
                    g.by_name.pop(node.name, None)  # made before it failed (a weight P of
                del g.nodes[made:]                  # "of a product") goes, then the next step
                for made_by_it, count in zip((self.pool, self.penalties, self.square), kept):
                    del made_by_it[count:]
                self.u, self.v = (x if x in g.nodes else None for x in (self.u, self.v))
                continue  # (an input u or v the failed step made went with it)
            if n % 2 and a % 3 == 0:  # now and then, a builder's inner nodes (layer norm's
                self.pool += [m for m in g.nodes[made:]  # x − μ) are used outside it too
                              if m.shape == (H, N) and m not in self.pool and not m.is_leaf]
        if recurrent:  # close the loop: the state's next value, read by the next step's loss
            h = d.tanh(self.pool[-1]).named("h")  # (through h[t−1]) and maybe by this one's
            self.pool += [h] * (extras // 6 % 2 == 0)
            if twins:
                d.sigmoid(self.pool[-1]).named("c")
        total = self.pool[0]
        for node in self.pool[1:]:
            total = total + node
        pick = target % (len(self.pool) + 1)  # the target: the label, or an activation
        loss = d.squared_error(total, self.label if pick == len(self.pool) else self.pool[pick])
        for k, penalty in enumerate(self.penalties):  # every other one squared: a 1×1
            loss = loss + (penalty * penalty if k % 2 else penalty)  # node whose δ is not 1
        if extras % 3 == 1:  # weight decay: a penalty no step changes, in every step's loss
            loss = loss + 0.5 * d.sum(self.weight * self.weight)
        elif extras % 3 == 2:  # a constant in every step's loss
            loss = loss + 3
        g.loss(loss)

    def param(self, shape):
        self.fresh += 1
        return self.graph.param(f"P{self.fresh}", shape)

    def apply(self, name, operands, n, o):
        a, b = operands
        number = NUMBERS[n % len(NUMBERS)]
        if name == "@":  # a weight shared with an earlier step, or a new one
            if self.square and n % 2:
                return self.square[n % len(self.square)] @ a
            self.square.append(self.param(("H", "H")))
            return self.square[-1] @ a
        if name == "of a product":  # an operation on P a or P u, which no other node reads;
            if o % 2:                 # P u (u an input: no δ, no product with W to fuse) is
                inner = self.param(("H", "H")) @ a  # written inline, 1 / (P @ u)
            else:
                self.u = self.u or self.make("u", ("D", "N"))
                inner = self.param(("H", "D")) @ self.u
            return self.apply(INNER[n % len(INNER)], [inner, b], n // len(INNER), o // 2)
        if name == "of an input":  # f(g(v)), v an input: no δ, so one folded function of
            self.v = self.v or self.make("v", ("H", "N"))  # numbers (max(v, c) inside tanh)
            inner = self.apply(INNER[o % len(INNER)], [self.v, self.v], n // 7, o // 7)
            return self.apply(INNER[n % len(INNER)], [inner, inner], n // len(INNER), o // 2)
        if name == "linear in a parameter":  # a penalty c Σ P or c Σ P a, P read by nothing
            P = self.param((("H", "N"), ("H", 1), ("H", "H"))[o % 3])  # else: δP is a δ of 1
            return number * d.sum(P @ a if o % 3 == 2 else P)  # stretched (1 1ᵀ, 1 1ᵀ aᵀ)
        if name == "heads":  # f_k(P_k a + c_k) for k < 2 + n % 3, summed or multiplied: the
            if o >= 81:  # products fuse, equal f's next to each other into runs (σ σ tanh
                self.v = a = self.v or self.make("v", ("H", "N"))  # tanh: two), a maybe an
            heads = [HEAD_FUNCTIONS[o // 3**k % 3](self.param(("H", "H")) @ a +  # input (no δ)
                                                   self.param(("H", 1)))
                     for k in range(2 + n % 3)]
            return functools.reduce(operator.add if n // 3 % 2 else operator.mul, heads)
        if name == "gate":  # P a + Q b (+ c): gates on the same operands fuse into one
            P = self.square[n % len(self.square)] if self.square and n % 3 == 0 else \
                self.param(("H", "H"))  # product, unless a weight is shared elsewhere
            gate = P @ a + self.param(("H", "H")) @ b
            return gate + self.param(("H", 1)) if o % 2 else gate
        if name == "+" and o % 3 == 2:  # parameters the shape of the activations: each one's
            return a + self.param(("H", "N")) + self.param(("N", "H")).T  # δ is the sum's
        if name == "c − a":  # one sum, −a + c (rule 2)
            return number - a
        if name == "centred":  # a − mean(a) down the columns or across the rows, which the code
            axis = o % 2       # takes off twice (a hunt: a layer norm of equal entries was
            if o % 4 < 2:      # ±0.93); and sums that must not be read as one: mean(a) − a,
                return a - d.mean(a, axis=axis)  # a − mean(b)
            return d.mean(a, axis=axis) - a if o % 4 == 2 else a - d.mean(b, axis=axis)
        if name == "user formula":  # f(a), or Σ f(a) alone (a penalty): a constant f summed
            formula = USER_FORMULAS[o % len(USER_FORMULAS)]  # over no array was one number
            applied = d.elementwise(f"f{len(self.graph.nodes)}", formula)(a)
            return d.sum(applied) if n % 2 else applied
        if name == "of dimensions":  # (or a bias scaled by one: b (H + 1)/N, the batch's size
            constant = OF_DIMENSIONS[o % len(OF_DIMENSIONS)]  # on a value with no columns)
            return a + self.param(("H", 1)) * constant if n % 3 == 2 else a * constant
        if name == "split heads":  # f(z) ⊙ g(z2), z = P a and z2 = Q a nodes: P and Q fuse,
            # and back the stack δ[z; z2] is built in place; or f(first half of z) ⊙ g(second) +
            # tanh(z2), δz the halves put back (found by a hunt: its rows of the stack were left
            # unwritten), halves by split or by slices
            halved = o % 4 < 2
            z = (self.param((2 * H if halved else H, "H")) @ a).named(f"p{len(self.graph.nodes)}")
            z2 = (self.param(("H", "H")) @ a).named(f"q{len(self.graph.nodes)}")
            f, g = HEAD_FUNCTIONS[n % 3], HEAD_FUNCTIONS[n // 3 % 3]
            if not halved:
                return f(z) * g(z2)
            halves = d.split(z, 2) if o % 2 else [z[0:H], z[H:2 * H]]
            return f(halves[0]) * g(halves[1]) + d.tanh(z2)
        if name in ("+", "*"):
            return OPERATORS[name](a, b if o % 2 else number, *((1,) if name == "+" else ()))
        if name == "/":
            return a / (b if o % 2 else number)
        if name == "**":
            return a ** (2 + o % 2)
        if name == "T":  # products of activations: b (aᵀ b)
            return b @ (a.T @ b)
        if name == "[]":  # a block of rows of a stack, or two blocks that overlap at some
            stack = d.concat(a, b)  # sizes (rows 1 to H + 1 and 0 to H: the gap 1 − H)
            if o % 4 == 3:
                return stack[1:H + 1] * stack[0:H]
            return stack[(o % 2) * H:(o % 2 + 1) * H]
        if name in ("conv2d", "conv1d"):  # each column an image of 1×1×H (H is a symbol, so
            size, pad = 1 + n % 3, o % 2      # the stride is 1), into 2 channels
            bias = self.param((2, 1)) if o % 3 == 0 else None
            if name == "conv1d":
                return d.conv1d(a, self.param((2, size)), signal=(1, H), kernel=size,
                                padding=pad, bias=bias)
            return d.conv2d(a, self.param((2, size)), image=(1, 1, H), kernel=(1, size),
                            padding=(0, pad), bias=bias)
        if name in ("max_pool2d", "avg_pool2d"):
            return d.registry.CALLABLE[name](a, image=(1, 1, H), size=(1, 1 + n % 2), stride=1)
        if name == "pooled conv":  # maxpool(f(K ⋆ a + b)): computed as f(maxpool(K ⋆ a) + b)
            size = 1 + 2 * (n % 2)    # (the "same" padding keeps H positions in each channel)
            z = d.conv2d(a, self.param((2, size)), image=(1, 1, H), kernel=(1, size),
                         padding=(0, size // 2), bias=self.param((2, 1)))
            f = (None, d.relu, d.tanh, d.sigmoid)[o % 4]
            return d.max_pool2d(f(z) if f else z, image=(2, 1, H), size=(1, 1 + n // 2 % 2),
                                stride=1)
        entry = d.registry.CALLABLE[name]
        signature = entry.signature
        count = 2 if signature.nodes is None else signature.nodes
        options = {k: v[o % len(v)] for k, v in signature.options.items()}
        numbers = [NUMBERS[(n + k) % len(NUMBERS)] for k in range(len(signature.numbers))]
        if name == "split":
            numbers = [2]
        nodes = (operands * count)[:count]
        if signature.constants and o % 3:  # a number for one of them: maximum(0.5, a)
            nodes[o % 3 - 1] = number
        return entry(*nodes, *numbers, **options)

    def absorb(self, result):
        for node in result if isinstance(result, list) else [result]:
            rows, cols = node.shape
            if (rows, cols) == (1, 1):
                self.penalties.append(node)
            elif cols == 1:  # a column (a mean over each row): broadcast back across N
                self.absorb(self.pool[0] + node)
            elif rows == H:
                self.pool.append(node)
            elif rows.is_positive:  # another number of rows: mapped to H by a weight of its own
                self.pool.append(self.param(("H", rows)) @ node)
            else:  # H − 1 rows (a window of 2 slid along H) may be none: summed, then mapped
                self.absorb(d.sum(node, axis=0))


def twin(graph, dims=DIMS):
    """The loss of `graph` in autograd.numpy at the sizes `dims`, node by node from each
    operation's reference; a recurrent graph is unrolled over the steps of its sequences."""
    symbols = {sp.Symbol(k, integer=True, positive=True): v for k, v in dims.items()}

    def at(expr):  # a size, or a constant written with sizes (1/sqrt(d_k))
        value = sp.sympify(expr).subs(symbols)
        return int(value) if value.is_integer else float(value)

    dag = graph.dag()
    ends = [graph.loss_node, *(graph.by_name[s.attrs["carrier"]] for s in graph.states)]
    reached = set(ends).union(*(nx.ancestors(dag, n) for n in ends))  # the next states too
    needed = [n for n in graph.nodes if n in reached]

    def step(p, i, states):
        values = {}
        for node in needed:
            if node.kind == "param":
                values[node] = p[node.name]
            elif node.kind == "input":
                values[node] = i[node.name]
            elif node.kind == "state":
                values[node] = states[node.name]
            else:
                values[node] = node.op.reference(anp, at, node, *(values[x] for x in node.inputs))
        return values

    def loss(p, i):
        if not graph.recurrent:
            return step(p, i, {})[graph.loss_node]
        states = {s.name: i[s.attrs["initial"]] for s in graph.states}
        total = 0.0
        for t in range(i["x"].shape[0]):
            per_step = {k: v[t] if graph.by_name[k].attrs.get("sequence") else v
                        for k, v in i.items() if k in graph.by_name}
            values = step(p, per_step, states)
            total = total + values[graph.loss_node]
            states = {s.name: values[graph.by_name[s.attrs["carrier"]]] for s in graph.states}
        return total
    return loss


def moderate_at_the_checked_point(graph, dims):
    """Whether the check can judge this point: a finite loss (log of a negative is not a bug),
    activations below 10⁴ (exp of exp of exp reaches 10¹³², where float64 differences
    resolve no gradient to 10⁻⁶, though derive still matches autograd there), and a finite
    gradient by autograd (√u at u = 0, after a relu, has none)."""
    der = d.derive(graph)
    module = d.compile_numpy(der)
    params = module.init_params(dims, seed=0, scheme="normal")
    inputs = random_inputs(der, dims, np.random.default_rng([0, 0]))
    with np.errstate(all="ignore"):
        loss, cache = module.forward(params, inputs)
        oracle = {**autograd.grad(twin(graph, dims))(params, inputs),
                  **{k: v for k, v in autograd.grad(twin(graph, dims), 1)(params, inputs).items()
                     if k in {s.attrs["initial"] for s in graph.states}}}
    # default: a loss like ½ Σ (W x − W x)², 0 whatever W, keeps nothing
    largest = max((float(np.max(np.abs(np.asarray(v)))) for k, v in cache.items()
                   if k not in ("dims", "dtype")), default=0.0)
    return bool(np.isfinite(loss)) and abs(loss) < 1e8 and largest < 1e4 and \
        all(np.isfinite(g).all() for g in oracle.values())


# Near a pole (1/u with u ≈ 10⁻⁴) a step of 10⁻³ reaches across it: the differences take
# finer steps there, down to 10⁻⁶, where roundoff is still below the tolerance, which stays.
STEPS = (1e-3, 1e-4, 1e-5, 1e-6)
# Differences judge a point only where the float64 loss is accurate to a few ulps (they assume
# 8: `derive.gradcheck.resolution`); where roundoff is amplified beyond that, autograd alone
# checks derive there (found by a 10,000-graph run: a loss 262 ulps off, kept as a case).
ROUNDOFF_ULPS = 8


def check(program, recurrent, drawn=False):
    steps, target, *extras = program
    graph = Program(steps, target, recurrent, *extras).graph
    dims = {**DIMS, "N": 1} if extras and extras[0] // 12 % 2 else DIMS  # N = 1: a row, a 1×1 δ
    check_graph(graph, {**dims, "T": 3} if recurrent else dims, recurrent, drawn)


def check_graph(graph, dims, recurrent=False, drawn=True):
    """`graph`'s gradients at `dims` against differences at several steps and autograd
    through its twin, where the point is moderate; its module kept in float32. A `drawn`
    graph whose point cannot be judged is set aside; a kept case must be judged, or it would
    test nothing."""
    moderate = moderate_at_the_checked_point(graph, dims)
    if drawn:
        assume(moderate)
    else:
        assert moderate, "a kept case whose point the check cannot judge"
    try:
        for eps in STEPS:
            try:
                check_grads(graph, twin(graph, dims), dims=dims, eps=eps)
                break
            except CentralDifferencesDisagree:
                if eps == STEPS[-1]:
                    if loss_ulps_off(graph, twin(graph, dims), dims) <= ROUNDOFF_ULPS:
                        raise
                    check_grads(graph, twin(graph, dims), dims=dims, differences=False)
    except KinkedEverywhere:  # maximum(a, a): a tie at every entry, nothing to difference
        if not drawn:
            raise
        reject()
    assert not upcast_from_float32(graph, dims)
    assert predicts_each_column_alone(graph, dims)
    if recurrent:
        assert summed_after_the_loop_as_in_it(graph, dims)


def predicts_each_column_alone(graph, dims):
    """Where the module says its columns are examples of their own (`EXAMPLES`, which train
    and predict batch by), each column's prediction is the same alone as in the batch (found
    by a hunt: a state carrying a mean over the columns, b / √N, and more, were batched)."""
    der = d.derive(graph)
    module = d.compile_numpy(der)
    each = module.EXAMPLES["dim"]
    if each is None:
        return True
    params = module.init_params(dims, seed=0, scheme="normal")
    inputs = random_inputs(der, dims, np.random.default_rng([0, 1]))
    columned = [name for name in module.PREDICTS_FROM if module.SHAPES[name][-1] == each]
    with np.errstate(all="ignore"):
        together = module.predict(params, inputs)
        alone = [module.predict(params, {**inputs, **{name: inputs[name][..., [j]]
                                                      for name in columned}})
                 for j in range(dims[each])]
    return np.allclose(together, np.concatenate(alone, axis=-1), rtol=1e-9, atol=1e-12,
                       equal_nan=True)


def summed_after_the_loop_as_in_it(graph, dims):
    """A recurrent module sums a gradient Σ_t G_t v_tᵀ in one product after the loop when
    the steps are small (which the checks above ran) or step by step in the loop: both
    give the same gradients, up to the order of the additions."""
    der = d.derive(graph)
    module = d.compile_numpy(der)
    if not hasattr(module, "BATCHED_UP_TO"):  # no gradient of that form
        return True
    params = module.init_params(dims, seed=0, scheme="normal")
    inputs = random_inputs(der, dims, np.random.default_rng([0, 0]))
    with np.errstate(all="ignore"):
        after = module.gradients(params, inputs)[1]
        module.BATCHED_UP_TO = 0
        during = module.gradients(params, inputs)[1]
    return all(np.allclose(after[k], during[k], rtol=1e-9, equal_nan=True,
                           atol=1e-9 * np.nanmax(np.abs(during[k]), initial=1.0))
               for k in after)


def upcast_from_float32(graph, dims):
    """What is not float32 though the parameters are: every value, δ and prediction should
    be (no constant of the generated code, np.sqrt(d_k) or np.zeros, may make it float64, nor
    a scale given as a numpy float64: a hunt)."""
    der = d.derive(graph)
    module = d.compile_numpy(der)
    params = module.init_params(dims, seed=0, scheme="normal", dtype="float32")
    inputs = random_inputs(der, dims, np.random.default_rng([0, 0]))
    with np.errstate(all="ignore"):
        loss, cache = module.forward(params, inputs)
        grads = module.backward(params, cache, scale=np.float64(0.5))
        arrays = {**{f"δ{k}": v for k, v in grads.items()},
                  "prediction": module.predict(params, inputs),
                  **{k: np.asarray(v) for k, v in cache.items() if k not in ("dims", "dtype")}}
    return {k: str(a.dtype) for k, a in arrays.items() if a.dtype != np.float32}


# CI draws the same graphs every run (a red CI points at code, not luck); DERIVE_FUZZ explores
FUZZ = settings(max_examples=COUNT, deadline=None, database=None,
                derandomize="DERIVE_FUZZ" not in os.environ,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@FUZZ
@given(programs)
def test_random_programs(program):
    check(program, recurrent=False, drawn=True)


@FUZZ
@given(programs)
def test_random_recurrent_programs(program):
    check(program, recurrent=True, drawn=True)


def test_every_operation_is_drawn():
    assert {"sigmoid", "concat", "split", "squared_error", "softmax_cross_entropy", "layer_norm",
            "conv2d", "conv1d", "max_pool2d", "avg_pool2d",
            "@", "+", "*", "/", "[]", "T", "**", "gate", "pooled conv", "of a product",
            "of an input", "linear in a parameter", "heads", "c − a"} <= set(OPERATIONS)


# Shapes that broke before, kept as fixed programs.
@pytest.mark.parametrize("name", [n for n in INNER if n not in ("log", "sqrt")])
def test_each_operation_of_a_product_no_other_node_reads(name):
    """Found by a hunt: 1/(V x), the product read by nothing else, was written 1 / V @ x,
    which Python reads as (1/V) @ x (a wrong loss, no error). Each operation, on P u (inline)
    and on P a. (log and sqrt are undefined at the drawn point: P u has negative entries.)"""
    for o in (0, 1):  # (a = 1: the product's inner nodes are kept out of the pool)
        check(([("of a product", 1, 0, INNER.index(name), o)], 0), recurrent=False)


def test_the_target_depends_on_parameters():
    check(([("tanh", 0, 0, 0, 0), ("@", 1, 1, 0, 0)], 1), recurrent=False)


def test_a_cross_entropy_penalty_onto_an_activation():
    check(([("sigmoid", 0, 0, 0, 0), ("softmax_cross_entropy", 0, 1, 0, 1)], 0),
          recurrent=False)


def test_a_scaled_product_and_a_shared_weight():
    check(([("@", 0, 0, 0, 0), ("*", 1, 1, 3, 0), ("@", 2, 2, 1, 0), ("tanh", 3, 3, 0, 0)], 7),
          recurrent=False)


def test_a_program_whose_loss_does_not_depend_on_W():
    """total = W x + 2·(2 W x) + 2·(−2 W x) is W x, its own target: E = 0 whatever W, so δW = 0
    and the differences are pure roundoff."""
    check(([("+", 0, 0, 0, 1), ("*", 0, 0, 1, 0), ("+", 1, 2, 0, 1)], 0), recurrent=False)


def test_a_recurrent_program_with_gradients_of_a_hundred_beside_a_tenth():
    """Found by a 10,000-graph run: derive agreed with autograd to 2e-13, but differences
    with error O(ε⁴) were 8e-6 off on a small entry beside large ones; now O(ε⁶)."""
    check(([("concat", 1, 0, 0, 0), ("concat", 2, 0, 0, 0), ("concat", 0, 0, 0, 0),
            ("split", 0, 0, 0, 0), ("+", 0, 47, 0, 1), ("concat", 0, 0, 0, 0),
            ("/", 75, 0, 3, 0)], 0), recurrent=True)


def test_a_square_root_of_a_rectified_unit_is_not_judged_at_zero():
    """√relu(u) has no derivative where relu gives 0: such points are left out, not passed."""
    graph = Program([("relu", 0, 0, 0, 0), ("sqrt", 1, 0, 0, 0)], 0).graph
    assert not moderate_at_the_checked_point(graph, DIMS)


def test_a_quotient_near_its_pole():
    """Found by a 10,000-graph run: gradients of 10⁶ beside a pole of 1/u; derive agreed with
    autograd to 3e-14, differences needed a step of 10⁻⁴ to resolve them."""
    check(([("abs", 0, 0, 0, 0), ("mean", 22, 0, 0, 77), ("abs", 0, 0, 0, 0),
            ("/", 0, 23, 0, 1)], 0), recurrent=True)


ROUNDOFF_AMPLIFIED = ([("abs", 0, 0, 0, 0), ("*", 0, 0, 0, 0), ("reciprocal", 21, 0, 0, 0),
                      ("+", 9, 8, 0, 19), ("abs", 23, 0, 0, 0), ("abs", 0, 0, 0, 0),
                      ("log_softmax", 21, 0, 0, 0)], 0)


def test_a_loss_whose_roundoff_is_amplified_is_checked_by_autograd():
    """Found by a 10,000-graph run: log_softmax of values near 488 cancels to 0.002, and
    1/tanh of that the next step amplifies the cancellation's roundoff: the float64 loss is
    262 ulps off, so no step of differences resolves a gradient of 99 beside one of 4·10⁵
    to 10⁻⁶. derive agreed with autograd to 4e-14; autograd is the judge there."""
    graph = Program(*ROUNDOFF_AMPLIFIED, True).graph
    assert loss_ulps_off(graph, twin(graph), {**DIMS, "T": 3}) > ROUNDOFF_ULPS
    check(ROUNDOFF_AMPLIFIED, recurrent=True)


def test_amplified_roundoff_does_not_excuse_a_wrong_gradient():
    """At that point a twin whose gradient in W differs by 10⁻⁴ of its largest entry still
    fails: autograd is judged with its own tolerance."""
    graph = Program(*ROUNDOFF_AMPLIFIED, True).graph
    honest = twin(graph)

    def slightly_different(p, i):
        return honest(p, i) + 40.0 * anp.sum(p["W"] - getval(p["W"]))
    with pytest.raises(AssertionError, match="autograd disagrees on W"):
        check_grads(graph, slightly_different, dims={**DIMS, "T": 3}, differences=False)


def test_a_quotient_of_a_node_by_itself():
    """Found by a 10,000-graph run: t1/t1 is 1 whatever W, so δW = 0 in exact arithmetic; in
    float64 both derive and autograd leave 2e-14 of the terms' roundoff (terms near 10²), which
    autograd itself moves by as W moves by an ulp: indistinguishable from 0, not a mismatch."""
    check(([("/", 0, 0, 0, 1), ("concat", 1, 1, 0, 0)], 0), recurrent=False)


def test_the_roundoff_floor_does_not_hide_a_wrong_gradient_that_should_be_zero():
    """The same graph against a twin of the same loss whose gradient in W is 10⁻⁸ everywhere
    (W − W held constant, added to the loss): derive's δW ≈ 0 is then wrong, and the
    comparison with autograd says so."""
    graph = Program([("/", 0, 0, 0, 1), ("concat", 1, 1, 0, 0)], 0).graph
    honest = twin(graph)

    def slightly_different(p, i):
        return honest(p, i) + 1e-8 * anp.sum(p["W"] - getval(p["W"]))
    with pytest.raises(AssertionError, match="autograd disagrees on W"):
        check_grads(graph, slightly_different, dims=DIMS)


@pytest.mark.parametrize("recurrent", [False, True])
def test_convolutions_and_pooling_inside_random_programs(recurrent):
    """Each kernel size and padding of conv1d and conv2d, with and without a bias, and both
    poolings, over activations that feed other steps."""
    check(([("conv2d", 0, 0, 0, 0), ("max_pool2d", 1, 0, 1, 0), ("conv1d", 2, 1, 2, 1),
            ("avg_pool2d", 0, 3, 1, 0), ("conv2d", 3, 0, 1, 1), ("*", 4, 2, 0, 1)], 5),
          recurrent=recurrent)


@pytest.mark.parametrize("recurrent", [False, True])
def test_layer_norms_in_a_random_program_run_in_compact_form(recurrent):
    program = ([("layer_norm", 1, 0, 1, 0), ("tanh", 2, 0, 0, 0), ("layer_norm", 3, 0, 2, 0)], 1)
    assert d.derive(Program(*program, recurrent=recurrent).graph).compact
    check(program, recurrent=recurrent)


def test_a_layer_norms_centred_value_used_outside_it():
    """Found by review: with z − μ used elsewhere, the compact δ of z misses that use's term;
    the random programs now use builders' inner nodes now and then."""
    program = ([("layer_norm", 0, 0, 3, 0)], 0)
    graph = Program(*program).graph
    assert any(n.op is not None and n.op.name == "apply" for n in graph.nodes)  # the √
    assert not d.derive(graph).compact  # x − μ feeds the loss directly too
    check(program, recurrent=False)


def test_a_convolutions_bias_over_a_single_column():
    """Found by review: with one column there is no Σ_cols, and Σ_positions of a product was
    printed as a method of its last factor (δh * (1 − h²).reshape…): wrong shape and values."""
    g = d.Graph("single")
    x, K, b = g.input("x", (16, 1)), g.input("K", (1, 9)), g.param("b", (1, 1))
    h = d.tanh(d.conv2d(x, K, image=(1, 4, 4), kernel=3, padding=1, bias=b)).named("h")
    g.loss(d.squared_error(h, g.input("t", (16, 1))))
    check_grads(g, twin(g), dims={})
    assert "δb = Σ_positions (δh ⊙ (1 − h²))" in str(d.derive(g))


def test_a_coefficient_written_with_dimensions_is_bracketed():
    """Found by review: (D + 1)·z printed as D + 1 z."""
    g = d.Graph("coefficient")
    D, = d.dims("D")
    x = g.input("x", ("D", "N"))
    z = (g.param("W", ("D", "D")) @ x).named("z")
    g.loss(d.squared_error(((D + 1) * z - 3 * (D + 1) * z).named("b"), x))
    assert "b = −(2·D + 2) z" in str(d.derive(g)).splitlines()
    check_grads(g, twin(g), dims={"D": 3, "N": 2})


def test_four_heads_on_one_operand_whose_functions_make_two_runs():
    """σ(..) ⊙ σ(..) ⊙ tanh(..) ⊙ tanh(..) of one operand: the second run's δ was put in the
    stack's rows as if the first had not been merged (a crash where the operand needs a δ,
    and silently the third head's gradient for the fourth's where it is an input)."""
    check(([("heads", 1, 0, 2, 36)], 0), recurrent=False)
    check(([("heads", 1, 0, 2, 117)], 0), recurrent=False)


def test_a_stack_built_in_place_whose_block_is_a_split_put_back():
    """Found by a hunt: δ(P a) = [δ first half; δ second half], a block of δ[P a; Q a], was
    printed as a bare np.concatenate, and its rows of the stack (np.empty) were never
    written: gradients of whatever was in memory. By split and by slices, fed forward and
    recurrent."""
    for o in (0, 1, 2):
        check(([("split heads", 0, 0, 1, o)], 0), recurrent=False)
        check(([("split heads", 1, 0, 5, o)], 0), recurrent=True)


def test_a_prediction_that_cancels_to_a_constant_still_reads_the_batch_size():
    check(([("split", 0, 0, 0, 0), ("c − a", 0, 0, 0, 0)], 0), recurrent=False)  # W x +
    # (1/2 − W x) is 1/2 𝟏 of H×N: predict read no input and had no N (KeyError in the module)


def test_a_fraction_with_a_sum_above_the_line_is_bracketed_in_the_code():
    """Found by a hunt: log(u² + u + 1)′ = (2u + 1)/(u² + u + 1) was generated as
    2*u + 1/(u**2 + u + 1), and (H + 1)/N a as (H + 1/N) * a: silently wrong gradients and
    values, which only a check caught."""
    for formula in range(len(USER_FORMULAS)):
        for summed in (0, 1):
            check(([("user formula", 0, 0, summed, formula)], 0), recurrent=False)
    check(([("of dimensions", 0, 0, 0, 0)], 0), recurrent=False)
    check(([("user formula", 1, 0, 0, 1), ("of dimensions", 1, 0, 0, 0)], 0), recurrent=True)


def test_a_scaled_tanh_is_bracketed_as_a_divisor_or_a_base():
    """Found by a hunt: 1/scaled_tanh(v) of an input, a·tanh(b v) folded into one function
    of numbers, was generated as 1 / a * np.tanh(b * v), and its square as
    a * np.tanh(b * v)**2: a wrong loss and gradients, silently."""
    for outer in (9, 21):  # reciprocal, ** of scaled_tanh; the product reads it twice
        check(([("of an input", 1, 0, outer, 11), ("*", 1, 1, 0, 1)], 0), recurrent=False)


def test_a_constant_slope_beside_a_loss_that_is_not_the_last_node():
    """Found by a hunt: Σ f(a) + 3 with f′ a number (f = 2/3, or u log 2 + σ(1)): δa was
    δ ⊙ 0 of the 1×1 δ, made first and added into, which numpy refused; a slope that is a
    number is now a scaling, δa = f′ δ (and 0 is no term), a number like log 2 printed as
    a Python float (found by the random programs: np.log(2) made float32 δs float64)."""
    for formula in USER_FORMULAS[4:6]:
        g = d.Graph("constant_slope")
        x, t = g.input("x", ("D", "N")), g.input("t", ("H", "N"))
        a = (g.param("W", ("H", "D")) @ x).named("a")
        s = (2 * a).named("s")
        e = (d.sum(d.elementwise("f", formula)(a)) + d.squared_error(s, t)).named("e")
        g.loss(e + 3)
        check_graph(g, DIMS, drawn=False)
    check(([("user formula", 0, 0, 0, 28)], 0), recurrent=True)  # f′ = 0 read no t1
    check(([("abs", 0, 0, 0, 0), ("@", 0, 0, 0, 0), ("user formula", 17, 0, 1, 5)], 0),
          recurrent=False)  # δ + scale·log 2: np.log(2) made float32 δs float64


def test_a_layer_norm_read_by_the_loss_as_its_target_carries_sgd_steps_lr():
    """The loss's target term beside a layer norm's compact δ was not seeded with δE, so
    sgd_step added it without lr (W's step off by 2×; found once gradcheck judged backward
    seeded with δE = 0.375 too)."""
    check(([("layer_norm", 0, 0, 0, 0)], 0, 0), recurrent=False)


def test_a_maximum_of_dimensions_keeps_float32():
    """z max(H, N): np.maximum(H, N) is a numpy int64, which made float32 values and
    gradients float64 (and adam then refused them, blaming its state)."""
    check(([("of dimensions", 0, 0, 0, 1)], 0), recurrent=False)


def test_an_input_made_by_a_step_that_failed_is_not_read_by_a_later_one():
    check(([("abs", 0, 0, 0, 0), ("abs", 0, 0, 0, 0), ("abs", 0, 0, 0, 0),
            ("of an input", 0, 0, 1, 52), ("of an input", 0, 0, 0, 0)], 0), recurrent=True)
    # (the harness kept v after its step failed and dropped it: derive met a node outside g)


def test_an_input_that_is_the_target_of_two_losses_is_drawn_to_suit_both():
    check(([("softmax_cross_entropy", 0, 2, 0, 0), ("binary_cross_entropy", 0, 2, 0, 0)], 0,
           4), recurrent=True)  # m: one-hot for softmax cross-entropy, in [0, 1] for binary
    # (it was drawn for the last loss read, and the module refused it as not distributions)


def test_two_blocks_of_a_stack_that_overlap_at_some_sizes():
    check(([("[]", 0, 0, 0, 3)], 0), recurrent=False)  # δ: [0; δt2; 0] + [δt1; 0], not a
    # stack with a block of 1 − H rows of zeros


def test_a_recurrent_quotient_by_a_state_near_zero():
    """Found by a 10,000-graph run: t1/h_{t−1} with h ≈ 2·10⁻⁴; derive agreed with autograd to
    5e-16, the differences needed a step of 10⁻⁵."""
    check(([("/", 0, 1, 0, 1), ("abs", 0, 0, 0, 0), ("+", 1, 2, 0, 1)], 0), recurrent=True)


def test_reciprocals_of_reciprocals_of_a_state_near_zero():
    """Found by a 10,000-graph run: 1/(1/h) beside 1/h with h ≈ 10⁻³, convolved; derive agreed
    with autograd to 2e-12, the differences needed a step of 10⁻⁶."""
    check(([("reciprocal", 1, 0, 0, 0), ("reciprocal", 47, 0, 0, 0), ("reciprocal", 1, 0, 0, 0),
            ("abs", 0, 0, 0, 0), ("concat", 82, 27, 0, 0), ("concat", 0, 0, 0, 0),
            ("conv2d", 6, 0, 1, 1)], 0), recurrent=True)


def test_pooled_convolutions_in_a_random_program():
    """Each function the pooling may be moved before, and none, with windows of 1 and 2."""
    program = ([("pooled conv", 0, 0, 0, 0), ("pooled conv", 1, 0, 3, 1),
                ("pooled conv", 2, 0, 2, 2), ("pooled conv", 3, 0, 1, 3),
                ("+", 1, 2, 0, 1), ("*", 3, 4, 0, 1)], 5)
    source = d.to_numpy(d.derive(Program(*program).graph))
    for f in ("", "relu", "tanh", "sigmoid"):
        assert f" = {f}(maxpool(" in source if f else "= maxpool(t2 − P2) + P2" in source
    check(program, recurrent=False)


def test_a_penalty_whose_δ_of_one_the_loop_reads_at_every_step():
    """Found by a 300-graph run once losses added up were hoisted: a cross-entropy penalty
    that reads h_{t−1}, whose δ (1, at every step) the backward loop reads through δh_{t−1};
    computed once before the loop, it was indexed by the step (an IndexError, not a number)."""
    check(([("/", 0, 0, 0, 0), ("/", 0, 0, 0, 25), ("abs", 0, 0, 0, 0), ("/", 0, 0, 0, 0),
            ("binary_cross_entropy", 16, 79, 0, 1), ("/", 0, 0, 0, 0), ("/", 30, 0, 0, 0)], 0),
          recurrent=True)


def test_a_state_whose_next_value_reads_only_an_input():
    """Found by a 400-graph run once inputs that are not sequences joined the pool:
    h_t = tanh(|m|) feeds no δ back, and derive raised a KeyError looking for it."""
    check(([("abs", 20, 0, 0, 0)], 0, 3), recurrent=True)


def test_a_bias_scaled_by_the_number_of_examples_is_not_batched():
    """b (H + 1)/N added to every column: each prediction depends on its batch's size (a
    hunt: batched, as the constant sat on a value without columns)."""
    check(([("of dimensions", 0, 0, 2, 0)], 0), recurrent=False)


def test_two_states_read_only_as_their_sum():
    """δh_prev = δc_prev, one array (a hunt: the gradients of h0 and c0 were that array, so
    an optimizer scaling one in place would scale the other); with the state's next value
    in the pool and out of it."""
    for extras in (24, 30):
        check(([("tanh", 1, 0, 0, 0), ("*", 0, 1, 0, 0)], 0, extras), recurrent=True)


def test_a_prediction_that_reads_no_input():
    """softmax(P2ᵀ), a target that is a parameter's: predict bound the precision of inputs it
    does not read (found by the random programs)."""
    check(([("abs", 0, 0, 0, 0), ("abs", 0, 0, 0, 0), ("+", 0, 0, 1, 44),
            ("softmax_cross_entropy", 5, 0, 0, 0)], 0, 0), recurrent=False)
