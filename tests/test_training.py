"""Training a generated module on data (`d.train`, `derive train`) and predicting with it."""

import json
import re
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import derive as d
from derive import training
from derive.cli import main
from derive.data import DataError, standardised, statistics
from derive.modelfile import load
from derive.output import MARK, is_derives
from derive.codegen import loaded
from derive.training import TrainingError
from test_cli import derive_command

MODELS = Path(__file__).parent / "models"


def normal(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape)


DIGITS_X = normal(40, 64)      # a stand-in for the digits: 40 examples, 64 pixels
DIGITS_T = np.arange(40) % 10
QUIET = dict(progress=False)


def module(build):
    return d.compile_numpy(d.derive(build()))


def test_the_digits_mlp_model_file_is_the_builtin_digits_mlp():
    from_file, builtin = d.derive(load(MODELS / "digits-mlp.bp")), d.derive(d.models.digits_mlp())
    assert str(from_file) == str(builtin)
    assert d.to_numpy(from_file) == d.to_numpy(builtin)


# --- the loop is the one written by hand ---------------------------------------------------------

def hand_loop(mod, X, T, target, dims, epochs, batch, lr, seed, val, optimizer="sgd"):
    """What train does, written out: the split, the scaling, the shuffles, the batches, each
    step on the batch's mean gradient (sgd, or momentum and adam at their defaults, written
    from their formulas); returns the parameters and the last epoch's mean training loss per
    example."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(X))
    kept = order[round(val * len(X)):]
    x, t = X[kept].T, T[kept].T
    x = x - x.mean(axis=1, keepdims=True)   # centred per feature, then one scale: the
    x /= x.std()                             # deviation of them all so centred
    params = mod.init_params(dims, seed=seed, scheme="auto")
    summed = mod.LOSS["reduce"] == "sum"
    (m, v), steps = ({k: np.zeros_like(p) for k, p in params.items()} for _ in "mv"), 0
    for _ in range(epochs):
        for index in np.array_split(rng.permutation(len(kept)), max(1, len(kept) // batch)):
            mean = 1 / len(index) if summed else 1
            inputs = {"x": x[:, index], target: t[:, index]}
            if optimizer == "sgd":
                mod.sgd_step(params, inputs, lr / len(index) if summed else lr)
                continue
            grads, steps = mod.gradients(params, inputs)[1], steps + 1
            for k, p in params.items():
                g = mean * grads[k]
                if optimizer == "momentum":  # m ← 0.9 m + g, p ← p − lr m
                    m[k] = 0.9 * m[k] + g
                    p -= lr * m[k]
                else:  # adam: β₁ = 0.9, β₂ = 0.999, ε = 1e-8, bias-corrected
                    m[k] = 0.9 * m[k] + 0.1 * g
                    v[k] = 0.999 * v[k] + 0.001 * g * g
                    p -= lr * (m[k] / (1 - 0.9 ** steps)) / \
                        (np.sqrt(v[k] / (1 - 0.999 ** steps)) + 1e-8)
    loss, _ = mod.forward(params, {"x": x, target: t})
    return params, loss / len(kept) if summed else loss


@pytest.mark.parametrize("build, target, T", [
    (d.models.mlp, "label", np.random.default_rng(1).uniform(size=(50, 2))),  # reduce="sum"
    (d.models.digits_mlp, "t", np.eye(10)[np.arange(50) % 10]),          # reduce="mean"
])
def test_train_is_the_hand_written_loop(build, target, T):
    mod = module(build)
    X = normal(50, 64 if build is d.models.digits_mlp else 3, seed=2)
    options = dict(epochs=3, batch=16, lr=0.05, seed=7, val=0.2)
    params, history = d.train(mod, {"x": X, target: T}, optimizer="sgd", batch_size=16,
                              dims={"H": 4} if build is d.models.mlp else None,
                              **{k: v for k, v in options.items() if k != "batch"}, **QUIET)
    expected, loss = hand_loop(mod, X, T, target, {"D": 3, "H": 4, "K": 2}, **options)
    for name in mod.PARAMS:
        np.testing.assert_allclose(params[name], expected[name], rtol=0, atol=1e-12)
    assert history["loss"][-1] == pytest.approx(loss, rel=1e-12)
    assert [len(values) for values in history.values()] == [3] * len(history)


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_momentum_and_adam_follow_the_mean_gradient_of_batches_of_two_sizes(optimizer):
    """43 examples in batches of 10: 11, 11, 11, 10. Momentum kept the sums of batches of two
    sizes and took lr/n of the last one's, and adam the sums (found by a hunt, against
    torch on the batch mean loss)."""
    mod = module(d.models.mlp)  # reduce="sum"
    X, T = normal(43, 3, seed=3), np.random.default_rng(4).uniform(size=(43, 2))
    options = dict(epochs=2, batch=10, lr=0.05, seed=5, val=0)
    params, _ = d.train(mod, {"x": X, "label": T}, optimizer=optimizer, batch_size=10,
                        dims={"H": 4}, **{k: v for k, v in options.items() if k != "batch"},
                        **QUIET)
    expected, _ = hand_loop(mod, X, T, "label", {"D": 3, "H": 4, "K": 2}, **options,
                            optimizer=optimizer)
    for name in mod.PARAMS:
        np.testing.assert_allclose(params[name], expected[name], rtol=0, atol=1e-12)


def recorded_steps(mod):
    """Replace `mod.sgd_step` by one that records each batch's size and learning rate."""
    steps, original = [], mod.sgd_step

    def sgd_step(params, inputs, lr, clip=None):
        steps.append((inputs["x"].shape[1], lr))
        return original(params, inputs, lr, clip)

    mod.sgd_step = sgd_step
    return steps


