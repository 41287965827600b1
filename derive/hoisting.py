"""Hoisting out of the loop: what a recurrent step computes without the step before it.

A recurrent step computes its states (h_t, c_t) and, from them, what only the loss reads: an
output layer y_t = W_y h_t + b_y and the loss E_t. Nothing of that side feeds the next step,
so it need not wait for it: forward computes it once after the loop, for every step at once,
on arrays with the steps first (T×rows×cols), and the loss is one sum, Σ_t E_t. Back, its
δs (δy_t = y_t − label_t) depend on nothing the backward loop computes, so they too are
computed once, before it, and the loop reads each step's.

The same holds for a share of a sum: the inputs' share of a gate, W x_t + b in
z_t = U h_{t−1} + W x_t + b, is computed for every step before the forward loop, and the
output side's share of a δ, W_yᵀ δy_t in δh_t = W_yᵀ δy_t + Uᵀ δz_{t+1}, before the backward
loop; each step adds its own.

Only equations whose numpy code means the same on arrays with the steps first are hoisted:
elementwise forms, products with constants on the left (W_y h_t: numpy's matmul takes the
steps as a batch), sums over rows or columns, and a sum over everything in the loss, or in
the losses it adds up with constant coefficients (E = E1 + ½ E2), which over all steps at
once is Σ_t E_t. If any equation of the output side is of another form (a transpose, a
softmax down the rows, a slice of rows), that side stays in the loops. An equation that
reads nothing of any step (δt_t = 1 1ᵀ, a weight's decay V ⊙ V) is computed once and viewed
as that value at every step, so that each step reads it and a sum over everything counts it
once a step.
"""

import functools
from dataclasses import dataclass, field

from sympy import HadamardPower, HadamardProduct, MatAdd, MatMul, MatrixSymbol, OneMatrix
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from .algebra import Next
from .naming import Delta


@dataclass
class Hoisted:
    """A recurrent module's equations, split at the loops. `loop` (forward, (key, expression))
    and `backward` ((key, terms)) stay in them; `ahead` runs before the forward loop, `after`
    after it, and `before` (δs, then shares of δs) before the backward loop, each for every
    step at once. `shares` are the sums' shares those compute, as (its key, the key of the
    sum, whether of a δ); `values` and `deltas` are the names of the per-step values and δs
    the hoisted equations read or write: each has an array of every step. `constant` holds
    (whether a δ, key) of the hoisted equations that read nothing of any step (a δ of 1,
    δy_t = 1 1ᵀ): computed once, their arrays are that value at every step (a view)."""

    loop: list
    backward: list
    ahead: list = field(default_factory=list)
    after: list = field(default_factory=list)
    before: list = field(default_factory=list)
    shares: list = field(default_factory=list)
    values: set = field(default_factory=set)
    deltas: set = field(default_factory=set)
    constant: set = field(default_factory=set)

    @functools.cached_property
    def keys(self):
        """The forward keys computed after the loop."""
        return {key for key, _ in self.after}


class AllSteps:
    """A module's names, but a value or δ that `hoisted` has of every step at once is named
    as that array (y → y_all, δy → delta_y_all): for printing the hoisted equations."""

    def __init__(self, names, hoist):
        self.names, self.hoist = names, hoist
        for name in sorted(hoist.values | hoist.deltas):
            names.add(self.key(name), f"{names.value(name)}_all")

    @staticmethod
    def key(name):
        return f"{name}, all steps"

    def value(self, name):
        return self.names.value(self.key(name) if name in self.hoist.values else name)

    def delta(self, name):
        return self.names.delta(self.key(name) if name in self.hoist.deltas else name)

    def of_every_step(self, expr):
        """Whether `expr` reads an array of every step (steps first), not only what is the
        same at every step (parameters, inputs that are not sequences)."""
        return any(name in (self.hoist.deltas if delta else self.hoist.values)
                   for delta, name in map(_name, expr.free_symbols))

    def __getattr__(self, attribute):  # dimensions, functions: as the module names them
        return getattr(self.names, attribute)


def share_key(key, delta):
    """The key of the hoisted share of the sum `key` (of its δ, if `delta`)."""
    return f"{'δ' if delta else ''}{key}, outside the loop"


