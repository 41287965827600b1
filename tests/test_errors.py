"""Misuse is reported by derive's own exceptions, naming the node, operation and shapes."""

import re

import numpy as np
import pytest
import sympy as sp

import derive as d
from derive.commands import _sizes


@pytest.fixture
def g():
    g = d.Graph("g")
    g.input("x", ("D", "N")), g.input("t", ("H", "N"))
    g.param("W", ("H", "D")), g.param("V", ("H", "K"))
    return g


@pytest.mark.parametrize("make, message", [
    (lambda g: g["V"] @ g["x"], "matmul (V @ x): inner dimensions K and D differ: V is H×K, x is D×N"),
    (lambda g: g["W"] @ g["x"] + g["V"], "add ((W @ x) + V): shapes do not broadcast: "
                                         "(W @ x) is H×N, V is H×K"),
    (lambda g: (g["W"] @ g["x"]) * g["x"], "hadamard ((W @ x) ⊙ x): shapes do not broadcast"),
    (lambda g: d.squared_error(g["W"] @ g["x"], g["x"]),
     "squared_error((W @ x), x): operands must have the same shape: (W @ x) is H×N, x is D×N"),
    (lambda g: g.input("y", ("D",)), "node 'y': a shape is a pair (rows, columns)"),
    (lambda g: g.input("y", ("D", 0)), "dimension 0 must be a name or a positive integer"),
    (lambda g: g.input("y", ("D", "N-1")), "dimension name 'N-1' is not a valid name"),
])
def test_shape_errors_name_the_operation_and_both_shapes(g, make, message):
    with pytest.raises(d.ShapeError) as error:
        make(g)
    assert message in str(error.value)


@pytest.mark.parametrize("name, message", [
    ("x", "name 'x' is already used by another node of graph 'g'"),
    ("class", "node name 'class' is a Python keyword"),
    ("2x", "node name '2x' is not a valid name"),
    ("a.b", "node name 'a.b' is not a valid name"),
    ("__import__", "node name '__import__' is not a valid name"),
    ("__x", "node name '__x' is not a valid name"),
    ("x y", "node name 'x y' is not a valid name"),
    ("é", "node name 'é' is not a valid name"),
])
def test_bad_or_duplicate_names_are_refused_when_the_node_is_made(g, name, message):
    with pytest.raises(d.GraphError) as error:
        g.input(name, ("D", "N"))
    assert message in str(error.value)
    with pytest.raises(d.GraphError):
        (g["W"] @ g["x"]).named(name)


def test_a_graph_without_loss_or_with_a_matrix_loss(g):
    with pytest.raises(d.GraphError, match="graph 'g' has no loss: call g.loss"):
        d.derive(g)
    with pytest.raises(d.GraphError, match=r"loss \(W @ x\) must be a scalar \(1×1\), but its "
                                           "shape is H×N"):
        g.loss(g["W"] @ g["x"])


def test_a_parameter_that_does_not_reach_the_loss(g):
    g.loss(d.squared_error(g["W"] @ g["x"], g["t"]).named("E"))
    with pytest.raises(d.GraphError, match="parameter V does not affect the loss E"):
        d.derive(g)


def test_a_cycle_is_named(g):
    z = (g["W"] @ g["x"]).named("z")
    h = d.tanh(z).named("h")
    z.inputs = (g["W"], h)  # only reachable by tampering: the API cannot build a cycle
    g.loss(d.squared_error(h, g["t"]))
    with pytest.raises(d.GraphError, match="graph 'g' has a cycle through node"):
        d.derive(g)


def test_names_shared_by_node_dimension_and_function():
    phi = d.elementwise("x", lambda u: u)
    g = d.Graph("g")
    g.loss(d.squared_error(phi(g.param("W", ("H", "D")) @ g.input("x", ("D", "N"))),
                           g.input("t", ("H", "N"))))
    with pytest.raises(d.GraphError, match="function 'x' has the same name as node x"):
        d.derive(g)
    h = d.Graph("h")
    h.loss(d.squared_error(h.param("N", ("H", "D")) @ h.input("x", ("D", "N")),
                           h.input("t", ("H", "N"))))
    with pytest.raises(d.GraphError, match="dimension 'N' has the same name as node N"):
        d.derive(h)


