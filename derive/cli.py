"""The `derive` command: equations, LaTeX, pictures, generated code and gradient checks.

MODEL is a model file (`net.bp`, see `derive.modelfile`) or a built-in model's name. Each
subcommand is one function of the parsed arguments plus one `_command` line in `parser()`;
one that makes a file prints it or, given `-o`, writes it through `derive.output`: never over a
file derive did not write (unless --force), never through a symbolic link, whole or not at all.

The command never shows a traceback. A mistake in its input is one message and exit status 2;
so is a file or pipe the system cannot read or write. Anything else is a bug in derive: one line
saying how to report it and exit status 1 (DERIVE_DEBUG=1 shows the traceback). A reader that
closes the pipe early (`derive equations mlp | head`) ends the command quietly, with the status
of a process killed by SIGPIPE (141), as `cat` would.

The commands that print text of the model alone (equations, explain, codegen, latex) keep it
in `derive.cache`; this module imports sympy and the rest only when a command needs them, so
one answered from the cache starts at once.
"""

import argparse
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from .cache import remembered
from .errors import DeriveError
from .modelfile_source import ModelFileError, read
from .optimizers import LEARNING_RATES
from .output import MARK, PDF_INFO, claim, marked, quoted, write

MODEL_SUFFIX = ".bp"
MAX_MODEL_BYTES = 10_000_000   # a 3000-layer model file is a few hundred KB
DEFAULT_SIZE = 3               # of a dimension that --dim and models.EXAMPLE_DIMS do not size
MAX_NUMBERS = 50_000_000       # float64 values of every node at the checked sizes: 400 MB
PDFLATEX_SECONDS = 60
# pdfTeX's default main memory (5,000,000 words) holds one `align` of about 200 KB of
# equations; a larger document fails with "TeX capacity exceeded", after a long wait.
MAX_TEX_BYTES = 150_000
SIGPIPE_STATUS = 128 + 13
HUGE = 10**18                  # no count the command takes is this large
EXAMPLE = """a model file, mlp.bp:
  input x[D, N], label[K, N]         # shapes of the inputs,
  param W1[H, D], b1[H, 1], W2[K, H] # then of the parameters
  z1  = W1 @ x + b1                  # one named node a line: @ + - * /, numbers,
  h   = sigmoid(z1)                  # sigmoid tanh relu softplus exp log identity,
  out = sigmoid(W2 @ h)              # scaled_tanh(z, a, b), phi(z) after phi(u) = ...
  loss = squared_error(out, label)   # or softmax_cross_entropy(z, t[, reduce="mean"])
"""


def derived(model, text=None):
    """The Derivation of MODEL (a model file's `text` may be read already), with the whole API
    loaded: the views that print it come with it."""
    import derive
    derive.load()
    return derive.derive(load_model(model, text))


def load_model(model, text=None):
    """The Graph of a `.bp` file (whose `text` may be read already) or of a built-in model's
    name."""
    from . import models
    from .modelfile import graph_name, loads
    if model.endswith(MODEL_SUFFIX):
        text = model_text(model) if text is None else text
        return loads(text, model, graph_name(Path(model).stem))
    if model in models.BUILTIN:
        return models.BUILTIN[model]()
    if os.path.exists(model):
        raise DeriveError(f"{quoted(model)} is not a model file: model files end in "
                          f"{MODEL_SUFFIX}")
    known = ", ".join(models.BUILTIN)
    raise DeriveError(f"unknown model {quoted(model)}; built-in models: {known}")


def model_text(model):
    """The text of the model file `model`, read whole after `_check_model_file`."""
    _check_model_file(model)
    return read(model)


def remembered_text(args, make):
    """`make(derivation)`, the text this command prints of MODEL, or the text it printed
    before for the same model (a model file by its text: `derive.cache`)."""
    text = model_text(args.model) if args.model.endswith(MODEL_SUFFIX) else None
    parts = [args.command, args.model, "builtin" if text is None else text]
    return remembered(parts, lambda: make(derived(args.model, text)))


