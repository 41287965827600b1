"""How each parameter starts training, read off what it feeds (the generated `init_params`).

A parameter's role comes from the operations it feeds (`Op.init`): a weight matrix (rule 5, a
kernel too), a bias (added, rule 2) or a gain (multiplied elementwise, rule 3). Biases start
at 0 and gains at 1, so that a layer starts as the plain weight matrix; a weight starts by
Glorot, or by He when the function after it (through any biases added on the way) is a relu
(`Function.weights_start`). A parameter with no role keeps the old draw, N(0, 1/columns).
"""

import sympy as sp

ROLES = ("weight", "gain", "bias")  # a parameter with several takes the first


def starts(der):
    """Parameter name -> (how it starts: "glorot", "he", "zeros", "ones" or "normal", and the
    outputs each row of it reaches: a kernel's kh·kw, else 1)."""
    consumers = {}
    for node in der.graph.nodes:
        for index, x in enumerate(node.inputs):
            consumers.setdefault(x, []).append((node, index))
    table = {}
    for name in der.params:
        uses = [(node, node.op.init(node, index)) for node, index in
                consumers.get(der.nodes[name], ()) if node.op.init is not None]
        roles = {role: node for node, role in uses if role}
        role = next((r for r in ROLES if r in roles), None)
        if role == "weight":
            node = roles[role]
            spread = node.op.fan_out(node) if node.op.fan_out else 1
            table[name] = (_weight_start(node, consumers), int(sp.Integer(spread)))
        else:
            table[name] = ({"gain": "ones", "bias": "zeros"}.get(role, "normal"), 1)
    return table


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