def test_nodes_of_two_graphs_do_not_mix(g):
    other = d.Graph("other")
    with pytest.raises(d.GraphError, match="belong to different graphs"):
        g["W"] @ other.input("y", ("D", "N"))


def test_user_functions_must_return_sympy_expressions_of_their_argument():
    with pytest.raises(TypeError, match="must return a sympy expression of u, got str"):
        d.elementwise("f", lambda u: "__import__('os').system('true')")
    with pytest.raises(ValueError, match="uses symbols other than its argument"):
        import sympy as sp
        d.elementwise("f", lambda u: u + sp.Symbol("v"))


def test_generated_code_names_the_array_with_the_wrong_shape():
    module = d.compile_numpy(d.derive(d.models.mlp()))
    params = module.init_params({"D": 3, "H": 4, "K": 2})
    with pytest.raises(ValueError, match=r"input 'label' has shape \(3, 5\), but its shape is "
                                         r"\('K', 'N'\) and K = 2 \(from parameter 'W2'\)$"):
        module.forward(params, {"x": np.zeros((3, 5)), "label": np.zeros((3, 5))})
    with pytest.raises(ValueError, match="missing input 'label'"):
        module.forward(params, {"x": np.zeros((3, 5))})
    with pytest.raises(ValueError, match="no size given for dimension .H."):
        module.init_params({"D": 3})


def test_generated_code_refuses_a_bad_learning_rate_and_an_empty_batch():
    module = d.compile_numpy(d.derive(d.models.mlp()))
    params = module.init_params({"D": 3, "H": 4, "K": 2})
    data = {"x": np.zeros((3, 5)), "label": np.zeros((2, 5))}
    for lr in (0.0, -0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="the learning rate lr must be a number in "
                                             r"\(0, inf\)"):
            module.sgd_step(params, data, lr)
    empty = {"x": np.zeros((3, 0)), "label": np.zeros((2, 0))}
    with pytest.raises(ValueError, match=r"input 'x' has shape \(3, 0\): its N is 0 "
                                         r"\(an empty batch\?\)"):
        module.forward(params, empty)


@pytest.mark.parametrize("call", [d.derive, d.to_numpy, d.compile_numpy])
def test_what_is_not_a_graph_is_refused_by_name(call):
    with pytest.raises(d.GraphError, match=r"takes a (Graph|graph or its derivation).*got str"):
        call("mlp")


def test_code_is_generated_from_a_graph_as_from_its_derivation():
    assert d.to_numpy(d.models.mlp()) == d.to_numpy(d.derive(d.models.mlp()))


def test_a_compound_size_that_does_not_match_says_where_each_size_was_read():
    """x of width 2 makes D = 2, so the stacked LSTM's W (4H × D + H) is blamed: the message
    says D came from x."""
    module = d.compile_numpy(d.derive(d.models.lstm_stacked()))
    params = module.init_params({"D": 3, "H": 4, "K": 2}, scheme="normal")
    inputs = {"x": np.zeros((5, 2, 6)), "label": np.zeros((5, 2, 6)),
              "h0": np.zeros((4, 6)), "c0": np.zeros((4, 6))}
    with pytest.raises(ValueError) as refused:
        module.forward(params, inputs)
    assert str(refused.value).startswith("parameter 'W' has shape (16, 7), but its shape is "
                                         "('4*H', 'D + H') and D + H = 6 (")
    assert "D = 2 from input 'x'" in str(refused.value)