def _check_model_file(path):
    """A DeriveError unless `path` is a regular file that can be read whole: a folder, a FIFO
    (which would block) or a device (which never ends) each get their own message."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        broken = " (a symbolic link to nothing)" if os.path.islink(path) else ""
        raise DeriveError(f"no model file {quoted(path)}{broken}") from None
    except OSError as exc:
        raise DeriveError(f"cannot read model file {quoted(path)}: {exc.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise DeriveError(f"{quoted(path)} is a folder, not a model file")
    if not stat.S_ISREG(info.st_mode):
        raise DeriveError(f"{quoted(path)} is not a regular file: a model file is a text file")
    if info.st_size > MAX_MODEL_BYTES:
        raise DeriveError(f"model file {quoted(path)} is {info.st_size:,} bytes; a model file "
                          f"is at most {MAX_MODEL_BYTES:,}")


def output_path(args, *suffixes):
    """The path of `-o`, or None for standard output: it ends in one of `suffixes` and may be
    written (`derive.output.claim`, checked before any work so a refusal comes at once)."""
    path = _suffixed(args.output, "-o", args.command, suffixes)
    if path is not None:
        claim(path, args.force)
    return path


def _suffixed(value, option, command, suffixes):
    """`value`, the file of `option`, as a Path ending in one of `suffixes` (None if the
    option is not given)."""
    if value is None:
        return None
    path = Path(value)
    if path.suffix not in suffixes:
        kinds = ", ".join(suffixes[:-1]) + " or " * (len(suffixes) > 1) + suffixes[-1]
        raise DeriveError(f"{option} {quoted(value)}: {command} writes a {kinds} file")
    return path


def emit(args, path, text):
    """Print `text`, or write it, marked as derive's, to `path`."""
    if path is None:
        print(text, end="")
    else:
        write(path, marked(text.encode("utf-8"), path.suffix), args.force)


def equations(args):
    print(remembered_text(args, lambda der: f"{der}\n"), end="")


def explain(args):
    if args.numbers:
        from . import worked
        print(worked.for_command(derived(args.model), args.values, args.seed,
                                 _given_dims(args.dim, "a worked example"), args.lr), end="")
        return
    stray = [option for option, value in (("--values", args.values), ("--seed", args.seed),
                                          ("--dim", args.dim), ("--lr", args.lr))
             if value not in (None, [])]
    if stray:
        raise DeriveError(f"{stray[0]} goes with --numbers (a worked example)")
    print(remembered_text(args, lambda der: der.explain()), end="")


def codegen(args):
    path = output_path(args, ".py")
    emit(args, path, remembered_text(args, _module_source))


def _module_source(der):
    from .codegen import to_numpy
    return to_numpy(der)


def check(args):
    from .gradcheck import gradcheck
    der = derived(args.model)
    sizes = _sizes(der, args.dim)
    print("sizes: " + " ".join(f"{name}={size}" for name, size in sizes.items()))
    if args.max_entries:
        print(f"entries: at most {args.max_entries} of each parameter, drawn by the seed")
    sys.stdout.flush()  # before the progress lines on standard error
    hint = "" if args.max_entries else "; --max-entries K checks fewer"
    report = gradcheck(der, sizes, seed=args.seed, max_entries=args.max_entries,
                       progress=Progress(sys.stderr, hint))
    print(report)
    return 0 if report.ok else 1


def _sizes(der, pairs):
    """The size of every dimension the check needs: given by --dim, else a small default."""
    from . import models
    from .gradcheck import needed_dims, number_count
    given = _given_dims(pairs, "a gradient check")
    needed = needed_dims(der)
    unknown = [name for name in given if name not in needed]
    if unknown:
        raise DeriveError(f"--dim {quoted(unknown[0])}: {der.graph.name} has no such "
                          f"dimension; its sizes are {' '.join(needed)}")
    sizes = {name: given.get(name, models.EXAMPLE_DIMS.get(name, DEFAULT_SIZE))
             for name in needed}
    numbers = number_count(der, sizes)
    if numbers > MAX_NUMBERS:
        raise DeriveError(f"at sizes {' '.join(f'{n}={s}' for n, s in sizes.items())} the "
                          f"values of {der.graph.name} are {numbers:,} numbers, more than a "
                          f"gradient check takes ({MAX_NUMBERS:,}): choose smaller --dim sizes")
    return sizes


