"""Place the cluster's task services on the servers of an infrastructure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from workspace_tasks.manifest import load_manifest
from workspace_tasks.template_plugins import environment

from . import EXTENSION_DIR


class PlacementError(ValueError):
    """The infrastructure cannot host the cluster."""


def taskservs() -> tuple[str, ...]:
    """Return the cluster's task services, in installation order."""
    return load_manifest(EXTENSION_DIR).taskservs


def placement(servers: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Return, for each task service, the servers that run it.

    A server runs the task services its ``taskservs`` list names.

    Raises:
        PlacementError: a task service of the cluster runs on no server.
    """
    placed = {
        name: [
            str(server["hostname"])
            for server in servers
            if name in server.get("taskservs", ())
        ]
        for name in taskservs()
    }
    missing = sorted(name for name, hosts in placed.items() if not hosts)
    if missing:
        raise PlacementError(f"no server runs {', '.join(missing)}")
    return placed


def render(variables: Mapping[str, Any] | None = None) -> str:
    """Render ``templates/cluster.j2`` over the manifest's defaults."""
    manifest = load_manifest(EXTENSION_DIR)
    env = environment(EXTENSION_DIR, manifest)
    context = {**manifest.defaults, **(variables or {})}
    return env.get_template("cluster.j2").render(**context)
