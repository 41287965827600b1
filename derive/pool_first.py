"""Pooling first: maxpool(f(z + b)) computed as f(maxpool(z − b) + b).

Max pooling commutes with adding a per-channel bias (the same b_c at every position of a
channel shifts every entry of a window alike) and with any nondecreasing f (the largest
input gives the largest output) whose slope is 0 wherever it is flat (a tie f makes of
unequal inputs then takes no δ, whichever of them unpooling picks), so a convolution's bias
and activation can wait until after its pooling and work on the k_h·k_w times smaller pooled
image. Rounding keeps both properties (fl(a + b) and relu never decrease in a), so with relu
the pooled values are the same to the bit (with σ or tanh, within their rounding). Back,
rule 4 runs at the pooled maxima, δmaxpool(z) = δp ⊙ f′(maxpool(z)), the bias gradient sums
that smaller δ (Σ over a channel's positions of δz is the sum of what its windows' maxima
received), and unpool_max sends it to the maximum of each window of z − b.

It is a pass over the module's equations, like fusion: it finds each max pooling p of
h = f(z), or of z itself, where z = A + b is a sum with a per-channel bias and z and h are read
by nothing else, and leaves any other pooling as it is. The derivation and its equations stay
the user's; only the generated code and its comments show the pooled form.
"""

from dataclasses import dataclass

import sympy as sp
from sympy import MatAdd, MatMul, MatrixSymbol, OneMatrix
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from .algebra import broadcast, unstretched
from .convolution_notation import MaxPooled, MaxUnpooled, OverPositions, PerPosition, g_positions
from .display import text_printer
from .functions import Entrywise
from .naming import Delta, delta_symbol
from .printers.notation import entry_of


@dataclass(frozen=True)
class Pooling:
    """p = maxpool(f(z)) (or maxpool(z)), z = A + b per channel, computed pooled first."""

    pooled: str        # p
    applied: object    # h = f(z)'s name, or None when p pools z itself
    summed: str        # z
    rest: object       # A: z's equation without the bias term
    bias: object       # b, the per-channel column
    function: object   # f, a Lambda, or None
    geometry: tuple    # the pooling's sizes g

    @property
    def unbiased(self):  # z − b = A: the key of its array
        return f"{self.summed} − {self.bias}"

    @property
    def top(self):       # maxpool(z − b)
        return f"maxpool({self.unbiased})"

    @property
    def before(self):    # maxpool(z) = maxpool(z − b) + b: f's argument, pooled
        return f"maxpool({self.summed})" if self.function is not None else self.pooled

    def keys(self):
        """The arrays the pass makes, each (key, the identifier it would like)."""
        made = [(self.unbiased, f"{self.summed}_unbiased"),
                (self.top, f"pooled_{self.summed}_unbiased")]
        return made + [(self.before, f"pooled_{self.summed}")] * (self.function is not None)


def _nondecreasing(function):
    """The registered function a Lambda u ↦ f(u) applies, if it never decreases; else None."""
    body = function.expr
    entry = entry_of(body.func) if body.args == tuple(function.variables) else None
    return entry if getattr(entry, "nondecreasing", False) else None


def _bias_term(expr):
    """z's equation split into (A, b) where it is A + b per channel (PerPosition b, stretched
    across the columns), else None."""
    if not isinstance(expr, MatAdd):
        return None
    found = [t for t in expr.args if isinstance(unstretched(t), PerPosition)]
    if len(found) != 1:
        return None
    rest = [t for t in expr.args if t is not found[0]]
    return MatAdd(*rest) if len(rest) > 1 else rest[0], unstretched(found[0])


def _readers(name, exprs):
    """The keys of the equations (key, expressions) that read the value `name`."""
    return {key for key, found in exprs for e in found
            if any(a.name == name and not isinstance(a, Delta) for a in e.atoms(MatrixSymbol))}


def poolings(der, forward, backward):
    """The max poolings of the module's equations that can be computed pooled first."""
    if der.recurrent:
        return []
    equations, deltas = dict(forward), dict(backward)
    found = []
    for p, expr in forward:
        if not (isinstance(expr, MaxPooled) and isinstance(expr.args[0], MatrixSymbol)):
            continue
        inner, g = expr.args[0].name, expr.args[1]
        function, applied = None, None
        if isinstance(equations.get(inner), ElementwiseApplyFunction) and \
                isinstance(equations[inner].expr, MatrixSymbol):
            function, applied = equations[inner].function, inner
            if _nondecreasing(function) is None:
                continue
            inner = equations[inner].expr.name
        split = _bias_term(equations.get(inner))
        if split is None or inner == der.loss or applied == der.loss:
            continue
        rest, bias = split
        C, H, W = g[0], g[1], g[2]
        if bias.args[0].shape[0] != C or sp.simplify(bias.args[1] - H * W) != 0:
            continue
        forward_readers = {inner: {applied or p}} | ({applied: {p}} if applied else {})
        if any(_readers(n, [(k, [e]) for k, e in forward]) != want
               for n, want in forward_readers.items()):
            continue  # z or h read elsewhere: computed as written
        if any(_readers(n, backward) - {inner, applied} for n in forward_readers):
            continue  # read by a δ other than their own
        pooling = Pooling(p, applied, inner, rest, bias.args[0], function, g)
        if function is None or _at_maxima(der, pooling, deltas.get(inner, [])) is not None:
            found.append(pooling)
    return found


