"""Check a user's configuration: every layer's syntax and types, and references.

``validate_config`` returns problems with file, line and column:

- a layer that is not valid TOML (error);
- a value of the wrong type for the JSON Schema kept beside the core defaults,
  ``<core>/config/config.schema.json`` (error);
- a section the schema does not know (warning);
- a reference that is cyclic or names nothing (error).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from workspace_tasks import safefs
from workspace_tasks.cascade import (
    Cascade,
    Layer,
    LayerSource,
    builtins_for,
    display_path,
    env_defaults_for,
    environment_layer,
    layer_sources,
    merge_layers,
    read_layer,
)
from workspace_tasks.context import WORKSPACE_TYPES, Workspace
from workspace_tasks.errors import FileSyntaxError, UsageError
from workspace_tasks.interpolation import interpolate
from workspace_tasks.problems import Problem
from workspace_tasks.text import quoted
from workspace_tasks.tomlfile import UnreadableFile

log = logging.getLogger(__name__)

SCHEMA_NAME = "config.schema.json"
SHIPPED_SCHEMA = Path(__file__).resolve().parent / "core" / "config" / SCHEMA_NAME


def schema_path(ws: Workspace) -> Path:
    """Return the JSON Schema of configuration layers for ``ws``."""
    return ws.core_config_dir / SCHEMA_NAME


@functools.lru_cache(maxsize=4)
def _validator(path: str):
    """Return the validator of the schema at ``path``.

    Raises:
        FileSyntaxError: the schema is not valid JSON (line and column).
        UsageError: the schema is missing, unreadable or not a JSON Schema.
    """
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        schema = json.loads(safefs.read_regular_text(Path(path)))
    except json.JSONDecodeError as exc:
        message = f"invalid JSON: {exc.msg}"
        raise FileSyntaxError(path, exc.lineno, exc.colno, message) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        message = f"{path}: cannot read the configuration schema: {reason}"
        raise UsageError(message) from None
    # The schema shipped with the package is checked by its tests; one from
    # another core (PROVISIONING_CORE_ROOT) is checked here, once.
    if Path(path) != SHIPPED_SCHEMA:
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            message = f"{path}: not a valid JSON Schema: {exc.message}"
            raise UsageError(message) from None
    return Draft202012Validator(schema)


# The kinds of problem validation finds, each with its own remedy.
SYNTAX = "syntax"  # not TOML, not UTF-8, nested too deep
UNREADABLE = "unreadable"  # a fifo, a folder, too large, no permission
TYPE = "type"  # a value the schema refuses
UNKNOWN_SECTION = "unknown-section"
REFERENCE = "reference"  # a cycle, a missing key, an unset variable, too large
WORKSPACE = "workspace"  # [workspace] keys that disagree with the workspace
KINDS = (SYNTAX, UNREADABLE, TYPE, UNKNOWN_SECTION, REFERENCE, WORKSPACE)


def validate_config(
    ws: Workspace, *, include_overrides: bool = False, user_file: Path | None = None
) -> list[Problem]:
    """Return every problem of ``ws``'s configuration, errors and warnings.

    Every layer file that exists is read and checked, merged or not: the
    defaults of the other workspace types (so a broken ``test-defaults.toml``
    shows before it is used) and, without ``include_overrides``,
    ``local-overrides.toml``. The user's cascade is merged and its
    references expanded. With ``user_file`` the user's layer is read from
    that file (an edited copy), still named as the user's file.
    """
    found = classified_problems(
        ws, include_overrides=include_overrides, user_file=user_file
    )
    return [problem for _, problem in found]


def classified_problems(
    ws: Workspace, *, include_overrides: bool = False, user_file: Path | None = None
) -> list[tuple[str, Problem]]:
    """Return the problems of :func:`validate_config`, each with its kind.

    The kind (one of :data:`KINDS`) tells what would fix it, for advice.
    """
    problems: list[tuple[str, Problem]] = []
    layers: list[Layer] = []
    for source, merged in _all_sources(ws, include_overrides):
        try:
            layer = _checked_layer(ws, source, layers, user_file)
        except FileSyntaxError as exc:
            where = (str(exc.path), exc.line, exc.column)
            problems.append((SYNTAX, Problem(exc.detail, *where)))
            continue
        except UnreadableFile as exc:
            problems.append((UNREADABLE, Problem(exc.detail, str(exc.path))))
            continue
        if layer is None:
            continue
        problems += check_layer(ws, layer)
        if merged:
            layers.append(layer)
    problems += [(REFERENCE, problem) for problem in _reference_problems(ws, layers)]
    problems += [(WORKSPACE, problem) for problem in workspace_mismatches(ws, layers)]
    log.debug("config of %s: %d problems", ws.user, len(problems))
    return problems


def _checked_layer(
    ws: Workspace, source: LayerSource, below: list[Layer], user_file: Path | None
) -> Layer | None:
    """Read one layer (the variables' layer from what is below it)."""
    if source.path is None:
        merged, _ = merge_layers(below)
        return environment_layer(ws.environ, merged)
    read_from = user_file if source.name == "user" else None
    return read_layer(ws, source, read_from)


def unmerged_layers(ws: Workspace, include_overrides: bool) -> list[dict[str, str]]:
    """Return the existing layer files validate checks without merging them.

    Each is ``{"file": ..., "why": ...}``: the defaults of another workspace
    type, or ``local-overrides.toml`` (merged only with ``include_overrides``).
    """
    found = []
    for source, merged in _all_sources(ws, include_overrides):
        if merged or source.path is None or not source.path.exists():
            continue
        why = (
            "merged only with --include-overrides"
            if source.name == "local-overrides"
            else "defaults of another workspace type"
        )
        found.append({"file": display_path(ws, source.path), "why": why})
    return found


def _all_sources(
    ws: Workspace, include_overrides: bool
) -> list[tuple[LayerSource, bool]]:
    """Return every layer to check, with whether it is merged.

    The active layers come first, then the files checked but not merged (the
    other types' defaults; the local overrides unless included), then the
    variables.
    """
    active = layer_sources(ws, include_overrides=include_overrides)
    used = {source.path for source in active}
    others = [
        LayerSource("inactive", env_defaults_for(ws, kind))
        for kind in WORKSPACE_TYPES
        if env_defaults_for(ws, kind) not in used
    ]
    if not include_overrides and ws.local_overrides not in used:
        others.append(LayerSource("local-overrides", ws.local_overrides))
    files = [(source, True) for source in active if source.path is not None]
    variables = [(source, True) for source in active if source.path is None]
    return [*files, *[(source, False) for source in others], *variables]


def check_layer(ws: Workspace, layer: Layer) -> list[tuple[str, Problem]]:
    """Check one parsed layer against the schema; warn about unknown sections.

    Each problem comes with its kind (:data:`TYPE`, :data:`UNKNOWN_SECTION`).
    """
    validator = _validator(str(schema_path(ws)))
    known = validator.schema.get("properties", {})
    problems = [
        (
            UNKNOWN_SECTION,
            _layer_problem(layer, (name,), f"unknown section [{name}]", "warning"),
        )
        for name in layer.data
        if name not in known
    ]
    for error in sorted(validator.iter_errors(layer.data), key=_error_order):
        key = tuple(str(part) for part in error.absolute_path)
        problems.append((TYPE, _layer_problem(layer, key, _schema_message(key, error))))
    return problems


def _error_order(error: Any) -> tuple[str, ...]:
    return tuple(str(part) for part in error.absolute_path)


def _schema_message(key: tuple[str, ...], error: Any) -> str:
    where = ".".join(key) or "(top level)"
    described = error.schema.get("description") if error.schema else None
    if error.validator in ("pattern", "anyOf") and described:
        return f"{where}: {quoted(error.instance)} is not {described}"
    if error.validator == "type":
        wanted = error.validator_value
        return f"{where}: {quoted(error.instance)} is not of type {quoted(wanted)}"
    return f"{where}: {error.message}"


def _layer_problem(
    layer: Layer, key: tuple[str, ...], message: str, severity: str = "error"
) -> Problem:
    source = layer.variables.get(key, layer.source)
    if key and key not in layer.variables:
        line, column = layer.position(_existing_prefix(layer, key))
    else:
        line, column = None, None
    return Problem(message, source, line, column, severity)


def _existing_prefix(layer: Layer, key: tuple[str, ...]) -> tuple[str, ...]:
    """Return the longest prefix of ``key`` that names a key (not an index)."""
    node: Any = layer.data
    for end, part in enumerate(key):
        if not isinstance(node, dict) or part not in node:
            return key[:end]
        node = node[part]
    return key


def _reference_problems(ws: Workspace, layers: Iterable[Layer]) -> list[Problem]:
    layers = list(layers)
    merged, settings = merge_layers(layers)
    expanded = interpolate(merged, builtins_for(ws))
    cascade = Cascade(layers, merged, settings, expanded.data, expanded.problems)
    return cascade.problems()


def workspace_mismatches(ws: Workspace, layers: Iterable[Layer]) -> list[Problem]:
    """Warn about ``[workspace]`` keys that disagree with the workspace itself.

    ``type`` and ``user`` in a layer are not what the tool goes by: the type
    comes from the user's ``settings.toml`` (or the marker) and the user
    from the command line or environment, and ``${workspace.type}`` and
    ``${workspace.user}`` expand to those. A different value written in a
    layer is named with its file and line and the value that is used.
    """
    _, settings = merge_layers(list(layers))
    used = {
        "type": (ws.type, "the workspace's type (runtime settings or marker)"),
        "user": (ws.user, "the user these settings are read for"),
    }
    problems = []
    for name, (actual, what) in used.items():
        setting = settings.get(("workspace", name))
        if setting is None or setting.value == actual:
            continue
        line, column = setting.layer.position(setting.key)
        source = setting.layer.variables.get(setting.key, setting.layer.source)
        message = (
            f"workspace.{name} = {setting.value!r} disagrees with {what} "
            f"({actual!r}), which every command uses and ${{workspace.{name}}} "
            "expands to"
        )
        problems.append(Problem(message, source, line, column, "warning"))
    return sorted(problems, key=lambda problem: problem.line or 0)


def has_errors(problems: Iterable[Problem]) -> bool:
    """Tell whether any problem is an error (not only warnings)."""
    return any(problem.severity == "error" for problem in problems)
