"""Central differences against the generated backward pass, entry by entry, in float64.

A plain central difference D(ε) = (E(p+ε) − E(p−ε)) / 2ε has error O(ε²) plus roundoff of
about ε_mach·|E|/ε, which swamps small gradients when E is large. Three of them, at ε, ε/2
and ε/4, combined by Richardson extrapolation (R(ε) = (4·D(ε/2) − D(ε)) / 3, then
(16·R(ε/2) − R(ε)) / 15), have error O(ε⁶), so ε can be 1e-3 and the roundoff is hundreds of
times smaller than at ε = 1e-6. (Two levels, O(ε⁴), were not enough: random recurrent graphs
with gradients of 10² beside entries of 10⁻¹ were judged wrong by the differences alone.)

A gradient that is exactly zero (a parameter whose effect cancels out) makes the differences
pure roundoff, so the relative error's denominator is floored at what differences of E can
resolve (`resolution`), never at anything larger.

Kinks (ReLU) are kept away from, not tolerated: if any step of the check moves the input of
a kinked function across its kink, the values are drawn again. The tolerance never changes.
"""

import functools
import inspect
import itertools
import numbers
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

import sympy as sp

from .codegen import compile_numpy, loaded, module_names, render_module
from .derivation import Derivation
from .errors import DeriveError
from .functions import elementary
from .graph import Graph
from .printers.numpy_code import NumpyCodePrinter
from .registry import KINK_ARGUMENTS


@dataclass
class GradcheckReport:
    errors: dict        # parameter -> largest relative error over its entries
    tolerance: float
    eps: float          # the finest step a parameter's differences took
    seed: int           # the seed given
    draw: int = 0       # which of its draws was checked: those before put a kink within a step
    undefined: int = 0  # or had a loss (or values from finite inputs) that is not finite
    unjudged: tuple = ()  # parameters a kink within every step kept from being differenced

    @property
    def ok(self):
        return all(e < self.tolerance for e in self.errors.values())

    def __str__(self):
        width = max(map(len, [*self.errors, *self.unjudged]), default=5)
        rows = [f"{'param':<{width}}  max rel. error  ok"]
        rows += [f"{name:<{width}}  {err:14.3e}  {'yes' if err < self.tolerance else 'NO'}"
                 for name, err in self.errors.items()]
        rows += [f"{name:<{width}}  not judged: a kink within every step at every draw"
                 for name in self.unjudged]
        rows.append(f"{'all ok' if self.ok else 'FAILED'} (tolerance {self.tolerance:g}, "
                    f"eps {self.eps:g}, seed {self.seed}{self._passed_over()})")
        return "\n".join(rows)

    def _passed_over(self):
        """Why the draws before the one checked were passed over."""
        kinked = self.draw - self.undefined
        if not self.undefined:
            return f", draw {self.draw}: the draws before it crossed kinks" if kinked else ""
        if not kinked:
            return (f", draw {self.draw}: the loss, or a value it is made of, was not finite "
                    "at the draws before it")
        return (f", draw {self.draw}: of the draws before it, {self.undefined} had a loss, or a "
                f"value it is made of, that is not finite and {kinked} crossed kinks")


def relative_error(a, n, tiny=1e-300):
    """|a − n| / max(|a|, |n|, tiny), entrywise; ∞ where either is not finite (NaN would
    compare below any tolerance, and be lost in a max)."""
    with np.errstate(invalid="ignore"):
        error = np.abs(a - n) / np.maximum(np.maximum(np.abs(a), np.abs(n)), tiny)
    return np.where(np.isfinite(a) & np.isfinite(n), error, np.inf)


def resolution(loss, step):
    """The smallest derivative a difference of losses over `step` resolves in float64: a few
    roundings of E, divided by the step. Below it a value is indistinguishable from 0, so the
    relative error's denominator is never taken smaller than resolution / tolerance."""
    return 8 * np.finfo(np.float64).eps * max(abs(loss), 1.0) / step


def random_inputs(der, dims, rng):
    """Inputs drawn from N(0, 1), sequences T steps long, initial states too, except where an
    operation says how its inputs are drawn (the targets of softmax_cross_entropy one-hot),
    or the input itself does (a causal mask, `Graph.input(…, sample=…)`)."""
    steps = (int(dims["T"]),) if der.recurrent else ()
    shapes = {name: steps * (name in der.sequences) + sized(der.shapes[name], dims)
              for name in der.inputs}
    wanted = {}
    for node in der.graph.nodes:
        for k, sample in (node.op.samples if node.op else {}).items():
            if node.inputs[k].name in shapes:
                wanted.setdefault(node.inputs[k].name, []).append(sample)
    samplers = {name: _serving(name, found) for name, found in wanted.items()}
    samplers.update({n.name: n.attrs["sample"] for n in der.graph.inputs if "sample" in n.attrs})
    inputs = {name: samplers[name](rng, shape) if name in samplers else rng.normal(size=shape)
              for name, shape in shapes.items()}
    for state, (_, initial) in der.states.items():
        inputs[initial] = rng.normal(size=sized(der.shapes[state], dims))
    return inputs


