"""Removal plan: stop the service, remove its unit and configuration."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .install import Step
from .taskserv import variables


def uninstall_plan(
    overrides: Mapping[str, Any] | None = None, *, purge: bool = False
) -> list[Step]:
    """Return the steps that remove the service; ``purge`` removes its data too."""
    values = variables(overrides)
    name = values["service_name"]
    steps = [
        Step("run", command=("systemctl", "disable", "--now", name)),
        Step("remove", path=f"/etc/systemd/system/{name}.service"),
        Step("remove", path=values["config_dir"]),
        Step("run", command=("systemctl", "daemon-reload")),
    ]
    if purge:
        steps.append(Step("remove", path=values["data_dir"]))
    return steps
