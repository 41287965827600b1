"""Every module that registers an operation, imported in one place: whoever reads the registry
as a whole (`OPS`, `CALLABLE`, the helpers they name) imports this first, so what it reads
does not depend on which of derive's modules happened to be imported before."""

from . import convolution, extrema, functions, losses, normalization, reductions, rules  # noqa: F401
from .softmax import Softmax  # noqa: F401  (`from . import softmax` is the package's softmax op)
