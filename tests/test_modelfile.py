"""Model files (.bp) and the `derive` command on them, run as a user runs it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp

import derive as d
from derive import cli
from derive.cli import main
from derive.functions import sigmoid_f, softplus_f
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
a = phi(z) * tanh(z) - relu(z) / 2
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
    phi = d.elementwise("phi", lambda u: u**3 / 3 - 2 * sigmoid_f(u) + sp.sqrt(1 + sp.exp(u)))
    psi = d.elementwise("psi", lambda u: sp.sin(u) * sp.cos(u) + sp.log(1 + u**2) + sp.tanh(u)
                        + softplus_f(u))
    z = (W @ x + b).named("z")
    a = (phi(z) * d.tanh(z) - d.relu(z) / 2).named("a")
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
    assert [line.split()[0] for line in check.stdout.splitlines()[1:-1]] == ["W", "b", "V", "c"]
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
    monkeypatch.setattr("derive.cli.gradcheck", lambda der, dims, seed: failed)
    assert main(["check", "mlp.bp"]) == 1
    assert capsys.readouterr().out == f"{failed}\n"
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
     "derive: error: -o net.py: refusing to overwrite a file derive did not generate\n"),
    ("mlp.bp", SEED_MLP,                                       # the model itself
     "derive: error: -o mlp.bp: this command writes a .py file\n"),
    ("net.txt", None, "derive: error: -o net.txt: this command writes a .py file\n"),
    ("pkg.py", "a directory",
     "derive: error: -o pkg.py: refusing to overwrite a file derive did not generate\n"),
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
    "dimension as a value": ("y = W @ x + K", """\
broken.bp:3:13: 'K' is a dimension, not a node
    y = W @ x + K
                ^"""),
    # names given to nodes
    "name starting with a digit": ("2y = W @ x", """\
broken.bp:3:1: node name '2y' is not a valid name: use letters, digits and underscores, starting with a letter
    2y = W @ x
    ^"""),
    "non-ASCII name": ("ŷ = W @ x", """\
broken.bp:3:1: node name 'ŷ' is not a valid name: use letters, digits and underscores, starting with a letter
    ŷ = W @ x
    ^"""),
    "keyword as a name": ("lambda = W @ x", """\
broken.bp:3:1: node name 'lambda' is a Python keyword
    lambda = W @ x
    ^"""),
    "generated module's np": ("np = W @ x", """\
broken.bp:3:1: node name 'np' is reserved by the generated module
    np = W @ x
    ^"""),
    "generated module's params": ("params = W @ x", """\
broken.bp:3:1: node name 'params' is reserved by the generated module
    params = W @ x
    ^"""),
    "a δ variable's name": ("delta_y = W @ x", """\
broken.bp:3:1: node name 'delta_y' starts with 'delta_', which is kept for δ variables
    delta_y = W @ x
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
    "dimension expression": ("input y[D, N-1]", """\
broken.bp:3:12: dimension 'N-1' must be a name or a positive integer
    input y[D, N-1]
               ^"""),
    "no shape": ("input y", """\
broken.bp:3:7: expected a name with its shape, like input x[D, N]
    input y
          ^"""),
    "reserved dimension": ("param V[K, params]", """\
broken.bp:3:12: dimension name 'params' is reserved by the generated module
    param V[K, params]
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
broken.bp:3:22: argument 1 of squared_error(out, label[, reduce="mean"]) must be a node
    loss = squared_error(1, t)
                         ^"""),
    "node for a number": ("y = scaled_tanh(W @ x, b, 1)", """\
broken.bp:3:24: argument 2 of scaled_tanh(z, a, b) must be a number
    y = scaled_tanh(W @ x, b, 1)
                           ^"""),
    "unknown keyword": ("loss = squared_error(sigmoid(W @ x), t, mean=True)", """\
broken.bp:3:41: squared_error has no keyword 'mean': squared_error(out, label[, reduce="mean"])
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
    "power of a node": ("y = (W @ x) ** 2", """\
broken.bp:3:13: '**' is only allowed in a function's formula, like phi(u) = u**2
    y = (W @ x) ** 2
                ^"""),
    "floor division": ("y = W @ x // 2", """\
broken.bp:3:11: operator '//' is not allowed in a model file
    y = W @ x // 2
              ^"""),
    "division by a node": ("y = 1 / x", """\
broken.bp:3:7: '/' divides by a number, not by a node
    y = 1 / x
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
broken.bp:3:5: subscripting is not allowed in a model file
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
    # recurrence does not exist yet
    "recurrence": ("y = sigmoid(W @ x + y[t-1])", """\
broken.bp:3:21: 'y[t-1]': declare 'y' first, as state y[rows, columns]
    y = sigmoid(W @ x + y[t-1])
                        ^"""),
    "recurrent equation": ("y[t] = sigmoid(W @ x)", """\
broken.bp:3:1: the left side names the node of step t, like h = …; h[t-1] is only read
    y[t] = sigmoid(W @ x)
    ^"""),
}


@pytest.mark.parametrize("body, error", BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_model_is_one_located_error_and_nothing_runs(body, error, tmp_path):
    (tmp_path / "broken.bp").write_text(HEADER + body + "\n")
    run = derive_command("codegen", "broken.bp", "-o", "net.py", cwd=tmp_path)
    assert (run.returncode, run.stdout, run.stderr) == (2, "", error + "\n")
    assert list(folder_contents(tmp_path)) == ["broken.bp"]  # no PWNED, no net.py


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


def test_a_line_too_deep_to_parse_is_an_error_not_a_crash():
    with pytest.raises(ModelFileError) as error:
        loads(HEADER + "y = " + " + ".join(["W @ x"] * 5000) + "\n" + LOSS, "deep.bp")
    assert (error.value.number, error.value.column) == (3, 1)
    assert error.value.message == "this line nests too deeply; split it into several equations"