def _serving(name, samplers):
    """Of the ways operations reading input `name` draw it, the one whose draws all of them
    take (one-hot columns are binary cross-entropy's targets too), or a DeriveError."""
    for sample in samplers:
        if all(other is sample or other in getattr(sample, "serves", ()) for other in samplers):
            return sample
    raise DeriveError(f"gradcheck: input {name!r} feeds operations that want it drawn in ways "
                      "no one draw meets; pass inputs=… that suit them all")


class KinkCrossed(Exception):
    """A step of the check crossed a kink: the finite difference there means nothing."""


class KinkedEverywhere(DeriveError):
    """Every draw put a kink within a step: differences cannot judge these gradients."""


class UndefinedEverywhere(DeriveError):
    """The loss was NaN or infinite at every draw: the values lie outside the model's domain."""


def gradcheck(der, dims, seed=0, inputs=None, eps=1e-3, tolerance=1e-6, redraws=20,
              max_entries=None, progress=None):
    """Compare `backward` with central differences for every entry of every parameter.

    Parameters come from the module's `init_params(dims, seed + draw, scheme="normal")` (no
    zero biases or unit gains, which could hide a wrong term), inputs from N(0, 1) drawn by
    [seed, draw] unless given. Where a step of eps would cross a kink, or the differences
    over it have not converged, steps of eps/10 and eps/100 are tried, each parameter its
    own (no finer than 1e-6, where roundoff stays well below the tolerance); where every
    step would cross a kink, the next draw is taken.
    `max_entries` checks only that many entries of each parameter, drawn by `seed`;
    `progress(done, total)` is called after each entry checked.
    """
    dims = checked_sizes(der, dims)
    if not der.params and not der.states:
        raise DeriveError(f"gradcheck: {der.graph.name} has no parameters and no initial "
                          "states, so there is no gradient to check")
    seed = _count("seed", seed, zero=True)
    redraws = _count("redraws", redraws, zero=True)
    eps, tolerance = _positive("eps", eps), _positive("tolerance", tolerance)
    if max_entries is not None:
        max_entries = _count("max_entries", max_entries)
    if progress is not None and not callable(progress):
        raise DeriveError(f"progress must be a function of (done, total), got {progress!r}")
    module = compile_numpy(der)
    kinks, written = _kinks(der, dims), as_written(der, module)
    steps = [step for step in (eps, eps / 10, eps / 100) if step >= min(eps, 1e-6)]
    undefined, kinked, judged, told = 0, 0, None, _Progress(progress)
    for attempt in range(redraws + 1):
        rng = np.random.default_rng([seed, attempt])
        params = module.init_params(dims, seed=seed + attempt, scheme="normal")
        data = random_inputs(der, dims, rng) if inputs is None else \
            {name: np.array(value, dtype=np.float64) for name, value in inputs.items()}
        with np.errstate(all="ignore"):
            loss, cache = module.forward(params, data)
            if not np.isfinite(loss) or _overflowed(module, params, cache, data):
                undefined += 1  # outside the model's domain (log of a negative number), or
                continue        # past float64's range (u¹⁰⁰⁰ of a large u, then σ of it)
            draw = _Draw(attempt, undefined, params, data, loss, cache, _differenced(
                (module, written), params, data, loss, der, kinks, steps, tolerance,
                max_entries, seed, told))
        if not all(np.isfinite(t[0]).all() for t in draw.taken.values() if t is not None):
            undefined += 1  # the loss is not finite a step away
            continue
        if all(t is not None for t in draw.taken.values()):
            break
        kinked += 1  # some parameter's entries have a kink within every step: the next draw,
        judged = judged or draw  # and the first such one's other parameters if none is whole
    else:
        if judged is None:
            raise UndefinedEverywhere(
                f"gradcheck: the loss is not finite at any of {redraws + 1} draws, or is "
                "finite only through values that are not (entries ~ N(0, 1)): an operation is "
                "undefined there, like log or sqrt of a negative number, or values overflow "
                "(exp of a large number, u ** 1000, through a recurrence); "
                "d.gradcheck(der, dims, inputs=…) checks it at inputs in its domain")
        draw = judged
    told.finish()
    errors = _errors(module, draw, tolerance)
    eps = min((step for step, _ in (t[1:] for t in draw.taken.values() if t is not None)),
              default=steps[-1])
    unjudged = tuple(name for name, taken in draw.taken.items() if taken is None)
    report = GradcheckReport(errors, tolerance, eps, seed, draw.attempt, draw.undefined,
                             unjudged)
    if unjudged and report.ok:  # a fault in what could be judged is reported instead
        raise KinkedEverywhere(
            f"gradcheck: {kinked} of {redraws + 1} draws put a kink within a step of "
            f"{steps[-1]:g} of an entry of {', '.join(unjudged)}"
            + (f" ({undefined} had a loss that is not finite)" if undefined else "")
            + (f"; {', '.join(errors)} agreed at draw {draw.attempt}" if errors else "")
            + ". d.gradcheck(der, dims, inputs=…) checks it at inputs away from the kinks")
    return report


