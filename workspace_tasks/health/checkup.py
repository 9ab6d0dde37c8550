"""Run the health checks: one component, or all six into a report.

``check_workspace_health`` walks the workspace once and hands that survey to
the components that need it, walking again only after repairs changed the
tree. Each component also runs on its own (``COMPONENT_CHECKS``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from workspace_tasks.context import Workspace, require_areas
from workspace_tasks.health.configuration import check_configuration
from workspace_tasks.health.directories import check_directories
from workspace_tasks.health.extensions import check_extensions
from workspace_tasks.health.integration import check_integration
from workspace_tasks.health.model import ComponentResult, HealthReport
from workspace_tasks.health.resources import check_resources
from workspace_tasks.health.runtime import check_runtime
from workspace_tasks.health.survey import Survey, survey_workspace

log = logging.getLogger(__name__)

COMPONENT_CHECKS: dict[str, Callable[[Workspace, bool], ComponentResult]] = {
    "directories": check_directories,
    "configuration": check_configuration,
    "runtime": check_runtime,
    "extensions": check_extensions,
    "resources": check_resources,
    "integration": check_integration,
}


# The components that read the walk of the workspace.
SURVEYED = ("directories", "runtime", "resources")


def check_component(
    ws: Workspace, name: str, fix: bool = False, survey: Survey | None = None
) -> ComponentResult:
    """Run the check of component ``name`` alone.

    ``survey``, a walk of ``ws`` already made (see :data:`SURVEYED`), spares
    the component its own.
    """
    require_areas(ws)
    if survey is not None and name in SURVEYED:
        return _SURVEYED_CHECKS[name](ws, fix, survey)
    return COMPONENT_CHECKS[name](ws, fix)


_SURVEYED_CHECKS: dict[str, Callable[[Workspace, bool, Survey], ComponentResult]] = {
    "directories": check_directories,
    "runtime": check_runtime,
    "resources": check_resources,
}


def check_workspace_health(
    ws: Workspace, *, fix_issues: bool = False, detailed: bool = False
) -> HealthReport:
    """Check all six components of ``ws`` for its user; repair when asked.

    Args:
        ws: the workspace and user.
        fix_issues: repair what can be repaired safely (listed under
            ``auto_fixed``); the rest stays reported.
        detailed: keep each component's details and structured problems.

    Raises:
        NotFoundError: the user has nothing in this workspace.
    """
    require_areas(ws)
    survey = survey_workspace(ws)
    directories = check_directories(ws, fix_issues, survey)
    if directories.auto_fixed:
        survey = survey_workspace(ws)
    configuration = check_configuration(ws, fix_issues)
    runtime = check_runtime(ws, fix_issues, survey)
    if runtime.auto_fixed:
        survey = survey_workspace(ws)
    components = [
        directories,
        configuration,
        runtime,
        check_extensions(ws, fix_issues),
        check_resources(ws, fix_issues, survey),
        check_integration(ws, fix_issues),
    ]
    report = HealthReport(ws.user, components, detailed=detailed)
    log.debug("health of %s: %s", ws.user, report.overall_status)
    return report


def validate_paths(ws: Workspace, *, repair_broken: bool = False) -> ComponentResult:
    """Check the folders and links path resolution relies on; repair them."""
    require_areas(ws)
    return check_directories(ws, repair_broken)


def check_runtime_health(ws: Workspace, *, fix_issues: bool = False) -> ComponentResult:
    """Check the user's runtime folders, settings and cache."""
    require_areas(ws)
    return check_runtime(ws, fix_issues)
