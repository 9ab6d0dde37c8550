"""``doit health``: the health check in parts, skipping what did not change.

``health:configuration`` and ``health:extensions`` depend on the files they
read and are skipped while those are unchanged; the directories, runtime,
resources and integration parts measure a changing world and always run.
``health:report`` joins the parts into ``runtime/state/<user>/health.json``
and fails when the workspace is not healthy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from workspace_tasks import output
from workspace_tasks.context import Workspace
from workspace_tasks.health.model import COMPONENTS, report_path
from workspace_tasks.health.parts import (
    FILE_BOUND,
    assemble_report,
    part_inputs,
    part_path,
    record_part,
)
from workspace_tasks.taskdefs import reported
from workspace_tasks.units import format_elapsed


@reported
def run_part(ws: Workspace, name: str, surveys: dict) -> dict:
    """Check one component and keep its result (the report shows it)."""
    return {"status": record_part(ws, name, surveys).status}


@reported
def run_report(ws: Workspace) -> bool:
    """Write the report; print each part's verdict and age; False if unhealthy."""
    report = assemble_report(ws)
    now = datetime.now(UTC)
    for component in report.components:
        output.print_line(
            f"{component.name}: {component.status} (measured "
            f"{component.checked_at}, {measured_ago(component.checked_at, now)})"
        )
        output.print_lines(f"  {issue}" for issue in component.issues)
    output.print_lines(f"advice: {line}" for line in report.recommendations)
    output.print_line(f"overall: {report.overall_status}, written to {report_path(ws)}")
    return report.overall_status == "healthy"


def measured_ago(checked_at: str, now: datetime) -> str:
    """Return how long before ``now`` a part was measured: ``5s ago``, ``2d ago``."""
    try:
        then = datetime.strptime(checked_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "age unknown"
    seconds = (now - then).total_seconds()
    if seconds < 0:
        return "in the future"
    return f"{format_elapsed(seconds)} ago"


def creators(ws: Workspace) -> dict[str, Callable[[], Iterator[dict]]]:
    """Return the health task bound to ``ws``."""
    from doit.tools import config_changed

    # The parts of one run share one walk of the workspace.
    surveys: dict = {}

    def task_health() -> Iterator[dict]:
        """Check the workspace's health in parts; write the user's health.json."""
        for name in COMPONENTS:
            task = {
                "name": name,
                "actions": [(run_part, [ws, name, surveys])],
                "targets": [part_path(ws, name)],
                "verbosity": 2,
            }
            if name in FILE_BOUND:
                files, expected = part_inputs(ws, name)
                task["file_dep"] = files
                task["uptodate"] = [config_changed({"expected": expected})]
            else:
                task["uptodate"] = [False]
            yield task
        yield {
            "name": "report",
            "actions": [(run_report, [ws])],
            "task_dep": [f"health:{name}" for name in COMPONENTS],
            "targets": [report_path(ws)],
            "uptodate": [False],
            "verbosity": 2,
        }

    return {"task_health": task_health}
