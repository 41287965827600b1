"""Expressions of a model file: an `ast` walked by a whitelist into nodes, numbers and shapes.

Nothing is evaluated as Python: names are looked up among what the file declared, numbers are
sympy numbers, operators and calls build nodes through the Python API (the registry says how
each operation and function is called), row slices and shapes are whole combinations of
dimension symbols (`derive.naming.dimension`), and `h[t-1]` is a declared state recognised by
its form.
"""

import ast
import difflib
import math
import operator
import re
from dataclasses import dataclass, field
from typing import Callable

import sympy as sp

from . import operations
from .functions import FORMULA
from .graph import Graph, Node
from .modelfile_source import shorten
from .naming import check_identifier, dimension
from .registry import Signature

LONGEST_NAME = 100     # characters; a longer name is refused, never quoted whole
LARGEST_SIZE = 10**9   # the largest whole number in a dimension (rows, columns, slice bounds)


@dataclass(frozen=True)
class Call:
    """A function a model file can call: `usage` shows how when it is called wrongly, `build`
    makes its node (or a list of nodes the line names one by one: a, b = split(z, 2)), and
    `form` is its argument form, the registry's Signature: `nodes` leading node arguments (None:
    two or more), one number per name in `numbers`, then keyword `options` with their allowed
    values (the first is the default)."""

    usage: str
    build: Callable
    form: Signature = Signature()


def registered_calls():
    """What a model file can call: every operation and function the registry calls by name,
    read when a file is compiled, so one registered later is callable too."""
    return {name: Call(entry.signature.usage(name), entry, entry.signature)
            for name, entry in operations.CALLABLE.items()}


# What the formula of a user function may call: scalar functions of one argument.
FORMULA_CALLS = {"exp": sp.exp, "log": sp.log, "sin": sp.sin, "cos": sp.cos, "tanh": sp.tanh,
                 "sqrt": sp.sqrt, **FORMULA}
# ast operator -> (value op value, and number op node through the node's reflected method).
_OPERATORS = {ast.Add: (operator.add, Node.__radd__), ast.Sub: (operator.sub, Node.__rsub__),
              ast.Mult: (operator.mul, Node.__rmul__),
              ast.Div: (operator.truediv, Node.__rtruediv__),
              ast.MatMult: (operator.matmul, None), ast.Pow: (operator.pow, Node.__rpow__)}
