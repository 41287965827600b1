"""A value forward computes inside an equation and a δ needs again: named once, and cached.

Softmax cross-entropy's loss reads log_softmax(z) and its δz = softmax(z) − t, and softmax(z)
is exp(log_softmax(z)). So where a δ reads softmax(z) and a forward equation computes
log_softmax(z), forward names it, the cache keeps it, and backward takes one exp instead of a
second softmax (a maximum, an exp, a sum and a division of every column). A sum works the
same way: squared error's loss reads out − label and its δout is out − label again, so
forward names the difference once and backward scales it rather than subtracting again. The
equations, and the comments over the code, stay as derived.
"""

import sympy as sp
from sympy import MatAdd, MatrixSymbol

from .display import text_printer
from .functions import apply
from .softmax import LogSoftmax, Softmax


class Shared:
    """The forward and backward equations (key, expression or terms) with each such
    log_softmax(z) or sum named; `keys` are the names made, each with the identifier it
    would like, and `comments` their statements' comments."""

    def __init__(self, der, forward, backward):
        self.keys, self.comments, self._named = [], {}, {}
        if der.recurrent:  # values of every step: left as they are
            self.forward, self.backward = list(forward), list(backward)
            return
        terms = [t for _, ts in backward for t in ts]
        read = {s.args[0] for t in terms for s in t.atoms(Softmax)}
        sums = {s for t in terms for s in t.atoms(MatAdd)}
        printer = text_printer(der)
        self.forward, made = [], {}  # made: the sums forward equations make, by value
        for key, expr in forward:
            for found in sorted(expr.atoms(LogSoftmax), key=str):
                z = found.args[0]
                if z in read and isinstance(z, MatrixSymbol) and found not in self._named:
                    self._name_log_softmax(key, expr, found, z)
            for found in sorted(expr.atoms(MatAdd) & sums, key=str):
                if found in made:  # a node t1 = o − t before: read it, not a second o − t
                    self._named.setdefault(found, MatrixSymbol(made[found], *found.shape))
                elif found != expr and found not in self._named:
                    self._name_sum(found, printer.doprint(found), key)
            own = {f: s for f, s in self._named.items() if s.name != key}
            self.forward.append((key, expr.xreplace(own)))
            made.setdefault(expr, key)
        as_read = {Softmax(f.args[0]) if isinstance(f, LogSoftmax) else f:
                   apply(sp.exp, s) if isinstance(f, LogSoftmax) else s
                   for f, s in self._named.items()}
        self.backward = [(key, [t.xreplace(as_read) for t in ts]) for key, ts in backward]

    def _made(self, name, found, wanted, comment):
        self._named[found] = MatrixSymbol(name, *found.shape)
        self.forward.append((name, found))
        self.keys.append((name, wanted))
        self.comments[(False, name)] = comment

    def _name_log_softmax(self, key, expr, found, z):
        if expr == found:  # a node y = log_softmax(z): its own name
            self._named[found] = MatrixSymbol(key, *found.shape)
            return
        self._made(f"log_softmax({z.name})", found, f"log_softmax_{z.name}",
                   f"log_softmax({z.name}), once: the loss reads it, and back softmax("
                   f"{z.name}) is its exp")

    def _name_sum(self, found, text, key):
        """A sum inside `key`'s equation that a δ reads too, `(out − label)`: a name no node
        can have, bracketed so that the equations it stands in read as they did."""
        self._made(f"({text})", found, _identifier(found),
                   f"{text}, once: {key} reads it, and so does backward")


def _identifier(total):
    """What a sum would like to be called in code: out − label → out_minus_label."""
    names = [a.name for a in total.args if isinstance(a, MatrixSymbol)]
    negated = [a for a in total.args if a.could_extract_minus_sign()]
    if len(total.args) == 2 and len(negated) == 1:
        plus, = (a for a in total.args if a is not negated[0])
        minus = -negated[0]
        if isinstance(plus, MatrixSymbol) and isinstance(minus, MatrixSymbol):
            return f"{plus.name}_minus_{minus.name}"
    return "_plus_".join(sorted(names)) if len(names) == len(total.args) else "shared_sum"
