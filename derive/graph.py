"""The user's network: a graph of named activations with symbolic shapes.

Nodes are made by the graph (`input`, `param`) and by operators on nodes (`@`, `+`, `-`, `*`,
elementwise functions); each checks its operands' shapes when it is made. Node objects are the
vertices of a networkx DiGraph whose edges run forward, from an input to the node consuming it.
"""

import copy
import math
import numbers

import networkx as nx
import sympy as sp

from .errors import CallError, FormulaError, GraphError, ShapeError
from .naming import check_identifier, dimension

# What Python's operators on nodes make: filled in by the rules that define them (`rules`), so
# this module, which they build on, does not import them.
OPERATORS = {}


class Node:
    """One activation (or parameter, or input) of a graph.

    `op` is the registered operation that computes it (None for a leaf); `kind` is its name,
    or "input", "param", "state" for a leaf.
    """

    __array_ufunc__ = None  # an array on the left, array + x, leaves it to x (an error)

    def __init__(self, graph, op, inputs=(), shape=None, name=None, kind=None, **attrs):
        self.graph, self.op, self.inputs, self.attrs = graph, op, tuple(inputs), attrs
        self.kind = kind or op.name
        self.name = None
        self.shape = shape if shape is not None else op.shape(
            self, *(x.shape for x in self.inputs))
        if name is not None:
            self.named(name)

    def named(self, name):
        """Give this node the name it has in equations and generated code; returns the node."""
        check_identifier(name)
        if self.name == name:
            return self
        if self.name is not None:
            raise GraphError(f"node {self.name!r} is already named; cannot rename it to {name!r}")
        if name in self.graph.by_name or name in self.graph.initial_values:
            raise GraphError(f"name {name!r} is already used by another node of graph "
                             f"{self.graph.name!r}")
        self.name = name
        self.graph.by_name[name] = self
        return self

    @property
    def is_leaf(self):
        return self.op is None

    def __str__(self):
        if self.name is not None:
            return self.name
        if self.kind == "apply":
            return f"{self.attrs['function'].name}({self.inputs[0]})"
        if self.kind == "transpose":
            return f"{self.inputs[0]}ᵀ"
        if self.kind == "scale":
            return f"({self.attrs['factor']}·{self.inputs[0]})"
        if self.kind == "add":
            terms = [("+ " if s > 0 else "− ") + str(x)
                     for s, x in zip(self.attrs["signs"], self.inputs)]
            if self.attrs["constant"]:
                terms.append(f"+ {self.attrs['constant']}")
            return "(" + " ".join(terms).removeprefix("+ ") + ")"
        symbol = _SYMBOL.get(self.kind)
        if symbol:
            return f"({self.inputs[0]} {symbol} {self.inputs[1]})"
        return f"{self.kind}({', '.join(map(str, self.inputs))})"

    __repr__ = __str__

    def describe(self):
        """How errors name an operation: its kind and operands (or the call that made it, for a
        builder's layer: conv1d(x, K))."""
        if "layer" in self.attrs:
            return self.attrs["layer"]
        text = str(self)
        return text if text.startswith(self.kind) else f"{self.kind} {text}"

    # Operators build new nodes through OPERATORS; numbers become constants, never parsed text.
    def _operator(self, symbol, *operands):
        try:
            make = OPERATORS[symbol]
        except KeyError:
            raise CallError(f"operator {symbol} is not defined for derive nodes") from None
        return make(*operands)

    def __matmul__(self, other):
        return self._operator("@", self, self.operand(other, "@"))

    def __rmatmul__(self, other):
        return self._operator("@", self.operand(other, "@"), self)

    def __add__(self, other):
        return self._operator("+", self, other, 1)

    def __radd__(self, other):
        return self._operator("+", self, other, 1)

    def __sub__(self, other):
        return self._operator("+", self, other, -1)

    def __rsub__(self, other):
        return self._operator("+", self, other, 1, -1)

    def __neg__(self):
        return self._operator("*", self, -1)

    def __mul__(self, other):
        return self._operator("*", self, other)

    __rmul__ = __mul__

    def __truediv__(self, other):
        return self._operator("/", self, other)

    def __rtruediv__(self, other):
        return self._operator("/", other, self)

    def __pow__(self, other):
        return self._operator("**", self, other)

    @property
    def T(self):
        """xᵀ, the transpose."""
        return self._operator("T", self)

    def __rpow__(self, other):
        return self._operator("**", other, self)

    def __getitem__(self, rows):
        """z[start:stop], a block of rows; bounds may be dimensions (z[H:2*H])."""
        if not isinstance(rows, slice) or rows.step is not None:
            raise CallError(f"{self}[...]: take a block of rows, like {self}[0:H]")
        start = sp.Integer(0) if rows.start is None else dimension_bound(rows.start)
        stop = self.shape[0] if rows.stop is None else dimension_bound(rows.stop)
        return self._operator("[]", self, start, stop)

    def operand(self, other, op):
        """`other`, if it is a node of this node's graph (an operand of operator `op`)."""
        if not isinstance(other, Node):
            raise CallError(f"{self} {op} {other!r}: the operand must be a derive node")
        if other.graph is not self.graph:
            raise GraphError(f"{self} {op} {other}: the nodes belong to different graphs "
                             f"({self.graph.name!r} and {other.graph.name!r})")
        return other


