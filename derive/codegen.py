"""The numpy module of a derivation: Python decides what goes in, the templates its shape.

Every identifier the module binds comes from the namer (`namer`); every statement is one
equation, printed from its expression tree, under the equation as a comment (`display`).
"""

import json
import linecache
import types
from dataclasses import dataclass, replace
from functools import lru_cache

import sympy as sp

from .algebra import STEPS_FIRST, Helper, Rows, Spelled
from .batching import Steps, kept_size, kept_width, over_steps, summed_over_steps
from .cache import remembered
from .derivation import derive, derived
from .display import code_comments, joined
from .errors import ShapeError
from .examples import examples
from .functions import U, elementwise, relu, sigmoid, softplus
from .fusion import Comments, Plan, groups
from .graph import Graph
from .hoisting import AllSteps, hoisted
from .initialization import starts
from .losses import softmax_cross_entropy, squared_error
from .namer import ModuleNames, registered_helpers, template_names, user_functions
from .naming import Delta, dims
from .pool_first import PoolFirst, poolings
from .printers.notation import Verbatim, full_shaped, split_coefficient_list
from .printers.numpy_code import NumpyCodePrinter, numbers_as_floats, numpy_code
from .printers.text import text
from .rendering import render
from .rules import concat, split
from .sharing import Shared
from .stacks import InPlace


@dataclass(frozen=True)
class Statement:
    name: str       # the identifier it assigns
    code: str
    comment: str
    updates: tuple = ()  # (operator, code): `name += b` after `name = W @ x`
    same_at_every_step: bool = False  # (hoisted) computed once: viewed as T of it
    bound: bool = True  # False: `code` writes into a stack's rows, and nothing reads `name`
    moves: tuple = ()  # the parameters (Array) sgd_step moves right after it (`moved_after`)


def statement(printer, name, terms, comment, accumulate=False, into=None, number=False):
    """One equation as code: its terms summed, or built in place where that saves arrays;
    `into` (code of rows of a stack, `stacks`) the rows its first operation writes; a
    `number` (the loss) computed as one, not as a 1×1 array."""
    with printer.statement(number):
        split = printer.in_place(name, terms, accumulate) if into is None else \
            printer.made_into(name, terms, into)
        if split is None:
            return Statement(name, joined(printer, terms), comment)
        return Statement(name, split[0], comment, split[1])


class Copied(Spelled):
    """A parameter's gradient of its own, where it would only name another array."""

    text = latex = "{0}"
    numpy = "np.copy({0})"
    fresh = True


def own_array(terms):
    """A gradient's terms, copied where they only name an array or a view of one (δA = δt1,
    δB = δt1ᵀ, a block of rows, a δ stretched by np.broadcast_to): the optimizers update
    each gradient in place, and two that share memory would each be updated twice (a
    stretched one, read-only, cannot be)."""
    inner = terms[0] if len(terms) == 1 else None
    while isinstance(inner, (sp.Transpose, Rows)):
        inner = inner.args[0]
    viewed = inner is not None and (isinstance(inner, sp.MatrixSymbol) or not full_shaped(inner))
    return [Copied(terms[0])] if viewed else terms


def _backward(printer, names, equations, comment, accumulated, unwritable, read_elsewhere):
    """The backward pass's statements (of the loop, if recurrent), with stacks of δs built
    in place (`stacks.InPlace`); `comment` gives each equation's, `read_elsewhere` the δs
    read by other than these equations (a gradient's block, the loop's kept δs)."""
    built = InPlace(printer, names, equations, unwritable)
    equations = [(k, [t.xreplace(built.read_as) for t in terms]) for k, terms in equations]
    read = {a.node_name for _, terms in equations for t in terms for a in t.atoms(Delta)}
    out = []
    for k, terms in equations:
        for stack in built.before.get(k, ()):  # before its first block is made
            out.append(Statement(names.delta(stack.key), printer.empty(stack.symbol.shape),
                                 f"{comment(stack.key, stack)}, its blocks made in place"))
        if k in built.replaced:
            continue
        made = statement(printer, names.delta(k), terms, comment(k),
                         accumulate=k in accumulated, into=built.into.get(k))
        if k in built.into and not made.updates and k not in read | read_elsewhere:
            made = replace(made, bound=False)  # np.multiply(δc, g, out=δ[i; f; o][0:H])
        out.append(made)
    return out


