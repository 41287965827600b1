"""The text of a model file: reading it, cutting it into lines, and pointing into a line.

Lines end at "\\n" only (a "\\r" before it is dropped), so line numbers are those of `cat -n`,
`grep -n` and editors. Characters that some programs take as a line break (U+2028, U+2029,
form feed, vertical tab, NEL, …), other control characters and bidirectional overrides are
refused wherever they are, comments included: a file never shows a line that is not read, nor
hides one that is.
"""

import ast
import codecs
import errno
import keyword
import os
import re
import stat
import unicodedata
from contextlib import contextmanager

from .errors import DeriveError

WIDTH = 100  # characters of a line quoted under a message; a longer line is cut around the caret
_BREAKS = "\v\f\r\x1c\x1d\x1e\x85\u2028\u2029"  # where str.splitlines breaks, besides "\n"
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
# Control characters (Unicode category Cc) but tab, line and paragraph separators, bidi marks.
_REFUSED = re.compile(f"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029{_BIDI}]")
_CONTROL_NAMES = {"\0": "NULL", "\v": "VERTICAL TAB", "\f": "FORM FEED",
                  "\r": "CARRIAGE RETURN", "\x85": "NEXT LINE", "\x7f": "DELETE"}
_FILE_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
               (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"),
               (stat.S_ISBLK, "a device"))


class ModelFileError(DeriveError):
    """A mistake in a model file: `file:line:col: message`, then the line and a caret."""

    def __init__(self, filename, number, column, message, line):
        super().__init__(message)
        self.filename, self.number, self.column = filename, number, column
        self.message, self.line = message, line

    def __str__(self):
        shown, indent = excerpt(self.line, self.column)
        return (f"{self.filename}:{self.number}:{self.column}: {self.message}\n"
                f"    {shown}\n    {indent}^")


