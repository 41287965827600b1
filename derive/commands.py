"""What each subcommand of `derive` does, given its parsed arguments (`derive.cli` parses
them and turns every error into its message): load the model, answer from `derive.cache` where
the text is the model's alone, and print the result or write it through `derive.output`.

sympy and the rest are imported only when a command needs them, so one answered from the
cache starts at once.
"""

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from .cache import remembered
from .errors import DeriveError
from .modelfile_source import read
from .output import MARK, PDF_INFO, claim, marked, quoted, write

MODEL_SUFFIX = ".bp"
MAX_MODEL_BYTES = 10_000_000   # a 3000-layer model file is a few hundred KB
DEFAULT_SIZE = 3               # the least size of a dimension --dim and EXAMPLE_DIMS do not size
MAX_NUMBERS = 50_000_000       # float64 values of every node at the checked sizes: 400 MB
PDFLATEX_SECONDS = 60
# pdfTeX's default main memory (5,000,000 words) holds one `align` of about 200 KB of
# equations; a larger document fails with "TeX capacity exceeded", after a long wait.
MAX_TEX_BYTES = 150_000
HUGE = 10**18                  # no count the command takes is this large


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
    sizes = {name: given.get(name, models.EXAMPLE_DIMS.get(name)) for name in needed}
    # the others each a size of its own: two dimensions of one size hide a gradient that
    # reads one for the other
    for name in [n for n, size in sizes.items() if size is None]:
        size = DEFAULT_SIZE
        while size in sizes.values():
            size += 1
        sizes[name] = size
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
        size = decimal(digits)
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
        training.plotter()  # a missing extra is said before the run, not after it
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
    """Each built-in model and the first sentence of its docstring, wrapped under it."""
    from . import models
    width = max(map(len, models.BUILTIN)) + 2
    for name, build in models.BUILTIN.items():
        first = re.split(r"(?<=\.)\s", " ".join(build.__doc__.split()), maxsplit=1)[0]
        lines = textwrap.wrap(first, 96 - width) or [""]
        print(f"{name:{width}}{lines[0]}")
        for line in lines[1:]:
            print(" " * width + line)


def decimal(text):
    """`text` as a decimal integer (HUGE if it is at least that: Python takes long to read a
    number of thousands of digits), or None if it is not one."""
    if not (text.isascii() and text.isdigit()):
        return None
    return int(text) if len(text.lstrip("0")) < len(str(HUGE)) else HUGE