@dataclass(frozen=True)
class Array:
    key: str        # the user's name: the key in params, inputs, grads
    var: str        # its identifier in the module


@dataclass(frozen=True)
class Gathered:
    """(recurrent) An array of every step, steps first, that hoisted equations read: an
    input's (`input`) or the cache's (`cached`) as it is, or the cache's list of steps
    (`cache list`) or a list the loop collected (`collected`) stacked."""

    var: str
    source: str     # the key in inputs or the cache, or the collected list's identifier
    kind: str


@dataclass(frozen=True)
class State:
    initial: str    # the key of its first value, h0
    var: str        # h_prev's identifier
    carrier: str    # the identifier of h, which the next step receives
    delta: str      # δh_prev's identifier
    copied: bool = False  # returned as a copy: it names an array another state's δ may name


def to_numpy(der):
    """The source text of a standalone numpy module for `der`, a derivation or a graph
    (byte-identical for one graph)."""
    der = derived(der, "to_numpy")
    return render_module(der, module_names(der))


def module_names(der):
    """The identifiers of `der`'s names in its generated module."""
    return ModuleNames(der, reserved_names())


def reserved_names():
    """What the templates bind themselves, read off two probe modules that take every branch
    of the templates (feed-forward and recurrent, helpers, checks, compound and solved
    shapes, fused products), for the helpers registered now."""
    return _probed_names(frozenset(registered_helpers()))


@lru_cache(maxsize=None)
def _probed_names(helpers):
    """`reserved_names` for these helpers, kept on disk (`derive.cache`) too: rendering the
    probes takes a third of a second, which every first run of a command would pay."""
    def probed():
        return "\n".join(sorted(template_names(render_module,
                                                [derive(g) for g in _probe_graphs()])))
    return frozenset(remembered(["reserved names", *sorted(helpers)], probed).split("\n"))


def _probe_graphs():
    qd, qh, ql = dims("probe_D probe_H probe_L")
    f = Graph("probe_f")
    x, t = f.input("probe_x", (qd, "probe_N")), f.input("probe_t", ("probe_K", "probe_N"))
    z = (f.param("probe_W", (2 * qh, qd)) @ x + f.param("probe_b", (2 * qh, 1))).named("probe_z")
    top, bottom = split(z, 2)
    phi = elementwise("probe_phi", lambda u: u * sp.tanh(u) * sp.Abs(u))
    v = f.param("probe_U", (qh, 3 * ql)) @ f.input("probe_v", (3 * ql, "probe_N"))  # SOLVED
    gate = sigmoid(f.param("probe_A", (qh, qd)) @ x) * (f.param("probe_B", (qh, qd)) @ x)
    h = (sigmoid(top) * relu(bottom) + softplus(phi(top)) + v + gate).named("probe_h")  # FUSED
    f.loss(softmax_cross_entropy(f.param("probe_V", ("probe_K", qh)) @ h, t, reduce="mean"))
    r = Graph("probe_r")
    x = r.sequence("probe_x", (qd, "probe_N"))
    s, h_prev = r.input("probe_s", (qh, "probe_N")), r.state("probe_h", (qh, "probe_N"))
    both = concat(x, h_prev)
    h = sigmoid(r.param("probe_U", (qh, qd + qh)) @ both + s).named("probe_h")
    r.loss(squared_error(h, r.sequence("probe_y", (qh, "probe_N"))))
    return f, r


