"""Model files (`.bp`): a network written as its forward equations, compiled to a Graph.

    input x[D, N], label[K, N]          # shapes: inputs and parameters come first; a size is
    param W1[H, D], b1[H, 1], W2[K, H]  # a name, a whole number, or + - * of them: W[4*H, D + H]
    phi(u) = u**3 / 3                   # a user function: a scalar formula in its argument
    z1  = W1 @ x + b1                   # each equation makes a node and names it
    h   = sigmoid(z1)
    out = sigmoid(W2 @ h)
    loss = squared_error(out, label)    # the scalar loss comes last

Besides + - * / @ and the functions of the Python API, an equation may stack nodes with
`concat(a, b, …)`, take a block of rows `z[0:H]`, `z[H:2*H]`, `z[2*H:]`, and name the equal
blocks of `split` on its left side: `i, f, o, g = split(z, 4)`. A recurrent net declares
`sequence x[D, N]` (one value per step) and `state h[H, N]`; equations read the previous step
as `h[t-1]` (so written, whatever else is called t; `h[t-1][0:H]` takes its rows) and give
step t's value with `h = …`.

A model file is data, never code: each expression is parsed by Python's `ast` and walked by a
whitelist (`modelfile_expressions`) that builds the nodes through the Python API, so a file
gives exactly the graph the API would. Every mistake is a `ModelFileError` at its line and
column; every name the file gives must lead to the loss. Names have at most 100 characters.
"""

import ast
import re
from pathlib import Path

import sympy as sp

from .errors import DeriveError
from .functions import elementwise
from .graph import Graph, Node
from .modelfile_expressions import Call, Formula, Scope, Walker
from .modelfile_source import Line, ModelFileError, read, split_lines
from .naming import check_identifier, shape_text
from .validation import steps_clash

__all__ = ["ModelFileError", "graph_name", "load", "loads"]

_DECLARATION = re.compile(r"(input|param|sequence|state)\s+(?=[^\s=])")
_LINE_FORMS = ("expected 'name = expression', an 'input', 'param', 'sequence' or 'state' "
               "declaration, or a function 'phi(u) = formula'")
_KINDS = {"input": "an input", "param": "a parameter", "sequence": "a sequence",
          "state": "a state"}
_NOUNS = {"an input": "input", "a parameter": "parameter", "a sequence": "sequence",
          "a node": "node"}


def load(path):
    """The Graph of the model file at `path`, named after the file (mlp.bp gives 'mlp')."""
    return loads(read(path), str(path), graph_name(Path(path).stem))


def loads(text, filename="<model>", name="model"):
    """The Graph of a model file's text; `filename` is what error messages call it."""
    return _Compiler(filename, split_lines(text, filename), name).run()


def graph_name(stem):
    """A valid graph name from a file name: other characters become _, clashes get a prefix."""
    name = re.sub(r"\W", "_", stem, flags=re.ASCII)
    try:
        return check_identifier(name, "graph")
    except DeriveError:
        return f"model_{name}"


_ASSIGNED = re.compile(r"^\s*([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)\s*=(?!=)")  # a, b = …