@dataclass
class _Draw:
    attempt: int
    undefined: int  # draws before it whose loss was not finite
    params: dict
    data: dict
    loss: float
    cache: dict
    taken: dict     # parameter → (differences, step, entries), or None: a kink in every step


def _differenced(modules, params, data, loss, der, kinks, steps, tolerance, max_entries, seed,
                 told):
    """Each parameter's (and initial state's) central differences at the first of `steps`
    that crosses no kink and over which they have converged, each its own (one curved entry
    of one makes no other's finer): parameter → (differences, step, entries), or None."""
    _, written = modules
    sides = _sides(kinks, written.forward(params, data)[1])
    # the initial states of a recurrent net have gradients too
    wrt = {**params, **{initial: data[initial] for _, initial in der.states.values()}}
    chosen = {name: _chosen_entries(value.shape, max_entries, [seed, k])
              for k, (name, value) in enumerate(wrt.items())}
    told.start(sum(entries[0].size for entries in chosen.values()))
    taken, done = {}, 0
    for name, value in wrt.items():
        def differences(step, value=value, entries=chosen[name], done=done):
            numeric, error = _differences(modules, params, data, value, step, kinks, sides,
                                          entries, told.ticker(done))
            floor = resolution(loss, step / 4)  # what roundoff leaves unresolved
            return numeric, bool(np.all(error <= np.maximum(tolerance * np.abs(numeric), floor)))
        found = _first_converged(differences, steps)
        taken[name] = None if found is None else (*found, chosen[name])
        done += chosen[name][0].size
    return taken


def _errors(module, draw, tolerance):
    """The largest relative error of each parameter differenced at `draw`, over every path
    backward has."""
    with np.errstate(all="ignore"):  # a gradient that is not finite is reported, not warned of
        paths = _every_path(module, draw.params, draw.cache, draw.data)
    errors = {}
    for name, taken in draw.taken.items():
        if taken is not None:
            numeric, step, chosen = taken
            tiny = resolution(draw.loss, step / 4) / tolerance  # the smallest step resolves least
            errors[name] = max(float(np.max(relative_error(grads[name][chosen], numeric[chosen],
                                                           tiny), initial=0.0)) for grads in paths)
    return errors


class _Progress:
    """`progress(done, total)`, told after each entry differenced: never backwards (a finer
    step or a fresh draw goes over entries again), and `total` once, when the check ends."""

    def __init__(self, progress):
        self.progress, self.total, self.shown = progress, 0, 0

    def start(self, total):
        self.total = total

    def ticker(self, done):
        """A function to call after each entry, `done` entries before the first."""
        count = itertools.count(done + 1)

        def tick():
            reached = min(next(count), self.total - 1)
            if self.progress and reached > self.shown:
                self.shown = reached
                self.progress(reached, self.total)
        return tick

    def finish(self):
        if self.progress and self.total:
            self.progress(self.total, self.total)


def _overflowed(module, params, cache, data):
    """Whether values forward computed from finite numbers are not finite, and then the
    gradients are not either: the loss is finite only because a function saturates past
    float64's range (σ(u¹⁰⁰⁰) = 1), and no gradient is to be had there. Where the inputs
    are not all finite (a mask of −∞), or every value is, a gradient that is not finite is
    reported as the error it is. The values are read before backward runs (a backward that
    wrote into its cache would pass its own NaN off as forward's)."""
    if not all(np.isfinite(value).all() for value in [*params.values(), *data.values()]):
        return False
    if all(np.isfinite(np.asarray(value, dtype=float)).all()
           for key, value in cache.items() if key not in ("dims", "dtype")):
        return False
    return not all(np.isfinite(g).all() for g in module.backward(params, cache).values())


