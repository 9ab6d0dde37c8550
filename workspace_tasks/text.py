"""Escape what a message quotes: one way for every name, path and value.

A name or a path may hold anything a file name can: a newline, an escape
sequence, a byte that is not UTF-8. Shown to a user, each is escaped the
same way wherever it appears (``\\n``, ``\\033``, ``\\377``), as ``ls -b``
and git show file names, so a name can neither forge a line of a report
nor drive the terminal, and the same character always reads the same.
Messages quote values with :func:`quoted`, never with ``repr``, whose
escapes (``\\x1b``) differ.
"""

from __future__ import annotations

import re

# C0 controls but the tab, DEL, C1 controls, and the lone surrogates that
# stand for the bytes of a file name that are not UTF-8.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_NAMED = {"\a": "\\a", "\b": "\\b", "\n": "\\n", "\v": "\\v", "\f": "\\f", "\r": "\\r"}


def shown(text: str) -> str:
    """Return ``text`` with its control characters escaped for a terminal.

    Newlines and the like become ``\n``, other controls and DEL an octal
    escape (``\033``), C1 controls the octal escapes of their UTF-8 bytes,
    and a byte of a file name that is not UTF-8 (decoded by Python as a
    lone surrogate) the octal escape of that byte. Tabs are kept.
    """
    return _CONTROL.sub(_escape, text)


def escape_surrogates(text: str) -> str:
    """Return ``text`` with only its lone surrogates escaped, as :func:`shown` does.

    A byte of a file name that is not UTF-8 becomes the four characters
    ``\377``; other text, control characters included, is left as it is.
    For formats that escape controls themselves (TOML) but have no way to
    write such a byte.
    """
    return _SURROGATE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's stand-in for a raw byte
        return f"\\{code - 0xDC00:03o}"
    if code >= 0xD800:
        return f"\\u{code:04x}"
    return "".join(f"\\{byte:03o}" for byte in char.encode("utf-8"))


def quoted(value: object) -> str:
    """Return a string in single quotes, its control characters escaped.

    ``quoted("a\\x1bb")`` is ``'a\\033b'``: the quoting of every message,
    the escaping of :func:`shown`. A value that is no string (a number, a
    list from a configuration file) is shown as Python writes it.
    """
    if isinstance(value, str):
        return f"'{shown(value)}'"
    return shown(repr(value))
