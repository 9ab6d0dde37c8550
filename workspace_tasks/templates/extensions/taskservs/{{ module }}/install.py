"""Installation plan: the files to write and the commands to run, in order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .taskserv import render, variables


@dataclass(frozen=True)
class Step:
    """Write ``content`` to ``path``, or run ``command``."""

    action: str
    path: str = ""
    content: str = ""
    command: tuple[str, ...] = ()


def install_plan(overrides: Mapping[str, Any] | None = None) -> list[Step]:
    """Return the steps that install the service on a host."""
    values = variables(overrides)
    unit = f"/etc/systemd/system/{values['service_name']}.service"
    return [
        Step(
            "write", f"{values['config_dir']}/config.toml", render("config.j2", values)
        ),
        Step("write", unit, render("systemd.j2", values)),
        Step("run", command=("systemctl", "daemon-reload")),
        Step("run", command=("systemctl", "enable", "--now", values["service_name"])),
    ]


def write_files(steps: list[Step], root: Path) -> list[Path]:
    """Write the plan's files under ``root`` (a staging tree); return them."""
    written = []
    for step in steps:
        if step.action != "write":
            continue
        target = root / step.path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(step.content, encoding="utf-8")
        written.append(target)
    return written
