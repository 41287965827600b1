"""How each parameter starts training, read off what it feeds (the generated `init_params`).

A parameter's role comes from the operations it feeds (`Op.init`): a weight matrix (rule 5, a
kernel too), a bias (added, rule 2) or a gain (multiplied elementwise, rule 3). Biases start
at 0 and gains at 1, so that a layer starts as the plain weight matrix; a weight starts by
Glorot, or by He when the function after it (through any biases added on the way) is a relu
(`Function.weights_start`). A weight's fan-in is what it sums over: its columns in W x, its
rows in x V or Wᵀ x (a transpose, `"transposed"`, passes its uses on with the sides swapped).
A parameter with no role keeps the old draw, N(0, 1/columns).
"""

import sympy as sp

ROLES = ("weight", "transposed weight", "gain", "bias")  # with several, the first
SWAPPED = {"weight": "transposed weight", "transposed weight": "weight"}


def starts(der):
    """Parameter name -> (how it starts: "glorot", "he", "zeros", "ones" or "normal"; the
    outputs each row of it reaches: a kernel's kh·kw, else 1; whether its fan-in is its rows)."""
    consumers = {}
    for node in der.graph.nodes:
        for index, x in enumerate(node.inputs):
            consumers.setdefault(x, []).append((node, index))
    table = {}
    for name in der.params:
        roles = {role: node for node, role in _uses(der.nodes[name], consumers)}
        role = next((r for r in ROLES if r in roles), None)
        if role in SWAPPED:
            node = roles[role]
            spread = node.op.fan_out(node) if node.op.fan_out else 1
            table[name] = (_weight_start(node, consumers), int(sp.Integer(spread)),
                           role == "transposed weight")
        else:
            table[name] = ({"gain": "ones", "bias": "zeros"}.get(role, "normal"), 1, False)
    return table


def _uses(x, consumers, swapped=False):
    """(node, role) for each operation that `x` feeds a role, followed through transposes."""
    for node, index in consumers.get(x, ()):
        role = node.op.init(node, index) if node.op.init is not None else None
        if role == "transposed":
            yield from _uses(node, consumers, not swapped)
        elif role:
            yield node, SWAPPED.get(role, role) if swapped else role


def _weight_start(node, consumers):
    """"he" if the first function applied after `node`, past additions, is relu-like."""
    while True:
        after = consumers.get(node, ())
        if len(after) != 1:
            return "glorot"
        node = after[0][0]
        if node.op.name != "add":
            break
    function = node.attrs.get("function") if node.op.name == "apply" else None
    return function.weights_start if function is not None else "glorot"
