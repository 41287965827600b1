"""A value forward computes inside an equation and a δ needs again: named once, and cached.

Softmax cross-entropy's loss reads log_softmax(z) and its δz = softmax(z) − t, and softmax(z)
is exp(log_softmax(z)). So where a δ reads softmax(z) and a forward equation computes
log_softmax(z), forward names it, the cache keeps it, and backward takes one exp instead of a
second softmax (a maximum, an exp, a sum and a division of every column). The equations, and
the comments over the code, stay as derived.
"""

import sympy as sp
from sympy import MatrixSymbol

from .functions import apply
from .softmax import LogSoftmax, Softmax


class Shared:
    """The forward and backward equations (key, expression or terms) with each such
    log_softmax(z) named; `keys` are the names made, each with the identifier it would like,
    and `comments` their statements' comments."""

    def __init__(self, der, forward, backward):
        self.keys, self.comments, self._named = [], {}, {}
        if der.recurrent:  # values of every step: left as they are
            self.forward, self.backward = list(forward), list(backward)
            return
        read = {s.args[0] for _, terms in backward for t in terms for s in t.atoms(Softmax)}
        self.forward = []
        for key, expr in forward:
            for found in sorted(expr.atoms(LogSoftmax), key=str):
                z = found.args[0]
                if z in read and isinstance(z, MatrixSymbol) and found not in self._named:
                    self._name(key, expr, found, z)
            own = {f: s for f, s in self._named.items() if s.name != key}
            self.forward.append((key, expr.xreplace(own)))
        as_exp = {Softmax(f.args[0]): apply(sp.exp, s) for f, s in self._named.items()}
        self.backward = [(key, [t.xreplace(as_exp) for t in terms]) for key, terms in backward]

    def _name(self, key, expr, found, z):
        if expr == found:  # a node y = log_softmax(z): its own name
            self._named[found] = MatrixSymbol(key, *found.shape)
            return
        name = f"log_softmax({z.name})"
        self._named[found] = MatrixSymbol(name, *found.shape)
        self.forward.append((name, found))
        self.keys.append((name, f"log_softmax_{z.name}"))
        self.comments[(False, name)] = (f"{name}, once: the loss reads it, and back softmax("
                                        f"{z.name}) is its exp")
