"""Read the user's effective configuration (the merged cascade) as a dict.

Other modules ask here for settings (thresholds, retention, recipients) so
that they do not know how the layers are found or merged. The values are
those of ``workspace config show``: the user's cascade merged and
interpolated, without the override layers. They come from the cache that
``doit config`` writes when it is fresh, else from the layers; either way
they are remembered for the process until a layer file changes.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from workspace_tasks.context import Workspace

log = logging.getLogger(__name__)

_MEMO: dict[tuple[str, str, str, str, int], dict[str, Any]] = {}
_MEMO_SIZE = 16


def effective_config(ws: Workspace) -> dict[str, Any]:
    """Return the merged, interpolated configuration of ``ws``'s user.

    A reference that cannot be expanded stays as written here;
    ``workspace config validate`` reports it. The result is the caller's own
    copy.

    Raises:
        FileSyntaxError: a layer is not valid TOML.
    """
    return copy.deepcopy(_remembered(ws))


def setting(ws: Workspace, dotted: str, default: Any = None) -> Any:
    """Return one value of the effective configuration, e.g. ``"cache.ttl"``."""
    node: Any = _remembered(ws)
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return copy.deepcopy(node)


def _remembered(ws: Workspace) -> dict[str, Any]:
    """Return the process's shared copy of the configuration (never modify it)."""
    from workspace_tasks.cascade import cascade_signature, load_cascade, read_cached

    environ = hash(frozenset(ws.environ.items()))
    key = (str(ws.root), ws.user, ws.type, cascade_signature(ws), environ)
    values = _MEMO.get(key)
    if values is None:
        values = read_cached(ws)
        if values is None:
            values = load_cascade(ws).values
        if len(_MEMO) >= _MEMO_SIZE:
            _MEMO.clear()
        _MEMO[key] = values
    return values
