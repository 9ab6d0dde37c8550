"""Helpers shared by the command families: finding the workspace, printing."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from workspace_tasks import output
from workspace_tasks.context import Workspace


def open_workspace(
    args: argparse.Namespace,
    *,
    must_exist: bool = True,
    user_flag: str = "--workspace-user",
    existing_user: bool = True,
    known_user: bool = False,
) -> Workspace:
    """Find the workspace and user the flags name, and start the user's log.

    By default the user must already have areas in the workspace: a command
    working on them refuses a mistyped name instead of creating its areas.
    Commands that create a user's areas, or only read shared ones, pass
    ``existing_user=False``; commands creating something in the user's
    areas pass ``known_user=True``: the name must be a user's (one whose
    ``init`` is recorded), never a name areas were once left under.
    """
    from workspace_tasks import logsetup
    from workspace_tasks.edge import current_workspace

    ws = current_workspace(
        getattr(args, "root", None),
        getattr(args, "user", None),
        user_flag=user_flag,
        must_exist=must_exist,
        existing_user=existing_user,
        known_user=known_user,
    )
    from workspace_tasks.logfiles import log_limits

    max_bytes, max_files = log_limits(ws, strict=False)
    logsetup.attach_user_log(ws.log_file, max_bytes, max_files, root=ws.root)
    return ws


def show(args: argparse.Namespace, result: Any, text: Callable[[Any], None]) -> None:
    """Print ``result`` as JSON when asked, else with the ``text`` renderer."""
    if getattr(args, "format", "text") == "json":
        data = result.to_dict() if hasattr(result, "to_dict") else result
        output.print_json(data)
    else:
        text(result)
