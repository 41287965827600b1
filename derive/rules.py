"""The five rules: each operation's shape, forward meaning and backward rule, registered together.

The contract every rule keeps is stated once, in `registry`. Each rule's docstring is its math
line. Python's operators on nodes (`@`, `+`, `-`, `*`, `/`, `z[a:b]`) are wired here to the
operations they make.
"""

import functools
import operator

import sympy as sp

from .algebra import Place, Rows, Stack, broadcast, ones, unbroadcast
from .errors import CallError, GraphError, ShapeError
from .functions import U, apply, power, reciprocal
from .graph import OPERATORS, Node, number
from .naming import shape_text
from .registry import KINK_ARGUMENTS, Builder, Rule, Signature, add, make, op_named, register


def _mismatch(node, why, *shapes):
    operands = ", ".join(f"{x} is {shape_text(s)}" for x, s in zip(node.inputs, shapes))
    return ShapeError(f"{node.describe()}: {why}: {operands}")


def same_shape(node, *shapes):
    if any(s != shapes[0] for s in shapes):
        raise _mismatch(node, "operands must have the same shape", *shapes)
    return shapes[0]


def broadcast_shape(node, *shapes):
    """Shapes combine entrywise when each axis agrees or is 1 (a bias column, a scalar)."""
    out = []
    for axis in zip(*shapes):
        sizes = {n for n in axis if n != 1}
        if len(sizes) > 1:
            raise _mismatch(node, "shapes do not broadcast", *shapes)
        out.append(sizes.pop() if sizes else sp.Integer(1))
    return tuple(out)


def matmul_shape(node, a, b):
    if a[1] != b[0]:
        raise _mismatch(node, f"inner dimensions {a[1]} and {b[0]} differ", a, b)
    return (a[0], b[1])


def one_input(node, shape):
    return shape


def scalar_loss(node, *shapes):
    """A loss of (output, target): 1×1. The output comes first, as predict returns it: an
    input there with a computed target (squared_error(label, out)) is refused, since predict
    and train would take the label for the prediction and the output for nothing."""
    same_shape(node, *shapes)
    output, target = node.inputs[:2]
    if output.kind == "input" and target.kind != "input":
        raise GraphError(f"{node.describe()}: its first argument is the network's output and "
                         f"its second the target, but {output} is an input and {target} is "
                         f"computed: write {node.op.name}({target}, {output})")
    return (sp.Integer(1), sp.Integer(1))


# --- rule 5: weight matrix ----------------------------------------------------------------

@register("matmul", Rule.WEIGHT_MATRIX, matmul_shape, lambda node, a, b: a * b,
          reference=lambda xp, at, node, a, b: a @ b,
          init=lambda node, index: ("weight", "transposed weight")[index])
def weight_matrix(node, delta, y, a, b):
    """z = W x:  δW = δz xᵀ,  δx = Wᵀ δz."""
    return delta * b.T, a.T * delta


# Stacking and slicing are rule 5 with selection matrices: [a; b] = [I; 0] a + [0; I] b, so
# δa = [I 0] δz, the rows of δz that came from a; z[r] = [0 I 0] z, so δz ← δ put back in place.

def stack_shape(node, *shapes):
    if any(s[1] != shapes[0][1] for s in shapes):
        raise _mismatch(node, "stacked operands must have the same number of columns", *shapes)
    return (sp.Add(*(s[0] for s in shapes)), shapes[0][1])


@register("concat", Rule.WEIGHT_MATRIX, stack_shape, lambda node, *xs: Stack(*xs),
          signature=Signature(nodes=None),
          reference=lambda xp, at, node, *xs: xp.concatenate(xs, axis=0))
def unstacking(node, delta, y, *xs):
    """z = [a; b]:  δa = the rows of δz that a filled, δb = the rest."""
    terms, start = [], sp.Integer(0)
    for x in xs:
        terms.append(Rows(delta, start, start + x.shape[0]))
        start += x.shape[0]
    return tuple(terms)


