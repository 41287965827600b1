"""Stacked δs built in place: [δa; δb; …] made once and each block written where it is made.

Fusion runs rule 5 back through a stack of weights as one product, [U_i; U_f; …]ᵀ
δ[z_i; z_f; …], and one pass of a function's slope over a run of blocks,
δ[z_i; z_f; z_o] = [δi; δf; δo] ⊙ …; each reads its blocks' δs stacked. Made one by one
and then copied together (np.concatenate), every block is written twice and the stack is
one array more, in every step of a recurrent loop. Here the stack is allocated before its
first block is made, and each block's equation writes its first operation into the stack's
rows (`δi = np.multiply(δc, g, out=δ[i; f; o][0:H])`), its in-place updates then working on
them: one copy fewer a block (1–3% of an LSTM's step).

A stack is built so only when every block is a δ its own equation makes, in the same loop
and before the stack is read, and nothing else may write it: not a parameter's gradient (the
optimizers update those in place), not one summed over the steps, not a state's δ (the next
step reads it, and backward returns the first's). Whether each block's first operation can
be written into rows (an elementwise product or sum) is the printer's to say; where one
cannot, the stack stays a copy.
"""

from dataclasses import dataclass

from sympy import MatMul

from .algebra import Rows, Stack
from .fusion import Group, wanted
from .naming import Delta, delta_symbol


@dataclass(frozen=True)
class Built:
    """A stack of δs built in place: its key (its δ's node name), the δ symbol it is read
    as, and each block's key with the rows it is written into (a `Rows` of the symbol)."""

    key: str
    stack: Stack    # [δa; δb; …] as the equations read it
    symbol: Delta
    blocks: tuple   # ((block key, Rows), …)
    whole: bool     # the stack is an equation's whole right-hand side: that equation is it


class InPlace:
    """The stacks of δs among `equations` ((key, terms), in order) built in place: those
    whose every block's equation `printer` can write into its rows. `before` holds the
    stacks to make before each equation (key → [Built]), `replaced` the equations a stack
    is, `read_as` each stack as the equations then read it, `into` each block's rows as
    code; `names` learns each new stack's identifier."""

    def __init__(self, printer, names, equations, unwritable):
        self.before, self.replaced, self.read_as, self.into = {}, set(), {}, {}
        found = candidates(equations, unwritable)
        for stack in found:
            if not names.knows(stack.key):  # a run's stack, [i; f; o], has fusion's
                names.add(stack.key, wanted([key for key, _ in stack.blocks]))
        read_as = {stack.stack: stack.symbol for stack in found}
        terms_of = {k: [t.xreplace(read_as) for t in terms] for k, terms in equations}
        for stack in found:
            rows = {k: printer.doprint(r) for k, r in stack.blocks}
            if any(_made_into(printer, names.delta(k), terms_of[k], rows[k]) is None
                   for k in rows):
                continue
            first = next(k for k, _ in equations if k in rows)
            self.before.setdefault(first, []).append(stack)
            self.read_as[stack.stack] = stack.symbol
            self.into.update(rows)
            if stack.whole:
                self.replaced.add(stack.key)


def _made_into(printer, name, terms, out):
    with printer.statement():
        return printer.made_into(name, terms, out)


def candidates(equations, unwritable):
    """The stacks of δs among `equations` that may be built in place, as `Built`, each
    block in one stack at most; `unwritable` holds the keys whose arrays nothing but their
    own equation may make."""
    at = {key: i for i, (key, _) in enumerate(equations)}
    taken, found = set(), []
    for i, (key, terms) in enumerate(equations):
        for stack in sorted({s for t in terms for s in t.atoms(Stack)}, key=str):
            names = [_delta(a) for a in stack.args]
            if None in names or len(set(names)) < len(names) or taken & set(names) or \
                    not all(n in at and at[n] < i and n not in unwritable for n in names):
                continue
            whole = terms == [stack] and key not in unwritable
            own = key if whole else Group.key(names)
            symbol = delta_symbol(own, stack.shape)
            blocks, start = [], 0
            for name, block in zip(names, stack.args):
                blocks.append((name, Rows(symbol, start, start + block.shape[0])))
                start += block.shape[0]
            taken |= set(names)
            found.append(Built(own, stack, symbol, tuple(blocks), whole))
    return found


def _delta(block):
    """The node whose δ a block is, or None; a product of one factor is that factor."""
    while isinstance(block, MatMul) and len(block.args) == 1:
        block = block.args[0]
    return block.node_name if isinstance(block, Delta) else None