def render_module(der, names, pool_first=True):
    """The module's source; `pool_first=False` keeps every pooling as written (gradcheck
    reads the values of every kinked operation's inputs off that module's cache)."""
    comments = code_comments(der)
    backward_eqs = [(n, e) for n, e in [*der.deltas.items(), *der.gradients.items()]
                    if n != der.loss]
    written = {n: _seeded(der, n) for n, _ in backward_eqs}
    backward_eqs = _live(der, backward_eqs, written)
    plan = Plan(der, groups(der))
    stacked_weights, forward_eqs = plan.setup(), plan.forward()
    equations, blocks = plan.backward((n, written[n]) for n, _ in backward_eqs)
    pooled = PoolFirst(der, poolings(der, forward_eqs, equations) if pool_first else [])
    forward_eqs, equations = pooled.forward(forward_eqs), pooled.backward(equations)
    shared = Shared(der, forward_eqs, equations)
    forward_eqs, equations = shared.forward, shared.backward
    as_derived = {**{(False, k): e for k, e in forward_eqs},
                  **{(True, k): terms for k, terms in equations}}  # for the comments
    hoist = hoisted(der, forward_eqs, equations, plan.runs)
    forward_eqs, equations = hoist.loop, hoist.backward
    made = [*pooled.wanted(), *shared.keys]  # (key, identifier it would like) of new arrays
    stacked = {key for _, key, _ in blocks}
    accumulated = {*der.params, *stacked} if der.recurrent else set()  # summed over steps
    loop_reads = _values([*(e for _, terms in equations for e in terms),
                          *(e for _, _, e in blocks)])
    backward_reads = loop_reads | _values(e for _, terms in hoist.before for e in terms)
    carriers = {carrier for carrier, _ in der.states.values()}  # read by the next step
    forward_eqs = _read(forward_eqs, {der.loss, *backward_reads, *carriers,
                                      *_values(e for _, e in hoist.after)})
    batched, kept, sides = over_steps(der, equations, accumulated)
    for key in plan.shapes:
        names.add(key, plan.wanted[key])
    for key, wanted in made:
        names.add(key, wanted)
    for key, name, delta, _ in sides:
        names.add(key, f"{names.delta(name) if delta else names.value(name)}_steps")
    for key, of, delta in hoist.shares:  # δh's output side, z's inputs' side
        names.add(key, f"{names.delta(of)}_outputs" if delta else f"{names.value(of)}_inputs")
    fused = Comments(der, plan, comments, {**pooled.comments, **shared.comments})
    forward_printer, backward_printer = NumpyCodePrinter(names), NumpyCodePrinter(names)
    setup = [statement(forward_printer, names.value(k), [e], fused.comment(k, e))
             for k, e in stacked_weights]
    number = a_number(der, [*forward_eqs, *hoist.ahead, *hoist.after], backward_reads)
    forward = [statement(forward_printer, names.value(k), [e],
                         fused.comment(k, as_derived[(False, k)]), number=k == number)
               for k, e in forward_eqs]
    seeded = {k for (delta, k), terms in as_derived.items()
              if delta and any(SEED in t.free_symbols for t in terms)}
    equations = [(k, own_array(terms) if k in der.params and k not in accumulated else terms)
                 for k, terms in equations]
    batched = [(k, own_array(terms)) for k, terms in batched]

    def comment(k, stack=None):  # a key's equation, or a stack of δs built in place
        if stack is not None:
            return f"{fused.printer.doprint(stack.symbol)} = {fused.text(stack.stack)}"
        return fused.comment(k, as_derived[(True, k)], delta=True) + SEEDED * (k in seeded)

    backward = _backward(backward_printer, names, equations, comment, accumulated,
                         {*der.params, *accumulated, *der.states},
                         _deltas_read([], blocks) | {n for _, n, delta, _ in sides if delta})
    finish = [Statement(names.delta(p), backward_printer.doprint(e),
                        f"δ{p} = {fused.text(e)}") for p, _, e in blocks]
    if not der.recurrent:
        backward, finish, moved_last = moved_after(
            der, names, backward, finish,
            {**{names.delta(k): terms for k, terms in equations},
             **{names.delta(p): [e] for p, _, e in blocks}})
    in_loop = dict(equations)  # a batched gradient's comment is its loop form's, Σ_t
    after_loop = [statement(backward_printer, names.delta(k), terms, summed_over_steps(
        fused.comment(k, in_loop[k], delta=True))) for k, terms in batched]
    kept_values = backward_printer.doprint(kept_size(kept)) if kept else None
    kept_columns = backward_printer.doprint(kept_width(kept)) if kept else None
    backward_printer.typed |= bool(kept)  # the kept δs' arrays are made in the module's dtype
    side_by_side = [Steps(names.value(key), names.delta(name), True,
                          *(backward_printer.doprint(n) for n in shape)) if delta else
                    Steps(names.value(key), names.value(name), False)
                    for key, name, delta, shape in sides]
    zeros = [Statement(names.delta(k), backward_printer.doprint(sp.ZeroMatrix(*plan.shapes[k])),
                       "") for k in sorted(stacked) if der.recurrent]  # sums over the steps
    forward_reads = _values(e for _, e in [*forward_eqs, *stacked_weights, *hoist.ahead,
                                           *hoist.after])

    def arrays(keys):
        return [Array(k, names.value(k)) for k in keys]

    def dims(printer):
        return [Array(str(d), names.dimension(str(d))) for d in der.dims
                if str(d) in printer.dimensions]

    cache = [n for n in der.shapes if n in backward_reads and der.kinds[n] != "param"]
    stepped = [n for n in cache if der.per_step(n) and n not in der.sequences]
    appended = [n for n in stepped if n not in hoist.keys]
    outside = _outside_the_loops(der, names, hoist, fused, seeded, stepped, appended,
                                 (forward_printer, backward_printer),
                                 _deltas_read(equations, blocks),
                                 _values(e for _, e in forward_eqs), number)
    weights = [k for k, _ in stacked_weights if k in backward_reads]  # stacks backward reads
    runs = [k for k in plan.runs if k in backward_reads]  # f over a run of rows, every step
    kept_made = [k for k, _ in made if k in backward_reads]  # pooled first, or shared
    viewed = {k for k, terms in equations if k in der.states and own_array(terms) != terms}
    states = [State(initial, names.value(s), names.value(carrier), names.delta(s),
                    s in viewed and len(viewed) > 1)  # (a hunt: gradients of h0 and c0 one
              for s, (carrier, initial) in der.states.items()]  # array, δh_prev = δc_prev)
    gradients = [Array(p, names.delta(p)) for p in der.params]
    in_blocks = {names.delta(p) for p, _, _ in blocks}
    checks = _checks(der, names)
    bound = {*forward_reads, *cache, *(array.key for _, array in checks)}  # inputs forward reads
    plain = [Statement(names.value(n), "", comments[(False, n)]) for n in der.forward]
    prediction = _prediction(der, names, plain, dims, arrays, states)
    return render(
        "recurrent.py.j2" if der.recurrent else "module.py.j2",
        graph=der.graph.name,
        forward_equations=[s.comment for s in plain],
        backward_equations=[comments[(True, n)] for n, _ in backward_eqs],
        shapes=_shapes(der), compound=_compound(der), solved=_solved(der, prediction.needed),
        at_least=_at_least(der),
        params=arrays(der.params), inputs=[*der.inputs, *(s.initial for s in states)],
        init=[(name, *start) for name, start in starts(der).items()],
        prediction=prediction,
        examples={key: _text_literal(value) for key, value in examples(der).items()},
        loss=names.value(der.loss),
        helpers=called_helpers(der, names, forward_printer.helpers | backward_printer.helpers
                               | prediction.printer.helpers | {helper for helper, _ in checks}
                               | ({STEPS_FIRST} if der.recurrent else set())),
        checks=[(helper.name, array) for helper, array in checks],
        forward_dims=dims(forward_printer), backward_dims=dims(backward_printer),
        backward_typed=backward_printer.typed,
        forward_params=arrays(p for p in der.params if p in forward_reads),
        backward_params=arrays(p for p in der.params if p in backward_reads),
        input_arrays=arrays(n for n in der.inputs if n in bound),
        cache=arrays([*cache, *weights, *runs, *kept_made]),
        setup=setup,
        forward=forward, backward=backward, finish=finish, gradients=gradients,
        moved_last=[] if der.recurrent else moved_last,
        gradient_vars={g.var for g in gradients} | {names.delta(k) for k in stacked},
        # recurrent graphs only
        states=states, sequences=arrays(der.sequences), zeros=zeros,
        accumulators=[g for g in gradients if g.var not in in_blocks],
        kept_values=kept_values, kept_columns=kept_columns, after_loop=after_loop,
        batched_vars={names.delta(k) for k, _ in batched},
        sides=side_by_side,
        static_inputs=arrays(n for n in der.inputs if n not in der.sequences and n in bound),
        static_cache=arrays([*(n for n in cache if not der.per_step(n)), *weights]),
        sequence_cache=arrays(n for n in cache if n in der.sequences),
        step_cache=arrays([*(n for n in cache if der.per_step(n) and n in loop_reads), *runs]),
        appended=arrays([*appended, *runs]),
        # whether a step does anything in the loop: with no state, every equation may be
        # computed for every step at once, and then there is no loop to write
        forward_loop=bool(forward or states or appended or runs or outside["collected"]
                          or not outside["after"]),
        **outside)


