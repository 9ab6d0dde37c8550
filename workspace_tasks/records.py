"""The workspace's record of what ``init`` wrote and chose, per user.

``.provisioning-generated.json`` at the workspace top holds two tables:
``files``, the digest of every file ``init`` last wrote (so ``--overwrite``
tells a file the user changed from one it generated), and ``users``, what
each user's ``init`` chose (type, infra, template, its folder, when the
user was created). The users recorded there are the workspace's users even
when a user's ``settings.toml`` is lost, and their choices are how a lost
``settings.toml`` is made again as it was.

A record written before the ``users`` table existed is a flat mapping of
paths to digests; it is read as the ``files`` table with no users.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workspace_tasks import safefs
from workspace_tasks.errors import UsageError

RECORD_NAME = ".provisioning-generated.json"
# The choices kept for each user, as settings.toml's [workspace] names them.
USER_KEYS = ("type", "infra_name", "template", "template_dir", "created")


@dataclass
class Record:
    """The two tables of the record: generated files and users' choices."""

    files: dict[str, str] = field(default_factory=dict)
    users: dict[str, dict[str, str]] = field(default_factory=dict)

    def to_json(self) -> str:
        """Return the record as the file holds it."""
        data = {"files": self.files, "users": self.users}
        return json.dumps(data, indent=1, sort_keys=True) + "\n"


def read_record(root: Path) -> Record:
    """Return the record of the workspace at ``root`` (empty when unreadable)."""
    try:
        data = json.loads(safefs.read_regular(Path(root) / RECORD_NAME))
    except (OSError, ValueError, UsageError):
        return Record()
    if not isinstance(data, dict):
        return Record()
    if not isinstance(data.get("files"), dict):
        # The flat form: every entry a path and its digest.
        return Record(files=_strings(data))
    users = data.get("users")
    return Record(
        files=_strings(data["files"]),
        users={
            str(name): _choices(choices)
            for name, choices in (users.items() if isinstance(users, dict) else ())
            if isinstance(choices, dict)
        },
    )


def _strings(table: dict[Any, Any]) -> dict[str, str]:
    return {str(k): v for k, v in table.items() if isinstance(v, str)}


def _choices(table: dict[Any, Any]) -> dict[str, str]:
    return {k: v for k, v in table.items() if k in USER_KEYS and isinstance(v, str)}