_SYMBOL = {"matmul": "@", "hadamard": "⊙"}


def dimension_bound(value):
    """A row index: a whole number ≥ 0 or an expression of dimensions (H, 2*H, H - 1)."""
    if isinstance(value, (int, sp.Integer)) and not isinstance(value, bool) and value >= 0:
        return sp.Integer(value)
    return dimension(value, bound=True)


def number(value, op):
    """A finite real constant from a Python or sympy number, kept exact where it can be."""
    if isinstance(value, sp.Expr) and not isinstance(value, sp.Number):
        return _dimension_number(value, op)  # 1/sqrt(d_k), π, √2: exact, as written
    if isinstance(value, bool) or not isinstance(value, (numbers.Number, sp.Number)):
        raise CallError(f"operator {op}: expected a node or a number, got {value!r}")
    try:
        exact = exactly(value)
    except (OverflowError, ValueError):
        exact = sp.nan
    return _in_range(exact, value, op)


def _in_range(exact, value, op):
    """`exact`, the constant `value`, if the generated code can hold it: finite and real in
    float64, and 0 or at least 1e-290 in size (its code would need 2^-1000)."""
    if not (exact.is_finite and exact.is_real) or abs(float(exact)) == float("inf"):
        raise FormulaError(f"operator {op}: the constant {value!r} is not a finite real number "
                           "in float64")
    if exact != 0 and abs(exact) < sp.Rational(1, 10**290):
        raise FormulaError(f"operator {op}: the constant {value!r} is too small for derive "
                           "(below 1e-290): leave it out, or scale the value it multiplies")
    return exact


def exactly(value):
    """A number as an exact sympy one: the simplest fraction that is the same float (0.1 is
    1/10, and 1/3 in a float 1/3), else the float's own value (a hunt: nsimplify's 15 digits
    made π 7 ulps off and 1 + 2⁻⁵² exactly 1)."""
    exact = sp.nsimplify(value, rational=True)
    if isinstance(value, (float, sp.Float)) and math.isfinite(value) and (
            float(exact) != value or max(abs(exact.p), exact.q) > 2**53):
        exact = sp.Rational(float(value))  # (p/q printed in code is exact only where p and q
    return exact                           # are floats: 1e-23 was 1/10²³, an ulp off)


