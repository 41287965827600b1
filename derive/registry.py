"""The registry: everything derive knows about an operation, in one entry per operation.

An `Op` carries its rule and its whole meaning: `shape` checks operands and gives the output
shape, `forward` is the value as a sympy matrix expression of its inputs, `backward` is the
rule, `signature` is how the Python API and model files call it, `reference` is its value in numbers
(for checks that must not trust the rule), and optionally its `kinks` (where finite
differences must not step across) and `samples` (how gradcheck draws an input that feeds it,
such as one-hot targets). How an op's own notation is spelled in text, LaTeX
and numpy lives on the matrix-expression class its `forward` builds (`algebra.Spelled`).

Contract of a rule: `backward(node, delta, y, *xs)` receives the node, its δ (a matrix symbol
shaped like the node), the symbol y of its own output and the symbols xs of its inputs, and
returns one term per input: that input's share of ∂E/∂input through this node, or None where
no δ can flow. The walker adds the terms an input gets from all the places it feeds: that sum
is rule 1, and it lives only in the walker.

Printers, code generation, the model-file parser, gradcheck and the random-graph tests read
`OPS` and `CALLABLE`; none keeps a table of its own.
"""

import numbers
from dataclasses import dataclass, field
from enum import Enum
from typing import Callable, Optional

import sympy as sp

from .errors import CallError, GraphError
from .graph import Node


class Rule(Enum):
    """The five graphical rules, plus the loss, which starts the backward pass."""

    SPLITTING = 1
    ADDING = 2
    ELEMENTWISE_MULTIPLICATION = 3
    FUNCTION_APPLICATION = 4
    WEIGHT_MATRIX = 5
    LOSS = 0

    @property
    def words(self):
        """'weight matrix', 'the loss': the rule's name as every output writes it."""
        return "the loss" if self is Rule.LOSS else self.name.lower().replace("_", " ")

    def __str__(self):
        return self.words if self is Rule.LOSS else f"rule {self.value} ({self.words})"


class OptionError(GraphError, ValueError):
    """An option given a value it does not take (reduce="median", axis=2)."""


