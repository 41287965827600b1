"""Model files (.bp) and the `derive` command on them, run as a user runs it."""

import importlib
import os
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest
import sympy as sp

import derive as d
from derive import cli
from derive.cli import main

from derive.gradcheck import GradcheckReport
from derive.modelfile import ModelFileError, graph_name, load, loads

ROOT = Path(__file__).resolve().parent.parent


def derive_command(*args, cwd):
    """The command as a subprocess in `cwd`, importing this checkout's derive."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get(
        "PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "derive", *args], capture_output=True,
                          text=True, cwd=cwd, env=env)


def nodes(graph):
    return [(n.name, n.kind, n.shape) for n in graph.nodes]


def folder_contents(folder):
    return {p.name: p.read_text() if p.is_file() else "a directory" for p in folder.iterdir()}


# --- a model file is the graph the Python API builds ---------------------------------------

SEED_MLP = """\
input x[D, N], label[K, N]
param W1[H, D], b1[H, 1], W2[K, H]
z1  = W1 @ x + b1
h   = sigmoid(z1)
out = sigmoid(W2 @ h)
loss = squared_error(out, label)
"""


def seed_mlp_in_python():
    g = d.Graph("mlp")
    x, label = g.input("x", ("D", "N")), g.input("label", ("K", "N"))
    W1, b1 = g.param("W1", ("H", "D")), g.param("b1", ("H", 1))
    W2 = g.param("W2", ("K", "H"))
    z1 = (W1 @ x + b1).named("z1")
    h = d.sigmoid(z1).named("h")
    out = d.sigmoid(W2 @ h).named("out")
    g.loss(d.squared_error(out, label))
    return g


def test_the_seed_mlp_file_is_the_graph_the_python_api_builds(tmp_path):
    (tmp_path / "mlp.bp").write_text(SEED_MLP)
    graph, python = load(tmp_path / "mlp.bp"), seed_mlp_in_python()
    assert graph.name == "mlp"
    assert nodes(graph) == nodes(python)
    assert str(d.derive(graph)) == str(d.derive(python))


EVERY_OPERATION = """\
# every operator and function a model file can use, and user functions
input x[D, N], t[K, N]
param W[H, D], b[H, 1], V[K, H], c[K, 1]
phi(u) = u**3 / 3 - 2*sigmoid(u) + sqrt(1 + exp(u))
psi(u) = sin(u) * cos(u) + log(1 + u**2) + tanh(u) + softplus(u)

z = W @ x + b
a = phi(z) * tanh(z) - relu(z) / 2 + maximum(z, 0) - minimum(0.5, z)
s = softplus(-a) + 1 - exp(0.5 * a)
r = 3 - log(softplus(s)) + identity(s) + psi(+s)      # number - node, unary plus
y = scaled_tanh(V @ r, 1.7159, 2/3) + c - sigmoid(V @ r) * 2
loss = softmax_cross_entropy(y, t, reduce="mean")
"""


def every_operation_in_python():
    g = d.Graph("every_operation")
    x, t = g.input("x", ("D", "N")), g.input("t", ("K", "N"))
    W, b = g.param("W", ("H", "D")), g.param("b", ("H", 1))
    V, c = g.param("V", ("K", "H")), g.param("c", ("K", 1))
    phi = d.elementwise("phi", lambda u: u**3 / 3 - 2 * d.sigmoid.scalar(u) + sp.sqrt(1 + sp.exp(u)))
    psi = d.elementwise("psi", lambda u: sp.sin(u) * sp.cos(u) + sp.log(1 + u**2) + sp.tanh(u)
                        + d.softplus.scalar(u))
    z = (W @ x + b).named("z")
    a = (phi(z) * d.tanh(z) - d.relu(z) / 2 + d.maximum(z, 0) - d.minimum(0.5, z)).named("a")
    s = (d.softplus(-a) + 1 - d.exp(0.5 * a)).named("s")
    r = (3 - d.log(d.softplus(s)) + d.identity(s) + psi(s)).named("r")
    y = (d.scaled_tanh(V @ r, 1.7159, 2 / 3) + c - d.sigmoid(V @ r) * 2).named("y")
    g.loss(d.softmax_cross_entropy(y, t, reduce="mean"))
    return g


def test_every_operation_compiles_to_the_python_api_graph():
    graph, python = loads(EVERY_OPERATION, name="every_operation"), every_operation_in_python()
    assert nodes(graph) == nodes(python)
    assert str(d.derive(graph)) == str(d.derive(python))
    assert d.to_numpy(d.derive(graph)) == d.to_numpy(d.derive(python))


BUILTINS_AS_FILES = {
    "mlp": """\
input x[D, N], label[K, N]
param W1[H, D], b1[H, 1], W2[K, H], b2[K, 1]
z1  = W1 @ x + b1
h   = sigmoid(z1)
z2  = W2 @ h + b2
out = sigmoid(z2)
E   = squared_error(out, label)
loss = E
""",
    "softmax-classifier": """\
input x[D, N], t[K, N]
param W1[H, D], b1[H, 1], W2[K, H], b2[K, 1]
z1 = W1 @ x + b1
h  = tanh(z1)
z2 = W2 @ h + b2
E  = softmax_cross_entropy(z2, t)
loss = E
""",
    "deep-mlp": """\