def test_a_size_given_as_a_number_is_not_restated_as_an_equation():
    """lenet's W3 is 10 × 32 by the model itself: no "and 32 = 32" after its shape."""
    module = d.compile_numpy(d.models.lenet())
    params = module.init_params({"N": 2})
    params["W3"] = np.zeros((10, 16))
    inputs = {"x": np.zeros((64, 2)), "t": np.eye(10)[:, :2]}
    with pytest.raises(ValueError) as refused:
        module.forward(params, inputs)
    assert str(refused.value) == ("parameter 'W3' has shape (10, 16), but its shape is "
                                  "(10, 32)")


def test_params_and_inputs_that_are_not_dicts_of_arrays_are_named():
    module = d.compile_numpy(d.derive(d.models.mlp()))
    params = module.init_params({"D": 2, "H": 3, "K": 2})
    inputs = {"x": np.ones((2, 4)), "label": np.zeros((2, 4))}
    with pytest.raises(ValueError, match="inputs must be a dict of arrays by name, got NoneType"):
        module.forward(params, None)
    with pytest.raises(ValueError, match="params must be a dict of arrays by name, got list"):
        module.forward(list(params.values()), inputs)
    with pytest.raises(ValueError, match="input 'x' is not an array: its rows differ in length"):
        module.forward(params, {**inputs, "x": [[1.0, 2.0], [3.0]]})


def test_parameters_that_are_not_plain_arrays_are_named():
    """np.matrix multiplies where * is written (the loss was 0.390 for 7.627); a list got
    through forward and broke backward; a masked input's mask would be dropped."""
    module = d.compile_numpy(d.derive(d.models.mlp()))
    params = module.init_params({"D": 2, "H": 3, "K": 2})
    inputs = {"x": np.ones((2, 4)), "label": np.zeros((2, 4))}
    module.forward(params, inputs)  # the same shapes and types seen first, then remembered
    for name, value in (("W1", np.asmatrix(params["W1"])), ("b2", params["b2"].tolist())):
        kind = "numpy.matrix" if name == "W1" else "builtins.list"
        with pytest.raises(ValueError, match=f"parameter {name!r} is a {kind}: parameters "
                                             "are numpy arrays"):
            module.forward({**params, name: value}, inputs)
    masked = np.ma.masked_array(inputs["x"], mask=np.eye(2, 4))
    with pytest.raises(ValueError, match="input 'x' is a masked array, whose mask"):
        module.forward(params, {**inputs, "x": masked})


def test_a_recurrent_module_ignores_inputs_it_does_not_take_as_feed_forward_ones_do():
    module = d.compile_numpy(d.derive(d.models.rnn()))
    dims = {"D": 2, "H": 3, "K": 2, "N": 4}
    params = module.init_params(dims)
    inputs = {"x": np.ones((5, 2, 4)), "label": np.zeros((5, 2, 4)), "h0": np.zeros((3, 4))}
    loss = module.forward(params, inputs)[0]
    assert module.forward(params, {**inputs, "note": "batch 7"})[0] == loss
    assert module.predict(params, {"x": inputs["x"], "h0": inputs["h0"], "note": {}}).shape == \
        (5, 2, 4)


@pytest.mark.parametrize("x, held", [
    (np.full((2, 4), "1.5"), "strings"), (np.ones((2, 4), dtype=complex), "complex numbers"),
    (np.ones((2, 4), dtype=object), "object"), ([["a"] * 4] * 2, "strings")])
def test_inputs_that_are_not_real_numbers_are_named(x, held):
    """Strings, complex numbers (whose imaginary part numpy would drop with a warning) and
    Python objects are refused by name, also after real arrays of the same shape."""
    module = d.compile_numpy(d.derive(d.models.mlp()))
    params = module.init_params({"D": 2, "H": 3, "K": 2})
    label = np.zeros((2, 4))
    for first in (False, True):
        if first:
            module.forward(params, {"x": np.ones((2, 4)), "label": label})
        with pytest.raises(ValueError, match=f"input 'x' holds {held}: inputs are arrays of "
                                             "real numbers"):
            module.forward(params, {"x": x, "label": label})