_DIMENSION_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul}
_REFUSED = {ast.Lambda: "lambda", ast.Subscript: "subscripting", ast.Compare: "a comparison",
            ast.BoolOp: "and/or", ast.IfExp: "if/else", ast.NamedExpr: "':='",
            ast.Starred: "'*' unpacking", ast.JoinedStr: "an f-string", ast.Tuple: "a tuple",
            ast.List: "a list", ast.Set: "a set", ast.Dict: "a dict",
            ast.ListComp: "a comprehension", ast.SetComp: "a comprehension",
            ast.DictComp: "a comprehension", ast.GeneratorExp: "a comprehension",
            ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield"}
_DIMENSION_FORMS = "a whole number, a dimension name, or + - * of them, like 4*H or D + H"
_TOO_LARGE = "number too large: a model file's numbers fit a float64 (at most about 1.8e308)"
_TOO_SMALL = ("number too small: it rounds to 0 in a float64 (whose smallest is about 5e-324); "
              "write 0 if 0 is meant")


@dataclass(frozen=True)
class Definition:
    """Where a name was given, and how messages speak of it."""

    what: str        # "a node", "a dimension", …
    number: int      # its line
    column: int


@dataclass
class Scope:
    """Every name a model file has given so far."""

    graph: Graph
    calls: dict = field(default_factory=registered_calls)  # and the file's own functions
    defined: dict = field(default_factory=dict)  # name -> Definition
    states: dict = field(default_factory=dict)   # h -> its node h_prev, read as h[t-1]
    aliases: dict = field(default_factory=dict)  # h_prev, h0 -> what derive names so

    def declare_state(self, name, node):
        self.states[name] = node
        self.aliases[node.name] = f"{name}[t-1]"
        self.aliases[node.attrs["initial"]] = f"the initial value of state {name}"

    def check_length(self, name, where, line):
        if len(name) > LONGEST_NAME:
            raise line.error(where, f"name '{shorten(name, 20)}' is {len(name)} characters "
                                    f"long; names have at most {LONGEST_NAME}")

    def claim(self, name, where, what, line):
        """Refuse `name` for a new node, function or dimension if it is bad or taken."""
        self.check_length(name, where, line)
        with line.blame(where):
            check_identifier(name, what)
        previous = self.defined.get(name)
        if previous and not (what == "dimension" and previous.what == "a dimension"):
            raise line.error(where, f"'{name}' is already the name of {previous.what} on line "
                                    f"{previous.number}")
        if name in self.calls:
            raise line.error(where, f"'{name}' is already the name of a built-in function")
        if name in self.aliases:
            raise line.error(where, f"'{name}' is the name derive gives to {self.aliases[name]}")

    def record(self, name, where, what, line):
        where = where if isinstance(where, int) else line.column(where)
        self.defined.setdefault(name, Definition(what, line.number, where))


@dataclass(frozen=True)
class Formula:
    """The formula of a user function `name`, a scalar expression of its argument `symbol`."""

    name: str
    symbol: sp.Symbol


class Walker:
    """Walks the expressions of one line in `scope`; in a user function's `formula`, values are
    sympy expressions of its argument instead of nodes."""

    def __init__(self, scope, line, formula=None):
        self.scope, self.line, self.formula = scope, line, formula

    def value(self, node, many=False):
        """The node or number an expression means; a list of nodes only if `many`."""
        if isinstance(node, ast.Constant):
            return self._constant(node)
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = self.value(node.operand)
            return self._checked(-value if isinstance(node.op, ast.USub) else value, node)
        if isinstance(node, ast.BinOp):
            return self._binary(node, self.value(node.left), self.value(node.right))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            value = self._call(node)
            if isinstance(value, list) and not many:
                raise self.line.error(node, f"{node.func.id} gives {len(value)} node"
                                            f"{'s' * (len(value) != 1)}; name them on the left, "
                                            f"one name each: a, b, … = {node.func.id}(…)")
            return value
        if isinstance(node, ast.Subscript) and self.formula is None:
            return self._subscript(node)
        if isinstance(node, ast.Attribute) and node.attr == "T" and self.formula is None:
            value = self.value(node.value)
            if not isinstance(value, Node):
                raise self.line.error(node, "'.T' transposes a node, not a number")
            return value.T
        raise self._refuse(node)

    # --- names and numbers ------------------------------------------------------------------

    def _constant(self, node):
        if isinstance(node.value, str):
            options = " or ".join(f'{key}="{value}"' for key, value in self._text_options())
            raise self.line.error(node, f"text is only allowed as {options}")
        if type(node.value) not in (int, float):
            raise self.line.error(node, f"'{self.line.source(node, 30)}' is not a finite real "
                                        "number")
        if node.value == 0 and re.search(r"[1-9]", re.split("[eE]", self.line.source(node))[0]):
            raise self.line.error(node, _TOO_SMALL)  # 1e-400: Python reads 0.0
        return self._checked(sp.Integer(node.value) if type(node.value) is int
                             else sp.Float(node.value), node)

    def _text_options(self):
        """(keyword, value) for every text a call accepts, like ("reduce", "mean")."""
        pairs = [(key, value) for call in self.scope.calls.values()
                 for key, values in call.form.options.items() for value in values
                 if isinstance(value, str)]
        return list(dict.fromkeys(pairs))

    def _checked(self, value, where):
        """`value`, if it is a node, or a real number or formula whose numbers float64 holds."""
        if isinstance(value, Node):
            return value
        subject = "this" if self.formula is None else f"the formula of {self.formula.name}"
        if value.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
            raise self.line.error(where, f"{subject} is infinite or undefined (division by "
                                         "zero?)")
        complex_ = f"{subject} is complex (the log or square root of a negative number?)"
        for part in _numeric_parts(value):
            try:
                number = complex(part)
            except (TypeError, ValueError):
                continue
            except OverflowError:
                raise self.line.error(where, _TOO_LARGE) from None
            if number.imag:
                raise self.line.error(where, complex_)
            if not math.isfinite(number.real):
                raise self.line.error(where, _TOO_LARGE)
        if value.has(sp.I):
            raise self.line.error(where, complex_)
        return value

    def _name(self, node):
        self.scope.check_length(node.id, node, self.line)
        if self.formula is not None:
            if node.id == self.formula.symbol.name:
                return self.formula.symbol
            raise self.line.error(node, f"unknown name '{node.id}'; the formula's argument is "
                                        f"'{self.formula.symbol.name}'")
        scope = self.scope
        if node.id in scope.aliases:
            raise self.line.error(node, f"'{node.id}' is the name derive gives to "
                                        f"{scope.aliases[node.id]}; a model file reads a state "
                                        "as h[t-1]")
        if node.id in scope.graph.by_name:
            return scope.graph.by_name[node.id]
        if node.id in scope.states:
            raise self.line.error(node, f"state '{node.id}' has no value at step t before its "
                                        f"equation '{node.id} = …'; the step before is "
                                        f"{node.id}[t-1]")
        if node.id in scope.calls:
            raise self.line.error(node, f"'{node.id}' is a function; call it as "
                                        f"{scope.calls[node.id].usage}")
        if node.id in scope.defined:
            if scope.defined[node.id].what == "a dimension":  # a number: S / sqrt(d_k)
                return dimension(node.id)
            raise self.line.error(node, f"'{node.id}' is {scope.defined[node.id].what}, not a "
                                        "node")
        raise self.line.error(node, unknown("name", node.id, scope.graph.by_name))

    # --- operators and calls ----------------------------------------------------------------

    def _binary(self, node, left, right):
        op, symbol = type(node.op), self.line.operator(node)[1]
        is_node = isinstance(left, Node), isinstance(right, Node)
        if op not in _OPERATORS:
            raise self.line.error(node, f"operator '{symbol}' is not allowed in a model file")
        if op is ast.Pow and not any(is_node) and left.is_Number and right.is_Number \
                and abs(right) > 100:
            raise self.line.error(node, "a number's exponent may be at most 100")  # 9**9**9
        if op is ast.MatMult and not all(is_node):
            raise self.line.error(node, "'@' multiplies two nodes; scale by a number with '*'")
        if op is ast.Div and not is_node[1] and right.is_zero:
            raise self.line.error(node, "division by zero")
        forward, reflected = _OPERATORS[op]
        with self.line.blame(node):
            value = reflected(right, left) if is_node == (False, True) else forward(left, right)
        return self._checked(value, node)

    def _call(self, node):
        name = node.func.id
        self.scope.check_length(name, node.func, self.line)
        if self.formula is not None:
            return self._formula_call(node, name)
        calls = self.scope.calls
        if name in self.scope.defined and name not in calls:
            raise self.line.error(node, f"'{name}' is {self.scope.defined[name].what}, not a "
                                        "function")
        if name not in calls:
            raise self.line.error(node, unknown("function", name, calls))
        call = calls[name]
        starred = next((a for a in node.args if isinstance(a, ast.Starred)), None)
        if starred is not None:
            raise self._refuse(starred)
        count, numbers = call.form.nodes, len(call.form.numbers)
        if count is None:  # two or more nodes, then the numbers
            count = len(node.args) - numbers
            if count < 2:
                raise self.line.error(node, f"{name} takes two or more nodes: {call.usage}")
        total, fewest = count + numbers, count + numbers - len(call.form.defaults)
        if not fewest <= len(node.args) <= total:
            counted = f"{fewest} to {total}" if fewest < total else total
            raise self.line.error(node, f"{name} takes {counted} argument{'s' * (total > 1)}, "
                                        f"got {len(node.args)}: {call.usage}")
        values = [self.value(a) for a in node.args]
        if name in FORMULA_CALLS and len(values) == 1 and not isinstance(values[0], Node) \
                and not node.keywords:  # a function of a number is a number: sqrt(d_k)
            return self._checked(FORMULA_CALLS[name](values[0]), node)
        for k, (arg, value) in enumerate(zip(node.args, values)):
            if isinstance(value, Node) != (k < count) and not (k < count and call.form.constants):
                kind = "a node" if k < count else "a number"
                raise self.line.error(arg, f"argument {k + 1} of {call.usage} must be {kind}")
        options = self._options(node, name, call, values[count:])
        as_given = [v if isinstance(v, Node) else _python_number(v) for v in values]
        with self.line.blame(node):
            return call.build(*as_given, **options)

    def _formula_call(self, node, name):
        if name not in FORMULA_CALLS:
            raise self.line.error(node, unknown("function", name, FORMULA_CALLS,
                                                f"a formula can call {', '.join(FORMULA_CALLS)}"))
        if len(node.args) != 1 or node.keywords:
            raise self.line.error(node, f"{name} takes 1 argument: {name}(u)")
        value = self.value(node.args[0])
        with self.line.blame(node):
            return self._checked(FORMULA_CALLS[name](value), node)

    def _options(self, node, name, call, numbers):
        """The keyword arguments of a call, each given once: options with an allowed value,
        numbers left out of the positional ones (layer_norm(z, eps=1e-3))."""
        options = {}
        for keyword in node.keywords:
            if keyword.arg is None:
                raise self.line.error(keyword, "'**' unpacking is not allowed in a model file")
            if keyword.arg in options:
                raise self.line.error(keyword, f"{name} is given {keyword.arg} twice")
            if keyword.arg in call.form.sizes:  # image=(1, 8, 8), kernel=3
                options[keyword.arg] = self._sizes(keyword.value, keyword.arg)
                continue
            if keyword.arg in call.form.node_options:  # bias=b1, or bias=None
                none = isinstance(keyword.value, ast.Constant) and keyword.value.value is None
                options[keyword.arg] = None if none else self.value(keyword.value)
                if not (none or isinstance(options[keyword.arg], Node)):
                    raise self.line.error(keyword.value, f"{keyword.arg} must be a node")
                continue
            if keyword.arg in call.form.numbers[:len(numbers)]:
                raise self.line.error(keyword, f"{name} is given {keyword.arg} twice")
            if keyword.arg in call.form.numbers[len(numbers):]:
                value = self.value(keyword.value)
                if isinstance(value, Node):
                    raise self.line.error(keyword.value, f"{keyword.arg} must be a number")
                options[keyword.arg] = _python_number(value)
                continue
            if keyword.arg not in call.form.options:
                raise self.line.error(keyword, f"{name} has no keyword '{keyword.arg}': "
                                               f"{call.usage}")
            allowed, value = call.form.options[keyword.arg], keyword.value
            if not (isinstance(value, ast.Constant) and
                    any(type(value.value) is type(a) and value.value == a for a in allowed)):
                spelled = " or ".join(f'"{a}"' if isinstance(a, str) else repr(a)
                                      for a in allowed)
                raise self.line.error(value, f"{keyword.arg} is {spelled}")
            options[keyword.arg] = value.value
        return options

    def _sizes(self, node, what):
        """A size or a tuple of sizes, each a whole number ≥ 0 or a dimension: (C, 8, 8)."""
        items = node.elts if isinstance(node, ast.Tuple) else [node]
        for item in items:
            if self._size(item, False).is_nonnegative is not True:  # padding=-1, 1 - H
                raise self.line.error(item, f"{what} must be 0 or more at every size of its "
                                            f"dimensions, got {self.line.source(item, 30)}")
        sizes = tuple(self.dimension(item, bound=True) for item in items)
        sizes = tuple(int(v) if isinstance(v, (int, sp.Integer)) else v for v in sizes)
        return sizes if isinstance(node, ast.Tuple) else sizes[0]

    def _refuse(self, node):
        if isinstance(node, ast.Call) and type(node.func) in (*_REFUSED, ast.Attribute):
            node = node.func
        if isinstance(node, ast.Attribute):
            return self.line.error(node, f"attribute access ('.{shorten(node.attr)}') is not "
                                         "allowed in a model file")
        what = _REFUSED.get(type(node), f"'{self.line.source(node, 30)}'")
        where = "a function's formula" if self.formula is not None and \
            isinstance(node, ast.Subscript) else "a model file"
        return self.line.error(node, f"{what} is not allowed in {where}")

    # --- subscripts: rows of a node, and a state one step back -------------------------------

    def _subscript(self, node):
        index = node.slice
        if isinstance(index, ast.Slice):
            return self._rows(node, index)
        if _is_one_step_back(index) and isinstance(node.value, ast.Name):
            return self._previous(node)
        if isinstance(node.value, ast.Name) and node.value.id in self.scope.states:
            raise self.line.error(node, "a state is read one step back, as "
                                        f"{node.value.id}[t-1]")
        raise self.line.error(node, "'[…]' takes a block of rows, like z[0:H], or reads a "
                                    "state one step back, like h[t-1]")

    def _rows(self, node, index):
        """z[start:stop]: a block of rows, its bounds whole combinations of dimensions."""
        if index.step is not None:
            raise self.line.error(index.step, "a block of rows has no step: z[start:stop]")
        target = self.value(node.value)
        if not isinstance(target, Node):
            raise self.line.error(node.value, "rows are taken of a node, like z[0:H]")
        start, stop = (None if b is None else self.dimension(b, bound=True)
                       for b in (index.lower, index.upper))
        with self.line.blame(node):
            return target[start:stop]

    def _previous(self, node):
        """h[t-1]: the value a declared state had at the step before."""
        name = node.value.id
        self.scope.check_length(name, node.value, self.line)
        if name in self.scope.states:
            return self.scope.states[name]
        if name in self.scope.defined:
            raise self.line.error(node, f"'{name}' is {self.scope.defined[name].what}, not a "
                                        f"state: only a declared state is read as {name}[t-1]")
        raise self.line.error(node, f"'{name}[t-1]': declare '{name}' first, as "
                                    f"state {name}[rows, columns]")

    # --- dimensions ---------------------------------------------------------------------------

    def dimension(self, node, declare=False, bound=False):
        """A size: whole numbers and dimension names joined by + - * (4*H, D + H). A
        declaration (`declare`) may name new dimensions; a row `bound` may be 0."""
        value, column = self._size(node, declare), self.line.column(node)
        if any(abs(n) > LARGEST_SIZE for n in value.atoms(sp.Integer)):
            raise self.line.error(column, f"dimension too large: its numbers are at most "
                                          f"{LARGEST_SIZE}")
        if value.is_Integer:
            value = int(value)
            if bound and value == 0:
                return 0
        with self.line.blame(column):
            return dimension(value, bound=bound)

    def _size(self, node, declare):
        if isinstance(node, ast.Constant) and type(node.value) is int:
            if node.value > LARGEST_SIZE:
                raise self.line.error(node, f"dimension too large: its numbers are at most "
                                            f"{LARGEST_SIZE}")
            return sp.Integer(node.value)
        if isinstance(node, ast.Name):
            return self._dimension_name(node, declare)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            size = self._size(node.operand, declare)
            return -size if isinstance(node.op, ast.USub) else size
        if isinstance(node, ast.BinOp) and type(node.op) in _DIMENSION_OPERATORS:
            return _DIMENSION_OPERATORS[type(node.op)](self._size(node.left, declare),
                                                       self._size(node.right, declare))
        raise self.line.error(node, f"dimension '{self.line.source(node, 30)}' must be "
                                    f"{_DIMENSION_FORMS}")

    def _dimension_name(self, node, declare):
        name, scope = node.id, self.scope
        if declare:
            scope.claim(name, node, "dimension", self.line)
            scope.record(name, node, "a dimension", self.line)
        else:
            scope.check_length(name, node, self.line)
            defined = scope.defined.get(name)
            if defined is None:
                dimensions = [n for n, d in scope.defined.items() if d.what == "a dimension"]
                raise self.line.error(node, unknown("dimension", name, dimensions))
            if defined.what != "a dimension":
                raise self.line.error(node, f"'{name}' is {defined.what}, not a dimension")
        with self.line.blame(node):
            return dimension(name)


def _python_number(value):
    """A number as the Python API is given it: 4 and 0.5 as int and float, 2/3 kept exact."""
    if value.is_Integer:
        return int(value)
    return float(value) if value.is_Float else value


def _numeric_parts(expr):
    """The largest parts of a sympy expression that are numbers (exp(1000) in u*exp(1000))."""
    if expr.is_number:
        yield expr
    else:
        for arg in expr.args:
            yield from _numeric_parts(arg)


def _is_one_step_back(index):
    """Whether a subscript is `t - 1`, the one form that reads a state."""
    return (isinstance(index, ast.BinOp) and isinstance(index.op, ast.Sub)
            and isinstance(index.left, ast.Name) and index.left.id == "t"
            and isinstance(index.right, ast.Constant) and type(index.right.value) is int
            and index.right.value == 1)


def unknown(what, name, known, otherwise=""):
    """'unknown name …', with the closest known name (the shortest it begins, max → maximum,
    else the most alike), else the hint `otherwise`."""
    close = sorted((k for k in known if k.startswith(name)), key=len)[:1] or \
        difflib.get_close_matches(name, list(known), n=1)
    hint = f"did you mean '{close[0]}'?" if close else otherwise
    return f"unknown {what} '{name}'" + (f"; {hint}" if hint else "")
