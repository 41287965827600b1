"""The numbers of a worked example: given in Python or in a JSON file, or drawn from a seed,
and checked against the model before anything is computed.

Each array is a nested list (or numpy array) of rows; a sequence adds the time axis first
(T×rows×cols), and a 1×1 array may be a bare number. Entries are numbers: ints, floats,
`fractions.Fraction`, sympy Rationals, or strings of an integer, a fraction or a decimal
("1/3", "0.25"), which `Fraction` reads exactly. Text is never evaluated. When every entry
(and the learning rate) is exact, so is the example; one float makes it float64 throughout.

A values file is one JSON object, an array by name: {"x": [[1], [2]], "W1": [[1, 0], ...]}.
"""

import json
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from numbers import Integral

import numpy as np
import sympy as sp

from .errors import DeriveError
from .gradcheck import checked_sizes, needed_dims, number_count, random_inputs
from .output import quoted

MAX_VALUES_BYTES = 10_000_000
MAX_NUMBERS = 100_000           # a worked example is for small sizes
WORKED_DIMS = {"D": 2, "H": 3, "K": 2, "N": 1, "T": 2, "d_k": 2, "D_ff": 3}
OTHER_SIZE = 2                  # of a dimension WORKED_DIMS does not size
DECIMALS = 1                    # random values are rounded to this many decimals, 0.3, −1.2
# text Fraction reads exactly, and quickly (an exponent of at most 3 digits): 1/3, 2.5e-3
_EXACT_TEXT = re.compile(r"[+-]?(\d+/\d+|(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,3})?)\Z",
                         re.ASCII)  # 0-9 only: not ١ or the full-width １ (a hunt)
_LONGEST_TEXT = 40


class ValuesError(DeriveError):
    """Values that do not fit the model: a missing, unknown or misshapen array, or an entry
    that is not a number."""


@dataclass(frozen=True)
class Given:
    """Checked values: each an array of sympy Rationals if `exact`, else of float64."""

    inputs: dict     # inputs and initial states by name
    params: dict
    lr: object       # None, a Rational or a float
    exact: bool

    def floats(self):
        """(params, inputs) in float64, as the generated module takes them."""
        return ({n: v.astype(np.float64) for n, v in self.params.items()},
                {n: v.astype(np.float64) for n, v in self.inputs.items()})

    def as_floats(self):
        """The same values in float64."""
        params, inputs = self.floats()
        return Given(inputs, params, None if self.lr is None else float(self.lr), False)


def expected(der):
    """The names a worked example needs: inputs (with initial states) and parameters."""
    return {"input": [*der.inputs, *(initial for _, initial in der.states.values())],
            "parameter": der.params}


def checked(der, inputs, params, lr=None):
    """`Given` values for `der`, or a ValuesError naming the array that is wrong."""
    names = expected(der)
    arrays = {}
    for group, values, other in (("input", inputs, "parameter"), ("parameter", params, "input")):
        if not isinstance(values, Mapping):
            raise ValuesError(f"{group}s are a dict of arrays by name, not "
                              f"{type(values).__name__}")
        for name in values:
            if name not in names[group]:
                raise ValuesError(_unknown(der, name, f"{group}s", names, other))
        for name in names[group]:
            if name not in values:
                raise ValuesError(f"no value for the {group} {quoted(name)} of {der.graph.name}")
            arrays[name] = _array(f"{group} {quoted(name)}", values[name],
                                  3 if name in der.sequences else 2)
    count = sum(a.size for a in arrays.values())
    if count > MAX_NUMBERS:
        raise ValuesError(f"the values are {count:,} numbers; a worked example takes at most "
                          f"{MAX_NUMBERS:,}")
    rate = None if lr is None else _rate(lr)
    exact = all(_exact(a) for a in arrays.values()) and (rate is None or _exact(rate))
    number = _rational if exact else float
    return Given({n: _map(number, arrays[n]) for n in names["input"]},
                 {n: _map(number, arrays[n]) for n in names["parameter"]},
                 None if rate is None else number(rate), exact)


