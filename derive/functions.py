"""Elementwise functions and their derivatives, for rule 4 (function application).

Each `Elementwise` says what f is (an elementary sympy definition, used by the oracle and for
user functions), how f′ is written (through the stored output y where a closed form exists,
else as a function of the input) and how generated numpy code evaluates f stably.
"""

from dataclasses import dataclass
from typing import Callable, Optional

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from .algebra import ones
from .naming import check_identifier

U = sp.Symbol("u")  # the bound variable of every elementwise Lambda

class NamedFunction(sp.Function):
    """A scalar function sympy lacks, kept by name so printers can show it; its derivative
    is known, and `elementary` in the registry below says what it means."""


class sigmoid_f(NamedFunction):
    name = "sigmoid"

    def fdiff(self, argindex=1):
        return sigmoid_f(self.args[0]) * (1 - sigmoid_f(self.args[0]))


class step_f(NamedFunction):
    """1[u > 0]; we choose relu′(0) = 0."""
    name = "step"

    def fdiff(self, argindex=1):
        return sp.Integer(0)


class relu_f(NamedFunction):
    name = "relu"

    def fdiff(self, argindex=1):
        return step_f(self.args[0])


class softplus_f(NamedFunction):
    name = "softplus"

    def fdiff(self, argindex=1):
        return sigmoid_f(self.args[0])


def apply(function, x):
    """The matrix expression f(x), f applied to every entry of x."""
    return ElementwiseApplyFunction(sp.Lambda(U, function(U)), x)


@dataclass(frozen=True)
class Elementwise:
    """A scalar function applied entrywise; calling it on a node makes a rule-4 node."""

    name: str
    scalar: Callable            # u ↦ f(u), as printed (may use the named functions above)
    definition: Callable        # u ↦ f(u) in elementary sympy functions only
    through_output: Optional[Callable] = None   # (y, shape) ↦ f′ as a matrix expression in y
    derivative: Optional[Callable] = None       # u ↦ f′(u), when not written through y
    numpy: Optional[object] = None              # built-ins' helper in `u`: an expression, or
                                                # statements then the returned expression
    latex: Optional[str] = None
    kink: bool = False                          # f′ jumps at 0 (finite differences care)
    user: bool = False                          # defined by the user: a helper in the code

    def __call__(self, node):
        from .graph import Node  # graph builds on functions, not the other way round
        if not isinstance(node, Node):
            raise TypeError(f"{self.name}() takes a derive node, got {type(node).__name__}")
        return node.graph._apply(self, node)

    def derivative_at_input(self):
        """u ↦ f′(u): the registered form, else sympy's derivative of the definition."""
        if self.derivative is not None:
            return self.derivative
        return sp.Lambda(U, sp.diff(self.definition(U), U))


def _sigmoid(u):
    return 1 / (1 + sp.exp(-u))


sigmoid = Elementwise(
    "sigmoid", sigmoid_f, _sigmoid,
    through_output=lambda y, shape: sp.hadamard_product(y, ones(*shape) - y),
    # exp(−log(1 + e^−u)) never overflows; in place, it makes one array, not four
    numpy=("y = np.logaddexp(0.0, -u)", "np.negative(y, out=y)", "np.exp(y, out=y)"),
    latex=r"\sigma")
tanh = Elementwise(
    "tanh", sp.tanh, sp.tanh,
    through_output=lambda y, shape: ones(*shape) - sp.HadamardPower(y, 2), latex=r"\tanh")
exp = Elementwise("exp", sp.exp, sp.exp, through_output=lambda y, shape: y, latex=r"\exp")
log = Elementwise("log", sp.log, sp.log, derivative=lambda u: 1 / u, latex=r"\log")
relu = Elementwise(
    "relu", relu_f, lambda u: sp.Max(u, 0), derivative=step_f,
    numpy="np.maximum(u, 0.0)", latex=r"\operatorname{relu}", kink=True)
softplus = Elementwise(
    "softplus", softplus_f, lambda u: sp.log(1 + sp.exp(u)), derivative=sigmoid_f,
    numpy="np.logaddexp(0.0, u)", latex=r"\operatorname{softplus}")
identity = Elementwise("identity", lambda u: u, lambda u: u,
                       through_output=lambda y, shape: ones(*shape), latex=r"\operatorname{id}")

BUILTINS = {f.name: f for f in (sigmoid, tanh, exp, log, relu, softplus, identity)}

# How the undefined functions above are evaluated: numerically by numpy helpers and
# symbolically (for the oracle) by their elementary definitions.
NAMED = {sigmoid_f: sigmoid, softplus_f: softplus, relu_f: relu}  # helpers with bodies below
STEP_NUMPY = "np.greater(u, 0.0).astype(u.dtype)"
elementary_step = sp.Lambda(U, sp.Piecewise((1, U > 0), (0, True)))


def scaled_tanh(node, a, b):
    """a·tanh(b z), LeCun's scaled tanh; f′ = b (a − y²/a) through the output."""
    a, b = sp.nsimplify(a), sp.nsimplify(b)
    if a == 0 or b == 0:
        raise ValueError("scaled_tanh needs nonzero a and b")
    f = Elementwise(
        "scaled_tanh", lambda u: a * sp.tanh(b * u), lambda u: a * sp.tanh(b * u),
        through_output=lambda y, shape: b * (a * ones(*shape) - sp.HadamardPower(y, 2) / a),
        latex=r"\operatorname{stanh}")
    return f(node)


def elementwise(name, f):
    """A user function: `f` maps a sympy Symbol to a sympy expression of it.

    >>> phi = elementwise("phi", lambda u: 2*u)
    """
    check_identifier(name, "function")
    if name in BUILTINS:
        raise ValueError(f"elementwise({name!r}, f): {name!r} is a built-in function")
    body = f(U)
    if isinstance(body, (int, float)) and not isinstance(body, bool):
        body = sp.Float(body) if isinstance(body, float) else sp.Integer(body)
    if not isinstance(body, sp.Expr):
        raise TypeError(f"elementwise({name!r}, f): f(u) must return a sympy expression of u, "
                        f"got {type(body).__name__}")
    stray = body.free_symbols - {U}
    if stray:
        raise ValueError(f"elementwise({name!r}, f): f(u) uses symbols other than its "
                         f"argument: {sorted(map(str, stray))}")
    from .printing import unsupported_functions  # printing builds on this module
    unsupported = unsupported_functions(body)
    if unsupported:
        raise ValueError(f"elementwise({name!r}, f): generated numpy code cannot evaluate "
                         f"{', '.join(unsupported)}; use functions numpy has (exp, sin, …)")
    return Elementwise(name, sp.Function(name), sp.Lambda(U, body), user=True)