def slice_shape(node, shape):
    start, stop = node.attrs["start"], node.attrs["stop"]
    if not (start.is_nonnegative and (shape[0] - stop).is_nonnegative):
        raise ShapeError(f"{node.describe()}: rows {start}:{stop} are not inside the "
                         f"{shape[0]} rows of {node.inputs[0]}")
    if not (stop - start).is_positive:
        raise ShapeError(f"{node.describe()}: rows {start}:{stop} of {node.inputs[0]} hold "
                         f"no rows at some sizes ({stop} − {start} can be 0 or less)")
    return (stop - start, shape[1])


@register("slice", Rule.WEIGHT_MATRIX, slice_shape,
          lambda node, z: Rows(z, node.attrs["start"], node.attrs["stop"]),
          reference=lambda xp, at, node, z: z[at(node.attrs["start"]):at(node.attrs["stop"])])
def placing(node, delta, y, z):
    """y = z[r]:  δz ← δy in rows r, zeros elsewhere (slices of one z add up by rule 1)."""
    return (Place(delta, node.attrs["start"], z.shape[0]),)


# --- rule 2: adding ---------------------------------------------------------------------

def _sum(node, *xs):
    terms = [sign * broadcast(x, node.shape) for sign, x in zip(node.attrs["signs"], xs)]
    if node.attrs["constant"]:
        terms.append(node.attrs["constant"] * ones(*node.shape))
    return functools.reduce(operator.add, terms)


def _sum_of(xp, at, node, *xs):
    return sum(sign * x for sign, x in zip(node.attrs["signs"], xs)) + \
        float(node.attrs["constant"])


@register("add", Rule.ADDING, broadcast_shape, _sum, reference=_sum_of,
          init=lambda node, index: "bias")
def adding(node, delta, y, *xs):
    """z = x ± y:  δx = δz, δy = ±δz, summed over the axes a smaller operand was broadcast."""
    return tuple(sign * unbroadcast(delta, x.shape) for sign, x in zip(node.attrs["signs"], xs))


# --- rule 3: elementwise multiplication -------------------------------------------------

def _product(node, a, b):
    return sp.hadamard_product(broadcast(a, node.shape), broadcast(b, node.shape))


@register("hadamard", Rule.ELEMENTWISE_MULTIPLICATION, broadcast_shape, _product,
          reference=lambda xp, at, node, a, b: a * b, init=lambda node, index: "gain")
def elementwise_multiplication(node, delta, y, a, b):
    """z = x ⊙ y:  δx = δz ⊙ y,  δy = δz ⊙ x."""
    return (unbroadcast(sp.hadamard_product(delta, broadcast(b, node.shape)), a.shape),
            unbroadcast(sp.hadamard_product(delta, broadcast(a, node.shape)), b.shape))


@register("scale", Rule.ELEMENTWISE_MULTIPLICATION, one_input,
          lambda node, x: node.attrs["factor"] * x,
          reference=lambda xp, at, node, x: at(node.attrs["factor"]) * x)
def scaling(node, delta, y, x):
    """z = c x:  δx = c δz."""
    return (node.attrs["factor"] * delta,)


# --- rule 4: function application -------------------------------------------------------

def _function_kinks(node):
    return [((0,), g.subs(U, KINK_ARGUMENTS[0])) for g in node.attrs["function"].kinks]


@register("apply", Rule.FUNCTION_APPLICATION, one_input,
          lambda node, x: apply(node.attrs["function"].scalar, x), kinks=_function_kinks,
          reference=lambda xp, at, node, x: node.attrs["function"].numbers(xp, x))
