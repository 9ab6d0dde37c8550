"""Workspace health: six component checks, repairs, and the JSON report.

Components: directories, configuration, runtime, extensions, resources and
integration with the core. See :func:`check_workspace_health`.

The names below load their module when first used, so that a part of the
package (the report model, for ``doit health``'s task list) comes without
every check.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "COMPONENT_CHECKS": "checkup",
    "check_component": "checkup",
    "check_runtime_health": "checkup",
    "check_workspace_health": "checkup",
    "validate_paths": "checkup",
    "ComponentResult": "model",
    "HealthReport": "model",
    "latest_report": "model",
    "save_report": "model",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
