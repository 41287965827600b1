"""The `derive` command fed hostile and careless input, as an attacker and a new user would.

Every case runs the installed command in a sandbox (its own working folder, TMPDIR and HOME)
and asserts the exit status, the whole message on standard error, that there is no traceback,
that no temporary file is left behind, and that nothing outside the sandbox's working folder
changed: the folder `outside`, which symbolic links point into, is compared byte for byte.
"""

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import pytest

import derive as d
from derive import cli, commands
from derive.output import MARK, claim, is_derives, marked, write

ROOT = Path(__file__).resolve().parent.parent
INSTALLED = Path(sys.executable).with_name("derive")
COMMAND = [str(INSTALLED)] if INSTALLED.exists() else [sys.executable, "-m", "derive"]
needs_pdflatex = pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no pdflatex")

MLP = """\
input x[D, N], label[K, N]
param W1[H, D], b1[H, 1], W2[K, H]
z1 = W1 @ x + b1
h = sigmoid(z1)
loss = squared_error(sigmoid(W2 @ h), label)
"""
HEAD = "input x[D, N], label[K, N]\nparam W[K, D]\n"
USER_SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>\n'
USER_PNG = b"\x89PNG\r\n\x1a\n" + bytes(40)
REFUSED = "exists and derive did not write it; refusing to replace it (choose another name, or " \
          "--force to replace it)"
LINK = "is a symbolic link; derive never writes through one (--force replaces the link itself, " \
       "not what it points to)"
LONG = "a" * 100_000


class Folder:
    """Set-up: a folder."""


class Fifo:
    """Set-up: a named pipe (reading or writing it would block)."""


@dataclass
class Link:
    """Set-up: a symbolic link to `target` (relative to the working folder)."""
    target: str


@dataclass
class Sparse:
    """Set-up: a file of `size` zero bytes that takes no room on disk."""
    size: int


@dataclass
class Case:
    id: str
    argv: list
    status: int
    stderr: object = ""              # the exact text, or a compiled pattern it must match whole
    files: dict = field(default_factory=dict)    # set-up, in the working folder
    after: dict = field(default_factory=dict)    # name -> bytes it starts with, or None: absent
    stdout: str = None               # a line standard output must have
    marks: tuple = ()                # pytest marks


def error(text):
    return f"derive: error: {text}\n"


def model(text):
    """Set-up: `net.bp` with this text."""
    return {"net.bp": text}


def deep_model(layers):
    params = ", ".join(f"W{k}[H, H]" for k in range(2, layers + 1))
    lines = [f"h{k} = tanh(W{k} @ h{k - 1})" for k in range(2, layers + 1)]
    return "\n".join(["input x[H, N], label[H, N]", f"param W1[H, H], {params}",
                      "h1 = tanh(W1 @ x)", *lines, f"loss = squared_error(h{layers}, label)", ""])


