"""Where derive's files are: its templates, and the folder of its cache.

Installed, the templates ship inside the package as `derive/templates`; in a source checkout
they are the top-level `templates/` folder beside `derive/`. The cache (`derive.cache`) lives in
$DERIVE_CACHE_DIR, else $XDG_CACHE_HOME/derive, else ~/.cache/derive; an empty
DERIVE_CACHE_DIR turns it off, and so does a folder others may write to.
"""

import os
import stat
from pathlib import Path

_PACKAGED = Path(__file__).with_name("templates")
_CHECKOUT = Path(__file__).resolve().parent.parent / "templates"


def template_dir():
    for folder in (_PACKAGED, _CHECKOUT):
        if (folder / "module.py.j2").is_file():
            return folder
    raise FileNotFoundError(f"derive's templates are missing: looked in {_PACKAGED} and "
                            f"{_CHECKOUT}; reinstall derive")


def location():
    """The folder of the cache, or None if DERIVE_CACHE_DIR is set empty or the folder is not
    the user's own: one that others may write to could hand derive text to print, or compiled
    templates to run (a hunt), so derive does without its cache there."""
    chosen = os.environ.get("DERIVE_CACHE_DIR")
    if chosen is not None:
        folder = Path(chosen).expanduser() if chosen else None
    else:
        xdg = os.environ.get("XDG_CACHE_HOME", "")  # (a relative one is ignored, as the
        home = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"  # spec says)
        folder = home / "derive"
    return folder if folder is not None and _own(folder) else None


def _own(folder):
    """Whether `folder` is missing (derive makes it, 0700) or a folder of this user's that no
    one else may write to."""
    try:
        info = os.stat(folder)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    mine = not hasattr(os, "getuid") or info.st_uid == os.getuid()
    return stat.S_ISDIR(info.st_mode) and mine and not info.st_mode & 0o022