SCALE = 0.375  # a δE such as sgd_step hands backward (its lr); 3/8, divided back closely


def _every_path(module, params, cache, data):
    """The gradients `backward` gives, by each way it has of computing them: a recurrent
    module sums small steps' gradients after its loop, larger ones in it (BATCHED_UP_TO),
    and a check at small sizes would otherwise never run the second; seeded with
    δE = `SCALE` rather than 1, as sgd_step seeds it with lr, divided back; and as sgd_step
    takes them, each off its parameter as soon as it is made (`sgd_gradients`)."""
    paths = [module.backward(params, cache),
             {k: v / SCALE for k, v in module.backward(params, cache, SCALE).items()}]
    if moves(module):
        paths.append(sgd_gradients(module, params, data))
    if hasattr(module, "BATCHED_UP_TO"):
        batched_up_to, module.BATCHED_UP_TO = module.BATCHED_UP_TO, 0
        try:
            paths.append(module.backward(params, cache))
        finally:
            module.BATCHED_UP_TO = batched_up_to
    return paths


def moves(module):
    """Whether `module`'s backward moves the parameters itself as sgd_step asks it to."""
    return "moving" in inspect.signature(module.backward).parameters


def sgd_gradients(module, params, data):
    """The gradients sgd_step moves the parameters by, δE = `SCALE` divided back: taken off
    arrays of zeros, exactly; and taken off the parameters themselves, as sgd_step does, to
    see that none moved before its last use (where a later gradient read it moved, or
    read a view of it, those gradients are the ones the parameters moved by)."""
    taken = {k: np.zeros_like(params[k]) for k in module.PARAMS}
    module.backward(params, module.forward(params, data)[1], SCALE, moving=taken)
    moved = {k: v.copy() for k, v in params.items()}
    module.backward(moved, module.forward(moved, data)[1], SCALE, moving=moved)
    return {k: -taken[k] / SCALE if np.allclose(moved[k], params[k] + taken[k], rtol=1e-12,
                                                atol=0) else (params[k] - moved[k]) / SCALE
            for k in module.PARAMS}


def _first_converged(differences, steps):
    """(differences, step) for the first of `steps` that crosses no kink and over which the
    differences have converged (a function as curved as u¹⁰⁰⁰ needs a finer step than
    1e-3), else for the last that crosses no kink; None if every one crosses a kink.
    `differences(step)` gives the differences and whether they converged."""
    found = None
    for step in steps:
        try:
            numeric, converged = differences(step)
        except KinkCrossed:
            continue
        found = numeric, step
        if converged:
            break
    return found


def as_written(der, module):
    """`module`, or where it computes some values in another form (pooling first) a module
    that computes every value as the equations write it: kinks are read off its cache."""
    source = render_module(der, module_names(der), pool_first=False)
    return module if source == module.__source__ else loaded(source, der.graph.name)


def _differences(modules, params, data, value, eps, kinks, sides, entries, tick):
    """Central differences of the loss in the `entries` (index arrays) of `value` (an array of
    params or data), the loss from the first of `modules`, the kinks' sides from the
    second's cache; `tick()` after each. Returns them and an estimate of each one's error."""
    module, written = modules

    def loss_at(index, step):
        saved = value[index]
        value[index] = saved + step
        try:
            loss, cache = module.forward(params, data)
            if written is not module:
                cache = written.forward(params, data)[1]
        finally:
            value[index] = saved
        if any(not np.array_equal(now, before)
               for now, before in zip(_sides(kinks, cache), sides)):
            raise KinkCrossed
        return loss

    def central(index, h):
        return (loss_at(index, h) - loss_at(index, -h)) / (2 * h)

    numeric, error = np.zeros_like(value), np.zeros_like(value)
    for index in zip(*entries):
        d1, d2, d4 = (central(index, eps / k) for k in (1, 2, 4))
        coarse, fine = (4 * d2 - d1) / 3, (4 * d4 - d2) / 3  # Richardson's, over eps and eps/2
        numeric[index] = (16 * fine - coarse) / 15
        error[index] = abs(fine - coarse) / 15  # how far the estimate may still be off
        tick()
    return numeric, error


