"""Elementwise functions, for rule 4 (function application): each one entry of the registry.

A `Function` says what f is (an elementary sympy definition, for the oracle and for user
functions), how f′ is written (through the stored output y where a closed form exists, else as
a function of the input), how it is spelled in text, LaTeX and numpy (an expression or a
helper of the generated module), and where its kinks are. `function(...)` registers one, so
model files can call it too; `elementwise(...)` makes a user's own, local to their graphs.
"""

import functools
import re
from dataclasses import dataclass, field
from typing import Callable, Optional

import sympy as sp
from sympy.matrices.expressions import MatrixExpr
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.precedence import PRECEDENCE

from . import registry
from .algebra import Helper, ones
from .errors import CallError, FormulaError, GraphError
from .graph import Node, exactly, number
from .naming import check_identifier
from .registry import Builder, Signature
from .scalars import check_constants, find_kinks, stabilize, unsupported_functions

U = sp.Symbol("u", real=True)  # the bound variable of every elementwise Lambda


class NamedFunction(sp.Function):
    """A scalar function spelled by its entry (`entry`); f′ comes from the entry too."""

    entry = None

    def fdiff(self, argindex=1):
        return self.entry.derivative_at_input()(self.args[0])

    def _eval_rewrite_as_elementary(self, arg, **kwargs):
        return self.entry.definition(arg)

    def _eval_evalf(self, prec):
        # by its definition: sympy would look its name up in mpmath (phi is a constant there)
        value = self.entry.definition(self.args[0])
        return (value if isinstance(value, sp.Basic) else sp.Float(value))._eval_evalf(prec)


def elementary(expr):
    """`expr` with derive's named functions written out by their definitions."""
    while expr.has(NamedFunction):
        expr = expr.replace(lambda e: isinstance(e, NamedFunction),
                            lambda e: e.entry.definition(e.args[0]))
    return expr


class _NumbersPrinter(NumPyPrinter):
    """Scalar formulas as array code for any module bound to `np` (numpy, autograd.numpy)."""

    def _module_format(self, fqn, register=True):
        return "np." + fqn.removeprefix("numpy.") if fqn.startswith("numpy.") else fqn

    def _print_Max(self, expr, ufunc="np.maximum"):
        """np.maximum of the arguments, nested (sympy's functools.reduce needs a module the
        formula's namespace lacks)."""
        first, *rest = (self._print(a) for a in expr.args)
        return functools.reduce(lambda a, b: f"{ufunc}({a}, {b})", rest, first)

    def _print_Min(self, expr):
        return self._print_Max(expr, "np.minimum")


class Entrywise(ElementwiseApplyFunction):
    """f applied to every entry of x, whatever x's shape. sympy's own class calls f on a 1×1
    x as if it were a number, and f(x) of a kink (Heaviside, Max, Piecewise) then refuses
    the matrix; this one never calls f on x, here or when sympy rebuilds it."""

    def __new__(cls, function, expr):
        return MatrixExpr.__new__(cls, function, expr)


def apply(function, x):
    """The matrix expression f(x), f applied to every entry of x."""
    return Entrywise(sp.Lambda(U, function(U)), x)


_PRECEDENCE = {"scaled": PRECEDENCE["Mul"], "sum": PRECEDENCE["Add"], "power": PRECEDENCE["Pow"]}


