"""Worked examples: equations with numbers put in, exact where the numbers are, checked against
the generated module's backward; their LaTeX, pictures, command and bad input.

Regenerate the README's picture of a worked example (its LaTeX, compiled, as a PNG) with:
    python tests/test_worked.py
"""

import hashlib
import os
import shutil
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import derive as d
from derive.cli import main
from derive.worked_display import check_words
from derive.worked_values import ValuesError, random_values, worked_sizes
from test_latex import pdflatex
from test_oracle import fan_out

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "tests" / "models"
FIGURE = ROOT / "notebooks" / "figures" / "worked_mlp"
FIGURE_KEY = "derive-source-sha256"  # the PNG's tEXt: the SHA-256 of the LaTeX it shows


def chain():
    return d.derive(d.load_model(str(MODELS / "chain.bp")))


def chain_example(lr=Fraction(1, 10)):
    return chain().worked({"x": 1, "t": 3}, {"w1": 2, "w2": Fraction(1, 2)}, lr=lr)


def mlp_example():
    """The issue's numbers, in the built-in MLP at D=2 H=2 K=1 N=1."""
    der = d.derive(d.models.mlp())
    return der.worked({"x": [[1], [2]], "label": [[1]]},
                      {"W1": [[0.1, 0.2], [0.3, 0.4]], "b1": [[0], [0]], "W2": [[1, -1]],
                       "b2": [[0]]}, lr=0.1)


def random_example(name, seed=0, lr=0.1):
    der = d.derive(d.models.BUILTIN[name]())
    inputs, params = random_values(der, d.compile_numpy(der), worked_sizes(der, {}), seed)
    return der.worked(inputs, params, lr=lr)


CHAIN_TEXT = """\
A worked example of chain, exact numbers.

Forward pass
z = w1 x = 2 · 1 = 2
h = phi(z) = phi(2) = 4
y = w2 h = 1/2 · 4 = 2
E = 1/2 (y − t)² = 1/2 · (2 − 3)² = 1/2

Backward pass
δy = y − t = 2 − 3 = −1   # the loss's δ
δh = w2ᵀ δy = 1/2 · (−1) = −1/2   # rule 5 (weight matrix) at y
δz = 2 δh = 2 · (−1/2) = −1   # rule 4 (function application) at h

Gradients
δw1 = δz xᵀ = (−1) · 1 = −1   # rule 5 (weight matrix) at z
δw2 = δy hᵀ = (−1) · 4 = −4   # rule 5 (weight matrix) at y

One step of gradient descent, P ← P − lr·δP
w1 ← w1 − 1/10 δw1 = 2 − 1/10 · (−1) = 21/10
w2 ← w2 − 1/10 δw2 = 1/2 − 1/10 · (−4) = 9/10

Check: the generated module's backward gives these gradients too (largest relative difference 0).
"""


# --- what a worked example shows ----------------------------------------------------

def test_integers_and_fractions_stay_exact_through_a_linear_chain():
    example = chain_example()
    assert example.exact and example.agrees
    assert str(example) == CHAIN_TEXT
    assert example.updated["w1"][0, 0] == sp.Rational(21, 10)
    assert example.loss == sp.Rational(1, 2)


def test_each_equation_then_its_numbers_then_its_value():
    text = str(mlp_example())
    assert ("z1 = W1 x + b1 = [[0.1, 0.2], [0.3, 0.4]] [1, 2]ᵀ + [0, 0]ᵀ = [0.5, 1.1]ᵀ\n"
            in text)
    assert "h = sigmoid(z1) = sigmoid([0.5, 1.1]ᵀ) = [0.6225, 0.7503]ᵀ\n" in text
    assert "z2 = W2 h + b2 = [1, −1] · [0.6225, 0.7503]ᵀ + 0 = −0.1278\n" in text  # a dot
    assert "out = sigmoid(z2) = sigmoid(−0.1278) = 0.4681\n" in text
    assert ("δh = W2ᵀ δz2 = [1, −1]ᵀ (−0.1324) = [−0.1324, 0.1324]ᵀ   "
            "# rule 5 (weight matrix) at z2\n") in text
    assert "b2 ← b2 − 0.1 δb2 = 0 − 0.1 · (−0.1324) = 0.0132\n" in text
    assert "numbers rounded to 4 decimals" in text