@pytest.mark.parametrize("count, batch, sizes", [
    (37, 16, [19, 18]),   # not 16, 16, 5: no batch much smaller than B
    (40, 16, [20, 20]),
    (10, 16, [10]),       # fewer examples than a batch: one batch of them all
    (33, 8, [9, 8, 8, 8]),
])
def test_batches_are_nearly_equal_and_follow_the_mean_gradient(count, batch, sizes):
    mod = module(d.models.mlp)  # reduce="sum": sgd takes lr/n for the batch's mean gradient
    steps = recorded_steps(mod)
    data = {"x": normal(count, 3), "label": normal(count, 2, seed=1)}
    d.train(mod, data, epochs=2, batch_size=batch, optimizer="sgd", lr=0.1, val=0,
            dims={"H": 4}, **QUIET)
    assert [n for n, _ in steps] == sizes * 2
    assert [lr for _, lr in steps] == [0.1 / n for n in sizes] * 2


def test_the_held_out_examples_and_history_keys():
    mod = module(d.models.digits_mlp)
    steps = recorded_steps(mod)
    _, history = d.train(mod, {"x": DIGITS_X, "t": DIGITS_T}, epochs=2, optimizer="sgd",
                         batch_size=8, val=0.25, **QUIET)
    assert sum(n for n, _ in steps) == 2 * 30    # 10 of the 40 are never trained on
    assert [lr for _, lr in steps] == [0.1] * len(steps)   # reduce="mean": lr as it is
    assert list(history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    _, history = d.train(mod, {"x": DIGITS_X, "t": DIGITS_T}, epochs=1, val=0, **QUIET)
    assert list(history) == ["loss", "accuracy"]


def test_the_parameters_train_returns_predict_with_the_scaling_they_were_trained_on():
    """d.train's parameters fit standardised features (a hunt: the module's predict on the
    raw digits was right for 77% of them, the run's accuracy 98%). They carry the scaling,
    and d.predict applies it: its predictions on the held-out examples are the run's."""
    mod, x = module(d.models.digits_mlp), 5 + 4 * DIGITS_X
    params, history = d.train(mod, {"x": x, "t": DIGITS_T}, epochs=3, val=0.25, **QUIET)
    held_out = np.random.default_rng(0).permutation(40)[:10]  # train's split, seed 0
    scaled = (x - params.scaling["x.mean"]) / params.scaling["x.std"]
    classes = mod.predict(params, {"x": scaled.T}).argmax(axis=0)
    np.testing.assert_array_equal(d.predict(mod, params, {"x": x}), classes)
    right = np.mean(classes[held_out] == DIGITS_T[held_out])
    assert history["val_accuracy"][-1] == pytest.approx(right, abs=1e-12)
    copied = params.copy()  # (a hunt: a copy forgot the scaling, and predicted unscaled)
    np.testing.assert_array_equal(d.predict(mod, copied, {"x": x}), classes)
    del copied["b2"]        # (the same hunt: a bare KeyError)
    with pytest.raises(TrainingError, match="the parameters have no 'b2': the model's "
                                            "parameters are W1, b1, W2, b2"):
        d.predict(mod, copied, {"x": x})
    with pytest.raises(TrainingError, match="the parameters are a dict of arrays by name, "
                                            "not NoneType"):
        d.predict(mod, None, {"x": x})


def test_features_in_float16_are_measured_in_float64():
    """Found by a hunt: 1 and its next float16, 1 + 2⁻¹⁰, had a spread of 0 in float16 (its
    squares underflowed), and were taken for a constant feature."""
    x = np.r_[np.ones(99), 1 + 2.0**-10][None, :]
    assert statistics({"x": x.astype(np.float16)}, ["x"])["x.std"] == \
        pytest.approx(statistics({"x": x}, ["x"])["x.std"], rel=1e-12)


def test_a_recurrent_model_takes_sequences_one_example_a_row():
    mod = module(d.models.rnn)
    x, label = normal(12, 5, 3), normal(12, 5, 2, seed=1)   # N×T×D
    result = training.fit(mod, {"x": x, "label": label}, epochs=2, val=0, dims={"H": 4},
                          optimizer="sgd", lr=0.01, batch_size=12, **QUIET)
    scaled = x - x.mean(axis=(0, 1))
    scaled /= scaled.std()
    inputs = {"x": scaled.transpose(1, 2, 0), "label": label.transpose(1, 2, 0),
              "h0": np.zeros((4, 12))}                                     # T×D×N, h0 zeros
    loss, _ = mod.forward(result.params, inputs)
    assert result.history["loss"][-1] == pytest.approx(loss / 12, rel=1e-12)
    predicted = training.predict(mod, result.params, {"x": x}, result.scaling)
    np.testing.assert_allclose(predicted, mod.predict(result.params, inputs).transpose(2, 0, 1),
                               rtol=1e-9, atol=1e-15)                      # N×T×K
    with pytest.raises(DataError, match=re.escape("array 'x' holds no values (shape "
                                                  "(12, 0, 3))")):  # T = 0: no steps
        training.fit(mod, {"x": x[:, :0], "label": label[:, :0]}, dims={"H": 4}, **QUIET)
    with pytest.raises(DataError, match=re.escape(  # found by a hunt: h0 = 5 did nothing
            "the data has an array the model does not read, 'h0': h0 is the initial state of "
            "every sequence, which training and prediction start at 0")):
        training.fit(mod, {"x": x, "label": label, "h0": np.full((12, 4), 5.0)}, dims={"H": 4},
                     **QUIET)


def logistic():
    g = d.Graph("logistic")
    x, t = g.input("x", ("D", "N")), g.input("t", (1, "N"))
    z = (g.param("W", (1, "D")) @ x + g.param("b", (1, 1))).named("z")
    g.loss(d.binary_cross_entropy(z, t, reduce="mean"))
    return g


def test_a_binary_classifier_takes_labels_of_0_and_1():
    mod, x = module(logistic), normal(60, 2)
    labels = (x[:, 0] > x[:, 1]).astype(int)
    result = training.fit(mod, {"x": x, "t": labels}, epochs=20, lr=0.1, **QUIET)
    assert result.history["val_accuracy"][-1] >= 0.9
    predicted = training.predict(mod, result.params, {"x": x}, result.scaling)
    scaled = (x - result.scaling["x.mean"]) / result.scaling["x.std"]
    probability = mod.predict(result.params, {"x": scaled.T})
    assert predicted.shape == (60, 1) and predicted.dtype.kind == "i"
    np.testing.assert_array_equal(predicted[:, 0], probability[0] > 0.5)


def test_integer_labels_are_one_hot_with_as_many_classes_as_there_are():
    mod = module(d.models.softmax_classifier)   # K is symbolic: the labels say 3
    labels = np.arange(30) % 3
    params, history = d.train(mod, {"x": normal(30, 4), "t": labels}, epochs=1,
                              dims={"H": 5}, **QUIET)
    assert params["W2"].shape == (3, 5) and "val_accuracy" in history


def linear():
    g = d.Graph("linear")
    x, label = g.input("x", ("D", "N")), g.input("label", ("K", "N"))
    g.loss(d.squared_error(g.param("W", ("K", "D")) @ x + g.param("b", ("K", 1)), label))
    return g


def test_a_run_that_diverges_stops_and_says_so():
    data = {"x": normal(40, 3), "label": normal(40, 2, seed=1)}
    with pytest.raises(TrainingError, match=r"training diverged in epoch [2-9]: the loss became "
                                            r"(nan|inf); try a smaller learning rate than 10000"):
        d.train(d.derive(linear()), data, epochs=50, batch_size=4, optimizer="sgd", lr=1e4,
                **QUIET)


def test_a_missing_extra_says_how_to_install_it(monkeypatch):
    """The bar needs tqdm on a terminal; elsewhere no bar is drawn, and the epochs' figures
    are printed without it."""
    monkeypatch.setitem(__import__("sys").modules, "tqdm", None)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    with pytest.raises(TrainingError, match=re.escape('the progress bar needs tqdm: pip install '
                                                      '"derive[train]"')):
        d.train(module(d.models.digits_mlp), {"x": DIGITS_X, "t": DIGITS_T}, epochs=1)


def test_off_a_terminal_the_epochs_are_printed_without_tqdm(monkeypatch, capsys):
    monkeypatch.setitem(__import__("sys").modules, "tqdm", None)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    d.train(module(d.models.digits_mlp), {"x": DIGITS_X, "t": DIGITS_T}, epochs=2)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(":")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]
    assert all(" loss " in line and "accuracy" in line for line in lines)


