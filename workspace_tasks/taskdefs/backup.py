"""``doit backup``: an automatic backup when the interval passed and files changed.

The decision (interval from ``[development] backup_interval``, changes since
the last backup) is the library's; the task prints what it decided and why.
"""

from __future__ import annotations

from collections.abc import Callable

from workspace_tasks.context import Workspace
from workspace_tasks.taskdefs import reported


@reported
def run_auto_backup(ws: Workspace) -> dict:
    """Make a backup if one is due; print the decision; return it for doit."""
    from workspace_tasks import output
    from workspace_tasks.backup import auto_backup

    result = auto_backup(ws)
    if result.backup is not None:
        output.print_line(
            f"backup {result.backup.name} written to {result.backup.path}"
        )
        for path in result.backup.skipped:
            output.warn(f"skipped {path}: not a file, folder or link")
        for warning in result.backup.warnings:
            output.warn(warning)
    else:
        output.print_line(f"no backup made: {result.reason}")
    return {"made": result.made, "reason": result.reason}


def creators(ws: Workspace) -> dict[str, Callable[[], dict]]:
    """Return the backup task bound to ``ws``."""

    def task_backup() -> dict:
        """Back up the workspace when backup_interval passed and files changed."""
        return {
            "actions": [(run_auto_backup, [ws])],
            "uptodate": [False],
            "verbosity": 2,
        }

    return {"task_backup": task_backup}