def test_a_sigmoid_sends_the_whole_example_to_floats():
    der = d.derive(d.models.mlp())
    example = der.worked({"x": [[1], [2]], "label": [[1]]},
                         {"W1": [[1, 2], [3, 4]], "b1": [[0], [0]], "W2": [[1, -1]], "b2": [[0]]})
    assert not example.exact and example.agrees
    assert example.value("z1").dtype == np.float64


def test_a_float_learning_rate_makes_floats_and_digits_round_them():
    example = chain().worked({"x": 1, "t": 3}, {"w1": 2, "w2": 0.5}, lr=0.1, digits=2)
    assert not example.exact
    assert "w1 ← w1 − 0.1 δw1 = 2 − 0.1 · (−1) = 2.1" in str(example)


def test_a_number_the_decimals_would_cut_to_one_digit_shows_its_leading_digits():
    """Found by a hunt: 0.00014 printed 0.0001, so that 'z = w1 x = 0.0001 · 3 = 0.0004';
    and at 0 decimals every number printed as nothing (10 as 1)."""
    example = chain().worked({"x": 3, "t": 1}, {"w1": 0.00014, "w2": 10.0}, lr=0.1)
    assert "z = w1 x = 1.400e−04 · 3 = 4.200e−04" in str(example)
    assert "y = w2 h = 10 · 8.400e−04 = 0.0084" in str(example)
    rounded = chain().worked({"x": 3, "t": 1}, {"w1": 2.0, "w2": 5.0}, lr=0.1, digits=0)
    assert "z = w1 x = 2 · 3 = 6" in str(rounded) and "y = w2 h = 5 · 12 = 60" in str(rounded)


def test_a_number_a_spelling_leaves_bare_is_bracketed_as_a_base_divisor_or_factor():
    """Found by a hunt: a = −3/4 printed 'b = a² = −3/4² = 9/16' and 'c = 1/a = 1/−3/4',
    and scaled_tanh 'tanh(2/3 −3/4)': each reads as another number than the one it equals."""
    g = d.Graph("bare")
    x, t, w = g.input("x", (1, 1)), g.input("t", (1, 1)), g.param("w", (1, 1))
    a = (w * x).named("a")
    bare = (a ** 2).named("b") + (1 / a).named("c")
    g.loss(d.squared_error(bare + d.scaled_tanh(a, 2, sp.Rational(2, 3)).named("f"), t))
    for x_value, a_text in ((-0.75, "(−0.75)"), (0.75, "0.75")):  # floats: 0.75 is bare
        text = str(d.derive(g).worked({"x": x_value, "t": 1}, {"w": 1}, digits=2))
        assert f"b = a² = {a_text}² = 0.56" in text and f"c = 1/a = 1/{a_text} = " in text
        assert f"tanh(2/3 {a_text})" in text
    g = d.Graph("exact")
    x, t, w = g.input("x", (1, 1)), g.input("t", (1, 1)), g.param("w", (1, 1))
    a = (w * x).named("a")
    g.loss(d.squared_error((a ** 2).named("b") + (1 / a).named("c"), t))
    der = d.derive(g)
    for x_value, a_text in ((Fraction(-3, 4), "(−3/4)"), (Fraction(3, 4), "(3/4)")):
        text = str(der.worked({"x": x_value, "t": 1}, {"w": 1}))
        assert f"b = a² = {a_text}² = 9/16\n" in text
        assert f"c = 1/a = 1/{a_text} = " in text
    latex = der.worked({"x": Fraction(-3, 4), "t": 1}, {"w": 1}).to_latex()
    assert r"a^{2} = \left(-\tfrac{3}{4}\right)^{2}" in latex