@dataclass(frozen=True)
class Signature:
    """How an operation is called: `nodes` leading node arguments (None: two or more), then
    the number arguments named in `numbers` (the last ones may have `defaults`, and any may be
    given by keyword), then keyword `options`, each with its allowed values (the first is the
    default)."""

    nodes: Optional[int] = 1
    numbers: tuple = ()
    options: dict = field(default_factory=dict)
    names: tuple = ()        # what usage calls the node arguments: ("out", "label")
    defaults: tuple = ()     # of the last numbers: layer_norm(x, eps=1e-05)
    sizes: dict = field(default_factory=dict)  # keywords taking sizes, name -> how usage
                                               # shows them: image="(C, H, W)"; the
                                               # builder checks their values
    node_options: tuple = ()  # keywords taking a node or None: bias
    constants: bool = False  # a number may stand for any node argument but one: maximum(z, 0)

    def usage(self, name):
        """How to call it: squared_error(out, label, reduce="sum")."""
        if self.names:
            nodes = ", ".join(self.names)
        else:
            nodes = "a, b, …" if self.nodes is None else "z" if self.nodes == 1 else \
                ", ".join("abcdefgh"[:self.nodes])
        required = len(self.numbers) - len(self.defaults)
        parts = [nodes, *self.numbers[:required],
                 *(f"{k}={v!r}" for k, v in zip(self.numbers[required:], self.defaults)),
                 *(f"{k}={v[0]!r}".replace("'", '"') for k, v in self.options.items()),
                 *(f"{k}={v}" for k, v in self.sizes.items()),
                 *(f"{k}=None" for k in self.node_options)]
        return f"{name}({', '.join(parts)})"

    def bind(self, name, args, kwargs):
        """(nodes, numbers, options) from a call, or a TypeError saying how to call it.
        Options may also come positionally, after the numbers, in their declared order."""
        count = self.nodes if self.nodes is not None else \
            next((k for k, a in enumerate(args) if not isinstance(a, Node)), len(args))
        nodes, rest = args[:count], args[count:]
        values, extra = list(rest[:len(self.numbers)]), rest[len(self.numbers):]
        kwargs = dict(kwargs)
        defaults = dict(zip(self.numbers[len(self.numbers) - len(self.defaults):],
                            self.defaults))
        for key in self.numbers[len(values):]:  # numbers left out: by keyword, or defaults
            values.append(kwargs.pop(key, defaults.get(key)))
        if (self.nodes is None and count < 2) or len(nodes) < count or \
                any(v is None for v in values) or len(extra) > len(self.options):
            raise CallError(f"{name} takes {self._count()}: {self.usage(name)}")
        for key in set(kwargs) & set(self.numbers):
            raise CallError(f"{name} got {key!r} twice: {self.usage(name)}")
        for k, node in enumerate(nodes):
            if not (isinstance(node, Node) or self.constants and _is_number(node)):
                kind = "a derive node or a number" if self.constants else "a derive node"
                raise CallError(f"argument {k + 1} of {self.usage(name)} must be {kind}, "
                                f"got {node!r}")
        if not any(isinstance(node, Node) for node in nodes):
            raise CallError(f"{self.usage(name)} takes a derive node among its arguments, got "
                            f"{', '.join(map(repr, nodes))}")
        for k, value in enumerate(values):
            if not _is_number(value):
                raise CallError(f"argument {count + k + 1} of {self.usage(name)} must be a "
                                f"number, got {value!r}")
        given = dict(zip(self.options, extra))
        passed = {k: kwargs.pop(k) for k in [*self.sizes, *self.node_options] if k in kwargs}
        for key, value in kwargs.items():
            if key not in self.options:
                raise CallError(f"{name} has no keyword {key!r}: {self.usage(name)}")
            if key in given:
                raise CallError(f"{name} got {key!r} twice: {self.usage(name)}")
            given[key] = value
        options = {k: v[0] for k, v in self.options.items()}
        for key, value in given.items():
            if not any(value is v or (type(value) is type(v) and value == v)
                       for v in self.options[key]):
                allowed = " or ".join(repr(v) for v in self.options[key])
                raise OptionError(f"{name}: {key} must be {allowed}, got {value!r}")
            options[key] = value
        options.update(passed)
        given_nodes = [n for n in [*nodes, *passed.values()] if isinstance(n, Node)]
        for node in given_nodes[1:]:
            if node.graph is not given_nodes[0].graph:
                raise GraphError(f"{name}({', '.join(map(str, nodes))}): the nodes belong to "
                                 f"different graphs")
        return nodes, values, options

    def _count(self):
        if self.nodes is None:
            return "two or more nodes"
        total = self.nodes + len(self.numbers)
        fewest = total - len(self.defaults)
        return f"{f'{fewest} to ' if fewest < total else ''}{total} argument{'s' * (total != 1)}"


def _is_number(value):
    """A Python or numpy number, or a sympy one: 2, 0.5, Rational(1, 3), π, √2."""
    return (isinstance(value, numbers.Number) and not isinstance(value, bool)) or \
        (isinstance(value, sp.Expr) and value.is_number)


