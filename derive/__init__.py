"""derive: backpropagation equations by the five graphical rules, and numpy code from them."""

from .derivation import Derivation, Term, derive
from .errors import DeriveError, GraphError, ShapeError
from .functions import (elementwise, exp, identity, log, relu, scaled_tanh, sigmoid, softplus,
                        tanh)
from .graph import Graph, Node, concat, split
from .naming import dims
from .losses import softmax_cross_entropy, squared_error
from .rules import Kind, Rule

__all__ = [
    "Derivation", "DeriveError", "Graph", "GraphError", "Kind", "Node", "Rule", "ShapeError",
    "Term", "concat", "derive", "dims", "split", "elementwise", "exp", "identity", "log", "relu", "scaled_tanh", "sigmoid",
    "softmax_cross_entropy", "softplus", "squared_error", "tanh",
]
from .codegen import compile_numpy, to_numpy  # noqa: E402
from .gradcheck import gradcheck  # noqa: E402
from . import models  # noqa: E402
from .draw import draw  # noqa: E402
from .modelfile import ModelFileError, load as load_model  # noqa: E402
