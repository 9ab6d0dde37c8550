"""What ``workspace config`` does: show, hierarchy, merge and edit.

- ``show_config``: the merged values, secret-looking keys redacted;
- ``config_hierarchy``: every key with the layer that set it and what it
  overrode, as ``git config --show-origin`` shows;
- ``merged_document`` / ``write_merged``: the merged TOML keeping the
  comments of the layers (a comment on a key's line or directly above it
  travels with the key; each file's opening comment block gives way to the
  list of layers), with references expanded;
- ``edit_user_config``: open the user's file in an editor and put the old
  file back when the result does not validate.
"""

from __future__ import annotations

import logging
import re
import shlex
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workspace_tasks import safefs, tomlfile
from workspace_tasks.cascade import (
    SIGNATURE_PREFIX,
    Cascade,
    Layer,
    cascade_signature,
    load_cascade,
)
from workspace_tasks.config_validation import has_errors, validate_config
from workspace_tasks.context import PACKAGE_DIR, Workspace
from workspace_tasks.errors import UsageError
from workspace_tasks.problems import Problem
from workspace_tasks.runtime import ensure_user_dir

log = logging.getLogger(__name__)

REDACTED = "********"
_SECRET = re.compile(
    r"(token|passw|secret|webhook|credential|apikey|private|(^|[_-])keys?($|[_-]))",
    re.IGNORECASE,
)
EXAMPLE = "local-overrides.toml.example"
SHIPPED_CONFIG = PACKAGE_DIR / "templates" / "workspace" / "shared" / "config"
SHIPPED_EXAMPLE = SHIPPED_CONFIG / EXAMPLE


def is_secret(key: tuple[str, ...]) -> bool:
    """Tell whether a key looks like it holds a secret (tokens, passwords...)."""
    return any(_SECRET.search(part) for part in key)


def redact(values: Any, key: tuple[str, ...] = ()) -> Any:
    """Return ``values`` with the values of secret-looking keys hidden."""
    if isinstance(values, Mapping):
        return {k: redact(v, (*key, k)) for k, v in values.items()}
    if is_secret(key) and values not in ("", None, []):
        return REDACTED
    return values


@dataclass
class ConfigView:
    """Merged values of one configuration, ready to show."""

    user: str
    name: str
    layers: list[str]
    values: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self.values

    def to_toml(self) -> str:
        """Return the values as TOML text."""
        return tomlfile.dumps(self.values)


def show_config(
    ws: Workspace,
    name: str = "user",
    *,
    include_overrides: bool = False,
    show_secrets: bool = False,
) -> ConfigView:
    """Return configuration ``name`` merged and interpolated, secrets redacted.

    Raises:
        FileSyntaxError: a layer is not valid TOML.
        UsageError: a reference is cyclic or names nothing.
    """
    cascade = load_cascade(ws, name, include_overrides=include_overrides).check()
    values = cascade.values if show_secrets else redact(cascade.values)
    return ConfigView(ws.user, name, [layer.source for layer in cascade.layers], values)


@dataclass
class Hierarchy:
    """Every key of the merged configuration with its origin and history."""

    user: str
    layers: list[dict[str, str]]
    keys: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"user": self.user, "layers": self.layers, "keys": self.keys}


def config_hierarchy(
    ws: Workspace, *, include_overrides: bool = False, show_secrets: bool = False
) -> Hierarchy:
    """Return every key with the layer that set it and the values it overrode.

    Keys are in the order of the merged configuration. References are shown
    expanded where they can be.
    """
    cascade = load_cascade(ws, include_overrides=include_overrides)
    rows = []
    for key in _leaf_keys(cascade.merged):
        row = cascade.settings[key].to_dict()
        if not show_secrets and is_secret(key):
            row["value"] = redact(row["value"], key)
            for older in row["overrides"]:
                older["value"] = redact(older["value"], key)
        rows.append(row)
    layers = [layer.to_dict() for layer in cascade.layers]
    return Hierarchy(ws.user, layers, rows)


