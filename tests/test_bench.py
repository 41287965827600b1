"""The benchmark runs, and first proves the generated and hand-written steps compute the same."""

from derive import bench


def test_quick_benchmark_runs_and_checks_agreement(capsys):
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "| size | D | H | K | N | generated (ms) | hand-written (ms) | generated / hand |" in out
    assert "SGD step of the LSTM" in out and "Deriving the LSTM takes" in out
    assert "SGD step of the transformer block" in out
    assert "| D | T | d_k | D_ff | generated (ms) | hand-written (ms) | generated / hand |" in out
    assert "| 64 | 32 | 16 | 256 |" in out and "Deriving the transformer block takes" in out
    assert "generated transformer step ≤ 1.2× hand-written" in out
