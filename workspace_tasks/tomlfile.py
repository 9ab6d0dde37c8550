"""Read TOML strictly, with the position of every problem.

The standard library's ``tomllib`` decides what is valid (tomlkit alone lets
some invalid files through); tomlkit is used only where comments must survive
a rewrite. A UTF-8 byte-order mark at the start of a file is accepted.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from workspace_tasks import safefs
from workspace_tasks.errors import FileSyntaxError, UnreadableFile

BOM = "\ufeff"
# Deeper values are refused: every reader of the values walks them recursively.
MAX_NESTING = 100
_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_END = re.compile(r"\s*\(at end of document\)\s*$")

KeyPath = tuple[str, ...]


def read_text(path: Path, source: str | None = None) -> str:
    """Return the text of ``path`` as UTF-8 without its byte-order mark.

    Only a regular file of at most :data:`safefs.MAX_READ_SIZE` bytes is
    read (see :func:`safefs.read_regular`).

    Raises:
        FileSyntaxError: the bytes are not UTF-8, naming the first bad one.
        FileNotFoundError: there is no file at ``path``.
        UnreadableFile: ``path`` is not a regular file (a folder, a fifo),
            is too large or cannot be read.
    """
    try:
        data = safefs.read_regular(Path(path), shown=source or path)
    except FileNotFoundError:
        raise
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UnreadableFile(source or path, f"cannot read: {reason}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise FileSyntaxError(
            source or path, line, column, "not valid UTF-8 text"
        ) from None
    return text.removeprefix(BOM)


def loads(text: str, source: object) -> dict[str, Any]:
    """Parse TOML ``text`` strictly; ``source`` names it in messages.

    Raises:
        FileSyntaxError: with the line and column ``tomllib`` reports, or
            where values nest more than ``MAX_NESTING`` levels deep.
    """
    text = text.removeprefix(BOM)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, column, message = error_position(str(exc), text)
        raise FileSyntaxError(source, line, column, message) from None
    except RecursionError:
        data = None
    if data is None or _depth(data) > MAX_NESTING:
        line, column = _deep_position(text)
        message = f"nesting too deep (more than {MAX_NESTING} levels)"
        raise FileSyntaxError(source, line, column, message)
    return data


def _depth(value: Any) -> int:
    """Return how deep tables and arrays nest in ``value`` (without recursion)."""
    deepest = 0
    stack = [(value, 0)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_NESTING:
            break
        if isinstance(node, dict):
            stack += [(child, level + 1) for child in node.values()]
        elif isinstance(node, list):
            stack += [(child, level + 1) for child in node]
    return deepest


def _deep_position(text: str, limit: int = MAX_NESTING) -> tuple[int, int]:
    """Return where ``text`` first nests more than ``limit`` levels (or 1:1).

    Levels count as the parsed values nest: each part of a table header
    (``[a.b]``, one more for an array of tables) or of a dotted key, and
    each array or inline table opened in a value. The position is the key
    part or the bracket that goes one level too deep.
    """
    table = 0
    value = _DepthScanner(limit)
    for number, line in enumerate(text.split("\n"), start=1):
        if value.busy:
            found = value.feed(line, number, 0)
        else:
            found, table = _line_depth(line, number, table, value)
        if found is not None:
            return found
    return 1, 1


def _line_depth(
    line: str, number: int, table: int, value: _DepthScanner
) -> tuple[tuple[int, int] | None, int]:
    """Scan one line that starts outside any value; return overflow and table."""
    stripped = line.lstrip(" \t")
    indent = len(line) - len(stripped)
    if stripped.startswith("["):
        array = stripped.startswith("[[")
        opening = 2 if array else 1
        parts, starts, _ = _key_spans(stripped[opening:])
        level = len(parts) + array
        if level > value.limit:
            index = min(value.limit, len(parts) - 1)
            return (number, indent + opening + starts[index] + 1), level
        return None, level
    parts, starts, rest = _key_spans(stripped)
    if not parts or not rest.startswith("="):
        return None, table
    base = table + len(parts)
    if base > value.limit:
        index = max(value.limit - table, 0)
        return (number, indent + starts[index] + 1), table
    value.base = base
    offset = len(line) - len(rest) + 1
    return value.feed(line[offset:], number, offset), table


class _DepthScanner:
    """Follow one value over lines, counting the brackets open in it.

    An item inside ``depth`` brackets of a value at level ``base`` sits at
    level ``base + depth``: the first past ``limit`` is the overflow.
    """

    def __init__(self, limit: int, base: int = 1) -> None:
        self.limit = limit
        self.base = base  # the level of the value itself
        self.depth = 0
        self.multiline: str | None = None

    @property
    def busy(self) -> bool:
        return self.depth > 0 or self.multiline is not None

    def feed(self, text: str, number: int, offset: int) -> tuple[int, int] | None:
        """Scan ``text`` (at ``offset`` of line ``number``); return an overflow."""
        index = 0
        while index < len(text):
            if self.multiline is not None:
                end = text.find(self.multiline, index)
                if end < 0:
                    return None
                index, self.multiline = end + 3, None
                continue
            char = text[index]
            if text.startswith(('"""', "'''"), index):
                self.multiline = text[index : index + 3]
                index += 3
                continue
            if char == "#":
                return None
            if char in "]}":
                self.depth -= 1
            elif char not in " \t,=" and self.base + self.depth > self.limit:
                return number, offset + index + 1  # an item one level too deep
            elif char in "\"'":
                index = _string_end(text, index)
                continue
            elif char in "[{":
                self.depth += 1
            index += 1
        return None


