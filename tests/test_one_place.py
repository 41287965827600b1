"""An operation costs one place: this file alone defines a new elementwise function (cube) and
a new binary operation (hypot), each one registered entry beside its rule, and both work end
to end: equations, LaTeX that compiles, numpy, a model file, gradcheck, random graphs.

The registrations are undone after each test, so the rest of the suite sees the registry as
the package ships it.
"""

import autograd.numpy as anp
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import derive as d
from derive.algebra import Helper, Spelled
from derive.functions import apply
from derive.registry import CALLABLE, OPS
from derive.rules import same_shape
from helpers import check_grads, squared_error
from test_latex import pdflatex
from test_random_graphs import check


class Hypot(Spelled):
    """√(a² + b²), entrywise."""

    text = "hypot({0}, {1})"
    latex = r"\operatorname{{hypot}}\left({0}, {1}\right)"
    numpy = "np.hypot({0}, {1})"

    def _entry(self, i, j, **kwargs):
        return sp.sqrt(self.args[0][i, j] ** 2 + self.args[1][i, j] ** 2)


def define():
    """Register cube and hypot; returns them."""
    cube = d.function("cube", lambda u: u**3 / 3, derivative=lambda u: u**2,
                      numpy=Helper("cube", "u³/3", ("u**3 / 3",)),
                      reference=lambda xp, u: u**3 / 3)

    @d.register("hypot", d.Rule.FUNCTION_APPLICATION, same_shape,
                lambda node, a, b: Hypot(a, b), signature=d.Signature(2),
                reference=lambda xp, at, node, a, b: xp.sqrt(a**2 + b**2))
    def hypot(node, delta, y, a, b):
        """y = √(a² + b²):  δa = δy ⊙ a ⊘ y,  δb = δy ⊙ b ⊘ y."""
        over_y = apply(lambda u: 1 / u, y)
        return sp.hadamard_product(delta, a, over_y), sp.hadamard_product(delta, b, over_y)

    return cube, hypot


@pytest.fixture
def new_ops():
    saved = dict(OPS), dict(CALLABLE)
    yield define()
    for table, before in zip((OPS, CALLABLE), saved):
        table.clear()
        table.update(before)


def network(cube, hypot):
    g = d.Graph("new_ops")
    x, t = g.input("x", ("D", "N")), g.input("t", ("K", "N"))
    a = cube((g.param("W", ("K", "D")) @ x).named("a")).named("c")
    b = d.tanh(g.param("V", ("K", "D")) @ x).named("b")
    g.loss(d.squared_error(hypot(a, b).named("y"), t))
    return g


def reference(p, i):
    a, b = (p["W"] @ i["x"]) ** 3 / 3, anp.tanh(p["V"] @ i["x"])
    return squared_error(anp.sqrt(a**2 + b**2), i["t"])


def test_equations_gradients_and_code(new_ops):
    module, *_ = check_grads(network(*new_ops), reference)
    der = d.derive(network(*new_ops))
    text = str(der)
    assert "y = hypot(c, b)" in text and "c = cube(a)" in text
    assert "δa = δc ⊙ a²" in text
    assert "np.hypot(c, b)" in module.__source__ and "def cube(u):" in module.__source__


def test_latex_compiles(new_ops, tmp_path):
    tex = d.derive(network(*new_ops)).to_latex(standalone=True)
    assert r"\operatorname{hypot}\left(" in tex and r"\operatorname{cube}\left(" in tex
    pdflatex(tex, tmp_path)


def test_a_model_file_calls_them(new_ops):
    graph = d.modelfile.loads(
        "input x[D, N], t[K, N]\n"
        "param W[K, D], V[K, D]\n"
        "a = W @ x\n"
        "c = cube(a)\n"
        "b = tanh(V @ x)\n"
        "y = hypot(c, b)\n"
        "loss = squared_error(y, t)\n", name="new_ops")
    assert str(d.derive(graph)) == str(d.derive(network(*new_ops)))
    assert d.gradcheck(d.derive(graph), {"D": 3, "K": 2, "N": 4}).ok


def test_random_graphs_draw_them(new_ops):
    check(([("cube", 0, 0, 0, 0), ("hypot", 0, 1, 0, 0), ("hypot", 2, 2, 0, 0)], 1),
          recurrent=False)
    check(([("hypot", 1, 0, 0, 0), ("cube", 2, 0, 0, 0)], 0), recurrent=True)

    @settings(max_examples=15, deadline=None, database=None)
    @given(st.lists(st.tuples(st.sampled_from(["cube", "hypot", "@", "+"]),
                              *(st.integers(0, 99) for _ in range(4))), min_size=1, max_size=5),
           st.integers(0, 99))
    def fuzz(steps, target):
        check((steps, target), recurrent=False, drawn=True)
    fuzz()