CASES = [
    # -o never replaces what derive did not write, and never follows a link
    Case("codegen over the user's file", ["codegen", "mlp", "-o", "mine.py"], 2,
         error(f"'mine.py' {REFUSED}"), {"mine.py": "my code\n"}, {"mine.py": b"my code\n"}),
    Case("codegen over the user's file, forced", ["codegen", "mlp", "-o", "mine.py", "--force"], 0,
         files={"mine.py": "my code\n"}, after={"mine.py": b'"""mlp: '}),
    Case("codegen over its own file", ["codegen", "mlp", "-o", "m.py"], 0,
         files={"m.py": f'"""old: {MARK}.\n'}, after={"m.py": b'"""mlp: forward, backward'}),
    Case("draw over the user's SVG", ["draw", "mlp", "-o", "logo.svg"], 2,
         error(f"'logo.svg' {REFUSED}"), {"logo.svg": USER_SVG}, {"logo.svg": USER_SVG}),
    Case("draw over the user's PNG", ["draw", "mlp", "-o", "logo.png"], 2,
         error(f"'logo.png' {REFUSED}"), {"logo.png": USER_PNG}, {"logo.png": USER_PNG}),
    Case("draw over the user's DOT", ["draw", "mlp", "-o", "g.dot"], 2,
         error(f"'g.dot' {REFUSED}"), {"g.dot": "digraph g {}\n"}, {"g.dot": b"digraph g {}\n"}),
    Case("latex --pdf over the user's PDF", ["latex", "mlp", "-o", "F.tex", "--pdf"], 2,
         error(f"'F.pdf' {REFUSED}"), {"F.pdf": "%PDF-1.5 mine"},
         {"F.pdf": b"%PDF-1.5 mine", "F.tex": None}),
    Case("latex over the user's .tex", ["latex", "mlp", "-o", "F.tex"], 2,
         error(f"'F.tex' {REFUSED}"), {"F.tex": "\\documentclass{article}\n"},
         {"F.tex": b"\\documentclass"}),
    Case("latex --pdf onto a link to a text file", ["latex", "mlp", "-o", "F.tex", "--pdf"], 2,
         error(f"'F.pdf' {LINK}"), {"F.pdf": Link("../outside/notes.txt")}, {"F.tex": None}),
    Case("codegen onto a link", ["codegen", "mlp", "-o", "link.py"], 2, error(f"'link.py' {LINK}"),
         {"link.py": Link("../outside/notes.txt")}),
    Case("codegen onto a link, forced", ["codegen", "mlp", "-o", "link.py", "--force"], 0,
         files={"link.py": Link("../outside/notes.txt")}, after={"link.py": b'"""mlp: '}),
    Case("codegen onto a dangling link", ["codegen", "mlp", "-o", "gone.py"], 2,
         error(f"'gone.py' {LINK}"), {"gone.py": Link("../outside/new.py")}),
    Case("codegen onto a folder", ["codegen", "mlp", "-o", "code.py"], 2,
         error("'code.py' is a folder; give a file name, like 'code.py/equations.py'"),
         {"code.py": Folder()}),
    Case("codegen into a missing folder", ["codegen", "mlp", "-o", "nowhere/m.py"], 2,
         error("cannot write 'nowhere/m.py': there is no folder 'nowhere'")),
    Case("codegen onto a FIFO", ["codegen", "mlp", "-o", "pipe.py", "--force"], 2,
         error("'pipe.py' is not a regular file; derive does not replace it"),
         {"pipe.py": Fifo()}),
    Case("codegen to a name too long", ["codegen", "mlp", "-o", "n" * 300 + ".py"], 2,
         error(f"cannot write '{'n' * 40}…{'n' * 37}.py': File name too long")),
    Case("codegen to a .txt", ["codegen", "mlp", "-o", "out.txt"], 2,
         error("-o 'out.txt': codegen writes a .py file")),
    Case("codegen over its model file", ["codegen", "net.bp", "-o", "net.bp"], 2,
         error("-o 'net.bp': codegen writes a .py file"), model(MLP), {"net.bp": MLP.encode()}),
    Case("draw to a .jpg", ["draw", "mlp", "-o", "pic.jpg"], 2,
         error("-o 'pic.jpg': draw writes a .svg, .png or .dot file")),
    Case("latex --pdf without -o", ["latex", "mlp", "--pdf"], 2,
         error("--pdf needs -o FILE.tex: the PDF is written beside it")),
    Case("a TeX command in the -o path", ["latex", "mlp", "-o", "b\\relax.tex", "--pdf"], 0,
         after={"b\\relax.tex": b"% mlp: backpropagation", "b\\relax.pdf": b"%PDF"},
         marks=(needs_pdflatex,)),
    Case("a TeX comment in the -o path", ["latex", "mlp", "-o", "50%done.tex", "--pdf"], 0,
         after={"50%done.tex": b"% mlp", "50%done.pdf": b"%PDF"}, marks=(needs_pdflatex,)),
    Case("a document too large for TeX", ["latex", "net.bp", "-o", "deep.tex", "--pdf"], 2,
         re.compile(r"derive: error: the document is too large for TeX: [\d,]+ bytes of equations"
                    r" in one align, and pdflatex's memory holds about 150,000; write the \.tex "
                    r"without --pdf\n"),
         model(deep_model(600)), {"deep.tex": None, "deep.pdf": None}, marks=(needs_pdflatex,)),
    # model files that are not files
    Case("a model file that is a folder", ["equations", "d.bp"], 2,
         error("'d.bp' is a folder, not a model file"), {"d.bp": Folder()}),
    Case("a model file that is a FIFO", ["equations", "p.bp"], 2,
         error("'p.bp' is not a regular file: a model file is a text file"), {"p.bp": Fifo()}),
    Case("a model file that is a symlink loop", ["equations", "loop.bp"], 2,
         error("cannot read model file 'loop.bp': Too many levels of symbolic links"),
         {"loop.bp": Link("loop.bp")}),
    Case("a model file that is a dangling link", ["equations", "gone.bp"], 2,
         error("no model file 'gone.bp' (a symbolic link to nothing)"),
         {"gone.bp": Link("../outside/gone.bp")}),
    Case("a missing model file", ["equations", "missing.bp"], 2, error("no model file 'missing.bp'")),
    Case("a model file of 10 MB", ["equations", "huge.bp"], 2,
         error("model file 'huge.bp' is 10,000,001 bytes; a model file is at most 10,000,000"),
         {"huge.bp": Sparse(10_000_001)}),
    Case("a text file as the model", ["equations", "notes.txt"], 2,
         error("'notes.txt' is not a model file: model files end in .bp"), {"notes.txt": MLP}),
    Case("a model name of 100,000 characters", ["equations", LONG], 2,
         error(f"unknown model '{'a' * 40}…{'a' * 40}'; built-in models: mlp, "
               "softmax-classifier, deep-mlp, rnn, lstm, lstm-peephole, gru, lstm-stacked, "
               "layer-norm-mlp, attention, transformer-block, causal-transformer-block, lenet, "
               "digits-mlp")),
    Case("a node name of 100,000 characters", ["equations", "net.bp"], 2,
         f"net.bp:3:1: name '{'a' * 19}…' is 100000 characters long; names have at most 100\n"
         f"    {'a' * 100}…\n    ^\n",
         model(HEAD + f"{LONG} = W @ x\nloss = squared_error({LONG}, label)\n")),
    Case("a --dim name of 100,000 characters", ["check", "mlp", "--dim", f"{LONG}=3"], 2,
         error(f"--dim '{'a' * 40}…{'a' * 40}': mlp has no such dimension; its sizes are "
               "D H K N")),
    Case("terminal escapes in a model name", ["equations", "\x1b[2J\nmlp"], 2,
         error("unknown model '\\x1b[2J\\nmlp'; built-in models: mlp, softmax-classifier, "
               "deep-mlp, rnn, lstm, lstm-peephole, gru, lstm-stacked, layer-norm-mlp, attention, "
               "transformer-block, causal-transformer-block, lenet, digits-mlp")),
    Case("a model file name of 100,000 characters", ["equations", LONG + ".bp"], 2,
         error(f"cannot read model file '{'a' * 40}…{'a' * 37}.bp': File name too long")),
    # model files written to break out, or carelessly
    Case("an import in a model file", ["equations", "net.bp"], 2,
         "net.bp:3:22: unknown function '__import__'\n"
         "    loss = squared_error(__import__('os'), label)\n                         ^\n",
         model(HEAD + "loss = squared_error(__import__('os'), label)\n")),
    Case("a dunder in a model file", ["equations", "net.bp"], 2,
         "net.bp:3:6: attribute access ('.__class__') is not allowed in a model file\n"
         "    z = W.__class__\n         ^\n",
         model(HEAD + "z = W.__class__\nloss = squared_error(z, label)\n")),
    Case("a 401-digit number", ["equations", "net.bp"], 2,
         re.compile(r"net\.bp:3:9: number too large: a model file's numbers fit a float64 .*\n"
                    r"    z = 3 \* 9{80,}…\n {12}\^\n"),
         model(HEAD + f"z = 3 * {'9' * 401} * W @ x\nloss = squared_error(z, label)\n")),
    Case("a huge hex dimension", ["check", "net.bp"], 2,
         re.compile(r"net\.bp:1:9: dimension too large: its numbers are at most \d+\n"
                    r"    input x\[0xF{80,}…\n {12}\^\n"),
         model(f"input x[0x{'F' * 300}, N], label[K, N]\nparam W[K, D]\n"
               "loss = squared_error(W @ x, label)\n")),
    Case("an infinite user function", ["equations", "net.bp"], 2,
         "net.bp:3:17: the formula of phi is infinite or undefined (division by zero?)\n"
         "    phi(u) = u*(u-u)**-1\n                    ^\n",
         model(HEAD + "phi(u) = u*(u-u)**-1\nloss = squared_error(phi(W @ x), label)\n")),
    Case("reduce given twice", ["equations", "net.bp"], 2,
         "net.bp:3:51: squared_error is given reduce twice\n"
         '    loss = squared_error(W @ x, label, reduce="mean", reduce="sum")\n'
         + " " * 54 + "^\n",
         model(HEAD + 'loss = squared_error(W @ x, label, reduce="mean", reduce="sum")\n')),
    Case("a node nothing uses", ["equations", "net.bp"], 2,
         "net.bp:4:1: node 'q' does not affect the loss\n    q = sigmoid(z)\n    ^\n",
         model(HEAD + "z = W @ x\nq = sigmoid(z)\nloss = squared_error(z, label)\n")),
    Case("U+2028 in a comment", ["equations", "net.bp"], 2,
         re.compile(r"net\.bp:3:10: character U\+2028 \(LINE SEPARATOR\) is not allowed in a "
                    r"model file.*\n.*\n {13}\^\n"),
         model(HEAD + "# comment\u2028loss = squared_error(W @ x, label)\n"
               "loss = squared_error(W @ x, label)\n")),
    Case("a form feed", ["equations", "net.bp"], 2,
         re.compile(r"net\.bp:3:1: character U\+000C \(FORM FEED\) is not allowed .*\n.*\n    \^\n"),
         model(HEAD + "\fz = W @ x\nloss = squared_error(sigmod(z), label)\n")),
    Case("a 100 KB line", ["equations", "net.bp"], 2,
         re.compile(r"net\.bp:3:\d+: .*\n    .{1,120}\n +\^\n"),
         model(HEAD + "z = W @ x" + " + W @ x" * 12_500 + "\nloss = squared_error(z, label)\n")),
    Case("a recurrent state never given its next value", ["equations", "net.bp"], 2,
         "net.bp:3:7: state 'h' has no next value: give it with an equation 'h = …'\n"
         "    state h[H, N]\n          ^\n",
         model(HEAD + "state h[H, N]\nloss = squared_error(W @ x, label)\n")),
    Case("NUL bytes", ["equations", "net.bp"], 2,
         re.compile(r"net\.bp:3:10: character U\+0000 \(NULL\) is not allowed in a model file.*\n"
                    r".*\n {13}\^\n"),
         model(HEAD + "z = W @ x\0\nloss = squared_error(z, label)\n")),
    # check: sizes, seeds and entries
    Case("check infers a size for every dimension", ["check", "net.bp"], 0,
         files=model("input x[M, N], label[K, N]\nparam W[K, M]\n"
                     "loss = squared_error(W @ x, label)\n"), stdout="sizes: K=2 M=3 N=5"),
    Case("check prints the sizes of a recurrent net", ["check", "rnn", "--dim", "T=2"], 0,
         stdout="sizes: D=3 H=4 K=2 N=5 T=2"),
    Case("check samples entries", ["check", "lstm", "--max-entries", "2"], 0,
         stdout="entries: at most 2 of each parameter, drawn by the seed"),
    Case("check --seed -1", ["check", "mlp", "--seed", "-1"], 2,
         re.compile(r"usage: derive check .*\nderive check: error: argument --seed: expected a "
                    r"non-negative integer below 10\^18, got '-1'\n", re.S)),
    Case("check with a 401-digit seed", ["check", "mlp", "--seed", "9" * 401], 2,
         re.compile(r"usage: derive check .*\nderive check: error: argument --seed: expected a "
                    r"non-negative integer below 10\^18, got '9{40}…9{40}'\n", re.S)),
    Case("check --max-entries 0", ["check", "mlp", "--max-entries", "0"], 2,
         re.compile(r"usage: derive check .*\nderive check: error: argument --max-entries: "
                    r"expected a positive integer below 10\^18, got '0'\n", re.S)),
    Case("check --dim of an unknown dimension", ["check", "mlp", "--dim", "Q=3"], 2,
         error("--dim 'Q': mlp has no such dimension; its sizes are D H K N")),
    Case("check --dim T of a feedforward net", ["check", "mlp", "--dim", "T=3"], 2,
         error("--dim 'T': mlp has no such dimension; its sizes are D H K N")),
    *[Case(f"check --dim {pair}", ["check", "mlp", "--dim", pair], 2,
           error(f"--dim takes NAME=SIZE with a positive size, got '{pair}'"))
      for pair in ["H=0", "H=-1", "H=1.5", "H=0x10", "H=²", "H=", "=3", "H"]],
    Case("check --dim of 401 digits", ["check", "mlp", "--dim", "H=" + "9" * 401], 2,
         error(f"--dim 'H={'9' * 38}…{'9' * 40}': a size above 50,000,000 is more than a gradient "
               "check takes")),
    Case("check --dim too large for memory", ["check", "mlp", "--dim", "H=10000000"], 2,
         re.compile(r"derive: error: at sizes D=3 H=10000000 K=2 N=5 the values of mlp are "
                    r"[\d,]+ numbers, more than a gradient check takes \(50,000,000\): choose "
                    r"smaller --dim sizes\n")),
    Case("check --dim given twice", ["check", "mlp", "--dim", "H=2", "--dim", "H=3"], 2,
         error("--dim 'H' is given twice")),
    # the command line itself
    Case("no subcommand", [], 2,
         re.compile(r"usage: derive .*\nderive: error: the following arguments are required: "
                    r"command\n", re.S)),
    Case("an unknown option", ["equations", "mlp", "--frobnicate"], 2,
         re.compile(r"usage: derive .*\nderive: error: unrecognized arguments: --frobnicate\n",
                    re.S)),
    Case("--version", ["--version"], 0, stdout=f"derive {version('derive')}"),
    Case("explain", ["explain", "mlp"], 0,
         stdout="Backpropagation through mlp, from the loss E backwards."),
]