def test_a_softmax_or_layer_norm_of_one_row_is_refused_where_its_rows_are_a_dimension():
    """A 1-row softmax is identically 1 and a 1-row x − μ identically 0: refused when derived
    with 1 row, and where the rows are a dimension, by the check's sizes and by the module's
    (found by a hunt: K = 1 checked 'all ok', every gradient 0)."""
    g = d.Graph("one_class")
    x = g.input("x", ("D", "N"))
    with pytest.raises(d.ShapeError, match="has 1 row, so its softmax is identically 1"):
        d.softmax_cross_entropy(g.param("W", (1, "D")) @ x, g.input("t", (1, "N")))
    der = d.derive(d.models.softmax_classifier())
    with pytest.raises(d.DeriveError, match="K = 1: z2 has 1 row, so its softmax is "):
        d.gradcheck(der, {"D": 3, "H": 4, "K": 1, "N": 5})
    module = d.compile_numpy(der)
    params = module.init_params({"D": 3, "H": 4, "K": 1})
    with pytest.raises(ValueError, match="K = 1: z2 has 1 row, so its softmax is identically 1"):
        module.forward(params, {"x": np.zeros((3, 5)), "t": np.ones((1, 5))})
    with pytest.raises(d.DeriveError, match="H = 1: z has 1 row, so x − μ is identically 0"):
        d.gradcheck(d.derive(d.models.layer_norm_mlp()), {"D": 3, "H": 1, "K": 2, "N": 5})


def test_a_derivation_is_of_the_graph_as_it_was_when_derived():
    """A sequence added to the graph after d.derive made the derivation recurrent: its
    module asked for T (KeyError), its LaTeX wrote z_{1,t} (found by a hunt)."""
    g = d.models.mlp()
    der = d.derive(g)
    g.sequence("s", ("D", "N"))
    assert not der.recurrent and "z_{1,t}" not in der.to_latex()
    assert d.gradcheck(der, {"D": 3, "H": 4, "K": 2, "N": 5}).ok


def _misused(call):
    g = d.Graph("g")
    x, W = g.input("x", ("D", "N")), g.param("W", ("D", "D"))
    return call(g, x, W)


@pytest.mark.parametrize("call, error, says", [
    (lambda g, x, W: d.scaled_tanh(W @ x, float("nan"), 1), ValueError, "constant nan"),
    (lambda g, x, W: np.ones((3, 3)) + x, TypeError, "expected a node or a number"),
    (lambda g, x, W: np.ones((3, 3)) @ x, TypeError, "the operand must be a derive node"),
    (lambda g, x, W: d.elementwise("fl", lambda u: sp.floor(u)), ValueError, "Derivative"),
    (lambda g, x, W: d.elementwise("su", lambda u: sp.Sum(u, (sp.Symbol("k"), 1, 3))),
     ValueError, "holds Sum"),
    (lambda g, x, W: d.max_pool2d(x, image=(1, 2, 2), padding=1), TypeError,
     "max_pool2d has no keyword 'padding'"),
    (lambda g, x, W: d.relu(3), TypeError, "relu() takes a derive node, got int"),
    (lambda g, x, W: x * sp.I, ValueError, "I is not a finite non-zero real number"),
], ids=["scaled_tanh of nan", "an array + a node", "an array @ a node", "floor", "a Sum",
        "a keyword it has not", "a number for a node", "an imaginary constant"])
def test_misuse_of_the_api_is_named_where_it_happens(call, error, says):
    """Found by a hunt: each went through, then failed deep in sympy or the module (nan in
    scaled_tanh, floor's unevaluated derivative), or made an array of nodes (array + x).
    Each is derive's own error (a later hunt: a TypeError or ValueError alone), and still the
    TypeError or ValueError that Python's own would be."""
    with pytest.raises(error, match=re.escape(says)) as raised:
        _misused(call)
    assert isinstance(raised.value, d.GraphError)


