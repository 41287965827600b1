"""Hypothesis draws random programs over the operations and checks each generated backward
pass against central differences and autograd; every value feeds the loss (rule 1 galore)."""

import autograd.numpy as anp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import derive as d
from helpers import check_grads, sigmoid, squared_error

# name -> (arity, derive builder, autograd.numpy twin); new parameters are made by `fresh`
UNARY = {
    "sigmoid": (d.sigmoid, sigmoid),
    "tanh": (d.tanh, anp.tanh),
    "softplus": (d.softplus, lambda v: anp.logaddexp(0.0, v)),
    "relu": (d.relu, lambda v: anp.maximum(v, 0.0)),
    "scale": (lambda v: 0.5 * v, lambda v: 0.5 * v),
    "one minus": (lambda v: 1 - v, lambda v: 1 - v),
}
BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "subtract": (lambda a, b: a - b, lambda a, b: a - b),
    "hadamard": (lambda a, b: a * b, lambda a, b: a * b),
}
WITH_PARAM = {  # parameter shape, builder, twin
    "weight matrix": (("H", "H"), lambda p, v: p @ v, lambda p, v: p @ v),
    "bias": (("H", 1), lambda p, v: v + p, lambda p, v: v + p),
}

steps = st.lists(st.one_of(
    st.tuples(st.sampled_from(sorted(UNARY)), st.integers(0, 99)),
    st.tuples(st.sampled_from(sorted(BINARY)), st.integers(0, 99), st.integers(0, 99)),
    st.tuples(st.sampled_from(sorted(WITH_PARAM)), st.integers(0, 99)),
), min_size=1, max_size=6)


def build(program):
    g = d.Graph("random")
    x, t = g.input("x", ("D", "N")), g.input("t", ("H", "N"))
    nodes, twins = [g.param("W", ("H", "D")) @ x], [lambda p, i: p["W"] @ i["x"]]
    for k, (op, *picks) in enumerate(program):
        args = [j % len(nodes) for j in picks]
        if op in UNARY:
            make, twin = UNARY[op]
            nodes.append(make(nodes[args[0]]))
            twins.append(lambda p, i, twin=twin, a=twins[args[0]]: twin(a(p, i)))
        elif op in BINARY:
            make, twin = BINARY[op]
            nodes.append(make(nodes[args[0]], nodes[args[1]]))
            twins.append(lambda p, i, twin=twin, a=twins[args[0]], b=twins[args[1]]:
                         twin(a(p, i), b(p, i)))
        else:
            shape, make, twin = WITH_PARAM[op]
            param = g.param(f"P{k}", shape)
            nodes.append(make(param, nodes[args[0]]))
            twins.append(lambda p, i, twin=twin, a=twins[args[0]], name=f"P{k}":
                         twin(p[name], a(p, i)))
    total = nodes[0]
    for node in nodes[1:]:
        total = total + node
    g.loss(d.squared_error(total, t))

    def reference(p, i):
        return squared_error(sum(twin(p, i) for twin in twins), i["t"])

    return g, reference


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_random_programs(program):
    graph, reference = build(program)
    check_grads(graph, reference)


def test_a_program_whose_loss_does_not_depend_on_W():
    """x + x + (1 − x) + (1 − x − x) = 2: δW is 0, the differences are pure roundoff."""
    graph, reference = build([("add", 0, 0), ("one minus", 0), ("subtract", 2, 0)])
    _, _, _, grads = check_grads(graph, reference)
    assert abs(grads["W"]).max() < 1e-12