# --- data that do not fit ------------------------------------------------------------------------

def labelled(labels):
    return {"x": DIGITS_X[:len(labels)], "t": np.array(labels)}


def nan_at(row, column, value):
    x = DIGITS_X.copy()
    x[row, column] = value
    return {"x": x, "t": DIGITS_T}


BAD_DATA = [
    ("a negative label", labelled([0, 1, -1, 2]),
     "array 't': label -1 of example 2 is negative; class labels are 0, 1, 2, …"),
    ("a label ≥ K", labelled([0, 10, 1]),
     "array 't': label 10 of example 1 is out of range: the model has 10 classes, 0 to 9"),
    ("a label that is not whole", labelled([0.0, 1.0, 2.5]),
     "array 't': label 2.5 of example 2 is not a whole number"),
    ("N differs", {"x": DIGITS_X, "t": DIGITS_T[:39]},
     "the arrays hold different numbers of examples (N): x has 40, t has 39"),
    ("a NaN", nan_at(4, 7, np.nan), "array 'x' holds nan (example 4)"),
    ("an infinity", nan_at(6, 0, -np.inf), "array 'x' holds -inf (example 6)"),
    ("a feature too few", {"x": DIGITS_X[:, :63], "t": DIGITS_T},
     "array 'x' has shape (40, 63): the model takes x as N×64 (one example per row)"),
    ("no target", {"x": DIGITS_X}, "the data has no array 't': the model reads x, t"),
    ("not numbers", {"x": DIGITS_X.astype(str), "t": DIGITS_T}, "array 'x' holds <U"),
    ("an unknown source", "iris", "unknown data source 'iris': give digits, FILE.npz or FILE.csv"),
    ("an array the model does not read (found by a hunt: silently dropped)",
     {"x": DIGITS_X, "t": DIGITS_T, "weights": DIGITS_T},
     "the data has an array the model does not read, 'weights'; the model reads x, t"),
]


@pytest.mark.parametrize("case, data, message", BAD_DATA, ids=[c[0] for c in BAD_DATA])
def test_data_that_do_not_fit_are_named(case, data, message):
    with pytest.raises(DataError, match=re.escape(message)):
        d.train(module(d.models.digits_mlp), data, epochs=1, **QUIET)


def test_an_input_without_a_column_for_each_example_is_named(tmp_path):
    """m[K, 1] is one array for every example, which data of one example per row cannot give
    (a hunt: the error said the model takes m as 1×K, one example per row)."""
    model = tmp_path / "masked.bp"
    model.write_text("input x[D, N], label[K, N], m[K, 1]\nparam W[K, D]\nout = W @ x\n"
                     "loss = squared_error(out * m, label)\n")
    mod = d.compile_numpy(d.derive(load(model)))
    for m in (np.ones((40, 2, 1)), np.ones((1, 2)), np.ones((2, 1))):
        with pytest.raises(DataError, match=re.escape(
                "input 'm' is K×1, with no column for each example (N): data give every input "
                "one example per row, so training and prediction take only inputs with one")):
            d.train(mod, {"x": DIGITS_X, "label": DIGITS_X[:, :2], "m": m}, **QUIET)


def test_labels_of_one_class_are_refused_where_the_labels_give_the_number_of_classes():
    """Found by a hunt: it trained a 1-row softmax, identically 1, to 'accuracy 1.000'."""
    with pytest.raises(DataError, match="every label is 0, so the model would have 1 class"):
        d.train(module(d.models.softmax_classifier), {"x": DIGITS_X[:4], "t": np.zeros(4)},
                epochs=1, dims={"H": 4}, **QUIET)


