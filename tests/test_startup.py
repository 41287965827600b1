"""Start-up: `import derive` alone imports nothing heavy, and a command run again answers from
its cache (`derive.cache`) without importing sympy — while what derive prints and registers
stays the same whichever way it was loaded."""

import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from derive import cache, codegen
from derive.codegen import reserved_names
from derive.cli import main

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("sympy", "networkx", "numpy", "jinja2")
MLP = """input x[D, N], label[K, N]
param W1[H, D], W2[K, H]
h = {f}(W1 @ x)
out = W2 @ h
loss = squared_error(out, label)
"""


def python(code, cache_dir="", path=ROOT):
    """Run `code` in a fresh Python with derive from `path`: (stdout, stderr), checked."""
    env = {**os.environ, "PYTHONPATH": str(path), "DERIVE_CACHE_DIR": str(cache_dir)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=True, timeout=300, cwd=path)  # `-c` reads cwd first
    return done.stdout, done.stderr


def command(args, cache_dir, path=ROOT):
    """A derive command in a fresh process: (its output, whether it imported sympy)."""
    out, err = python(f"import sys\nfrom derive.cli import main\nstatus = main({args!r})\n"
                      "print('sympy' in sys.modules, file=sys.stderr)\nsys.exit(status)",
                      cache_dir, path)
    return out, err.split()[-1] == "True"


def test_import_derive_imports_nothing_heavy():
    out, _ = python(f"import sys, derive\nprint([m for m in {HEAVY!r} if m in sys.modules])")
    assert out.strip() == "[]"


def test_a_command_run_again_answers_from_the_cache_without_sympy(tmp_path):
    first, imported_first = command(["codegen", "lstm"], tmp_path)
    again, imported_again = command(["codegen", "lstm"], tmp_path)
    uncached, _ = command(["codegen", "lstm"], "")
    assert imported_first and not imported_again
    assert first == again == uncached
    assert first.startswith('"""lstm: forward, backward')


def test_an_edited_template_is_not_answered_from_the_cache(tmp_path):
    copy = tmp_path / "checkout"
    for folder in ("derive", "templates"):
        shutil.copytree(ROOT / folder, copy / folder)
    before, _ = command(["codegen", "mlp"], tmp_path / "cache", copy)
    with open(copy / "templates" / "_module.py.j2", "a", encoding="utf-8") as template:
        template.write("# edited\n")
    after, imported = command(["codegen", "mlp"], tmp_path / "cache", copy)
    assert imported and after == before + "# edited\n"


def test_damaged_compiled_templates_are_compiled_again(tmp_path):
    first, _ = command(["codegen", "mlp"], tmp_path)
    compiled = list((tmp_path / "templates").iterdir())
    assert compiled
    for path in compiled:
        path.write_bytes(path.read_bytes()[:40])
    for entry in tmp_path.glob("*.txt"):
        entry.unlink()
    again, imported = command(["codegen", "mlp"], tmp_path)
    assert imported and again == first


@pytest.mark.parametrize("kind", ["fifo", "link to /dev/zero"])
def test_an_entry_that_is_not_a_file_is_made_again(tmp_path, kind):
    """A FIFO in place of an entry blocked the read for ever; a link to /dev/zero read until
    memory ran out (found by a hunt). Each is passed over and made again."""
    first, _ = command(["codegen", "mlp"], tmp_path)
    for path in [*tmp_path.glob("*.txt"), *(tmp_path / "templates").iterdir()]:
        path.unlink()
        os.mkfifo(path) if kind == "fifo" else path.symlink_to("/dev/zero")
    again, imported = command(["codegen", "mlp"], tmp_path)
    assert imported and again == first


