"""Scalar formulas of user functions: made stable, checked, and their kinks found.

A formula is what a user writes for f(u). Before any code is generated from it, the unstable
forms people write are recognised (1/(1 + e^−u) is σ(u), log(1 + e^u) is softplus(u), log σ(u)
is −softplus(−u), so the generated code uses the stable helpers), its constants are checked
to be finite real float64 numbers, and the points where f′ jumps (from Abs, Max, Min, sign,
Heaviside, Piecewise and kinked named functions) are listed, so gradcheck can keep its steps
away from them.
"""

import sympy as sp
from sympy.printing.codeprinter import PrintMethodNotImplementedError
from sympy.printing.numpy import NumPyPrinter

from .errors import FormulaError

# sympy functions the generated code evaluates with numpy, beyond NumPyPrinter's own table
PIECEWISE = (sp.Max, sp.Min, sp.Abs, sp.sign, sp.Heaviside, sp.Piecewise)
_LARGEST = float.fromhex("0x1.fffffffffffffp+1023")


def _one_plus_exp(expr):
    """a, when expr is 1 + e^a; else None."""
    if expr.is_Add and len(expr.args) == 2 and sp.S.One in expr.args:
        (other,) = [a for a in expr.args if a != 1]
        if isinstance(other, sp.exp):
            return other.args[0]
    return None


def stabilize(body, sigmoid, softplus):
    """`body` with 1/(1+e^a) written σ(−a), e^a·σ(−a) σ(a), log(1+e^a) softplus(a), log σ(a)
    −softplus(−a) (σ(−1000) is 0 in floats, its log −∞), in that order: log(e^a/(1+e^a)) is
    log σ(a). A whole number written as a float is that number (1.0 + e^a is 1 + e^a)."""
    body = body.xreplace({f: sp.Integer(int(f)) for f in body.atoms(sp.Float)
                          if abs(float(f)) <= 2**53 and float(f).is_integer()})
    body = body.replace(
        lambda e: e.is_Pow and e.exp == -1 and _one_plus_exp(e.base) is not None,
        lambda e: sigmoid(-_one_plus_exp(e.base)))

    def merged(mul):
        factors = list(mul.args)
        for k, f in enumerate(factors):
            if isinstance(f, sp.exp):
                partner = sigmoid(-f.args[0])
                if partner in factors:
                    factors.remove(partner)
                    factors[factors.index(f)] = sigmoid(f.args[0])
                    return sp.Mul(*factors)
        return mul
    body = body.replace(lambda e: e.is_Mul, merged)
    body = body.replace(lambda e: isinstance(e, sp.log) and _one_plus_exp(e.args[0]) is not None,
                        lambda e: softplus(_one_plus_exp(e.args[0])))
    return body.replace(lambda e: isinstance(e, sp.log) and isinstance(e.args[0], sigmoid),
                        lambda e: -softplus(-e.args[0].args[0]))


def unsupported_functions(expr, named):
    """Names of the functions in `expr` numpy code cannot evaluate (`named`: derive's own)."""
    return sorted({type(f).__name__ for f in expr.atoms(sp.Function)
                   if not isinstance(f, (named, *PIECEWISE)) and not _numpy_has(f)})


def _numpy_has(f):
    """Whether numpy has the function f applies (asked of f with plain arguments)."""
    plain = f.func(*sp.symbols(f"a:{len(f.args)}", real=True))
    try:
        return "numpy." in NumPyPrinter({"strict": True}).doprint(plain)
    except (PrintMethodNotImplementedError, ValueError, TypeError):
        return False


def check_constants(where, *exprs):
    """Refuse a formula whose constants are not finite real float64 numbers: log(−1) is
    complex, u·(u − u)⁻¹ is undefined, 1e308·1e308 overflows."""
    for expr in exprs:
        if expr.has(sp.zoo, sp.oo, -sp.oo, sp.nan):
            raise FormulaError(f"{where}: the formula {expr} is infinite or undefined "
                             "(a division by zero?)")
        if expr.has(sp.I) or any(not n.is_real for n in expr.atoms(sp.Number)):
            raise FormulaError(f"{where}: the formula {expr} is not real (a log or root of a "
                             "negative number?)")
        for n in expr.atoms(sp.Number):
            if abs(n) > _LARGEST:
                raise FormulaError(f"{where}: the constant {sp.Float(n, 3)} is too large for "
                                 "float64")


def find_kinks(body, named):
    """The expressions g(u) whose sign changes where f′ jumps, in a stable order."""
    kinks = []
    for f in sp.preorder_traversal(body):
        if isinstance(f, (sp.Abs, sp.sign, sp.Heaviside)):
            kinks.append(f.args[0])
        elif isinstance(f, (sp.Max, sp.Min)):
            kinks += [a - b for a, b in zip(f.args, f.args[1:])]
        elif isinstance(f, sp.Piecewise):
            kinks += [c.lhs - c.rhs for _, c in f.args if isinstance(c, sp.core.relational.Relational)]
        elif isinstance(f, named):
            kinks += [g.subs(g.free_symbols.pop(), f.args[0]) if g.free_symbols else g
                      for g in f.entry.kinks]
    return tuple(dict.fromkeys(k for k in kinks if k.free_symbols))
