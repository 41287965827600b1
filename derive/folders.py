"""Where derive's files are: its templates, and the folder of its cache.

Installed, the templates ship inside the package as `derive/templates`; in a source checkout
they are the top-level `templates/` folder beside `derive/`. The cache (`derive.cache`) lives in
$DERIVE_CACHE_DIR, else $XDG_CACHE_HOME/derive, else ~/.cache/derive; an empty
DERIVE_CACHE_DIR turns it off.
"""

import os
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
    """The folder of the cache, or None if DERIVE_CACHE_DIR is set empty."""
    chosen = os.environ.get("DERIVE_CACHE_DIR")
    if chosen is not None:
        return Path(chosen) if chosen else None
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "derive"
