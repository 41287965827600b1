"""The `derive` command, run as a user runs it."""

import subprocess
import sys

import pytest

import derive as d


def derive_command(*args):
    return subprocess.run([sys.executable, "-m", "derive", *args], capture_output=True,
                          text=True)


@pytest.mark.parametrize("model", list(d.models.BUILTIN))
def test_equations_codegen_and_check_for_every_builtin_model(model):
    equations = derive_command("equations", model)
    assert equations.returncode == 0, equations.stderr
    assert equations.stdout.splitlines() == str(d.derive(d.models.BUILTIN[model]())).splitlines()

    code = derive_command("codegen", model)
    assert code.returncode == 0
    compile(code.stdout, f"<{model}>", "exec")
    assert "def sgd_step(params, inputs, lr):" in code.stdout

    check = derive_command("check", model, "--dim", "H=3")
    assert check.returncode == 0, check.stdout
    assert check.stdout.rstrip().endswith("seed 0)")
    assert "all ok" in check.stdout


def test_models_lists_every_builtin_model():
    listed = [line.split()[0] for line in derive_command("models").stdout.splitlines()]
    assert listed == list(d.models.BUILTIN)


def test_unknown_model_and_bad_dimension_are_clear_errors():
    run = derive_command("equations", "lstmm")
    assert run.returncode == 2
    assert run.stderr.startswith("derive: error: unknown model 'lstmm'; built-in models: mlp, "
                                 "softmax-classifier, deep-mlp, rnn, lstm")
    run = derive_command("check", "mlp", "--dim", "H=zero")
    assert run.returncode == 2
    assert "--dim takes NAME=SIZE with a positive size, got 'H=zero'" in run.stderr