input x[D, N], label[K, N]
param W1[H, D], b1[H, 1], W2[H, H], b2[H, 1], W3[H, H], b3[H, 1]
param W4[H, H], b4[H, 1], W5[K, H], b5[K, 1]
z1 = W1 @ x + b1
h1 = relu(z1)
z2 = W2 @ h1 + b2
h2 = relu(z2)
z3 = W3 @ h2 + b3
h3 = relu(z3)
z4 = W4 @ h3 + b4
h4 = relu(z4)
out = W5 @ h4 + b5
E = squared_error(out, label)
loss = E
""",
}


@pytest.mark.parametrize("model", list(BUILTINS_AS_FILES))
def test_builtin_models_written_as_files_give_the_same_equations_and_code(model, tmp_path):
    builtin = d.derive(d.models.BUILTIN[model]())
    path = tmp_path / f"{builtin.graph.name}.bp"
    path.write_text(BUILTINS_AS_FILES[model])
    equations = derive_command("equations", path.name, cwd=tmp_path)
    assert (equations.returncode, equations.stderr) == (0, "")
    assert equations.stdout == f"{builtin}\n"
    code = derive_command("codegen", path.name, cwd=tmp_path)
    assert code.stdout == d.to_numpy(builtin)


# --- the command on a model file ---------------------------------------------------------------

def test_equations_codegen_and_check_of_a_model_file(tmp_path):
    (tmp_path / "every_operation.bp").write_text(EVERY_OPERATION)
    der = d.derive(every_operation_in_python())

    equations = derive_command("equations", "every_operation.bp", cwd=tmp_path)
    assert (equations.returncode, equations.stdout) == (0, f"{der}\n")

    code = derive_command("codegen", "every_operation.bp", "-o", "net.py", cwd=tmp_path)
    assert (code.returncode, code.stdout, code.stderr) == (0, "", "")
    assert (tmp_path / "net.py").read_text() == d.to_numpy(der)

    check = derive_command("check", "every_operation.bp", "--dim", "H=3", "--seed", "1",
                           cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    rows = [line.split() for line in check.stdout.splitlines()]
    assert [row[0] for row in rows if row[-1] in ("yes", "NO")] == ["W", "b", "V", "c"]
    assert check.stdout.splitlines()[-1].startswith("all ok")


@pytest.mark.parametrize("model", list(d.models.BUILTIN))
def test_codegen_writes_every_builtin_model_to_a_file(model, tmp_path):
    run = derive_command("codegen", model, "-o", "net.py", cwd=tmp_path)
    assert (run.returncode, run.stderr) == (0, "")
    assert (tmp_path / "net.py").read_text() == d.to_numpy(d.derive(d.models.BUILTIN[model]()))


def test_check_exits_1_when_the_gradients_disagree(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mlp.bp").write_text(SEED_MLP)
    failed = GradcheckReport({"W1": 1e-9, "b1": 1e-9, "W2": 0.5}, 1e-6, 1e-3, 0)
    checking = importlib.import_module("derive.gradcheck")  # derive.gradcheck is the function
    monkeypatch.setattr(checking, "gradcheck", lambda der, dims, **options: failed)
    assert main(["check", "mlp.bp"]) == 1
    assert capsys.readouterr().out.endswith(f"\n{failed}\n")
    assert "W2       5.000e-01  NO" in str(failed)


def test_the_model_file_in_the_help_is_the_seed_mlp():
    example = cli.EXAMPLE.split("\n", 1)[1].replace("\n  ", "\n").removeprefix("  ")
    assert nodes(loads(example, name="mlp")) == nodes(seed_mlp_in_python())


@pytest.mark.parametrize("command", [[], ["equations"], ["codegen"], ["check"], ["models"]])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: derive {' '.join(command)}".rstrip())


GENERATED = d.to_numpy(d.derive(d.models.mlp()))


@pytest.mark.parametrize("output, existing, error", [
    ("net.py", None, None),                                    # a new file
    ("net.py", GENERATED, None),                               # derive's own earlier output
    ("net.py", "def train():\n    pass\n",                     # the user's own module
     "derive: error: 'net.py' exists and derive did not write it; refusing to replace it "
     "(choose another name, or --force to replace it)\n"),
    ("mlp.bp", SEED_MLP,                                       # the model itself
     "derive: error: -o 'mlp.bp': codegen writes a .py file\n"),
    ("net.txt", None, "derive: error: -o 'net.txt': codegen writes a .py file\n"),
    ("pkg.py", "a directory",
     "derive: error: 'pkg.py' is a folder; give a file name, like 'pkg.py/equations.py'\n"),
])
def test_o_writes_new_or_generated_py_files_and_refuses_all_else(
        output, existing, error, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mlp.bp").write_text(SEED_MLP)
    target = tmp_path / output
    if existing == "a directory":
        target.mkdir()
    elif existing is not None:
        target.write_text(existing)
    before = folder_contents(tmp_path)
    status = main(["codegen", "mlp.bp", "-o", output])
    if error is None:
        assert (status, capsys.readouterr().err) == (0, "")
        assert target.read_text() == d.to_numpy(d.derive(seed_mlp_in_python()))
    else:
        assert (status, capsys.readouterr().err) == (2, error)
        assert folder_contents(tmp_path) == before


@pytest.mark.parametrize("model, error", [
    ("nothing.bp", "derive: error: no model file 'nothing.bp'\n"),
    ("notes.txt", "derive: error: 'notes.txt' is not a model file: model files end in .bp\n"),
])
def test_a_model_is_a_bp_file_or_a_builtin_name(model, error, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text(SEED_MLP)
    assert main(["equations", model]) == 2
    assert capsys.readouterr().err == error


@pytest.mark.parametrize("stem, name", [
    ("mlp", "mlp"), ("deep-mlp", "deep_mlp"), ("my net", "my_net"), ("2layer", "model_2layer"),
    ("class", "model_class"), ("np", "np"), ("delta_x", "delta_x"), ("", "model_"),
])
def test_a_graph_is_named_after_its_file_as_a_valid_identifier(stem, name):
    assert graph_name(stem) == name


# --- broken model files: every mistake is located, nothing runs, nothing is written ----------

# Every broken model starts with these two lines, so its own lines are numbered from 3.
HEADER = """\
input x[D, N], t[K, N]
param W[K, D], b[K, 1]
"""
LOSS = "loss = squared_error(sigmoid(W @ x + b), t)"
TOO_LARGE = "number too large: a model file's numbers fit a float64 (at most about 1.8e308)"
NOT_EVEN_IN_A_COMMENT = "is not allowed in a model file, not even in a comment"
BREAKS_A_LINE = "some programs start a new line there, but model-file lines end at \\n only"

BROKEN = {
    # lines that are not model lines
    "syntax error": ("y = W @ x +* b", """\
broken.bp:3:12: syntax error: invalid syntax
    y = W @ x +* b
               ^"""),
    "unclosed bracket": ("y = sigmoid(W @ x", """\