@pytest.mark.parametrize("option, says", [
    ({"eps": 0}, "eps must be a positive number, got 0"),
    ({"tolerance": float("nan")}, "tolerance must be a positive number, got nan"),
    ({"redraws": -1}, "redraws must be a non-negative integer, got -1"),
    ({"progress": 3}, "progress must be a function of (done, total), got 3")])
def test_gradcheck_names_an_option_it_cannot_take(option, says):
    with pytest.raises(d.DeriveError, match=re.escape(says)):
        d.gradcheck(d.derive(d.models.mlp()), {"D": 3, "H": 4, "K": 2, "N": 5}, **option)


@pytest.mark.parametrize("build, says", [
    (lambda: d.models.deep_mlp(0), "depth must be a whole number of layers, 1 or more, got 0"),
    (lambda: d.models.deep_mlp(2, "relu"), "activation must be one of derive's functions"),
    (lambda: d.models.lstm(peepholes="no"), "peepholes must be True or False, got 'no'"),
    (lambda: d.models.transformer_block(causal="no"), "causal must be True or False"),
    (lambda: d.models.transformer_layer(d.Graph("g"), "X"), "a layer takes a graph, a node"),
    (lambda: d.dims(3), "dims takes the names in one string")])
def test_the_builders_name_an_argument_they_cannot_take(build, says):
    """peepholes="no" built the peephole LSTM (a truthy string), silently (a hunt)."""
    with pytest.raises(d.GraphError, match=re.escape(says)):
        build()


def test_calls_that_would_answer_about_nothing_name_what_is_missing():
    """Found by a hunt: gradcheck of a graph without parameters said "all ok" having
    checked nothing; a worked example's value of an unknown node was a bare KeyError;
    init_params(seed="a") numpy's SeedSequence error."""
    g = d.Graph("fixed")
    g.loss(d.squared_error(d.tanh(g.input("x", ("D", "N"))), g.input("t", ("D", "N"))))
    with pytest.raises(d.DeriveError, match="fixed has no parameters and no initial states"):
        d.gradcheck(d.derive(g), {"D": 2, "N": 3})
    der = d.derive(d.models.mlp())
    example = der.worked({"x": [[1], [2]], "label": [[0], [1]]},
                         {"W1": [[1, 2], [3, 4], [5, 6]], "b1": [[0], [0], [0]],
                          "W2": [[1, 1, 1], [1, 1, 1]], "b2": [[0], [0]]})
    with pytest.raises(d.DeriveError, match="no value named 'nope' in the example of mlp"):
        example.value("nope")
    with pytest.raises(ValueError, match="seed must be a whole number, 0 or more, got 'a'"):
        d.compile_numpy(der).init_params({"D": 2, "H": 3, "K": 2}, seed="a")


def test_a_loss_written_target_first_is_refused_with_the_order_to_write():
    """squared_error(label, out) is the same number, but predict returned the label as the
    prediction, and train standardised the labels as a feature (found by a hunt)."""
    g = d.Graph("swapped")
    x, label = g.input("x", ("D", "N")), g.input("label", ("K", "N"))
    out = (g.param("W", ("K", "D")) @ x).named("out")
    with pytest.raises(d.GraphError, match=r"write squared_error\(out, label\)"):
        d.squared_error(label, out)


def test_the_check_gives_each_dimension_it_is_not_told_a_size_of_its_own():
    """Two dimensions of one size hide a gradient that reads one for the other (found by a
    hunt mutating a module: δb scaled by P/Q passed at P = Q = 3)."""
    g = d.Graph("sizes")
    x, t = g.input("x", ("P", "N")), g.input("t", ("Q", "N"))
    g.loss(d.squared_error(g.param("W", ("Q", "P")) @ x + g.param("b", ("Q", 1)), t))
    sizes = _sizes(d.derive(g), [])
    assert len(set(sizes.values())) == len(sizes) == 3