@dataclass(frozen=True, eq=False)
class Op:
    """One operation: its rule and everything every output needs to know about it."""

    name: str
    rule: Rule
    shape: Callable                      # (node, *input shapes) -> output shape
    forward: Callable                    # (node, *input symbols) -> matrix expression
    backward: Callable                   # the rule: (node, δ, y, *xs) -> a term per input
    signature: Optional[Signature] = None  # None: made by an operator (@, +, *), not by name
    attributes: Callable = None          # (numbers, options) -> the node's attrs
    kinks: Optional[Callable] = None     # (node) -> [(input indices, g)]: g a sympy expression
                                         # of KINK_ARGUMENTS, one per index, whose sign is
                                         # constant between kinks, or a function
                                         # g(at, *arrays) whose value is (max pooling's
                                         # argmax of each window)
    samples: dict = field(default_factory=dict)  # input index -> (rng, shape) -> array
    checks: dict = field(default_factory=dict)   # input index -> helper that validates an
                                                 # input array fed there (name, value)
    shared: dict = field(default_factory=dict)  # input index -> how that input is used many
                                                # times inside the op (a kernel at every
                                                # patch), for explanations of rule 1
    view: bool = False                   # its value is its input rearranged (xᵀ): written out
                                         # wherever it is read, never stored
    reference: Optional[Callable] = None  # (xp, at, node, *arrays) -> the value in numbers,
                                          # for checks that know nothing of the rule (`at`
                                          # gives the value of an expression of
                                          # dimensions: a size, or 1/sqrt(d_k))
    init: Optional[Callable] = None      # (node, input index) -> "weight" (fan-in its
                                         # columns), "transposed weight" (its rows), "bias",
                                         # "gain", "transposed" (as its uses, sides swapped)
                                         # or None: how a parameter fed there starts training
    fan_out: Optional[Callable] = None   # (node) -> outputs each row of a weight reaches
                                         # (a kernel's kh·kw positions), for Glorot's fan_out
    predict: Optional[Callable] = None   # a loss's: (node, output) -> what the model predicts
                                         # (softmax of the logits), for the module's predict

    def __call__(self, *args, **kwargs):
        """Make this operation's node: op(a, b, …, numbers…, option=value)."""
        if self.signature is None:
            raise CallError(f"{self.name} is made by its operator, not called")
        nodes, values, options = self.signature.bind(self.name, args, kwargs)
        attrs = self.attributes(values, options) if self.attributes else dict(options)
        return nodes[0].graph.add(self, nodes, attrs)

    def __repr__(self):
        return f"Op({self.name})"


@dataclass(frozen=True, eq=False)
class CompactForm:
    """A textbook δ that the rules' terms add up to, shown beside the rule-by-rule one (layer
    norm's δx = s ⊙ (δx̂ − mean δx̂ − x̂ ⊙ mean(δx̂ ⊙ x̂))). A builder made the nodes `inside`
    from node `of`, ending in `output`; the terms `of` gets through them sum to
    `write(value, delta)`, where `value(node)` and `delta(node)` are a node's symbol and its
    δ's — as long as nothing outside uses a node inside. The nodes in `reads` keep their own
    names (never folded)."""

    title: str
    of: Node
    output: Node
    inside: frozenset
    reads: tuple
    write: Callable


class Builder:
    """A callable entry that builds with a function of its own: split returns a list of
    row blocks, scaled_tanh makes a function from its numbers."""

    def __init__(self, name, build, signature):
        self.name, self.build, self.signature = name, build, signature

    def __call__(self, *args, **kwargs):
        nodes, numbers, options = self.signature.bind(self.name, args, kwargs)
        return self.build(*nodes, *numbers, **options)

    def __repr__(self):
        return f"Builder({self.name})"


KINK_ARGUMENTS = sp.symbols("u0:4", real=True)  # what a kink's g is written in

OPS: dict[str, Op] = {}          # every operation, by name
CALLABLE: dict[str, object] = {}  # what the API and model files call by name: ops, functions


def register(name, rule, shape, forward, signature=None, **knowledge):
    """Decorator: `backward` is the rule of the operation `name`; the entry is returned."""
    def decorate(backward):
        op = Op(name, rule, shape, forward, backward, signature, **knowledge)
        add(op, callable_name=name if signature is not None else None)
        return op
    return decorate


def add(entry, callable_name=None):
    """Register an op (in OPS) and, if it is called by name, in CALLABLE."""
    if isinstance(entry, Op):
        if entry.name in OPS:
            raise GraphError(f"an operation named {entry.name!r} is already registered")
        OPS[entry.name] = entry
    if callable_name is not None:
        if callable_name in CALLABLE:
            raise GraphError(f"{callable_name!r} is already the name of a registered operation")
        CALLABLE[callable_name] = entry
    return entry


def make(name, inputs, **attrs):
    """The node the operation `name` makes of `inputs` (nodes of one graph)."""
    return inputs[0].graph.add(op_named(name), inputs, attrs)


def op_named(name):
    try:
        return OPS[name]
    except KeyError:
        raise NotImplementedError(f"no operation {name!r} is registered") from None
