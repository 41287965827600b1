"""LaTeX for derive's matrix expressions: ⊙ is `\\odot`, transposes `^\\top`, δ `\\delta`,
layer indices subscripts (`W_{1}`), Greek names their letters (`alpha` → `\\alpha`).

Every name prints unambiguously: where two names would look alike (W1 and W_1 are both
W_{1}), both are printed as they are written (`\\mathrm{W1}`, `\\mathrm{W\\_1}`).
"""

import re

from sympy.printing.latex import LatexPrinter as SympyLatexPrinter
from sympy.printing.latex import greek_letters_set

from .notation import REDUCED, Notation, time_index

_NAME = re.compile(r"([A-Za-z]+?)(\d*)\Z")
# δ marks the derivatives and σ is the sigmoid: names delta and sigma stay words
GREEK = {**{g: "\\" + g for g in greek_letters_set if g not in ("omicron", "delta", "sigma")},
         **{g: "\\" + g for g in ("Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma",
                                  "Upsilon", "Phi", "Psi", "Omega")}}


def _word(text):
    """A piece of a name: a Greek letter, one letter as is, digits, else upright text."""
    if text in GREEK:
        return GREEK[text]
    if len(text) == 1 or text.isdigit():
        return text
    return rf"\mathrm{{{text}}}"


def pretty_name(name):
    """W1 → W_{1}, h_prev → h_{\\mathrm{prev}}, alpha → \\alpha, label → \\mathrm{label}."""
    base, _, sub = name.lstrip("_").partition("_")
    if not base[:1].isalpha():  # _ or _1: no letter to head it (1 would read as a number)
        return verbatim_name(name), []
    match = _NAME.match(base)
    if match and match.group(2) and match.group(1):
        base, sub = match.group(1), match.group(2) + ("," + sub if sub else "")
    parts = [_word(p) for p in sub.replace("_", ",").split(",") if p]
    return _word(base or "_"), parts


def verbatim_name(name):
    return r"\mathrm{" + name.replace("_", r"\_") + "}"


def latex_names(names):
    """Each name's LaTeX (head, subscripts), one to one: names that would print alike are
    printed as they are written."""
    pretty = {n: pretty_name(n) for n in names}
    seen = {}
    for n, (head, parts) in pretty.items():
        seen.setdefault((head, tuple(parts)), []).append(n)
    for group in seen.values():
        if len(group) > 1:
            for n in group:
                pretty[n] = (verbatim_name(n), [])
    return pretty


def render_name(head, parts, time=None):
    parts = [*parts, time_index(time)] if time is not None else parts
    return f"{head}_{{{','.join(parts)}}}" if parts else head


class LatexPrinter(Notation, SympyLatexPrinter):
    matmul = r" \, "
    hadamard = r" \odot "
    delta_mark = r"\delta "
    minus = "-"
    at_least = r"\geq"
    times = " "
    reduced = REDUCED
    target = "latex"

    def __init__(self, names=()):
        super().__init__()
        self.latex_names = latex_names(names)

    def name(self, name, time=None):
        head, parts = self.latex_names.get(name) or pretty_name(name)
        return render_name(head, parts, time)

    def stamp(self, name, time):
        return self.name(name, time)

    def _print_Delta(self, expr):
        return r"\delta " + self.stamp(*self._timed_delta(expr.node_name))

    def _print_Transpose(self, expr):
        return f"{self._base(expr.arg)}^\\top"

    def _print_HadamardPower(self, expr):
        return f"{self._base(expr.base)}^{{{self._print(expr.exp)}}}"

    def _base(self, expr):
        """A superscript's base: braced when it has a superscript of its own (x^⊤^⊤)."""
        text = self._operand(expr)
        return f"{{{text}}}" if type(expr).__name__ in ("Transpose", "HadamardPower") else text

    def _print_OneMatrix(self, expr):
        return r"\mathbf{1}"

    def _print_Symbol(self, expr, style="plain"):
        return self.name(expr.name)

    def _stack(self, items):
        return r"\begin{bmatrix} " + r" \\ ".join(items) + r" \end{bmatrix}"

    def _rows(self, arg, start, stop):
        return f"{{{arg}}}_{{[{start}:{stop}]}}"

    def _reduce_text(self, text, rows, cols):
        if rows and cols:
            return rf"\mathop{{\textstyle\sum}} {text}"  # the text style ends with the Σ
        axis = "rows" if rows else "cols"
        return rf"\mathop{{\textstyle\sum}}\nolimits_{{\mathrm{{{axis}}}}} {text}"

    def _scalar(self, expr):
        return SympyLatexPrinter.doprint(self, expr)

    def _power(self, text, exp):
        return rf"\left({text}\right)^{{{exp}}}"



def latex(expr, names=()):
    return LatexPrinter(names).doprint(expr)
