"""derive: backpropagation equations by the five graphical rules, and numpy code from them."""

from . import registry
from .registry import Rule, Signature, register
from .rules import concat, split
from .functions import (elementwise, exp, function, identity, log, relu, scaled_tanh, sigmoid,
                        softplus, tanh)
from .losses import softmax_cross_entropy, squared_error
from .graph import Graph, Node
from .derivation import Derivation, derive
from .walker import Term
from .codegen import compile_numpy, to_numpy
from .draw import draw
from . import views  # noqa: F401  (attaches text, LaTeX and pictures to derivations)
from . import models
from .errors import DeriveError, GraphError, ShapeError
from .gradcheck import gradcheck
from .modelfile import ModelFileError
from .modelfile import load as load_model
from .naming import dims

__all__ = [
    "Derivation", "DeriveError", "Graph", "GraphError", "ModelFileError", "Node", "Rule",
    "ShapeError", "Signature", "Term", "compile_numpy", "concat", "derive", "dims", "draw",
    "elementwise", "exp", "function", "gradcheck", "identity", "load_model", "log", "models",
    "register", "registry", "relu", "scaled_tanh", "sigmoid", "softmax_cross_entropy",
    "softplus", "split", "squared_error", "tanh", "to_numpy",
]