broken.bp:3:12: syntax error: '(' was never closed
    y = sigmoid(W @ x
               ^"""),
    "python statement": ("import os", """\
broken.bp:3:1: expected 'name = expression', an 'input', 'param', 'sequence' or 'state' declaration, or a function 'phi(u) = formula'
    import os
    ^"""),
    "nothing after =": ("y =", """\
broken.bp:3:4: expected an expression
    y =
       ^"""),
    # unknown and misused names
    "misspelt function": ("y = sigmod(W @ x + b)", """\
broken.bp:3:5: unknown function 'sigmod'; did you mean 'sigmoid'?
    y = sigmod(W @ x + b)
        ^"""),
    "numpy's name for a function": ("y = max(W @ x, b)", """\
broken.bp:3:5: unknown function 'max'; did you mean 'maximum'?
    y = max(W @ x, b)
        ^"""),
    "misspelt node": ("y = sigmoid(W @ x + b1)", """\
broken.bp:3:21: unknown name 'b1'; did you mean 'b'?
    y = sigmoid(W @ x + b1)
                        ^"""),
    "function as a value": ("y = W @ tanh", """\
broken.bp:3:9: 'tanh' is a function; call it as tanh(z)
    y = W @ tanh
            ^"""),
    "node as a function": ("y = W(x)", """\
broken.bp:3:5: 'W' is a parameter, not a function
    y = W(x)
        ^"""),
    "dimension where a node belongs": ("y = W @ K", """\
broken.bp:3:7: '@' multiplies two nodes; scale by a number with '*'
    y = W @ K
          ^"""),
    # names given to nodes
    "name starting with a digit": ("2y = W @ x", """\
broken.bp:3:1: node name '2y' is not a valid name: use ASCII letters, digits and underscores, starting with a letter (or one underscore)
    2y = W @ x
    ^"""),
    "non-ASCII name": ("ŷ = W @ x", """\
broken.bp:3:1: node name 'ŷ' is not a valid name: use ASCII letters, digits and underscores, starting with a letter (or one underscore)
    ŷ = W @ x
    ^"""),
    "keyword as a name": ("lambda = W @ x", """\
broken.bp:3:1: node name 'lambda' is a Python keyword
    lambda = W @ x
    ^"""),
    "leading double underscore": ("__y = W @ x", """\
broken.bp:3:1: node name '__y' is not a valid name: use ASCII letters, digits and underscores, starting with a letter (or one underscore)
    __y = W @ x
    ^"""),
    "built-in function's name": ("exp = W @ x", """\
broken.bp:3:1: 'exp' is already the name of a built-in function
    exp = W @ x
    ^"""),
    "duplicate node": ("y = W @ x\ny = sigmoid(y)", """\
broken.bp:4:1: 'y' is already the name of a node on line 3
    y = sigmoid(y)
    ^"""),
    "node named like a dimension": ("K = W @ x", """\
broken.bp:3:1: 'K' is already the name of a dimension on line 1
    K = W @ x
    ^"""),
    "alias": ("y = x", """\
broken.bp:3:5: 'y = x' would give 'x' a second name; use 'x' itself, or identity(x)
    y = x
        ^"""),
    # declarations
    "zero dimension": ("input y[D, 0]", """\
broken.bp:3:12: dimension 0 must be a name or a positive integer
    input y[D, 0]
               ^"""),
    "one dimension": ("input y[D]", """\
broken.bp:3:9: the shape of 'y' needs two dimensions, y[rows, columns], not 1
    input y[D]
            ^"""),
    "dimension that may be 0": ("input y[D, N-1]", """\
broken.bp:3:12: dimension N - 1 can be 0 or less for some sizes of its dimensions (a difference, like H - 1), so no array is declared with it: shapes take sums and multiples of dimensions; where a layer shrinks a size (a convolution without padding), give the sizes as numbers
    input y[D, N-1]
               ^"""),
    "no shape": ("input y", """\
broken.bp:3:7: expected a name with its shape, like input x[D, N]
    input y
          ^"""),
    "dimension with a double underscore": ("param V[K, __D]", """\
broken.bp:3:12: dimension name '__D' is not a valid name: use ASCII letters, digits and underscores, starting with a letter (or one underscore)
    param V[K, __D]
               ^"""),
    "duplicate parameter": ("param V[K, K], W[D, K]", """\
broken.bp:3:16: 'W' is already the name of a parameter on line 2
    param V[K, K], W[D, K]
                   ^"""),
    "dimension named like a node": ("param V[K, x]", """\
broken.bp:3:12: 'x' is already the name of an input on line 1
    param V[K, x]
               ^"""),
    "declaration after equations": ("y = W @ x\nparam V[K, K]", """\
broken.bp:4:1: declare params before the equations (the first equation is on line 3)
    param V[K, K]
    ^"""),
    # shapes
    "matmul shapes": ("y = x @ W", """\
broken.bp:3:7: matmul (x @ W): inner dimensions N and K differ: x is D×N, W is K×D
    y = x @ W
          ^"""),
    "sum shapes": ("y = W @ x + W", """\
broken.bp:3:11: add ((W @ x) + W): shapes do not broadcast: (W @ x) is K×N, W is K×D
    y = W @ x + W
              ^"""),
    "loss operand shapes": ("loss = squared_error(W @ x, x)", """\
broken.bp:3:8: squared_error((W @ x), x): operands must have the same shape: (W @ x) is K×N, x is D×N
    loss = squared_error(W @ x, x)
           ^"""),
    # the loss
    "missing loss": ("y = sigmoid(W @ x + b)  # the output", """\
broken.bp:3:23: the model has no loss; end it with a line like 'loss = squared_error(out, label)'
    y = sigmoid(W @ x + b)  # the output
                          ^"""),
    "a keyword as a name": ("y = lambda @ x", """\
broken.bp:3:5: 'lambda' is a Python keyword, which cannot be a name
    y = lambda @ x
        ^"""),
    "a line continued": ("y = W @ x \\", """\
broken.bp:3:11: syntax error: a line does not continue with \\; write each equation on one line
    y = W @ x \\
              ^"""),
    "loss by another name": ("cost = squared_error(W @ x + b, t)", """\
broken.bp:3:35: the model has no loss: the loss is the equation named loss, so call 'cost' loss
    cost = squared_error(W @ x + b, t)
                                      ^"""),
    "matrix loss": ("loss = W @ x + b", """\
broken.bp:3:8: loss ((W @ x) + b) must be a scalar (1×1), but its shape is K×N
    loss = W @ x + b
           ^"""),
    "number loss": ("loss = 1", """\
broken.bp:3:8: the right side is a number, not a node
    loss = 1
           ^"""),
    "line after the loss": (f"{LOSS}\ny = W @ x", """\
broken.bp:4:1: the loss (line 3) must be the last line of the model
    y = W @ x
    ^"""),
    "parameter the loss ignores": (f"param V[K, K]\n{LOSS}", """\
broken.bp:3:7: parameter 'V' does not affect the loss
    param V[K, K]
          ^"""),
    # calls
    "wrong arity": ("y = sigmoid(W @ x, b)", """\
broken.bp:3:5: sigmoid takes 1 argument, got 2: sigmoid(z)
    y = sigmoid(W @ x, b)
        ^"""),
    "number for a node": ("loss = squared_error(1, t)", """\
broken.bp:3:22: argument 1 of squared_error(out, label, reduce="sum") must be a node
    loss = squared_error(1, t)
                         ^"""),
    "numbers for every node": ("y = maximum(0, 1)", """\
broken.bp:3:5: maximum(a, b) takes a derive node among its arguments, got 0, 1
    y = maximum(0, 1)
        ^"""),
    "node for a number": ("y = scaled_tanh(W @ x, b, 1)", """\
broken.bp:3:24: argument 2 of scaled_tanh(z, a, b) must be a number
    y = scaled_tanh(W @ x, b, 1)
                           ^"""),
    "unknown keyword": ("loss = squared_error(sigmoid(W @ x), t, mean=True)", """\
broken.bp:3:41: squared_error has no keyword 'mean': squared_error(out, label, reduce="sum")
    loss = squared_error(sigmoid(W @ x), t, mean=True)
                                            ^"""),
    "unknown reduction": ('loss = squared_error(sigmoid(W @ x), t, reduce="max")', """\
broken.bp:3:48: reduce is "sum" or "mean"
    loss = squared_error(sigmoid(W @ x), t, reduce="max")
                                                   ^"""),
    "reduce of a function": ('y = sigmoid(W @ x, reduce="mean")', """\
broken.bp:3:20: sigmoid has no keyword 'reduce': sigmoid(z)
    y = sigmoid(W @ x, reduce="mean")
                       ^"""),
    "string constant": ("y = sigmoid('W @ x')", """\
broken.bp:3:13: text is only allowed as reduce="sum" or reduce="mean"
    y = sigmoid('W @ x')
                ^"""),
    "boolean constant": ("y = True * x", """\
broken.bp:3:5: 'True' is not a finite real number
    y = True * x
        ^"""),
    # operators
    "power of a node by a node": ("y = x ** x", """\
broken.bp:3:7: x ** x: a node can be raised to a number only (a power of a node by a node, \
or of a number by a node, is not one of derive's operations)
    y = x ** x
          ^"""),
    "floor division": ("y = W @ x // 2", """\
broken.bp:3:11: operator '//' is not allowed in a model file
    y = W @ x // 2
              ^"""),
    "transpose of a number": ("y = (2).T", """\
broken.bp:3:8: '.T' transposes a node, not a number
    y = (2).T
           ^"""),
    "division by zero": ("y = x / (1 - 1)", """\
broken.bp:3:7: division by zero
    y = x / (1 - 1)
          ^"""),
    "matmul with a number": ("y = 2 @ x", """\
broken.bp:3:7: '@' multiplies two nodes; scale by a number with '*'
    y = 2 @ x
          ^"""),
    # user functions
    "stray name in a formula": ("phi(u) = u**2 + v", """\
broken.bp:3:17: unknown name 'v'; the formula's argument is 'u'
    phi(u) = u**2 + v
                    ^"""),
    "unknown function in a formula": ("phi(u) = sinh(u)", """\
broken.bp:3:10: unknown function 'sinh'; did you mean 'sin'?
    phi(u) = sinh(u)
             ^"""),
    "function of two arguments": ("phi(u, v) = u * v", """\
broken.bp:3:1: a function has one argument, like phi(u) = formula
    phi(u, v) = u * v
    ^"""),
    "redefined function": ("phi(u) = u\nphi(u) = 2*u", """\
broken.bp:4:1: 'phi' is already the name of a function on line 3
    phi(u) = 2*u
    ^"""),
    "redefined built-in function": ("tanh(u) = u", """\
broken.bp:3:1: 'tanh' is already the name of a built-in function
    tanh(u) = u
    ^"""),
    "power too large to compute": ("phi(u) = u + 9**9**9", """\
broken.bp:3:15: a number's exponent may be at most 100
    phi(u) = u + 9**9**9
                  ^"""),
    # code, which a model file never runs
    "import and call": ("y = __import__('os').system('touch PWNED')", """\
broken.bp:3:21: attribute access ('.system') is not allowed in a model file
    y = __import__('os').system('touch PWNED')
                        ^"""),
    "import": ("y = __import__('os')", """\
broken.bp:3:5: unknown function '__import__'
    y = __import__('os')
        ^"""),
    "dunder attribute": ("y = x.__class__", """\
broken.bp:3:6: attribute access ('.__class__') is not allowed in a model file
    y = x.__class__
         ^"""),
    "class hierarchy": ("y = ().__class__.__bases__", """\
broken.bp:3:17: attribute access ('.__bases__') is not allowed in a model file
    y = ().__class__.__bases__
                    ^"""),
    "lambda": ("y = (lambda: __import__('os').system('touch PWNED'))()", """\
broken.bp:3:6: lambda is not allowed in a model file
    y = (lambda: __import__('os').system('touch PWNED'))()
         ^"""),
    "comprehension": ("y = [__import__('os').system('touch PWNED') for s in x]", """\
broken.bp:3:5: a comprehension is not allowed in a model file
    y = [__import__('os').system('touch PWNED') for s in x]
        ^"""),
    "f-string": ("""y = f"{__import__('os').system('touch PWNED')}"\n""", """\
broken.bp:3:5: an f-string is not allowed in a model file
    y = f"{__import__('os').system('touch PWNED')}"
        ^"""),
    "subscript": ("y = globals()['W']", """\
broken.bp:3:5: '[…]' takes a block of rows, like z[0:H], or reads a state one step back, like h[t-1]
    y = globals()['W']
        ^"""),
    "walrus": ("y = (z := W @ x)", """\
broken.bp:3:6: ':=' is not allowed in a model file
    y = (z := W @ x)
         ^"""),
    "conditional": ("y = W @ x if x else b", """\
broken.bp:3:5: if/else is not allowed in a model file
    y = W @ x if x else b
        ^"""),
    "code in a declaration": ("input __import__('os')", """\
broken.bp:3:7: expected a name with its shape, like input x[D, N]
    input __import__('os')
          ^"""),
    # recurrence
    "recurrence": ("y = sigmoid(W @ x + y[t-1])", """\
broken.bp:3:21: 'y[t-1]': declare 'y' first, as state y[rows, columns]
    y = sigmoid(W @ x + y[t-1])
                        ^"""),
    "recurrent equation": ("y[t] = sigmoid(W @ x)", """\
broken.bp:3:1: the left side names the node of step t, like h = …; h[t-1] is only read
    y[t] = sigmoid(W @ x)
    ^"""),
    "state without next value": (f"state h[K, N]\ny = W @ x + h[t-1]\n{LOSS}", """\
broken.bp:3:7: state 'h' has no next value: give it with an equation 'h = …'
    state h[K, N]
          ^"""),
    # blocks of rows
    "split into fewer names": ("param V[2*K, D]\np, q, r = split(V @ x, 2)", """\
broken.bp:4:11: the right side gives 2 nodes, but the left side names 3
    p, q, r = split(V @ x, 2)
              ^"""),
    # what used to be silent or a traceback
    "duplicate keyword": (
        'loss = squared_error(sigmoid(W @ x), t, reduce="sum", reduce="mean")', """\
broken.bp:3:55: squared_error is given reduce twice
    loss = squared_error(sigmoid(W @ x), t, reduce="sum", reduce="mean")
                                                          ^"""),
    "unused node": (f"q = W @ x\n{LOSS}", """\
broken.bp:3:1: node 'q' does not affect the loss
    q = W @ x
    ^"""),
    "infinite formula": ("phi(u) = u*(u-u)**-1", """\
broken.bp:3:17: the formula of phi is infinite or undefined (division by zero?)
    phi(u) = u*(u-u)**-1
                    ^"""),
    "401-digit number": ("y = x * " + "1" * 401, f"""\
broken.bp:3:9: {TOO_LARGE}
    y = x * {"1" * 92}…
            ^"""),
    "a number that rounds to 0 (found by a hunt: u·1e-400 was u·0)": ("phi(u) = u * 1e-400", """\
broken.bp:3:14: number too small: it rounds to 0 in a float64 (whose smallest is about 5e-324); write 0 if 0 is meant
    phi(u) = u * 1e-400
                 ^"""),
    "100 KB line": ("y = W @ x" + " " * 100_000 + "+ q", f"""\
broken.bp:3:100012: unknown name 'q'
    …{" " * 97}+ q
    {" " * 100}^"""),
    "U+2028 in a comment": (f"y = W @ x + b  # the output\u2028{LOSS}", f"""\
broken.bp:3:28: character U+2028 (LINE SEPARATOR) {NOT_EVEN_IN_A_COMMENT}: {BREAKS_A_LINE}
    y = W @ x + b  # the output\ufffd{LOSS}
                               ^"""),
}


@pytest.mark.parametrize("body, error", BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_model_is_one_located_error_and_nothing_runs(body, error, tmp_path):
    (tmp_path / "broken.bp").write_text(HEADER + body + "\n")
    run = derive_command("codegen", "broken.bp", "-o", "net.py", cwd=tmp_path)
    assert (run.returncode, run.stdout, run.stderr) == (2, "", error + "\n")
    assert list(folder_contents(tmp_path)) == ["broken.bp"]  # no PWNED, no net.py


# The same check in process, for mistakes that need no subprocess to show it.
MORE_BROKEN = {
    # concat, split and blocks of rows
    "concat of one node": ("y = concat(x)", """\
broken.bp:3:5: concat takes two or more nodes: concat(a, b, …)
    y = concat(x)
        ^"""),
    "concat of a number": ("y = concat(x, 2)", """\
broken.bp:3:15: argument 2 of concat(a, b, …) must be a node
    y = concat(x, 2)
                  ^"""),
    "split named once": ("param V[2*K, D]\np = split(V @ x, 2)", """\
broken.bp:4:5: split gives 2 nodes; name them on the left, one name each: a, b, … = split(…)
    p = split(V @ x, 2)
        ^"""),
    "split used as a node": ("param V[2*K, D]\np = split(V @ x, 2) + x", """\
broken.bp:4:5: split gives 2 nodes; name them on the left, one name each: a, b, … = split(…)
    p = split(V @ x, 2) + x
        ^"""),
    "split unevenly": ("param V[2*K, D]\np, q = split(V @ x, 3)", """\
broken.bp:4:8: split((V @ x), 3): 2*K rows do not split into 3 equal blocks
    p, q = split(V @ x, 3)
           ^"""),
    "one node, two names": ("p, q = sigmoid(W @ x)", """\
broken.bp:3:8: the right side gives one node, but the left side names 2
    p, q = sigmoid(W @ x)
           ^"""),
    "a name twice on the left": ("param V[2*K, D]\np, p = split(V @ x, 2)", """\
broken.bp:4:4: 'p' is named twice on the left
    p, p = split(V @ x, 2)
       ^"""),
    "the loss among other names": ("param V[2*K, D]\nloss, p = split(V @ x, 2)", """\
broken.bp:4:1: the loss is named on a line of its own: loss = …
    loss, p = split(V @ x, 2)
    ^"""),
    "rows with a step": ("y = x[0:D:2]", """\
broken.bp:3:11: a block of rows has no step: z[start:stop]
    y = x[0:D:2]
              ^"""),
    "rows of a number": ("y = 2[0:D]", """\
broken.bp:3:5: rows are taken of a node, like z[0:H]
    y = 2[0:D]
        ^"""),
    "rows past the end": ("y = x[0:2*D]", """\
broken.bp:3:5: slice(x): rows 0:2*D are not inside the D rows of x
    y = x[0:2*D]
        ^"""),
    "a fullwidth name": ("y = ｘ * 2", """\
broken.bp:3:5: name 'ｘ' is not ASCII (Python would read it as 'x'): names are ASCII letters, digits and underscores
    y = ｘ * 2
        ^"""),
    "a power by a dimension": ("y = x ** (D + 1)", """\
broken.bp:3:7: x ** (D + 1): an exponent is a number; a power by a dimension (which the example count or a layer's size would change) is not one of derive's operations
    y = x ** (D + 1)
          ^"""),
    "rows that are none at D = 1": ("y = x[1:D]", """\
broken.bp:3:5: slice(x): rows 1:D of x hold no rows at some sizes (D − 1 can be 0 or less)
    y = x[1:D]
        ^"""),
    "a row bound below 0 at D = 1": ("y = x[D-2:D]", """\
broken.bp:3:7: row bound D - 2 can be below 0 for some sizes of its dimensions: a bound is a whole combination of dimensions that is 0 or more at every size, like H - 1 or 2*H
    y = x[D-2:D]
          ^"""),
    "misspelt dimension in rows": ("y = x[0:DD]", """\
broken.bp:3:9: unknown dimension 'DD'; did you mean 'D'?
    y = x[0:DD]
            ^"""),
    "node as a row bound": ("y = x[0:x]", """\
broken.bp:3:9: 'x' is an input, not a dimension
    y = x[0:x]
            ^"""),
    "index instead of rows": ("y = x[0]", """\
broken.bp:3:5: '[…]' takes a block of rows, like z[0:H], or reads a state one step back, like h[t-1]
    y = x[0]
        ^"""),
    # dimensions
    "fractional dimension": ("input y[D, 2.5]", """\
broken.bp:3:12: dimension '2.5' must be a whole number, a dimension name, or + - * of them, like 4*H or D + H
    input y[D, 2.5]
               ^"""),
    "divided dimension": ("input y[D, N/2]", """\
broken.bp:3:13: dimension 'N/2' must be a whole number, a dimension name, or + - * of them, like 4*H or D + H
    input y[D, N/2]
                ^"""),
    "401-digit dimension": ("input y[D, " + "9" * 401 + "]", f"""\
broken.bp:3:12: dimension too large: its numbers are at most 1000000000
    input y[D, {"9" * 89}…
               ^"""),
    "huge hex dimension": ("input y[D, 0x" + "f" * 400 + "]", f"""\
broken.bp:3:12: dimension too large: its numbers are at most 1000000000
    input y[D, 0x{"f" * 87}…
               ^"""),
    # numbers
    "huge hex number": ("y = x * 0x" + "f" * 400, f"""\
broken.bp:3:9: {TOO_LARGE}
    y = x * 0x{"f" * 90}…
            ^"""),
    "constant overflow": ("y = x * (1e308 * 1e308)", f"""\
broken.bp:3:16: {TOO_LARGE}
    y = x * (1e308 * 1e308)
                   ^"""),
    "complex formula": ("phi(u) = u + log(-1)", """\
broken.bp:3:14: the formula of phi is complex (the log or square root of a negative number?)
    phi(u) = u + log(-1)
                 ^"""),
    "formula overflow": ("phi(u) = u * exp(1000)", f"""\
broken.bp:3:14: {TOO_LARGE}
    phi(u) = u * exp(1000)
                 ^"""),
    "formula with a huge coefficient": ("phi(u) = u * 1e308 * 1e308", f"""\
broken.bp:3:20: {TOO_LARGE}
    phi(u) = u * 1e308 * 1e308
                       ^"""),
    # names and lines too long to quote
    "100,000-character name": ("y" * 100_000 + " = W @ x", f"""\
broken.bp:3:1: name '{"y" * 19}…' is 100000 characters long; names have at most 100
    {"y" * 100}…
    ^"""),
    "100,000-character reference": ("y = W @ " + "x" * 100_000, f"""\
broken.bp:3:9: name '{"x" * 19}…' is 100000 characters long; names have at most 100
    y = W @ {"x" * 92}…
            ^"""),
    "unused input": (f"input q[D, N]\n{LOSS}", """\
broken.bp:3:7: input 'q' does not affect the loss
    input q[D, N]
          ^"""),
    # characters that other programs see as line breaks or hide
    "form feed": (f"\f\n{LOSS}", f"""\
broken.bp:3:1: character U+000C (FORM FEED) {NOT_EVEN_IN_A_COMMENT}: {BREAKS_A_LINE}
    \ufffd
    ^"""),
    "NUL": ("y = W @ x\0", f"""\
broken.bp:3:10: character U+0000 (NULL) {NOT_EVEN_IN_A_COMMENT}: it does not show as what it is
    y = W @ x\ufffd
             ^"""),
    "bidi override": (f"y = W @ x  # \u202e\n{LOSS}", f"""\
broken.bp:3:14: character U+202E (RIGHT-TO-LEFT OVERRIDE) {NOT_EVEN_IN_A_COMMENT}: it changes the order in which the line is shown
    y = W @ x  # \ufffd
                 ^"""),
    # recurrence
    "state never read": ("state h[K, N]\nh = sigmoid(W @ x + b)\nloss = squared_error(h, t)", """\
broken.bp:3:7: state 'h' does not affect the loss: nothing on the way to it reads h[t-1]
    state h[K, N]
          ^"""),
    "state's next value of another shape": ("state h[K, N]\nh = (W @ x)[0:1]", """\
broken.bp:4:1: 'h' is 1×N here, but state 'h' is declared K×N on line 3
    h = (W @ x)[0:1]
    ^"""),
    "state renamed": ("state h[K, N]\nh = h[t-1]", """\
broken.bp:4:5: 'h = h[t-1]' would give 'h[t-1]' a second name; use 'h[t-1]' itself, or identity(h[t-1])
    h = h[t-1]
        ^"""),
    "derive's name of a state": ("state h[K, N]\ny = h_prev + W @ x", """\
broken.bp:4:5: 'h_prev' is the name derive gives to h[t-1]; a model file reads a state as h[t-1]
    y = h_prev + W @ x
        ^"""),
    "derive's name of an initial state": ("state h[K, N]\nh0 = W @ x", """\
broken.bp:4:1: 'h0' is the name derive gives to the initial value of state h
    h0 = W @ x
    ^"""),
    "state before its equation": ("state h[K, N]\ny = W @ x + h", """\
broken.bp:4:13: state 'h' has no value at step t before its equation 'h = …'; the step before is h[t-1]
    y = W @ x + h
                ^"""),
    "state without a sequence": (
        "state h[K, N]\nh = sigmoid(W @ x + h[t-1] + b)\nloss = squared_error(h, t)", """\
broken.bp:3:7: state 'h' steps through a sequence, but none is declared: declare the data that changes at each step as sequence x[rows, columns]
    state h[K, N]
          ^"""),
    "state two steps back": ("state h[K, N]\ny = h[t-2]", """\
broken.bp:4:5: a state is read one step back, as h[t-1]
    y = h[t-2]
        ^"""),
    "one step back of an input": ("y = x[t-1]", """\
broken.bp:3:5: 'x' is an input, not a state: only a declared state is read as x[t-1]
    y = x[t-1]
        ^"""),
    # a layer's sizes (found by a hunt: "dimension -1 must be a name or a positive integer")
    "negative padding": ("y = conv1d(x, W, signal=(1, D), kernel=3, padding=-1)", """\
broken.bp:3:51: padding must be 0 or more at every size of its dimensions, got -1
    y = conv1d(x, W, signal=(1, D), kernel=3, padding=-1)
                                                      ^"""),
    "a kernel below 0 at some sizes": ("y = conv1d(x, W, signal=(1, D), kernel=(1 - K))", """\
broken.bp:3:43: kernel must be 0 or more at every size of its dimensions, got 1 - K
    y = conv1d(x, W, signal=(1, D), kernel=(1 - K))
                                              ^"""),
}


@pytest.mark.parametrize("body, error", MORE_BROKEN.values(), ids=MORE_BROKEN.keys())
def test_more_broken_models_each_one_located_error(body, error):
    with pytest.raises(ModelFileError) as raised:
        loads(HEADER + body + "\n", "broken.bp")
    assert str(raised.value) == error


def test_names_the_generated_module_uses_itself_are_names_like_any_other():
    text = HEADER.replace("b[K, 1]", "b[K, 1], params[K, 1]") + (
        "np = W @ x + b\ndelta_y = np + params\nloss = squared_error(sigmoid(delta_y), t)\n")
    compile(d.to_numpy(d.derive(loads(text, name="names"))), "names.py", "exec")


def test_the_caret_keeps_the_tabs_of_the_line():
    with pytest.raises(ModelFileError) as error:
        loads(HEADER + "y\t= x @ W\n", "tabs.bp")
    assert str(error.value).splitlines()[1:] == ["    y\t= x @ W", "     \t    ^"]
    assert (error.value.number, error.value.column) == (3, 7)


def test_a_model_file_error_is_a_derive_error_with_its_location():
    with pytest.raises(d.DeriveError) as error:
        loads(HEADER + "y = sigmod(W @ x)\n", "net.bp")
    assert isinstance(error.value, ModelFileError)
    assert (error.value.filename, error.value.number, error.value.column) == ("net.bp", 3, 5)
    assert error.value.message == "unknown function 'sigmod'; did you mean 'sigmoid'?"


def test_an_empty_file_has_no_loss():
    with pytest.raises(ModelFileError) as error:
        loads("# nothing yet\n", "empty.bp")
    assert str(error.value) == ("empty.bp:1:1: the model has no loss; end it with a line like "
                                "'loss = squared_error(out, label)'\n    # nothing yet\n    ^")


@pytest.mark.parametrize("deep", [" + ".join(["W @ x"] * 5000), "-" * 10000 + "(W @ x)",
                                  "(W @ x)" + " ** 1" * 3000])
def test_a_line_too_deep_to_parse_is_an_error_not_a_crash(deep):
    """Python's parser gives up on these with a MemoryError or a RecursionError (the first
    said 'out of memory: the model or its sizes are too large'; found by a hunt)."""
    with pytest.raises(ModelFileError) as error:
        loads(HEADER + "y = " + deep + "\n" + LOSS, "deep.bp")
    assert (error.value.number, error.value.column) == (3, 5)
    assert error.value.message == "this line nests too deeply; split it into several equations"


# --- model files say everything the Python API can -------------------------------------------

MODELS = ROOT / "tests" / "models"


def mgu_in_python():
    g = d.Graph("mgu")
    x, label = g.sequence("x", ("D", "N")), g.sequence("label", ("K", "N"))
    h_prev = g.state("h", ("H", "N"))
    D, H = d.dims("D H")
    W_f, b_f = g.param("W_f", (H, D + H)), g.param("b_f", (H, 1))
    W_h, b_h = g.param("W_h", (H, D + H)), g.param("b_h", (H, 1))
    W_y, b_y = g.param("W_y", ("K", H)), g.param("b_y", ("K", 1))
    f = d.sigmoid(W_f @ d.concat(x, h_prev) + b_f).named("f")
    h_hat = d.tanh(W_h @ d.concat(x, f * h_prev) + b_h).named("h_hat")
    h = ((1 - f) * h_prev + f * h_hat).named("h")
    y = (W_y @ h + b_y).named("y")
    g.loss(d.squared_error(y, label))
    return g


def lstm_slices_in_python():
    g = d.Graph("lstm_slices")
    D, H = d.dims("D H")
    x, label = g.sequence("x", (D, "N")), g.sequence("label", ("K", "N"))
    h_prev, c_prev = g.state("h", (H, "N")), g.state("c", (H, "N"))
    W, b = g.param("W", (4 * H, D + H)), g.param("b", (4 * H, 1))
    W_y, b_y = g.param("W_y", ("K", H)), g.param("b_y", ("K", 1))
    z = (W @ d.concat(x, h_prev) + b).named("z")
    i, f, o = (d.sigmoid(z[k * H:(k + 1) * H]).named(n) for k, n in enumerate("ifo"))
    gate = d.tanh(z[3 * H:]).named("g")
    c = (f * c_prev + i * gate).named("c")
    h = (o * d.tanh(c)).named("h")
    y = (W_y @ h + b_y).named("y")
    g.loss(d.squared_error(y, label, reduce="mean"))
    return g


@pytest.mark.parametrize("model, python", [("mgu", mgu_in_python),
                                           ("lstm_slices", lstm_slices_in_python),
                                           ("lstm_stacked", d.models.lstm_stacked)])
def test_recurrent_model_files_are_the_graphs_the_python_api_builds(model, python):
    graph, built = load(MODELS / f"{model}.bp"), python()
    assert graph.name == built.name == model
    assert str(d.derive(graph)) == str(d.derive(built))
    if model != "lstm_stacked":  # the built-in declares its output layer last
        assert nodes(graph) == nodes(built)


@pytest.mark.parametrize("model", ["mgu", "lstm_stacked", "lstm_slices"])
def test_check_and_codegen_of_recurrent_model_files(model, tmp_path):
    check = derive_command("check", str(MODELS / f"{model}.bp"), cwd=tmp_path)
    assert (check.returncode, check.stderr) == (0, ""), check.stdout
    assert check.stdout.splitlines()[-1].startswith("all ok")
    code = derive_command("codegen", str(MODELS / f"{model}.bp"), cwd=tmp_path)
    assert (code.returncode, code.stderr) == (0, "")
    compile(code.stdout, f"{model}.py", "exec")
    assert code.stdout == d.to_numpy(d.derive(load(MODELS / f"{model}.bp")))


RNN = """\
sequence x[D, N], t[K, N]
state h[H, N]
param W[H, D], U[H, H], b[H, 1], V[K, H]
h = tanh(W @ x + U @ h[t-1] + b)
loss = softmax_cross_entropy(V @ h, t)
"""


def rnn_in_python():
    g = d.Graph("rnn")
    x, t = g.sequence("x", ("D", "N")), g.sequence("t", ("K", "N"))
    h_prev = g.state("h", ("H", "N"))
    W, U, b = g.param("W", ("H", "D")), g.param("U", ("H", "H")), g.param("b", ("H", 1))
    V = g.param("V", ("K", "H"))
    h = d.tanh(W @ x + U @ h_prev + b).named("h")
    g.loss(d.softmax_cross_entropy(V @ h, t))
    return g


def test_h_t_minus_1_is_the_state_whatever_else_is_called_t():
    """A sequence t (a target) is a name of its own; a dimension t is refused, since it would
    read as the step's index (1/t where 1/N was meant: a hunt)."""
    graph = loads(RNN, "rnn.bp", "rnn")
    assert graph.states[0] in nx.ancestors(graph.dag(), graph["h"])
    assert str(d.derive(graph)) == str(d.derive(rnn_in_python()))
    sized = RNN.replace("N]", "t]").replace(", t[K, t]", ", y[K, t]").replace(", t)", ", y)")
    with pytest.raises(ModelFileError, match="'t' is a dimension here, but in a model with "
                                             "states t indexes the time steps: rename it"):
        loads(sized, "rnn.bp", "rnn")


def test_h_t_minus_1_is_the_state_when_a_node_is_called_t():
    text = RNN.replace("sequence x[D, N], t[K, N]", "sequence x[D, N], label[K, N]")
    text = text.replace("h = tanh(W @ x + U @ h[t-1] + b)",
                        "t = W @ x + b\nh = tanh(t + U @ h[t-1])").replace(", t)", ", label)")
    graph = loads(text, "rnn.bp", "rnn")
    assert graph["h"].inputs[0].inputs[1].inputs == (graph["U"], graph.states[0])


def test_the_rows_of_a_state_one_step_back():
    text = RNN.replace("U[H, H]", "U[H, H], A[H, 2*H]").replace("state h[H, N]",
                                                                 "state h[2*H, N]")
    text = text.replace("h = tanh(W @ x + U @ h[t-1] + b)",
                        "h = concat(tanh(W @ x + U @ h[t-1][0:H] + b), A @ h[t-1])")
    text = text.replace("V @ h", "V @ h[H:]")
    graph = loads(text, "rnn.bp", "rnn")
    rows = [n for n in graph.nodes if n.inputs == (graph.states[0],) and n.name is None]
    assert [(n.attrs["start"], n.attrs["stop"]) for n in rows] == [(0, d.dims("H")[0])]


def test_lines_end_at_newline_only_and_crlf_is_a_newline():
    crlf = (HEADER + "y = sigmod(W @ x)\n").replace("\n", "\r\n")
    with pytest.raises(ModelFileError) as error:
        loads(crlf, "crlf.bp")
    assert str(error.value).splitlines() == [
        "crlf.bp:3:5: unknown function 'sigmod'; did you mean 'sigmoid'?",
        "    y = sigmod(W @ x)", "        ^"]
    assert nodes(loads(SEED_MLP.replace("\n", "\r\n"), name="mlp")) == \
        nodes(seed_mlp_in_python())


@pytest.mark.parametrize("column, shown, caret", [
    (1, "a" * 100 + "…", "^"),                                  # near the start: cut after
    (150, "…" + "a" * 50 + "b" + "a" * 49 + "…", " " * 51 + "^"),  # in the middle: both sides
    (300, "…" + "a" * 99 + "b", " " * 100 + "^"),                 # near the end: cut before
])
def test_a_long_line_is_quoted_cut_around_the_caret(column, shown, caret):
    line = "a" * 300
    line = line[:column - 1] + "b" + line[column:] if column > 1 else line
    error = ModelFileError("long.bp", 1, column, "here", line)
    assert str(error).splitlines()[1:] == ["    " + shown, "    " + caret]


# --- reading a model file ---------------------------------------------------------------------

@pytest.mark.parametrize("make, reason", [
    (lambda path: path.mkdir(), "it is a folder, not a file"),
    (lambda path: os.mkfifo(path), "it is a FIFO (named pipe), not a file"),  # never blocks
    (lambda path: path.symlink_to(path.name), "its symbolic links lead round in a loop"),
    (lambda path: None, "no such file or directory"),
])
def test_a_path_that_is_not_a_readable_file_is_a_derive_error(make, reason, tmp_path):
    path = tmp_path / "net.bp"
    make(path)
    with pytest.raises(d.DeriveError) as error:
        load(path)
    assert str(error.value) == f"cannot read model file '{path}': {reason}"


def test_bytes_that_are_not_utf8_are_located(tmp_path):
    (tmp_path / "latin1.bp").write_bytes(HEADER.encode() + b"# caf\xe9\n" + LOSS.encode())
    run = derive_command("equations", "latin1.bp", cwd=tmp_path)
    assert (run.returncode, run.stdout) == (2, "")
    assert run.stderr == ("latin1.bp:3:6: byte 0xe9 is not UTF-8: a model file is UTF-8 text\n"
                          "    # caf\ufffd\n         ^\n")


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_line(tmp_path):
    (tmp_path / "mlp.bp").write_bytes(b"\xef\xbb\xbf" + SEED_MLP.encode())
    assert nodes(load(tmp_path / "mlp.bp")) == nodes(seed_mlp_in_python())
