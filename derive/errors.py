"""The exceptions `derive` raises for a user's mistakes.

Every message names what is wrong (the node, the operation, the shapes) so a user never has
to read a traceback from inside sympy, networkx or numpy.
"""


class DeriveError(Exception):
    """Base class for every error `derive` reports about its input."""


class GraphError(DeriveError):
    """The graph is misused: a bad or duplicate name, a cycle, a missing or non-scalar loss."""


class ShapeError(DeriveError):
    """Two operands' shapes do not fit the operation that combines them."""


class CallError(GraphError, TypeError):
    """A function or operator of derive's given what it does not take (a missing node, an
    unknown keyword, a name where a number goes): a TypeError, as Python's own are, and a
    GraphError, as the README says every other misuse is."""


class FormulaError(GraphError, ValueError):
    """A constant or formula derive cannot compute with (not finite, not real, too small for
    float64, symbols that are not its argument): a ValueError, as Python's own are, and a
    GraphError."""