def test_a_delta_of_several_terms_shows_each_term_and_their_sum():
    der = d.derive(fan_out())
    inputs, params = random_values(der, d.compile_numpy(der), worked_sizes(der, {}), 0)
    example = der.worked(inputs, params)
    lines = str(example).splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith("δh = "))
    assert "# rule 1 (splitting): " in lines[start]
    block = lines[start + 1:next(k for k in range(start + 1, len(lines))
                                 if not lines[k].startswith(" "))]
    assert sum(line.startswith("  • ") for line in block) == len(der.terms["h"]) == 4
    assert block[-1].startswith("   = ") and block[-2].count(" + ") == 3  # the sum, then δh
    step = example.steps[None]
    assert np.allclose(sum(step.terms["h"]), example.delta("h"))
    assert example.agrees


@pytest.mark.parametrize("name", list(d.models.BUILTIN))
def test_every_built_in_model_agrees_with_its_generated_backward(name):
    example = random_example(name)
    assert example.agrees, example.difference
    assert example.gradients.keys() >= set(example.der.params)
    text = str(example)
    assert "CHECK FAILED" not in text and text.count("\n") > 10


def test_recurrent_nets_go_forward_for_each_step_and_back_from_the_last():
    text = str(random_example("rnn"))
    titles = [line for line in text.splitlines() if line.startswith(("Forward", "Backward"))]
    assert titles == ["Forward pass, t = 1", "Forward pass, t = 2",
                      "Backward pass, t = 2", "Backward pass, t = 1"]
    assert "E = Σ_t E_t = " in text
    assert "\nδh0 = Uᵀ δz_1   # rule 5 (weight matrix) at z\n" in text
    assert "\nδW += δz_2 x_2ᵀ   # rule 5 (weight matrix) at z\n" in text
    assert "  • Uᵀ δz_3 = [0, 0, 0]ᵀ   # the next step's δ" in text  # nothing after T
    # step 2 sends h_1 its share, Uᵀ δz_2; step 1 adds it to its own: δh_1 is one number
    assert "\nδh_1 += Uᵀ δz_2   # rule 5 (weight matrix) at z\n" in text
    assert "\nδh_1 = W_yᵀ δy_1 + Uᵀ δz_2   # rule 1 (splitting)" in text
    assert "\nδh_1 = Uᵀ δz_2" not in text
    assert "\nδW = Σ_t δz_t x_tᵀ\n" in text


def test_integers_through_products_and_a_squared_error_stay_exact():
    """1/2 Σ (W x − label)², Σ of squares as one dot product: sympy numbers all the way."""
    g = d.Graph("linear")
    x, label = g.input("x", ("D", "N")), g.input("label", ("K", "N"))
    g.loss(d.squared_error(g.param("W", ("K", "D")) @ x, label))
    x, W = [[1, 3], [2, -1]], [[1, -2], [sp.Rational(1, 2), 1]]
    example = d.derive(g).worked({"x": x, "label": [[1, 0], [0, 2]]}, {"W": W})
    assert example.exact and example.agrees
    residual = np.array([[-4, 5], [sp.Rational(5, 2), sp.Rational(-3, 2)]])  # W x − label
    assert example.loss == sp.Rational(1, 2) * np.sum(residual * residual)
    assert example.gradients["W"].tolist() == (residual @ np.array(x).T).tolist()


def test_a_sum_halved_keeps_the_numbers_exact():
    """E = ½ Σ z², written out: δt = ½ 𝟏 is 1/2, not Python's 1 / 2 = 0.5 (found by a hunt:
    the example went to floats)."""
    g = d.Graph("half")
    z = (g.param("W", ("H", "D")) @ g.input("x", ("D", "N"))).named("z")
    g.loss(d.sum(z * z) / 2)
    example = d.derive(g).worked({"x": [[1], [2]]}, {"W": [[1, 2], [3, 4]]})
    assert example.exact and example.agrees
    assert example.loss == 73  # ½ (5² + 11²)
    assert example.gradients["W"].tolist() == [[5, 10], [11, 22]]  # δz xᵀ, δz = z


