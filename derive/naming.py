"""Names: which node and dimension names are allowed, and the δ symbol of a node.

Every name that reaches generated code passes through `check_identifier`; which identifier it
gets there is decided by the generated module's namer (`namer`).
"""

import keyword
import re

import sympy as sp

from .errors import GraphError

DELTA_PREFIX = "delta_"
LONGEST = 100  # characters in a name: longer ones are refused, never quoted whole
_IDENTIFIER = re.compile(r"(?!__)[A-Za-z_][A-Za-z0-9_]*\Z")


def check_identifier(name, what="node"):
    """Return `name` if it is an ASCII Python identifier that is not a keyword, else raise.

    Whatever else a name is, the generated module's namer keeps it apart from the names the
    module binds itself (`codegen`), so `t`, `np` or `params` are node names like any other.
    A leading double underscore is refused (Python gives such names meanings of its own).
    """
    if isinstance(name, str) and len(name) > LONGEST:
        raise GraphError(f"{what} name {name[:20]!r}… is {len(name)} characters long; "
                         f"names have at most {LONGEST}")
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise GraphError(
            f"{what} name {name!r} is not a valid name: use ASCII letters, digits and "
            "underscores, starting with a letter (or one underscore)")
    if keyword.iskeyword(name):
        raise GraphError(f"{what} name {name!r} is a Python keyword")
    return name


def dimension(name, bound=False):
    """The sympy symbol of a named dimension (a positive integer), a positive integer, or an
    expression of dimensions such as 4*H or D + H (built from `dims`, never parsed). A row
    `bound` may be any such expression that is never below 0, as H - 1."""
    if isinstance(name, sp.Expr) and not name.is_Symbol:
        stray = [s for s in name.free_symbols if not (s.is_integer and s.is_positive)]
        if stray or not name.is_integer or not name.is_polynomial():
            raise GraphError(f"dimension {name} must be a positive whole combination of "
                             "dimensions, like 4*H or D + H")
        if bound:
            if not name.is_nonnegative:
                raise GraphError(f"row bound {name} can be below 0 for some sizes of its "
                                 "dimensions: a bound is a whole combination of dimensions "
                                 "that is 0 or more at every size, like H - 1 or 2*H")
            return name
        if not name.is_positive:
            raise GraphError(f"dimension {name} can be 0 or less for some sizes of its "
                             "dimensions (a difference, like H - 1), so no array is declared "
                             "with it: shapes take sums and multiples of dimensions; where a "
                             "layer shrinks a size (a convolution without padding), give the "
                             "sizes as numbers")
        return name
    if isinstance(name, sp.Symbol):
        name = name.name
    if name == 1:
        return sp.Integer(1)
    if isinstance(name, int) and not isinstance(name, bool):
        if name > 0:
            return sp.Integer(name)
        raise GraphError(f"dimension {name} must be a name or a positive integer")
    return sp.Symbol(check_identifier(name, "dimension"), integer=True, positive=True)


def dims(names):
    """Dimension symbols for shape arithmetic: D, H = dims("D H"); then (4*H, D + H)."""
    if not isinstance(names, str):
        raise GraphError(f"dims takes the names in one string, like dims(\"D H\"), got "
                         f"{names!r}")
    return tuple(dimension(n) for n in names.replace(",", " ").split())


class Delta(sp.MatrixSymbol):
    """The symbol δa = ∂E/∂a of node `a`; always shaped like `a`."""

    @property
    def node_name(self):
        return self.name[len(DELTA_PREFIX):]


def delta_symbol(node_name, shape):
    """δ of the node called `node_name`; in code it is the variable `delta_<name>`."""
    return Delta(DELTA_PREFIX + node_name, *shape)


def temporaries(taken):
    """Yield names t1, t2, … for unnamed intermediate nodes, skipping names in `taken`."""
    k = 0
    while True:
        k += 1
        if f"t{k}" not in taken:
            yield f"t{k}"


def shape_text(shape):
    """rows×cols as the equations write sizes: a sum bracketed, a product with ·, so that
    H×(D + H) does not read as (H×D) + H (found by a hunt, in the pictures)."""
    def entry(size):
        text = str(size).replace("*", "·").replace(" - ", " − ")
        return f"({text})" if isinstance(size, sp.Add) else text
    return "×".join(map(entry, shape))