@dataclass(frozen=True, eq=False)
class Function:
    """A scalar function applied entrywise; calling it on a node makes a rule-4 node."""

    name: str
    definition: Callable                   # u ↦ f(u) in elementary sympy functions
    scalar: Optional[type] = None          # the sympy function printed as f (made if None)
    through_output: Optional[Callable] = None  # (y, shape) ↦ f′ as a matrix expression in y
    derivative: Optional[Callable] = None  # u ↦ f′(u), when not written through y
    numpy: object = None                   # "np.tanh({0})", or a Helper the module defines
    text: str = "{name}({0})"
    latex: str = r"\operatorname{{{name}}}\left({0}\right)"
    kinks: tuple = ()                      # g(u): f′ jumps where g changes sign
    reference: Optional[Callable] = None   # (xp, u) -> f(u) in numbers, for independent checks
    user: bool = False
    binds: str = "atom"                    # how tightly its spelling binds where it is not a
    # call: "scaled" (1/u, 2 tanh(b u)), "sum" (−2 tanh(b u)), "power" (u²); bracketed as such
    signature: Signature = field(default_factory=Signature)
    weights_start: str = "glorot"          # how a weight matrix feeding f starts: "he" for relu
    nondecreasing: bool = False            # u ≤ v ⇒ f(u) ≤ f(v), and f′ = 0 wherever f is
    # flat, ends included: max pooling commutes with f, and so does the δ it sends back

    def __post_init__(self):
        if self.scalar is None:
            binds = {"precedence": _PRECEDENCE[self.binds]} if self.binds != "atom" else {}
            cls = type(self.name, (NamedFunction,), {"entry": self, **binds})  # (for sympy's
            # printers, where it sits inside a user's formula)
            object.__setattr__(self, "scalar", cls)

    def __call__(self, node):
        if not isinstance(node, Node):
            raise CallError(f"{self.name}() takes a derive node, got {type(node).__name__}")
        return node.graph.add(registry.op_named("apply"), (node,), {"function": self})

    def numbers(self, xp, u):
        """f(u) for an array u, with the array module xp (numpy, autograd.numpy)."""
        if self.reference is not None:
            return self.reference(xp, u)
        body = elementary(self.definition(U))
        value = sp.lambdify(U, body, modules=[{"np": xp}], printer=_NumbersPrinter())(u)
        return value if U in body.free_symbols else value + xp.zeros_like(u)  # a constant

    def derivative_at_input(self):
        """u ↦ f′(u): the registered form, else sympy's derivative of the definition."""
        if self.derivative is not None:
            return self.derivative
        return sp.Lambda(U, slope_of(self.definition(U)))

    def spell(self, target, arg, factor=None, atom=None):
        """f(arg) as `target` ("text", "latex", "numpy") spells it; `factor` is the argument
        bracketed as a factor of a product ({factor} in a spelling like "tanh(2 {factor})"),
        `atom` bracketed unless it is a name or a number ({atom} as a base or a divisor:
        "1 / {atom}", since 1 / V @ x is (1/V) @ x)."""
        name = self.name.replace("_", r"\_") if target == "latex" else self.name
        return getattr(self, target).format(arg, name=name, factor=factor or arg,
                                            atom=atom or arg)

    def __repr__(self):
        return f"Function({self.name})"


def slope_of(body):
    """d body / du. At a kink, where differentiating makes a step, the step's value at its
    jump is 0 (as relu′(0) is), and the Dirac deltas, which vanish off the kink, are dropped.
    A step the formula itself holds (u ⊙ Heaviside(v)) keeps its own value at the jump; and
    Max or Min whose arguments are equal over an interval (Max(u, |u|) for u > 0) take
    their common slope there, for two arguments (found by a hunt: both were 0 over whole
    intervals; of three or more, sympy's slope, which such a tie still makes 0)."""
    held = body.replace(lambda e: isinstance(e, sp.Heaviside), lambda e: _Held(*e.args))
    paired = held.replace(lambda e: isinstance(e, (sp.Max, sp.Min)) and len(e.args) == 2,
                          _Extremum.of)  # (of more arguments, the slope grew 3ⁿ: sympy's)
    slope = sp.diff(paired, U).replace(lambda e: isinstance(e, sp.DiracDelta),
                                       lambda e: sp.Integer(0))
    slope = slope.replace(lambda e: isinstance(e, sp.Heaviside),
                          lambda e: sp.Heaviside(e.args[0], 0))
    return slope.replace(lambda e: isinstance(e, (_Held, _Extremum)), lambda e: e.restored())