def test_relu_and_its_step_keep_the_numbers_exact():
    """relu(z) = max(z, 0.0) gives the float 0.0 and its slope 1[z > 0] gives booleans, each
    as exact as the rest: the example stays in fractions (found by a hunt: it fell back to
    4-decimal floats; then again where δh was a fraction, which sympy would not multiply by
    a boolean)."""
    g = d.Graph("relu")
    x, label = g.input("x", ("D", "N")), g.input("label", ("K", "N"))
    h = d.relu(g.param("W", ("H", "D")) @ x).named("h")
    g.loss(d.squared_error(g.param("V", ("K", "H")) @ h, label))
    W = [[1, 2], [sp.Rational(1, 2), -1], [0, 1]]
    example = d.derive(g).worked({"x": [[1, 2], [-1, 3]], "label": [[1, 0]]},
                                 {"W": W, "V": [[1, -2, sp.Rational(3, 2)]]})
    assert example.exact and example.agrees
    z = np.array(W, dtype=object) @ np.array([[1, 2], [-1, 3]], dtype=object)
    assert example.steps[None].values["h"].tolist() == [[max(v, 0) for v in row] for row in z]


def test_a_user_formula_with_a_fraction_keeps_the_numbers_exact():
    """φ(u) = u³/3 (the README's own): the module's φ multiplies by the float 1/3, and the
    example went to floats (found by a hunt); it is worked with the fraction exact."""
    g = d.Graph("cube")
    x, t = g.input("x", (1, 1)), g.input("t", (1, 1))
    phi = d.elementwise("phi", lambda u: u**3 / 3)
    g.loss(d.squared_error(phi((g.param("w", (1, 1)) @ x).named("z")).named("y"), t))
    example = d.derive(g).worked({"x": 1, "t": 0}, {"w": 2})
    assert example.exact and example.agrees
    assert example.value("y")[0, 0] == sp.Rational(8, 3)  # 2³/3
    assert example.gradients["w"][0, 0] == sp.Rational(8, 3) * 2**2 * 1  # (y − t) φ′(z) x


def test_a_user_formula_with_a_negative_power_keeps_the_numbers_exact():
    """φ(u) = 1/(1 + u²) and its slope −2u/(1 + u²)²: numpy code writes the powers as
    **(-1.0) and **(-2.0), which made the example floats (found by a hunt)."""
    g = d.Graph("bump")
    x = g.input("x", (1, 2))
    phi = d.elementwise("phi", lambda u: 1 / (1 + u**2))
    g.loss(d.sum(phi((g.param("w", (1, 1)) @ x).named("z")).named("y")))
    example = d.derive(g).worked({"x": [[1, 2]]}, {"w": [[sp.Rational(1, 2)]]})
    assert example.exact and example.agrees
    assert example.value("y").tolist() == [[sp.Rational(4, 5), sp.Rational(1, 2)]]  # z = 1/2, 1
    slopes = [-2 * z / (1 + z**2) ** 2 for z in (sp.Rational(1, 2), sp.Integer(1))]
    assert example.gradients["w"][0, 0] == slopes[0] * 1 + slopes[1] * 2  # Σ φ′(z) x


@pytest.mark.parametrize("layer", ["conv2d", "overlapping max_pool2d"])
def test_a_δ_pushed_back_through_patches_keeps_the_numbers_exact(layer):
    """The pieces pushed back onto each pixel are summed with a row of zeros for the padding,
    which was the float 0.0: every δ before it went to floats (found by a hunt)."""
    g = d.Graph("patches")
    x, t = g.input("x", (9, 1)), g.input("t", (1, 1))
    a = (x * g.param("v", (9, 1))).named("a")
    if layer == "conv2d":
        z = d.conv2d(a, g.param("K", (1, 4)), image=(1, 3, 3), kernel=2)
    else:
        z = d.max_pool2d(a, image=(1, 3, 3), size=2, stride=1)
    g.loss(d.squared_error(g.param("w", (1, 4)) @ z.named("z"), t))
    params = {"w": [[1, "1/2", -1, "1/3"]], "v": [[1]] * 9, "K": [[1, -1, "1/2", 2]]}
    example = d.derive(g).worked({"x": [[k - 4] for k in range(9)], "t": [[1]]},
                                 {k: v for k, v in params.items() if k != "K" or layer == "conv2d"})
    assert example.exact and example.agrees
    assert all(isinstance(v, sp.Rational) for v in example.delta("a").ravel())


