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
