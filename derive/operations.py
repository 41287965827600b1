"""The registry's tables, whole: every module that registers an operation is imported here,
so `OPS` and `CALLABLE` read from this module hold every entry, whichever of derive's modules
happened to be imported first. Whoever reads the tables as a whole reads them from here."""

import importlib

from . import convolution, extrema, functions, losses, normalization, reductions, rules
from .registry import CALLABLE, OPS

# (`from . import softmax` would be the package's softmax operation, not the module)
REGISTERING = (convolution, extrema, functions, losses, normalization, reductions, rules,
               importlib.import_module(".softmax", __package__))
__all__ = ["CALLABLE", "OPS", "REGISTERING"]