def _dimension_number(value, op):
    """A constant written with dimensions, such as 1/sqrt(d_k), or of none, such as π (found
    by a hunt: z * sp.pi was "expected a node or a number"): real and non-zero for every
    size, and evaluated by the generated code from the sizes it is given."""
    stray = sorted(str(s) for s in value.free_symbols if not (s.is_integer and s.is_positive))
    if stray:
        raise CallError(f"operator {op}: {value} is not a number: {', '.join(stray)} "
                        "is not a dimension (make dimensions with d.dims)")
    if not (value.is_real and value.is_finite and value.is_nonzero):
        raise FormulaError(f"operator {op}: {value} is not a finite non-zero real number for "
                           "every size of its dimensions")
    return value if value.free_symbols else _in_range(value, value, op)  # (a hunt: e¹⁰⁰⁰ in
    # the code was inf)


class Graph:
    """A network under construction: inputs, parameters, operations and one scalar loss."""

    def __init__(self, name="net"):
        self.name = check_identifier(name, "graph")
        self.nodes = []          # in creation order, which is a topological order
        self.by_name = {}
        self.loss_node = None
        self.initial_values = {}  # h0 -> the state h_prev it starts
        self.compact_forms = []   # textbook δs a builder knows (registry.CompactForm)
        self.reserved = set()     # names a model file gives further down: builders' own
                                  # names (z_c of layer_norm) step aside for them
        self.origin = self        # the graph a snapshot was taken of (itself if none)

    def snapshot(self):
        """The graph as it is now, for a derivation of it: nodes added, named or a loss set
        later change this graph, not what was derived of it (a sequence added after d.derive
        made the derivation recurrent)."""
        frozen = copy.copy(self)
        frozen.nodes, frozen.by_name = list(self.nodes), dict(self.by_name)
        frozen.initial_values, frozen.compact_forms = dict(self.initial_values), \
            list(self.compact_forms)
        frozen.reserved = set(self.reserved)
        return frozen

    def __getitem__(self, name):
        try:
            return self.by_name[name]
        except KeyError:
            raise GraphError(f"graph {self.name!r} has no node named {name!r}") from None

    def input(self, name, shape, sample=None):
        """Data fed in at run time (features, labels): no gradient is computed for it.
        `sample(rng, shape)`, if given, draws it where derive draws values (gradient checks,
        worked examples): a causal mask of 0 and −∞ is no N(0, 1) noise."""
        node = self._leaf("input", name, shape)
        if sample is not None:
            if not callable(sample):
                raise GraphError(f"input {name}: sample must be a function (rng, shape) -> "
                                 f"array, got {sample!r}")
            node.attrs["sample"] = sample
        return node

    def sequence(self, name, shape):
        """Data with one value per time step: x_t is `shape`, passed as a T×rows×cols array."""
        node = self._leaf("input", name, shape)
        node.attrs["sequence"] = True
        return node

    def state(self, name, shape):
        """h_{t−1}: the value the node named `name` had at the previous step.

        Returns the node `<name>_prev`; its value at the first step is the input `<name>0`.
        The node later named `name` is what the next step receives.
        """
        check_identifier(name)
        initial = check_identifier(f"{name}0")
        if initial in self.by_name or initial in self.initial_values:
            raise GraphError(f"state {name!r}: its initial value {initial!r} is already a name "
                             f"in graph {self.name!r}")
        if f"{name}_prev" in self.by_name:
            raise GraphError(f"state {name!r}: its value at the previous step, {name}[t-1], is "
                             f"named {name + '_prev'!r}, which is already a name in graph "
                             f"{self.name!r}")
        node = self._leaf("state", f"{name}_prev", shape)
        node.attrs.update(carrier=name, initial=initial)
        self.initial_values[initial] = node
        return node

    @property
    def states(self):
        return [n for n in self.nodes if n.kind == "state"]

    @property
    def recurrent(self):
        return bool(self.states) or any(n.attrs.get("sequence") for n in self.inputs)

    def param(self, name, shape):
        """A trainable leaf (weight matrix, bias): it gets a gradient and an update."""
        return self._leaf("param", name, shape)

    def loss(self, node):
        """Declare the scalar E whose derivatives are wanted; returns the node."""
        if not isinstance(node, Node) or node.graph is not self:
            raise GraphError(f"loss of graph {self.name!r} must be one of its nodes, "
                             f"got {node!r}")
        if node.shape != (1, 1):
            raise GraphError(f"loss {node} must be a scalar (1×1), but its shape is "
                             f"{'×'.join(map(str, node.shape))}")
        if self.loss_node is not None and self.loss_node is not node:
            raise GraphError(f"graph {self.name!r} already has the loss {self.loss_node}")
        self.loss_node = node
        return node

    @property
    def params(self):
        return [n for n in self.nodes if n.kind == "param"]

    @property
    def inputs(self):
        return [n for n in self.nodes if n.kind == "input"]

    def least_sizes(self):
        """The sizes its numbers must keep large enough, each (size, least, why): a count of
        rows or columns that shrinks with a dimension (L − 2, a kernel of 3 along L) at least
        1, and a softmax's or layer norm's rows, when they are a dimension, at least 2."""
        found = {}
        for node in self.nodes:
            size, why = node.attrs.get("two_rows", (sp.Integer(1), None))
            if why and not size.is_Integer:
                found.setdefault((size, 2), why)
            for entry in node.shape:  # and each factor of a product: 3 (H − 2)(W − 2) is 3
                for size in dict.fromkeys((entry, *sp.Mul.make_args(entry))):  # at H = W = 1
                    ones = {s: 1 for s in size.free_symbols}
                    if ones and size.subs(ones) < 1:  # below 1 where its dimensions are 1
                        found.setdefault((size, 1), f"{node.describe()} would have no rows "
                                                    "or columns")
        return [(size, least, why) for (size, least), why in found.items()]

    def dag(self):
        """The forward graph as a networkx DiGraph over Node objects."""
        dag = nx.DiGraph()
        dag.add_nodes_from(self.nodes)
        for node in self.nodes:
            dag.add_edges_from((x, node) for x in node.inputs)
        if not nx.is_directed_acyclic_graph(dag):
            cycle = nx.find_cycle(dag)
            raise GraphError(f"graph {self.name!r} has a cycle through node {cycle[0][0]}")
        return dag

    def reaching_loss(self, dag):
        """Every node the loss reads, at its own step or, through the next value of a state it
        reads (h_t, read by step t+1 as h[t-1]), at a later one."""
        reach = nx.ancestors(dag, self.loss_node) | {self.loss_node}
        grown = True
        while grown:
            grown = False
            for state in self.states:
                carrier = self.by_name.get(state.attrs["carrier"])
                if state in reach and carrier is not None and carrier not in reach:
                    reach |= nx.ancestors(dag, carrier) | {carrier}
                    grown = True
        return reach

    def _leaf(self, kind, name, shape):
        check_identifier(name)
        return self._add(Node(self, None, shape=_shape(name, shape), name=name, kind=kind))

    def add(self, op, inputs, attrs):
        """The node `op` makes of `inputs` (nodes of this graph), its shape checked."""
        for x in inputs:
            if x.graph is not self:
                raise GraphError(f"{op.name}({', '.join(map(str, inputs))}): the nodes belong "
                                 f"to different graphs ({self.name!r} and {x.graph.name!r})")
        return self._add(Node(self, op, inputs, **attrs))

    def _add(self, node):
        self.nodes.append(node)
        return node


def _shape(name, shape):
    if not isinstance(shape, (tuple, list)) or len(shape) != 2:
        raise ShapeError(f"node {name!r}: a shape is a pair (rows, columns) like ('H', 'N'), "
                         f"got {shape!r}")
    try:
        return tuple(dimension(n) for n in shape)
    except GraphError as exc:
        raise ShapeError(f"node {name!r}: bad dimension in shape {tuple(shape)!r}: {exc}") from None