def load(path: Path, source: str | None = None) -> dict[str, Any]:
    """Read and parse the TOML file at ``path`` strictly."""
    return loads(read_text(path, source), source or path)


def error_position(message: str, text: str) -> tuple[int, int, str]:
    """Return the line, column and sentence of a ``tomllib`` error on ``text``.

    An error "at end of document" is placed just past the last character.
    """
    found = _POSITION.search(message)
    if found:
        detail = message[: found.start()]
        return int(found.group(1)), int(found.group(2)), _sentence(detail)
    lines = text.split("\n")
    detail = _END.sub("", message)
    return len(lines), len(lines[-1]) + 1, _sentence(detail)


def _sentence(detail: str) -> str:
    detail = detail.strip() or "invalid TOML"
    return f"invalid TOML: {detail[0].lower()}{detail[1:]}"


def load_document(path: Path, source: str | None = None):
    """Return the tomlkit document of ``path`` (comments kept), checked strictly."""
    import tomlkit

    text = read_text(path, source)
    loads(text, source or path)
    return tomlkit.parse(text)


def parse_value(raw: str, source: object = "value", below: int = 1) -> Any:
    """Read ``raw`` as a TOML value (``45`` an integer, ``true`` a boolean).

    Text that is not a TOML value stays the string it is. The value sits
    ``below`` levels deep (the parts of its key); with what nests in it,
    it may reach :data:`MAX_NESTING` levels, as in a file.

    Raises:
        FileSyntaxError: the value nests deeper, named by ``source`` with
            the line and column in ``raw`` where it goes too deep.
    """
    try:
        value = tomllib.loads(f"value = {raw}")["value"]
    except tomllib.TOMLDecodeError:
        return raw
    except RecursionError:
        value = None
    if value is None or below + _depth(value) > MAX_NESTING:
        line, column = _value_overflow(raw, below)
        message = f"nesting too deep (more than {MAX_NESTING} levels)"
        raise FileSyntaxError(source, line, column, message)
    return value


def _value_overflow(raw: str, below: int) -> tuple[int, int]:
    """Return where the value ``raw``, ``below`` levels deep, goes too deep."""
    scanner = _DepthScanner(MAX_NESTING, below)
    for number, line in enumerate(raw.split("\n"), start=1):
        found = scanner.feed(line, number, 0) if below <= MAX_NESTING else None
        if found is not None:
            return found
    return 1, 1


def key_positions(text: str) -> dict[KeyPath, tuple[int, int]]:
    """Return the line and column where each key and table of ``text`` is set.

    A light scan of well-formed TOML (run it after the strict parse): table
    headers, ``key = value`` lines and dotted keys, skipping the insides of
    multi-line strings and arrays.
    """
    positions: dict[KeyPath, tuple[int, int]] = {}
    table: KeyPath = ()
    scanner = _ValueScanner()
    for number, line in enumerate(text.split("\n"), start=1):
        if scanner.busy:
            scanner.feed(line)
            continue
        stripped = line.lstrip()
        column = len(line) - len(stripped) + 1
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("["):
            table = _header_key(stripped)
            _remember(positions, table, (number, column))
            continue
        parts, rest = _split_key(stripped)
        if parts and rest.startswith("="):
            _remember(positions, table + parts, (number, column))
            value = len(line) - len(rest[1:].lstrip(" \t"))
            if line.startswith("{", value):
                _inline_keys(line, value, table + parts, number, positions)
            scanner.feed(rest[1:])
    return positions