def test_the_number_of_examples_is_not_given_as_a_dimension():
    """--dim N=5 with 40 examples said "…, and N = 5", as if the data were wrong."""
    with pytest.raises(TrainingError, match=re.escape("N is the number of examples, which the "
                                                      "data give")):
        d.train(module(d.models.softmax_classifier), {"x": DIGITS_X[:, :3], "t": DIGITS_T},
                epochs=1, dims={"H": 4, "N": 5}, **QUIET)


def test_a_label_too_large_for_the_classes_it_implies_is_refused():
    """K from the largest label: 1e23 said 'out of range: the model has
    99999999999999991611393 classes', 1e8 ran out of memory one-hot encoding (a hunt)."""
    for label in (1e8, 1e23):
        data = {"x": DIGITS_X[:4], "t": np.array([0, 1, label, 0])}
        with pytest.raises(DataError, match=re.escape(
                f"label {label:g} of example 2 is too large: the model would have that many "
                "classes (at most 100,000 are read off the labels; give the size of K with")):
            d.train(module(d.models.softmax_classifier), data, epochs=1, dims={"H": 4}, **QUIET)


def test_a_negative_label_is_named_where_the_labels_give_the_number_of_classes():
    """K comes from the largest label here; −1 is called negative, not "out of range: the
    model has 1 classes"."""
    data = {"x": DIGITS_X[:4], "t": np.array([0, -1, 0, 0])}
    with pytest.raises(DataError, match="label -1 of example 1 is negative; class labels are "):
        d.train(module(d.models.softmax_classifier), data, epochs=1, dims={"H": 4}, **QUIET)


def write_csv(name, header, rows):
    Path(name).write_text(",".join(header) + "\n" + "".join(",".join(map(str, r)) + "\n"
                                                           for r in rows))
    return name


def test_a_csv_file_of_features_and_labels(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    header = [f"p{i}" for i in range(64)] + ["label"]
    rows = [[*x, t] for x, t in zip(DIGITS_X.round(3), DIGITS_T)]
    mod = module(d.models.digits_mlp)
    _, history = d.train(mod, write_csv("d.csv", header, rows), epochs=1, **QUIET)
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}

    with pytest.raises(DataError, match=re.escape("'n.csv' has no label column: name it 't' or "
                                                  "'label'")):
        d.train(mod, write_csv("n.csv", header[:-1], [r[:-1] for r in rows]), **QUIET)
    with pytest.raises(DataError, match=re.escape("'l.csv' has no feature columns, only its "
                                                  "label column 'label'")):
        d.train(mod, write_csv("l.csv", ["label"], [[1], [0]]), **QUIET)
    twice = ["p0", *header]  # two columns 'p0': predict, matching by name, read one twice
    with pytest.raises(DataError, match=re.escape("'twice.csv' names two columns 'p0'")):
        d.train(mod, write_csv("twice.csv", twice, [[r[0], *r] for r in rows]), **QUIET)
    np.savetxt("bare.csv", DIGITS_X[:5], delimiter=",")  # no header (a hunt: the first
    with pytest.raises(DataError, match=re.escape("'bare.csv' has no header row: its first "
                                                  "row, ")):  # example was taken for one)
        d.predict(mod, mod.init_params({"H": 64}), "bare.csv")
    numbered = [str(i) for i in range(64)]  # columns named by numbers are a header where they
    result = training.fit(mod, write_csv("numbered.csv", [*numbered, "t"], rows), epochs=1,
                          **QUIET)            # are the names training read (a later hunt)
    predicted = training.predict(mod, result.params, write_csv(
        "new.csv", numbered, [r[:-1] for r in rows[:5]]), result.scaling)
    assert predicted.shape == (5,)
    wide = [*header[:-1], "extra", "label"]  # 65 features for 64: no "and 64 = 64" after it
    with pytest.raises(DataError, match=r"the model takes x as N×64 \(one example per row\)$"):
        d.train(mod, write_csv("wide.csv", wide, [[*r[:-1], 0, r[-1]] for r in rows]), **QUIET)
    Path("bom.csv").write_text("\ufeff" + Path("d.csv").read_text(), encoding="utf-8")
    d.train(mod, "bom.csv", epochs=1, **QUIET)  # a byte-order mark, as spreadsheets save
    rows[2][5] = "abc"
    with pytest.raises(DataError, match=re.escape("'b.csv': row 4, column 'p5': 'abc' is not a "
                                                  "finite number")):
        d.train(mod, write_csv("b.csv", header, rows), **QUIET)
    rows[2][5] = "1_000"  # Python's float() reads it as 1000; no spreadsheet writes it
    with pytest.raises(DataError, match=re.escape("'u.csv': row 4, column 'p5': '1_000' is not a "
                                                  "finite number")):
        d.train(mod, write_csv("u.csv", header, rows), **QUIET)


@pytest.mark.parametrize("values", [[104.5, 119.5, 98.25, 130.0], [104, 119, 98, 130]])
def test_a_regression_target_of_one_value_per_example_is_one_row(tmp_path, monkeypatch,
                                                                   values):
    """deep-mlp ends in a linear layer with squared error: a label column is the value to fit,
    a target of one row (K = 1), whole numbers too; only a classifier's labels are classes,
    one-hot encoded (found by a hunt: 104.5 was refused as 'not a whole number', and whole
    numbers made 131 one-hot outputs)."""
    monkeypatch.chdir(tmp_path)
    rows = [[x0, x1, v] for (x0, x1), v in zip(DIGITS_X[:40, :2].round(3), values * 10)]
    params, history = d.train(module(d.models.deep_mlp), write_csv("r.csv", ["a", "b", "label"],
                                                                  rows),
                              epochs=2, dims={"H": 8}, **QUIET)
    assert params["W5"].shape == (1, 8) and np.isfinite(history["loss"]).all()
    assert "accuracy" not in history


AUTOENCODER = """input x[D, N]
param W1[H, D], b1[H, 1], W2[D, H], b2[D, 1]
h    = tanh(W1 @ x + b1)
out  = W2 @ h + b2
loss = squared_error(out, x)
"""