def _text_literal(text):
    """A string (or None) as a Python literal, escaped (JSON's escapes are Python's)."""
    return "None" if text is None else json.dumps(text, ensure_ascii=False)


@dataclass(frozen=True)
class Prediction:
    """What `predict` computes: the first loss's prediction (softmax of its logits), from the
    forward statements it needs, without the targets."""

    loss: dict          # the module's LOSS: the loss's name, output, target and reduction
    what: str           # "softmax(z2)", for the docstring
    statement: Statement
    forward: list       # the forward statements it needs
    needed: list        # the inputs it reads
    printer: object
    dims: list
    params: list
    inputs: list
    static: list        # (recurrent) inputs that are not sequences
    sequences: list
    states: list


def _prediction(der, names, forward, dims, arrays, states):
    functions = [n for n in der.graph.nodes if n.op is not None and n.op.predict is not None
                 and n in der.places]
    if not functions:  # a loss written without a loss function: the loss is what it gives
        expr, loss = der.symbol(der.loss), {"name": None, "output": der.loss, "target": None,
                                            "reduce": "sum"}
    else:
        node = functions[0]
        output, target = (der.place(x) for x in node.inputs)
        expr = node.op.predict(node, der.symbol(output) if isinstance(output, str) else output)
        loss = {"name": node.op.name, "output": output if isinstance(output, str) else None,
                "target": target if isinstance(target, str) and target in der.inputs else None,
                "reduce": node.attrs["reduce"]}
    loss["functions"] = len(functions)
    needed = _values([expr])
    while True:  # what it reads, and (recurrent) what each state it reads carries over
        more = needed | {carrier for s, (carrier, _) in der.states.items() if s in needed}
        for name in reversed(der.forward):
            if name in more:
                more |= _values([der.forward[name]])
        if more == needed:
            break
        needed = more
    printer = NumpyCodePrinter(names)
    returned = Statement("prediction", printer.doprint(expr), f"prediction = {text(expr)}")
    forward = [statement(printer, s.name, [der.forward[n]], s.comment)
               for n, s in zip(der.forward, forward) if n in needed]
    read = [n for n in der.inputs if n in needed]
    inputs = read + _sizing(der, printer.dimensions,  # and those that give it its sizes
                            [*read, *(p for p in der.params if p in needed)], loss["target"])
    states = [s for s, (name, _) in zip(states, der.states.items()) if name in needed]
    timed = [n for n in der.sequences if n != loss["target"]] or der.sequences[:1]
    return Prediction(   # (a sequence it does not read still gives the number of steps T)
        loss, text(expr), returned, forward,
        [*dict.fromkeys([*inputs, *timed]), *(s.initial for s in states)], printer,
        dims(printer),
        arrays(p for p in der.params if p in needed), arrays(read),
        arrays(n for n in read if n not in der.sequences),
        arrays(n for n in read if n in der.sequences), states)