def hoisted(der, forward, backward, runs=()):
    """Split `forward` ((key, expression)) and `backward` ((key, terms)) of a recurrent `der`
    at the loops, as `Hoisted`. `runs` are keys the loop caches as whole runs of rows
    (fusion's): those stay."""
    forward, backward = list(forward), list(backward)
    if not der.recurrent:
        return Hoisted(forward, backward)
    defined = {key: expr for key, expr in forward}
    stepping = {*defined, *der.states, *der.sequences}
    tail, summed = _tail(der, defined, forward, backward, runs, stepping)
    hoist = Hoisted([(k, e) for k, e in forward if k not in tail],
                    [(k, t) for k, t in backward if k not in tail],
                    after=[(k, e) for k, e in forward if k in tail],
                    before=[(k, t) for k, t in backward if k in tail])
    hoist.loop = [(k, _shared(hoist, k, e, stepping, {*defined, *der.states}))
                  for k, e in hoist.loop]
    outside = {k for k, _ in hoist.before}
    hoist.backward = [(k, _shared_delta(hoist, k, terms, stepping, outside))
                      for k, terms in hoist.backward]
    read = {_name(s) for _, e in [*hoist.ahead, *hoist.after] for s in e.free_symbols} | \
           {_name(s) for _, terms in hoist.before for t in terms for s in t.free_symbols}
    shared = {key for key, _, _ in hoist.shares}
    hoist.values = {n for delta, n in read if not delta and n in stepping} | tail | shared
    hoist.deltas = {n for delta, n in read if delta and n in stepping} | outside
    hoist.constant = {(False, k) for k, e in hoist.after
                      if k not in summed and not _varies(e, stepping)} | \
        {(k not in shared, k) for k, terms in hoist.before
         if not any(_varies(t, stepping) for t in terms)}
    return hoist


def _tail(der, defined, forward, backward, runs, stepping):
    """The keys of the side the next step does not read, if all of it can be hoisted (else
    none), and those of them that are losses the loss adds up (`_summed`)."""
    recurrence = _needed(defined, [carrier for carrier, _ in der.states.values()])
    tail = _needed(defined, [der.loss], recurrence)
    stays = [expr for key, expr in forward if key not in tail]
    summed = _summed(der.loss, [key for key, _ in forward if key in tail], defined)
    read_back = {_name(s)[1] for _, terms in backward for t in terms for s in t.free_symbols
                 if not _name(s)[0]}
    if any(_name(s)[1] in tail for expr in stays for s in expr.free_symbols) or \
            tail & set(runs) or summed & read_back or \
            not all(_over_the_steps(defined[key], summed, stepping) for key in summed) or \
            not all(_stacks(defined[key], stepping, total=key in summed) for key in tail) or \
            not all(_stacks(t, stepping) for key, terms in backward if key in tail
                    for t in terms):
        return set(), set()
    return tail, summed


def _summed(loss, order, defined):
    """The keys among `order` (in the forward order) that reach the loss only through sums
    with constant coefficients (E = E1 + ½ E2), the loss among them. Computed for every step
    at once, a sum over everything in one of them is its sum over the steps as well, as
    Σ_t (E1_t + ½ E2_t) = Σ_t E1_t + ½ Σ_t E2_t; so, as the loss's, it may be hoisted (if
    backward reads none of their values, which are then of all steps)."""
    readers = {key: [] for key in order}
    for reader in order:
        for key in _names(defined[reader]) & readers.keys():
            readers[key].append(reader)
    summed = {loss}
    for key in reversed(order):  # a key's readers come after it
        if readers[key] and all(r in summed and _linear_in(defined[r], key)
                                for r in readers[key]):
            summed.add(key)
    return summed


def _over_the_steps(expr, summed, stepping):
    """Whether every term of `expr`, a loss, is (times a constant) a loss in `summed` or a sum
    over everything of a value of every step: over all steps at once, each is then Σ_t of its
    steps' values. A constant (E = E1 + 3), or a sum of what no step changes (a penalty
    Σ V ⊙ V), would be counted once rather than once a step."""
    for term in _terms(expr):
        matrices = _matrices(term)
        if not (_value_of(matrices) in summed or
                len(matrices) == 3 and _is_ones(matrices[0], rows=1) and
                _is_ones(matrices[2], cols=1) and _varies(matrices[1], stepping)):
            return False
    return True


def _linear_in(expr, key):
    """Whether `expr` is a sum whose terms are free of the value `key` or are it times a
    constant."""
    return all(key not in _names(t) or _value_of(_matrices(t)) == key for t in _terms(expr))


def _terms(expr):
    return expr.args if isinstance(expr, MatAdd) else (expr,)


def _matrices(term):
    """The matrix factors of a term (a scaled product's, but its coefficient)."""
    return [a for a in term.args if a.is_Matrix] if isinstance(term, MatMul) else [term]


def _value_of(matrices):
    """The name of the value that is a term's one matrix factor, or None."""
    if len(matrices) == 1 and isinstance(matrices[0], MatrixSymbol) and \
            not isinstance(matrices[0], Delta):
        return matrices[0].name
    return None


