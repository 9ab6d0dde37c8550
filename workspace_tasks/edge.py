"""Find the workspace and the user from the process's environment.

The only module, with the command line, that reads ``os.environ`` and the
current directory; it hands a :class:`~workspace_tasks.context.Workspace` to
everything else.
"""

from __future__ import annotations

import os
from pathlib import Path

from workspace_tasks.context import Workspace, expand_home, locate
from workspace_tasks.errors import UsageError


def current_workspace(
    root: str | None = None,
    user: str | None = None,
    *,
    user_flag: str = "--workspace-user",
    must_exist: bool = True,
    existing_user: bool = False,
    known_user: bool = False,
) -> Workspace:
    """Return the workspace for this process: flags, then environment, then cwd.

    With ``existing_user``, a user without any area in it is refused; with
    ``known_user``, a name that is no user of it (see
    :func:`~workspace_tasks.context.require_user`).
    """
    environ = dict(os.environ)
    given = root or environ.get("PROVISIONING_WORKSPACE_ROOT")
    place = expand_home(given, environ) if given else None
    if place is not None and place.is_absolute():
        # An absolute --root or PROVISIONING_WORKSPACE_ROOT needs no current
        # folder, even a removed one.
        cwd = _cwd_or_none() or place
    else:
        cwd = current_folder()
    return locate(
        root=root,
        user=user,
        environ=environ,
        cwd=cwd,
        user_flag=user_flag,
        must_exist=must_exist,
        existing_user=existing_user,
        known_user=known_user,
    )


def current_folder() -> Path:
    """Return the current folder, or say clearly (exit 2) that it was removed."""
    folder = _cwd_or_none()
    if folder is None:
        raise UsageError(
            "the current folder no longer exists (it was removed); "
            "change to an existing folder and run the command again"
        )
    return folder


def _cwd_or_none() -> Path | None:
    try:
        return Path.cwd()
    except FileNotFoundError:
        return None


def workspace_at(root: Path, user: str | None = None) -> Workspace:
    """Return the workspace at ``root`` for ``user`` (or the environment's user)."""
    return current_workspace(str(root), user)
