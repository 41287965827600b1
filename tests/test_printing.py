"""Printed code means what the expression means: random expression trees, printed as numpy
and evaluated, against sympy's own evaluation of the same tree on the same numbers."""

import os

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import derive as d
from derive.algebra import ONES, SUM_COLS, SUM_PRODUCTS, SUM_ROWS, SUM_SQUARES, ones
from derive.codegen import loaded
from derive.functions import apply
from derive.printers.numpy_code import numpy_code
from derive.printers.text import text
from derive.rendering import render

N = 3
A, B, C = (sp.MatrixSymbol(name, N, N) for name in "ABC")
VALUES = {name: np.random.default_rng(k).normal(size=(N, N)) for k, name in enumerate("ABC")}
COEFFICIENTS = [sp.Rational(1, 4), sp.Integer(-1), sp.Integer(-3), sp.Float(0.5),
                sp.Rational(-2, 7), sp.Integer(2)]

# Printed sums call the generated module's own helpers (Σ_rows, Σ_cols, Σ u², Σ u ⊙ v),
# defined as a module defines them.
_SUMS = (ONES, SUM_ROWS, SUM_COLS, SUM_SQUARES, SUM_PRODUCTS)
_HELPERS = loaded("import numpy as np\n" + render("_helpers.py.j2", helpers=_SUMS), "sums")
SUMS = {helper.name: getattr(_HELPERS, helper.name) for helper in _SUMS}

leaves = st.sampled_from([A, B, C])


def grow(children):
    pairs = st.tuples(children, children)
    return st.one_of(
        pairs.map(lambda p: p[0] + p[1]),
        pairs.map(lambda p: p[0] - p[1]),
        pairs.map(lambda p: p[0] * p[1]),                       # matrix product
        pairs.map(lambda p: sp.hadamard_product(p[0], p[1])),
        st.tuples(st.sampled_from(COEFFICIENTS), children).map(lambda p: p[0] * p[1]),
        children.map(lambda x: x.T),
        children.map(lambda x: -x),
        children.map(lambda x: sp.HadamardPower(x, 2)),
        children.map(lambda x: apply(sp.tanh, x)),
        children.map(lambda x: apply(lambda u: u**3 / 3 - u, x)),
        children.map(lambda x: ones(N, N) * x * ones(N, N)),       # everything summed
        children.map(lambda x: ones(N, N) * x),                 # column sums, stretched back
        children.map(lambda x: x * ones(N, 1) * ones(1, N)),    # row sums, stretched back
    )


expressions = st.recursive(leaves, grow, max_leaves=8)


def by_sympy(expr):
    explicit = expr.subs({sp.MatrixSymbol(k, N, N): sp.ImmutableMatrix(v)
                          for k, v in VALUES.items()}).doit()
    return np.array(sp.Matrix(explicit).evalf(), dtype=float)


# CI draws the same trees every run; DERIVE_FUZZ draws that many new ones
@settings(max_examples=int(os.environ.get("DERIVE_FUZZ", "100")), deadline=None,
          derandomize="DERIVE_FUZZ" not in os.environ)
@given(expressions)
def test_printed_numpy_evaluates_to_what_sympy_evaluates(expr):
    code = numpy_code(expr)
    printed = np.broadcast_to(eval(code, {"np": np, "dtype": np.float64, **SUMS, **VALUES}),  # our code
                              (N, N))
    assert np.allclose(printed, by_sympy(expr), rtol=1e-9, atol=1e-9), (code, text(expr))


def test_a_scaled_product_inside_a_function_keeps_its_brackets():
    """0.25·(oᵀ m) fed into tanh printed as `o.T @ 1/4 * (…)` before: a ValueError at run time
    (now the quarter is a division, one rounding)."""
    g = d.Graph("g")
    o, x = g.input("o", (1, "D")), g.input("x", ("D", "N"))
    m = (g.param("W", ("D", "D")) @ x).named("m")
    g.loss(d.squared_error(d.tanh(0.25 * (o @ m)), g.input("t", (1, "N"))))
    source = d.to_numpy(d.derive(g))
    assert "delta_m = o.T @ (delta_t1 * (1 - t1**2) / 4)" in source