def excerpt(line, column):
    """The line as quoted under a message, at most WIDTH characters around `column` with …
    where it is cut, and the indent that puts a caret under that column. Tabs are kept so the
    caret lines up however a terminal expands them; characters that do not print show as �."""
    at = column - 1
    start = 0 if len(line) <= WIDTH else max(0, min(at - WIDTH // 2, len(line) - WIDTH))
    end = start + WIDTH
    shown = "".join(c if c == "\t" or c.isprintable() else "\ufffd" for c in line[start:end])
    shown = "…" * (start > 0) + shown + "…" * (end < len(line))
    indent = " " * (start > 0) + "".join(c if c == "\t" else " " for c in line[start:at])
    return shown, indent


def shorten(text, most=30):
    """User text quoted in a message, cut to `most` characters."""
    return text if len(text) <= most else text[:most - 1] + "…"


# --- reading ---------------------------------------------------------------------------------

def read(path):
    """The text of the model file at `path`: a regular file of UTF-8 text.

    It is opened without blocking, so a FIFO is refused rather than waited on.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise _unreadable(path, _reason(exc)) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((kind for test, kind in _FILE_KINDS if test(mode)), "not a regular file")
            raise _unreadable(path, f"it is {kind}, not a file")
        with os.fdopen(fd, "rb", closefd=False) as file:
            data = file.read()
    except OSError as exc:
        raise _unreadable(path, _reason(exc)) from None
    finally:
        os.close(fd)
    return decode(data, str(path))


def decode(data, filename):
    """`data` as text (a UTF-8 BOM is dropped), or an error at the first byte that is not UTF-8."""
    data = data.removeprefix(codecs.BOM_UTF8)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        begin = data.rfind(b"\n", 0, exc.start) + 1
        end = data.find(b"\n", exc.start)
        line = data[begin:len(data) if end < 0 else end].decode(errors="replace")
        column = len(data[begin:exc.start].decode(errors="replace")) + 1
        raise ModelFileError(filename, data.count(b"\n", 0, exc.start) + 1, column,
                             f"byte 0x{data[exc.start]:02x} is not UTF-8: a model file is "
                             "UTF-8 text", line.removesuffix("\r")) from None


def _unreadable(path, reason):
    return DeriveError(f"cannot read model file '{path}': {reason}")


def _reason(exc):
    if exc.errno == errno.ELOOP:
        return "its symbolic links lead round in a loop"
    if exc.errno == errno.EISDIR:
        return "it is a folder, not a file"
    return (exc.strerror or str(exc)).lower()


def split_lines(text, filename):
    """The lines of `text`, cut at "\\n" only; refuses the characters that make other
    programs see other lines (or other text) than these."""
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    if len(lines) > 1 and not lines[-1]:
        lines.pop()  # the end of the last line, not a line of its own
    for number, line in enumerate(lines, 1):
        bad = _REFUSED.search(line)
        if bad:
            raise ModelFileError(filename, number, bad.start() + 1, _refusal(bad.group()), line)
    return lines


def _refusal(char):
    name = unicodedata.name(char, _CONTROL_NAMES.get(char, ""))
    what = f"character U+{ord(char):04X}" + (f" ({name})" if name else "")
    if char in _BREAKS:
        why = "some programs start a new line there, but model-file lines end at \\n only"
    elif char in _BIDI:
        why = "it changes the order in which the line is shown"
    else:
        why = "it does not show as what it is"
    return f"{what} is not allowed in a model file, not even in a comment: {why}"


# --- positions in a line ---------------------------------------------------------------------

# keywords a formula may hold as operators (x if c else y, a and b), not as names
_OPERATORS = {"and", "or", "not", "if", "else", "in", "is", "None", "True", "False"}


class Line:
    """One line of a model file: parses the expressions in it and makes the errors that point
    into it. Columns count characters from 1; ast positions (UTF-8 bytes) are converted."""

    def __init__(self, filename, number, text):
        self.filename, self.number, self.text = filename, number, text
        self.code = text.split("#", 1)[0].rstrip()  # the line without its comment

    def parse(self, start, end=None):
        """The expression in code[start:end], its positions counted from the start of the line."""
        end = len(self.code) if end is None else end
        text = self.code[start:end].strip()
        if not text:
            raise self.error(end + 1, "expected an expression")
        start = self.code.index(text, start)
        try:
            tree = ast.parse(text, mode="eval").body
        except (MemoryError, RecursionError):  # Python's parser gives up on deep nests so
            raise self.error(start + 1, "this line nests too deeply; split it into several "
                                        "equations") from None
        except SyntaxError as exc:
            reserved = next((m for m in re.finditer(r"[A-Za-z_]\w*", text)
                             if keyword.iskeyword(m.group()) and m.group() not in _OPERATORS),
                            None)
            if reserved:
                raise self.error(start + reserved.start() + 1, f"'{reserved.group()}' is a "
                                 "Python keyword, which cannot be a name") from None
            message = re.sub(r" \(detected at line \d+\)", "", exc.msg)
            if "line continuation" in message:
                message = "a line does not continue with \\; write each equation on one line"
            offset = exc.offset or len(text) + 1
            raise self.error(start + min(offset, len(text) + 1),
                             f"syntax error: {message}") from None
        shift = len(self.text[:start].encode())  # ast counts UTF-8 bytes
        for node in ast.walk(tree):
            if hasattr(node, "col_offset"):
                node.col_offset += shift
                node.end_col_offset += shift
        for node in ast.walk(tree):
            self._as_written(node)
        return tree

    def _as_written(self, node):
        """Refuses a name that Python reads as another (fullwidth Ｗ as W: identifiers are
        NFKC-normalised), which would silently be that other name."""
        name = node.id if isinstance(node, ast.Name) else \
            node.arg if isinstance(node, ast.keyword) and node.arg else None
        if name is not None and not self.source(node).startswith(name):
            written = re.match(r"\S+?(?=[\s=]|$)", self.source(node)).group()
            raise self.error(node, f"name '{written}' is not ASCII (Python would read it as "
                                   f"'{name}'): names are ASCII letters, digits and underscores")

    def _char(self, offset):
        return len(self.text.encode()[:offset].decode(errors="ignore"))

    def column(self, node):
        """The column where an ast node starts."""
        return self._char(node.col_offset) + 1

    def source(self, node, most=None):
        """The text of an ast node, cut to `most` characters if given."""
        text = self.text[self._char(node.col_offset):self._char(node.end_col_offset)]
        return text if most is None else shorten(text, most)

    def operator(self, node):
        """Column and text of a binary operator: what lies between its operands."""
        left, right = self._char(node.left.end_col_offset), self._char(node.right.col_offset)
        gap = self.text[left:right]
        return left + len(gap) - len(gap.lstrip(" \t)")) + 1, gap.strip(" \t()")

    def error(self, where, message):
        """A ModelFileError at a column of this line, or at an ast node in it."""
        if isinstance(where, ast.BinOp):
            where = self.operator(where)[0]
        elif isinstance(where, ast.Attribute):
            where = self.text.rindex(".", 0, self._char(where.end_col_offset)) + 1
        elif not isinstance(where, int):
            where = self.column(where)
        return ModelFileError(self.filename, self.number, where, message, self.text)

    @contextmanager
    def blame(self, where):
        """Report the graph API's errors (shapes, names, values) at `where`."""
        try:
            yield
        except ModelFileError:
            raise
        except (DeriveError, ValueError, TypeError, ZeroDivisionError, OverflowError) as exc:
            raise self.error(where, str(exc)) from None
