"""The numpy module of a derivation: Python decides what goes in, `module.py.j2` its shape."""

import linecache
import types
from dataclasses import dataclass

import sympy as sp
from sympy.core.function import AppliedUndef

from .algebra import LogSoftmax, Softmax
from .functions import NAMED, STEP_NUMPY, NamedFunction, U, step_f
from .naming import Delta, DELTA_PREFIX
from .printing import NumpyCodePrinter, Verbatim, numpy_code, stamped, text
from .rendering import render
from .rules import Kind


@dataclass(frozen=True)
class Statement:
    name: str
    code: str
    comment: str


@dataclass(frozen=True)
class Helper:
    name: str
    code: object   # the returned expression, or a tuple of statements ending with it
    doc: str

    @property
    def steps(self):
        return self.code[:-1] if isinstance(self.code, tuple) else ()

    @property
    def result(self):
        return self.code[-1] if isinstance(self.code, tuple) else self.code


def to_numpy(der):
    """The source text of a standalone numpy module for `der` (byte-identical for one graph)."""
    backward_eqs = [(n, e) for n, e in [*der.deltas.items(), *der.gradients.items()]
                    if n != der.loss]
    forward, forward_dims = _statements(der, der.forward.items(), "")
    backward, backward_dims = _statements(der, backward_eqs, DELTA_PREFIX)
    exprs = [*der.forward.values(), *(e for _, e in backward_eqs)]
    forward_reads = _values(der.forward.values())
    backward_reads = _values(e for _, e in backward_eqs)
    cache = [n for n in der.shapes if n in backward_reads and der.kinds[n] is not Kind.PARAM]
    states = [(s, carrier, initial) for s, (carrier, initial) in der.states.items()]
    return render(
        "recurrent.py.j2" if der.recurrent else "module.py.j2",
        graph=der.graph.name,
        forward_equations=[s.comment for s in forward],
        backward_equations=[s.comment for s in backward],
        shapes=_shapes(der), compound=_compound(der),
        params=der.params, inputs=[*der.inputs, *(initial for *_, initial in states)],
        loss=der.loss,
        helpers=_helpers(der, exprs),
        softmax=any(e.atoms(Softmax, LogSoftmax) for e in exprs),
        forward_dims=forward_dims, backward_dims=backward_dims,
        forward_params=[p for p in der.params if p in forward_reads],
        backward_params=[p for p in der.params if p in backward_reads],
        cache=cache, forward=forward, backward=backward,
        # recurrent graphs only
        states=states, sequences=der.sequences,
        static_inputs=[n for n in der.inputs if n not in der.sequences],
        static_cache=[n for n in cache if not der.per_step(n) or n in der.sequences],
        step_cache=[n for n in cache if der.per_step(n)],
        appended=[n for n in cache if der.per_step(n) and n not in der.sequences],
        gradients=[DELTA_PREFIX + p for p in der.gradients])


def _shapes(der):
    """Each array the module takes, with its shape; sequences lead with the time axis T."""
    steps = (sp.Symbol("T"),)
    shapes = [(n, steps * (n in der.sequences) + der.shapes[n]) for n in [*der.params, *der.inputs]]
    shapes += [(initial, der.shapes[s]) for s, (_, initial) in der.states.items()]
    return [(name, _literal(shape)) for name, shape in shapes]


def _compound(der):
    """Shape entries like 4*H or D + H, each with code computing it from `dims`."""
    found = {d for shape in der.shapes.values() for d in shape if not (d.is_Symbol or d.is_Integer)}
    return [(str(d), numpy_code(d.xreplace({s: Verbatim(f'dims["{s}"]') for s in d.free_symbols})))
            for d in sorted(found, key=str)]


def _statements(der, equations, prefix):
    """One statement per equation, and the dimensions its code reads."""
    statements, printed = [], set()
    for name, expr in equations:
        printer = NumpyCodePrinter()
        code = printer.doprint(expr)
        printed |= printer.symbols
        comment = f"{_lhs(der, name, prefix)} {text(expr, der)}"
        statements.append(Statement(prefix + name, code, comment))
    return statements, [str(d) for d in der.dims if str(d) in printed]


def _lhs(der, name, prefix):
    """'z_t =', 'δh_t =', or 'δW +=' for a parameter that sums its gradient over the steps."""
    if not der.recurrent:
        return ("δ" if prefix else "") + name + " ="
    if der.kinds[name] is Kind.PARAM:
        return f"δ{name} +="
    return ("δ" if prefix else "") + stamped(der, name) + " ="


def compile_numpy(der):
    """`to_numpy(der)` loaded as a module; its source is kept as `module.__source__`."""
    source = to_numpy(der)
    filename = f"<derive:{der.graph.name}>"
    module = types.ModuleType(f"derive_{der.graph.name}")
    module.__file__ = filename
    module.__source__ = source
    # Tracebacks show the generated lines, as sympy's lambdify does.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), module.__dict__)  # our own generated text only
    return module


def _literal(shape):
    return "(" + ", ".join(str(int(d)) if d.is_Integer else f'"{d}"' for d in shape) + ")"


def _values(exprs):
    """Names of the forward values an expression reads (not δs)."""
    return {a.name for e in exprs for a in e.atoms(sp.MatrixSymbol) if not isinstance(a, Delta)}


def _helpers(der, exprs):
    """The helper functions the code calls: derive's stable ones, then the user's."""
    called = {f.func for e in exprs for f in e.atoms(AppliedUndef, NamedFunction)}
    users = sorted({n.attrs["function"] for n in der.graph.nodes if n.kind is Kind.APPLY
                    and n.attrs["function"].user and n.attrs["function"].scalar in called},
                   key=lambda f: f.name)
    called |= {f.func for user in users for f in user.definition(U).atoms(NamedFunction)}
    helpers = [Helper(f.name, f.numpy, f"{f.name}, stably.")
               for f in NAMED.values() if f.scalar in called]
    if step_f in called:
        helpers.append(Helper("step", STEP_NUMPY, "1[u > 0], the slope of relu (0 at 0)."))
    for user in users:
        body = user.definition(U)
        helpers.append(Helper(user.name, numpy_code(body), f"{user.name}(u) = {text(body)}"))
    return helpers