def test_a_model_files_entry_follows_its_text(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DERIVE_CACHE_DIR", str(tmp_path / "cache"))
    reserved_names()  # the module's own names, if not known yet, take an entry of their own
    made_before = set((tmp_path / "cache").glob("*.txt"))
    printed = []
    for f in ("sigmoid", "tanh", "sigmoid"):
        (tmp_path / "net.bp").write_text(MLP.format(f=f))
        assert main(["equations", "net.bp"]) == 0
        printed.append(capsys.readouterr().out)
        assert f"h = {f}(" in printed[-1]
    monkeypatch.setenv("DERIVE_CACHE_DIR", "")
    assert main(["equations", "net.bp"]) == 0
    assert capsys.readouterr().out == printed[0] == printed[2] != printed[1]
    assert len(set((tmp_path / "cache").glob("*.txt")) - made_before) == 2


def test_the_names_the_templates_bind_are_read_off_the_probes_once(tmp_path, monkeypatch):
    monkeypatch.setenv("DERIVE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(codegen, "_probed_names", functools.lru_cache(codegen._probed_names.__wrapped__))
    probed = codegen.reserved_names()
    assert {"np", "forward", "backward", "shapes_checked", "sigmoid"} <= probed
    monkeypatch.setattr(codegen, "_probe_graphs", None)  # a process that would probe fails
    monkeypatch.setattr(codegen, "_probed_names", functools.lru_cache(codegen._probed_names.__wrapped__))
    assert codegen.reserved_names() == probed  # from the disk


def test_a_damaged_entry_is_made_again(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DERIVE_CACHE_DIR", str(tmp_path))
    assert main(["latex", "mlp"]) == 0
    whole = capsys.readouterr().out
    [entry] = tmp_path.glob("*.txt")
    entry.write_text(entry.read_text(encoding="utf-8")[:-100], encoding="utf-8")  # cut short
    assert main(["latex", "mlp"]) == 0
    assert capsys.readouterr().out == whole
    assert entry.read_text(encoding="utf-8").endswith(whole)


@pytest.mark.parametrize("where", ["", "a file"])
def test_with_the_cache_off_or_unwritable_the_command_still_answers(where, tmp_path,
                                                                   monkeypatch, capsys):
    blocked = tmp_path / "cache"
    blocked.write_text("not a folder")
    monkeypatch.setenv("DERIVE_CACHE_DIR", where and str(blocked))
    assert main(["explain", "mlp"]) == 0
    assert capsys.readouterr().out.startswith("Backpropagation through mlp")
    assert blocked.read_text() == "not a folder"


def test_the_cache_keeps_the_newest_entries(tmp_path, monkeypatch):
    monkeypatch.setenv("DERIVE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(cache, "ENTRIES", 2)
    for n in range(4):
        assert cache.remembered([f"part {n}"], lambda: f"text {n}") == f"text {n}"
        os.utime(tmp_path / f"{cache.key([f'part {n}'])}.txt", ns=(n, n))  # strictly in turn
    kept = sorted(path.read_text().split("\n", 1)[1] for path in tmp_path.glob("*.txt"))
    assert kept == ["text 2", "text 3"]


def test_the_cache_drops_only_its_own_entries(tmp_path, monkeypatch):
    """Found by a hunt: with DERIVE_CACHE_DIR a folder of the user's notes, every *.txt
    beyond ENTRIES was deleted, the notes too."""
    monkeypatch.setenv("DERIVE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(cache, "ENTRIES", 1)
    notes = [tmp_path / f"note{n}.txt" for n in range(3)]
    for note in notes:
        note.write_text("mine")
        os.utime(note, ns=(0, 0))  # older than any entry
    for n in range(3):
        cache.remembered([f"part {n}"], lambda: f"text {n}")
    assert all(note.read_text() == "mine" for note in notes)
    assert len(list(tmp_path.glob("*.txt"))) == len(notes) + 1


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="folders have owners on POSIX")
def test_a_cache_folder_others_may_write_to_is_not_used(tmp_path, monkeypatch):
    """Found by a hunt: an entry planted in a shared folder was printed as derive's answer,
    and a planted compiled template ran. Such a folder is passed over: no cache."""
    monkeypatch.setenv("DERIVE_CACHE_DIR", str(tmp_path))
    tmp_path.chmod(0o777)
    made = []
    for _ in range(2):
        assert cache.remembered(["part"], lambda: made.append(1) or "text") == "text"
    assert len(made) == 2 and not list(tmp_path.iterdir())
    tmp_path.chmod(0o700)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("DERIVE_CACHE_DIR", "~/cache")  # ~ is the home folder, as a shell says
    cache.remembered(["part"], lambda: "text")
    assert list((tmp_path / "cache").glob("*.txt"))


def test_compiled_templates_are_named_by_derive_itself(tmp_path):
    """Found by a hunt: jinja2 checks a compiled template against its text alone, so a derive
    whose rendering settings changed read templates compiled by the one before."""
    command(["codegen", "mlp"], tmp_path)
    own = f"-{cache.fingerprint().hex()[:16]}-"
    compiled = [path.name for path in (tmp_path / "templates").iterdir()]
    assert compiled and all(own in name for name in compiled)


def test_an_output_that_cannot_write_the_notation_is_an_error_not_a_bug(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DERIVE_CACHE_DIR": "",
           "PYTHONIOENCODING": "ascii"}
    done = subprocess.run([sys.executable, "-m", "derive", "equations", "mlp"], env=env,
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("derive: error: standard output's encoding, ascii, cannot "
                                  "write the notation")


def test_each_public_name_is_what_the_api_names_it_whatever_was_imported_first():
    out, _ = python("import derive, derive.draw, derive.softmax, derive.gradcheck\n"
                    "print([type(derive.draw).__name__, type(derive.gradcheck).__name__, "
                    "type(derive.softmax).__name__])")
    assert out.strip() == "['function', 'function', 'Op']"


LISTING = "from derive.registry import CALLABLE, OPS\nprint(json.dumps([sorted(OPS), sorted(CALLABLE)]))"


@functools.cache
def whole_registry():
    return json.loads(python(f"import json, derive\nderive.load()\n{LISTING}")[0])


@pytest.mark.parametrize("first", ["printers.text", "namer", "modelfile"])
def test_the_registry_is_whole_whichever_module_is_imported_first(first):
    alone, _ = python(f"import json, derive.{first}\n{LISTING}")
    assert json.loads(alone) == whole_registry()
