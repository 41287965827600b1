"""Where the jinja2 templates live, and rendering them strictly.

Installed, the templates ship inside the package as `derive/templates`; in a source checkout
they are the top-level `templates/` folder beside `derive/`.
"""

from functools import lru_cache
from pathlib import Path

_PACKAGED = Path(__file__).with_name("templates")
_CHECKOUT = Path(__file__).resolve().parent.parent / "templates"


def template_dir():
    for folder in (_PACKAGED, _CHECKOUT):
        if (folder / "module.py.j2").is_file():
            return folder
    raise FileNotFoundError(f"derive's templates are missing: looked in {_PACKAGED} and "
                            f"{_CHECKOUT}; reinstall derive")


@lru_cache(maxsize=None)
def environment():
    import jinja2  # here, not above: the command line's cache finds the templates without it

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
        trim_blocks=True, lstrip_blocks=True, autoescape=False)
    env.filters["rstrip"] = str.rstrip  # a macro's lines, without its last line's newline
    return env


def render(name, **context):
    return environment().get_template(name).render(**context)
