"""Check user, infra and extension names before they become paths."""

from __future__ import annotations

import re

from workspace_tasks.errors import InvalidName
from workspace_tasks.text import quoted

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
            f"{flag}: {quoted(value[:20])}... is {len(value)} characters long; "
            f"the limit is {MAX_NAME_LENGTH}"
        )
    if not _NAME.fullmatch(value):
        raise InvalidName(
            f"{flag}: {quoted(value)} is not a valid name; use lowercase letters, "
            "digits, '-', '_' and '.' ('-' and '.' not first)"
        )
    return value


# A user's own areas sit beside shared ones: extensions/<kind>/<user> beside
# extensions/<kind>/template, infra/<user> beside infra/examples and
# infra/local, config/<user>.toml beside the shared defaults files. A user
# with one of these names would take the shared folder or file for their own.
RESERVED_USER_NAMES = {
    "template": "extensions/<kind>/template holds the shared extension templates",
    "examples": "infra/examples holds the example infrastructures",
    "local": "infra/local holds the shared local infrastructures",
    "dev-defaults": "config/dev-defaults.toml is a shared defaults file",
    "test-defaults": "config/test-defaults.toml is a shared defaults file",
    "prod-defaults": "config/prod-defaults.toml is a shared defaults file",
    "local-overrides": "config/local-overrides.toml holds the local overrides",
}


def check_user_name(value: str | None, flag: str) -> str:
    """Return ``value`` when it is a valid name that a user may take.

    As :func:`check_name`, and not one of :data:`RESERVED_USER_NAMES`, the
    names of shared folders and files that lie where a user's own would.

    Raises:
        InvalidName: naming ``flag``, the bad value and, if reserved, why.
    """
    value = check_name(value, flag)
    why = RESERVED_USER_NAMES.get(value)
    if why:
        raise InvalidName(
            f"{flag}: {quoted(value)} is reserved ({why}); choose another user name"
        )
    return value
