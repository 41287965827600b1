"""derive: backpropagation equations by the five graphical rules, and numpy code from them.

`import derive` itself imports nothing heavy: the first public name asked of it
(`derive.derive`, `derive.Graph`, ...) loads them all (`load()`: sympy, networkx, every
operation registered, the views attached), so a command that can answer from its cache
starts at once.
"""

import importlib
import sys
import types

# Every public name: (the module that defines it, its name there).
PUBLIC = {
    "Derivation": ("derivation", "Derivation"), "DeriveError": ("errors", "DeriveError"),
    "Graph": ("graph", "Graph"), "GraphError": ("errors", "GraphError"),
    "ModelFileError": ("modelfile_source", "ModelFileError"), "Node": ("graph", "Node"),
    "Rule": ("registry", "Rule"), "ShapeError": ("errors", "ShapeError"),
    "CallError": ("errors", "CallError"), "FormulaError": ("errors", "FormulaError"),
    "Signature": ("registry", "Signature"), "Term": ("walker", "Term"),
    "ValuesError": ("worked_values", "ValuesError"), "Worked": ("worked", "Worked"),
    "abs": ("functions", "abs"), "avg_pool2d": ("convolution", "avg_pool2d"),
    "binary_cross_entropy": ("losses", "binary_cross_entropy"),
    "compile_numpy": ("codegen", "compile_numpy"), "concat": ("rules", "concat"),
    "conv1d": ("convolution", "conv1d"), "conv2d": ("convolution", "conv2d"),
    "derive": ("derivation", "derive"), "dims": ("naming", "dims"), "draw": ("draw", "draw"),
    "elementwise": ("functions", "elementwise"), "exp": ("functions", "exp"),
    "function": ("functions", "function"), "gradcheck": ("gradcheck", "gradcheck"),
    "identity": ("functions", "identity"), "layer_norm": ("normalization", "layer_norm"),
    "load_model": ("modelfile", "load"), "log": ("functions", "log"),
    "log_softmax": ("softmax", "log_softmax"), "max_pool2d": ("convolution", "max_pool2d"),
    "maximum": ("extrema", "maximum"), "mean": ("reductions", "averaging"),
    "minimum": ("extrema", "minimum"), "models": ("models", None),
    "predict": ("training", "predict"),
    "register": ("registry", "register"), "registry": ("registry", None),
    "relu": ("functions", "relu"), "scaled_tanh": ("functions", "scaled_tanh"),
    "sigmoid": ("functions", "sigmoid"), "softmax": ("softmax", "softmax"),
    "softmax_cross_entropy": ("losses", "softmax_cross_entropy"),
    "softplus": ("functions", "softplus"), "split": ("rules", "split"),
    "sqrt": ("functions", "sqrt"), "squared_error": ("losses", "squared_error"),
    "sum": ("reductions", "summing"), "tanh": ("functions", "tanh"),
    "to_numpy": ("codegen", "to_numpy"), "train": ("training", "train"),
}
__all__ = sorted(PUBLIC)


def load():
    """Every public name, bound here, with every operation registered and the views (text,
    LaTeX, pictures) attached to derivations and graphs."""
    for module in ("operations", "views"):
        importlib.import_module(f".{module}", __name__)
    for name, (module, attribute) in PUBLIC.items():
        found = importlib.import_module(f".{module}", __name__)
        globals()[name] = found if attribute is None else getattr(found, attribute)


def __getattr__(name):
    if name not in PUBLIC:
        raise AttributeError(f"module 'derive' has no attribute {name!r}")
    module, attribute = PUBLIC[name]
    if attribute is None:  # `from . import registry` inside derive must not load everything
        return importlib.import_module(f".{module}", __name__)
    load()
    return globals()[name]


def __dir__():
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """Importing a submodule binds its name on the package: `derive.draw`, `derive.softmax`
    and `derive.gradcheck` would become modules, not the functions the API names so. Those
    names are left to `__getattr__`."""

    def __setattr__(self, name, value):
        if isinstance(value, types.ModuleType) and PUBLIC.get(name, (None, None))[1]:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
