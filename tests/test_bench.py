"""The benchmark runs, and first proves the generated and hand-written steps compute the same."""

import numpy as np
import pytest

from derive import bench, bench_hand, models
from derive.codegen import compile_numpy
from derive.derivation import derive

LENET_HEADER = ("| N | generated (ms) | hand-written (ms) | PyTorch (ms) | generated / hand "
                "| generated / PyTorch |")


def test_quick_benchmark_runs_and_checks_agreement(capsys):
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "| network | sizes | generated (ms) | hand-written (ms) | generated / hand |" in out
    for workload in bench.FEED_FORWARD:  # every row, its step checked against the hand's
        sizes = " ".join(f"{k}={v}" for k, v in workload.dims.items())
        assert f"| {workload.name} | {sizes} | " in out
    assert "SGD step of the LSTM" in out and "Deriving and compiling the LSTM takes" in out
    for dims in bench.LSTM_SIZES:
        assert f"\n| {dims['H']} | {dims['D']} | {dims['K']} | {dims['N']} | {dims['T']} | " in out
    assert "SGD step of the transformer block" in out
    assert "| D | T | d_k | D_ff | generated (ms) | hand-written (ms) | generated / hand |" in out
    assert "| 64 | 32 | 16 | 256 |" in out and "Deriving the transformer block takes" in out
    assert "interleaved repeats. Target: generated ≤ 1.2× hand-written." in \
        out.split("SGD step of the transformer block")[1]
    assert "SGD step of lenet" in out and LENET_HEADER in out
    assert "\n| 64 | " in out.split(LENET_HEADER)[1] and "Deriving lenet takes" in out
    assert "Target: generated ≤ 1.2× hand-written." in out.split("SGD step of lenet")[1]


def test_peers_run_from_the_benchmark_command(capsys):
    assert bench.main(["--peers", "--quick"]) == 0
    out = capsys.readouterr().out
    assert "| workload | derive (ms) | autograd / derive | torch / derive | jax.jit / derive |" in out


def test_lenet_section_without_pytorch_says_how_to_install_it(capsys, monkeypatch):
    monkeypatch.setattr(bench, "_import_torch", lambda: None)
    bench.bench_lenet(repeats=1, rounds=1)
    row = capsys.readouterr().out.split(LENET_HEADER)[1].splitlines()[2]
    assert row.startswith("| 64 | ") and "| PyTorch not installed (pip install torch) |" in row
    assert row.endswith("| – |")


@pytest.fixture(scope="module")
def lenet_module():
    return compile_numpy(derive(models.lenet()))


def test_hand_lenet_step_breaks_pooling_ties_like_the_generated_step(lenet_module):
    """Binary images and kernels in eighths make z1 exact, so 2×2 windows hold exact ties,
    many of them positive: δ must go to the first maximum in row-major order, as generated
    (and as PyTorch, when installed)."""
    params, inputs = bench._lenet_problem(lenet_module)
    rng = np.random.default_rng(3)
    params["K1"] = rng.integers(-4, 5, size=(4, 9)) / 8.0
    params["b1"] = rng.integers(0, 3, size=(4, 1)) / 8.0
    inputs["x"] = rng.integers(0, 2, size=(64, bench.LENET_N)).astype(float)
    x = np.vstack([inputs["x"], np.zeros((1, bench.LENET_N))])  # a zero row for the padding
    z1 = params["K1"] @ x[bench_hand._LENET_ROWS1].reshape(9, -1) + params["b1"]  # im2col
    h1 = np.maximum(z1, 0.0).reshape(4, 4, 2, 4, 2, -1)  # c, window row, row, window col, col, N
    windows = np.stack([h1[:, :, i, :, j] for i in range(2) for j in range(2)])
    tied = np.sum(windows == windows.max(axis=0), axis=0) > 1
    assert (tied & (windows.max(axis=0) > 0)).sum() > 100  # positive ties: δ flows to one
    bench.check_same_lenet_step(lenet_module, bench._import_torch(), problem=(params, inputs))
