"""The one namer of a generated module: every identifier the module binds is chosen here.

The names the templates and helpers bind themselves (`params`, `t`, `range`, `np`,
`sigmoid`, …) are not kept in a list: they are read off a probe module rendered from the
templates (`template_names`), so a template that binds a new name protects it at once. The
user's names then take what is left, in a fixed order: a node `t` becomes `t_` in code (its
dictionary key stays "t"), and δ of a node `x` is `delta_x` unless that is taken too.
"""

import ast
import keyword

from .algebra import Helper, Spelled
from .operations import CALLABLE, OPS


class Namer:
    """Unique identifiers: seeded with every name already in scope; a clash gets `_`, `_2`, …"""

    def __init__(self, taken):
        self.taken = set(taken)

    def unique(self, wanted):
        name, k = wanted, 1
        while name in self.taken or keyword.iskeyword(name):
            k += 1
            name = f"{wanted}_" if k == 2 else f"{wanted}_{k - 1}"
        self.taken.add(name)
        return name


class ModuleNames:
    """The identifier of each of a derivation's values, δs, dimensions and user functions."""

    def __init__(self, der, reserved):
        self._namer = namer = Namer(reserved)
        self._values = {n: namer.unique(n) for n in der.shapes}
        self._dimensions = {str(d): namer.unique(str(d)) for d in der.dims}
        self._functions = {f.name: namer.unique(f.name) for f in user_functions(der)}
        self._deltas = {n: namer.unique(f"delta_{self._values[n]}") for n in der.shapes}

    def add(self, key, wanted):
        """An identifier for a value derive makes itself (a stack of fused weights, `key`),
        and one for its δ: after every user's name, so they step aside."""
        self._values[key] = self._namer.unique(wanted)
        self._deltas[key] = self._namer.unique(f"delta_{self._values[key]}")

    def knows(self, key):
        return key in self._deltas

    def value(self, name):
        return self._values[name]

    def delta(self, name):
        return self._deltas[name]

    def dimension(self, name):
        return self._dimensions[name]

    def function(self, name):
        return self._functions[name]

    def own(self):
        """Every identifier given to a user's name."""
        return {*self._values.values(), *self._dimensions.values(), *self._functions.values(),
                *self._deltas.values()}


def user_functions(der):
    """The user's elementwise functions the derivation applies, by name."""
    found = {n.attrs["function"] for n in der.graph.nodes
             if n.kind == "apply" and n.attrs["function"].user}
    return sorted(found, key=lambda f: f.name)


def registered_helpers():
    """The helpers any registered entry may ask the module to define, by name."""
    entries = [*CALLABLE.values()]
    entries += [getattr(e.derivative, "entry", None) for e in entries
                if getattr(e, "derivative", None) is not None]  # relu′ is step
    helpers = {getattr(e, "numpy", None) for e in entries}
    helpers |= {h for op in OPS.values() for h in op.checks.values()}
    stack = list(Spelled.__subclasses__())
    while stack:
        cls = stack.pop()
        helpers.add(cls.helper)
        stack += cls.__subclasses__()
    found = [h for h in helpers if isinstance(h, Helper)]
    for helper in found:  # and the helpers those call (`found` grows as it is walked)
        found += [n for n in helper.needs if isinstance(n, Helper) and n not in found]
    return {h.name: h for h in found}


def identifiers(source, opaque):
    """Every name a piece of Python source binds or reads, but inside the functions named in
    `opaque`, whose locals never meet a user's name: of those, only their own name and the
    global names they read (a builtin like `sum`, which a user's function must not shadow)."""
    found, stack = set(), [ast.parse(source)]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef) and node.name in opaque:
            found |= {node.name, *_globals_read(node)}
            continue
        stack += ast.iter_child_nodes(node)
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.arg):
            found.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            found.add(node.name)
        elif isinstance(node, ast.alias):
            found.add(node.asname or node.name)
    return found


def _globals_read(function):
    """The names a function reads that it does not bind itself."""
    names = [n for n in ast.walk(function) if isinstance(n, ast.Name)]
    bound = {n.id for n in names if not isinstance(n.ctx, ast.Load)}
    bound |= {a.arg for a in ast.walk(function) if isinstance(a, ast.arg)}
    return {n.id for n in names if isinstance(n.ctx, ast.Load)} - bound


def _untouched(source, own):
    """The functions of `source` whose bodies use none of the names in `own`: the template's
    own machinery (init_params, adam_step), where no user name ever appears."""
    return {node.name for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.FunctionDef)
            and not any(isinstance(n, ast.Name) and n.id in own for n in ast.walk(node))}


def template_names(render, probes):
    """The names the templates use, read off modules rendered for `probes` (derivations that
    take every branch of the templates): all their identifiers but the probes' own."""
    found, helpers = set(), registered_helpers()
    for der in probes:
        names = ModuleNames(der, ())
        source = render(der, names)
        opaque = {*helpers, *(names.function(f.name) for f in user_functions(der)),
                  *_untouched(source, names.own())}
        found |= identifiers(source, opaque) - names.own()
    return frozenset(found | set(helpers))