def _leaf_keys(data: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> list:
    keys: list[tuple[str, ...]] = []
    for name, value in data.items():
        if isinstance(value, Mapping) and value:
            keys += _leaf_keys(value, (*prefix, name))
        else:
            keys.append((*prefix, name))
    return keys


def merged_document(cascade: Cascade, header: list[str] | None = None):
    """Return the merged tomlkit document of ``cascade``, comments kept.

    The values are the expanded ones; keys come in the order of the lowest
    layer that has them, keys new in a higher layer after them.
    """
    import tomlkit

    merged = _Entries([], [])
    for layer in cascade.layers:
        merged = _merge_entries(merged, _layer_entries(layer))
    document = tomlkit.document()
    for line in header or []:
        document.add(tomlkit.comment(line))
    if header:
        document.add(tomlkit.nl())
    _fill(document, merged)
    _set_values(document, cascade.values)
    return document


@dataclass
class _Entry:
    key: str
    item: Any
    comments: list[str]
    children: _Entries | None = None


@dataclass
class _Entries:
    entries: list[_Entry]
    trailing: list[str] = field(default_factory=list)


def _layer_entries(layer: Layer) -> _Entries:
    import tomlkit

    if layer.text is None:
        document = tomlkit.document()
        for key, variable in layer.variables.items():
            _add_path(document, key, _value_in(layer.data, key), variable)
        return _container_entries(document, top=True)
    return _container_entries(tomlkit.parse(layer.text), top=True)


def _add_path(document: Any, key: tuple[str, ...], value: Any, variable: str) -> None:
    import tomlkit

    node = document
    for part in key[:-1]:
        if part not in node:
            node.add(part, tomlkit.table())
        node = node[part]
    node.add(tomlkit.comment(f"from {variable}"))
    node.add(key[-1], value)


def _value_in(data: Mapping[str, Any], key: tuple[str, ...]) -> Any:
    node: Any = data
    for part in key:
        node = node[part]
    return node


def _container_entries(container: Any, top: bool = False) -> _Entries:
    from tomlkit.items import Comment, Table, Whitespace

    entries: list[_Entry] = []
    pending: list[str] = []
    for key, item in container.body:
        if key is None:
            if isinstance(item, Comment):
                pending.append(item.as_string().strip())
            elif isinstance(item, Whitespace) and top and not entries:
                # A blank line ends the file's opening comment block.
                pending = [] if "\n" in item.as_string() else pending
            continue
        children = _container_entries(item.value) if isinstance(item, Table) else None
        entries.append(_Entry(key.key, item, pending, children))
        pending = []
    return _Entries(entries, pending)


def _merge_entries(lower: _Entries, upper: _Entries) -> _Entries:
    by_key = {entry.key: entry for entry in upper.entries}
    merged: list[_Entry] = []
    for entry in lower.entries:
        above = by_key.pop(entry.key, None)
        if above is None:
            merged.append(entry)
        elif entry.children is not None and above.children is not None:
            children = _merge_entries(entry.children, above.children)
            comments = above.comments or entry.comments
            merged.append(_Entry(entry.key, above.item, comments, children))
        else:
            merged.append(above)
    merged += [entry for entry in upper.entries if entry.key in by_key]
    seen = set(lower.trailing)
    trailing = lower.trailing + [c for c in upper.trailing if c not in seen]
    return _Entries(merged, trailing)


def _fill(container: Any, entries: _Entries) -> None:
    """Add ``entries`` with their comments: values first, then tables."""
    import tomlkit
    from tomlkit.items import AoT

    values: list[tuple[str | None, Any]] = []
    tables: list[tuple[str | None, Any]] = []
    for entry in entries.entries:
        is_table = entry.children is not None or isinstance(entry.item, AoT)
        group = tables if is_table else values
        group += [(None, _comment(comment)) for comment in entry.comments]
        if entry.children is None:
            group.append((entry.key, entry.item))
            continue
        table = tomlkit.table(is_super_table=entry.item.is_super_table())
        table.trivia.comment = entry.item.trivia.comment
        table.trivia.comment_ws = entry.item.trivia.comment_ws
        _fill(table, entry.children)
        group.append((entry.key, table))
    tables += [(None, _comment(comment)) for comment in entries.trailing]
    tomlfile.add_entries(container, values, tables)


def _comment(text: str) -> Any:
    import tomlkit

    return tomlkit.comment(text.lstrip("#").strip())


def _set_values(container: Any, values: Mapping[str, Any]) -> None:
    """Write the expanded values into ``container`` (their comments stay)."""
    for name, value in values.items():
        if name not in container:
            continue
        current = container[name]
        if isinstance(value, Mapping) and hasattr(current, "items"):
            _set_values(current, value)
        elif _plain(current) != value:
            container[name] = value


def _plain(item: Any) -> Any:
    return item.unwrap() if hasattr(item, "unwrap") else item


@dataclass
class MergeResult:
    """A merged configuration written to a file."""

    path: Path
    layers: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "layers": self.layers}


