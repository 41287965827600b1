"""derive: backpropagation equations by the five graphical rules, and numpy code from them.

`import derive` itself imports nothing heavy: the first name asked of it (`derive.derive`,
`derive.Graph`, ...) loads the whole API (`derive.api`, which imports sympy and networkx), so
a command that can answer without them, from its cache, starts at once.
"""

import importlib
import sys
import types

__all__ = [
    "Derivation", "DeriveError", "Graph", "GraphError", "ModelFileError", "Node", "Rule",
    "ShapeError", "Signature", "Term", "abs", "avg_pool2d", "binary_cross_entropy",
    "compile_numpy", "concat", "conv1d", "conv2d", "derive", "dims", "draw", "elementwise",
    "exp", "function", "gradcheck", "identity", "layer_norm", "load_model", "log",
    "log_softmax", "max_pool2d", "maximum", "mean", "minimum", "models", "register",
    "registry", "relu", "scaled_tanh", "sigmoid", "softmax", "softmax_cross_entropy",
    "softplus", "split", "sqrt", "squared_error", "sum", "tanh", "to_numpy", "train",
    "ValuesError", "Worked",
]


def __getattr__(name):
    if name not in __all__:
        raise AttributeError(f"module 'derive' has no attribute {name!r}")
    if name in _MODULES:  # `from . import registry` inside derive must not load everything
        return importlib.import_module(f".{name}", __name__)
    api = importlib.import_module(".api", __name__)
    globals().update({public: getattr(api, public) for public in __all__})
    return globals()[name]


def __dir__():
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """Importing a submodule binds its name on the package: `derive.draw`, `derive.softmax`
    and `derive.gradcheck` would become modules, not the functions the API names so. Those
    names are left to `__getattr__`."""

    def __setattr__(self, name, value):
        if isinstance(value, types.ModuleType) and name in __all__ and name not in _MODULES:
            return
        super().__setattr__(name, value)


_MODULES = {"models", "registry"}  # the public names that are modules
sys.modules[__name__].__class__ = _Package
