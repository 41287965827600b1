"""Pictures of a derivation: nodes with name, operation and shape; forward edges in black;
beside each, the δ term flowing back in red, labelled with its rule."""

from pathlib import Path

import graphviz
import sympy as sp

from .derivation import Derivation, derive
from .display import reason, text_printer
from .errors import DeriveError
from .naming import shape_text
from .worked import Worked
from .worked_display import picture_numbers

LEGIBLE = 40  # more nodes than this: the δ labels are left off so the picture stays readable
_FORMATS = {".svg": "svg", ".png": "png", ".dot": None}


class Picture:
    """A Graphviz picture of a graph's forward and backward flow."""

    def __init__(self, digraph):
        self.digraph = digraph

    @property
    def dot(self):
        return self.digraph.source

    def render(self, format):
        try:
            return self.digraph.pipe(format=format)
        except graphviz.ExecutableNotFound:
            raise DeriveError("drawing needs Graphviz's `dot` program, which is not installed: "
                              "install the graphviz system package (apt-get install graphviz, "
                              "brew install graphviz); DOT text (`.dot`) needs nothing") from None

    def save(self, path):
        """Write the picture as SVG, PNG or DOT text, chosen by the file's extension."""
        path = Path(path)
        if path.suffix not in _FORMATS:
            raise DeriveError(f"{path}: a picture is saved as .svg, .png or .dot, "
                              f"not {path.suffix or 'a file without extension'}")
        format = _FORMATS[path.suffix]
        path.write_bytes(self.dot.encode() if format is None else self.render(format))
        return path

    def _repr_svg_(self):
        return self.render("svg").decode()


def draw(subject, path=None, values=None):
    """Draw a Derivation (or a Graph, derived first); save it to `path` if one is given.

    `values`, a worked example of it (`der.worked(inputs, params)`), puts its numbers on the
    picture: each node's value and δ, each δ term beside its edge."""
    numbers = None
    if values is not None:
        if not isinstance(values, Worked):
            raise DeriveError("values is a worked example, der.worked(inputs, params), not "
                              f"{type(values).__name__}")
        graph = subject.graph if isinstance(subject, Derivation) else subject
        if graph.origin is not values.der.graph.origin:
            raise DeriveError("values is a worked example of another graph: draw the one it "
                              "was made from")
        subject, numbers = values.der, picture_numbers(values)
    der = subject if isinstance(subject, Derivation) else derive(subject)
    picture = Picture(_digraph(der, numbers))
    if path is not None:
        picture.save(path)
    return picture


def _digraph(der, numbers=None):
    dot = graphviz.Digraph(der.graph.name, graph_attr={"rankdir": "LR", "fontname": "Helvetica"},
                           node_attr={"shape": "box", "style": "rounded", "fontname": "Helvetica"},
                           edge_attr={"fontname": "Helvetica", "fontsize": "10"})
    labelled = len(der.shapes) <= LEGIBLE
    printer = text_printer(der)
    printer.timing = {}  # a picture shows one step: names without time indices
    if not labelled:
        dot.attr(label=f"{len(der.shapes)} nodes: δ labels left off to keep the picture legible")
    elif numbers is not None:
        dot.attr(label=numbers.note)
    for name, node in der.nodes.items():
        shape = shape_text(der.shapes[name])
        operation = printer.doprint(der.forward[name]) if name in der.forward else node.kind
        shown = numbers.nodes.get(name, []) if numbers is not None and labelled else []
        dot.node(name, "\n".join([name, operation, shape, *shown]),
                 style="rounded,filled", fillcolor=_FILL.get(node.kind, "white"))
    for name, expr in der.forward.items():
        for source in sorted(_reads(expr) & der.shapes.keys()):
            dot.edge(source, name, color="black")
    for state, (carrier, _) in der.states.items():  # the recurrence: h_t is h_{t−1} next step
        dot.edge(carrier, state, label="next step", style="dotted", constraint="false")
    for name, terms in der.terms.items():
        for k, term in enumerate(terms):
            consumer = der.place(term.origin)
            label = f"δ{name} ← {printer.doprint(term.expr)}\n{reason(der, term).label}" \
                if labelled else ""
            if labelled and numbers is not None:
                label += f"\n= {numbers.terms[(name, k)]}"
            dot.edge(consumer, name, label=label, color="firebrick", fontcolor="firebrick",
                     style="dashed", constraint="false")
    return dot




_FILL = {"input": "lightyellow", "param": "lightblue"}


def _reads(expr):
    return {a.name for a in expr.atoms(sp.MatrixSymbol)}
