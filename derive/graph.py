"""The user's network: a graph of named activations with symbolic shapes.

Nodes are made by the graph (`input`, `param`) and by operators on nodes (`@`, `+`, `-`, `*`,
elementwise functions); each checks its operands' shapes when it is made. Node objects are the
vertices of a networkx DiGraph whose edges run forward, from an input to the node consuming it.
"""

import numbers

import networkx as nx
import sympy as sp

from .errors import GraphError, ShapeError
from .naming import check_identifier, dimension
from .rules import Kind, rule_for

_SYMBOL = {Kind.MATMUL: "@", Kind.HADAMARD: "⊙"}


class Node:
    """One activation (or parameter, or input) of a graph."""

    def __init__(self, graph, kind, inputs=(), shape=None, name=None, **attrs):
        self.graph, self.kind, self.inputs, self.attrs = graph, kind, tuple(inputs), attrs
        self.name = None
        self.shape = shape if shape is not None else rule_for(self).shape(
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
        return self.kind in (Kind.INPUT, Kind.PARAM, Kind.STATE)

    def __str__(self):
        if self.name is not None:
            return self.name
        if self.kind is Kind.APPLY:
            return f"{self.attrs['function'].name}({self.inputs[0]})"
        if self.kind is Kind.SCALE:
            return f"({self.attrs['factor']}·{self.inputs[0]})"
        if self.kind is Kind.ADD:
            terms = [("+ " if s > 0 else "− ") + str(x)
                     for s, x in zip(self.attrs["signs"], self.inputs)]
            if self.attrs["constant"]:
                terms.append(f"+ {self.attrs['constant']}")
            return "(" + " ".join(terms).removeprefix("+ ") + ")"
        symbol = _SYMBOL.get(self.kind)
        if symbol:
            return f"({self.inputs[0]} {symbol} {self.inputs[1]})"
        return f"{self.kind.value}({', '.join(map(str, self.inputs))})"

    __repr__ = __str__

    def describe(self):
        """How errors name an operation: its kind and operands."""
        text = str(self)
        return text if text.startswith(self.kind.value) else f"{self.kind.value} {text}"

    # Operators build new nodes; numbers become constants, never parsed text.
    def __matmul__(self, other):
        return self.graph._op(Kind.MATMUL, self, self._node(other, "@"))

    def __rmatmul__(self, other):
        return self.graph._op(Kind.MATMUL, self._node(other, "@"), self)

    def __add__(self, other):
        return self._sum(other, 1)

    def __radd__(self, other):
        return self._sum(other, 1)

    def __sub__(self, other):
        return self._sum(other, -1)

    def __rsub__(self, other):
        return (-self)._sum(other, 1)

    def __neg__(self):
        return self.graph._op(Kind.SCALE, self, factor=sp.Integer(-1))

    def __mul__(self, other):
        if isinstance(other, Node):
            return self.graph._op(Kind.HADAMARD, self, self._node(other, "*"))
        return self.graph._op(Kind.SCALE, self, factor=_number(other, "*"))

    __rmul__ = __mul__

    def __truediv__(self, other):
        return self.graph._op(Kind.SCALE, self, factor=1 / _number(other, "/"))

    def __getitem__(self, rows):
        """z[start:stop], a block of rows; bounds may be dimensions (z[H:2*H])."""
        if not isinstance(rows, slice) or rows.step is not None:
            raise TypeError(f"{self}[...]: take a block of rows, like {self}[0:H]")
        start = sp.Integer(0) if rows.start is None else dimension_bound(rows.start)
        stop = self.shape[0] if rows.stop is None else dimension_bound(rows.stop)
        return self.graph._op(Kind.SLICE, self, start=start, stop=stop)

    def _sum(self, other, sign):
        if isinstance(other, Node):
            return self.graph._op(Kind.ADD, self, self._node(other, "+"),
                                  signs=(1, sign), constant=sp.Integer(0))
        constant = sign * _number(other, "+")
        if constant == 0:
            return self  # x + 0 is x: no node
        return self.graph._op(Kind.ADD, self, signs=(1,), constant=constant)

    def _node(self, other, op):
        if not isinstance(other, Node):
            raise TypeError(f"{self} {op} {other!r}: the operand must be a derive node")
        if other.graph is not self.graph:
            raise GraphError(f"{self} {op} {other}: the nodes belong to different graphs "
                             f"({self.graph.name!r} and {other.graph.name!r})")
        return other


def dimension_bound(value):
    """A row index: a whole number ≥ 0 or an expression of dimensions (H, 2*H)."""
    if isinstance(value, (int, sp.Integer)) and not isinstance(value, bool) and value >= 0:
        return sp.Integer(value)
    return dimension(value)


def concat(*nodes):
    """[a; b; …]: nodes stacked one above the other, as in W [x_t; h_{t−1}]."""
    if len(nodes) < 2 or not all(isinstance(n, Node) for n in nodes):
        raise TypeError("concat takes two or more derive nodes")
    first = nodes[0]
    for n in nodes[1:]:
        first._node(n, "concat")
    return first.graph._op(Kind.CONCAT, *nodes)


def split(node, parts):
    """`parts` equal blocks of rows: i, f, o, g = split(z, 4) for a stacked 4H×N z."""
    size = node.shape[0] / parts
    if not (size.is_integer and size.is_positive):
        raise ShapeError(f"split({node}, {parts}): {node.shape[0]} rows do not split into "
                         f"{parts} equal blocks")
    return [node[k * size:(k + 1) * size] for k in range(parts)]


def _number(value, op):
    if isinstance(value, bool) or not isinstance(value, (numbers.Number, sp.Number)):
        raise TypeError(f"operator {op}: expected a node or a number, got {value!r}")
    number = sp.nsimplify(value, rational=True)
    if not number.is_finite or not number.is_real:
        raise ValueError(f"operator {op}: the constant {value!r} is not a finite real number")
    if op == "/" and number == 0:
        raise ZeroDivisionError("division of a node by zero")
    return number


class Graph:
    """A network under construction: inputs, parameters, operations and one scalar loss."""

    def __init__(self, name="net"):
        self.name = check_identifier(name, "graph")
        self.nodes = []          # in creation order, which is a topological order
        self.by_name = {}
        self.loss_node = None
        self.initial_values = {}  # h0 -> the state h_prev it starts

    def __getitem__(self, name):
        try:
            return self.by_name[name]
        except KeyError:
            raise GraphError(f"graph {self.name!r} has no node named {name!r}") from None

    def input(self, name, shape):
        """Data fed in at run time (features, labels): no gradient is computed for it."""
        return self._leaf(Kind.INPUT, name, shape)

    def sequence(self, name, shape):
        """Data with one value per time step: x_t is `shape`, passed as a T×rows×cols array."""
        node = self._leaf(Kind.INPUT, name, shape)
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
        node = self._leaf(Kind.STATE, f"{name}_prev", shape)
        node.attrs.update(carrier=name, initial=initial)
        self.initial_values[initial] = node
        return node

    @property
    def states(self):
        return [n for n in self.nodes if n.kind is Kind.STATE]

    @property
    def recurrent(self):
        return bool(self.states) or any(n.attrs.get("sequence") for n in self.inputs)

    def param(self, name, shape):
        """A trainable leaf (weight matrix, bias): it gets a gradient and an update."""
        return self._leaf(Kind.PARAM, name, shape)

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

    def _repr_svg_(self):
        """In a notebook a graph shows as its picture (once it has a loss to derive from)."""
        if self.loss_node is None:
            return None
        from .draw import draw
        return draw(self)._repr_svg_()

    @property
    def params(self):
        return [n for n in self.nodes if n.kind is Kind.PARAM]

    @property
    def inputs(self):
        return [n for n in self.nodes if n.kind is Kind.INPUT]

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

    def _leaf(self, kind, name, shape):
        check_identifier(name)
        return self._add(Node(self, kind, shape=_shape(name, shape), name=name))

    def _op(self, kind, *inputs, **attrs):
        return self._add(Node(self, kind, inputs, **attrs))

    def _apply(self, function, node):
        if node.graph is not self:
            raise GraphError(f"{function.name}({node}): node belongs to graph {node.graph.name!r}")
        return self._op(Kind.APPLY, node, function=function)

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