def _given_dims(pairs, purpose):
    """{name: size} of the --dim NAME=SIZE options, each size at most what `purpose` takes."""
    given = {}
    for pair in pairs:
        name, _, digits = pair.partition("=")
        size = _decimal(digits)
        if not (name and size):
            raise DeriveError(f"--dim takes NAME=SIZE with a positive size, got {quoted(pair)}")
        if size > MAX_NUMBERS:
            raise DeriveError(f"--dim {quoted(pair)}: a size above {MAX_NUMBERS:,} is more than "
                              f"{purpose} takes")
        if name in given:
            raise DeriveError(f"--dim {quoted(name)} is given twice")
        given[name] = size
    return given


class Progress:
    """Tells how far a long check is, on `stream`: nothing for `delay` seconds, then a line
    (ending with `hint`) rewritten in place on a terminal, or a new one every 10 s in a log."""

    def __init__(self, stream, hint="", delay=2.0):
        self.stream, self.hint, self.terminal = stream, hint, stream.isatty()
        self.every = 0.5 if self.terminal else 10.0
        self.due, self.shown = time.monotonic() + delay, False

    def __call__(self, done, total):
        finished = done == total
        if time.monotonic() < self.due and not (finished and self.shown):
            return
        self.due, self.shown = time.monotonic() + self.every, True
        line = f"checked {done:,} of {total:,} entries ({done / total:.0%}){self.hint}"
        start, end = "\r" if self.terminal else "", "" if self.terminal and not finished else "\n"
        self.stream.write(f"{start}{line}{end}")
        self.stream.flush()


def latex(args):
    if args.pdf and args.output is None:
        raise DeriveError("--pdf needs -o FILE.tex: the PDF is written beside it")
    path = output_path(args, ".tex")
    pdf_path = path.with_suffix(".pdf") if args.pdf else None
    if pdf_path:
        claim(pdf_path, args.force)
    tex = remembered_text(args, lambda der: der.to_latex(standalone=True))
    pdf = compile_pdf(tex) if pdf_path else None  # a failure leaves both files as they were
    emit(args, path, tex)
    if pdf_path:
        write(pdf_path, pdf, args.force)


def compile_pdf(tex):
    """The PDF of the LaTeX document `tex`, marked as derive's (`PDF_INFO`): compiled in a
    scratch folder under a fixed job name, so neither the user's path nor any .aux or .log
    reaches anything, without shell escape and within PDFLATEX_SECONDS."""
    if shutil.which("pdflatex") is None:
        raise DeriveError("--pdf needs pdflatex: install a TeX distribution "
                          "(Debian: apt-get install texlive-latex-base)")
    size = len(tex.encode("utf-8"))
    if size > MAX_TEX_BYTES:
        raise DeriveError(f"the document is too large for TeX: {size:,} bytes of equations in "
                          f"one align, and pdflatex's memory holds about {MAX_TEX_BYTES:,}; "
                          "write the .tex without --pdf")
    with tempfile.TemporaryDirectory(prefix="derive-") as scratch:
        (Path(scratch) / "equations.tex").write_text(f"{PDF_INFO}\n{tex}", encoding="utf-8")
        try:
            run = subprocess.run(["pdflatex", "-no-shell-escape", "-interaction=nonstopmode",
                                  "-halt-on-error", "equations.tex"], cwd=scratch,
                                 stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                 encoding="utf-8", errors="replace", timeout=PDFLATEX_SECONDS)
        except subprocess.TimeoutExpired:
            raise DeriveError(f"pdflatex was stopped after {PDFLATEX_SECONDS} s: the document "
                              "is too large for TeX; write the .tex without --pdf") from None
        pdf = Path(scratch) / "equations.pdf"
        if run.returncode != 0 or not pdf.is_file():
            raise DeriveError(_tex_failure(run))
        return pdf.read_bytes()


