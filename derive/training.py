"""Training a model's generated module on data, and predicting with what it learnt.

A run is fixed by its seed. One `numpy.random.default_rng(seed)` draws, in this order, the
held-out split (a permutation of the N examples, whose first round(val·N) are held out) and
then, every epoch, the order of the training examples (a permutation of them), which
`np.array_split` cuts into max(1, n // batch_size) batches of nearly equal size, so that no
batch is much smaller than batch_size. The parameters start from the module's
`init_params(dims, seed=seed, scheme="auto")`. The features are centred with their means over
the training examples only, and scaled by one standard deviation of each input's features
(`derive.data.statistics`); the held-out examples are never trained on and choose nothing.
"""

import io
import json
import numbers
import os
import sys
import zipfile
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import numpy as np

from .codegen import compile_numpy
from .data import (DataError, examples, optional, read_npz, roles, standardised, statistics,
                   take)
from .derivation import Derivation
from .errors import DeriveError
from .graph import Graph
from .operations import OPS
from .optimizers import LEARNING_RATES
from .output import MARK, claim, quoted, write

CLASSIFIERS = ("softmax_cross_entropy", "binary_cross_entropy")
MEASURED_AT_ONCE = 1000   # examples a forward pass takes when the figures are measured
MODEL_KEY = "__model__"     # what the parameters fit: a model's shapes and loss (`fitted`)
MARK_KEY = "__derive__"   # the entry that marks an .npz as derive's (names are identifiers)


class TrainingError(DeriveError):
    """Training cannot go on: a bad option, a size nobody gave, a run that diverged."""


class Trained(dict):
    """Trained parameters (name -> array) that carry the features' scaling their training
    standardised with (`scaling`), so that `predict` sees new data as training saw it."""

    def __init__(self, params, scaling):
        super().__init__(params)
        self.scaling = scaling

    def copy(self):
        """A copy that carries the scaling too (a hunt: params.copy() predicted on unscaled
        features, 0.43 right where the parameters gave 0.765)."""
        return Trained(self, self.scaling)


@dataclass
class Result:
    params: dict    # the module's parameters after the last epoch
    history: dict   # figure -> one value per epoch ("loss", "val_loss", "accuracy", …)
    scaling: dict   # "x.mean", "x.std" of each feature input, over the training examples;
    #                 "x.columns", a CSV file's feature columns by name, as training read them
    held_out: np.ndarray  # the indices of the held-out examples, in the order of the data
    model: str = ""  # what the parameters fit (`fitted`), saved with them


def train(model, data, epochs=10, batch_size=32, optimizer="adam", lr=None, seed=0, val=0.2,
          dims=None, progress=True):
    """Train `model` (a derivation, `derive(graph)`, or its module, `compile_numpy(der)`) on
    `data` and return `(params, history)`.

    `data` is "digits", "FILE.npz", "FILE.csv" or a dict of arrays, one example per row
    (`derive.data`); `dims` sizes the dimensions the data do not (the hidden width H).
    `optimizer` is "sgd", "momentum" or "adam"; `lr` is by default LEARNING_RATES' for it.
    `val` (0 for none) of the examples are held out. `history` holds, one value an epoch, the mean
    loss per example on the training and held-out examples ("loss", "val_loss") and, for a
    classifier, the fraction classified right ("accuracy", "val_accuracy"), measured after
    the epoch. `progress` shows a bar (tqdm, on a terminal) and a line per epoch on standard
    error. The features are standardised: `params` carries the statistics (`params.scaling`),
    which `predict(model, params, data)` applies; the module's own predict takes features
    already standardised so.
    """
    result = fit(model, data, epochs, batch_size, optimizer, lr, seed, val, dims, progress)
    return result.params, result.history


