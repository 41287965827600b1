"""The equations of a derivation as a person reads them, once, for every output: text, LaTeX,
explanations, pictures and the comments of generated code all read `rows` and `reason`.

Forward equations, then each δ and gradient, each δ with the rule behind each of its terms.
In a recurrent net δ from step t+1 is written out (δc_t = … + δc_{t+1} ⊙ f_{t+1}), and a
state's δ is shown at the first step, t = 1, as the gradient of the initial value h0.
"""

from dataclasses import dataclass

import sympy as sp

from .algebra import Next
from .printers.notation import T
from .printers.text import TextPrinter
from .registry import Rule


@dataclass(frozen=True)
class Row:
    """One displayed equation: `lhs` (a node or δ of one) at `time` equals `expr`."""

    lhs: str
    delta: bool
    expr: object
    time: object
    terms: tuple = ()      # (Term, its expression as displayed) for each term of a δ
    summed: bool = False   # a shared parameter's gradient: Σ over the steps
    state: object = None   # a state's δ: (the node it carries, h; its initial input, h0)

    def at(self, time):
        """(name, time index) the row's left side shows at `time` (None: no time index)."""
        if self.state is None:
            return self.lhs, None if self.time is None else time
        carrier, initial = self.state
        return (initial, None) if time == 1 else (carrier, time - 1)


def timing(der):
    """For a recurrent derivation: which names are per time step, which are states."""
    if not der.recurrent:
        return {}
    states = der.states
    return {name: states.get(name, "step") for name in der.shapes if der.per_step(name)}


def rows(der):
    """The equations in order: forward, δs (the loss's own left out), gradients."""
    states = der.states
    time = T if der.recurrent else None
    from_next = {Next(der.delta(s)): Next(der.deltas[s]) for s in states}

    def terms(name):
        return tuple((t, t.expr.xreplace(from_next)) for t in der.terms[name])

    out = [Row(n, False, e, time if der.per_step(n) else None) for n, e in der.forward.items()]
    for name, expr in der.deltas.items():
        if name == der.loss:
            continue
        state = states.get(name)
        out.append(Row(name, True, expr.xreplace(from_next), time, terms(name), state=state))
    out += [Row(n, True, e, None, terms(n), summed=bool(time)) for n, e in der.gradients.items()]
    return out


def displayed_time(row):
    """Equations show a state's δ at the first step (δh0 = Uᵀ δz_1), the rest at t."""
    return sp.Integer(1) if row.state is not None else T


@dataclass(frozen=True)
class Reason:
    """Why a term is there: `rule`, at the node `place` (a name, or a folded node's value)."""

    rule: Rule
    place: object
    through: tuple = ()  # the rules of the nodes folded into `place`, outside in, after `rule`

    @property
    def rules(self):
        return (self.rule, *self.through)

    def words(self, place_text):
        """'rule 5 (weight matrix) at z2', 'rule 4 (function application) and rule 2 (adding)
        at r' (r = tanh(t1 + 1), the sum folded into r), 'the loss's δ', 'the next step's
        δ'."""
        if self.rule is Rule.LOSS:
            return "the loss's δ"
        if self.rule is Rule.SPLITTING:
            return "the next step's δ"
        return f"{' and '.join(map(str, self.rules))} at {place_text}"

    @property
    def label(self):
        """Short, for pictures and LaTeX tags: 'rule 5 (weight matrix)', 'the loss',
        'rule 1: from step t+1'."""
        return FROM_NEXT_STEP if self.rule is Rule.SPLITTING else \
            " and ".join(map(str, self.rules))


FROM_NEXT_STEP = "rule 1: from step t+1"


def reason(der, term):
    """The rules a term went through, from the kept node whose δ it carries inwards (each
    once), and that node: a term made inside nodes folded into it names their rules too,
    but for adding, which passes δ on as it is (z = W x + b: rule 5 at z)."""
    rules = list(dict.fromkeys(rule for rule, _ in reversed(term.chain())))
    if len(rules) > 1 and Rule.ADDING in rules:
        rules.remove(Rule.ADDING)
    return Reason(rules[0], der.place(term.origin), tuple(rules[1:]))


def why(reasons):
    """'rule 5 (weight matrix) at z2', or rule 1 over several: given each reason's words."""
    return reasons[0] if len(reasons) == 1 else f"{Rule.SPLITTING}: {'; '.join(reasons)}"


def sides(printer, row, time):
    """A row's left and right sides as `printer` spells them, at `time`; a δ's right side is
    its terms in the order of their reasons."""
    printer.time = time
    name, index = row.at(time)
    lhs = printer.stamp(name, index)
    if not row.delta:
        return lhs, printer.doprint(row.expr)
    return printer.delta_mark + lhs, joined(printer, [e for _, e in row.terms])


def joined(printer, exprs):
    """a + b − c: terms printed one by one, in their order, as one sum."""
    out = ""
    for k, expr in enumerate(exprs):
        text = printer.doprint(expr)
        if k == 0:
            out = text
        elif text.startswith(printer.minus):
            out += f" {printer.minus.strip()} {text[len(printer.minus):]}"
        else:
            out += f" + {text}"
    return out


def text_printer(der):
    printer = TextPrinter()
    printer.timing = timing(der)
    return printer


def place_text(der, place, printer=None):
    """A place in the text notation: a node's name, or a folded node's value."""
    if isinstance(place, str):
        return place
    return (printer or text_printer(der)).doprint(place)


def text_why(der, terms, printer=None):
    """Which rule made each term, and at which consumer: 'rule 5 (weight matrix) at z2'."""
    return why([r.words(place_text(der, r.place, printer))
                for r in (reason(der, t) for t in terms)])


def text_equations(der):
    """The derivation as lines of text: forward pass, then each δ and parameter gradient with
    the rule that made each of its terms."""
    printer = text_printer(der)
    lines, backward = [], []
    for row in rows(der):
        lhs, rhs = sides(printer, row, displayed_time(row))
        if row.summed:
            rhs = over_steps(rhs, len(row.terms))
        if not row.delta:
            lines.append(f"{lhs} = {rhs}")
            continue
        backward.append((f"{lhs} = {rhs}", text_why(der, [t for t, _ in row.terms], printer)))
        if row.lhs in der.compact:
            compact = der.compact[row.lhs]
            backward.append((f"{lhs} = {joined(printer, compact.terms)}", compact_words(compact)))
    width = max((len(eq) for eq, _ in backward), default=0)
    return lines + [f"{eq:<{width}}   # {words}" for eq, words in backward]


def over_steps(rhs, terms, sigma="Σ_t"):
    """A gradient summed over the steps: Σ_t δz_t x_tᵀ, or Σ_t (a + b) of several terms."""
    return f"{sigma} {rhs}" if terms == 1 else f"{sigma} ({rhs})"


def compact_words(compact):
    """What a compact form's line says of itself: 'layer norm, compact form'."""
    return f"{compact.title}, compact form"


def code_comments(der):
    """Each equation as the generated code's comment above its statement: at step t in a
    recurrent net (δh_{t−1} = …), with 'δW +=' for a gradient summed over the steps, and a δ
    with a compact form (layer norm's) in that form, which the code computes."""
    printer = text_printer(der)
    comments = {}
    for row in rows(der):
        lhs, rhs = sides(printer, row, T)
        if row.delta and row.lhs in der.compact:  # the code computes the compact form
            compact = der.compact[row.lhs]
            rhs = f"{joined(printer, compact.terms)}   ({compact_words(compact)})"
        comments[(row.delta, row.lhs)] = f"{lhs} {'+=' if row.summed else '='} {rhs}"
    return comments
