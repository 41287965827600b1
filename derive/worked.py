"""Worked examples: a derivation's equations with numbers, in computation order.

`worked(der, inputs, params, lr)` computes every forward value, every δ term and their sums,
every gradient and (with `lr`) every parameter after one step of gradient descent, by running
the numpy code the generated module runs, statement by statement, in that module's namespace
(its helpers, its names). No operation is coded twice: the numbers are the module's.

When every given number is exact (ints, fractions), the code runs on object arrays of sympy
Rationals, which numpy's +, *, @, .T and sums handle, so integers and fractions stay exact; the
first operation that cannot (exp, tanh, a square root, a float constant) sends the whole
example to float64. Either way the gradients are compared with the module's own `backward`
on the same numbers in float64 (of the module as the equations write it, where it pools
first: at a tie that only rounding makes, the two may send δ to different maxima):
`Worked.difference` is the largest difference, relative to the size of each gradient, and
`Worked.agrees` says whether it is roundoff.
"""

import functools
import operator
import types
from dataclasses import dataclass, field

import numpy as np
import sympy as sp
from sympy.printing.precedence import PRECEDENCE

from .codegen import called_helpers, compile_numpy, module_names
from .namer import user_functions
from .gradcheck import as_written, needed_dims
from .printers.notation import Notation
from .printers.numpy_code import NumpyCodePrinter
from .rendering import render
from .worked_display import text
from .worked_values import (DECIMALS, ValuesError, checked, random_values, read_values,
                            worked_sizes)

AGREEMENT = 1e-9     # largest difference from the module's backward that is roundoff
_FRACTION = "__fraction"  # a name no user name can take (names never start with __)


class ExactCodePrinter(NumpyCodePrinter):
    """The module's numpy code with its fractions exact: 1/2 is Rational(1, 2), not 0.5."""

    def _print_Rational(self, expr):
        return f"{_FRACTION}({expr.p}, {expr.q})"

    _print_Half = _print_Rational

    def _scalar(self, expr):
        if expr.is_Rational and not expr.is_Integer:
            return self._print_Rational(expr)
        return super()._scalar(expr)

    def _print_Pow(self, expr, rational=False):
        """u⁻ᵏ as 1/uᵏ: sympy's numpy spelling, u**(-k.0), makes a fraction a float."""
        if not expr.is_Matrix and expr.exp.is_Integer and expr.exp.is_negative:
            power = sp.Pow(expr.base, -expr.exp)
            return f"1/{self.parenthesize(power, PRECEDENCE['Mul'], strict=True)}"
        return super()._print_Pow(expr, rational)

    def _scaled(self, coeff, body):
        """c·body as c times body, c exact: the module's body / k would divide Python's ints
        into a float (found by a hunt: ½ Σ z² sent its example to floats)."""
        return Notation._scaled(self, coeff, body)


class Inexact(Exception):
    """An operation gave a number that is not a Rational: the example goes to float64."""


class Runner:
    """The generated code of single expressions, evaluated in the module's namespace, with
    each node's value bound to its identifier there."""

    def __init__(self, der, module, sizes, exact):
        self.der, self.names, self.exact = der, module_names(der), exact
        self.printer = (ExactCodePrinter if exact else NumpyCodePrinter)(self.names)
        self.scope = {**vars(module), "dtype": object if exact else np.float64,
                      _FRACTION: sp.Rational}
        for d in der.dims:
            size = sizes[str(d)]
            self.scope[self.names.dimension(str(d))] = sp.Integer(size) if exact else size
        self.code = {}
        if exact:  # the user's functions with their fractions exact: u³/3 is not u³ · 0.333…
            users = set(user_functions(der))
            self._exec([h for h in called_helpers(der, self.names, users, ExactCodePrinter)
                        if h.name in {self.names.function(f.name) for f in users}])
        self._exact_helpers()

    def __call__(self, expr):
        if expr not in self.code:
            self.code[expr] = compile(self.printer.doprint(expr), "<derive worked>", "eval")
            self._define(self.printer.helpers)
        result = eval(self.code[expr], self.scope)  # derive's own generated code only
        if not self.exact:
            return np.asarray(result, dtype=np.float64)
        return _rationals(np.asarray(result, dtype=object))

    def _define(self, called):
        """The helpers an equation calls that the module does without, as it computes that
        value in another form (softmax(z) as the exp of its log_softmax): defined here from
        the module's template."""
        missing = [h for h in called_helpers(self.der, self.names, called)
                   if h.name not in self.scope]
        if missing:
            self._exec(missing)
            self._exact_helpers()

    def _exec(self, helpers):
        """Define `helpers` in the scope: derive's own generated code only."""
        exec(compile(render("_helpers.py.j2", helpers=helpers), "<derive worked>", "exec"),
             self.scope)

    def _exact_helpers(self):
        """(exact) The module's functions, each giving back its comparisons' True and False
        as 1 and 0: a sympy number does not multiply by a bool (relu's slope step(z) is one),
        and the example would go to floats."""
        if self.exact:
            for name, value in self.scope.items():
                if isinstance(value, types.FunctionType) and not hasattr(value, "exact"):
                    self.scope[name] = _counted(value)

    def value(self, name, array):
        self.scope[self.names.value(name)] = array
        return array

    def delta(self, name, array):
        self.scope[self.names.delta(name)] = array
        return array