def _kinks(der, dims):
    """(cache keys, side) for every kink an operation declares: `side` of the cached inputs
    says which side of its kinks each entry is on, and the slope jumps where it changes.
    Inputs of kinked operations are cached: their rules read them."""
    names, kept = module_names(der), {node: name for name, node in der.nodes.items()}
    sizes = {d: int(dims[str(d)]) for d in der.dims}

    def at(expr):
        return expr.subs(sizes) if isinstance(expr, sp.Basic) else expr  # sizes: no text
    kinks = []
    for node in der.graph.nodes:
        for indices, g in (node.op.kinks(node) if node.op and node.op.kinks else ()):
            sources = [node.inputs[k] for k in indices]
            if all(s in kept for s in sources):
                side = functools.partial(g, at) if callable(g) and not isinstance(g, sp.Expr) \
                    else _sign_of(_numeric(g, KINK_ARGUMENTS[:len(indices)]))
                kinks.append(([names.value(kept[s]) for s in sources], side))
    return kinks


def _sign_of(g):
    return lambda *arrays: np.sign(g(*arrays))


def _numeric(g, arguments):
    """g as a numpy function of its arguments (derive's named functions by their definitions)."""
    return sp.lambdify(arguments, elementary(g), modules=[{"np": np}],
                       printer=NumpyCodePrinter(dtype=None))


def _sides(kinks, cache):
    """Which side of each kink every entry is on."""
    return [side(*(np.asarray(cache[k]) for k in keys)) for keys, side in kinks
            if all(k in cache for k in keys)]


def sized(shape, dims):
    """A symbolic shape's numbers at the sizes `dims` (name -> size)."""
    return tuple(int(d.subs({s: int(dims[str(s)]) for s in d.free_symbols})) for d in shape)


def number_count(der, dims):
    """How many numbers the values of every node of `der` take at these sizes, over every
    step: what a check or a worked example holds in memory."""
    steps = int(dims.get("T", 1))
    return sum(int(np.prod(sized(shape, dims))) * (steps if der.per_step(name) else 1)
               for name, shape in der.shapes.items())


# --- argument checks, sampled entries and progress ---

def needed_dims(der):
    """The names of the sizes a check of `der` needs: its dimensions, and T (the number of
    steps) if it is recurrent."""
    names = [str(d) for d in der.dims]
    return names + ["T"] if der.recurrent and "T" not in names else names


def checked_sizes(der, dims):
    """{name: size} of every dimension `der` needs, or a DeriveError naming what is wrong."""
    if isinstance(der, Graph):
        raise DeriveError("gradcheck takes a derivation, not a graph: "
                          "call gradcheck(derive(graph), dims)")
    if not isinstance(der, Derivation):
        raise DeriveError(f"gradcheck takes a derivation (derive(graph)), not "
                          f"{type(der).__name__}")
    if not isinstance(dims, Mapping):
        raise DeriveError(f"dims is a dict of dimension sizes, like {{'H': 4}}, not "
                          f"{type(dims).__name__}")
    given = {str(name): size for name, size in dims.items()}
    missing = [name for name in needed_dims(der) if name not in given]
    if missing:
        raise DeriveError(f"dims has no size for dimension {missing[0]!r}: the check of "
                          f"{der.graph.name} needs {', '.join(needed_dims(der))}")
    sizes = {name: _count(f"the size of dimension {name!r}", given[name])
             for name in needed_dims(der)}
    symbols = {d: sizes[str(d)] for d in der.dims}
    for size, least, why in der.graph.least_sizes():
        if size.subs(symbols) < least:  # the sizes it is made of, unless it is one
            at = "" if size.is_Symbol else \
                " at " + ", ".join(f"{k} = {v}" for k, v in sizes.items())
            raise DeriveError(f"{size} = {size.subs(symbols)}{at}: {why}")
    return sizes


def _count(what, value, zero=False):
    """`value` as an int, if it is an integer (not a bool) above 0, or 0 if `zero` allows it."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1 - zero:
        return int(value)
    raise DeriveError(f"{what} must be a {'non-negative' if zero else 'positive'} integer, "
                      f"got {value!r}")


def _positive(what, value):
    """`value` as a float, if it is a finite real number above 0 (not a bool)."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and \
            0 < value < float("inf"):
        return float(value)
    raise DeriveError(f"{what} must be a positive number, got {value!r}")


def _chosen_entries(shape, max_entries, seed):
    """The index arrays of every entry of an array of `shape`, or of `max_entries` of them,
    drawn without replacement by `seed` (the same entries on every redraw), in order."""
    count = int(np.prod(shape))
    flat = np.arange(count)
    if max_entries is not None and count > max_entries:
        flat = np.sort(np.random.default_rng(seed).choice(count, max_entries, replace=False))
    return np.unravel_index(flat, shape)