def test_scalar_formulas_read_like_the_rest_of_the_equations():
    """Inside f′ and constants: 2·z, 1/(2·N), −, 1[u > 0] and {… if …} — not sympy's 2*z,
    -z, Heaviside(u, 0) and Piecewise(…)."""
    clip = d.elementwise("clip", lambda u: sp.Piecewise((-1, u < -1), (u, u < 1), (1, True)))
    leaky = d.elementwise("leaky", lambda u: sp.Max(u, u / 10))
    g = d.Graph("scalars")
    x, label = g.input("x", ("D", "N")), g.input("label", ("D", "N"))
    z = (g.param("W", ("D", "D")) @ x).named("z")
    v = (z ** 2).named("v")
    g.loss(d.squared_error(clip(v) + leaky(v), label, reduce="mean"))
    text = str(d.derive(g))
    assert "δz = δv ⊙ (2·z)" in text
    assert "1/(2·N) Σ" in text
    assert "{0 if v < −1; 1 if v < 1; 0 otherwise}" in text
    assert "1[−9·v/10 > 0]/10 + 1[9·v/10 > 0]" in text
    assert not any(s in text for s in ("*", "-", "Heaviside", "Piecewise"))


def test_a_loss_added_to_others_passes_its_delta_on_without_a_factor_of_1():
    g = d.Graph("penalized")
    x, label = g.input("x", ("D", "N")), g.input("label", ("K", "N"))
    W = g.param("W", ("K", "D"))
    g.loss(d.squared_error((W @ x).named("out"), label) + 0.5 * d.sum(W * W))
    assert "δout = out − label " in str(d.derive(g))
    g = d.Graph("scaled")
    x, label = g.input("x", ("D", "N")), g.input("label", ("K", "N"))
    g.loss(3 * d.squared_error((g.param("W", ("K", "D")) @ x).named("out"), label))
    assert "δout = 3 (out − label) " in str(d.derive(g))


def test_a_matrix_of_ones_is_a_bold_one_in_text_as_in_latex():
    """E = mean(W x): δt1 = 1/(K·N) 𝟏, a matrix of ones, not the number 1/(K·N) 1."""
    g = d.Graph("mean")
    g.loss(d.mean((g.param("W", ("K", "D")) @ g.input("x", ("D", "N"))).named("t1")))
    der = d.derive(g)
    assert "δt1 = 1/(K·N) 𝟏 " in str(der)
    assert r"\mathbf{1}" in der.to_latex()


def test_a_scaled_penaltys_delta_is_a_number_times_a_matrix_of_ones():
    """E = ½‖W x − t‖² + 0.1 Σ W ⊙ W: δ of W ⊙ W is 1/10 𝟏 (found by a hunt: the
    coefficient stayed inside a product with a 1×1 identity, printed '1/10 1', read 1/101)."""
    g = d.Graph("penalty")
    x, t, W = g.input("x", ("D", "N")), g.input("t", ("K", "N")), g.param("W", ("K", "D"))
    g.loss(d.squared_error(W @ x, t) + d.sum((W * W).named("t2")) * 0.1)
    der = d.derive(g)
    assert "δt2 = 1/10 𝟏 " in str(der)
    assert r"\delta t_{2} &= \frac{1}{10} \mathbf{1}" in der.to_latex()


def test_π_and_e_are_constants_printed_as_such_whose_gradients_are_autograds():
    """Found by a hunt: z * sp.pi was refused as "expected a node or a number"; and e must
    not print as E, the loss, nor as e, which may be a node (a later hunt)."""
    g = d.Graph("constants")
    x, t, W = g.input("x", ("D", "N")), g.input("t", ("K", "N")), g.param("W", ("K", "D"))
    g.loss(d.squared_error(d.tanh(W @ x * sp.pi + sp.sqrt(2)).named("h") * sp.E, t))
    der = d.derive(g)
    assert "h = tanh(π W x + sqrt(2))\n" in str(der) and "δh = exp(1) δt1 " in str(der)
    module, rng = d.compile_numpy(der), np.random.default_rng(0)
    params, x, t = {"W": rng.normal(size=(2, 3))}, rng.normal(size=(3, 4)), rng.normal(size=(2, 4))
    loss, cache = module.forward(params, {"x": x, "t": t})

    def oracle(W):
        return 0.5 * anp.sum((anp.tanh(W @ x * np.pi + np.sqrt(2)) * np.e - t) ** 2)
    assert np.isclose(loss, oracle(params["W"]), rtol=1e-14)
    assert np.allclose(module.backward(params, cache)["W"], autograd.grad(oracle)(params["W"]),
                       rtol=1e-13, atol=0)