class _Held(sp.Function):
    """Heaviside(x, h0) of the formula itself while it is differentiated: its value at the jump
    is the formula's, and its slope (a Dirac delta, zero off the jump) is 0."""

    def fdiff(self, argindex=1):
        return sp.Integer(0)

    def restored(self):
        return sp.Heaviside(*self.args)


class _Extremum(sp.Function):
    """Max (sign 1) or Min (sign −1) of a and b while differentiated: the slope of the one
    chosen; where a = b with one slope (the same function over an interval), that slope; at
    a kink, where their slopes differ, 0 (relu′(0) = 0 for Max(u, 0))."""

    @classmethod
    def of(cls, extremum):
        return cls(1 if isinstance(extremum, sp.Max) else -1, *extremum.args)

    def _eval_derivative(self, s):
        sign, a, b = self.args
        da, db = sp.diff(a, s), sp.diff(b, s)
        common = sp.Piecewise((da, sp.Eq(a, b) & sp.Eq(da, db)), (0, True))
        return da * sp.Heaviside(sign * (a - b), 0) + db * sp.Heaviside(sign * (b - a), 0) + common

    def restored(self):
        sign, a, b = self.args
        return (sp.Max if sign == 1 else sp.Min)(a, b)


def function(name, definition, **knowledge):
    """Register an elementwise function under `name`: the API and model files can call it."""
    return registry.add(Function(name, definition, **knowledge), callable_name=name)


def _sigmoid(u):
    return 1 / (1 + sp.exp(-u))


sigmoid = function(
    "sigmoid", _sigmoid,
    through_output=lambda y, shape: sp.hadamard_product(y, ones(*shape) - y),
    derivative=lambda u: sigmoid.scalar(u) * (1 - sigmoid.scalar(u)),  # inside user formulas
    # 1/(1 + e^−u) in place, one array: e^−u overflows to inf for u < −709, where σ = 1/inf
    # = 0 while the truth is below 1e-308, so the warning is silenced; 5× faster than logaddexp
    numpy=Helper("sigmoid", "1/(1 + e^−u), stably: where e^−u overflows, σ < 1e-308 is 0.",
                 ("y = np.negative(u)", 'with np.errstate(over="ignore"):',
                  "    np.exp(y, out=y)", "y += 1.0", "np.divide(1.0, y, out=y)", "y")),
    latex=r"\sigma\left({0}\right)", reference=lambda xp, u: 1 / (1 + xp.exp(-u)),
    nondecreasing=True)
tanh = function("tanh", sp.tanh, scalar=sp.tanh,
                through_output=lambda y, shape: ones(*shape) - sp.HadamardPower(y, 2),
                numpy="np.tanh({0})", latex=r"\tanh\left({0}\right)",
                reference=lambda xp, u: xp.tanh(u), nondecreasing=True)
exp = function("exp", sp.exp, scalar=sp.exp, through_output=lambda y, shape: y,
               numpy="np.exp({0})", latex=r"\exp\left({0}\right)",
               reference=lambda xp, u: xp.exp(u), nondecreasing=True)
log = function("log", sp.log, scalar=sp.log, derivative=lambda u: 1 / u,
               numpy="np.log({0})", latex=r"\log\left({0}\right)",
               reference=lambda xp, u: xp.log(u))
step = Function(  # relu′: not a node of its own, only ever inside a δ
    "step", lambda u: sp.Heaviside(u, 0), derivative=lambda u: sp.Integer(0),
    numpy=Helper("step", "1[u > 0], the slope of relu (0 at 0).",
                 ("np.greater(u, 0.0).astype(u.dtype)",)),
    text="1[{0} > 0]", latex=r"\mathbf{{1}}[{0} > 0]", kinks=(U,))
