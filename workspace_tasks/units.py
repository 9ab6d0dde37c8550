"""Parse the ages, durations, sizes and counts users write: ``30d``, ``10MB``.

Numbers are ASCII digits only: Python's ``int`` and ``\\d`` also take other
scripts' digits (``١`` is 1 to them), which no user means in a flag.
Also write an elapsed time back the same way (:func:`format_elapsed`).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from workspace_tasks.errors import UsageError
from workspace_tasks.text import quoted

AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
SIZE_UNITS = {
    "": 1,
    "B": 1,
    "KB": 1024,
    "K": 1024,
    "KIB": 1024,
    "MB": 1024**2,
    "M": 1024**2,
    "MIB": 1024**2,
    "GB": 1024**3,
    "G": 1024**3,
    "GIB": 1024**3,
    "TB": 1024**4,
    "T": 1024**4,
    "TIB": 1024**4,
}
_AGE = re.compile(r"([0-9]+(?:\.[0-9]+)?)([smhdw])")
_SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)?)[ \t]*([A-Za-z]*)")
_COUNT = re.compile(r"[0-9]+")


def parse_age(text: str, flag: str = "--age") -> float:
    """Return seconds for an age such as ``30d`` (units s, m, h, d, w).

    Raises:
        UsageError: naming ``flag`` for ``30x``, ``-1d``, an empty value.
    """
    match = _AGE.fullmatch(str(text).strip())
    if not match:
        raise UsageError(
            f"{flag}: {quoted(text)} is not an age; use a number and one of "
            "s, m, h, d, w "
            "(e.g. 30d)"
        )
    return float(match.group(1)) * AGE_UNITS[match.group(2)]


def parse_size(text: str | int, flag: str = "size") -> int:
    """Return bytes for a size such as ``10MB``, ``1.5GB`` or ``4096``.

    Raises:
        UsageError: naming ``flag`` for a value that is not a size.
    """
    if isinstance(text, int) and not isinstance(text, bool) and text >= 0:
        return text
    match = _SIZE.fullmatch(str(text).strip())
    unit = match.group(2).upper() if match else None
    if not match or unit not in SIZE_UNITS:
        raise UsageError(f"{flag}: {quoted(text)} is not a size; use e.g. 400MB or 1GB")
    return int(float(match.group(1)) * SIZE_UNITS[unit])


def parse_count(text: str | int, flag: str = "count") -> int:
    """Return a whole number of 0 or more written in ASCII digits (``50``).

    Raises:
        UsageError: naming ``flag`` for ``-1``, ``5x``, ``١``, an empty value.
    """
    if isinstance(text, int) and not isinstance(text, bool) and text >= 0:
        return text
    value = str(text).strip(" \t")
    if not _COUNT.fullmatch(value):
        raise UsageError(
            f"{flag}: {text!r} is not a count; use 0 or more in the digits 0-9"
        )
    return int(value)


def count_type(flag: str) -> Callable[[str], int]:
    """Return an argparse ``type`` reading ``flag``'s value with :func:`parse_count`.

    The error is raised as the usage error it is (one line, exit 2), not
    argparse's own message.
    """

    def read(text: str) -> int:
        return parse_count(text, flag)

    return read


def format_elapsed(seconds: float) -> str:
    """Return ``seconds`` in its largest whole unit: ``45s``, ``12m``, ``3h``, ``4d``.

    Weeks are left as days, which read more easily at a glance.
    """
    whole = int(max(seconds, 0))
    for unit in ("d", "h", "m"):
        if whole >= AGE_UNITS[unit]:
            return f"{whole // AGE_UNITS[unit]}{unit}"
    return f"{whole}s"
