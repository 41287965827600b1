"""derive: backpropagation equations by the five graphical rules, and numpy code from them."""

from . import models
from .codegen import compile_numpy, to_numpy
from .derivation import Derivation, Term, derive
from .draw import draw
from .errors import DeriveError, GraphError, ShapeError
from .functions import (elementwise, exp, identity, log, relu, scaled_tanh, sigmoid, softplus,
                        tanh)
from .gradcheck import gradcheck
from .graph import Graph, Node, concat, split
from .losses import softmax_cross_entropy, squared_error
from .modelfile import ModelFileError
from .modelfile import load as load_model
from .naming import dims
from .rules import Kind, Rule

__all__ = [
    "Derivation", "DeriveError", "Graph", "GraphError", "Kind", "ModelFileError", "Node", "Rule",
    "ShapeError", "Term", "compile_numpy", "concat", "derive", "dims", "draw", "elementwise",
    "exp", "gradcheck", "identity", "load_model", "log", "models", "relu", "scaled_tanh",
    "sigmoid", "softmax_cross_entropy", "softplus", "split", "squared_error", "tanh",
    "to_numpy",
]