def test_an_autoencoder_reads_its_target_as_its_features_in_their_own_units(tmp_path,
                                                                            monkeypatch):
    """x is the features and the target at once (found by a hunt: train and predict crashed
    inside derive). It is not standardised, so that the outputs stay in its units: training
    is plain steps on the raw x, and a CSV file of features alone needs no label column."""
    monkeypatch.chdir(tmp_path)
    Path("ae.bp").write_text(AUTOENCODER)
    mod = d.compile_numpy(d.derive(load("ae.bp")))
    X = 3 + 2 * normal(40, 4, seed=3)
    params, _ = d.train(mod, {"x": X}, optimizer="sgd", lr=0.01, epochs=2, batch_size=8,
                        seed=1, val=0, dims={"H": 3}, **QUIET)
    rng, hand = np.random.default_rng(1), mod.init_params({"D": 4, "H": 3}, seed=1)
    kept = X[rng.permutation(40)]  # the training examples (none held out), in that order
    for _ in range(2):
        for index in np.array_split(rng.permutation(40), 5):
            mod.sgd_step(hand, {"x": kept[index].T}, 0.01 / len(index))  # reduce="sum": lr/n
    for name in mod.PARAMS:
        np.testing.assert_allclose(params[name], hand[name], rtol=0, atol=1e-12)
    np.testing.assert_allclose(training.predict(mod, params, {"x": X}),
                               mod.predict(params, {"x": X.T}).T, rtol=1e-12)
    _, history = d.train(mod, write_csv("ae.csv", list("abcd"), X.round(3).tolist()),
                         epochs=1, dims={"H": 3}, **QUIET)
    assert set(history) == {"loss", "val_loss"}


def test_predict_reads_a_csv_files_columns_by_name_as_training_did(tmp_path, monkeypatch):
    """Found by a hunt: the same rows with the columns (and header) reordered gave other
    predictions, the columns read by position."""
    monkeypatch.chdir(tmp_path)
    header = [f"p{i}" for i in range(64)] + ["label"]
    rows = [[*x, t] for x, t in zip(DIGITS_X.round(3), DIGITS_T)]
    result = training.fit(module(d.models.digits_mlp), write_csv("d.csv", header, rows),
                          epochs=1, **QUIET)
    assert list(result.scaling["x.columns"]) == header[:-1]
    order = [64, *range(63, -1, -1)]  # the label first, the features backwards
    write_csv("r.csv", [header[i] for i in order], [[r[i] for i in order] for r in rows])
    predicted = {name: training.predict(module(d.models.digits_mlp), result.params, name,
                                        result.scaling) for name in ("d.csv", "r.csv")}
    np.testing.assert_array_equal(predicted["d.csv"], predicted["r.csv"])
    write_csv("o.csv", ["q0", *header[1:-1]], [r[:-1] for r in rows])
    with pytest.raises(DataError, match="'o.csv' has other feature columns than training had: "
                                        "missing p0; not trained on q0"):
        training.predict(module(d.models.digits_mlp), result.params, "o.csv", result.scaling)


