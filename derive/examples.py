"""Which dimension holds the examples. Training splits and batches the columns of a model's
inputs, which is right only where each column is an example of its own: no value relates
one column to another, as attention's T×T scores relate its tokens, or as a mean over the
columns does when it is added back to every column (or carried to the next step by a
state), or as a constant written with the number of columns does (x / N, b / √N: each
prediction would depend on the size of its batch), or a parameter with a column for each
example; and the loss adds up each example's, so that a batch's is the sum of its examples'
(not the square of a sum over them)."""

import sympy as sp


def examples(der):
    """{"dim": the dimension the columns of the inputs run along, "meet": None} where every
    column is an example of its own; else {"dim": None, "meet": the first value that
    relates columns} (None if the inputs' columns differ)."""
    columns = {der.shapes[n][1] for n in der.inputs} - {1}
    if len(columns) != 1 or not isinstance(next(iter(columns)), sp.Symbol):
        return {"dim": None, "meet": None}
    dim = columns.pop()
    nodes, graph = der.graph.nodes, der.graph
    carried = {state: graph.by_name[state.attrs["carrier"]] for state in graph.states}

    def across(node, axis=1):  # the dimension among its columns (or rows)
        return dim in node.shape[axis].free_symbols

    def counts(node):  # a constant written with the number of columns (E / N, b / √N)
        return any(isinstance(v, sp.Basic) and dim in v.free_symbols
                   for v in node.attrs.values())

    batched = set()  # values without columns that the batch changes: Σ_cols z, tanh of it, b / N
    grown = True
    while grown:  # (a state carries its next value's to the next step: found by a hunt)
        grown = False
        for node in nodes:  # (operands come before the nodes that read them)
            if node in batched or across(node):
                continue
            if counts(node) or node in carried and carried[node] in batched or \
                    any(across(x) or x in batched for x in node.inputs):
                batched.add(node)
                grown = True
    for node in nodes:
        per_example = node.kind == "param" and any(dim in size.free_symbols
                                                   for size in node.shape)
        read_back = [x for x in node.inputs if x in batched] if across(node) else []
        if across(node, 0) or per_example or read_back or (across(node) and counts(node)) \
                or node in batched and not _linear(node, batched, across):
            meet = read_back[0] if read_back else node  # (the value read back, Σ_cols z)
            place = der.places.get(meet)
            return {"dim": None, "meet": place if isinstance(place, str) else str(meet)}
    return {"dim": str(dim), "meet": None}


LINEAR = {"add", "scale", "sum", "mean", "slice", "concat", "transpose"}  # in every operand
BILINEAR = {"hadamard", "matmul"}  # linear in each operand while the others are fixed


def _linear(node, batched, across):
    """Whether `node`, a value without columns, is linear in what the batch changes among its
    operands: a sum over the columns may be scaled and added on its way to the loss (the sum
    of each example's), but a square of it, a loss of it or a product of two such (a hunt:
    squared_error(mean(out), mean(label)), (Σ_cols out)²) would weigh examples by each other."""
    varying = [x for x in node.inputs if x in batched or across(x)]
    if not any(x in batched for x in varying) or node.op is None:
        return True
    name = node.op.name
    return name in LINEAR or (name in BILINEAR and len(varying) == 1)
