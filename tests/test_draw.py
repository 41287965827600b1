"""Pictures: forward edges and the δs flowing back, as SVG, PNG and DOT."""

import shutil

import pytest

import derive as d
from derive.draw import LEGIBLE


def test_the_picture_shows_nodes_forward_edges_and_deltas(tmp_path):
    der = d.derive(d.models.mlp())
    picture = d.draw(der)
    dot = picture.dot
    assert 'h [label="h\nsigmoid(z1)\nH×N"' in dot
    assert "W2 -> z2 [color=black]" in dot
    assert 'z2 -> h [label="δh ← W2ᵀ δz2\nrule 5 (weight matrix)"' in dot
    assert dot.count("style=dashed") == sum(len(t) for t in der.terms.values())


def test_a_compound_size_is_bracketed_as_the_equations_write_it():
    """lstm-stacked's W is 4H × (D + H): 'H×D + H' and '4*H' read as other sizes (a hunt)."""
    dot = d.draw(d.derive(d.models.lstm_stacked())).dot
    assert "\n4·H×(D + H)\"" in dot and "\n4·H×1\"" in dot and "*" not in dot


@pytest.mark.parametrize("suffix, magic", [(".svg", b"<?xml"), (".png", b"\x89PNG"),
                                           (".dot", b"digraph mlp")])
def test_saved_as_svg_png_or_dot(tmp_path, suffix, magic):
    if suffix != ".dot" and shutil.which("dot") is None:
        pytest.fail("Graphviz is missing: install the graphviz package (.ci/run does)")
    path = d.draw(d.models.mlp(), tmp_path / f"mlp{suffix}")
    assert path is None or True
    assert (tmp_path / f"mlp{suffix}").read_bytes().startswith(magic)


def test_a_file_of_another_kind_is_refused(tmp_path):
    with pytest.raises(d.DeriveError, match=r"mlp.pdf: a picture is saved as .svg, .png or .dot"):
        d.draw(d.models.mlp(), tmp_path / "mlp.pdf")


def test_a_large_graph_still_renders_without_delta_labels():
    picture = d.draw(d.models.deep_mlp(LEGIBLE))
    assert "δ labels left off to keep the picture legible" in picture.dot
    assert picture._repr_svg_().startswith("<?xml")


def test_missing_graphviz_says_what_to_install(monkeypatch):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(d.DeriveError, match="install the graphviz system package"):
        d.draw(d.models.mlp())._repr_svg_()
