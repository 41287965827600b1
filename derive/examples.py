"""Which dimension holds the examples. Training splits and batches the columns of a model's
inputs, which is right only where each column is an example of its own: no value relates
one column to another, as attention's T×T scores relate its tokens, or as a mean over the
columns does when it is added back to every column, or as a constant written with the
number of columns does (x / N: each prediction would depend on the size of its batch)."""

import sympy as sp


def examples(der):
    """{"dim": the dimension the columns of the inputs run along, "meet": None} where every
    column is an example of its own; else {"dim": None, "meet": the first value that
    relates columns} (None if the inputs' columns differ)."""
    columns = {der.shapes[n][1] for n in der.inputs} - {1}
    if len(columns) != 1 or not isinstance(next(iter(columns)), sp.Symbol):
        return {"dim": None, "meet": None}
    dim = columns.pop()
    nodes = der.graph.nodes
    readers = {node: [] for node in nodes}
    for node in nodes:
        for operand in node.inputs:
            readers[operand].append(node)

    def across(node, axis=1):  # the dimension among its columns (or rows)
        return dim in node.shape[axis].free_symbols

    def counts(node):  # a value of each column, with a constant written with their number
        return across(node) and any(isinstance(v, sp.Basic) and dim in v.free_symbols
                                    for v in node.attrs.values())  # (E / N is a batch's mean)

    summed = set()  # values with no columns made of values with them (Σ_cols z, tanh of it)
    for node in nodes:  # (operands come before the nodes that read them)
        if not across(node) and any(across(x) or x in summed for x in node.inputs):
            summed.add(node)
    for node in nodes:  # a sum over the columns read back by a value of each column
        read_back = node in summed and any(map(across, readers[node]))
        if across(node, 0) or read_back or counts(node):
            place = der.places.get(node)
            return {"dim": None, "meet": place if isinstance(place, str) else str(node)}
    return {"dim": str(dim), "meet": None}
