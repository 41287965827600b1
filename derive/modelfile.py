"""Model files (`.bp`): a network written as its forward equations, compiled to a Graph.

    input x[D, N], label[K, N]          # shapes: inputs and parameters come first
    param W1[H, D], b1[H, 1], W2[K, H]  # (a recurrent net: sequence x[D, N] and state h[H, N],
                                        #  then h[t-1] in the equations and 'h = …' for h_t)
    phi(u) = u**3 / 3                   # a user function: a scalar formula in its argument
    z1  = W1 @ x + b1                   # each equation makes a node and names it
    h   = sigmoid(z1)
    out = sigmoid(W2 @ h)
    loss = squared_error(out, label)    # the scalar loss comes last

A model file is data, never code: each expression is parsed by Python's `ast` and walked by a
whitelist (names, numbers, + - * / @, unary minus, calls of known functions) that builds the
nodes through the Python API, so a file gives exactly the graph the API would. Every mistake is
a `ModelFileError` that points at its line and column.
"""

import ast
import difflib
import math
import operator
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import networkx as nx
import sympy as sp

from .errors import DeriveError
from .functions import BUILTINS, elementwise, scaled_tanh, sigmoid_f, softplus_f
from .graph import Graph, Node
from .losses import REDUCTIONS, softmax_cross_entropy, squared_error
from .naming import check_identifier, dimension


class ModelFileError(DeriveError):
    """A mistake in a model file: `file:line:col: message`, then the line and a caret."""

    def __init__(self, filename, number, column, message, line):
        super().__init__(message)
        self.filename, self.number, self.column = filename, number, column
        self.message, self.line = message, line

    def __str__(self):
        # Tabs are kept so the caret lines up however the terminal expands them.
        indent = "".join(c if c == "\t" else " " for c in self.line[:self.column - 1])
        return (f"{self.filename}:{self.number}:{self.column}: {self.message}\n"
                f"    {self.line}\n    {indent}^")


@dataclass(frozen=True)
class _Signature:
    """How a function of the Python API is called from a model file."""

    usage: str               # shown when it is called wrongly
    build: Callable
    nodes: int = 1           # leading arguments that are nodes,
    numbers: int = 0         # then arguments that are numbers
    reduce: bool = False     # whether it takes reduce="sum" | "mean"


_CALLS = {
    **{name: _Signature(f"{name}(z)", f) for name, f in BUILTINS.items()},
    "scaled_tanh": _Signature("scaled_tanh(z, a, b)", scaled_tanh, numbers=2),
    "squared_error": _Signature('squared_error(out, label[, reduce="mean"])', squared_error,
                                nodes=2, reduce=True),
    "softmax_cross_entropy": _Signature('softmax_cross_entropy(z, t[, reduce="mean"])',
                                        softmax_cross_entropy, nodes=2, reduce=True),
}
# What the formula of a user function may call: scalar functions of one argument.
_FORMULA_CALLS = {"exp": sp.exp, "log": sp.log, "sin": sp.sin, "cos": sp.cos, "tanh": sp.tanh,
                  "sqrt": sp.sqrt, "sigmoid": sigmoid_f, "softplus": softplus_f}
# ast operator -> (value op value, and number op node through the node's reflected method).
_OPERATORS = {ast.Add: (operator.add, Node.__radd__), ast.Sub: (operator.sub, Node.__rsub__),
              ast.Mult: (operator.mul, Node.__rmul__), ast.Div: (operator.truediv, None),
              ast.MatMult: (operator.matmul, None), ast.Pow: (operator.pow, None)}