def _at_maxima(der, pooling, terms):
    """δz = δh ⊙ f′(z) (f′ read through z or h) written at the pooled maxima,
    δmaxpool(z) = δp ⊙ f′(maxpool(z)); None unless δz is that one term."""
    full, small = der.shapes[pooling.summed], der.shapes[pooling.pooled]
    d_h = der.delta(pooling.applied)
    if len(terms) != 1:
        return None
    term = terms[0]
    if isinstance(term, sp.HadamardProduct):
        factors = [a for a in term.args if a != d_h]
        if len(factors) != len(term.args) - 1 or any(f.atoms(Delta) for f in factors):
            return None
    elif term != d_h:
        return None
    slope = term.xreplace({d_h: der.delta(pooling.pooled),
                           der.symbol(pooling.summed): MatrixSymbol(pooling.before, *small),
                           der.symbol(pooling.applied): der.symbol(pooling.pooled),
                           OneMatrix(*full): OneMatrix(*small)})
    left = {a.shape for a in slope.atoms(MatrixSymbol, OneMatrix)} - {small}
    return slope if not left and slope.shape == small else None


class PoolFirst:
    """The equations with each pooling in `found` computed pooled first, and their comments."""

    def __init__(self, der, found):
        self.der, self.found = der, found
        self.shapes = {}
        for pooling in found:
            full, pooled = der.shapes[pooling.summed], der.shapes[pooling.pooled]
            self.shapes.update({pooling.unbiased: full, pooling.top: pooled,
                                pooling.before: pooled})
        self.comments = {}
        self.printer = text_printer(der)

    def symbol(self, key):
        return MatrixSymbol(key, *self.shapes.get(key) or self.der.shapes[key])

    def wanted(self):
        return [kw for pooling in self.found for kw in pooling.keys()]

    def forward(self, equations):
        """z and h dropped; p's equation becomes z − b = A, maxpool(z − b), + b, then f."""
        gone = {n for pooling in self.found for n in (pooling.summed, pooling.applied) if n}
        by_pooled = {pooling.pooled: pooling for pooling in self.found}
        out = []
        for name, expr in equations:
            if name in gone:
                continue
            pooling = by_pooled.get(name)
            if pooling is None:
                out.append((name, expr))
                continue
            top = MaxPooled(self.symbol(pooling.unbiased), pooling.geometry)
            bias = PerPosition(pooling.bias, g_positions(pooling.geometry))
            before = sp.MatAdd(self.symbol(pooling.top), broadcast(bias, top.shape))
            made = [(pooling.unbiased, pooling.rest), (pooling.top, top),
                    (pooling.before, before)]
            if pooling.function is not None:
                made.append((name, Entrywise(pooling.function, self.symbol(pooling.before))))
            out += made
            for key, value in made:
                self._explain(False, key, value)
            f = pooling.function and _nondecreasing(pooling.function).name
            self.comments[(False, pooling.top)] = (
                f"{pooling.top}: max pooling first, as it commutes with + {pooling.bias}"
                + (f" and with {f}" if f else ""))
            written = expr.xreplace({self.der.symbol(pooling.applied):
                                     self.der.forward[pooling.applied]} if f else {})
            self.comments[(False, name)] = self.comments[(False, name)].replace(
                " = ", f" = {self.printer.doprint(written)} = ", 1)
        return out

    def backward(self, equations):
        """δh dropped and δz = δh ⊙ f′ rewritten as δmaxpool(z) = δp ⊙ f′ at the maxima and
        δz = unpool_max(δmaxpool(z), z − b); the bias gradient sums δmaxpool(z)."""
        equations = list(equations)
        for pooling in self.found:
            z = pooling.summed
            d_before = delta_symbol(pooling.before, self.shapes[pooling.before])
            unpooled = MaxUnpooled(d_before, self.symbol(pooling.unbiased),
                                   self.symbol(pooling.top), pooling.geometry)
            slope = _at_maxima(self.der, pooling, next(t for k, t in equations if k == z)) \
                if pooling.function is not None else None
            moved = []
            for key, terms in equations:
                if key == pooling.applied:
                    key, terms = pooling.before, [slope]
                elif key == z:
                    terms = [unpooled]
                else:
                    summed = [self._bias_term(t, pooling, d_before) for t in terms]
                    if summed == list(terms):
                        moved.append((key, terms))
                        continue
                    terms = summed
                moved.append((key, terms))
                self._explain(True, key, terms)
            equations = moved
        return equations

    def _bias_term(self, term, pooling, d_before):
        """Σ_positions Σ_cols δz, the bias's gradient, as the same sum of δmaxpool(z)."""
        d_z = self.der.delta(pooling.summed)
        if not (isinstance(term, OverPositions) and term.args[0].atoms(Delta) == {d_z}):
            return term
        column = term.args[0]
        if column != d_z and column != MatMul(d_z, OneMatrix(d_z.shape[1], 1)):
            return term
        return OverPositions(column.xreplace({d_z: d_before}), g_positions(pooling.geometry))

    def _explain(self, delta, key, value):
        """The comment of a rewritten statement: its equation as computed."""
        values = value if delta else [value]
        lhs = delta_symbol(key, values[0].shape) if delta else MatrixSymbol(key, *values[0].shape)
        rhs = " + ".join(self.printer.doprint(v) for v in values)
        self.comments[(delta, key)] = f"{self.printer.doprint(lhs)} = {rhs}"
