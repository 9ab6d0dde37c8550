"""Provider entry points: plan servers from infra settings, render, prepare requests.

The provider does not call its API itself: it renders definitions and
prepares the requests the orchestrator sends, so a dry run and a real run
share every step but the last.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from typing import Any

from workspace_tasks.manifest import load_manifest
from workspace_tasks.template_plugins import environment

from . import EXTENSION_DIR
from .auth import credentials_from
from .servers import ServerSpec, server_from_settings


def settings() -> dict[str, Any]:
    """Return the provider's own table of ``extension.toml``."""
    with (EXTENSION_DIR / "extension.toml").open("rb") as handle:
        return tomllib.load(handle)["provider"]


def plan_servers(infra_settings: Mapping[str, Any]) -> list[ServerSpec]:
    """Return the specs of every server of an infrastructure's settings."""
    manifest = load_manifest(EXTENSION_DIR)
    limits = settings()
    return [
        server_from_settings(
            entry, manifest.defaults, zones=limits["zones"], plans=limits["plans"]
        )
        for entry in infra_settings.get("servers", [])
    ]


def render(template: str, variables: Mapping[str, Any] | None = None) -> str:
    """Render ``templates/<template>`` over the manifest's defaults."""
    manifest = load_manifest(EXTENSION_DIR)
    env = environment(EXTENSION_DIR, manifest)
    context = {**manifest.defaults, **(variables or {})}
    return env.get_template(template).render(**context)


def render_server(spec: ServerSpec) -> str:
    """Render the definition of one server."""
    return render("server.j2", spec.variables())


def render_network(variables: Mapping[str, Any] | None = None) -> str:
    """Render the private network definition."""
    return render("network.j2", variables)


def create_server(
    spec: ServerSpec, environ: Mapping[str, str], *, dry_run: bool = True
) -> dict[str, Any]:
    """Return the creation of ``spec``: its definition and, unless dry, the request.

    Raises:
        MissingCredentials: a real run without an API token.
    """
    definition = render_server(spec)
    step: dict[str, Any] = {"action": "create-server", "hostname": spec.hostname}
    step["definition"] = definition
    if dry_run:
        return step
    credentials = credentials_from(environ, settings()["api_url"])
    step["request"] = {
        "method": "POST",
        "url": f"{credentials.endpoint}/servers",
        "headers": {**credentials.headers(), "Content-Type": "application/json"},
        "body": json.dumps(tomllib.loads(definition)["server"], sort_keys=True),
    }
    return step
