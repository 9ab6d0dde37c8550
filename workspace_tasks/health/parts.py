"""Health checked in parts, for ``doit health``: one file per component.

Each component's result is kept in ``runtime/state/<user>/health/<name>.json``
with when it was measured; :func:`assemble_report` joins the latest parts
into the report at ``runtime/state/<user>/health.json``. The configuration
and extension parts list the files they read (:func:`part_inputs`), so a
task runner can skip them while those files are unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from workspace_tasks import safefs
from workspace_tasks.context import Workspace
from workspace_tasks.errors import UsageError
from workspace_tasks.health.model import (
    COMPONENTS,
    ComponentResult,
    HealthReport,
    save_report,
)

if TYPE_CHECKING:
    from workspace_tasks.health.survey import Survey

# Parts whose result depends only on the files they read.
FILE_BOUND = ("configuration", "extensions")


def parts_dir(ws: Workspace) -> Path:
    """Return the folder holding the latest result of each component."""
    return ws.state_dir / "health"


def part_path(ws: Workspace, name: str) -> Path:
    """Return the file holding component ``name``'s latest result."""
    return parts_dir(ws) / f"{name}.json"


def part_inputs(ws: Workspace, name: str) -> tuple[list[Path], list[str]]:
    """Return the files part ``name`` reads, and what it expects to exist.

    The second list names the files and extensions looked for, present or
    not, so that one appearing or disappearing makes the part run again;
    for the configuration it also holds what ``doit config`` counts besides
    the files (:func:`~workspace_tasks.cascade.freshness_inputs`): the
    values of the environment variables the references read and the git
    revision, so the part runs again when they change.
    """
    if name == "configuration":
        from workspace_tasks.cascade import cascade_signature, freshness_inputs
        from workspace_tasks.health.configuration import config_layers, required_files

        defaults = sorted(ws.config_dir.glob("*-defaults.toml"))
        schema = ws.core_config_dir / "config.schema.json"
        files = [*config_layers(ws), *required_files(ws), *defaults, schema]
        layers = list(dict.fromkeys(files))
        present = [p for p in layers if p.is_file()]
        signature = cascade_signature(ws, freshness_inputs(ws))
        return present, [f"{p}:{p in present}" for p in layers] + [signature]
    if name == "extensions":
        from workspace_tasks.extension_files import list_files
        from workspace_tasks.health.extensions import workspace_extensions

        extensions = workspace_extensions(ws)
        files = [f for e in extensions for f in list_files(e.path)]
        names = [f"{e.kind}/{e.name}:{e.origin}" for e in extensions]
        return files, names + [str(f) for f in files]
    return [], []


def record_part(
    ws: Workspace, name: str, surveys: dict[str, Survey] | None = None
) -> ComponentResult:
    """Check component ``name`` (no repairs) and keep its result.

    ``surveys``, kept by the caller across the parts of one run, holds the
    walk of the workspace once a part made it, for the others to share.
    """
    from workspace_tasks.health.checkup import SURVEYED, check_component
    from workspace_tasks.health.survey import survey_workspace
    from workspace_tasks.runtime import ensure_user_dir

    survey = None
    if surveys is not None and name in SURVEYED:
        if "workspace" not in surveys:
            surveys["workspace"] = survey_workspace(ws)
        survey = surveys["workspace"]
    result = check_component(ws, name, survey=survey)
    data = result.to_dict(detailed=True)
    data["recommendations"] = result.recommendations
    ensure_user_dir(ws, parts_dir(ws))
    text = json.dumps(data, indent=2) + "\n"
    safefs.atomic_write(part_path(ws, name), text, root=ws.root)
    return result


def assemble_report(ws: Workspace) -> HealthReport:
    """Join the latest part of every component into the report and save it.

    A component with no recorded part is checked now.
    """
    components = []
    for name in COMPONENTS:
        try:
            data = json.loads(safefs.read_regular(part_path(ws, name)))
            components.append(ComponentResult.from_dict(name, data))
        except (OSError, ValueError, TypeError, UsageError):
            components.append(record_part(ws, name))
    report = HealthReport(ws.user, components)
    save_report(ws, report)
    return report
