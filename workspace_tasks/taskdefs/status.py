"""``doit status``: write the user's status report to ``runtime/state``."""

from __future__ import annotations

import json
from collections.abc import Callable

from workspace_tasks import output, safefs
from workspace_tasks.context import Workspace
from workspace_tasks.taskdefs import reported


@reported
def write_status(ws: Workspace) -> dict:
    """Write ``runtime/state/<user>/status.json``; return the report."""
    from workspace_tasks.inventory import workspace_status
    from workspace_tasks.runtime import ensure_user_dir

    report = workspace_status(ws, detailed=True).to_dict()
    target = ws.state_dir / "status.json"
    ensure_user_dir(ws, target.parent)
    text = json.dumps(output.json_safe(report), indent=2) + "\n"
    safefs.atomic_write(target, text, root=ws.root)
    output.print_line(f"status of {ws.user} written to {target}")
    return {"overall": "written"}


def creators(ws: Workspace) -> dict[str, Callable[[], dict]]:
    """Return the status task bound to ``ws``."""

    def task_status() -> dict:
        """Write the user's workspace status to runtime/state/<user>/status.json."""
        return {
            "actions": [(write_status, [ws])],
            "file_dep": [ws.marker, ws.settings_file, ws.manifest],
            "targets": [ws.state_dir / "status.json"],
            "clean": True,
        }

    return {"task_status": task_status}
