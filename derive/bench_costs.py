"""Costs besides a step's time: writing the module against depth, a command's start-up, and
the peak memory of a training step. Printed, never asserted (machines are noisy)."""

import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from functools import partial

from . import models
from .codegen import compile_numpy, to_numpy
from .derivation import derive


def bench_codegen(depths, repeats):
    """`to_numpy` of `deep_mlp(depth)` (the derivation already done): linear in depth means
    the time per layer stays put. Target: the deepest within 1.25× of linear (512 layers
    ≤ 5× the time of 128)."""
    to_numpy(derive(models.deep_mlp(1)))  # the namer's one-time probe of the templates
    rows = []
    for depth in depths:
        der = derive(models.deep_mlp(depth))
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            to_numpy(der)
            times.append(time.perf_counter() - start)
        rows.append((depth, min(times)))
    (first, first_s), (last, last_s) = rows[0], rows[-1]
    print(f"Writing the module of deep_mlp(depth) (to_numpy, min of {repeats}). Target: "
          f"{last} layers ≤ {1.25 * last / first:g}× the time of {first}.\n")
    print("| depth | to_numpy (s) | ms per layer |")
    print("|---:|---:|---:|")
    for depth, seconds in rows:
        print(f"| {depth} | {seconds:.3f} | {1e3 * seconds / depth:.2f} |")
    print(f"\n{last} layers take {last_s / first_s:.1f}× the time of {first}.\n")


def bench_startup(repeats):
    """Whole processes, min of `repeats`: `derive codegen lstm` the first time (its cache empty:
    deriving imports sympy and networkx, and the names the templates bind are read off two
    probe modules), as the first model after another (those names cached: every edit of a
    model file), and again (answered from `derive.cache`), against bare Python and the
    imports that bound them. Target: ≤ 0.4 s."""
    python = [sys.executable, "-c"]
    codegen = [sys.executable, "-m", "derive", "codegen"]
    commands = {"python -c pass": (python + ["pass"], None),
                "python -c 'import derive'": (python + ["import derive"], None),
                f"python -c '{_DERIVING_NEEDS}' (what deriving imports)":
                    (python + [_DERIVING_NEEDS], None),
                "python -c 'import derive; derive.load()' (the whole API)":
                    (python + ["import derive; derive.load()"], None),
                "derive codegen lstm, the first time": (codegen + ["lstm"], None),
                "derive codegen lstm, after derive codegen mlp": (codegen + ["lstm"],
                                                                  codegen + ["mlp"]),
                "derive codegen lstm, again (from its cache)": (codegen + ["lstm"],
                                                                codegen + ["lstm"])}
    print(f"Start-up, whole processes, s, min of {repeats}, every module compiled to bytecode "
          "ahead as `pip install` leaves it. Target: derive codegen lstm ≤ 0.4 s.\n")
    print("| command | s |")
    print("|---|---:|")
    with tempfile.TemporaryDirectory(prefix="derive-bench-bytecode-") as bytecode:
        installed = _as_installed(bytecode, codegen + ["lstm"])
        for name, (command, before) in commands.items():
            best = float("inf")
            for _ in range(repeats):
                with tempfile.TemporaryDirectory(prefix="derive-bench-cache-") as folder:
                    env = {**installed, "DERIVE_CACHE_DIR": folder}
                    if before:
                        subprocess.run(before, check=True, stdout=subprocess.DEVNULL, env=env)
                    start = time.perf_counter()
                    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
                    best = min(best, time.perf_counter() - start)
            print(f"| {name} | {best:.2f} |")
    print()


_DERIVING_NEEDS = "import sympy, networkx, numpy, jinja2"


def _as_installed(bytecode, command):
    """The environment of a process that finds every module compiled, as `pip install` leaves
    derive and its dependencies (where PYTHONDONTWRITEBYTECODE is set, as on some machines,
    each process would compile derive's source again): bytecode kept in the folder
    `bytecode`, written by one run of `command` first."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = bytecode
    with tempfile.TemporaryDirectory(prefix="derive-bench-cache-") as folder:
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL,
                       env={**env, "DERIVE_CACHE_DIR": folder})
    return env


def peak_bytes(step):
    """The most memory `step()` holds at once beyond what was held before it (tracemalloc,
    which numpy reports its arrays to)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        step()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def bench_memory(sizes, problem, hand, lr):
    """Peak memory of one LSTM training step, generated against `hand` (params, inputs, lr),
    on `problem(module, dims)`'s parameters and inputs. Target: ≤ 1.1×."""
    mod = compile_numpy(derive(models.lstm()))
    print("Peak memory of one SGD step of the LSTM (tracemalloc), MB. Target: generated "
          "≤ 1.1× hand-written.\n")
    print("| H | D | N | T | generated (MB) | hand-written (MB) | generated / hand |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for dims in sizes:
        params, inputs = problem(mod, dims)
        gen = peak_bytes(partial(mod.sgd_step, dict(params), inputs, lr))
        mine = peak_bytes(partial(hand, dict(params), inputs, lr))
        print(f"| {dims['H']} | {dims['D']} | {dims['N']} | {dims['T']} | {gen / 1e6:.2f} "
              f"| {mine / 1e6:.2f} | {gen / mine:.2f} |")
    print()