def _inline_keys(
    line: str,
    start: int,
    prefix: KeyPath,
    number: int,
    positions: dict[KeyPath, tuple[int, int]],
) -> int:
    """Remember the keys of the inline table opening at ``line[start]``.

    Returns the index just past its closing brace (or the line's end when
    it cannot follow the table, which a strict parse has accepted anyway).
    """
    index = start + 1
    while index < len(line):
        index = _skip_blanks(line, index)
        if line.startswith("}", index):
            return index + 1
        parts, rest = _split_key(line[index:])
        if not parts or not rest.startswith("="):
            return len(line)
        _remember(positions, prefix + parts, (number, index + 1))
        index = _skip_blanks(line, len(line) - len(rest) + 1)
        if line.startswith("{", index):
            index = _inline_keys(line, index, prefix + parts, number, positions)
        else:
            index = _value_end(line, index)
        index = _skip_blanks(line, index)
        if line.startswith(",", index):
            index += 1
    return len(line)


def _skip_blanks(line: str, index: int) -> int:
    while index < len(line) and line[index] in " \t":
        index += 1
    return index


def _value_end(line: str, index: int) -> int:
    """Return where the value starting at ``line[index]`` ends (``,`` or ``}``)."""
    depth = 0
    while index < len(line):
        char = line[index]
        if char in "\"'":
            index = _string_end(line, index)
            continue
        if char in "[{":
            depth += 1
        elif char in "]}":
            if depth == 0:
                return index
            depth -= 1
        elif char == "," and depth == 0:
            return index
        index += 1
    return index


def _remember(
    positions: dict[KeyPath, tuple[int, int]], key: KeyPath, where: tuple[int, int]
) -> None:
    for end in range(1, len(key) + 1):
        positions.setdefault(key[:end], where)


def _header_key(stripped: str) -> KeyPath:
    inner = stripped.lstrip("[")
    parts, _ = _split_key(inner)
    return parts


_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _split_key(text: str) -> tuple[KeyPath, str]:
    """Read a dotted key at the start of ``text``; return it and the rest."""
    parts, _, rest = _key_spans(text)
    return parts, rest


def _key_spans(text: str) -> tuple[KeyPath, list[int], str]:
    """Read a dotted key at the start of ``text``: its parts, where each
    starts in ``text``, and the rest (``text`` itself when there is none)."""
    parts: list[str] = []
    starts: list[int] = []
    rest = text
    while True:
        rest = rest.lstrip(" \t")
        starts.append(len(text) - len(rest))
        if rest[:1] in ('"', "'"):
            quote = rest[0]
            end = rest.find(quote, 1)
            while quote == '"' and end > 0 and rest[end - 1] == "\\":
                end = rest.find(quote, end + 1)
            if end < 0:
                return (), [], text
            raw = rest[1:end]
            parts.append(_unescape(raw) if quote == '"' else raw)
            rest = rest[end + 1 :]
        else:
            bare = _BARE.match(rest)
            if not bare:
                return (), [], text
            parts.append(bare.group(0))
            rest = rest[bare.end() :]
        rest = rest.lstrip(" \t")
        if not rest.startswith("."):
            return tuple(parts), starts, rest
        rest = rest[1:]


def _unescape(raw: str) -> str:
    try:
        return tomllib.loads(f'k = "{raw}"')["k"]
    except tomllib.TOMLDecodeError:
        return raw


class _ValueScanner:
    """Follow a value over lines: open brackets and multi-line strings."""

    def __init__(self) -> None:
        self.depth = 0
        self.multiline: str | None = None

    @property
    def busy(self) -> bool:
        return self.depth > 0 or self.multiline is not None

    def feed(self, text: str) -> None:
        index = 0
        while index < len(text):
            if self.multiline is not None:
                end = text.find(self.multiline, index)
                if end < 0:
                    return
                index = end + 3
                self.multiline = None
                continue
            char = text[index]
            if text.startswith(('"""', "'''"), index):
                self.multiline = text[index : index + 3]
                index += 3
            elif char in "\"'":
                index = _string_end(text, index)
            elif char == "#":
                return
            else:
                self.depth += (char in "[{") - (char in "]}")
                index += 1