def test_a_slope_that_is_infinite_where_the_loss_is_finite_is_named():
    """√z at z = 0: the loss is finite, δz = δr / (2√z) is not; the example was worked in NaNs
    and its check blamed derive (found by a hunt)."""
    g = d.Graph("root")
    x, t = g.input("x", (1, 1)), g.input("t", (1, 1))
    r = d.sqrt((g.param("w", (1, 1)) @ x).named("z"))
    g.loss(d.squared_error(g.param("v", (1, 1)) @ r, t))
    for x_value in (0, 0.0):
        with pytest.raises(ValuesError, match="the loss is finite at these values, but δz is "
                                              "not"):
            d.derive(g).worked({"x": x_value, "t": 1}, {"w": 2, "v": 3})


def test_a_delta_the_module_computes_in_another_form_is_worked_as_written():
    """δz = softmax(z) − t + … : the module takes softmax(z) as the exp of the log_softmax the
    loss computed and defines no softmax; the example calls it all the same."""
    g = d.Graph("both")
    x = g.input("x", ("D", "N"))
    t = d.sigmoid(g.param("V", ("K", "D")) @ x)
    z = g.param("W", ("K", "D")) @ x
    g.loss(d.squared_error(z, t) + d.softmax_cross_entropy(z, t))
    der = d.derive(g)
    assert "def softmax(" not in d.to_numpy(der)
    example = der.worked({"x": [[1], [2]]}, {"V": [[1, 0], [0, 1]], "W": [[1, 1], [0, 1]]})
    assert example.agrees and "softmax(" in str(example)


def test_a_tie_that_pooling_first_breaks_otherwise_is_no_failed_check():
    """tanh(2) and tanh(2 + 2⁻⁵¹) are one float: as written, max pooling sends δ to the first
    position, whose pixel is in channel 1; the module pools z first and sends it to the
    second, the larger z, whose pixel is in channel 2. The example is checked against the
    module that computes every value as written."""
    g = d.Graph("tie")
    x, t = g.input("x", (4, "N")), g.input("t", (1, "N"))
    z = d.conv2d(x, g.param("K", (1, 2)), image=(2, 1, 2), kernel=1, bias=g.param("b", (1, 1)))
    g.loss(d.squared_error(d.max_pool2d(d.tanh(z), image=(1, 1, 2), size=(1, 2)), t))
    der = d.derive(g)
    assert "max pooling first" in d.to_numpy(der)
    x_ = [[2.0], [0.0], [0.0], [2.0 + 2.0**-51]]  # channel 1's two pixels, then channel 2's
    inputs, params = {"x": x_, "t": [[0.0]]}, {"K": [[1.0, 1.0]], "b": [[0.0]]}
    assert np.tanh(2.0) == np.tanh(2.0 + 2.0**-51)
    example = der.worked(inputs, params)
    assert example.agrees and "CHECK FAILED" not in str(example)


def test_a_compact_form_shows_its_own_numbers_and_the_same_delta():
    example = random_example("layer-norm-mlp")
    (name,) = example.der.compact
    assert np.allclose(example.steps[None].compact[name], example.delta(name))
    lines = str(example).splitlines()
    rows = [k for k, line in enumerate(lines) if line.startswith(f"δ{name} = ")]
    assert len(rows) == 2 and lines[rows[1]].endswith("# layer norm, compact form")
    value = lines[rows[1] + 2].split(" = ")[-1]
    assert value == lines[rows[1] - 1].split(" = ")[-1]  # the same δ, to the last digit


def test_large_matrices_are_cut_and_show_their_shape():
    text = str(random_example("digits-mlp"))
    assert "…], …] (64×64)" in text and "…]ᵀ (64×1)" in text


