"""How cleanups are shown and confirmed: plans, results, the question asked.

Shared by ``workspace runtime cleanup``, ``runtime cache`` and
``workspace cleanup``, which all build a plan with the cleanup engine.
"""

from __future__ import annotations

import sys

from workspace_tasks import output
from workspace_tasks.errors import UsageError


def require_terminal(command: str) -> None:
    """Refuse to ask when standard input is not a terminal (one line, exit 2)."""
    if not sys.stdin.isatty():
        raise UsageError(
            f"{command} asks before removing and standard input is not a terminal; "
            "pass --force to remove without asking or --dry-run to only list"
        )


def spare_current_folder(plan) -> None:
    """Leave out of ``plan`` the folders holding the current folder."""
    from workspace_tasks.cleanup import spare_folders
    from workspace_tasks.edge import current_folder

    spare_folders(plan, [current_folder()])


def confirm(plan, rotations: list) -> bool:
    """Show the plan and ask; True only for an explicit yes."""
    print_plan({**plan.to_dict(), "would_rotate": rotations})
    if not plan.removals and not rotations:
        return False
    output.note(f"Remove {plan.files} files ({output.human_size(plan.bytes_to_free)})?")
    try:
        answer = input("[y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def execute_with_progress(plan):
    """Run a cleanup plan, with a progress bar when standard error is a terminal."""
    from workspace_tasks.cleanup import execute_plan

    if not output.stderr_is_terminal() or len(plan.removals) < 1000:
        return execute_plan(plan)
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("removing", total=len(plan.removals))
        return execute_plan(plan, lambda done: bar.update(task, completed=done))


def print_plan(plan: dict) -> None:
    """Print a plan: each removal, rotation and skip, then the bytes it frees."""
    output.print_lines(
        f"would remove {item['path']} "
        f"({output.human_size(item['size'])}; {item['reason']})"
        for item in plan["removals"]
    )
    for item in plan.get("would_rotate", []):
        size = output.human_size(item["size"])
        output.print_line(f"would rotate {item['path']} ({size})")
    for item in plan["skipped"]:
        output.print_line(f"skip {item['path']}: {item['reason']}")
    output.print_line(
        f"{plan['files']} files, {output.human_size(plan['bytes_to_free'])} "
        f"would be freed ({plan['bytes_to_free']} bytes)"
    )


def print_result(result: dict) -> None:
    """Print what a cleanup removed and skipped, and the bytes freed."""
    output.print_lines(
        f"removed {item['path']} ({item['reason']})" for item in result["removed"]
    )
    output.print_lines(
        f"skipped {item['path']}: {item['reason']}" for item in result["skipped"]
    )
    for item in result.get("rotated", []):
        output.print_line(f"rotated {item['path']} to {item['rotated_to']}")
    output.print_line(
        f"{result['files_removed']} files removed, "
        f"{output.human_size(result['bytes_freed'])} freed "
        f"({result['bytes_freed']} bytes)"
    )