def _counted(function):
    """`function`, the True and False of its object arrays given back as sympy's 1 and 0."""
    @functools.wraps(function)
    def exact(*args, **kwargs):
        result = function(*args, **kwargs)
        if isinstance(result, np.ndarray) and result.dtype == object:
            out = np.empty(result.shape, dtype=object)
            out.flat[:] = [sp.Integer(int(x)) if isinstance(x, (bool, np.bool_)) else x
                           for x in result.flat]
            return out
        return result
    exact.exact = True
    return exact


def _rationals(array):
    """`array` with every entry a sympy Rational, or Inexact."""
    def exact(x):
        if isinstance(x, sp.Rational):
            return x
        if isinstance(x, int) or (type(x) is float and x == 0.0):  # a bool of a step, the
            return sp.Integer(int(x))  # 0.0 of relu's max(u, 0.0): as exact as the rest
        raise Inexact(x)

    out = np.empty(array.shape, dtype=object)
    out.flat[:] = [exact(x) for x in array.flat]
    return out


@dataclass
class Step:
    """The numbers of one time step (the only one of a feed-forward net)."""

    values: dict                                 # name -> forward value (inputs, params too)
    deltas: dict = field(default_factory=dict)   # name -> δ (a parameter's: this step's part)
    terms: dict = field(default_factory=dict)    # name -> the value of each of its terms
    compact: dict = field(default_factory=dict)  # name -> its δ by its compact form


def evaluate(der, module, given, sizes, exact):
    """{time: Step}, every forward value, δ and term: forward in order, then backward from the
    last step to the first, as the generated module computes them."""
    run = Runner(der, module, sizes, exact)
    times = list(range(1, sizes["T"] + 1)) if der.recurrent else [None]
    steps = {}
    for t in times:
        values = {**given.params, **{n: v for n, v in given.inputs.items()
                                     if n in der.shapes and n not in der.sequences}}
        values.update({x: given.inputs[x][t - 1] for x in der.sequences})
        for state, (carrier, initial) in der.states.items():
            values[state] = given.inputs[initial] if t == 1 else steps[t - 1].values[carrier]
        for name, value in values.items():
            run.value(name, value)
        for name, expr in der.forward.items():
            values[name] = run.value(name, run(expr))
        steps[t] = Step(values)
    run.delta(der.loss, np.ones((1, 1), dtype=object if exact else np.float64))
    for state in der.states:  # what step T+1 sends back: nothing
        run.delta(state, 0 * steps[times[-1]].values[state])
    for t in reversed(times):
        step = steps[t]
        for name, value in step.values.items():
            run.value(name, value)
        for name in [*(n for n in der.deltas if n != der.loss), *der.gradients]:
            step.terms[name] = [run(term.expr) for term in der.terms[name]]
            step.deltas[name] = run.delta(name, functools.reduce(operator.add,
                                                                 step.terms[name]))
            if name in der.compact:
                step.compact[name] = sum(map(run, der.compact[name].terms))
    return steps


@dataclass
class Worked:
    """A worked example: `str()` is the text, `to_latex()` the LaTeX (both in
    `worked_display`); `gradients`, `updated` and `loss` the results."""

    der: object = field(repr=False)
    sizes: dict
    steps: dict = field(repr=False)  # time (None for a feed-forward net) -> Step
    gradients: dict          # parameter (and initial state) -> its gradient
    loss: object
    lr: object = None
    updated: dict = None     # parameter -> after one step of gradient descent
    exact: bool = False
    digits: int = 4
    difference: float = 0.0  # largest difference from the module's backward, relative
    pooled_difference: float = None  # from the module as generated, where it pools first

    @property
    def agrees(self):
        """Whether the gradients are the generated module's `backward`, up to roundoff (the
        module computing every value as the equations write it)."""
        return self.difference < AGREEMENT

    @property
    def pooled_first_differs(self):
        """Whether the module as generated, which pools before a function (relu), differs
        (right only at a tie that rounding makes in one order of the operations, not the
        other)."""
        return self.pooled_difference is not None and self.pooled_difference >= AGREEMENT

    @property
    def times(self):
        return list(self.steps)

    def value(self, name, t=None):
        """The value of node `name` (at step `t`, 1..T, of a recurrent net)."""
        return self._of("values", name, t)

    def delta(self, name, t=None):
        """δ of node `name` (at step `t` of a recurrent net: a parameter's share of it)."""
        return self._of("deltas", name, t)

    def _of(self, kind, name, t):
        if t not in self.steps:
            steps = ", ".join(map(str, self.steps)) if self.der.recurrent else \
                "None (a feed-forward net)"
            raise ValuesError(f"no step {t!r}: the example's steps are {steps}")
        found = getattr(self.steps[t], kind)
        if name not in found:
            raise ValuesError(f"no {'value' if kind == 'values' else 'δ'} named {name!r} in "
                              f"the example of {self.der.graph.name}: its nodes are "
                              f"{', '.join(found)}")
        return found[name]

    def lookup(self, kind, name, time):
        """A value ("value") or δ ("delta") of `name` at `time`. Past the last step, zeros (what
        step T+1 sends back); at no time (None) in a recurrent net, a parameter's value and its
        whole gradient."""
        if not self.der.recurrent:
            time = None
        elif time is None:
            return self.gradients[name] if kind == "delta" else self.steps[1].values[name]
        step = self.steps.get(time)
        if step is None:
            return 0 * self.steps[self.times[-1]].values[name]
        return (step.values if kind == "value" else step.deltas)[name]