def _string_end(text: str, start: int) -> int:
    quote = text[start]
    index = start + 1
    while index < len(text):
        if quote == '"' and text[index] == "\\":
            index += 2
            continue
        if text[index] == quote:
            return index + 1
        index += 1
    return index


def add_entries(container: Any, values: list, tables: list) -> None:
    """Add ``(key, item)`` pairs to a tomlkit table or document in linear time.

    ``values`` (plain values, with ``None`` keys for comments) come first,
    then ``tables`` (tables and arrays of tables), each list in its order.
    tomlkit, adding one value to a table built in memory, scans the whole
    table for the place before its first sub-table: n values cost n² steps.
    With the values all placed before any table that scan finds nothing, so
    the values are added in tomlkit's parsing mode, which skips it.
    """
    from tomlkit.container import Container
    from tomlkit.items import Whitespace

    body = container if isinstance(container, Container) else container.value
    previous = body._previous_item() if body.body else None
    body.parsing(True)
    try:
        for key, item in values:
            item = _as_item(item)
            # A last line without its newline must not run into the next one.
            keep_apart = previous is not None and not isinstance(previous, Whitespace)
            if keep_apart and "\n" not in previous.trivia.trail:
                previous.trivia.trail += "\n"
            container.add(item) if key is None else container.add(key, item)
            previous = item
    finally:
        body.parsing(False)
    for key, item in tables:
        container.add(item) if key is None else container.add(key, item)


def _as_item(value: Any) -> Any:
    import tomlkit

    return value if hasattr(value, "trivia") else tomlkit.item(value)


def dumps(values: Mapping[str, Any]) -> str:
    """Return ``values`` as TOML text: each table's values before its sub-tables.

    The text is the one ``tomlkit.dumps`` writes, in time linear in the keys.
    Bytes that are not UTF-8 are written as :func:`visible` shows them.
    """
    return _table_of(visible(values), document=True).as_string()


def visible(value: Any) -> Any:
    """Return ``value`` with the bytes TOML cannot hold written visibly.

    TOML text is UTF-8 and its escapes name characters, not bytes, so a
    byte of a file name that is not UTF-8 (``workspace.root`` of a folder
    named so, an environment variable) cannot be written as it is. In
    keys and strings it becomes the four characters ``\377``, as text
    output shows it (TOML then writes the backslash as ``\\``): the text
    stays valid TOML, and that one value differs from the real name.
    """
    from workspace_tasks.text import escape_surrogates

    if isinstance(value, str):
        return escape_surrogates(value)
    if isinstance(value, Mapping):
        return {escape_surrogates(k): visible(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [visible(item) for item in value]
    return value


def has_raw_bytes(value: Any) -> bool:
    """Tell whether :func:`visible` would change ``value``."""
    return visible(value) != value


def _table_of(values: Mapping[str, Any], document: bool = False) -> Any:
    import tomlkit

    container = tomlkit.document() if document else tomlkit.table()
    plain, tables = [], []
    for key, value in values.items():
        if isinstance(value, Mapping):
            tables.append((key, _table_of(value)))
            continue
        item = tomlkit.item(value)
        (tables if _is_table(item) else plain).append((key, item))
    add_entries(container, plain, tables)
    return container


def _is_table(item: Any) -> bool:
    from tomlkit.items import AoT, Table

    return isinstance(item, Table | AoT)


def inline_value(value: Any) -> str:
    """Return ``value`` as TOML writes it, on one line (tables inline).

    Strings are quoted and escaped, dates bare (``1979-05-27``), ``nan``
    and ``inf`` as TOML spells them: what a reader could paste into a file.
    """
    return _inline(visible(value)).as_string()


def _inline(value: Any) -> Any:
    import tomlkit

    if isinstance(value, Mapping):
        table = tomlkit.inline_table()
        for key, item in value.items():
            table.append(key, _inline(item))
        return table
    if isinstance(value, list | tuple):
        array = tomlkit.array()
        for item in value:
            array.append(_inline(item))
        return array
    return tomlkit.item(value)


def dotted_key(key: KeyPath) -> str:
    """Return the key path ``key`` as TOML writes it (``a."b.c"."d e"``)."""
    import tomlkit

    return tomlkit.key(list(key)).as_string() if key else ""
