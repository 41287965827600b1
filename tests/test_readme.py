"""The README's pictures are what the current code draws, and its commands are the ones CI runs.

Regenerate the pictures with:
    python -c "import derive as d; d.draw(d.models.mlp(), 'notebooks/figures/mlp.svg');
               d.draw(d.models.lstm(), 'notebooks/figures/lstm.svg')"
    derive train digits-mlp --data digits --epochs 30 --seed 0 -o /tmp/params.npz \
        --plot notebooks/figures/training_curves.png
"""

import re
from pathlib import Path

import pytest

import derive as d

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def texts(svg):
    """The words of a Graphviz SVG (labels of nodes and edges), whatever the layout."""
    return sorted(re.findall(r"<text[^>]*>([^<]*)</text>", svg))


@pytest.mark.parametrize("model", ["mlp", "lstm"])
def test_the_readme_pictures_are_drawn_by_the_current_code(model):
    path = f"notebooks/figures/{model}.svg"
    assert f"]({path})" in README
    committed = (ROOT / path).read_text()
    assert texts(committed) == texts(d.draw(d.models.BUILTIN[model]())._repr_svg_())


def test_ci_runs_the_readme_test_command():
    command = 'python -m pip install -e ".[test]" && python -m pytest'
    assert f"\n{command}\n" in README
    assert (ROOT / ".ci" / "run").read_text().rstrip().endswith(command)


def test_the_quickstart_output_shown_is_the_current_output():
    shown = README.split("The first command prints:\n\n```\n", 1)[1].split("```", 1)[0]
    assert shown == str(d.derive(d.models.mlp())) + "\n"


def test_the_model_file_shown_is_the_one_the_tests_check():
    mgu = (ROOT / "tests" / "models" / "mgu.bp").read_text()
    shown = README.split("`tests/models/lstm_stacked.bp`):\n\n```\n", 1)[1].split("```", 1)[0]
    assert shown and shown in mgu


@pytest.mark.parametrize("section, model", [("Attention and layer normalization", "attention"),
                                            ("Convolution and pooling", "lenet")])
def test_the_model_file_and_equations_shown_in_a_section_are_current(section, model):
    """Its first code block is part of tests/models/MODEL.bp, its second the equations."""
    text = README.split(f"## {section}", 1)[1]
    shown, equations = [block.split("```", 1)[0] for block in text.split("```\n")[1:4:2]]
    assert shown and shown in (ROOT / "tests" / "models" / f"{model}.bp").read_text()
    assert equations == str(d.derive(getattr(d.models, model)())) + "\n"


def test_the_compact_layer_norm_lines_shown_are_current():
    shown = README.split("and the tests check in numbers that the two agree:\n\n  ```\n", 1)[1]
    shown = shown.split("  ```", 1)[0]
    lines = str(d.derive(d.models.layer_norm_mlp())).splitlines()
    assert shown and all(line[2:] in lines for line in shown.splitlines())


def test_the_generated_backward_shown_is_the_current_one():
    """The excerpt of the seed MLP's backward pass under "Generated code", lines in order."""
    shown = README.split("## Generated code", 1)[1].split("```python\n", 1)[1].split("```")[0]
    code = d.to_numpy(d.derive(d.models.mlp())).split("\ndef backward", 1)[1]
    lines = [line for line in shown.splitlines()[1:] if line.strip() != "..."]
    assert len(lines) > 10
    at = 0
    for line in lines:
        assert line + "\n" in code[at:], f"not in the current backward, in order: {line!r}"
        at = code.index(line + "\n", at) + len(line)


def figures(text):
    """{name: value} of lines or items like `test loss 0.0559` or `val_loss 0.0559`."""
    return {name: float(value) for name, value in re.findall(r"([a-z_ ]+?) (\d+\.\d+)", text)}


def test_the_training_run_and_curves_shown_are_the_current_ones(tmp_path, capsys):
    """The command shown, run now, prints the figures shown and draws the picture shown (its
    PNG carries the last epoch's figures). Another machine's BLAS may round differently over
    1,350 steps: figures agree to a thousandth, accuracy to one of the 359 held-out digits."""
    from PIL import Image
    from derive.cli import main

    command = "derive train digits-mlp --data digits --epochs 30 --seed 0 -o params.npz " \
              "--plot curves.png"
    assert f"\n{command}\n" in README
    shown = README.split("held-out split's figures (about 4 s on 2 cores):\n\n```\n", 1)[1]
    picture = "notebooks/figures/training_curves.png"
    assert f"]({picture})" in README
    args = command.split()[1:]
    args[args.index("params.npz")] = str(tmp_path / "params.npz")
    args[args.index("curves.png")] = str(tmp_path / "curves.png")
    assert main(args) == 0
    printed = capsys.readouterr().out
    drawn = [Image.open(path).info["Description"] for path in (ROOT / picture,
                                                                 tmp_path / "curves.png")]
    for now, before in [(printed, shown.split("```", 1)[0]), (drawn[1], drawn[0])]:
        now, before = figures(now), figures(before)
        assert now.keys() == before.keys() and now
        for name in now:
            assert abs(now[name] - before[name]) <= (1 / 359 if "accuracy" in name else 1e-3)