step_or_tie = Function(  # max(c, u)′, u winning ties too: only ever inside a δ, like step
    "step_or_tie", lambda u: sp.Heaviside(u, 1), derivative=lambda u: sp.Integer(0),
    numpy="np.heaviside({0}, 1)", text="1[{0} ≥ 0]", latex=r"\mathbf{{1}}[{0} \geq 0]",
    kinks=(U,), reference=lambda xp, u: xp.heaviside(u, 1.0))
relu = function("relu", lambda u: sp.Max(u, 0), derivative=step.scalar,
                numpy=Helper("relu", "max(u, 0).", ("np.maximum(u, 0.0)",)), kinks=(U,),
                reference=lambda xp, u: xp.maximum(u, 0.0), weights_start="he",
                nondecreasing=True)
softplus = function(
    "softplus", lambda u: sp.log(1 + sp.exp(u)), derivative=sigmoid.scalar,
    numpy=Helper("softplus", "log(1 + e^u), stably.", ("np.logaddexp(0.0, u)",)),
    reference=lambda xp, u: xp.logaddexp(0.0, u), nondecreasing=True)
identity = function("identity", lambda u: u, through_output=lambda y, shape: ones(*shape),
                    numpy="{0}", latex=r"\operatorname{{id}}\left({0}\right)",
                    reference=lambda xp, u: u, nondecreasing=True)

sqrt = function("sqrt", sp.sqrt,
                through_output=lambda y, shape: apply(lambda u: 1 / (2 * u), y),
                numpy="np.sqrt({0})", latex=r"\sqrt{{{0}}}", reference=lambda xp, u: xp.sqrt(u))
abs = function("abs", sp.Abs, derivative=lambda u: sp.sign(u), kinks=(U,),
               numpy="np.abs({0})", text="|{0}|", latex=r"\left|{0}\right|",
               reference=lambda xp, u: xp.abs(u))
reciprocal = function(  # a / b is a ⊙ (1/b): rule 3 and this, rule 4
    "reciprocal", lambda u: 1 / u,
    through_output=lambda y, shape: -sp.HadamardPower(y, 2),
    numpy="(1 / {atom})", text="1/{atom}", latex=r"\frac{{1}}{{{0}}}", binds="scaled",
    reference=lambda xp, u: 1 / u)


def power(node, p):
    """x ** p for a number p: f(u) = u^p, f′ = p u^(p−1)."""
    p = sp.nsimplify(p, rational=True)
    text = str(p).translate(_SUPERSCRIPTS) if p.is_Integer and p > 0 else f"^({text_number(p)})"
    f = Function("power", lambda u: u**p, derivative=lambda u: p * u ** (p - 1), binds="power",
                 text=f"{{atom}}{text}", latex=f"{{atom}}^{{{{{latex_number(p)}}}}}",
                 numpy=f"({{atom}}**({code_number(p)}))",
                 reference=lambda xp, u: u ** float(p))
    return f(node)


_SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def text_number(number):
    """A constant in the text notation, whose minus is −, as everywhere else in it, and π and
    exp(1) as the text printer writes them."""
    return re.sub(r"\bE\b", "exp(1)", re.sub(r"\bpi\b", "π", str(number))).replace("-", "−")


def code_number(number):
    """A constant as the generated code writes it: a fraction as p/q, which Python divides
    exactly where p and q are floats; π, √2, log 3 as the float Python writes (found by a
    hunt: sympy wrote numpy.pi, a name the module does not have)."""
    return NumPyPrinter().doprint(number) if number.is_Rational else repr(float(number))


def latex_number(number):
    """A constant's LaTeX, its braces kept through str.format (a spelling's {0})."""
    return sp.latex(number).replace("{", "{{").replace("}", "}}")

# The functions a user's formula may call by name besides sympy's own (model files).
FORMULA = {"sigmoid": sigmoid.scalar, "softplus": softplus.scalar, "relu": relu.scalar}


