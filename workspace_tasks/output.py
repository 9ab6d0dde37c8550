"""The one place that prints to the user.

Results go to standard output (text, tables or JSON); notes, warnings and
errors go to standard error. Nothing else in the package prints.

Text output never carries a control character as it is: a newline, an
escape sequence or a byte that is not UTF-8 in a path or a name is shown
escaped (``\n``, ``\033``, ``\377``), as ``ls -b`` and git show file
names, so a name can neither forge a line of a report nor drive the
terminal. JSON escapes control characters itself; a byte that is not UTF-8
(a lone surrogate to Python) is written as JSON's escape of that surrogate
(``\udcff`` for the byte 0xff), so the output stays UTF-8 and Python's
``os.fsencode(json.loads(...))`` gives the byte back.
"""

from __future__ import annotations

import datetime
import io
import json
import math
import re
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from workspace_tasks.text import shown

PROGRAM = "workspace"

_SURROGATE = re.compile("[\ud800-\udfff]")


def _json_escapes(text: str) -> str:
    """Write the lone surrogates left in JSON ``text`` as JSON escapes."""
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def json_safe(value: Any) -> Any:
    """Return ``value`` with what JSON lacks (and TOML has) written as strings.

    Non-finite floats become "nan", "inf", "-inf" (strict readers reject
    NaN and Infinity); dates, times and date-times become ISO 8601 strings
    ("1979-05-27", "07:32:00", "1979-05-27T07:32:00-08:00").
    """
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


def _default(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return json_safe(value.to_dict())
    if hasattr(value, "__fspath__"):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"cannot show {type(value).__name__} as JSON")


def print_json(data: Any) -> None:
    """Print ``data`` as strict JSON: the only thing on standard output."""
    text = json.dumps(
        json_safe(data),
        indent=2,
        default=_default,
        ensure_ascii=False,
        allow_nan=False,
    )
    sys.stdout.write(_json_escapes(text))
    sys.stdout.write("\n")
    sys.stdout.flush()


def print_json_line(data: Any) -> None:
    """Print ``data`` as one line of JSON (a stream of JSON lines)."""
    text = json.dumps(json_safe(data), default=_default, ensure_ascii=False)
    sys.stdout.write(f"{_json_escapes(text)}\n")
    sys.stdout.flush()


def print_text(text: str) -> None:
    """Print ``text`` to standard output as it is (a whole file's text)."""
    sys.stdout.write(text)
    sys.stdout.flush()


def is_standard_output(path: str) -> bool:
    """Tell whether ``path`` is the file standard output writes to already.

    ``/dev/stdout``, ``/dev/fd/1`` or the file a shell redirected it to: an
    output given by such a name is printed, not opened again.
    """
    import os

    try:
        there = os.stat(path)
        ours = os.fstat(sys.stdout.fileno())
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return False
    return (there.st_dev, there.st_ino) == (ours.st_dev, ours.st_ino)


def print_line(text: str = "") -> None:
    """Print one line of a result to standard output, controls escaped."""
    sys.stdout.write(f"{shown(text)}\n")
    sys.stdout.flush()


def print_lines(lines: Iterable[str]) -> None:
    """Print lines of a result to standard output, controls escaped."""
    # One write: a listing of many thousand lines costs one call, not one each.
    sys.stdout.write("".join(f"{shown(line)}\n" for line in lines))
    sys.stdout.flush()


def print_block(text: str) -> None:
    """Print a multi-line document (a file's text) to standard output.

    Its own line breaks are kept; every other control character is escaped.
    """
    print_lines(_block_lines(text))


def _block_lines(text: str) -> list[str]:
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    return lines


def print_table(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None
) -> None:
    """Print a table: a rich one on a terminal, plain aligned text elsewhere.

    Cells are text: controls escaped, and never read as rich markup.
    """
    rows = [[shown("" if cell is None else str(cell)) for cell in row] for row in rows]
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        table = Table(title=None if title is None else Text(shown(title)))
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*(Text(cell) for cell in row))
        Console().print(table)
        return
    if title:
        print_line(title)
    widths = [len(c) for c in columns]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=False)]
    print_line("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=False)))
    for row in rows:
        cells = zip(row, widths, strict=False)
        print_line("  ".join(cell.ljust(w) for cell, w in cells).rstrip())


def note(text: str) -> None:
    """Tell the user something on standard error (never part of a result)."""
    sys.stderr.write(f"{shown(text)}\n")
    sys.stderr.flush()


def note_block(text: str) -> None:
    """Tell the user a multi-line text (another program's report) on standard error.

    As :func:`print_block`: its own line breaks are kept, every other
    control character is escaped.
    """
    for line in _block_lines(text):
        sys.stderr.write(f"{shown(line)}\n")
    sys.stderr.flush()


def warn(text: str) -> None:
    """Print a warning line on standard error."""
    note(f"{PROGRAM}: warning: {text}")


def error(text: str) -> None:
    """Print one error line on standard error."""
    note(f"{PROGRAM}: error: {text}")


def human_size(size: float) -> str:
    """Format a byte count the way ``du -h`` does (1.2GB, 450MB)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(size) < 1024 or unit == "TB":
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.1f}{unit}"
        size /= 1024
    return f"{size:.1f}TB"


def stderr_is_terminal() -> bool:
    """Tell whether progress may be shown (standard error is a terminal)."""
    return sys.stderr.isatty()