def _shared(hoist, key, expr, stepping, computed):
    """`expr`, with its terms that read the inputs and nothing the loop computes (W x_t + b)
    taken out into `hoist.ahead` as a share, when one of them is a product."""
    terms = list(_terms(expr))
    outside = [t for t in terms if not _names(t) & computed and _stacks(t, stepping)]
    if len(outside) == len(terms) or not any(
            isinstance(t, MatMul) and _names(t) & stepping for t in outside):
        return expr
    share = MatrixSymbol(share_key(key, False), *expr.shape)
    hoist.ahead.append((share.name, outside[0] if len(outside) == 1 else MatAdd(*outside)))
    hoist.shares.append((share.name, key, False))
    return MatAdd(*(t for t in terms if t not in outside), share)


def _shared_delta(hoist, key, terms, stepping, outside):
    """`terms` of δkey, with those that read no δ the backward loop computes (W_yᵀ δy_t, of
    δs computed before it; h_t − label_t, the loss's own) taken out into `hoist.before` as a
    share."""
    hoisted_terms = [t for t in terms if not t.atoms(Next) and _varies(t, stepping) and
                     _stacks(t, stepping) and
                     {a.node_name for a in t.atoms(Delta)} <= outside]
    if not hoisted_terms or len(hoisted_terms) == len(terms):
        return terms
    share = MatrixSymbol(share_key(key, True), *hoisted_terms[0].shape)
    hoist.before.append((share.name, hoisted_terms))
    hoist.shares.append((share.name, key, True))
    return [t for t in terms if t not in hoisted_terms] + [share]


def _needed(defined, wanted, known=frozenset()):
    """The keys of `defined` (key: expression) that computing `wanted` needs, but those in
    `known`: for the states' next values, the recurrence itself; for the loss beyond it,
    the side the next step does not read."""
    needed, stack = set(), list(wanted)
    while stack:
        key = stack.pop()
        if key in defined and key not in needed and key not in known:
            needed.add(key)
            stack += [s.name for s in defined[key].free_symbols if isinstance(s, MatrixSymbol)]
    return needed


def _name(symbol):
    """(whether a δ, the name of its node) of a matrix symbol; (False, None) of a number's."""
    if isinstance(symbol, Delta):
        return True, symbol.node_name
    return False, symbol.name if isinstance(symbol, MatrixSymbol) else None


def _names(expr):
    """The names of the values (not δs) `expr` reads."""
    return {s.name for s in expr.free_symbols
            if isinstance(s, MatrixSymbol) and not isinstance(s, Delta)}


def _stacks(expr, stepping, total=False):
    """Whether `expr`'s numpy code computes it for every step at once when the arrays of the
    `stepping` names have the steps first. `total`: expr is the loss, or a loss it only adds
    up with constant coefficients, whose sum over everything may then be over the steps too."""
    if not expr.is_Matrix or not _varies(expr, stepping):
        return True
    if isinstance(expr, MatrixSymbol):
        return True
    if isinstance(expr, MatAdd):
        return all(_stacks(a, stepping, total) for a in expr.args)
    if isinstance(expr, HadamardProduct):
        return all(_stacks(a, stepping) for a in expr.args)
    if isinstance(expr, HadamardPower):
        return _stacks(expr.base, stepping) and not _varies(expr.exp, stepping)
    if isinstance(expr, ElementwiseApplyFunction):
        return _stacks(expr.expr, stepping)
    if isinstance(expr, MatMul):
        return _product_stacks([a for a in expr.args if a.is_Matrix], stepping, total)
    return False


def _product_stacks(factors, stepping, total):
    """A product that numpy computes step by step: constants times a stepping value on their
    right (a batched matmul), Σ_cols u = u 1 and Σ_rows u = 1ᵀ u (helpers over the last two
    axes), and, for a loss that reaches E only through sums (`total`), 1ᵀ u 1, a sum over
    everything."""
    *left, last = factors
    ones_row = bool(left) and _is_ones(left[0], rows=1)
    if total and ones_row and _is_ones(last, cols=1) and len(left) == 2:
        return _stacks(left[1], stepping)
    if len(factors) == 2 and _is_ones(last, cols=1):
        return _stacks(left[0], stepping)
    if any(_varies(f, stepping) for f in left) or \
            any(isinstance(f, OneMatrix) for f in left[ones_row:]):
        return False
    return _stacks(last, stepping)


def _is_ones(expr, rows=None, cols=None):
    return isinstance(expr, OneMatrix) and (rows is None or expr.shape[0] == rows) and \
        (cols is None or expr.shape[1] == cols)


def _varies(expr, stepping):
    """Whether `expr` reads a value or δ of every step."""
    return any(_name(s)[1] in stepping for s in expr.free_symbols)
