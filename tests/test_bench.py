"""The benchmark runs, and first proves the generated and hand-written steps compute the same."""

import numpy as np
import pytest

from derive import bench, bench_hand, models
from derive.codegen import compile_numpy
from derive.derivation import derive

COLUMNS = "generated (ms) | hand-written (ms) | generated / hand | without input checks / hand"
LENET_HEADER = f"| N | {COLUMNS} | PyTorch (ms) | generated / PyTorch |"


def test_quick_benchmark_runs_and_checks_agreement(capsys):
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Allocator: ")
    assert f"| network | sizes | {COLUMNS} |" in out
    for workload in bench.FEED_FORWARD:  # every row, its step checked against the hand's
        sizes = " ".join(f"{k}={v}" for k, v in workload.dims.items())
        assert f"| {workload.name} | {sizes} | " in out
    assert "SGD step of the LSTM" in out and "Deriving and compiling the LSTM takes" in out
    for dims in bench.LSTM_SIZES:
        assert f"\n| {dims['H']} | {dims['D']} | {dims['K']} | {dims['N']} | {dims['T']} | " in out
    assert "SGD step of the transformer block" in out
    assert f"| H | D | K | N | T | {COLUMNS} |" in out
    assert f"| D | T | d_k | D_ff | {COLUMNS} |" in out
    assert "| 64 | 32 | 16 | 256 |" in out and "Deriving the transformer block takes" in out
    for table in ("feed-forward networks", "the LSTM", "the transformer block", "lenet"):
        heading = out.split(f"SGD step of {table}, ms per step, the fastest of 2 interleaved "
                            "rounds.")[1].split("\n")[0]
        assert heading.endswith(" Target: generated ≤ 1.0× the best hand-written.")
    assert "SGD step of lenet" in out and LENET_HEADER in out
    lenet = out.split(LENET_HEADER)[1]
    assert all(f"\n| {N} | " in lenet for N in bench.LENET_SIZES) and "Deriving lenet takes" in out


def test_peers_run_from_the_benchmark_command(capsys):
    assert bench.main(["--peers", "--quick"]) == 0
    out = capsys.readouterr().out
    assert "| workload | derive (ms) | autograd / derive | torch / derive | jax.jit / derive |" in out


def test_lenet_section_without_pytorch_says_how_to_install_it(capsys, monkeypatch):
    monkeypatch.setattr(bench, "_import_torch", lambda: None)
    bench.bench_lenet(rounds=1, sizes=(8,))
    row = capsys.readouterr().out.split(LENET_HEADER)[1].splitlines()[2]
    assert row.startswith("| 8 | ") and "| PyTorch not installed (pip install torch) |" in row
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


def test_the_twin_without_input_checks_takes_the_same_step_and_skips_only_the_checks(
        lenet_module):
    params, inputs = bench._lenet_problem(lenet_module)
    twin = bench.unchecked(lenet_module, params, inputs)
    checked, skipped = ({k: v.copy() for k, v in params.items()} for _ in range(2))
    assert twin.sgd_step(skipped, inputs, 0.1) == lenet_module.sgd_step(checked, inputs, 0.1)
    assert all(np.array_equal(skipped[k], checked[k]) for k in params)
    halved = {**inputs, "t": inputs["t"] / 2}  # columns that sum to 1/2
    with pytest.raises(ValueError, match="each sum to 1"):
        lenet_module.forward(params, halved)
    twin.forward(params, halved)  # its checks are answered in advance


def test_a_hand_written_step_that_differs_is_refused_before_it_is_timed(lenet_module):
    params, inputs = bench._lenet_problem(lenet_module, N=8)

    def forgets_b3(p, inputs, lr):
        b3 = p["b3"].copy()
        loss = bench_hand.hand_lenet_step(p, inputs, lr)
        p["b3"][...] = b3
        return loss

    def misreports_its_loss(p, inputs, lr):
        return 1.001 * bench_hand.hand_lenet_step(p, inputs, lr)

    for step, complaint in ((forgets_b3, "updated b3 differs between generated and mine"),
                            (misreports_its_loss, "losses differ: generated ")):
        with pytest.raises(AssertionError, match=f"lenet: {complaint}"):
            bench.check_same_step("lenet", lenet_module, params, inputs,
                                  {"mine": bench.updating(step, inputs)})
    bench.check_same_step("lenet", lenet_module, params, inputs,
                          {"mine": bench.updating(bench_hand.hand_lenet_step, inputs)})