def _unknown(der, name, where, names, other):
    if name in names[other]:
        return f"{quoted(name)} is {'an' if other == 'input' else 'a'} {other} of " \
               f"{der.graph.name}: give it with the {other}s, not the {where}"
    return f"the {where} name {quoted(name)}, which {der.graph.name} does not have; " \
           f"its {where} are {', '.join(names[where[:-1]]) or 'none'}"


def _array(what, value, ndim):
    """`value` as an object array of checked numbers, shaped with `ndim` axes (a bare number
    is a 1×1 array)."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "iufO":
            raise ValuesError(f"{what} is an array of {value.dtype}, not of numbers")
        if value.size > MAX_NUMBERS:
            raise ValuesError(f"{what} has {value.size:,} numbers; a worked example takes at "
                              f"most {MAX_NUMBERS:,}")
        value = value.tolist()
    entries = []
    shape = _shape(what, value, entries, ())
    if shape == () and ndim == 2:
        shape = (1, 1)
    if len(shape) != ndim:
        layout = "time × rows × columns" if ndim == 3 else "rows × columns, like [[1], [2]]"
        raise ValuesError(f"{what} must be a {ndim}-d array ({layout}), got one with "
                          f"{len(shape)} axes")
    if 0 in shape:
        raise ValuesError(f"{what} is empty (shape {shape})")
    array = np.empty(len(entries), dtype=object)
    array[:] = [_number(what, x, at) for x, at in entries]
    return array.reshape(shape)


def _shape(what, value, entries, at):
    """The shape of nested lists, collecting (entry, index) pairs; ragged lists are an error."""
    if not isinstance(value, (list, tuple)):
        entries.append((value, at))
        return ()
    shapes = {_shape(what, item, entries, (*at, k)) for k, item in enumerate(value)}
    if len(shapes) > 1:
        where = "".join(f"[{k}]" for k in at) or "its rows"
        raise ValuesError(f"{what} is ragged: the lists in {where} differ in length or depth")
    return (len(value), *(shapes.pop() if shapes else ()))


def _number(what, x, at):
    """An entry as an int, a Fraction or a float, or a ValuesError naming where it is."""
    def bad(reason):
        where = "".join(f"[{k}]" for k in at)
        entry = f": the entry {where} is" if where else " is"
        shown = quoted(x, 40) if isinstance(x, str) else repr(x)[:40]
        return ValuesError(f"{what}{entry} {shown}, {reason}")

    def in_range(value):  # of float64, in which the example is checked (as JSON's 1e400)
        if abs(value) > Fraction(np.finfo(np.float64).max):
            raise bad("beyond float64's range, in which the example is checked")
        if value and float(value) == 0:
            raise bad("below float64's smallest (about 5e-324), in which the example is "
                      "checked: it would be 0 there")
        return value

    if isinstance(x, bool) or x is None:
        raise bad("not a number")
    if isinstance(x, Integral):
        return in_range(int(x))
    if isinstance(x, (Fraction, sp.Rational)):
        return in_range(Fraction(int(x.numerator), int(x.denominator)) if isinstance(x, Fraction)
                        else Fraction(int(x.p), int(x.q)))
    if isinstance(x, str):
        if len(x) > _LONGEST_TEXT or not _EXACT_TEXT.match(x.strip()):
            raise bad("not a number (text may be an integer, a fraction or a decimal: "
                      "3, 1/3, 0.25, 1e-3)")
        if "/" in x and int(x.split("/")[1]) == 0:
            raise bad("a fraction over 0")
        return in_range(Fraction(x.strip()))
    if isinstance(x, (float, np.floating, sp.Float)):
        if not np.isfinite(float(x)):
            raise bad("not a finite number")
        return float(x)
    raise bad("not a number")


def _rate(lr):
    rate = _number("the learning rate lr", lr, ())
    if not rate > 0:
        raise ValuesError(f"the learning rate lr must be positive, got {lr!r}")
    return rate


def _exact(x):
    if isinstance(x, np.ndarray):
        return all(_exact(e) for e in x.flat)
    return not isinstance(x, float)


def _rational(x):
    return sp.Rational(x.numerator, x.denominator) if isinstance(x, Fraction) else sp.Integer(x)


def _map(number, array):
    """`array` with each entry made a sympy Rational, or float64."""
    if number is float:
        return array.astype(np.float64)
    out = np.empty(array.shape, dtype=object)
    out.flat[:] = [number(x) for x in array.flat]
    return out


# --- a values file ----------------------------------------------------------------------

def read_values(der, path):
    """(inputs, params) from a JSON values file: one object, an array by name."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block, a device not end
            kind = "a folder" if os.path.isdir(path) else "not a regular file"
            raise ValuesError(f"{quoted(path)} is {kind}: a values file is a JSON text file")
        with open(path, "rb") as file:
            data = file.read(MAX_VALUES_BYTES + 1)
    except FileNotFoundError:
        raise ValuesError(f"no values file {quoted(path)}") from None
    except OSError as exc:
        raise ValuesError(f"cannot read the values file {quoted(path)}: {exc.strerror}") from None
    if len(data) > MAX_VALUES_BYTES:
        raise ValuesError(f"the values file {quoted(path)} is larger than "
                          f"{MAX_VALUES_BYTES:,} bytes; a worked example is small")
    try:
        values = json.loads(data.decode("utf-8"), parse_constant=_no_constant,
                            object_pairs_hook=_unique_keys)
    except UnicodeDecodeError:
        raise ValuesError(f"the values file {quoted(path)} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ValuesError(f"{quoted(path)}:{exc.lineno}:{exc.colno}: not JSON: "
                          f"{exc.msg}") from None
    except ValueError as exc:  # a repeated name, NaN, or an integer of thousands of digits
        raise ValuesError(f"the values file {quoted(path)}: {exc}") from None
    except RecursionError:
        raise ValuesError(f"the values file {quoted(path)} nests its lists too deeply") from None
    if not isinstance(values, dict):
        raise ValuesError(f"the values file {quoted(path)} holds one JSON object, an array by "
                          'name: {"x": [[1], [2]], "W1": [[0.5, -1], [2, 0]], ...}')
    names = expected(der)
    for name in values:
        if not any(name in group for group in names.values()):
            raise ValuesError(f"the values file {quoted(path)} names {quoted(name)}, which "
                              f"{der.graph.name} does not have; its inputs are "
                              f"{', '.join(names['input'])} and its parameters "
                              f"{', '.join(names['parameter'])}")
    return ({n: v for n, v in values.items() if n in names["input"]},
            {n: v for n, v in values.items() if n in names["parameter"]})