def _tex_failure(run):
    """What went wrong, from pdflatex's output: its first error line."""
    error = next((line[1:].strip() for line in run.stdout.splitlines() if line.startswith("!")),
                 f"exit status {run.returncode}")
    if "TeX capacity exceeded" in error:
        return f"the document is too large for TeX ({error})"
    return f"pdflatex failed: {error[:200]}"


def draw_command(args):
    from .draw import draw
    path = output_path(args, *PICTURES)
    picture = draw(derived(args.model))
    if path is None:
        print(picture.dot, end="")
    else:
        kind = PICTURES[path.suffix]
        data = picture.render(kind) if kind else picture.dot.encode()
        write(path, marked(data, path.suffix), args.force)


PICTURES = {".svg": "svg", ".png": "png", ".dot": None}  # suffix -> Graphviz format


def train_command(args):
    from . import training
    path = _suffixed(args.output, "-o", args.command, (".npz",))
    plot = _suffixed(args.plot, "--plot", args.command, (".png",))
    force = path is not None and training.may_save(path, args.force)  # refused now, not after
    if plot is not None:
        claim(plot, args.force)
    result = training.fit(derived(args.model), args.data, epochs=args.epochs,
                 batch_size=args.batch, optimizer=args.optimizer, lr=args.lr, seed=args.seed,
                 val=args.val, dims=_given_dims(args.dim, "training"))
    if path is not None:
        training.save(path, result, force)
    if plot is not None:
        write(plot, marked(training.curves(result.history), ".png"), args.force)
    key, name = ("val_", "test") if args.val else ("", "train")  # held out, if any, last
    print(f"{name} loss {result.history[key + 'loss'][-1]:.4f}")
    if key + "accuracy" in result.history:
        print(f"{name} accuracy {result.history[key + 'accuracy'][-1]:.3f}")


def predict_command(args):
    from . import training
    from .codegen import compile_numpy
    path = output_path(args, ".csv")
    module = compile_numpy(derived(args.model))
    params, scaling = training.load(args.params, module)
    predicted = training.predict(module, params, args.data, scaling)
    rows = predicted.reshape(len(predicted), -1)
    text = "".join(",".join(map(str, row)) + "\n" for row in rows)
    if path is not None:  # a CSV file: derive's mark, then a header naming the columns
        name = "class" if predicted.dtype.kind in "iu" else module.LOSS["output"] or "output"
        columns = [name] if rows.shape[1] == 1 else [f"{name}_{i}" for i in range(rows.shape[1])]
        text = f"# {MARK}: predictions of {args.model}\n{','.join(columns)}\n{text}"
    emit(args, path, text)


def list_models(args):
    from . import models
    for name, build in models.BUILTIN.items():
        print(f"{name:20} {build.__doc__.splitlines()[0]}")


def _positive(text):
    return _integer(text, 1)


def _natural(text):
    return _integer(text, 0)


def _integer(text, least):
    """An argparse type: a decimal integer from `least` (0 or 1) to below 10^18."""
    value = _decimal(text)
    if value is None or not least <= value < HUGE:
        kind = "a positive" if least else "a non-negative"
        raise argparse.ArgumentTypeError(f"expected {kind} integer below 10^18, got "
                                         f"{quoted(text)}")
    return value


def _decimal(text):
    """`text` as a decimal integer (HUGE if it is at least that: Python takes long to read a
    number of thousands of digits), or None if it is not one."""
    if not (text.isascii() and text.isdigit()):
        return None
    return int(text) if len(text.lstrip("0")) < len(str(HUGE)) else HUGE


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
    except MemoryError:
        return _fail("derive: error: out of memory: the model or its sizes are too large")
    except KeyboardInterrupt:
        return _fail("derive: interrupted", 130)
    except Exception as exc:
        if os.environ.get("DERIVE_DEBUG"):
            traceback.print_exc()
        message = str(exc).split("\n", 1)[0]
        return _fail(f"derive: internal error: {type(exc).__name__}: {message[:200]} — a bug "
                     "in derive; please report it with the command and the model file "
                     "(DERIVE_DEBUG=1 shows the traceback)", 1)


def _fail(message, status=2):
    print(message, file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