def test_an_npz_file_lacking_an_input(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.savez("data.npz", x=DIGITS_X, labels=DIGITS_T)
    with pytest.raises(DataError, match=re.escape("'data.npz' has no array 't': the model "
                                                  "reads x, t; 'data.npz' holds x, labels")):
        d.train(module(d.models.digits_mlp), "data.npz", **QUIET)
    np.savez("objects.npz", x=np.array([{}, []], dtype=object), t=DIGITS_T)
    with pytest.raises(DataError, match="array 'x' holds Python objects"):
        d.train(module(d.models.digits_mlp), "objects.npz", **QUIET)


# --- the command ---------------------------------------------------------------------------------

def test_train_saves_plots_and_predict_reproduces_the_predictions(tmp_path):
    run = derive_command("train", "digits-mlp", "--data", "digits", "--epochs", "2", "--seed",
                         "3", "-o", "p.npz", "--plot", "curves.png", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    result = training.fit(d.derive(d.models.digits_mlp()), "digits", epochs=2, seed=3, **QUIET)
    assert run.stdout.splitlines() == [f"test loss {result.history['val_loss'][-1]:.4f}",
                                       f"test accuracy {result.history['val_accuracy'][-1]:.3f}"]
    assert "epoch 2/2: loss " in run.stderr
    with np.load(tmp_path / "p.npz", allow_pickle=False) as saved:
        assert set(saved.files) == {"W1", "b1", "W2", "b2", "x.mean", "x.std", "__derive__",
                                    "__model__"}
        for name, value in {**result.params, **result.scaling}.items():
            np.testing.assert_array_equal(saved[name], value)
    with open(tmp_path / "curves.png", "rb") as picture:
        assert is_derives(picture, ".png")

    predicted = training.predict(d.derive(d.models.digits_mlp()), result.params, "digits",
                                 result.scaling)
    run = derive_command("predict", "digits-mlp", "--params", "p.npz", "--data", "digits",
                         cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [str(c) for c in predicted]
    assert derive_command("predict", "digits-mlp", "--params", "p.npz", "--data", "digits",
                          "-o", "classes.csv", cwd=tmp_path).returncode == 0
    lines = (tmp_path / "classes.csv").read_text().splitlines()
    assert lines[:2] == [f"# {MARK}: predictions of digits-mlp", "class"]
    assert lines[2:] == run.stdout.splitlines()


def test_parameters_are_refused_by_another_model_and_by_data_of_other_sizes(tmp_path):
    """mlp and softmax-classifier share W1, b1, W2, b2: the file says which model they fit
    (found by a hunt: mlp predicted with a classifier's parameters); 4 features where 3 were
    trained is named, not numpy's broadcast error."""
    data = {"x": DIGITS_X[:, :3], "t": DIGITS_T % 2}
    result = training.fit(d.derive(d.models.softmax_classifier()), data, epochs=1,
                          dims={"H": 4}, **QUIET)
    training.save(tmp_path / "p.npz", result)
    with pytest.raises(DataError, match=r"'.*p.npz' holds the parameters of another model, "
                                        r"or is damaged: "
                                        r".* \(its loss softmax_cross_entropy of z2; here "
                                        r"squared_error of out\)"):
        training.load(tmp_path / "p.npz", d.derive(d.models.mlp()))
    g = d.Graph("softmax_classifier")  # its shapes and loss but reduce="mean": named, not
    x, t = g.input("x", ("D", "N")), g.input("t", ("K", "N"))  # "softmax_cross_entropy of
    W1, b1 = g.param("W1", ("H", "D")), g.param("b1", ("H", 1))  # z2" on both sides (a hunt)
    h = d.tanh((W1 @ x + b1).named("z1")).named("h")
    z2 = (g.param("W2", ("K", "H")) @ h + g.param("b2", ("K", 1))).named("z2")
    g.loss(d.softmax_cross_entropy(z2, t, reduce="mean").named("E"))
    with pytest.raises(DataError, match=re.escape(
            "(its loss softmax_cross_entropy of z2 reduce sum; here softmax_cross_entropy of z2 "
            "reduce mean)")):
        training.load(tmp_path / "p.npz", d.derive(g))
    params, scaling = training.load(tmp_path / "p.npz", d.derive(d.models.softmax_classifier()))
    with pytest.raises(DataError, match=re.escape("array 'x' has shape (40, 4): the model takes "
                                                  "x as N×D (one example per row), and D = 3")):
        training.predict(d.derive(d.models.softmax_classifier()), params,
                         {"x": DIGITS_X[:, :4]}, scaling)


def test_a_parameters_file_records_what_the_loss_was_before_it_said_how_many_functions():
    """The model text a file holds names the loss by name, output, target and reduce, as
    files saved before LOSS["functions"] did (found by a hunt: every older file was refused as
    another model's, 'its loss squared_error of out; here squared_error of out')."""
    module = d.compile_numpy(d.derive(d.models.mlp()))
    older = {"name": "squared_error", "output": "out", "target": "label", "reduce": "sum"}
    assert json.loads(training.fitted(module))["loss"] == older


@pytest.mark.parametrize("entry, value, says", [
    ("__model__", np.array("{not json"), "holds the parameters of another model, or is damaged"),
    ("x.mean", np.array("abc"), "'x.mean' is not what derive saves there"),
    ("x.columns", np.arange(3), "'x.columns' is not what derive saves there"),
    ("x.std", np.zeros(3), "'x.std' holds values that are not finite or not above 0"),
    ("W1", np.full((4, 3), np.nan), "'W1' holds values that are not finite"),
    ("x.mean", np.zeros(5), "the scaling of 'x' is for 5 features (its deviation for 3)")])
def test_a_damaged_parameters_file_is_named_not_a_traceback(tmp_path, entry, value, says):
    """Found by a hunt: each of these crashed predict (JSONDecodeError, IndexError, numpy's
    broadcast error) or predicted zeros."""
    data = {"x": DIGITS_X[:, :3], "t": DIGITS_T % 2}
    model = d.derive(d.models.softmax_classifier())
    training.save(tmp_path / "p.npz", training.fit(model, data, epochs=1, dims={"H": 4}, **QUIET))
    stored = dict(np.load(tmp_path / "p.npz"))
    np.savez(tmp_path / "p.npz", **{**stored, entry: value})
    with pytest.raises(DataError, match=re.escape(says)):
        params, scaling = training.load(tmp_path / "p.npz", model)
        training.predict(model, params, {"x": data["x"]}, scaling)


def test_train_never_replaces_an_npz_derive_did_not_write(tmp_path):
    np.savez(tmp_path / "mine.npz", W=np.ones(3))
    args = ["train", "digits-mlp", "--data", "digits", "--epochs", "1"]
    run = derive_command(*args, "-o", "mine.npz", cwd=tmp_path)
    assert (run.returncode, run.stdout) == (2, "")
    assert run.stderr == ("derive: error: 'mine.npz' exists and derive did not write it; refusing"
                          " to replace it (choose another name, or --force to replace it)\n")
    assert zipfile.ZipFile(tmp_path / "mine.npz").namelist() == ["W.npy"]
    assert derive_command(*args, "-o", "mine.npz", "--force", cwd=tmp_path).returncode == 0
    assert derive_command(*args, "-o", "mine.npz", cwd=tmp_path).returncode == 0   # now derive's


@pytest.mark.parametrize("args, message", [
    (["--data", "nope.txt"], "unknown data source 'nope.txt': give digits, FILE.npz or FILE.csv"),
    (["--data", "digits", "--dim", "Q=3"], "the model has no dimension 'Q'; its dimensions are N"),
    (["--data", "digits", "-o", "p.json"], "-o 'p.json': train writes a .npz file"),
    (["--data", "digits", "--plot", "c.svg"], "--plot 'c.svg': train writes a .png file"),
])
def test_train_mistakes_are_one_message(args, message, tmp_path):
    run = derive_command("train", "digits-mlp", *args, cwd=tmp_path)
    assert (run.returncode, run.stderr) == (2, f"derive: error: {message}\n")


def test_the_digits_mlp_learns_the_digits_within_seconds(tmp_path):
    start = time.monotonic()
    run = derive_command("train", "digits-mlp", "--data", "digits", "--epochs", "30", "--seed",
                         "0", "-o", "params.npz", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert time.monotonic() - start < 20
    loss, accuracy = run.stdout.splitlines()[-2:]
    assert re.fullmatch(r"test loss \d+\.\d{4}", loss)
    assert float(accuracy.removeprefix("test accuracy ")) >= 0.95


def test_a_model_whose_columns_meet_is_not_trained_on_batches_of_them():
    """Attention's tokens are its columns, and its T×T scores relate them; a mean over the
    columns added back to each relates them too: batches of columns would be other models
    (found by a hunt: attention trained on shuffled tokens, exit 0)."""
    tokens = {"X": DIGITS_X[:12, :6], "label": DIGITS_X[12:24, :6]}
    with pytest.raises(TrainingError, match="the model's columns are not examples of their "
                                            "own: Kᵀ relates them"):
        d.train(d.derive(d.models.attention()), tokens, dims={"d_k": 2}, **QUIET)
    g = d.Graph("centred")
    x, label = g.input("x", ("D", "N")), g.input("label", ("D", "N"))
    h = (g.param("W", ("D", "D")) @ x).named("h")
    g.loss(d.squared_error(h - d.mean(h, axis=1).named("m"), label))
    assert d.compile_numpy(d.derive(g)).EXAMPLES == {"dim": None, "meet": "m"}
    assert d.compile_numpy(d.derive(d.models.lstm())).EXAMPLES == {"dim": "N", "meet": None}
    for between in (d.tanh, lambda m: 2 * m, lambda m: d.sum(m, axis=0)):  # found by a hunt:
        g = d.Graph("centred")  # an operation between the mean and its way back hid it, and
        x, label = g.input("x", ("D", "N")), g.input("label", ("D", "N"))  # one example came
        h = (g.param("W", ("D", "D")) @ x).named("h")  # out differently alone and in a batch
        g.loss(d.squared_error(h - between(d.mean(h, axis=1)).named("m"), label))
        assert d.compile_numpy(d.derive(g)).EXAMPLES == {"dim": None, "meet": "m"}


def test_a_model_whose_loss_is_not_one_loss_function_is_refused_by_train_and_predict():
    """Found by a hunt: two losses added, and train standardised the second one's target as
    a feature (and took the first's reduce for both); a loss written by hand, and train
    standardised its target, and predict gave the loss for a batch. A penalty beside one
    loss function is still trained."""
    data = {"x": DIGITS_X[:12, :3], "t": DIGITS_X[:12, 3:5], "u": 100 + DIGITS_X[:12, 5:7]}
    g = d.Graph("two")
    x, t, u = g.input("x", ("D", "N")), g.input("t", ("K", "N")), g.input("u", ("J", "N"))
    g.loss(d.squared_error(g.param("W", ("K", "D")) @ x, t)
           + d.squared_error(g.param("V", ("J", "D")) @ x, u, reduce="sum"))
    for call in (lambda der: d.train(der, data, **QUIET),
                 lambda der: d.predict(der, {}, {"x": data["x"]})):
        with pytest.raises(TrainingError, match="one loss function .*this model's loss adds 2 "
                                                "of them"):
            call(d.derive(g))
    g = d.Graph("by_hand")
    x, t = g.input("x", ("D", "N")), g.input("t", (1, "N"))
    g.loss(d.sum(d.softplus(-t * (g.param("W", (1, "D")) @ x))))
    with pytest.raises(TrainingError, match="this model's loss is written without one"):
        d.train(d.derive(g), {"x": data["x"], "t": data["t"][:, :1]}, **QUIET)
    g = d.Graph("penalised")
    x, t = g.input("x", ("D", "N")), g.input("t", ("K", "N"))
    W = g.param("W", ("K", "D"))
    g.loss(d.squared_error(W @ x, t) + 0.1 * d.sum(W * W))
    params, _ = d.train(d.derive(g), {"x": data["x"], "t": data["t"]}, **QUIET)
    assert "t.mean" not in params.scaling
    older = loaded(d.compile_numpy(d.derive(g)).__source__, "older")  # LOSS without the count
    older.LOSS = {key: value for key, value in older.LOSS.items() if key != "functions"}
    with pytest.raises(TrainingError, match="generated by an older derive"):
        d.train(older, {"x": data["x"], "t": data["t"]}, **QUIET)


def _bias_over_root_N(g, x, label):
    N, = d.dims("N")
    b = (g.param("b", ("K", 1)) / sp.sqrt(N)).named("m")
    g.loss(d.squared_error(g.param("W", ("K", "D")) @ x + b, label))


def _a_state_of_the_batchs_mean(g, x, label):
    s_prev, h_prev = g.state("s", ("K", 1)), g.state("h", ("K", "N"))
    h = d.tanh(g.param("W", ("K", "D")) @ x + h_prev + s_prev).named("h")
    d.mean(h, axis=1).named("s")
    g.loss(d.squared_error(h, label))


def _a_loss_of_means(g, x, label):
    out = (g.param("W", ("K", "D")) @ x).named("out")
    g.loss(d.squared_error(d.mean(out, axis=1), d.mean(label, axis=1)).named("m"))


def _a_penalty_of_a_sum_over_the_columns(g, x, label):
    out = (g.param("W", ("K", "D")) @ x).named("out")
    s = d.sum(out, axis=1)
    g.loss(d.squared_error(out, label) + d.sum(s * s).named("m"))


def _a_parameter_per_example(g, x, label):
    g.loss(d.squared_error(g.param("W", ("K", "D")) @ x + g.param("m", ("K", "N")), label))


@pytest.mark.parametrize("build", [_bias_over_root_N, _a_state_of_the_batchs_mean,
                                   _a_loss_of_means, _a_penalty_of_a_sum_over_the_columns,
                                   _a_parameter_per_example])
def test_what_the_batch_changes_beyond_a_columns_own_value_is_named(build):
    """Found by a hunt: a constant of N on a bias, a mean over the columns a state carries to
    the next step, a loss of means over them, the square of a sum over them and a parameter
    with a column for each example were batched, and one example's prediction or gradient
    changed with its batch. Each is named as where the columns meet."""
    g = d.Graph("batched")
    make = g.sequence if build is _a_state_of_the_batchs_mean else g.input
    build(g, make("x", ("D", "N")), make("label", ("K", "N")))
    examples = d.compile_numpy(d.derive(g)).EXAMPLES
    assert examples["dim"] is None and examples["meet"] in ("m", "s_prev", "t2")  # t2 = t1²


def test_a_model_with_a_constant_of_the_number_of_examples_is_not_batched():
    """y = W x / N: each prediction depends on how many examples share its batch (found by a
    hunt: one example alone came out 60 times what it was among 60)."""
    g = d.Graph("per_batch")
    x, label = g.input("x", ("D", "N")), g.input("label", ("K", "N"))
    N, = d.dims("N")
    g.loss(d.squared_error((g.param("W", ("K", "D")) @ x / N).named("y"), label))
    assert d.compile_numpy(d.derive(g)).EXAMPLES == {"dim": None, "meet": "y"}
    mean = d.Graph("batch_mean")  # E / N, the loss a batch's mean: its columns stay examples
    x, label = mean.input("x", ("D", "N")), mean.input("label", ("K", "N"))
    mean.loss(d.squared_error(mean.param("W", ("K", "D")) @ x, label) / N)
    assert d.compile_numpy(d.derive(mean)).EXAMPLES == {"dim": "N", "meet": None}


def test_features_near_the_top_of_float64_are_scaled_by_a_finite_deviation():
    """A feature near 1e299: its squares overflowed, the deviation was inf and every feature
    divided by it became 0 (found by a hunt: training went on, on constant inputs)."""
    x = np.array([[1e299, -3e299, 2e299, 0.0], [0.1, 0.2, 0.3, 0.4]])
    found = statistics({"x": x}, ["x"])
    assert abs(found["x.mean"][0]) < 1e-15 * 1e299 and np.isclose(found["x.mean"][1], 0.25)
    assert np.all(np.isfinite(found["x.std"]))
    unit = x / 1e299
    assert np.allclose(found["x.std"], 1e299 * (unit - unit.mean(axis=1, keepdims=True)).std())


def test_features_whose_means_differ_are_scaled_by_their_own_spread_not_the_means_spread():
    """Found by a hunt: two features of spread 1, of means 1000 and 0, were divided by the
    deviation about the mean of both (≈ 500), and reached training at spread 0.002."""
    rng = np.random.default_rng(0)
    x = np.stack([1000 + rng.normal(size=5000), rng.normal(size=5000)])
    found = statistics({"x": x}, ["x"])
    standard = standardised({"x": x}, found)["x"]
    assert np.allclose(standard.mean(axis=1), 0) and np.isclose(standard.std(), 1)
    assert np.allclose(standard.std(axis=1), 1, rtol=0.05)


def test_features_each_of_equal_entries_are_scaled_by_1_and_centred_to_0():
    """Found by a hunt: the deviation of the centred features was the rounding of their
    means, 1.2e-17, so 0.1 + 1e-12 predicted −23891 where the training inputs gave 0.98."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        x = np.repeat(rng.uniform(-1e6, 1e6, size=(3, 1)), rng.integers(1, 50), axis=1)
        found = statistics({"x": x}, ["x"])
        standard = standardised({"x": x}, found)["x"]  # 0, but for the mean's last bit
        assert np.all(found["x.std"] == 1) and np.all(np.abs(standard) <= 1e-15 * np.abs(x))


def test_plot_without_matplotlib_is_refused_before_the_run(monkeypatch, capsys, tmp_path):
    """Found by a hunt: every epoch ran and params.npz was written, then --plot said what to
    install."""
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    status = main(["train", "digits-mlp", "--data", "digits", "--epochs", "1",
                   "--plot", str(tmp_path / "c.png"), "-o", str(tmp_path / "p.npz")])
    assert status == 2 and not (tmp_path / "p.npz").exists()
    assert 'derive: error: --plot needs matplotlib: pip install "derive[train]"' in \
        capsys.readouterr().err


def halves(target):
    """y = a ⊙ b, [a; b] = W x with W of 2·H rows: H stands alone only in the target (found
    by a hunt: predict, which reads no target, could not size H, a KeyError)."""
    g = d.Graph("halves")
    x, t = g.input("x", ("D", "N")), g.input("t", ("H", "N"))
    H, D = d.dims("H D")
    a, b = d.split((g.param("W", (2 * H, D)) @ x).named("z"), 2)
    y = (a * b).named("y")
    g.loss(d.softmax_cross_entropy(y, t) if target == "classes" else d.squared_error(y, t))
    return g


def test_a_size_the_parameters_give_only_as_a_multiple_is_read_back_without_the_target():
    mod = module(lambda: halves("values"))
    params, x = mod.init_params({"D": 3, "H": 2}), normal(3, 5)
    z = params["W"] @ x
    np.testing.assert_array_equal(mod.predict(params, {"x": x}), z[:2] * z[2:])
    with pytest.raises(ValueError, match=re.escape("parameter 'W' has shape (4, 3), but its "
                                                   "shape is ('2*H', 'D') and 2*H = 6")):
        mod.forward(params, {"x": x, "t": normal(3, 5)})  # H = 3 from the target
    _, history = d.train(d.derive(halves("classes")), {"x": DIGITS_X[:, :3], "t": DIGITS_T % 2},
                         epochs=1, val=0.25, **QUIET)      # measures accuracy: predict
    assert 0 <= history["val_accuracy"][-1] <= 1


def test_a_state_size_the_parameters_give_only_as_a_multiple_sizes_predicts_states():
    g = d.Graph("gated")
    x, label, h_prev = g.sequence("x", ("D", "N")), g.sequence("label", ("K", "N")), \
        g.state("h", ("H", "N"))                                   # H alone only here
    H, D = d.dims("H D")
    z = d.tanh(g.param("W", (2 * H, D + H)) @ d.concat(x, h_prev)).named("z")
    a, b = d.split(z, 2)
    (a * b).named("h")                                             # h_t
    g.loss(d.squared_error((g.param("W_y", ("K", 2 * H)) @ z).named("y"), label))
    mod = module(lambda: g)
    x_seq = normal(6, 4, 3)                                         # N×T×D
    result = training.fit(mod, {"x": x_seq, "label": normal(6, 4, 1, seed=1)}, epochs=1,
                          val=0, dims={"H": 2}, **QUIET)
    scaled = x_seq - x_seq.mean(axis=(0, 1))
    scaled /= scaled.std()
    inputs = {"x": scaled.transpose(1, 2, 0), "h0": np.zeros((2, 6))}  # T×D×N, h0 zeros
    np.testing.assert_allclose(training.predict(mod, result.params, {"x": x_seq},
                                                result.scaling),
                               mod.predict(result.params, inputs).transpose(2, 0, 1),
                               rtol=1e-12, atol=1e-15)