def _sizing(der, printed, read, target):
    """Inputs a prediction needs for their sizes alone: for each dimension it prints that no
    array it reads has (a constant prediction, 1/2 𝟏 of H×N, still needs N), the first input
    that has it, the target last."""
    carried = {str(s) for n in read for size in der.shapes[n] for s in size.free_symbols}
    found = []
    for dim in sorted(set(printed) - carried):
        found += [n for n in sorted(der.inputs, key=lambda n: n == target)
                  if dim in {str(s) for size in der.shapes[n] for s in size.free_symbols}][:1]
    return list(dict.fromkeys(found))


SEED = Verbatim("scale")  # δE in backward: 1, or sgd_step's lr, which then rides in every δ
SEEDED = ", times δE = scale"  # after the comment of a statement the loss's rule made


def _seeded(der, name):
    """A δ's terms (its compact form's, where it has one), those the loss's own rule made
    (δE carried into them) times δE = scale: a layer norm's output that is also the loss's
    target keeps its term of the loss beside the compact form, and that term was added to
    sgd_step's lr·δ unscaled (found by the scaled path of gradcheck)."""
    loss = der.nodes[der.loss]
    from_loss = {t.expr for t in der.terms[name] if t.origin is loss}
    terms = der.compact[name].terms if name in der.compact else [t.expr for t in der.terms[name]]
    return [e * SEED if e in from_loss else e for e in terms]