# --- LaTeX, notebooks and pictures -------------------------------------------------

@pytest.mark.parametrize("example", [chain_example, mlp_example, lambda: random_example("rnn"),
                                     lambda: random_example("digits-mlp")],
                         ids=["chain", "mlp", "rnn", "digits-mlp"])
def test_the_latex_compiles(example, tmp_path):
    pdflatex(example().to_latex(standalone=True), tmp_path)


def test_latex_has_matrices_aligned_equations_and_the_rule_beside_each_delta():
    tex = mlp_example().to_latex()
    assert r"\begin{align*}" in tex
    assert r"\begin{bmatrix} 0.1 & 0.2 \\ 0.3 & 0.4 \end{bmatrix}" in tex
    assert r"\delta h &= W_{2}^\top \, \delta z_{2} && \text{rule 5 at } z_{2}" in tex
    assert r"\tfrac{21}{10}" in chain_example().to_latex()
    notebook = mlp_example()._repr_latex_()
    assert "$$\\begin{aligned}" in notebook and "\\paragraph" not in notebook


def test_a_picture_shows_each_value_and_delta():
    example = mlp_example()
    dot = d.draw(example.der, values=example).dot
    assert "= [0.5, 1.1]ᵀ" in dot and "δ = [−0.0311, 0.0248]ᵀ" in dot
    with pytest.raises(d.DeriveError, match="worked example"):
        d.draw(example.der, values={"x": 1})
    assert d.draw(example.der.graph, values=example).dot == dot
    with pytest.raises(d.DeriveError, match="another graph"):
        d.draw(d.derive(d.models.rnn()), values=example)


# --- bad input ----------------------------------------------------------------------

MLP_INPUTS = {"x": [[1], [2]], "label": [[1]]}
MLP_PARAMS = {"W1": [[1, 2], [3, 4]], "b1": [[0], [0]], "W2": [[1, -1]], "b2": [[0]]}


@pytest.mark.parametrize("inputs, params, message", [
    ({"x": [[1], [2]]}, MLP_PARAMS, "no value for the input 'label'"),
    ({**MLP_INPUTS, "y": [[1]]}, MLP_PARAMS, "the inputs name 'y', which mlp does not have"),
    ({**MLP_INPUTS, "W1": [[1]]}, MLP_PARAMS, "'W1' is a parameter of mlp"),
    (MLP_INPUTS, {**MLP_PARAMS, "W2": [[1, 2, 3]]}, "parameter 'W2' has shape"),
    (MLP_INPUTS, {**MLP_PARAMS, "b1": [0, 0]}, "parameter 'b1' must be a 2-d array"),
    ({**MLP_INPUTS, "x": [[1], ["a"]]}, MLP_PARAMS, r"input 'x': the entry \[1\]\[0\] is"),
    ({**MLP_INPUTS, "x": [[1], [True]]}, MLP_PARAMS, "not a number"),
    ({**MLP_INPUTS, "x": [[1], [float("nan")]]}, MLP_PARAMS, "not a finite number"),
    ({**MLP_INPUTS, "x": [[1], ["-1e999"]]}, MLP_PARAMS, "beyond float64's range"),
    ({**MLP_INPUTS, "x": [[1], [10**400]]}, MLP_PARAMS, "beyond float64's range"),  # (hunt)
    ({**MLP_INPUTS, "x": [[1], ["1e-400"]]}, MLP_PARAMS, "below float64's smallest"),
    ({**MLP_INPUTS, "x": [[1, 2], [3]]}, MLP_PARAMS, "input 'x' is ragged"),
    ({**MLP_INPUTS, "x": "1/2"}, MLP_PARAMS, "input 'x' has shape"),
    ([], MLP_PARAMS, "inputs are a dict"),
])
def test_values_that_do_not_fit_are_errors_naming_the_array(inputs, params, message):
    der = d.derive(d.models.mlp())
    with pytest.raises(ValuesError, match=message):
        der.worked(inputs, params)