def fit(model, data, epochs=10, batch_size=32, optimizer="adam", lr=None, seed=0, val=0.2,
        dims=None, progress=True):
    """`train`'s run as a `Result`: the parameters, the history and the features' scaling,
    which `predict` needs to see new data as the model saw its training data."""
    module = by_examples(model)
    lr = _learning_rate(optimizer, lr)
    _check_counts(epochs, batch_size, val)
    with _reported(), np.errstate(all="ignore"):  # a diverging run is stopped, not warned of
        arrays, dims, columns = examples(data, module, _given(module, dims))
        rng = np.random.default_rng(seed)
        training, held_out = _split(rng, _count(arrays), val)
        scaling = statistics(take(arrays, training), roles(module).scaled)
        arrays = standardised(arrays, scaling)
        scaling.update({f"{name}.columns": np.array(names) for name, names in columns.items()})
        splits = {"": take(arrays, training), **({"val_": take(arrays, held_out)} if val else {})}
        params = _initial(module, dims, seed)
        step, inputs = _stepper(module, optimizer, lr, params), _batcher(module, dims)
        shown, history = _progress(progress, epochs), {}
        for epoch in range(1, epochs + 1):
            bar = shown(batches(rng.permutation(len(training)), batch_size), epoch)
            total = 0.0  # of the epoch's losses per example so far, each before its step
            for steps, index in enumerate(bar, 1):
                batch = inputs(splits[""], index)
                try:
                    loss = step(batch, len(index))
                except FloatingPointError:  # a loss of NaN or inf: the step moved nothing
                    loss = module.forward(params, batch)[0]
                _check_finite(loss, epoch, lr)
                total += loss / len(index) if _summed(module) else loss
                bar.set_postfix_str(f"loss {total / steps:.4f}", refresh=False)
            for prefix, split in splits.items():
                for key, value in measure(module, params, split, inputs).items():
                    history.setdefault(prefix + key, []).append(value)
            _check_finite(history["loss"][-1], epoch, lr)
            bar.write(f"epoch {epoch}/{epochs}: " + ", ".join(
                f"{key} {values[-1]:.4f}" for key, values in history.items()), file=sys.stderr)
    return Result(Trained(params, scaling), history, scaling, held_out, fitted(module))


def as_module(model):
    """The generated module of `model`, a derivation or such a module."""
    if isinstance(model, Derivation):
        return compile_numpy(model)
    if isinstance(model, Graph):
        raise TrainingError("train takes a derivation, not a graph: call train(derive(graph), "
                            "data)")
    if not all(hasattr(model, name) for name in ("LOSS", "adam_step", "predict")):
        raise TrainingError(f"train takes a derivation (derive(graph)) or its module "
                            f"(compile_numpy(derivation)), not {type(model).__name__}")
    return model


def by_examples(model):
    """`as_module(model)`, if its columns are examples of their own, which training and
    prediction split into batches; else a TrainingError naming the value that relates them."""
    module = as_module(model)
    if module.EXAMPLES["dim"] is None:
        meet = module.EXAMPLES["meet"]
        why = f": {meet} relates them" if meet else ": its inputs' columns differ"
        raise TrainingError(f"the model's columns are not examples of their own{why} (as "
                            "attention relates its tokens), so they cannot be split into "
                            "batches; train and predict take one example per column")
    functions = module.LOSS.get("functions")  # (a hunt: a target standardised as a feature)
    if functions is None:
        raise TrainingError("the module was generated by an older derive, whose LOSS does not "
                            "say how many loss functions E adds: generate it again "
                            "(compile_numpy, or derive codegen)")
    if functions != 1:
        why = "is written without one" if functions == 0 else f"adds {functions} of them"
        raise TrainingError(
            f"train and predict take a model whose loss is one loss function ("
            f"{', '.join(op.name for op in OPS.values() if op.predict is not None)}; a "
            f"penalty may be added): it says which input is the target, never standardised, "
            f"and what the model predicts; this model's loss {why}. Its module's own steps "
            f"(adam_step, …) train it in a loop of yours")
    return module