def check_output(target: Path, flag: str = "--output") -> Path:
    """Return ``target`` when a file can be written there; ``flag`` names it.

    The folder must exist already (a typo must not create folders anywhere
    on disk) and the target must not be a folder.

    Raises:
        UsageError: naming ``flag``.
    """
    import os

    folder = target.parent
    if target.is_dir():
        raise UsageError(f"{flag}: {target} is a folder; give a file name")
    if not folder.is_dir():
        raise UsageError(f"{flag}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"{flag}: the folder {folder} cannot be written")
    return target


def write_merged(
    ws: Workspace,
    target: Path,
    *,
    include_overrides: bool = False,
    flag: str = "--output",
) -> MergeResult:
    """Write the merged configuration to ``target`` atomically, comments kept.

    The file is private (mode 0600): it holds the secrets of every layer.

    Raises:
        FileSyntaxError: a layer is not valid TOML.
        UsageError: a reference is cyclic or names nothing; ``target`` (given
            by ``flag``) cannot be written.
    """
    check_output(target, flag)
    cascade = load_cascade(ws, include_overrides=include_overrides).check()
    document = merged_document(cascade, _header(ws, cascade))
    try:
        safefs.atomic_write(target, document.as_string(), mode=safefs.PRIVATE_FILE)
    except OSError as exc:
        raise UsageError(f"{flag}: cannot write {target}: {exc.strerror}") from None
    log.info("wrote the merged configuration of %s to %s", ws.user, target)
    return MergeResult(target, [layer.source for layer in cascade.layers])


def write_cache(ws: Workspace) -> MergeResult:
    """Write ``runtime/state/<user>/merged-config.toml`` for ``ws``'s user.

    Its first line records the layers' signature so readers can tell whether
    it is still fresh. A reference that cannot be expanded stays as written.
    """
    signature = cascade_signature(ws)
    cascade = load_cascade(ws)
    header = [f"cascade-signature: {signature}", *_header(ws, cascade)]
    text = merged_document(cascade, header).as_string()
    assert text.startswith(SIGNATURE_PREFIX)
    ensure_user_dir(ws, ws.merged_config.parent)
    safefs.atomic_write(ws.merged_config, text, mode=safefs.PRIVATE_FILE, root=ws.root)
    log.info("wrote %s", ws.merged_config)
    return MergeResult(ws.merged_config, [layer.source for layer in cascade.layers])


def _header(ws: Workspace, cascade: Cascade) -> list[str]:
    lines = [f"Merged configuration of {ws.user}, lowest layer first:"]
    lines += [f"  {layer.name}: {layer.source}" for layer in cascade.layers]
    return lines


@dataclass
class EditResult:
    """What ``config edit`` did: the file, whether it was kept, the problems."""

    path: Path
    created: bool
    kept: bool
    problems: list[Problem]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "created": self.created,
            "kept": self.kept,
            "problems": [p.to_dict() for p in self.problems],
        }


def editor_command(ws: Workspace) -> list[str]:
    """Return the editor to run: ``$VISUAL``, else ``$EDITOR``.

    Raises:
        UsageError: neither is set.
    """
    for variable in ("VISUAL", "EDITOR"):
        value = ws.environ.get(variable, "").strip()
        if value:
            return shlex.split(value)
    raise UsageError(
        "no editor: set VISUAL or EDITOR (e.g. EDITOR=nano workspace config edit)"
    )


def run_editor(command: list[str], path: Path, environ: Mapping[str, str]) -> int:
    """Run ``command path`` in the foreground; return its exit status."""
    try:
        return subprocess.run([*command, str(path)], env=dict(environ)).returncode
    except OSError as exc:
        raise UsageError(f"cannot run the editor {command[0]!r}: {exc}") from None


def edit_user_config(
    ws: Workspace,
    editor: Callable[[list[str], Path, Mapping[str, str]], int] = run_editor,
) -> EditResult:
    """Open the user's file in the editor; restore it if the result is invalid.

    A missing file is first created from ``config/local-overrides.toml.example``.
    The edited configuration is validated as a whole; on any error the file
    is put back as it was (or removed, if this edit created it).
    """
    command = editor_command(ws)
    path = ws.user_config
    before = _editable_bytes(path)
    if before is None:
        create_user_config(ws)
    status = editor(command, path, ws.environ)
    problems = validate_config(ws)
    if status != 0:
        problems.insert(0, Problem(f"the editor exited with status {status}"))
    if status == 0 and not has_errors(problems):
        log.info("kept the edited %s", path)
        return EditResult(path, before is None, True, problems)
    _restore(ws, path, before)
    return EditResult(path, before is None, False, problems)


def _editable_bytes(path: Path) -> bytes | None:
    """Return the file's bytes before an edit (None: no file yet).

    Raises:
        UsageError: the file (or, for a new one, its folder) cannot be read
            or written; nothing has been changed.
    """
    import os

    where = path if path.exists() else path.parent
    if path.is_dir():
        raise UsageError(f"{path}: is a folder, not a file; nothing was changed")
    if not os.access(where, os.W_OK) or not _writable_flags(where):
        raise UsageError(f"{where}: cannot be written; nothing was changed")
    try:
        return path.read_bytes() if path.exists() else None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None


def _writable_flags(path: Path) -> bool:
    """Tell whether ``path`` is free of the immutable and append-only flags."""
    import stat

    flags = getattr(path.stat(), "st_flags", 0)
    return not flags & (stat.UF_IMMUTABLE | stat.UF_APPEND | stat.SF_IMMUTABLE)


def create_user_config(ws: Workspace) -> None:
    """Create the user's file from ``config/local-overrides.toml.example``."""
    example = ws.config_dir / EXAMPLE
    source = example if example.is_file() else SHIPPED_EXAMPLE
    safefs.atomic_write(ws.user_config, source.read_bytes())
    log.info("created %s from %s", ws.user_config, source)


def _restore(ws: Workspace, path: Path, before: bytes | None) -> None:
    if before is None:
        safefs.remove_path(path, ws.root)
        log.info("removed the invalid new %s", path)
    else:
        safefs.atomic_write(path, before)
        log.info("restored %s as it was before the edit", path)