def test_a_fraction_in_text_is_read_exactly_and_nothing_else_is_read():
    example = chain().worked({"x": "1", "t": "3"}, {"w1": "2", "w2": "0.5"}, lr="1e-1")
    assert example.exact and example.value("y")[0, 0] == 2 and example.lr == sp.Rational(1, 10)
    for text in ("1e999999999", "1/0", "0x10", "1_000", " ", "inf", "\uff11", "\u0661/2"):
        with pytest.raises(ValuesError, match="parameter 'w1'"):
            chain().worked({"x": 1, "t": 3}, {"w1": text, "w2": 1})
    with pytest.raises(ValuesError, match="not a number"):
        chain().worked({"x": "__import__('os')", "t": 3}, {"w1": 2, "w2": 1})
    with pytest.raises(ValuesError, match="learning rate"):
        chain().worked({"x": 1, "t": 3}, {"w1": 2, "w2": 1}, lr=-1)


def test_targets_the_module_refuses_are_errors_too():
    der = d.derive(d.models.softmax_classifier())
    inputs, params = random_values(der, d.compile_numpy(der), worked_sizes(der, {}), 0)
    with pytest.raises(ValuesError, match="distribution"):
        der.worked({**inputs, "t": 2 * inputs["t"]}, params)


# --- the command --------------------------------------------------------------------

def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_the_command_works_a_model_file_with_a_values_file(capsys):
    status, out, _ = run(capsys, "explain", str(MODELS / "chain.bp"), "--numbers",
                         "--values", str(MODELS / "chain.json"), "--lr", "0.1")
    assert status == 0 and out == CHAIN_TEXT


def test_without_values_the_command_draws_them_and_says_so(capsys):
    status, out, _ = run(capsys, "explain", "mlp", "--numbers", "--seed", "3", "--dim", "H=2")
    assert status == 0
    assert out.startswith("Random values from seed 3, rounded to 1 decimal")
    assert "A worked example of mlp at D=2 H=2 K=2 N=1" in out


@pytest.mark.parametrize("content, message", [
    ('{"x": 1, "t": 3, "w1": 2, "w2": 1, "w3": 5}', "names 'w3', which chain does not have"),
    ('{"x": 1, "t": 3, "w1": 2}', "no value for the parameter 'w2'"),
    ('{"x": 1, "t": 3, "w1": 2, "w2": "one"}', "parameter 'w2' is 'one', not a number"),
    ('{"x": 1, "t": 3, "w1": 2, "w2": NaN}', "NaN is not a number"),
    ('{"x": 1, "x": 2}', "'x' is given twice"),
    ('[1, 2]', "holds one JSON object"),
    ('{"x": ', "not JSON"),
])
def test_a_bad_values_file_is_one_message(capsys, tmp_path, content, message):
    path = tmp_path / "values.json"
    path.write_text(content)
    status, out, err = run(capsys, "explain", str(MODELS / "chain.bp"), "--numbers",
                           "--values", str(path))
    assert status == 2 and out == "" and message in err and "Traceback" not in err


def test_a_values_file_that_is_no_file_is_refused_at_once(capsys, tmp_path):
    os.mkfifo(tmp_path / "fifo.json")  # reading it would block
    for path, message in ((tmp_path / "fifo.json", "is not a regular file"),
                          (tmp_path, "is a folder"), (tmp_path / "none.json", "no values file")):
        status, _, err = run(capsys, "explain", "mlp", "--numbers", "--values", str(path))
        assert status == 2 and message in err


@pytest.mark.parametrize("argv, message", [
    (["--values", "v.json"], "--values goes with --numbers"),
    (["--seed", "0"], "--seed goes with --numbers"),
    (["--numbers", "--values", "v.json", "--seed", "1"], "one or the other"),
    (["--numbers", "--dim", "Q=2"], "no such dimension"),
])
def test_options_that_do_not_fit_together_are_refused(capsys, argv, message):
    status, _, err = run(capsys, "explain", "mlp", *argv)
    assert status == 2 and message in err


# --- the README's picture -----------------------------------------------------------