def _no_constant(name):
    raise ValueError(f"{name} is not a number a worked example takes")


def _unique_keys(pairs):
    found = dict(pairs)
    if len(found) < len(pairs):
        seen = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ValueError(f"{quoted(twice)} is given twice")
    return found


# --- values drawn from a seed ---------------------------------------------------------

def worked_sizes(der, given):
    """The size of every dimension: given (by --dim), else small (WORKED_DIMS)."""
    needed = needed_dims(der)
    for name in given:
        if name not in needed:
            raise ValuesError(f"--dim {quoted(name)}: {der.graph.name} has no such dimension; "
                              f"its sizes are {' '.join(needed)}")
    return checked_sizes(der, {name: given.get(name, WORKED_DIMS.get(name, OTHER_SIZE))
                               for name in needed})


def random_values(der, module, sizes, seed):
    """(inputs, params) drawn as the gradient check draws them, rounded to DECIMALS."""
    count = number_count(der, sizes)
    if count > MAX_NUMBERS:
        raise ValuesError(f"at these sizes the values of {der.graph.name} are {count:,} "
                          f"numbers; a worked example takes at most {MAX_NUMBERS:,}: choose "
                          "smaller --dim sizes")
    params = module.init_params(sizes, seed=seed, scheme="normal")
    inputs = random_inputs(der, sizes, np.random.default_rng([seed, 1]))  # not init_params' draws
    return ({n: np.round(v, DECIMALS) for n, v in inputs.items()},
            {n: np.round(v, DECIMALS) for n, v in params.items()})