_REFUSED = {ast.Lambda: "lambda", ast.Subscript: "subscripting", ast.Compare: "a comparison",
            ast.BoolOp: "and/or", ast.IfExp: "if/else", ast.NamedExpr: "':='",
            ast.Starred: "'*' unpacking", ast.JoinedStr: "an f-string", ast.Tuple: "a tuple",
            ast.List: "a list", ast.Set: "a set", ast.Dict: "a dict",
            ast.ListComp: "a comprehension", ast.SetComp: "a comprehension",
            ast.DictComp: "a comprehension", ast.GeneratorExp: "a comprehension",
            ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield"}
_DECLARATION = re.compile(r"(input|param|sequence|state)\s+(?=[^\s=])")
_LINE_FORMS = ("expected 'name = expression', an 'input', 'param', 'sequence' or 'state' "
               "declaration, or a function 'phi(u) = formula'")
_KINDS = {"input": "an input", "param": "a parameter", "sequence": "a sequence",
          "state": "a state"}


@dataclass(frozen=True)
class _Definition:
    what: str        # "a node", "a dimension", …: how messages speak of it
    number: int      # its line
    column: int


def load(path):
    """The Graph of the model file at `path`, named after the file (mlp.bp gives 'mlp')."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise DeriveError(f"cannot read model file '{path}': {exc.strerror}") from None
    return loads(text, str(path), graph_name(path.stem))


def loads(text, filename="<model>", name="model"):
    """The Graph of a model file's text; `filename` is what error messages call it."""
    return _Compiler(filename, text.splitlines(), name).run()


def graph_name(stem):
    """A valid graph name from a file name: other characters become _, clashes get a prefix."""
    name = re.sub(r"\W", "_", stem, flags=re.ASCII)
    try:
        return check_identifier(name, "graph")
    except DeriveError:
        return f"model_{name}"


class _Compiler:
    """Reads a model file line by line into a Graph; `self.line` is the line being read."""

    def __init__(self, filename, lines, name):
        self.filename, self.lines = filename, [line.rstrip() for line in lines] or [""]
        self.codes = [line.split("#", 1)[0].rstrip() for line in self.lines]  # no comments
        self.graph = Graph(name)
        self.calls = dict(_CALLS)
        self.defined = {}                    # every name the file gives -> _Definition
        self.first_equation = self.loss_line = None
        self.states = {}                     # h -> its node h_prev, read as h[t-1]
        self._go_to(1)

    def run(self):
        for number, code in enumerate(self.codes, 1):
            if code.strip():
                self._go_to(number)
                indent = len(code) - len(code.lstrip())
                try:
                    self._statement(code, indent)
                except RecursionError:
                    raise self._error(indent + 1, "this line nests too deeply; split it into "
                                                  "several equations") from None
        if self.loss_line is None:  # reported after the last line with code
            self._go_to(max((n for n, c in enumerate(self.codes, 1) if c.strip()), default=1))
            raise self._error(len(self.codes[self.number - 1]) + 1, "the model has no loss; "
                              "end it with a line like 'loss = squared_error(out, label)'")
        self._check_parameters_reach_loss()
        return self.graph

    def _go_to(self, number):
        self.number, self.line = number, self.lines[number - 1]

    def _statement(self, code, indent):
        if self.loss_line is not None:
            raise self._error(indent + 1, f"the loss (line {self.loss_line}) must be the last "
                                          "line of the model")
        declaration = _DECLARATION.match(code, indent)
        if declaration:
            return self._declare(declaration.group(1), code, indent, declaration.end())
        lhs, equals, _ = code.partition("=")
        if not equals:
            raise self._error(indent + 1, _LINE_FORMS)
        if re.fullmatch(r"\w+", lhs.strip()):
            return self._equation(lhs.strip(), indent + 1, code, len(lhs) + 1)
        try:
            target = ast.parse(lhs.strip(), mode="eval").body
        except SyntaxError:
            raise self._error(indent + 1, _LINE_FORMS) from None
        if isinstance(target, ast.Subscript):
            raise self._error(indent + 1, "the left side names the node of step t, like "
                                          "h = …; h[t-1] is only read")
        if not (isinstance(target, ast.Call) and isinstance(target.func, ast.Name)):
            raise self._error(indent + 1, _LINE_FORMS)
        self._function(target, indent + 1, code, len(lhs) + 1)

    # --- the three kinds of line --------------------------------------------------------

    def _declare(self, kind, code, indent, start):
        if self.first_equation is not None:
            raise self._error(indent + 1, f"declare {kind}s before the equations (the first "
                                          f"equation is on line {self.first_equation})")
        tree = self._parse(code, start)
        for entry in tree.elts if isinstance(tree, ast.Tuple) else [tree]:
            if not (isinstance(entry, ast.Subscript) and isinstance(entry.value, ast.Name)):
                raise self._error(entry, f"expected a name with its shape, like {kind} x[D, N]")
            name, dims = entry.value.id, entry.slice
            dims = dims.elts if isinstance(dims, ast.Tuple) else [dims]
            if len(dims) != 2:
                raise self._error(entry.slice, f"the shape of '{name}' needs two dimensions, "
                                               f"{name}[rows, columns], not {len(dims)}")
            self._claim(name, entry, "node")
            self._record(name, entry, _KINDS[kind])
            shape = [self._dimension(d) for d in dims]
            with self._blame(entry):
                node = getattr(self.graph, kind)(name, shape)
            if kind == "state":  # h[t-1] in the equations; the equation 'h = …' gives h_t
                self.states[name] = node

    def _function(self, target, column, code, start):
        name = target.func.id
        if len(target.args) != 1 or not isinstance(target.args[0], ast.Name) or target.keywords:
            raise self._error(column, f"a function has one argument, like {name}(u) = formula")
        self._claim(name, column, "function")
        argument = sp.Symbol(target.args[0].id)
        formula = self._value(self._parse(code, start), argument)
        with self._blame(column):
            f = elementwise(name, lambda u: formula.xreplace({argument: u}))
        self.calls[name] = _Signature(f"{name}(z)", f)
        self._record(name, column, "a function")

    def _equation(self, name, column, code, start):
        if name in self.states and name not in self.graph.by_name:
            self.defined.pop(name)  # the state's next value: this equation defines h_t
        if name != "loss":
            self._claim(name, column, "node")
        rhs = self._parse(code, start)
        value = self._value(rhs)
        if not isinstance(value, Node):
            raise self._error(self._column(rhs), "the right side is a number, not a node")
        if name == "loss":
            with self._blame(self._column(rhs)):
                self.graph.loss(value)
            self.loss_line = self.number
            return
        if value.name is not None:
            raise self._error(rhs, f"'{name} = {value.name}' would give '{value.name}' a second "
                                   f"name; use '{value.name}' itself, or identity({value.name})")
        with self._blame(column):
            value.named(name)
        self._record(name, column, "a node")
        self.first_equation = self.first_equation or self.number

    def _dimension(self, node):
        if isinstance(node, ast.Constant) and type(node.value) is int:
            with self._blame(node):
                dimension(node.value)
            return node.value
        if not isinstance(node, ast.Name):
            raise self._error(self._column(node), f"dimension '{self._source(node)}' must be "
                                                  "a name or a positive integer")
        self._claim(node.id, node, "dimension")
        self._record(node.id, node, "a dimension")
        return node.id

    # --- expressions --------------------------------------------------------------------

    def _value(self, node, argument=None):
        """The node or number an expression means; `argument` is the symbol u of a formula."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            raise self._error(node, 'text is only allowed as reduce="sum" or reduce="mean"')
        if isinstance(node, ast.Constant):
            if type(node.value) not in (int, float) or not math.isfinite(node.value):
                raise self._error(node, f"'{self._source(node)}' is not a finite real number")
            return sp.Integer(node.value) if type(node.value) is int else sp.Float(node.value)
        if isinstance(node, ast.Name):
            return self._name(node, argument)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = self._value(node.operand, argument)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp):
            return self._binary(node, self._value(node.left, argument),
                                self._value(node.right, argument), argument)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            return self._call(node, argument)
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) \
                and argument is None:
            return self._previous(node)
        raise self._refuse(node)

    def _previous(self, node):
        """h[t-1]: the value a declared state had at the step before."""
        name = node.value.id
        if self._source(node.slice).replace(" ", "") != "t-1":
            raise self._error(node, "a state is read one step back, as h[t-1]")
        if name not in self.states:
            raise self._error(node, f"'{name}[t-1]': declare '{name}' first, as "
                                    f"state {name}[rows, columns]")
        return self.states[name]

    def _name(self, node, argument):
        if argument is not None:
            if node.id == argument.name:
                return argument
            raise self._error(node, f"unknown name '{node.id}'; the formula's argument is "
                                    f"'{argument.name}'")
        if node.id in self.graph.by_name:
            return self.graph.by_name[node.id]
        if node.id in self.calls:
            raise self._error(node, f"'{node.id}' is a function; call it as "
                                    f"{self.calls[node.id].usage}")
        if node.id in self.defined:
            raise self._error(node, f"'{node.id}' is {self.defined[node.id].what}, not a node")
        raise self._error(node, _unknown("name", node.id, self.graph.by_name))

    def _binary(self, node, left, right, argument):
        op, symbol = type(node.op), self._operator(node)[1]
        is_node = isinstance(left, Node), isinstance(right, Node)
        if op not in _OPERATORS:
            raise self._error(node, f"operator '{symbol}' is not allowed in a model file")
        if op is ast.Pow and argument is None:
            raise self._error(node, "'**' is only allowed in a function's formula, like "
                                    "phi(u) = u**2")
        if op is ast.Pow and left.is_Number and right.is_Number and abs(right) > 100:
            raise self._error(node, "a number's exponent may be at most 100")  # 9**9**9 hangs
        if op is ast.MatMult and not all(is_node):
            raise self._error(node, "'@' multiplies two nodes; scale by a number with '*'")
        if op is ast.Div and is_node[1]:
            raise self._error(node, "'/' divides by a number, not by a node")
        if op is ast.Div and right.is_zero:
            raise self._error(node, "division by zero")
        forward, reflected = _OPERATORS[op]
        with self._blame(node):
            return reflected(right, left) if is_node == (False, True) else forward(left, right)

    def _call(self, node, argument):
        name = node.func.id
        calls = self.calls if argument is None else _FORMULA_CALLS
        if argument is None and name in self.defined and name not in calls:
            raise self._error(node, f"'{name}' is {self.defined[name].what}, not a function")
        if name not in calls:
            known = "" if argument is None else f"a formula can call {', '.join(calls)}"
            raise self._error(node, _unknown("function", name, calls, known))
        if argument is not None:
            if len(node.args) != 1 or node.keywords:
                raise self._error(node, f"{name} takes 1 argument: {name}(u)")
            return calls[name](self._value(node.args[0], argument))
        signature = calls[name]
        count = signature.nodes + signature.numbers
        if len(node.args) != count:
            raise self._error(node, f"{name} takes {count} argument{'s' * (count > 1)}, got "
                                    f"{len(node.args)}: {signature.usage}")
        values = [self._value(a) for a in node.args]
        for k, (arg, value) in enumerate(zip(node.args, values)):
            if isinstance(value, Node) != (k < signature.nodes):
                kind = "a node" if k < signature.nodes else "a number"
                raise self._error(arg, f"argument {k + 1} of {signature.usage} must be {kind}")
        options = dict(self._keyword(k, name, signature) for k in node.keywords)
        with self._blame(node):
            return signature.build(*values, **options)

    def _keyword(self, keyword, name, signature):
        if keyword.arg is None:
            raise self._error(keyword, "'**' unpacking is not allowed in a model file")
        if keyword.arg != "reduce" or not signature.reduce:
            raise self._error(keyword, f"{name} has no keyword '{keyword.arg}': "
                                       f"{signature.usage}")
        value = keyword.value
        if not (isinstance(value, ast.Constant) and value.value in REDUCTIONS):
            raise self._error(value, 'reduce is "sum" or "mean"')
        return keyword.arg, value.value

    def _refuse(self, node):
        if isinstance(node, ast.Call) and type(node.func) in (*_REFUSED, ast.Attribute):
            node = node.func
        if isinstance(node, ast.Attribute):
            return self._error(node, f"attribute access ('.{node.attr}') is not allowed in a "
                                     "model file")
        what = _REFUSED.get(type(node), f"'{self._source(node)}'")
        return self._error(node, f"{what} is not allowed in a model file")

    # --- names ----------------------------------------------------------------------------

    def _claim(self, name, where, what):
        """Refuse `name` for a new node, function or dimension if it is bad or taken."""
        with self._blame(where):
            check_identifier(name, what)
        previous = self.defined.get(name)
        if previous and not (what == "dimension" and previous.what == "a dimension"):
            raise self._error(where, f"'{name}' is already the name of {previous.what} on line "
                                     f"{previous.number}")
        if name in self.calls:
            raise self._error(where, f"'{name}' is already the name of a built-in function")

    def _record(self, name, where, what):
        where = where if isinstance(where, int) else self._column(where)
        self.defined.setdefault(name, _Definition(what, self.number, where))

    def _check_parameters_reach_loss(self):
        reach = nx.ancestors(self.graph.dag(), self.graph.loss_node)
        for p in self.graph.params:
            if p not in reach:
                self._go_to(self.defined[p.name].number)
                raise self._error(self.defined[p.name].column,
                                  f"parameter '{p.name}' does not affect the loss")

    # --- positions and errors -------------------------------------------------------------

    def _parse(self, code, start):
        """The expression in code[start:], its positions counted from the start of the line."""
        text = code[start:].strip()
        if not text:
            raise self._error(len(code) + 1, "expected an expression")
        start = code.index(text, start)
        try:
            tree = ast.parse(text, mode="eval").body
        except SyntaxError as exc:
            message = re.sub(r" \(detected at line \d+\)", "", exc.msg)
            offset = exc.offset or len(text) + 1
            raise self._error(start + offset, f"syntax error: {message}") from None
        shift = len(self.line[:start].encode())  # ast counts UTF-8 bytes
        for node in ast.walk(tree):
            if hasattr(node, "col_offset"):
                node.col_offset += shift
                node.end_col_offset += shift
        return tree

    def _char(self, offset):
        return len(self.line.encode()[:offset].decode(errors="ignore"))

    def _column(self, node):
        return self._char(node.col_offset) + 1

    def _source(self, node):
        return self.line[self._char(node.col_offset):self._char(node.end_col_offset)]

    def _operator(self, node):
        """Column and text of a binary operator: what lies between its operands."""
        left, right = self._char(node.left.end_col_offset), self._char(node.right.col_offset)
        gap = self.line[left:right]
        return left + len(gap) - len(gap.lstrip(" \t)")) + 1, gap.strip(" \t()")

    def _error(self, where, message):
        """A ModelFileError at a column of the current line, or at an ast node in it."""
        if isinstance(where, ast.BinOp):
            where = self._operator(where)[0]
        elif isinstance(where, ast.Attribute):
            where = self.line.rindex(".", 0, self._char(where.end_col_offset)) + 1
        elif not isinstance(where, int):
            where = self._column(where)
        return ModelFileError(self.filename, self.number, where, message, self.line)

    @contextmanager
    def _blame(self, where):
        """Report the graph API's errors (shapes, names, values) at `where`."""
        try:
            yield
        except ModelFileError:
            raise
        except (DeriveError, ValueError, TypeError, ZeroDivisionError) as exc:
            raise self._error(where, str(exc)) from None


def _unknown(what, name, known, otherwise=""):
    """'unknown name …', with the closest known name, else the hint `otherwise`."""
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f"did you mean '{close[0]}'?" if close else otherwise
    return f"unknown {what} '{name}'" + (f"; {hint}" if hint else "")