def figure_latex():
    der = d.derive(d.models.mlp())
    return der.worked({"x": [[1], [2]], "label": [[1]]},
                      {"W1": [[0.1, 0.2], [0.3, 0.4]], "b1": [[0], [0]], "W2": [[1, -1]],
                       "b2": [[0]]}).to_latex(standalone=True)


def test_the_readme_picture_of_a_worked_example_is_the_current_latex():
    from PIL import Image
    tex = (FIGURE.with_suffix(".tex")).read_text()
    assert tex == figure_latex()
    with Image.open(FIGURE.with_suffix(".png")) as png:
        assert png.text[FIGURE_KEY] == hashlib.sha256(tex.encode()).hexdigest()


def test_the_readme_shows_the_current_worked_example_and_its_picture():
    readme = (ROOT / "README.md").read_text()
    command = ("derive explain tests/models/chain.bp --numbers --values "
               "tests/models/chain.json --lr 0.1")
    assert f"```sh\n{command}\n```\n\nprints\n\n```\n{CHAIN_TEXT}```" in readme
    assert f"]({FIGURE.relative_to(ROOT)}.png)" in readme


def regenerate_figure():
    """Write the LaTeX, compile it with pdflatex, render its first page with mutool, crop
    it to the equations, and mark the PNG with the SHA-256 of the LaTeX it shows."""
    from PIL import Image, ImageChops, PngImagePlugin
    tex = figure_latex()
    FIGURE.with_suffix(".tex").write_text(tex)
    with tempfile.TemporaryDirectory() as scratch:
        (Path(scratch) / "doc.tex").write_text(tex)
        subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
                       cwd=scratch, check=True, capture_output=True)
        subprocess.run([shutil.which("mutool") or "mutool", "draw", "-r", "150", "-o",
                        "page.png", "doc.pdf", "1"], cwd=scratch, check=True, capture_output=True)
        with Image.open(Path(scratch) / "page.png") as page:
            margin = round(2 / 2.54 * 150)  # the bottom margin (2 cm), with the page number
            page = page.convert("RGB").crop((0, 0, page.width, page.height - margin))
            box = ImageChops.invert(page).getbbox()
            page = page.crop((box[0] - 20, box[1] - 20, box[2] + 20, box[3] + 20))
            info = PngImagePlugin.PngInfo()
            info.add_text(FIGURE_KEY, hashlib.sha256(tex.encode()).hexdigest())
            page.save(FIGURE.with_suffix(".png"), pnginfo=info, optimize=True)


if __name__ == "__main__":
    regenerate_figure()


def test_the_check_says_where_pooling_first_meets_a_tie_rounding_made():
    """relu then a max pool of z = K ⋆ x + b: the module pools before the bias and relu.
    With z = (100, 100 + 2⁻⁵⁰ rounded to 100) the equations see a tie (δ to the first) and
    the module, comparing 0 with 2⁻⁵⁰ before the bias, none (δ to the second): the check
    says which module the example agrees with, and by how much the other differs."""
    g = d.Graph("round_tie")
    x, t = g.input("x", (4, 1)), g.input("label", (1, 1))
    K, b = g.param("K", (1, 2)), g.param("b", (1, 1))
    z = d.conv1d(x, K, signal=(1, 4), kernel=2, stride=2, bias=b)
    g.loss(d.squared_error(d.max_pool2d(d.relu(z), image=(1, 1, 2), size=(1, 2)), t))
    der = d.derive(g)
    inputs = {"x": np.array([[0.0], [0.0], [7 + 2.0**-50], [7.0]]), "label": np.array([[0.0]])}
    tied = der.worked(inputs, {"K": np.array([[1.0, -1.0]]), "b": np.array([[100.0]])})
    assert tied.agrees and tied.pooled_first_differs
    assert "As generated, the module takes each window's maximum before" in check_words(tied)
    apart = der.worked(inputs, {"K": np.array([[1.0, -2.0]]), "b": np.array([[0.5]])})
    assert apart.agrees and not apart.pooled_first_differs
    assert check_words(apart).startswith("Check: the generated module's backward gives these")