def _learning_rate(optimizer, lr):
    if optimizer not in LEARNING_RATES:
        raise TrainingError(f"unknown optimizer {quoted(optimizer)}: sgd, momentum or adam")
    lr = LEARNING_RATES[optimizer] if lr is None else lr
    if not (_real(lr) and np.isfinite(lr) and lr > 0):
        raise TrainingError(f"the learning rate must be a positive number, got {lr!r}")
    return lr


def _check_counts(epochs, batch_size, val):
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not (isinstance(value, numbers.Integral) and not isinstance(value, bool)
                and value > 0):
            raise TrainingError(f"{name} must be a positive integer, got {value!r}")
    if not (_real(val) and 0 <= val < 1):
        raise TrainingError(f"val is the fraction of the examples held out, from 0 (none) to "
                            f"below 1, got {val!r}")


def _real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _dimensions(module):
    """The names of the model's dimensions (H, but not 4*H)."""
    return {d for shape in module.SHAPES.values() for d in shape
            if isinstance(d, str) and d not in module.COMPOUND} | set(getattr(module, "SOLVED",
                                                                              {}))


def _given(module, dims):
    """The sizes given for the dimensions, each of a dimension the model has."""
    dims, known = dict(dims or {}), _dimensions(module)
    for name, size in dims.items():
        if name not in known:
            raise TrainingError(f"the model has no dimension {quoted(name)}; its dimensions "
                                f"are {', '.join(sorted(known))}")
        if not (isinstance(size, numbers.Integral) and not isinstance(size, bool) and size > 0):
            raise TrainingError(f"the size of {name} must be a positive integer, got {size!r}")
        if name == module.EXAMPLES["dim"]:
            raise TrainingError(f"{name} is the number of examples, which the data give: "
                                f"it is not given with --dim (dims)")
    return dims


@contextmanager
def _reported():
    """The generated module's ValueErrors (an array that does not fit, a target that is not a
    distribution) as DataErrors: they are about the data."""
    try:
        yield
    except ValueError as exc:
        raise DataError(str(exc)) from None


def _count(arrays):
    return next(iter(arrays.values())).shape[-1]


def _split(rng, count, val):
    """The indices of the training and the held-out examples."""
    order = rng.permutation(count)
    held = round(val * count)
    if val and not 1 <= held < count:
        raise DataError(f"holding out {val:g} of {count} examples leaves "
                        f"{'none' if held < 1 else 'nothing to train on'}: choose another val")
    return order[held:], order[:held]