def _scaled_tanh(node, a, b):
    """a·tanh(b z), LeCun's scaled tanh; f′ = b (a − y²/a) through the output."""
    # finite real numbers, exact as given (nan, inf: a ValueError here); nsimplify alone made
    # 1.7320508 √3 and math.sqrt(2) numpy.sqrt(2) in the module
    a, b = number(a, "scaled_tanh"), number(b, "scaled_tanh")
    if a == 0 or b == 0:
        raise FormulaError("scaled_tanh needs nonzero a and b")
    code, tex = code_number, latex_number  # its constants are part of its spelling

    f = Function("scaled_tanh", lambda u: a * sp.tanh(b * u), scalar=None,
                 through_output=lambda y, shape: b * (a * ones(*shape)
                                                      - sp.HadamardPower(y, 2) / a),
                 text=f"{text_number(a)} tanh({text_number(b)} {{factor}})",
                 latex=f"{tex(a)} \\tanh\\left({tex(b)} {{factor}}\\right)",
                 numpy=f"({code(a)}) * np.tanh(({code(b)}) * {{factor}})",
                 binds="scaled" if a > 0 else "sum",
                 reference=lambda xp, u: float(a) * xp.tanh(float(b) * u))
    return f(node)


scaled_tanh = registry.add(Builder("scaled_tanh", _scaled_tanh, Signature(1, ("a", "b"))),
                           callable_name="scaled_tanh")


def elementwise(name, f):
    """A user function: `f` maps a sympy Symbol to a sympy expression of it.

    >>> phi = elementwise("phi", lambda u: 2*u)

    Unstable forms are recognised (1/(1+e^−u) is σ(u), log(1+e^u) is softplus(u), log σ(u) is
    −softplus(−u)), so the
    generated code evaluates them stably; kinks (Abs, Max, Min, Heaviside, Piecewise) are
    found, so gradcheck steps around them.
    """
    check_identifier(name, "function")
    if name in registry.CALLABLE:
        raise GraphError(f"elementwise({name!r}, f): {name!r} is a built-in function")
    body = f(U)
    if isinstance(body, (int, float)) and not isinstance(body, bool):
        body = sp.Float(body) if isinstance(body, float) else sp.Integer(body)
    if not isinstance(body, sp.Expr):
        raise CallError(f"elementwise({name!r}, f): f(u) must return a sympy expression of u, "
                        f"got {type(body).__name__}")
    body = body.replace(lambda e: isinstance(e, sp.Float), exactly)  # each float as it is
    stray = body.free_symbols - {U}
    if stray:
        raise FormulaError(f"elementwise({name!r}, f): f(u) uses symbols other than its "
                         f"argument: {sorted(map(str, stray))}")
    # another user function inside the formula is written out as its own formula: the
    # generated module defines only the functions a graph applies
    body = body.replace(lambda e: isinstance(e, NamedFunction) and e.entry.user,
                        lambda e: e.entry.definition(*e.args))
    body = stabilize(body, sigmoid.scalar, softplus.scalar)
    unsupported = unsupported_functions(body, NamedFunction)
    if unsupported:
        raise FormulaError(f"elementwise({name!r}, f): generated numpy code cannot evaluate "
                         f"{', '.join(unsupported)}; use functions numpy has (exp, sin, …)")
    slope = slope_of(body)
    unevaluated = sorted({type(e).__name__ for e in (body, slope)
                          for e in e.atoms(sp.Derivative, sp.Integral, sp.Sum)})
    if unevaluated or body.has(sp.floor, sp.ceiling, sp.frac, sp.Mod):
        held = ", ".join(unevaluated) or "a step function (floor, ceiling, frac, Mod)"
        raise FormulaError(f"elementwise({name!r}, f): f(u) or its slope holds {held}, which "
                         "derive cannot differentiate into numpy code")
    check_constants(f"elementwise({name!r}, f)", body, slope)
    kinks = find_kinks(body, NamedFunction)
    return Function(name, sp.Lambda(U, body), derivative=sp.Lambda(U, slope), kinks=kinks,
                    user=True)