class _Compiler:
    """Reads a model file line by line into a Graph."""

    def __init__(self, filename, lines, name):
        self.lines = [Line(filename, n, text) for n, text in enumerate(lines or [""], 1)]
        self.scope = Scope(Graph(name))
        self.first_equation = self.loss_line = None
        self.declared_states = {}  # h -> the Definition of 'state h[…]'

    @property
    def graph(self):
        return self.scope.graph

    def run(self):
        self.graph.reserved = {name.strip() for line in self.lines
                               for names in _ASSIGNED.findall(line.code.split("#", 1)[0])
                               for name in names.split(",")}
        for line in self.lines:
            if line.code.strip():
                indent = len(line.code) - len(line.code.lstrip())
                try:
                    self._statement(line, indent)
                except RecursionError:
                    raise line.error(indent + 1, "this line nests too deeply; split it into "
                                                 "several equations") from None
        if self.loss_line is None:  # reported after the last line with code
            last = max((ln for ln in self.lines if ln.code.strip()),
                       key=lambda ln: ln.number, default=self.lines[0])
            scalar = next((n.name for n in reversed(self.graph.nodes)
                           if n.name and n.op is not None and n.shape == (1, 1)), None)
            hint = f": the loss is the equation named loss, so call {scalar!r} loss" if \
                scalar else "; end it with a line like 'loss = squared_error(out, label)'"
            raise last.error(len(last.code) + 1, f"the model has no loss{hint}")
        self._check_states()
        self._check_everything_reaches_the_loss()
        self._check_there_is_a_sequence()
        self._check_time_is_free()
        return self.graph

    def _statement(self, line, indent):
        if self.loss_line is not None:
            raise line.error(indent + 1, f"the loss (line {self.loss_line}) must be the last "
                                         "line of the model")
        declaration = _DECLARATION.match(line.code, indent)
        if declaration:
            return self._declare(line, declaration.group(1), indent, declaration.end())
        lhs, equals, _ = line.code.partition("=")
        if not equals:
            raise line.error(indent + 1, _LINE_FORMS)
        if re.fullmatch(r"\w+", lhs.strip()):
            return self._equation(line, [(lhs.strip(), indent + 1)], len(lhs) + 1, many=False)
        try:
            target = line.parse(indent, len(lhs))
        except ModelFileError:
            raise line.error(indent + 1, _LINE_FORMS) from None
        if isinstance(target, ast.Tuple) and target.elts and \
                all(isinstance(e, ast.Name) for e in target.elts):
            names = [(e.id, line.column(e)) for e in target.elts]
            return self._equation(line, names, len(lhs) + 1, many=True)
        if isinstance(target, ast.Subscript):
            raise line.error(indent + 1, "the left side names the node of step t, like "
                                         "h = …; h[t-1] is only read")
        if not (isinstance(target, ast.Call) and isinstance(target.func, ast.Name)):
            raise line.error(indent + 1, _LINE_FORMS)
        self._function(line, target, indent + 1, len(lhs) + 1)

    # --- the three kinds of line --------------------------------------------------------

    def _declare(self, line, kind, indent, start):
        if self.first_equation is not None:
            raise line.error(indent + 1, f"declare {kind}s before the equations (the first "
                                         f"equation is on line {self.first_equation})")
        tree, scope, walker = line.parse(start), self.scope, Walker(self.scope, line)
        for entry in tree.elts if isinstance(tree, ast.Tuple) else [tree]:
            if not (isinstance(entry, ast.Subscript) and isinstance(entry.value, ast.Name)):
                raise line.error(entry, f"expected a name with its shape, like {kind} x[D, N]")
            name, dims = entry.value.id, entry.slice
            dims = dims.elts if isinstance(dims, ast.Tuple) else [dims]
            if len(dims) != 2:
                raise line.error(entry.slice, f"the shape of '{name}' needs two dimensions, "
                                              f"{name}[rows, columns], not {len(dims)}")
            scope.claim(name, entry, "node", line)
            scope.record(name, entry, _KINDS[kind], line)
            shape = [walker.dimension(d, declare=True) for d in dims]
            with line.blame(entry):
                node = getattr(self.graph, kind)(name, shape)
            if kind == "state":  # h[t-1] in the equations; the equation 'h = …' gives h_t
                scope.declare_state(name, node)
                self.declared_states[name] = scope.defined[name]

    def _function(self, line, target, column, start):
        name = target.func.id
        if len(target.args) != 1 or not isinstance(target.args[0], ast.Name) or target.keywords:
            raise line.error(column, f"a function has one argument, like {name}(u) = formula")
        self.scope.claim(name, column, "function", line)
        self.scope.check_length(target.args[0].id, target.args[0], line)
        formula = Formula(name, sp.Symbol(target.args[0].id))
        body = Walker(self.scope, line, formula).value(line.parse(start))
        with line.blame(column):
            f = elementwise(name, lambda u: body.xreplace({formula.symbol: u}))
        self.scope.calls[name] = Call(f"{name}(z)", f)
        self.scope.record(name, column, "a function", line)

    def _equation(self, line, targets, start, many):
        """name = expression, or a, b, … = a call that gives as many nodes (`many`)."""
        names = [name for name, _ in targets]
        for k, (name, column) in enumerate(targets):
            if name == "loss" and len(targets) > 1:
                raise line.error(column, "the loss is named on a line of its own: loss = …")
            if name in names[:k]:
                raise line.error(column, f"'{name}' is named twice on the left")
            if name in self.scope.states and name not in self.graph.by_name:
                self.scope.defined.pop(name)  # the state's next value: this equation gives h_t
            if name != "loss":
                self.scope.claim(name, column, "node", line)
        rhs = line.parse(start)
        value = Walker(self.scope, line).value(rhs, many=many)
        values = value if isinstance(value, list) else [value]
        if len(values) != len(targets):
            gives = f"{len(values)} nodes" if isinstance(value, list) else "one node"
            raise line.error(rhs, f"the right side gives {gives}, but the left side names "
                                  f"{len(targets)}")
        if not isinstance(values[0], Node):
            raise line.error(rhs, "the right side is a number, not a node")
        if names == ["loss"]:
            with line.blame(line.column(rhs)):
                self.graph.loss(values[0])
            self.loss_line = line.number
            return
        for (name, column), node in zip(targets, values):
            self._name_node(line, name, column, node, rhs)
        self.first_equation = self.first_equation or line.number

    def _name_node(self, line, name, column, node, rhs):
        if node.name is not None:
            named = self.scope.aliases.get(node.name, node.name)  # h_prev is h[t-1]
            raise line.error(rhs, f"'{name} = {named}' would give '{named}' a second name; "
                                  f"use '{named}' itself, or identity({named})")
        state = self.scope.states.get(name)
        if state is not None and node.shape != state.shape:
            raise line.error(column, f"'{name}' is {_shape(node)} here, but state '{name}' is "
                                     f"declared {_shape(state)} on line "
                                     f"{self.declared_states[name].number}")
        with line.blame(column):
            node.named(name)
        self.scope.record(name, column, "a node", line)

    # --- what the whole file must satisfy ------------------------------------------------

    def _check_states(self):
        for name, where in self.declared_states.items():
            if name not in self.graph.by_name:
                raise self._error_at(where, f"state '{name}' has no next value: give it with "
                                            f"an equation '{name} = …'")

    def _check_there_is_a_sequence(self):
        """A state steps through a sequence; with none, the steps would have no count."""
        states = list(self.declared_states.items())
        if states and not any(d.what == "a sequence" for d in self.scope.defined.values()):
            name, where = states[0]
            raise self._error_at(where, f"state '{name}' steps through a sequence, but none "
                                        "is declared: declare the data that changes at each "
                                        "step as sequence x[rows, columns]")

    def _check_time_is_free(self):
        """A recurrent model counts its steps T, indexes them t and writes x at step 1 as x_1:
        no name of its own may read as those (`validation.steps_clash`)."""
        if not self.declared_states:
            return
        defined = self.scope.defined
        stepped = {name for name, where in defined.items()
                   if where.what in ("a sequence", "a state", "a node")}
        for name, where in defined.items():
            clash = steps_clash(name, stepped, where.what == "a dimension")
            if clash:
                raise self._error_at(where, f"{name!r} is {where.what} here, but in a model "
                                            f"with states {clash}: rename it")

    def _check_everything_reaches_the_loss(self):
        """Every input, parameter, state and node the file names must lead to the loss."""
        reach = self.graph.reaching_loss(self.graph.dag())
        named = [(where, _NOUNS[where.what], name, self.graph.by_name[name])
                 for name, where in self.scope.defined.items() if where.what in _NOUNS]
        named += [(where, "state", name, self.scope.states[name])
                  for name, where in self.declared_states.items()]
        for where, noun, name, node in sorted(named, key=lambda n: (n[0].number, n[0].column)):
            if node not in reach:
                hint = f": nothing on the way to it reads {name}[t-1]" * (noun == "state")
                raise self._error_at(where, f"{noun} '{name}' does not affect the loss{hint}")

    def _error_at(self, where, message):
        return self.lines[where.number - 1].error(where.column, message)


def _shape(node):
    return shape_text(node.shape)
