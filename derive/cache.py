"""The text a command made before, kept on disk under a key of everything that shapes it.

The key holds derive's own source and templates, the Python and the libraries that shape the
text (sympy, networkx, jinja2, numpy: each by where its `__init__.py` is and when it was
written, which any reinstall changes), and what the caller passes: the command, the model's
name, a model file's text. So `derive codegen lstm` run a second time answers from here without
importing sympy, and a change to any of those makes a new entry rather than reading a stale one.

The cache lives in $DERIVE_CACHE_DIR, else $XDG_CACHE_HOME/derive, else ~/.cache/derive; an
empty DERIVE_CACHE_DIR turns it off, and so does a folder others may write to
(`derive.folders`). It is only ever a shortcut: an entry
that cannot be read, or whose text no longer matches the checksum written before it, is made
again; one that cannot be written is not kept, without a word.
"""

import hashlib
import os
import re
import stat
import sys
import tempfile
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

from .folders import location, template_dir

ENTRIES = 256            # kept at most; the oldest go first
_ENTRY = re.compile(r"[0-9a-f]{64}\.txt")  # an entry's name: its key
LARGEST = 64 * 2**20     # bytes in an entry at most (the largest module is far below)
SHAPERS = ("sympy", "networkx", "jinja2", "numpy")
_PACKAGE = Path(__file__).resolve().parent


def remembered(parts, make):
    """`make()`, a text; or the text it gave before for the same `parts` (strings or bytes) and
    the same derive, libraries and Python."""
    folder = location()
    if folder is None:
        return make()
    entry = folder / f"{key(parts)}.txt"
    try:
        checksum, _, text = _read(entry).partition("\n")
        if checksum == _checksum(text):
            return text
    except (OSError, UnicodeDecodeError):
        pass
    text = make()
    _keep(folder, entry, text)
    return text


def _read(entry):
    """An entry's text, if it is a file of its own (not a link, a FIFO that would block the
    read, a device that never ends) of at most LARGEST bytes; else OSError."""
    fd = os.open(entry, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as file:
        if not regular(os.fstat(file.fileno())):
            raise OSError(f"{entry} is not an entry derive wrote")
        return file.read(LARGEST + 1).decode("utf-8")


def regular(info):
    """Whether `os.stat` result `info` is a regular file of at most LARGEST bytes."""
    return stat.S_ISREG(info.st_mode) and info.st_size <= LARGEST


def key(parts):
    digest = hashlib.sha256(fingerprint())
    for part in parts:
        data = part if isinstance(part, bytes) else part.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()


def _checksum(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@lru_cache(maxsize=None)
def fingerprint():
    """Everything besides the caller's parts that the text depends on, as bytes (once a
    process: derive's files do not change under a running derive)."""
    digest = hashlib.sha256(sys.version.encode())
    for name in SHAPERS:
        spec = find_spec(name)
        origin = spec.origin if spec is not None and spec.origin else "absent"
        stamp = os.stat(origin).st_mtime_ns if spec is not None and spec.origin else 0
        digest.update(f"{name} {origin} {stamp}\n".encode("utf-8", "surrogatepass"))
    for path in _sources():
        digest.update(path.as_posix().encode("utf-8", "surrogatepass") + path.read_bytes())
    return digest.digest()


def _sources():
    """derive's Python files and templates."""
    return sorted([*_PACKAGE.rglob("*.py"), *template_dir().glob("*.j2")])


def _keep(folder, entry, text):
    """Write `entry` whole or not at all (a reader never sees half of one), then drop the
    oldest entries beyond ENTRIES."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, scratch = tempfile.mkstemp(dir=folder, prefix=".writing-", suffix=".txt")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(f"{_checksum(text)}\n{text}")
            os.replace(scratch, entry)
        except BaseException:
            os.unlink(scratch)
            raise
        entries = sorted((path for path in folder.glob("*.txt") if _ENTRY.fullmatch(path.name)),
                         key=lambda path: path.stat().st_mtime_ns)  # derive's own, no other
        for old in entries[:-ENTRIES]:                              # (a hunt: a user's notes
            old.unlink(missing_ok=True)                             # went)
    except (OSError, UnicodeError):
        pass
