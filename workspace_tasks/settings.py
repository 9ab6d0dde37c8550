"""Read the user's effective configuration (the merged cascade) as a dict.

Other modules ask here for settings (thresholds, retention, recipients) so
that they do not know how the layers are found or merged.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from workspace_tasks.context import Workspace


def _load(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        return {}


def _merge(low: dict[str, Any], high: dict[str, Any]) -> dict[str, Any]:
    merged = dict(low)
    for key, value in high.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def effective_config(ws: Workspace) -> dict[str, Any]:
    """Return the merged configuration of ``ws``'s user (lowest layer first)."""
    merged: dict[str, Any] = {}
    layers = [ws.core_defaults, ws.workspace_defaults, ws.env_defaults, ws.user_config]
    for layer in dict.fromkeys(layers):
        merged = _merge(merged, _load(layer))
    return merged


def setting(ws: Workspace, dotted: str, default: Any = None) -> Any:
    """Return one value of the effective configuration, e.g. ``"cache.ttl"``."""
    node: Any = effective_config(ws)
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node
