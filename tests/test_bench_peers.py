"""The peer benchmark runs, checks every peer against the generated step before timing it,
and says which peers it skipped. torch and jax are optional: these tests pass without them."""

from functools import partial

import numpy as np
import pytest

from derive import bench_peers as bp

HEADER = "| workload | derive (ms) | autograd / derive | torch / derive | jax.jit / derive |"


def table_rows(out, header=HEADER):
    """The body rows of the markdown table under `header`."""
    lines = out.split(header)[1].strip().splitlines()
    return [line for line in lines[1:] if line.startswith("|")][:len(bp.WORKLOADS)]


def test_quick_run_has_a_row_per_workload_with_autograd_timed(capsys):
    results = bp.bench_peers(quick=True)
    out = capsys.readouterr().out
    assert "jax.jit / derive ≥ 1.0, autograd / derive ≥ 3" in out and "Skipped: " in out
    rows = table_rows(out)
    assert [row.split(" | ")[0] for row in rows] == [
        "| " + bp.describe(w, quick=True) for w in bp.WORKLOADS]
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert float(cells[1]) > 0 and float(cells[2]) > 0  # derive ms, autograd / derive
        for cell, peer in zip(cells[3:], bp.PEERS[1:]):  # a ratio, or how to install it
            assert cell == f"not installed ({peer.install})" or float(cell) > 0
    assert len(results) == len(bp.WORKLOADS)


def test_the_best_hand_written_step_is_checked_and_timed_beside_the_peers(capsys):
    """The hand-written numpy steps (the most numpy code can do) agree with derive's before
    they are timed, and their ms per step stand in the second table."""
    bp.bench_peers(quick=True, workloads=bp.WORKLOADS[2:4])
    header = "| workload | derive | hand-written | autograd | torch | jax.jit |"
    for row in table_rows(capsys.readouterr().out, header)[:2]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert float(cells[1]) > 0 and float(cells[2]) > 0


def missing(name):
    raise ImportError(f"No module named {name!r}")


def test_missing_peers_are_skipped_and_said_so(capsys, monkeypatch):
    peers = tuple(p if p.key == "autograd" else
                  bp.Peer(p.key, p.heading, p.install, lambda k=p.key: missing(k), p.runner)
                  for p in bp.PEERS)
    monkeypatch.setattr(bp, "PEERS", peers)
    bp.bench_peers(quick=True, workloads=bp.WORKLOADS[-1:])
    out = capsys.readouterr().out
    assert ("Skipped: torch (not installed: pip install torch), "
            "jax (not installed: pip install jax jaxlib).") in out
    row = table_rows(out)[0]
    assert row.endswith("| not installed (pip install torch) "
                        "| not installed (pip install jax jaxlib) |")


def runners(workload):
    """derive's and autograd's runners for `workload` at its quick sizes, same start."""
    sizes = workload.sizes(quick=True)
    mod = bp.generated_module(workload.build)
    start = mod.init_params(sizes, 0)
    inputs = workload.make_inputs(sizes, np.random.default_rng(1))
    peer = bp.autograd_runner(bp.load_autograd(), workload.losses["autograd"], start, inputs)
    return bp.derive_runner(mod, start, inputs), peer


def perturbed(runner, name, by):
    """`runner`, but each step then nudges parameter `name` by `by` times its own size."""
    def step(lr):
        loss = runner.step(lr)
        runner.read()[name][0, 0] *= 1.0 + by
        return loss
    return bp.Runner(step, runner.reset, runner.read)


@pytest.mark.parametrize("workload", [bp.WORKLOADS[0], bp.WORKLOADS[3]], ids=["mlp", "lstm"])
def test_check_catches_a_peer_whose_update_is_off(workload):
    reference, peer = runners(workload)
    bp.check_peer("here", "autograd", reference, peer)  # the real peer passes
    name = next(iter(reference.read()))
    with pytest.raises(AssertionError, match=f"autograd on here: updated parameter {name} "):
        bp.check_peer("here", "autograd", reference, perturbed(peer, name, 1e-7))


def test_check_catches_a_peer_with_the_wrong_math():
    """A peer whose output layer is tanh instead of sigmoid differs already in its loss."""
    workload = bp.WORKLOADS[0]
    wrong = bp.same_loss(partial(bp.dense_loss, ("sigmoid", "tanh")))
    reference, _ = runners(workload)
    _, peer = runners(bp.Workload(workload.name, workload.build, workload.dims,
                                  workload.quick_dims, workload.make_inputs, wrong))
    with pytest.raises(AssertionError, match=r"autograd on seed mlp D=4 .*: loss "):
        bp.check_peer(bp.describe(workload, quick=True), "autograd", reference, peer)