def test_irrational_constants_in_every_place_a_number_goes_are_autograds():
    """A later hunt: x ** π wrote numpy.pi into the module (a NameError); maximum(z, π),
    scaled_tanh(z, √2, 1) and layer_norm(z, eps=e/10⁵) were refused; e¹⁰⁰⁰ became inf."""
    g = d.Graph("irrational")
    x, t, W = g.input("x", ("D", "N")), g.input("t", ("D", "N")), g.param("W", ("D", "D"))
    z = (W @ x).named("z")
    y = (d.maximum(z, sp.pi / 4) + d.scaled_tanh(z, sp.sqrt(2), 1 / sp.E)
         + d.layer_norm(z, eps=sp.E / 10**5) + (z * z + 1) ** sp.pi).named("y")
    g.loss(d.squared_error(y, t))
    module, rng = d.compile_numpy(d.derive(g)), np.random.default_rng(1)
    params, x, t = {"W": rng.normal(size=(3, 3))}, rng.normal(size=(3, 4)), rng.normal(size=(3, 4))

    def oracle(W):
        z = W @ x
        centred = z - anp.mean(z, axis=0)
        normed = centred / anp.sqrt(anp.mean(centred ** 2, axis=0) + np.e / 1e5)
        y = (anp.maximum(z, np.pi / 4) + np.sqrt(2) * anp.tanh(z / np.e) + normed
             + (z * z + 1) ** np.pi)
        return 0.5 * anp.sum((y - t) ** 2)
    loss, cache = module.forward(params, {"x": x, "t": t})
    assert np.isclose(loss, oracle(params["W"]), rtol=1e-13)
    assert np.allclose(module.backward(params, cache)["W"], autograd.grad(oracle)(params["W"]),
                       rtol=1e-12, atol=0)
    for huge in (sp.exp(1000), sp.pi ** -700):
        with pytest.raises(d.FormulaError, match="the constant"):
            z * huge


def test_the_reciprocal_of_a_product_keeps_its_brackets():
    """1/(V x), where nothing else reads V x: 1/(V x) in the equations and 1 / (V @ x) in the
    code, which Python would otherwise read as (1/V) @ x (found by a hunt: a wrong loss)."""
    g = d.Graph("reciprocal")
    x, label = g.input("x", ("D", "N")), g.input("label", ("K", "N"))
    g.loss(d.squared_error((1 / (g.param("V", ("K", "D")) @ x)).named("y"), label))
    der = d.derive(g)
    assert "y = 1/(V x)" in str(der)
    assert "    y = (1 / (V @ x))\n" in d.to_numpy(der)
    assert r"\frac{1}{V \, x}" in der.to_latex()


def test_a_stretch_inside_a_matrix_product_shows_its_ones():
    """y = x ⊙ mean(W x): δW = 𝟏 c 𝟏ᵀ xᵀ, D×D, with c = 1/(D·N) Σ (δt1 ⊙ x). Without the
    ones, c xᵀ reads as N×D (found by a hunt: the numpy code was right, the equations in the
    text and the LaTeX were not); likewise 𝟏 (Σ_rows …) xᵀ for a sum over the rows."""
    for reduce, shown in ((d.mean, "δW = 𝟏 (1/(D·N) Σ (δt1 ⊙ x)) 𝟏ᵀ xᵀ"),
                          (lambda u: d.sum(u, axis=0), "δW = 𝟏 (Σ_rows (δt1 ⊙ x)) xᵀ")):
        g = d.Graph("stretched")
        x, t = g.input("x", ("D", "N")), g.input("t", ("D", "N"))
        g.loss(d.squared_error(x * reduce(g.param("W", ("D", "D")) @ x), t))
        der = d.derive(g)
        assert shown in str(der)
        assert r"\delta W &= \mathbf{1} \, (" in der.to_latex()
    D, M = sp.symbols("D M", positive=True, integer=True)
    row, y = sp.MatrixSymbol("r", 1, M), sp.MatrixSymbol("y", M, M)
    assert text(sp.MatMul(y, sp.Transpose(sp.MatMul(sp.OneMatrix(D, 1), row)))) == "y rᵀ 𝟏ᵀ"


def test_a_scaled_tanh_is_bracketed_where_a_product_would_be():
    """1/scaled_tanh(v) of an input: 1/(−2 tanh(3/2 v)), not 1/−2 tanh(3/2 v), in the text
    and the code (found by a hunt: a wrong loss; the random programs draw it too)."""
    g = d.Graph("bracketed")
    v, t = g.input("v", ("H", "N")), g.input("t", ("H", "N"))
    u = (1 / d.scaled_tanh(v, -2, 1.5)).named("u")
    g.loss(d.squared_error(g.param("W", ("H", "H")) @ u, t))
    der = d.derive(g)
    assert "u = 1/(−2 tanh(3/2 v))" in str(der)
    assert "    u = (1 / ((-2) * np.tanh((3/2) * v)))\n" in d.to_numpy(der)


