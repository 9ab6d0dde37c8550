"""Workspace health: six component checks, repairs, and the JSON report.

Components: directories, configuration, runtime, extensions, resources and
integration with the core. See :func:`check_workspace_health`.
"""

from workspace_tasks.health.checkup import (
    COMPONENT_CHECKS,
    check_component,
    check_runtime_health,
    check_workspace_health,
    validate_paths,
)
from workspace_tasks.health.model import (
    ComponentResult,
    HealthReport,
    latest_report,
    save_report,
)

__all__ = [
    "COMPONENT_CHECKS",
    "ComponentResult",
    "HealthReport",
    "check_component",
    "check_runtime_health",
    "check_workspace_health",
    "latest_report",
    "save_report",
    "validate_paths",
]
