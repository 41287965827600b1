"""LaTeX output, compiled by a real pdflatex, and the step-by-step explanations."""

import re
import shutil
import subprocess

import pytest

import derive as d
from test_oracle import every_function, fan_out

MODELS = {**{name: build for name, build in d.models.BUILTIN.items()},
          "fan_out": fan_out, "every_function": every_function}


def pdflatex(tex, folder):
    """Compile `tex`; return the log. Fails the test on any LaTeX error."""
    if shutil.which("pdflatex") is None:
        pytest.fail("pdflatex is missing: install texlive-latex-base (.ci/run does)")
    (folder / "doc.tex").write_text(tex)
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
                         cwd=folder, capture_output=True, text=True)
    log = (folder / "doc.log").read_text(errors="replace")
    assert run.returncode == 0, log[-3000:]
    assert (folder / "doc.pdf").stat().st_size > 0
    return log


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_compiles_without_errors_or_overfull_lines(name, tmp_path):
    der = d.derive(MODELS[name]())
    log = pdflatex(der.to_latex(standalone=True), tmp_path)
    assert "Overfull \\hbox" not in log


def test_an_explanation_as_latex_compiles(tmp_path):
    body = d.derive(fan_out()).explain(latex=True)
    pdflatex("\\documentclass{article}\\usepackage{amsmath,amssymb}\\begin{document}\n"
             + body + "\\end{document}\n", tmp_path)


def test_the_notation_of_the_method():
    tex = d.derive(d.models.mlp()).to_latex()
    assert tex.startswith("\\begin{align}\n") and tex.rstrip().endswith("\\end{align}")
    lines = tex.splitlines()
    assert "  h &= \\sigma\\left(z_{1}\\right) \\\\" in lines
    assert "  \\delta h &= W_{2}^\\top \\, \\delta z_{2} && \\text{rule 5 at } z_{2} \\\\" in lines
    assert ("  \\delta z_{2} &= \\delta \\mathrm{out} \\odot \\mathrm{out} \\odot "
            "(1 - \\mathrm{out}) && \\text{rule 4 at } \\mathrm{out} \\\\") in lines
    untagged = d.derive(d.models.mlp()).to_latex(tags=False)
    assert "\\text{rule" not in untagged


def test_shapes_are_listed_in_a_standalone_document():
    tex = d.derive(d.models.mlp()).to_latex(standalone=True)
    assert "h &\\in \\mathbb{R}^{H \\times N}" in tex
    assert tex.startswith("\\documentclass")


def test_notebooks_render_the_equations():
    latex = d.derive(d.models.mlp())._repr_latex_()
    assert latex.startswith("$$\\begin{aligned}") and latex.rstrip().endswith("\\end{aligned}$$")


def test_the_explanation_names_rule_and_consumer_of_every_term():
    text = d.derive(d.models.mlp()).explain()
    assert ("δh = W2ᵀ δz2\n  • W2ᵀ δz2: rule 5 (weight matrix) at (W2 @ h), inside z2 (δz2 "
            "carried there by rule 2 (adding))\n  h feeds one place, so rule 1 adds nothing.") in text
    fan = d.derive(fan_out()).explain()
    assert "h feeds 4 places, so rule 1 (splitting) adds their terms." in fan
    assert len(re.findall(r"^δ", fan, flags=re.M)) == len(d.derive(fan_out()).terms) - 0