def _outside_the_loops(der, names, hoist, fused, seeded, stepped, appended, printers,
                       deltas_read, forward_read, number):
    """What the recurrent template writes outside its loops (`derive.hoisting`): the hoisted
    statements, the arrays of every step they read and write, and what each step of the
    loops reads of them. The helpers and dimensions they print join `printers`' (forward,
    backward); `number` is the loss if it is computed as a number (`a_number`)."""
    every_step = AllSteps(names, hoist)
    after_printer, before_printer = NumpyCodePrinter(every_step), NumpyCodePrinter(every_step)
    shares = {key for key, _, _ in hoist.shares}

    def constant(key, made, delta=False):
        return replace(made, same_at_every_step=True) if (delta, key) in hoist.constant else made

    before = [constant(k, statement(before_printer, every_step.value(k), terms,
                                    hoisted_comment(fused, terms))) if k in shares else
              constant(k, statement(before_printer, every_step.delta(k), terms,
                                    fused.comment(k, terms, delta=True) + SEEDED * (k in seeded)),
                       delta=True)
              for k, terms in hoist.before]
    ahead = [statement(after_printer, every_step.value(k), [e], hoisted_comment(fused, [e]))
             for k, e in hoist.ahead]
    after = [constant(k, statement(after_printer, every_step.value(k), [e], fused.comment(k, e),
                                   number=k == number)) for k, e in hoist.after]
    for printer, hoisted_printer in zip(printers, (after_printer, before_printer)):
        printer.helpers |= hoisted_printer.helpers
        printer.dimensions |= hoisted_printer.dimensions
        printer.typed |= hoisted_printer.typed

    def gathered(read, kind):  # an input by its key (t), an array of the cache by its name (t_)
        return [Gathered(every_step.value(n), n if kind(n) == "input" else names.value(n), kind(n))
                for n in sorted(read & hoist.values)]

    def read_by_step(keys, delta=False):
        return [Array(every_step.delta(k), names.delta(k)) if delta else
                Array(every_step.value(k), names.value(k)) for k in keys]

    after_read = gathered(_values(e for _, e in hoist.after) - hoist.keys,
                          lambda n: "input" if n in der.sequences else
                          "cache list" if n in appended else "collected")
    return dict(
        ahead=ahead, after=after, before=before,
        hoisted_loss=every_step.value(der.loss) if after else None,
        gathered_ahead=gathered(_values(e for _, e in hoist.ahead), lambda n: "input"),
        gathered=after_read,
        collected=[g for g in after_read if g.kind == "collected"],
        after_cache=[Array(names.value(k), every_step.value(k)) for k in stepped
                     if k in hoist.keys],
        gathered_back=gathered(_values(e for _, terms in hoist.before for e in terms),
                               lambda n: "cache list" if n in appended else "cached"),
        loop_sequences=[Array(n, names.value(n)) for n in der.sequences if n in forward_read],
        step_shares=read_by_step(k for k, _, delta in hoist.shares if not delta),
        step_deltas=[*read_by_step((k for k, _ in hoist.before if k in deltas_read), True),
                     *read_by_step(k for k, _, delta in hoist.shares if delta)])


def moved_after(der, names, backward, finish, terms_of):
    """(backward, finish, the rest) with each parameter's move, P −= δP, after the last
    statement that makes δP or reads P, itself or through a value that may view it (Pᵀ,
    rows of P: `_viewing`), `terms_of` giving a statement's terms by its name; so sgd_step
    moves each as soon as it can and no statement reads a moved parameter. The rest,
    whose δP no statement makes, move at the end."""
    statements = [*backward, *finish]
    reads = _reads(names)
    viewing = _viewing(der, {s.name: terms_of.get(s.name, ()) for s in statements}, reads)
    last = {}
    for at, made in enumerate(statements):
        read = {p for v in reads(terms_of.get(made.name, ())) for p in viewing.get(v, ())}
        for p in der.params:
            if made.name == names.delta(p) or p in read:
                last[p] = at
    moves = {}
    for p in der.params:
        moves.setdefault(last.get(p), []).append(Array(p, names.delta(p)))
    statements = [replace(s, moves=tuple(moves.get(at, ()))) for at, s in enumerate(statements)]
    return statements[:len(backward)], statements[len(backward):], moves.get(None, [])


FRESH = ("MatAdd", "HadamardProduct", "HadamardPower")  # numpy makes a new array of each


def _reads(names):
    """exprs -> what they read: forward values by name, δs by identifier."""
    def reads(exprs):
        return {names.delta(a.node_name) if isinstance(a, Delta) else a.name
                for e in exprs for a in e.atoms(sp.MatrixSymbol)}
    return reads


