"""Render the service's files over the defaults of its manifest."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workspace_tasks.manifest import load_manifest
from workspace_tasks.template_plugins import environment

from . import EXTENSION_DIR

TEMPLATES = ("config.j2", "systemd.j2", "compose.j2")


def variables(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Return the template variables: the defaults under ``overrides``."""
    return {**load_manifest(EXTENSION_DIR).defaults, **(overrides or {})}


def render(template: str, overrides: Mapping[str, Any] | None = None) -> str:
    """Render ``templates/<template>``."""
    env = environment(EXTENSION_DIR, load_manifest(EXTENSION_DIR))
    return env.get_template(template).render(**variables(overrides))


def render_all(overrides: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Render every template; keys are the template names."""
    return {name: render(name, overrides) for name in TEMPLATES}