def test_functions_spelled_as_operations_are_bracketed_as_what_they_are():
    """−2 tanh(3/2 v) is a negation, 1/v a quotient, v² a power: after a coefficient or a
    minus, or as a power's base, each keeps its brackets (the text read 2 −2 tanh(3/2 v),
    1 − −2 tanh(…), 2 1/v and v²^(−1), and the LaTeX v^{2}^{-1} did not compile; found by a
    hunt)."""
    def st(v):
        return d.scaled_tanh(v, -2, 1.5)
    for build, shown in ((lambda v: 2 * st(v), "t1 = 2 (−2 tanh(3/2 v))"),
                         (lambda v: 1 - st(v), "t1 = 1 − (−2 tanh(3/2 v))"),
                         (lambda v: d.scaled_tanh(st(v), -1, -1), "−1 tanh(−1 (−2 tanh(3/2 v)))"),
                         (lambda v: 2 * (1 / v), "t1 = 2 (1/v)"),
                         (lambda v: (v ** 2) ** -1, "t1 = (v²)^(−1)")):
        g = d.Graph("spelled")
        x, v, t = g.input("x", ("D", "N")), g.input("v", ("H", "N")), g.input("t", ("H", "N"))
        g.loss(d.squared_error((g.param("W", ("H", "D")) @ x) * build(v), t))
        der = d.derive(g)
        assert shown in str(der)
    assert r"(v^{2})^{-1}" in der.to_latex()


def test_a_scaled_tanhs_numbers_are_the_ones_given():
    """scaled_tanh(v, √2 as a float, 1.7320508): sympy's nsimplify made them √2, which the
    module spelled numpy.sqrt(2) (a NameError when it ran), and √3, another number (found by
    a hunt). They are now the rationals every other constant is, as given."""
    g = d.Graph("given")
    x, v, t = g.input("x", ("D", "N")), g.input("v", ("H", "N")), g.input("t", ("H", "N"))
    y = (g.param("W", ("H", "D")) @ x) * d.scaled_tanh(v, 2 ** 0.5, 1.7320508)
    g.loss(d.squared_error(y, t))
    module = d.compile_numpy(d.derive(g))
    params = module.init_params({"D": 2, "H": 3, "N": 4})
    inputs = {"x": np.ones((2, 4)), "v": np.full((3, 4), 0.5), "t": np.zeros((3, 4))}
    _, cache = module.forward(params, inputs)
    assert np.allclose(cache["t1"], 2 ** 0.5 * np.tanh(1.7320508 * 0.5), rtol=1e-12)


def test_a_term_folded_through_a_sum_is_labelled_by_the_rule_that_shaped_it():
    """r = tanh(t1 + 1), the sum folded into r: δt1 = δr ⊙ (1 − r²) is tanh′, rule 4 (it was
    labelled rule 2, the sum's, which passes δ on as it is); z = W x + b stays rule 5."""
    g = d.Graph("g")
    x, t = g.input("x", ("D", "N")), g.input("t", ("D", "N"))
    u = (g.param("W", ("D", "D")) @ x).named("u")
    r = d.tanh(u * u + 1).named("r")
    g.loss(d.squared_error(g.param("V", ("D", "D")) @ r + g.param("b", ("D", 1)), t))
    lines = str(d.derive(g)).splitlines()
    assert "δt1 = δr ⊙ (1 − r²)      # rule 4 (function application) at r" in lines
    assert any(line.startswith("δV = δt2 rᵀ") and line.endswith("# rule 5 (weight matrix) at t2")
               for line in lines)
    tex = d.derive(g).to_latex()
    assert r"\text{rule 4 at } r" in tex and r"\text{rule 2 at } r" not in tex


def test_a_constant_minus_a_node_is_one_sum_labelled_rule_2():
    """1 − u (a GRU's update gate) was −u, then plus 1: δu = −δt1 said rule 3, a scaling's;
    subtraction is rule 2, which negates the δ of what is subtracted."""
    g = d.Graph("g")
    x, t = g.input("x", ("D", "N")), g.input("t", ("D", "N"))
    u = d.sigmoid(g.param("W", ("D", "D")) @ x).named("u")
    keep = (1 - u).named("keep")
    g.loss(d.squared_error(keep * x, t))
    assert [n.kind for n in g.nodes if n.inputs == (u,)] == ["add"]
    assert any(line.startswith("δu = −δkeep") and line.endswith("# rule 2 (adding) at keep")
               for line in str(d.derive(g)).splitlines())
