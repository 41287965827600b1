"""What a graph must satisfy before it is derived: one meaning per name, and recurrences that
close (each state has a next value of its own shape, and is read on the way to the loss)."""

import re

import sympy as sp

from .errors import GraphError, ShapeError

_AT_A_STEP = re.compile(r"(\w+?)_(\d+|t|T)")  # x_1, x_t, x_T: how a recurrent graph's
#                                               equations write x at step 1, t and the last


def check_names(graph, order):
    """A name means one thing in the equations: a node, a dimension or a function."""
    owners = {}
    for n in order:
        if n.name:
            owners[n.name] = f"node {n.name}"
    for n in order:
        claims = [(str(dim), "dimension") for dim in n.shape if isinstance(dim, sp.Symbol)]
        if n.kind == "apply" and n.attrs["function"].user:
            claims.append((n.attrs["function"].name, "function"))
        for name, what in claims:
            owner = owners.setdefault(name, f"{what} {name}")
            if owner != f"{what} {name}":
                raise GraphError(f"graph {graph.name!r}: {what} {name!r} has the same name as "
                                 f"{owner}; rename one of them")
    if graph.recurrent:
        stepped = {n.name for n in order if n.name and n.kind != "param"
                   and (n.kind != "input" or n.attrs.get("sequence"))}
        for name, owner in owners.items():
            clash = steps_clash(name, stepped, owner.startswith("dimension"))
            if clash:
                raise GraphError(f"graph {graph.name!r}: the {owner} is named {name!r}, but in "
                                 f"a recurrent graph {clash}: rename it")
    functions = {}
    for n in order:
        if n.kind == "apply":
            f = n.attrs["function"]
            if f.user and functions.setdefault(f.name, f) is not f:
                raise GraphError(f"graph {graph.name!r}: two different functions are named "
                                 f"{f.name!r}")


def steps_clash(name, stepped, dimension=False):
    """Why `name` cannot be given in a recurrent graph whose values at every step are named
    `stepped`, or None: T counts the steps, a dimension t would read as their index (1/t), and
    x_1 is x at step 1 (a hunt: a parameter x_1 printed as the sequence x at step 1)."""
    if name == "T" or (name == "t" and dimension):
        return f"{name} {'counts' if name == 'T' else 'indexes'} the time steps"
    at = _AT_A_STEP.fullmatch(name)
    if at and (at[1] in stepped or at[1] == "E"):  # (E_t: the loss at step t)
        return f"{name} reads as {at[1]} at step {at[2]}"
    return None


def carriers(graph, order):
    """Each state h_prev and the node h whose value the next step receives as h_{t−1}."""
    found = {}
    if graph.states and not any(n.attrs.get("sequence") for n in graph.inputs):
        raise GraphError(f"graph {graph.name!r} has states but no sequence: the number of "
                         "steps comes from a sequence (g.sequence(...)) the steps read")
    for state in graph.states:
        name = state.attrs["carrier"]
        carrier = graph.by_name.get(name)
        if carrier is None:
            raise GraphError(f"state {state} has no next value: name the node that computes "
                             f"it {name!r}")
        if state not in order:  # else its next value is in `order` too: the next step reads it
            raise GraphError(f"state {state} is never read on the way to the loss: use it in "
                             f"an equation, or drop the state")
        if carrier.is_leaf:  # its δ through time would be taken for the leaf's own gradient
            what = {"param": "a parameter", "input": "an input"}.get(carrier.kind, carrier.kind)
            raise GraphError(f"state {state}: its next value {name!r} is {what}, not a value "
                             f"the step computes: name the equation that computes {name}[t] "
                             f"{name!r}, and the {what.split()[-1]} another name")
        if carrier is graph.loss_node:  # (found by a hunt: its δ was 1, every gradient wrong)
            raise GraphError(f"state {state}: its next value {name!r} is the loss, whose δ is 1 "
                             f"by definition, so the share step t+1 sends back through "
                             f"{name}[t−1] would be lost: give the loss a node of its own, "
                             f"loss = identity({name})")
        if carrier.shape != state.shape:
            raise ShapeError(f"recurrence {name}: {state} is {'×'.join(map(str, state.shape))} "
                             f"but {name} is {'×'.join(map(str, carrier.shape))}")
        found[state] = carrier
    return found
