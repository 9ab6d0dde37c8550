"""Find the workspace and the user from the process's environment.

The only module, with the command line, that reads ``os.environ`` and the
current directory; it hands a :class:`~workspace_tasks.context.Workspace` to
everything else.
"""

from __future__ import annotations

import os
from pathlib import Path

from workspace_tasks.context import Workspace, locate


def current_workspace(
    root: str | None = None,
    user: str | None = None,
    *,
    user_flag: str = "--workspace-user",
    must_exist: bool = True,
) -> Workspace:
    """Return the workspace for this process: flags, then environment, then cwd."""
    return locate(
        root=root,
        user=user,
        environ=dict(os.environ),
        cwd=Path.cwd(),
        user_flag=user_flag,
        must_exist=must_exist,
    )


def workspace_at(root: Path, user: str | None = None) -> Workspace:
    """Return the workspace at ``root`` for ``user`` (or the environment's user)."""
    return current_workspace(str(root), user)