def _viewing(der, deltas, reads):
    """{a forward value's name, or a δ's identifier (`deltas`: their terms): the
    parameters its array may view}. Anything but a sum, an elementwise product or power,
    or a product of two matrices or a scaled one may be a view (Wᵀ, rows of W, W itself, W
    stretched, a helper that returns its argument), and a view of a view views what it does."""
    views = {p: {p} for p in der.params}

    def viewed(exprs):
        found = set()
        for expr in exprs:
            coeff, factors = split_coefficient_list(expr) if isinstance(expr, sp.MatMul) else \
                (1, [expr])
            products = [f for f in factors if not isinstance(f, sp.OneMatrix)]
            fresh = type(expr).__name__ in FRESH or \
                (isinstance(expr, sp.MatMul) and (coeff != 1 or len(products) > 1))
            if not fresh:
                found |= {p for v in reads([expr]) for p in views.get(v, ())}
        return found

    for name, expr in der.forward.items():
        views[name] = viewed([expr])
    for name, terms in deltas.items():
        views[name] = viewed(terms) if len(terms) == 1 else set()
    return views


def hoisted_comment(fused, terms):
    """The comment of a share of a sum that is computed before its loop."""
    seeded = SEEDED * any(SEED in t.free_symbols for t in terms)
    shown = [fused.shown(t.xreplace({SEED: sp.Integer(1)})) for t in terms]
    return f"{joined(fused.printer, shown)}{seeded}, for every step"


def _deltas_read(equations, blocks):
    """The names of the nodes whose δs the backward loop reads."""
    return {a.node_name for e in [*(t for _, terms in equations for t in terms),
                                  *(e for _, _, e in blocks)] for a in e.atoms(Delta)}


def _live(der, equations, written):
    """The δ equations the gradients need, in order: a compact form (layer norm's δx in one
    line) leaves the rule-by-rule δs it replaces unread, and those are not computed."""
    needed = set(der.params) | set(der.states)
    for name, _ in reversed(equations):
        if name in needed:
            needed |= {a.node_name for e in written[name] for a in e.atoms(Delta)}
    return [(n, e) for n, e in equations if n in needed]


def _read(forward, needed):
    """The forward equations something reads, in order: `needed` (the loss, what backward
    and the next step read) and what those read. Fusion leaves a gate's own block of rows
    (z_i = z_ifog[0:H]) unread when its activation is a block of the fused one's."""
    needed, read = set(needed), []
    for key, expr in reversed(forward):
        if key in needed:
            needed |= _values([expr])
            read.append((key, expr))
    return read[::-1]


def _shapes(der):
    """Each array the module takes, with its shape; sequences lead with the time axis T."""
    steps = (sp.Symbol("T"),)
    shapes = [(n, steps * (n in der.sequences) + der.shapes[n]) for n in [*der.params, *der.inputs]]
    shapes += [(initial, der.shapes[s]) for s, (_, initial) in der.states.items()]
    return [(name, _literal(shape)) for name, shape in shapes]


def _from_dims(size):
    """Code computing a size of dimensions (4*H, D + H) from the module's `dims`."""
    return numpy_code(size.xreplace({s: Verbatim(f'dims["{s}"]') for s in size.free_symbols}))


def _compound(der):
    """Shape entries like 4*H or D + H, each with code computing it from `dims`."""
    found = {d for shape in der.shapes.values() for d in shape if not (d.is_Symbol or d.is_Integer)}
    return [(str(d), _from_dims(d)) for d in sorted(found, key=str)]


def _at_least(der):
    """The sizes numbers must keep large enough (`Graph.least_sizes`), each (the size, code
    computing it from `dims`, the least, why), for the module to check."""
    return [(str(size), _from_dims(size), least, _text_literal(why))
            for size, least, why in sorted(der.graph.least_sizes(), key=str)]


def _solved(der, predicted):
    """Dimensions some call cannot read off an array's shape, each with an entry a*L + b
    whose other dimensions are known: (L, the entry, a, code giving b). Those no array has
    alone (L in a signal of 3*L rows), and those alone only in arrays that predict, reading
    the inputs `predicted`, does not read (H of a target t[H, N] beside W[2*H, D]; of a
    state, which training starts at zeros of its size), read back from a parameter's entry.
    A dimension found only in products (H in C*H*W) cannot be read off the arrays: an error."""
    shapes = [der.shapes[n] for n in [*der.params, *der.inputs, *der.states]]
    entries = {d for shape in shapes for d in shape}
    alone = {d for d in entries if d.is_Symbol}
    weighed = {d for n in der.params for d in der.shapes[n]}  # every call reads them
    read = weighed | {d for n in predicted if n in der.inputs for d in der.shapes[n]}
    solved = []
    for symbol in sorted({s for d in entries for s in d.free_symbols} - alone, key=str):
        found = _solution(symbol, entries, alone)
        if found is None:
            inside = ", ".join(sorted(str(d) for d in entries if symbol in d.free_symbols))
            raise ShapeError(f"dimension {symbol} appears only inside {inside}: the generated "
                             f"module cannot read its size off the arrays; give an input or "
                             f"parameter a shape where {symbol} stands alone, or write the size "
                             "as a number")
        solved.append(found)
    for symbol in sorted(alone - read, key=str):
        found = _solution(symbol, weighed, alone & weighed)
        if found is not None:
            solved.append(found)
    return solved


