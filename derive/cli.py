"""The `derive` command: equations, LaTeX, pictures, generated code and gradient checks.

MODEL is a model file (`net.bp`, see `derive.modelfile`) or a built-in model's name. Each
subcommand is one function of the parsed arguments (`derive.commands`) plus one `_command` line
in `parser()`; one that makes a file prints it or, given `-o`, writes it through
`derive.output`: never over a file derive did not write (unless --force), never through a
symbolic link, whole or not at all.

The command never shows a traceback. A mistake in its input is one message and exit status 2;
so is a file or pipe the system cannot read or write. Anything else is a bug in derive: one line
saying how to report it and exit status 1 (DERIVE_DEBUG=1 shows the traceback). A reader that
closes the pipe early (`derive equations mlp | head`) ends the command quietly, with the status
of a process killed by SIGPIPE (141), as `cat` would.

The commands that print text of the model alone (equations, explain, codegen, latex) keep it
in `derive.cache`; sympy and the rest are imported only when a command needs them, so one
answered from the cache starts at once.
"""

import argparse
import os
import sys
import traceback

from .commands import (DEFAULT_SIZE, HUGE, MODEL_SUFFIX, check, codegen, decimal,
                       draw_command, equations, explain, latex, list_models, predict_command,
                       train_command)
from .errors import DeriveError
from .modelfile_source import ModelFileError
from .optimizers import LEARNING_RATES
from .output import quoted

SIGPIPE_STATUS = 128 + 13
EXAMPLE = """a model file, mlp.bp:
  input x[D, N], label[K, N]         # shapes of the inputs,
  param W1[H, D], b1[H, 1], W2[K, H] # then of the parameters
  z1  = W1 @ x + b1                  # one named node a line: @ + - * /, numbers,
  h   = sigmoid(z1)                  # sigmoid tanh relu softplus exp log identity,
  out = sigmoid(W2 @ h)              # scaled_tanh(z, a, b), phi(z) after phi(u) = ...
  loss = squared_error(out, label)   # or softmax_cross_entropy(z, t[, reduce="mean"])
"""


def _positive(text):
    return _integer(text, 1)


def _natural(text):
    return _integer(text, 0)


def _integer(text, least):
    """An argparse type: a decimal integer from `least` (0 or 1) to below 10^18."""
    value = decimal(text)
    if value is None or not least <= value < HUGE:
        kind = "a positive" if least else "a non-negative"
        raise argparse.ArgumentTypeError(f"expected {kind} integer below 10^18, got "
                                         f"{quoted(text)}")
    return value


def _rate(text):
    return _real(text, lambda value: 0 < value < float("inf"), "a positive number")


def _fraction(text):
    return _real(text, lambda value: 0 <= value < 1, "a fraction from 0 to below 1")