def snapshot(folder):
    """Every path under `folder` with its mode, modification time and bytes (or link target)."""
    def content(path):
        return os.readlink(path) if path.is_symlink() else \
            path.read_bytes() if path.is_file() else None

    return {str(p.relative_to(folder)): (p.lstat().st_mode, p.lstat().st_mtime_ns, content(p))
            for p in sorted(folder.rglob("*"))}


@pytest.fixture
def sandbox(tmp_path):
    """work/ (the working folder), outside/ (must not change), tmp/ (TMPDIR), home/ (HOME)."""
    for name in ("work", "outside", "tmp", "home"):
        (tmp_path / name).mkdir()
    (tmp_path / "outside" / "notes.txt").write_text("the user's notes\n")
    (tmp_path / "outside" / "logo.svg").write_bytes(USER_SVG)
    return tmp_path


def run(sandbox, argv, stdout=subprocess.PIPE):
    env = {**os.environ, "TMPDIR": str(sandbox / "tmp"), "HOME": str(sandbox / "home"),
           "COLUMNS": "100", "PYTHONPATH": os.pathsep.join(
               filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop("DERIVE_DEBUG", None)
    return subprocess.run([*COMMAND, *argv], cwd=sandbox / "work", env=env, stdout=stdout,
                          stderr=subprocess.PIPE, text=True, timeout=120)


def set_up(work, files):
    for name, content in files.items():
        path = work / name
        if isinstance(content, Folder):
            path.mkdir()
        elif isinstance(content, Fifo):
            os.mkfifo(path)
        elif isinstance(content, Link):
            path.symlink_to(content.target)
        elif isinstance(content, Sparse):
            with path.open("wb") as file:
                file.truncate(content.size)
        else:
            path.write_bytes(content if isinstance(content, bytes) else content.encode())


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_hostile_input(sandbox, case):
    set_up(sandbox / "work", case.files)
    outside = snapshot(sandbox / "outside")
    result = run(sandbox, case.argv)
    assert "Traceback" not in result.stderr
    assert result.returncode == case.status, result.stderr
    if isinstance(case.stderr, re.Pattern):
        assert case.stderr.fullmatch(result.stderr), result.stderr
    else:
        assert result.stderr == case.stderr
    if case.stdout is not None:
        assert case.stdout in result.stdout.splitlines()
    for name, start in case.after.items():
        path = sandbox / "work" / name
        if start is None:
            assert not path.exists(), name
        else:
            assert not path.is_symlink() and path.read_bytes().startswith(start), name
    assert snapshot(sandbox / "outside") == outside
    assert not list((sandbox / "tmp").iterdir())
    assert not list((sandbox / "work").glob(".derive-*"))


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 40


@needs_pdflatex
def test_derive_replaces_its_own_pdf_and_tex(sandbox):
    for _ in range(2):
        result = run(sandbox, ["latex", "mlp", "-o", "F.tex", "--pdf"])
        assert result.returncode == 0 and result.stderr == ""
    assert sorted(p.name for p in (sandbox / "work").iterdir()) == ["F.pdf", "F.tex"]
    with (sandbox / "work" / "F.pdf").open("rb") as pdf:
        assert is_derives(pdf, ".pdf")
    assert not list((sandbox / "tmp").iterdir())


@pytest.mark.parametrize("argv, status", [
    (["codegen", "lstm"], cli.SIGPIPE_STATUS), (["equations", "deep-mlp"], cli.SIGPIPE_STATUS),
    (["draw", "lstm"], cli.SIGPIPE_STATUS),
    (["--help"], 0)])  # argparse ignores a failure to write the help
def test_a_closed_pipe_ends_quietly(sandbox, argv, status):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with subprocess.Popen([*COMMAND, *argv], cwd=sandbox / "work", env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        process.stdout.close()  # before the command has started to write
        stderr = process.stderr.read()
    assert process.returncode == status
    assert stderr == b""


def test_a_full_disk_is_one_message(sandbox):
    with open("/dev/full", "w") as full:
        result = run(sandbox, ["equations", "mlp"], stdout=full)
    assert result.returncode == 2
    assert result.stderr == error("No space left on device")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_file_is_not_replaced(sandbox):
    secret = sandbox / "work" / "secret.py"
    secret.write_text("mine\n")
    secret.chmod(0)
    result = run(sandbox, ["codegen", "mlp", "-o", "secret.py"])
    assert result.returncode == 2
    assert result.stderr == error("'secret.py' exists and cannot be read to see whether derive "
                                  "wrote it (Permission denied); refusing to replace it "
                                  "(--force replaces it)")


def test_an_internal_error_is_one_line_and_says_how_to_report_it(monkeypatch, capsys):
    def broken(model, text):
        raise KeyError("ComplexInfinity")
    monkeypatch.setattr(commands, "load_model", broken)
    monkeypatch.setenv("DERIVE_CACHE_DIR", "")  # made now, not read from a run before
    monkeypatch.delenv("DERIVE_DEBUG", raising=False)
    assert cli.main(["equations", "mlp"]) == 1
    assert capsys.readouterr().err == (
        "derive: internal error: KeyError: 'ComplexInfinity' — a bug in derive; please report it "
        "with the command and the model file (DERIVE_DEBUG=1 shows the traceback)\n")
    monkeypatch.setenv("DERIVE_DEBUG", "1")
    assert cli.main(["equations", "mlp"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and "KeyError: 'ComplexInfinity'" in err


def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "m.py"
    target.write_text(f"# {MARK}\nold\n")

    def interrupted(source, destination):
        raise KeyboardInterrupt
    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write(target, b"new")
    assert target.read_text() == f"# {MARK}\nold\n"
    assert [p.name for p in tmp_path.iterdir()] == ["m.py"]


@pytest.mark.parametrize("suffix, data", [
    (".py", b'"""mlp: generated by derive.\n'), (".tex", b"\\documentclass{article}\n"),
    (".dot", b"digraph g {\n}\n"), (".svg", b'<?xml version="1.0"?>\n<svg/>\n'),
    (".png", USER_PNG)])
def test_every_kind_of_file_derive_writes_is_recognised_and_nothing_else(tmp_path, suffix, data):
    ours, theirs = tmp_path / f"ours{suffix}", tmp_path / f"theirs{suffix}"
    ours.write_bytes(marked(data, suffix))
    theirs.write_bytes(data if MARK.encode() not in data else b"x")
    claim(ours)
    with pytest.raises(d.DeriveError, match="derive did not write it"):
        claim(theirs)
    assert marked(marked(data, suffix), suffix) == marked(data, suffix)


def test_progress_lines(monkeypatch):
    class Log:
        text = ""

        def write(self, text):
            self.text += text

        def flush(self):
            pass

        def isatty(self):
            return False

    log = Log()
    progress = commands.Progress(log, hint="; --max-entries K checks fewer", delay=0)
    progress(1, 4)
    progress(2, 4)  # within 10 s of the last line: not shown
    progress(4, 4)  # the last is always shown once a line has been
    assert log.text == ("checked 1 of 4 entries (25%); --max-entries K checks fewer\n"
                        "checked 4 of 4 entries (100%); --max-entries K checks fewer\n")


# The Python API checks its arguments the same way.

MLP_SIZES = {"D": 3, "H": 4, "K": 2, "N": 5}


@pytest.mark.parametrize("dims, message", [
    ({"D": 3, "H": 4, "K": 2}, "dims has no size for dimension 'N': the check of mlp needs "
                               "D, H, K, N"),
    ({**MLP_SIZES, "H": 0}, "the size of dimension 'H' must be a positive integer, got 0"),
    ({**MLP_SIZES, "H": 2.5}, "the size of dimension 'H' must be a positive integer, got 2.5"),
    ({**MLP_SIZES, "H": -1}, "the size of dimension 'H' must be a positive integer, got -1"),
    ({**MLP_SIZES, "H": True}, "the size of dimension 'H' must be a positive integer, got True"),
    ([3, 4], "dims is a dict of dimension sizes, like {'H': 4}, not list"),
])
def test_gradcheck_refuses_bad_sizes(dims, message):
    with pytest.raises(d.DeriveError) as caught:
        d.gradcheck(d.derive(d.models.mlp()), dims)
    assert str(caught.value) == message


def test_gradcheck_needs_a_derivation_and_good_counts():
    with pytest.raises(d.DeriveError, match=r"^gradcheck takes a derivation, not a graph: call "
                                            r"gradcheck\(derive\(graph\), dims\)$"):
        d.gradcheck(d.models.mlp(), MLP_SIZES)
    der = d.derive(d.models.mlp())
    with pytest.raises(d.DeriveError, match="^seed must be a non-negative integer, got -1$"):
        d.gradcheck(der, MLP_SIZES, seed=-1)
    with pytest.raises(d.DeriveError, match="^max_entries must be a positive integer, got 0$"):
        d.gradcheck(der, MLP_SIZES, max_entries=0)
    with pytest.raises(d.DeriveError, match="^dims has no size for dimension 'T'"):
        d.gradcheck(d.derive(d.models.rnn()), MLP_SIZES)


def test_gradcheck_samples_entries_by_seed_and_reports_progress():
    der = d.derive(d.models.mlp())
    seen = []
    report = d.gradcheck(der, MLP_SIZES, max_entries=2, progress=lambda *p: seen.append(p))
    assert report.ok and list(report.errors) == ["W1", "b1", "W2", "b2"]
    assert seen == [(k, 8) for k in range(1, 9)]  # 2 entries of each of the 4 parameters
    again = d.gradcheck(der, MLP_SIZES, max_entries=2)
    assert again.errors == report.errors
    everything = []
    d.gradcheck(der, MLP_SIZES, progress=lambda *p: everything.append(p))
    assert everything[-1] == (12 + 4 + 8 + 2,) * 2