def _solution(symbol, entries, known):
    """(L, the entry, a, code giving b) of the first of `entries` that is a*L + b, a a whole
    number and b made of `known` dimensions; None if there is none."""
    for entry in sorted((d for d in entries if symbol in d.free_symbols), key=str):
        a, b = entry.coeff(symbol), entry.subs(symbol, 0)
        if entry != symbol and sp.Poly(entry, symbol).degree() == 1 and a.is_Integer and \
                b.free_symbols <= known:
            offset = b.xreplace({s: Verbatim(f'dims["{s}"]') for s in b.free_symbols})
            return str(symbol), str(entry), int(a), numpy_code(offset)
    return None


def _checks(der, names):
    """Inputs an operation validates before use (targets that must be distributions)."""
    checks = {}
    for node in der.graph.nodes:
        for index, helper in (node.op.checks.items() if node.op else ()):
            source = node.inputs[index]
            if source.kind == "input" and source.name in der.shapes:
                checks[(helper.name, source.name)] = (helper, Array(source.name,
                                                                    names.value(source.name)))
    return list(checks.values())


def _literal(shape):
    return "(" + ", ".join(str(int(d)) if d.is_Integer else f'"{d}"' for d in shape) + ")"


def a_number(der, forward_eqs, backward_reads):
    """The loss, if nothing but the module's `.item()` reads it (so it may be computed as a
    number rather than a 1×1 array), else None."""
    read = backward_reads | _values(e for _, e in forward_eqs)
    return None if der.loss in read else der.loss


def _values(exprs):
    """Names of the forward values an expression reads (not δs)."""
    return {a.name for e in exprs for a in e.atoms(sp.MatrixSymbol) if not isinstance(a, Delta)}


def called_helpers(der, names, called, printer_class=NumpyCodePrinter):
    """The helper functions the code calls, and those they call: derive's, then the user's,
    each in a fixed order; the user's formulas printed by `printer_class`."""
    own = [h for h in called if isinstance(h, Helper)]
    users = [f for f in user_functions(der) if f in called]
    for f in users:
        printer = printer_class(names, dtype="u.dtype")
        body = f.definition(U)
        code = printer.doprint(numbers_as_floats(body).xreplace({U: Verbatim("u")}))
        if U not in body.free_symbols:  # a constant formula: its value at every entry
            code = f"np.full_like(u, {code})"
        own += [h for h in printer.helpers if isinstance(h, Helper)]
        own.append(Helper(names.function(f.name), f"{f.name}(u) = {text(body)}", (code,)))
    by_name = {h.name: h for h in own}
    stack = list(by_name.values())
    while stack:  # helpers a helper needs: by name, or themselves
        for need in stack.pop().needs:
            helper = need if isinstance(need, Helper) else registered_helpers()[need]
            if helper.name not in by_name:
                by_name[helper.name] = helper
                stack.append(helper)
    user_names = {names.function(f.name) for f in users}
    ordered = sorted((h for h in by_name.values() if h.name not in user_names),
                     key=lambda h: h.name)
    return ordered + sorted((h for h in by_name.values() if h.name in user_names),
                            key=lambda h: h.name)


def compile_numpy(der):
    """`to_numpy(der)` loaded as a module; its source is kept as `module.__source__`."""
    der = derived(der, "compile_numpy")
    return loaded(to_numpy(der), der.graph.name)


def loaded(source, name):
    """Generated `source` loaded as a module named after its graph."""
    filename = f"<derive:{name}>"
    module = types.ModuleType(f"derive_{name}")
    module.__file__ = filename
    module.__source__ = source
    # Tracebacks show the generated lines, as sympy's lambdify does.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), module.__dict__)  # our own generated text only
    return module