def _real(text, fits, kind):
    """An argparse type: a number of `kind`, one that `fits`."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not fits(value):
        raise argparse.ArgumentTypeError(f"expected {kind}, got {quoted(text)}")
    return value


def _command(sub, name, run, help, output=None,
             writes="write to this file instead of standard output"):
    """A subcommand taking MODEL; `output` is the suffix of the file its -o `writes`."""
    command = sub.add_parser(name, help=help, description=help)
    command.add_argument("model", metavar="MODEL",
                         help=f"a model file (*{MODEL_SUFFIX}) or a built-in model's name "
                              "(see `derive models`)")
    if output:
        command.add_argument("-o", "--output", metavar=f"FILE{output}",
                             help=f"{writes}; a file derive did not write is never replaced")
        command.add_argument("--force", action="store_true",
                             help="replace FILE even if derive did not write it (a symbolic "
                                  "link is replaced, never followed)")
    command.set_defaults(run=run)
    return command


def parser():
    p = argparse.ArgumentParser(
        prog="derive", epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Backpropagation equations, numpy code and gradient checks of a model.")
    p.add_argument("--version", action=_Version, help="show derive's version and exit")
    sub = p.add_subparsers(dest="command", required=True)
    _command(sub, "equations", equations, "print the forward and δ equations")
    _explain_parser(sub)
    _command(sub, "codegen", codegen, "print the generated numpy module", output=".py")
    check_command = _command(sub, "check", check, "check the gradients against central "
                                                  "differences; exit status 1 if they disagree")
    _dim_option(check_command, f"(default D=3 H=4 K=2 N=5 T=4, others {DEFAULT_SIZE})")
    check_command.add_argument("--seed", type=_natural, default=0,
                               help="seed of the random parameters and inputs (default 0)")
    check_command.add_argument("--max-entries", type=_positive, metavar="K",
                               help="check K entries of each parameter, drawn by the seed "
                                    "(default: every entry)")
    latex_command = _command(sub, "latex", latex, "print the equations as a LaTeX document",
                             output=".tex")
    latex_command.add_argument("--pdf", action="store_true",
                               help="also compile FILE.pdf with pdflatex (needs -o)")
    _command(sub, "draw", draw_command, "draw the graph with its deltas flowing back (DOT "
                                        "text, or a picture with -o)", output=".svg|.png|.dot")
    _train_parser(sub)
    _predict_parser(sub)
    sub.add_parser("models", help="list the built-in models",
                   description="list the built-in models").set_defaults(run=list_models)
    return p


def _explain_parser(sub):
    command = _command(sub, "explain", explain, "explain every δ term by term: its rule and "
                       "consumer; with --numbers, a worked example with numbers")
    command.add_argument("--numbers", action="store_true",
                         help="work the equations through with numbers: each forward value, "
                              "each δ term by term, each gradient")
    command.add_argument("--values", metavar="FILE.json",
                         help='the numbers: one JSON object, an array (nested lists, rows '
                              'first) by name, like {"x": [[1], [2]], "W1": [[0.5, -1], [2, 0]], '
                              '...}; a 1x1 array may be a bare number; entries are numbers or '
                              'text like "1/3" (default: random numbers from --seed)')
    _dim_option(command, "for random numbers (default D=2 H=3 K=2 N=1 T=2, others 2)")
    command.add_argument("--seed", type=_natural, help="seed of the random numbers (default 0)")
    command.add_argument("--lr", metavar="LR",
                         help="also take one step of gradient descent with this learning rate "
                              "(0.1 is read exactly, as 1/10)")


def _train_parser(sub):
    command = _command(sub, "train", train_command, "train the model on data, holding some "
                       "out; print their loss (and accuracy) last", output=".npz",
                       writes="save the parameters and the data's scaling to this file")
    _data_option(command)
    _dim_option(command, "(the sizes the data do not give, such as H)")
    command.add_argument("--epochs", type=_positive, default=10, help="default 10")
    command.add_argument("--batch", type=_positive, default=32, metavar="B",
                         help="examples a step (default 32)")
    command.add_argument("--optimizer", choices=list(LEARNING_RATES), default="adam",
                         help="default adam")
    command.add_argument("--lr", type=_rate, metavar="LR", help="the learning rate (default: "
                         + ", ".join(f"{k} {v:g}" for k, v in LEARNING_RATES.items())
                         + ")")
    command.add_argument("--seed", type=_natural, default=0,
                         help="seed of the split, the shuffles and the parameters (default 0)")
    command.add_argument("--val", type=_fraction, default=0.2, metavar="FRACTION",
                         help="held out, never trained on (default 0.2; 0 for none)")
    command.add_argument("--plot", metavar="FILE.png",
                         help="draw the loss (and accuracy) after each epoch to this file")


def _predict_parser(sub):
    command = _command(sub, "predict", predict_command, "print the model's prediction for "
                       "each example, a line each: its class, or its outputs", output=".csv")
    command.add_argument("--params", required=True, metavar="FILE.npz",
                         help="the parameters that `derive train -o` saved")
    _data_option(command)


def _data_option(command):
    command.add_argument("--data", required=True, metavar="SOURCE",
                         help="digits (scikit-learn's 8×8 digits), FILE.npz (an array per "
                              "input) or FILE.csv (a header, a label column): one example a row")


def _dim_option(command, default):
    command.add_argument("--dim", action="append", default=[], metavar="NAME=SIZE",
                         help=f"size of a dimension {default}")


class _Version(argparse.Action):
    """--version, which reads the installed version only when asked (that takes a while)."""

    def __init__(self, option_strings, dest, help):
        super().__init__(option_strings, argparse.SUPPRESS, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from importlib.metadata import PackageNotFoundError, version
        try:
            found = version("derive")
        except PackageNotFoundError:
            found = "(not installed)"
        print(f"derive {found}")
        parser.exit()


def main(argv=None):
    """Run the command; its exit status (see the module's docstring)."""
    try:
        try:
            args = parser().parse_args(argv)
            return args.run(args) or 0
        finally:
            sys.stdout.flush()  # a closed pipe shows here, not at exit (after --help too)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return SIGPIPE_STATUS
    except ModelFileError as exc:
        return _fail(exc)  # file:line:col: message, the line, a caret
    except DeriveError as exc:
        return _fail(f"derive: error: {exc}")
    except OSError as exc:
        where = f": {quoted(exc.filename)}" if exc.filename else ""
        return _fail(f"derive: error: {exc.strerror or exc}{where}")
    except UnicodeEncodeError as exc:
        if exc.encoding != getattr(sys.stdout, "encoding", None):
            return _internal(exc)
        return _fail(f"derive: error: standard output's encoding, {exc.encoding}, cannot write "
                     f"the notation (δ, ⊙, Σ): set PYTHONIOENCODING=utf-8 or a UTF-8 locale")
    except MemoryError:
        return _fail("derive: error: out of memory: the model or its sizes are too large")
    except KeyboardInterrupt:
        return _fail("derive: interrupted", 130)
    except Exception as exc:
        return _internal(exc)


def _internal(exc):
    if os.environ.get("DERIVE_DEBUG"):
        traceback.print_exception(exc)
    message = str(exc).split("\n", 1)[0]
    return _fail(f"derive: internal error: {type(exc).__name__}: {message[:200]} — a bug in "
                 "derive; please report it with the command and the model file "
                 "(DERIVE_DEBUG=1 shows the traceback)", 1)


def _fail(message, status=2):
    print(message, file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