def function_application(node, delta, y, x):
    """y = f(x):  δx = δy ⊙ f′(x), with f′ written through the output y where it can be."""
    f = node.attrs["function"]
    if f.through_output is not None:
        slope = f.through_output(y, node.shape)
    else:
        slope = apply(f.derivative_at_input(), x)
        body, variables = slope.function.expr, slope.function.variables
        if not body.has(*variables):  # f′ a number (f(u) = 3u, or 2/3): δx = f′ δy, no x
            return (body * delta,)
    if slope == ones(*node.shape):
        return (delta,)
    return (sp.hadamard_product(delta, slope),)


# --- Python's operators on nodes --------------------------------------------------------

def _plus(node, other, sign, first=1):
    """first·node + sign·other: c − x is one sum, −x + c (rule 2), not c plus a scaled x."""
    if isinstance(other, Node):
        return make("add", (node, node.operand(other, "+")), signs=(first, sign),
                     constant=sp.Integer(0))
    constant = sign * number(other, "+")
    if constant == 0 and first == 1:
        return node  # x + 0 is x: no node
    return make("add", (node,), signs=(first,), constant=constant)


def _times(node, other):
    if isinstance(other, Node):
        return make("hadamard", (node, node.operand(other, "*")))
    return make("scale", (node,), factor=number(other, "*"))


def _divided(a, b):
    """a / b: a times b's reciprocal (rules 3 and 4), or a scaled by 1/b for a number b."""
    if isinstance(b, Node):
        over = reciprocal(b)
        if isinstance(a, Node):
            return _times(a, a.operand(over, "/"))
        return over if number(a, "/") == 1 else _times(over, a)  # 1/b is b's reciprocal
    divisor = number(b, "/")
    if divisor == 0:
        raise ZeroDivisionError(f"{a} / 0: division of a node by zero")
    return make("scale", (a,), factor=1 / divisor)


def _power(x, p):
    """x ** p for a number p (rule 4); a node's power of a node is not an operation."""
    if not isinstance(x, Node) or isinstance(p, Node):
        raise GraphError(f"{x} ** {p}: a node can be raised to a number only (a power of a node "
                         "by a node, or of a number by a node, is not one of derive's operations)")
    exponent = number(p, "**")
    if isinstance(exponent, sp.Expr) and exponent.free_symbols:
        raise GraphError(f"{x} ** ({p}): an exponent is a number; a power by a dimension (which "
                         "the example count or a layer's size would change) is not one of "
                         "derive's operations")
    if exponent == 0:
        raise GraphError(f"{x} ** 0 is 1 whatever {x} is: write the constant instead")
    return x if exponent == 1 else power(x, exponent)


# --- transposition: rule 5 with a permutation, xᵀ = P vec(x) -------------------------------

@register("transpose", Rule.WEIGHT_MATRIX, lambda node, shape: (shape[1], shape[0]),
          lambda node, x: x.T, view=True, reference=lambda xp, at, node, x: x.T,
          init=lambda node, index: "transposed")
def transposing(node, delta, y, x):
    """y = xᵀ:  δx = (δy)ᵀ."""
    return (delta.T,)


OPERATORS.update({
    "@": lambda a, b: make("matmul", (a, b)),
    "+": _plus,
    "*": _times,
    "/": _divided,
    "**": _power,
    "T": lambda x: make("transpose", (x,)),
    "[]": lambda z, start, stop: make("slice", (z,), start=start, stop=stop),
})

concat = op_named("concat")


def _split(node, parts):
    """`parts` equal blocks of rows: i, f, o, g = split(z, 4) for a stacked 4H×N z."""
    if not (float(parts).is_integer() and parts >= 1):
        raise CallError(f"split({node}, {parts!r}): the number of parts is a whole number ≥ 1")
    size = node.shape[0] / parts
    if not (size.is_integer and size.is_positive):
        raise ShapeError(f"split({node}, {parts}): {node.shape[0]} rows do not split into "
                         f"{parts} equal blocks")
    return [node[k * size:(k + 1) * size] for k in range(int(parts))]


split = add(Builder("split", _split, Signature(1, ("parts",))), callable_name="split")
