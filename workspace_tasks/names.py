"""Check user, infra and extension names before they become paths."""

from __future__ import annotations

import re

from workspace_tasks.errors import InvalidName

MAX_NAME_LENGTH = 64
_NAME = re.compile(r"[a-z0-9_][a-z0-9._-]*")


def check_name(value: str | None, flag: str) -> str:
    """Return ``value`` when it is a safe single path component.

    Allowed are lowercase letters, digits, ``-``, ``_`` and ``.``, at most 64
    characters; the first is a letter, a digit or ``_`` (a leading ``-`` would
    read as a flag, a leading ``.`` as a hidden file).

    Raises:
        InvalidName: naming ``flag`` and the bad value.
    """
    if value is None or value == "":
        raise InvalidName(f"{flag}: the name is empty; use e.g. 'dev' or 'ci_runner'")
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidName(
            f"{flag}: {value[:20]!r}... is {len(value)} characters long; "
            f"the limit is {MAX_NAME_LENGTH}"
        )
    if not _NAME.fullmatch(value):
        raise InvalidName(
            f"{flag}: {value!r} is not a valid name; use lowercase letters, "
            "digits, '-', '_' and '.' ('-' and '.' not first)"
        )
    return value
