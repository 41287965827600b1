"""The views of graphs and derivations, attached here, in one place, from the outside: the
core types know nothing of text, LaTeX or pictures, so their imports go one way."""

from .derivation import Derivation
from .display import text_equations
from .draw import draw
from .explain import explain
from .graph import Graph
from .latex import to_latex
from .worked import Worked, worked
from .worked_display import latex as worked_latex
from .worked_display import text as worked_text


def _text(der):
    return "\n".join(text_equations(der))


def _to_latex(der, standalone=False, tags=True, environment="align"):
    """The equations in an `align` environment (or `aligned`, for notebooks); a complete
    document if `standalone`."""
    return to_latex(der, standalone=standalone, tags=tags, environment=environment)


def _explain(der, latex=False):
    """Step by step: which rule made each term of each δ, and through which consumer."""
    return explain(der, as_latex=latex)


def _worked(der, inputs, params, lr=None, digits=4):
    """A worked example with these numbers: every forward value, δ term by term, gradient and
    (with `lr`) the parameters after one step; `str()` is its text, `.to_latex()` its LaTeX."""
    return worked(der, inputs, params, lr=lr, digits=digits)


def _worked_latex(example, standalone=False):
    """The worked example in LaTeX (a whole document if `standalone`)."""
    return worked_latex(example, standalone=standalone)


def _graph_svg(graph):
    """In a notebook a graph shows as its picture (once it has a loss to derive from)."""
    return None if graph.loss_node is None else draw(graph)._repr_svg_()


Derivation.__str__ = _text
Derivation.to_latex = _to_latex
Derivation.explain = _explain
Derivation._repr_latex_ = lambda der: to_latex(der, environment="aligned")
Derivation.worked = _worked
Worked.__str__ = worked_text
Worked.to_latex = _worked_latex
Worked._repr_latex_ = lambda example: worked_latex(example, notebook=True)
Graph._repr_svg_ = _graph_svg
