"""Rendering the jinja2 templates (`derive.folders` finds them) strictly."""

import os
from functools import lru_cache

from .cache import fingerprint, regular
from .folders import location, template_dir


@lru_cache(maxsize=None)
def environment():
    import jinja2  # here, not above: the command line's cache finds the templates without it

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
        trim_blocks=True, lstrip_blocks=True, autoescape=False,
        bytecode_cache=_compiled_templates(jinja2))
    env.filters["rstrip"] = str.rstrip  # a macro's lines, without its last line's newline
    return env


def _compiled_templates(jinja2):
    """The templates compiled before, kept in derive's cache folder (`derive.cache`), or None
    when it is off: compiling them takes 80 ms, which every first run of a command would pay.
    jinja2 checks each against its template's text; one that cannot be read is compiled again,
    one that cannot be written is not kept, without a word. Their names hold derive's own
    fingerprint (`cache.fingerprint`): jinja2 checks a compiled template against its text
    alone, and a derive whose settings changed (trim_blocks) read the old ones (a hunt);
    those of other fingerprints go when a template is compiled."""
    folder = location()
    if folder is None:
        return None
    made = f"jinja2-{jinja2.__version__}-{fingerprint().hex()[:16]}-"

    class Compiled(jinja2.FileSystemBytecodeCache):
        def load_bytecode(self, bucket):
            try:
                if regular(os.lstat(self._get_cache_filename(bucket))):  # not a FIFO, a link
                    super().load_bytecode(bucket)
            except Exception:  # damaged: compiled again
                bucket.reset()

        def dump_bytecode(self, bucket):
            try:
                os.makedirs(folder, mode=0o700, exist_ok=True)  # the cache folder's own mode
                os.makedirs(self.directory, mode=0o700, exist_ok=True)
                super().dump_bytecode(bucket)
                for name in os.listdir(self.directory):
                    if name.startswith("jinja2-") and not name.startswith(made):
                        os.unlink(os.path.join(self.directory, name))
            except OSError:
                pass

    return Compiled(str(folder / "templates"), made + "%s.cache")


def render(name, **context):
    return environment().get_template(name).render(**context)
