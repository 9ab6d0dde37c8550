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
from workspace_tasks.errors import UsageError

log = logging.getLogger(__name__)

_MEMO: dict[tuple[str, str, str, str, int, bool], dict[str, Any]] = {}
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


def without_broken_layers(ws: Workspace) -> tuple[Workspace, list[str]]:
    """Return ``ws`` reading its settings without the layers that do not parse.

    For the commands that must work to repair a broken configuration
    (backup, restore, reset): the broken layers are left out, as if they
    did not exist, and the rest (the defaults) is used. Returns the
    workspace and one warning per broken layer, naming its file, line and
    column; ``ws`` itself when every layer parses.
    """
    from dataclasses import replace

    from workspace_tasks.cascade import broken_layers

    broken = broken_layers(ws)
    if not broken:
        return ws, []
    warnings = [
        f"{exc}; going on with the settings of the other layers, without this file's"
        for exc in broken
    ]
    return replace(ws, lenient_config=True), warnings


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
    signature = cascade_signature(ws)
    key = (str(ws.root), ws.user, ws.type, signature, environ, ws.lenient_config)
    values = _MEMO.get(key)
    if values is None:
        values = read_cached(ws)
        if values is None:
            values = load_cascade(ws, skip_broken=ws.lenient_config).values
        if len(_MEMO) >= _MEMO_SIZE:
            _MEMO.clear()
        _MEMO[key] = values
    return values


# Typed settings: a value of the wrong kind is bad input naming the key and
# the file (line and column) that set it.


def int_setting(ws: Workspace, dotted: str, default: int = 0) -> int:
    """Return a whole number of 0 or more (``default`` when unset).

    Raises:
        UsageError: the value is not one, naming the key and where it is set.
    """
    value = setting(ws, dotted, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise bad_setting(ws, dotted, value, "is not a whole number of 0 or more")
    return value


def bool_setting(ws: Workspace, dotted: str, default: bool = False) -> bool:
    """Return ``true`` or ``false`` (``default`` when unset).

    Raises:
        UsageError: the value is not a boolean, naming the key and its file.
    """
    value = setting(ws, dotted, default)
    if not isinstance(value, bool):
        raise bad_setting(ws, dotted, value, "is not true or false")
    return value


def text_setting(ws: Workspace, dotted: str) -> str:
    """Return a string setting, "" when unset.

    Raises:
        UsageError: the value is not a string, naming the key and its file.
    """
    value = setting(ws, dotted, "")
    if not isinstance(value, str):
        raise bad_setting(ws, dotted, value, "is not a string")
    return value


def texts_setting(ws: Workspace, dotted: str) -> list[str]:
    """Return a list of strings, empty when unset.

    Raises:
        UsageError: the value is not a list of strings, naming the key.
    """
    value = setting(ws, dotted, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad_setting(ws, dotted, value, "is not a list of strings")
    return value


def choice_setting(
    ws: Workspace, dotted: str, choices: tuple[str, ...], default: str
) -> str:
    """Return one of ``choices`` (``default`` when unset).

    Raises:
        UsageError: any other value, naming the key, its file and the choices.
    """
    value = setting(ws, dotted, default)
    if value not in choices:
        raise bad_setting(ws, dotted, value, f"is not one of {', '.join(choices)}")
    return value


def age_setting(ws: Workspace, dotted: str) -> float | None:
    """Return an age such as ``"7d"`` in seconds; None when unset (or "").

    Raises:
        UsageError: the value is not an age, naming the key and its file.
    """
    from workspace_tasks.units import parse_age

    value = setting(ws, dotted, "")
    if value == "":
        return None
    try:
        return parse_age(value if isinstance(value, str) else "", label(dotted))
    except UsageError:
        problem = "is not an age; use a number and one of s, m, h, d, w (e.g. 30d)"
        raise bad_setting(ws, dotted, value, problem) from None


def label(dotted: str) -> str:
    """Return how messages name a key: ``[backup] keep_last``."""
    section, _, name = dotted.rpartition(".")
    return f"[{section}] {name}" if section else name


def bad_setting(ws: Workspace, dotted: str, value: Any, problem: str) -> UsageError:
    """Return the error for a bad value: ``file:line:column: [a] b: 'x' problem``.

    The place is the layer that set the key, found only now that it is
    needed; a value from no file (a default) is named by its key alone.
    """
    from workspace_tasks.cascade import load_cascade
    from workspace_tasks.problems import Problem

    message = f"{label(dotted)}: {value!r} {problem}"
    key = tuple(dotted.split("."))
    try:
        found = load_cascade(ws, skip_broken=ws.lenient_config).settings.get(key)
    except UsageError:
        found = None
    if found is None:
        return UsageError(message)
    line, column = found.layer.position(key)
    return UsageError(str(Problem(message, found.layer.source, line, column)))