def batches(order, size):
    """`order` cut into max(1, len // size) pieces of nearly equal size (np.array_split)."""
    return np.array_split(order, max(1, len(order) // size))


def _initial(module, dims, seed):
    """The parameters at the start, once every dimension has a size."""
    missing = sorted(_dimensions(module) - set(dims))
    if missing:
        raise TrainingError(f"the data do not give the size of {', '.join(missing)}: give it "
                            f"with --dim {missing[0]}=SIZE (dims={{{missing[0]!r}: SIZE}} in "
                            "Python)")
    return module.init_params(dims, seed=seed, scheme="auto")


def _summed(module):
    return module.LOSS["reduce"] == "sum"


def _stepper(module, optimizer, lr, params):
    """step(inputs, n): one update of `params` from a batch of n examples; the loss before it.

    Every step follows the batch's mean gradient: when the loss sums over the batch
    (reduce="sum"), sgd takes lr/n, and momentum and adam the gradient of E/n, as their
    buffers mix batches whose sizes may differ by one."""
    state = module.optimizer_state(params)

    def mean(n):
        return 1.0 / n if _summed(module) else 1.0

    if optimizer == "adam":
        return lambda inputs, n: module.adam_step(params, inputs, state, lr=lr, scale=mean(n))
    if optimizer == "momentum":
        return lambda inputs, n: module.momentum_step(params, inputs, state, lr,
                                                      scale=mean(n))
    return lambda inputs, n: module.sgd_step(params, inputs, lr / n if _summed(module) else lr)


def _batcher(module, dims):
    """inputs(arrays, index): the module's inputs for the examples `index` of `arrays`, with
    each initial state (h0) at zero."""
    role = roles(module)
    examples_dim = module.SHAPES[role.features[0]][-1]

    def inputs(arrays, index):
        sizes = {**dims, examples_dim: len(index)}
        zeros = {name: np.zeros([module.size(d, sizes) for d in module.SHAPES[name]])
                 for name in role.initial}
        return {**take(arrays, index), **zeros}

    return inputs


def _check_finite(loss, epoch, lr):
    if not np.isfinite(loss):
        raise TrainingError(f"training diverged in epoch {epoch}: the loss became {loss}; "
                            f"try a smaller learning rate than {lr:g} (--lr)")


def measure(module, params, arrays, inputs):
    """The mean loss per example over `arrays` and, for a classifier, the fraction of the
    predictions that are right, computed a batch of MEASURED_AT_ONCE examples at a time."""
    count, loss, right, predicted = _count(arrays), 0.0, 0, 0
    target = module.LOSS["target"]
    for index in batches(np.arange(count), MEASURED_AT_ONCE):
        batch = inputs(arrays, index)
        value, _ = module.forward(params, batch)
        loss += value if _summed(module) else value * len(index)
        if module.LOSS["name"] in CLASSIFIERS:
            hits = decided(module, module.predict(params, batch)) == decided(module, batch[target])
            right, predicted = right + hits.sum(), predicted + hits.size
    figures = {"loss": loss / count}
    if predicted:
        figures["accuracy"] = float(right / predicted)
    return figures


def decided(module, values):
    """A classifier's classes from its predictions or targets (rows × examples): the likeliest
    row for softmax, each row's 0 or 1 for binary cross-entropy; other models' values as
    they are."""
    if module.LOSS["name"] == "softmax_cross_entropy":
        return values.argmax(axis=-2)
    if module.LOSS["name"] == "binary_cross_entropy":
        return (values > 0.5).astype(int)
    return values


def predict(model, params, data, scaling=None, dims=None):
    """What `model` predicts for each example of `data` (as `train` takes it, targets not
    needed), first axis the examples: the class for a classifier, else the outputs. `scaling`
    is the features' statistics of the training run (`fit`), by default those `params`
    carries (`train`'s)."""
    module = by_examples(model)
    scaling = getattr(params, "scaling", None) if scaling is None else scaling
    with _reported():
        trained = _sizes_of(module, params)  # H too, for the initial states
        expected = {key.removesuffix(".columns"): list(value)
                    for key, value in (scaling or {}).items() if key.endswith(".columns")}
        arrays, dims, _ = examples(data, module, {**_given(module, dims), **trained},
                                   targets=False, columns=expected)
        dims = {**trained, **dims}
        arrays, inputs = standardised(arrays, scaling or {}), _batcher(module, dims)
        out = [decided(module, module.predict(params, inputs(arrays, index)))
               for index in batches(np.arange(_count(arrays)), MEASURED_AT_ONCE)]
    return np.moveaxis(np.concatenate(out, axis=-1), -1, 0)


def _sizes_of(module, params):
    """The sizes of the dimensions the parameters' shapes give: those that stand alone, and
    those the module reads back from a parameter's compound entry (H of W[2*H, D], `SOLVED`);
    the module checks them all against the arrays when it runs."""
    if not callable(getattr(params, "keys", None)):  # (a hunt: a bare TypeError for None)
        raise TrainingError(f"the parameters are a dict of arrays by name, not "
                            f"{type(params).__name__}")
    missing = [name for name in module.PARAMS if name not in params]
    if missing:  # (found by a hunt: a bare KeyError)
        raise TrainingError(f"the parameters have no {quoted(missing[0])}: the model's "
                            f"parameters are {', '.join(module.PARAMS)}")
    sizes, compound = {}, {}
    for name in module.PARAMS:
        for dim, size in zip(module.SHAPES[name], np.shape(params[name])):
            if isinstance(dim, str):
                (compound if dim in module.COMPOUND else sizes).setdefault(dim, size)
    for dim, (entry, coefficient, offset) in getattr(module, "SOLVED", {}).items():
        if dim not in sizes and entry in compound:
            with suppress(KeyError):  # an offset of a dimension no parameter gives
                sizes[dim] = (compound[entry] - offset(sizes)) // coefficient
    return sizes


class _Quiet(list):
    """Batches without a progress bar (progress=False)."""

    def set_postfix_str(self, text, refresh=True):
        pass

    def write(self, text, file=None):
        pass


class _Lines(_Quiet):
    """Batches without a bar, where standard error is not a terminal: the epoch's figures
    only (so tqdm is not needed there)."""

    def write(self, text, file=None):
        print(text, file=file)


def _progress(shown, epochs):
    """bar(batches, epoch): the batches of an epoch, shown as a bar on a terminal's standard
    error (tqdm) with the running loss; its `write` prints the epoch's figures."""
    if not shown:
        return lambda batches, epoch: _Quiet(batches)
    if not getattr(sys.stderr, "isatty", lambda: False)():
        return lambda batches, epoch: _Lines(batches)
    tqdm = optional("tqdm", "the progress bar", TrainingError).tqdm
    return lambda batches, epoch: tqdm(batches, desc=f"epoch {epoch}/{epochs}", unit="batch",
                                       file=sys.stderr, leave=False, disable=None)


def may_save(path, force=False):
    """The `force` that `write` needs to put an .npz at `path`: true if derive's own .npz (with
    a `__derive__` entry) is there. A DeriveError unless `path` is free, derive's, or `force`
    allows replacing it (`derive.output.claim`)."""
    ours = os.path.isfile(path) and not os.path.islink(path) and _marked_npz(path)
    claim(path, force or ours)
    return force or ours


def _marked_npz(path):
    try:
        with zipfile.ZipFile(path) as archive:
            return f"{MARK_KEY}.npy" in archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


FITTED = ("name", "output", "target", "reduce")  # the loss's entries parameters fit (a file
# saved before LOSS told how many loss functions E adds is read as it was: found by a hunt)


def fitted(module):
    """What a module's parameters fit: the shapes of its arrays and its loss, as text."""
    return json.dumps({"shapes": {name: list(map(str, shape))
                                  for name, shape in module.SHAPES.items()},
                       "loss": _loss(module.LOSS)}, sort_keys=True)


def _loss(loss):
    return {key: loss.get(key) for key in FITTED}


def _differs(text, module):
    """Why the parameters saved with the model `text` (what `fitted` wrote) are not for
    `module`, or None where they are."""
    ours = json.loads(fitted(module))
    try:
        theirs = json.loads(str(text))
        loss = _loss(theirs["loss"])
        same = theirs["shapes"] == ours["shapes"] and loss == ours["loss"]
    except (ValueError, TypeError, KeyError, AttributeError):
        return f"its inputs, parameters or loss differ from this one's (here {_words(ours)})"
    if same:
        return None
    return (f"its inputs, parameters or loss differ from this one's (its loss "
            f"{_words({'loss': loss}, ours)}; here {_words(ours, {'loss': loss})})")


def _words(fit, other=None):
    """A loss as `_differs` names it: its function and output, and its reduce and target
    where they differ from `other`'s (a hunt: 'squared_error of y; here squared_error of y')."""
    loss, theirs = fit["loss"], (other or fit)["loss"]
    alike = all(loss[key] == theirs[key] for key in ("name", "output"))
    extra = [f"{key} {loss[key]}" for key in ("reduce", "target")
             if alike and loss[key] != theirs[key]]
    return " ".join([f"{loss['name']} of {loss['output']}", *([", ".join(extra)] * bool(extra))])


def save(path, result, force=False):
    """Write the parameters and the scaling of `result` to the .npz `path`, marked with a
    `__derive__` entry and with what they fit (`__model__`), whole or not at all (never over a
    file derive did not write unless `force`)."""
    arrays = {**result.params, **result.scaling, MARK_KEY: np.array(MARK),
              MODEL_KEY: np.array(result.model)}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:  # as np.savez, which a param `file` would upset
        for name, value in arrays.items():
            with archive.open(f"{name}.npy", "w") as entry:
                np.lib.format.write_array(entry, np.asarray(value), allow_pickle=False)
    write(path, buffer.getvalue(), may_save(path, force))


def load(path, model):
    """The parameters of `model` and the features' scaling saved in the .npz `path`."""
    stored = read_npz(path, "parameters file")
    module = as_module(model)
    why = _differs(stored[MODEL_KEY], module) if MODEL_KEY in stored else None
    if why is not None:
        raise DataError(f"{quoted(path)} holds the parameters of another model, or is damaged: "
                        f"{why}")
    missing = [name for name in module.PARAMS if name not in stored]
    if missing:
        raise DataError(f"{quoted(path)} has no parameter {quoted(missing[0])}: the model's "
                        f"parameters are {', '.join(module.PARAMS)}")
    scaling = {key: stored[key] for key in stored
               if key.endswith((".mean", ".std", ".columns"))}
    for name, array in [*((p, stored[p]) for p in module.PARAMS), *scaling.items()]:
        _check_stored(path, name, array)
    return {name: stored[name] for name in module.PARAMS}, scaling


def _check_stored(path, name, array):
    """A parameter or a scaling entry as `save` writes them, or a DataError naming it: finite
    real numbers (a deviation above 0; a feature's columns, names), in one row at most for a
    scaling entry."""
    columns = name.endswith(".columns")
    scaled = name.endswith((".mean", ".std", ".columns"))
    if array.dtype.kind not in ("U" if columns else "fiu") or array.ndim != (1 if scaled else 2):
        raise DataError(f"{quoted(path)}: {quoted(name)} is not what derive saves there "
                        f"({array.dtype} of shape {array.shape}): the file is damaged or was "
                        "not written by derive train")
    if not columns and not (np.all(np.isfinite(array)) and
                            (not name.endswith(".std") or np.all(array > 0))):
        raise DataError(f"{quoted(path)}: {quoted(name)} holds values that are not finite"
                        f"{' or not above 0' * name.endswith('.std')}: the file is damaged")


def plotter():
    """matplotlib's Figure, or a TrainingError saying how to install it: asked before a run
    whose curves are to be drawn, not after it."""
    return optional("matplotlib.figure", "--plot", TrainingError).Figure


def curves(history):
    """A PNG of the loss (and, for a classifier, the accuracy) after each epoch, on the
    training and the held-out examples, drawn by matplotlib's Agg renderer."""
    figure = plotter()
    panels = [key for key in ("loss", "accuracy") if key in history]
    drawing = figure(figsize=(5 * len(panels), 3.6), layout="constrained")
    epochs = range(1, len(history["loss"]) + 1)
    for axes, key in zip(drawing.subplots(1, len(panels), squeeze=False)[0], panels):
        axes.plot(epochs, history[key], label="training")
        if f"val_{key}" in history:
            axes.plot(epochs, history[f"val_{key}"], label="held out")
        axes.set(xlabel="epoch", title=key)
        axes.xaxis.get_major_locator().set_params(integer=True)
        axes.legend()
    buffer = io.BytesIO()  # the last epoch's figures go with it, so a picture says its run
    figures = "; ".join(f"{key} {values[-1]:.4f}" for key, values in history.items())
    drawing.savefig(buffer, format="png", metadata={"Description": figures})
    return buffer.getvalue()