def worked(der, inputs, params, lr=None, digits=4):
    """`der` worked through with these numbers: forward values, δs term by term, gradients,
    and with `lr` the parameters after one step P ← P − lr·δP (see the module docstring)."""
    if isinstance(digits, bool) or not isinstance(digits, int) or not 0 <= digits <= 15:
        raise ValuesError(f"digits must be an integer from 0 to 15, got {digits!r}")
    given = checked(der, inputs, params, lr)
    module = compile_numpy(der)
    written = as_written(der, module)
    with np.errstate(all="ignore"):  # a loss that is not finite is refused below, by name
        reference = _reference(written, given)
        pooled = None if written is module else _reference(module, given)
        found = module.dimensions(*given.floats())
        sizes = {name: found[name] for name in needed_dims(der)}
        steps, given = _computed(der, module, given, sizes)
    gradients = {p: sum(s.deltas[p] for s in steps.values()) for p in der.params}
    first = steps[min(steps) if der.recurrent else None]
    gradients.update({initial: first.deltas[state] for state, (_, initial)
                      in der.states.items()})
    loss = sum(s.values[der.loss][0, 0] for s in steps.values())
    if not np.isfinite(float(loss)):
        raise ValuesError(f"the loss is {float(loss)} at these values: an operation is "
                          "undefined there (log or sqrt of a negative number, a division by "
                          "0); give values in the model's domain")
    for name, value in [*((f"δ{n}", v) for st in steps.values() for n, v in st.deltas.items()),
                        *((f"δ{p}", g) for p, g in gradients.items())]:
        if not np.isfinite(np.asarray(value, dtype=float)).all():  # (a hunt: √u at u = 0)
            raise ValuesError(f"the loss is finite at these values, but {name} is not (it "
                              "holds ∞ or NaN): a slope is infinite or undefined there (√u or "
                              "log u at u = 0, a division by 0); give values where every slope "
                              "is finite")
    updated = None if lr is None else {p: given.params[p] - given.lr * gradients[p]
                                       for p in der.params}
    return Worked(der, sizes, steps, gradients, loss, given.lr, updated, given.exact, digits,
                  _difference(gradients, reference),
                  None if pooled is None else _difference(gradients, pooled))


def _computed(der, module, given, sizes):
    """(steps, the values they were computed from): exactly if the numbers are exact and
    every operation keeps them so, else in float64."""
    if given.exact:
        try:
            return evaluate(der, module, given, sizes, exact=True), given
        except (Inexact, TypeError):  # an operation that cannot stay exact (numpy has no
            pass                          # exp of a Rational): the whole example in floats
    given = given.as_floats()
    return evaluate(der, module, given, sizes, exact=False), given


def _reference(module, given):
    """The module's own gradients on the same numbers, in float64; the module's checks (shapes,
    targets that must be distributions) become ValuesErrors."""
    params, inputs = given.floats()
    try:
        _, cache = module.forward(params, inputs)
    except ValueError as exc:
        raise ValuesError(str(exc)) from None
    return module.backward(params, cache)


def _difference(gradients, reference):
    """The largest difference between two sets of gradients, relative to each one's size (at
    least a millionth of the largest: a gradient of 0 leaves roundoff nothing to divide)."""
    def size(array):
        return float(np.max(np.abs(array), initial=0.0))

    largest = max(map(size, reference.values()), default=0.0)
    return max((size(np.asarray(gradients[name], dtype=np.float64) - expected) /
                max(size(expected), 1e-6 * largest, 1e-300)
                for name, expected in reference.items()), default=0.0)


def for_command(der, values=None, seed=None, dims=None, lr=None):
    """The text `derive explain MODEL --numbers` prints: the example with the numbers of the
    JSON file `values`, or with random ones from `seed` at small sizes, said first."""
    if values is not None:
        if seed is not None or dims:
            raise ValuesError("--values gives the numbers, --seed and --dim draw random ones: "
                              "give one or the other")
        return text(worked(der, *read_values(der, values), lr=lr))
    sizes = worked_sizes(der, dims or {})
    seed = 0 if seed is None else seed
    inputs, params = random_values(der, compile_numpy(der), sizes, seed)
    return (f"Random values from seed {seed}, rounded to {DECIMALS} decimal "
            f"(--values FILE.json gives your own).\n" + text(worked(der, inputs, params, lr=lr)))
