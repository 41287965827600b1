"""The benchmark runs, and first proves the generated and hand-written steps compute the same."""

from derive import bench


def test_quick_benchmark_runs_and_checks_agreement(capsys):
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "| size | D | H | K | N | generated (ms) | hand-written (ms) | generated / hand |" in out
    assert "SGD step of the LSTM" in out and "Deriving the LSTM takes" in out
