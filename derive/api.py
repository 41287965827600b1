"""The whole public API of derive, which `import derive` loads on the first name it is asked
for: importing this module registers every operation and attaches the views."""

from . import registry
from .registry import Rule, Signature, register
from .rules import concat, split
from .functions import (abs, elementwise, exp, function, identity, log, relu, scaled_tanh,
                        sigmoid, softplus, sqrt, tanh)
from .losses import binary_cross_entropy, softmax_cross_entropy, squared_error
from .softmax import log_softmax, softmax
from .reductions import averaging as mean, summing as sum  # noqa: A001 (d.sum, d.mean)
from .extrema import maximum, minimum
from .normalization import layer_norm
from .convolution import avg_pool2d, conv1d, conv2d, max_pool2d
from .graph import Graph, Node
from .derivation import Derivation, derive
from .walker import Term
from .codegen import compile_numpy, to_numpy
from .draw import draw
from . import views  # noqa: F401  (attaches text, LaTeX and pictures to derivations)
from . import models
from .errors import DeriveError, GraphError, ShapeError
from .gradcheck import gradcheck
from .training import train
from .worked import Worked
from .worked_values import ValuesError
from .modelfile import ModelFileError
from .modelfile import load as load_model
from .naming import dims
