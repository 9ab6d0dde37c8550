"""doit task definitions: library functions with their file dependencies.

``load(root)`` finds the workspace and user once and returns doit's
configuration (state kept per user under ``runtime/state/<user>/``) and the
task creators of every family. The creators hold no logic of their own.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workspace_tasks.context import Workspace

FAMILIES = (
    "workspace_tasks.taskdefs.status",
    "workspace_tasks.taskdefs.config",
    "workspace_tasks.taskdefs.extensions",
    "workspace_tasks.taskdefs.backup",
    "workspace_tasks.taskdefs.health",
)


def reported(action: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a task action so a user's error fails the task in one line.

    A :class:`~workspace_tasks.errors.WorkspaceError` (an invalid layer, a
    missing file) is printed as ``workspace: error: ...`` and the task fails
    without doit's traceback; any other exception is left to doit. An
    action returning False has printed its verdict: the task fails quietly.
    """

    @functools.wraps(action)
    def run(*args: Any, **kwargs: Any) -> Any:
        from doit.exceptions import TaskFailed

        from workspace_tasks import output
        from workspace_tasks.errors import WorkspaceError

        try:
            result = action(*args, **kwargs)
        except WorkspaceError as exc:
            output.error(str(exc))
            # Printed above already: doit reports nothing more.
            return TaskFailed(str(exc), report=False)
        if result is False:
            return TaskFailed(f"{action.__name__} failed", report=False)
        return result

    return run


def task_creators(ws: Workspace) -> dict[str, Callable[[], dict]]:
    """Return ``{"task_<name>": creator}`` for every family, bound to ``ws``.

    Each creator is marked for doit's delayed creation: ``doit health``
    creates the health tasks only, not every family's (scanning the
    extensions, reading the layers), while ``doit list`` still lists them
    all and a target given by its path still finds its task.
    """
    from doit import create_after

    creators: dict[str, Callable[[], dict]] = {}
    for name in FAMILIES:
        creators.update(importlib.import_module(name).creators(ws))
    for creator in creators.values():
        create_after(target_regex=".*")(creator)
    return creators


def doit_config(ws: Workspace) -> dict:
    """Return ``DOIT_CONFIG`` for ``ws``: per-user state, JSON backend."""
    from workspace_tasks.runtime import ensure_user_dir

    ensure_user_dir(ws, ws.state_dir)
    return {
        "dep_file": str(ws.doit_dep_file),
        "backend": "json",
        "default_tasks": ["status"],
        "verbosity": 2,
    }


def load(root: Path | None = None, user: str | None = None) -> tuple[dict, dict]:
    """Return ``(DOIT_CONFIG, tasks)`` for the workspace at or above ``root``."""
    from workspace_tasks import logsetup, output
    from workspace_tasks.edge import current_workspace
    from workspace_tasks.errors import WorkspaceError

    try:
        ws = current_workspace(str(root) if root else None, user)
    except WorkspaceError as exc:
        output.error(str(exc))
        raise SystemExit(exc.exit_code) from None
    import os

    logsetup.setup_stderr(os.environ)
    logsetup.attach_user_log(ws.log_file, root=ws.root)
    return doit_config(ws), task_creators(ws)
