"""Examples for training and prediction: read, checked and put in derive's layout.

People keep data one example per row (N×D; sequences N×T×D); a generated module takes one
example per column (D×N; sequences T×D×N). A source is
    "digits"     scikit-learn's bundled 8×8 digits (no download): 64 pixels and a label,
    FILE.npz     an array per model input, named after it (read without pickles),
    FILE.csv     a header row, a label column (named like the model's target, else "label")
                 and the features of the model's one feature input,
or, in Python, a dict of arrays. Integer class labels (one axis fewer than the target) are
one-hot encoded; nothing from a data file is ever evaluated.
"""

import csv
import importlib
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .errors import DeriveError
from .output import quoted

INSTALL = 'pip install "derive[train]"'


class DataError(DeriveError):
    """The data do not fit the model: a missing array, a bad label, a NaN, a wrong size."""


COLUMNS = "__columns__"  # (read) a CSV file's feature columns by name, beside its arrays


def optional(name, purpose, error):
    """The optional module `name` (an extra of derive), or `error` saying how to install it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise error(f"{purpose} needs {name.split('.')[0]}: {INSTALL}") from None


@dataclass(frozen=True)
class Roles:
    features: tuple   # the inputs the data give
    target: str       # the loss's target input, or None
    initial: tuple    # initial states (h0) of a recurrent model: zeros, not data

    @property
    def scaled(self):
        """The features that training standardises: not the target, even where the model
        reads it as a feature too (an autoencoder's x), so that outputs stay in its units."""
        return tuple(n for n in self.features if n != self.target)


def roles(module):
    """What each of a module's inputs is: its target, its initial states (h0, which start at
    zero) and its features, the rest, and the target too where the prediction reads it (an
    autoencoder, loss = squared_error(out, x))."""
    target, initial = module.LOSS["target"], module.STATES
    features = tuple(n for n in module.INPUTS if n not in initial
                     and (n != target or n in module.PREDICTS_FROM))
    return Roles(features, target, initial)


def examples(data, module, dims=None, targets=True, columns=None):
    """The arrays the model reads from `data` (a source or a dict of arrays in the user's
    layout), in derive's layout; the sizes of the dimensions, `dims` and those read off the
    arrays; and the names of a CSV file's feature columns (input → names). With `targets`,
    the loss's target is required (and one-hot encoded). `columns` (input → names, as
    training read them) puts a CSV file's columns in that order, by name."""
    role = roles(module)
    where = quoted(data) if isinstance(data, str) else "the data"
    arrays = read(data, role, targets, [n for names in (columns or {}).values() for n in names])
    named = arrays.pop(COLUMNS, {})
    for name, expected in (columns or {}).items():
        if name in named:
            arrays[name] = _by_name(where, arrays[name], named[name], expected)
            named[name] = expected
    needed = list(dict.fromkeys(
        [*role.features, *([role.target] if targets and role.target else [])]))
    missing = [name for name in needed if name not in arrays]
    if missing:
        raise DataError(f"{where} has no array {quoted(missing[0])}: the model reads "
                        f"{', '.join(needed)}; {where} holds {', '.join(arrays) or 'nothing'}")
    unread = [name for name in arrays if name not in needed and name != role.target]
    if unread:  # found by a hunt: a sequence's h0 given, and silently not used
        states = [name for name in unread if name in role.initial]
        why = (f": {', '.join(states)} {'is' if len(states) == 1 else 'are'} the initial "
               "state of every sequence, which training and prediction start at 0") if states \
            else ""
        raise DataError(f"{where} has {'arrays' if len(unread) > 1 else 'an array'} the model "
                        f"does not read, {', '.join(map(quoted, unread))}{why}; the model reads "
                        f"{', '.join(needed)}")
    each = module.EXAMPLES["dim"]
    for name in needed:  # (a hunt: m[H, 1] was "taken as 1×H (one example per row)")
        if each is not None and module.SHAPES[name][-1] != each:
            raise DataError(f"input {quoted(name)} is {'×'.join(map(str, module.SHAPES[name]))}"
                            f", with no column for each example ({each}): data give every "
                            f"input one example per row, so training and prediction take "
                            f"only inputs with one ({name} could be a parameter)")
    arrays = {name: _numbers(name, arrays[name]) for name in needed}
    _same_count(arrays)
    dims = dict(dims or {})
    if targets and role.target:
        arrays[role.target] = _targets(role.target, arrays[role.target],
                                       module.SHAPES[role.target], dims, _classifies(module))
    arrays = {name: _shaped(a, module.SHAPES[name]) for name, a in arrays.items()}
    dims = _sizes(module, arrays, dims)
    return {name: np.moveaxis(a, 0, -1) for name, a in arrays.items()}, dims, named


def _by_name(where, table, names, expected):
    """The columns of `table` (named `names`) in the order of `expected`: training's."""
    if sorted(names) != sorted(expected):
        missing = [n for n in expected if n not in names] or ["none"]
        extra = [n for n in names if n not in expected] or ["none"]
        raise DataError(f"{where} has other feature columns than training had: missing "
                        f"{', '.join(missing)}; not trained on {', '.join(extra)}")
    return table[:, [names.index(n) for n in expected]]


def read(data, role, targets=True, named=()):
    """A dict of arrays in the user's layout from a source or a dict; `named`, the column
    names training read, which a CSV file's header may be even where they are numbers."""
    if isinstance(data, Mapping):
        return dict(data)
    if not isinstance(data, str):
        raise DataError(f"data is a source ('digits', FILE.npz, FILE.csv) or a dict of arrays, "
                        f"not {type(data).__name__}")
    if data == "digits":
        images, labels = optional("sklearn.datasets", "--data digits",
                                  DataError).load_digits(return_X_y=True)
        return _one_input(role, images, labels, quoted(data))
    if data.endswith(".npz"):
        return read_npz(data)
    if data.endswith(".csv"):
        return _read_csv(data, role, targets, named)
    raise DataError(f"unknown data source {quoted(data)}: give digits, FILE.npz or FILE.csv")


def _one_input(role, features, labels, where):
    """The arrays of a source with one table of features (and maybe labels)."""
    if len(role.features) != 1:
        raise DataError(f"{where} gives one table of features, but the model reads "
                        f"{', '.join(role.features)}: give an .npz with an array for each")
    arrays = {role.features[0]: features}
    if role.target and role.target not in role.features and labels is not None:
        arrays[role.target] = labels  # (a target that is the features: they are its values)
    return arrays


def read_npz(path, what="data file"):
    """Every array of the .npz `what` at `path`; pickled objects are refused, never loaded."""
    try:
        file = np.load(path, allow_pickle=False)
    except OSError as exc:
        raise DataError(f"cannot read {what} {quoted(path)}: {exc.strerror or exc}") from None
    except (ValueError, EOFError, zipfile.BadZipFile):
        file = None
    if not isinstance(file, np.lib.npyio.NpzFile):
        raise DataError(f"{quoted(path)} is not an .npz archive of arrays")
    with file:
        return {name: _array(path, file, name) for name in file.files}


def _array(path, file, name):
    try:
        return file[name]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        why = "holds Python objects" if "allow_pickle" in str(exc) else "cannot be read"
        raise DataError(f"{quoted(path)}: array {quoted(name)} {why}; derive reads only "
                        "arrays of numbers") from None


def _read_csv(path, role, targets, named=()):
    """The features and labels of a CSV file with a header row; a bad entry names its row and
    column. A first row of numbers is no header, unless they are the names training read
    (`named`: columns named 0, 1, 2)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:  # a BOM is not a name
            rows = csv.reader(file)
            header = [name.strip() for name in next(rows, [])]
            table = [_csv_row(path, rows.line_num, header, row) for row in rows if row]
    except OSError as exc:
        raise DataError(f"cannot read data file {quoted(path)}: {exc.strerror}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{quoted(path)} is not a readable CSV file: {exc}") from None
    if not table:
        raise DataError(f"{quoted(path)} holds no examples: a header row, then one row each")
    # (a hunt: np.savetxt writes no header, and the first example was taken for one)
    if all(_is_number_text(name) for name in header) and not set(header) <= set(named):
        raise DataError(f"{quoted(path)} has no header row: its first row, "
                        f"{', '.join(header[:4])}{', …' * (len(header) > 4)}, is numbers; "
                        "give the columns names on a first row of their own")
    repeated = next((name for k, name in enumerate(header) if name in header[:k]), None)
    if repeated is not None:  # columns are matched by name: two of one name are ambiguous
        raise DataError(f"{quoted(path)} names two columns {quoted(repeated)}: give each "
                        "column a name of its own")
    table = np.array(table)
    labelled = role.target and role.target not in role.features  # (an autoencoder's is not)
    label = next((n for n in (role.target, "label") if n and n in header), None) \
        if labelled else None
    if targets and labelled and label is None:
        called = " or ".join(map(quoted, dict.fromkeys((role.target, "label"))))
        raise DataError(f"{quoted(path)} has no label column: name it {called} "
                        f"(its columns: {', '.join(header)})")
    keep = [i for i, name in enumerate(header) if name != label]
    if not keep:
        raise DataError(f"{quoted(path)} has no feature columns, only its label column "
                        f"{quoted(label)}")
    labels = table[:, header.index(label)] if label else None
    arrays = _one_input(role, table[:, keep], labels, quoted(path))
    return {**arrays, COLUMNS: {role.features[0]: [header[i] for i in keep]}}


def _is_number_text(text):
    """Whether a CSV entry reads as a number (1, −0.5, 1e3, nan), as a header name never would."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def _csv_row(path, line, header, row):
    if len(row) != len(header):
        raise DataError(f"{quoted(path)}: row {line} has {len(row)} entries; the header has "
                        f"{len(header)}")
    values = []
    for name, entry in zip(header, row):
        try:
            value = None if "_" in entry else float(entry)  # float() reads 1_000 as 1000
        except ValueError:
            value = None
        if value is None or not np.isfinite(value):
            raise DataError(f"{quoted(path)}: row {line}, column {quoted(name)}: {quoted(entry)} "
                            "is not a finite number")
        values.append(value)
    return values


def _numbers(name, array):
    """`array` as a numeric numpy array with finite entries, or an error naming it."""
    array = np.asarray(array)
    if array.dtype.kind not in "biuf":
        raise DataError(f"array {quoted(name)} holds {array.dtype}, not numbers")
    if array.ndim == 0 or array.size == 0:  # no examples, or no steps (T = 0), or no features
        raise DataError(f"array {quoted(name)} holds no values (shape {array.shape})")
    bad = ~np.isfinite(array)
    if bad.any():
        example = np.argwhere(bad)[0][0]
        raise DataError(f"array {quoted(name)} holds {array[np.nonzero(bad)][0]} (example "
                        f"{example}): the data must be finite numbers")
    return array


def _same_count(arrays):
    counts = {name: len(a) for name, a in arrays.items()}
    if len(set(counts.values())) > 1:
        held = ", ".join(f"{name} has {n}" for name, n in counts.items())
        raise DataError(f"the arrays hold different numbers of examples (N): {held}")


def _classifies(module):
    """Whether the loss takes a distribution over classes, so that a label stands for one."""
    return module.LOSS["name"] == "softmax_cross_entropy"


MOST_CLASSES = 100_000  # classes a classifier's labels may imply, one-hot encoded


def _targets(name, array, spec, dims, labels):
    """A value per example (an array one axis short of the target's, when the target has
    more than one row): for a classifier (`labels`), integer class labels, one-hot encoded;
    else a target of one row. Any other array as it is."""
    rows = spec[-2]
    if array.ndim != len(spec) - 1 or rows == 1:
        return array
    if not labels:
        return array[..., None]
    classes = rows if isinstance(rows, int) else dims.get(rows)

    def refuse(wrong, why):
        if wrong.any():
            example = np.argwhere(wrong)[0][0]
            raise DataError(f"array {quoted(name)}: label {array[wrong][0]:g} of example "
                            f"{example} {why}")

    refuse(array != np.round(array), "is not a whole number; class labels are 0, 1, 2, …")
    refuse(array < 0, "is negative; class labels are 0, 1, 2, …")
    if classes is None:
        refuse(array >= MOST_CLASSES, f"is too large: the model would have that many classes "
                                      f"(at most {MOST_CLASSES:,} are read off the labels; "
                                      f"give the size of {rows} with --dim)")
        classes = int(array.max()) + 1
        if classes == 1:
            raise DataError(f"array {quoted(name)}: every label is 0, so the model would have "
                            "1 class; a classifier needs labels of 2 classes or more")
    refuse(array >= classes, f"is out of range: the model has {classes} classes, 0 to "
                             f"{classes - 1}")
    return np.eye(classes)[array.astype(int)]


def _shaped(array, spec):
    """`array` with a trailing axis of 1 added where the model's input has one row."""
    if array.ndim == len(spec) - 1 and spec[-2] == 1:
        return array[..., None]
    return array


def _sizes(module, arrays, dims):
    """`dims` and the sizes read off the arrays (user layout), checked against the model."""
    for name, array in arrays.items():
        spec = module.SHAPES[name]
        user = (spec[-1], *spec[:-1])
        taken = f"the model takes {name} as {'×'.join(map(str, user))} (one example per row)"
        if array.ndim != len(spec):
            raise DataError(f"array {quoted(name)} has shape {array.shape}: {taken}")
        for size, dim in zip(array.shape, user):
            if dim in module.COMPOUND:
                continue
            expected = dim if isinstance(dim, int) else dims.setdefault(dim, size)
            if size != expected:
                known = "" if isinstance(dim, int) else f", and {dim} = {expected}"
                raise DataError(f"array {quoted(name)} has shape {array.shape}: {taken}{known}")
    return dims


def statistics(arrays, names):
    """The mean of each feature (row) of the arrays `names`, over examples and steps, and one
    standard deviation for all the features of an array, that of the features centred, keyed
    "x.mean" and "x.std" (one entry a feature). Centred, since each feature is centred on its
    own: features whose means differ are not divided by the spread between their means (a
    hunt: means 1000 and 0, each of spread 1, reached training at 0.002); the means taken off
    twice (features each of equal entries were divided by their means' rounding, 1e-17). One
    scale keeps the features' relative sizes: a kernel shared over an image's positions needs
    every position on one scale, and a pixel that is nearly always 0 is not magnified into
    noise (lenet on the digits, seeds 0–3: 0.955–0.972 test accuracy scaled per feature,
    0.964–0.972 so). An array that is constant is scaled by 1. Both are taken in float64 (a
    hunt: float16 squares underflowed) of the array over its largest magnitude, then scaled
    back: features near 1e300 would square past float64."""
    found = {}
    for name in names:
        array = np.asarray(arrays[name], dtype=np.float64)
        axes = tuple(i for i in range(array.ndim) if i != array.ndim - 2)
        largest = float(np.max(np.abs(array), initial=0.0)) or 1.0
        unit = array / largest
        mean = unit.mean(axis=axes, keepdims=True)
        centred = unit - mean
        rest = centred.mean(axis=axes, keepdims=True)  # the first mean's rounding: a feature
        mean, centred = mean + rest, centred - rest     # of equal entries centres to 0 exactly
        deviation = np.sqrt(np.mean(centred ** 2)) if unit.size else 0.0
        found[f"{name}.mean"] = mean.reshape(-1) * largest
        found[f"{name}.std"] = np.full(array.shape[-2], deviation * largest or 1.0)
    return found


def standardised(arrays, scaling):
    """The arrays with each feature that `scaling` has statistics for centred and scaled."""
    out = dict(arrays)
    for name in arrays:
        if f"{name}.mean" in scaling:
            mean, std = scaling[f"{name}.mean"], scaling[f"{name}.std"]
            rows = arrays[name].shape[-2]
            if not mean.shape == std.shape == (rows,):
                raise DataError(f"the scaling of {quoted(name)} is for {mean.shape[0]} "
                                f"features (its deviation for {std.shape[0]}); the data's "
                                f"{quoted(name)} has {rows}")
            out[name] = (arrays[name] - mean[:, None]) / std[:, None]
    return out


def take(arrays, index):
    """The examples `index` (the last axis) of each array."""
    return {name: a[..., index] for name, a in arrays.items()}
