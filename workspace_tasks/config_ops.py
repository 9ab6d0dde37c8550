"""What ``workspace config`` does: show, hierarchy, merge and edit.

- ``show_config``: the merged values, secret-looking keys redacted;
- ``config_hierarchy``: every key with the layer that set it and what it
  overrode, as ``git config --show-origin`` shows;
- ``merged_document`` / ``write_merged``: the merged TOML keeping the
  comments of the layers (a comment on a key's line or directly above it
  travels with the key; each file's opening comment block gives way to the
  list of layers), with references expanded;
- ``edit_user_config``: open a private copy of the user's file in an editor
  and put it in place only when the result validates.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shlex
import subprocess
import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workspace_tasks import safefs, tomlfile
from workspace_tasks.cascade import (
    SIGNATURE_PREFIX,
    Cascade,
    Layer,
    load_cascade,
    load_for_cache,
)
from workspace_tasks.config_validation import has_errors, validate_config
from workspace_tasks.context import PACKAGE_DIR, Workspace, require_user
from workspace_tasks.errors import UnsafeOperation, UsageError, WorkspaceError
from workspace_tasks.problems import Problem
from workspace_tasks.runtime import ensure_user_dir, temp_dir
from workspace_tasks.text import escape_surrogates, quoted

log = logging.getLogger(__name__)

REDACTED = "********"
# What makes a key look secret: the one list, documented in the README. A
# name is split into words at "_", "-", "." and at lowerUpper; a word may
# contain one of SECRET_PARTS ("github_token", "apitoken", "passwords") or be
# one of SECRET_WORDS ("access_key", "db_pwd", but not "keep" or "author").
SECRET_PARTS = (
    "token",
    "passw",
    "passphrase",
    "secret",
    "webhook",
    "credential",
    "apikey",
    "private",
    "bearer",
    "cookie",
    "authorization",
)
SECRET_WORDS = ("key", "keys", "pass", "pwd", "auth", "dsn")
# A name whose last word is one of these says where a secret is kept (the
# variable, the file), which is not itself a secret: ``passphrase_env``.
LOCATOR_WORDS = ("env", "file", "path", "dir")
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
EXAMPLE = "local-overrides.toml.example"
SHIPPED_CONFIG = PACKAGE_DIR / "templates" / "workspace" / "shared" / "config"
SHIPPED_EXAMPLE = SHIPPED_CONFIG / EXAMPLE


def is_secret(key: tuple[str, ...]) -> bool:
    """Tell whether a key looks like it holds a secret (tokens, passwords...).

    Any part of the key may make it secret (every key of an ``[auth]``
    table is). Built-in names count too: ``("env", "GITHUB_TOKEN")`` looks
    secret.
    """
    return any(_secret_name(part) for part in key)


def _secret_name(name: str) -> bool:
    words = [word.lower() for word in _WORD.findall(name)]
    if not words or words[-1] in LOCATOR_WORDS:
        return False
    return any(
        word in SECRET_WORDS or any(part in word for part in SECRET_PARTS)
        for word in words
    )


def secret_derived(
    sources: Mapping[tuple[str, ...], Collection[tuple[str, ...]]],
) -> set[tuple[str, ...]]:
    """Return the keys whose value was built from a secret by interpolation.

    ``sources`` maps each key to the names its references drew on, at any
    depth (:attr:`Cascade.sources`): a secret-looking key or environment
    variable among them makes the value a secret too, whatever its own name.
    """
    return {key for key, used in sources.items() if any(map(is_secret, used))}


def redact(
    values: Any,
    key: tuple[str, ...] = (),
    derived: Collection[tuple[str, ...]] = frozenset(),
) -> Any:
    """Return ``values`` with secrets hidden.

    A secret is the value of a secret-looking key, or of a key in
    ``derived`` (see :func:`secret_derived`).
    """
    if isinstance(values, Mapping):
        return {k: redact(v, (*key, k), derived) for k, v in values.items()}
    if (is_secret(key) or key in derived) and values not in ("", None, []):
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
    derived = secret_derived(cascade.sources)
    values = cascade.values if show_secrets else redact(cascade.values, (), derived)
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

    Keys are in the order of the merged configuration, references expanded.

    Raises:
        FileSyntaxError: a layer is not valid TOML.
        UsageError: a reference is cyclic, names nothing or grows too large,
            as for :func:`show_config`.
    """
    cascade = load_cascade(ws, include_overrides=include_overrides).check()
    derived = secret_derived(cascade.sources)
    rows = []
    for key in _leaf_keys(cascade.merged):
        row = cascade.settings[key].to_dict()
        if not show_secrets and (is_secret(key) or key in derived):
            row["value"] = redact(row["value"], key, derived)
            for older in row["overrides"]:
                older["value"] = redact(older["value"], key, derived)
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
        document.add(tomlkit.comment(escape_surrogates(line)))
    if header:
        document.add(tomlkit.nl())
    _fill(document, merged)
    _set_values(document, tomlfile.visible(cascade.values))
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
            value = tomlfile.visible(_value_in(layer.data, key))
            _add_path(document, tomlfile.visible(key), value, variable)
        return _container_entries(document, top=True)
    return _container_entries(tomlkit.parse(layer.text), top=True)


def _add_path(document: Any, key: tuple[str, ...], value: Any, variable: str) -> None:
    import tomlkit

    node = document
    for part in key[:-1]:
        if part not in node:
            node.add(part, tomlkit.table())
        node = node[part]
    node.add(tomlkit.comment(f"from {escape_surrogates(variable)}"))
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
    """A merged configuration written to a file, a stream or standard output.

    ``path`` is None when the text goes to standard output: ``text`` holds
    it then, for the command line to print.
    """

    path: Path | None
    layers: list[str]
    text: str | None = None

    @property
    def shown_path(self) -> str:
        return "standard output" if self.path is None else str(self.path)

    def to_dict(self) -> dict[str, Any]:
        path = "-" if self.path is None else str(self.path)
        return {"path": path, "layers": self.layers}


@dataclass(frozen=True)
class OutputTarget:
    """Where an output flag writes, and how.

    ``kind`` is ``file`` (a new name or a regular file, replaced atomically),
    ``stream`` (a fifo or character device, written into in place) or
    ``stdout`` (standard output; ``path`` is None).
    """

    path: Path | None
    kind: str


def check_output(target: Path | None, flag: str = "--output") -> OutputTarget:
    """Return how a file can be written at ``target`` (None: standard output).

    A new name or a regular file is written atomically: its folder must
    exist already (a typo must not create folders anywhere on disk) and be
    writable. A fifo or a character device, or a link leading to one, is
    written into in place. Anything else standing there (a folder, a link
    to a file or to nothing, a block device, a socket) is refused, never
    replaced.

    Raises:
        UsageError: naming ``flag``.
    """
    import os

    if target is None:
        return OutputTarget(None, "stdout")
    kind = safefs.entry_kind(target)
    if kind not in (None, "file"):
        if safefs.is_stream(target):
            return OutputTarget(target, "stream")
        raise UsageError(f"{flag}: {target} {_not_replaced(target, kind)}")
    folder = target.parent
    if not folder.is_dir():
        raise UsageError(f"{flag}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"{flag}: the folder {folder} cannot be written")
    return OutputTarget(target, "file")


def _not_replaced(target: Path, kind: str) -> str:
    """Say why what stands at ``target`` (a ``kind``) is not written over."""
    import os

    if kind == "folder":
        return "is a folder; give a file name"
    if kind == "symbolic link":
        return (
            f"is a symbolic link (to {os.readlink(target)}) and is never replaced; "
            "give the file it leads to, or a new name"
        )
    return f"is a {kind}, not a regular file, and is never replaced; give a file name"


def write_merged(
    ws: Workspace,
    target: Path | None,
    *,
    include_overrides: bool = False,
    flag: str = "--output",
) -> MergeResult:
    """Write the merged configuration to ``target``, comments kept.

    A file is written atomically and private (mode 0600): it holds the
    secrets of every layer. A fifo or character device is written into in
    place; with ``target`` None the text is returned for standard output.
    See :func:`check_output`.

    Raises:
        FileSyntaxError: a layer is not valid TOML.
        UsageError: a reference is cyclic or names nothing; ``target`` (given
            by ``flag``) cannot be written.
    """
    where = check_output(target, flag)
    cascade = load_cascade(ws, include_overrides=include_overrides).check()
    text = merged_document(cascade, _header(ws, cascade)).as_string()
    layers = [layer.source for layer in cascade.layers]
    if where.path is None:
        return MergeResult(None, layers, text)

    try:
        if where.kind == "stream":
            safefs.write_stream(where.path, text)
        else:
            safefs.atomic_write(where.path, text, mode=safefs.PRIVATE_FILE)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise UsageError(f"{flag}: cannot write {where.path}: {reason}") from None
    except UnsafeOperation as exc:
        raise UsageError(f"{flag}: {exc}") from None
    log.info("wrote the merged configuration of %s to %s", ws.user, where.path)
    return MergeResult(where.path, layers)


def write_cache(ws: Workspace) -> MergeResult:
    """Write ``runtime/state/<user>/merged-config.toml`` for ``ws``'s user.

    Its first lines record what it was merged from (the layers' signature
    and the variables, git revision and timestamp its references read) so
    readers can tell whether it is still fresh (:func:`cache_is_fresh`). A
    reference that cannot be expanded stays as written.
    """
    cascade, header = load_for_cache(ws)
    recorded = [line.removeprefix("# ") for line in header]
    text = merged_document(cascade, [*recorded, *_header(ws, cascade)]).as_string()
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
    """What ``config edit`` did: the file, whether it was kept, the problems.

    ``kept`` is True when the file holds the edit (or it was left unchanged
    on purpose); ``changed`` when it was written, ``created`` when that
    write made the file. ``reason`` says why an
    edit was dropped without being validated (the editor failed, the copy
    was deleted or emptied).
    """

    path: Path
    created: bool
    kept: bool
    problems: list[Problem]
    changed: bool = False
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "created": self.created,
            "kept": self.kept,
            "changed": self.changed,
            "reason": self.reason,
            "problems": [p.to_dict() for p in self.problems],
        }


def editor_command(ws: Workspace) -> list[str]:
    """Return the editor to run: ``$VISUAL``, else ``$EDITOR``.

    The value is split as a shell splits words (``code --wait`` is a
    command and its option).

    Raises:
        UsageError: neither is set, or the one used does not split into
            words (an unclosed quotation), naming the variable.
    """
    for variable in ("VISUAL", "EDITOR"):
        value = ws.environ.get(variable, "").strip()
        if not value:
            continue
        try:
            return shlex.split(value)
        except ValueError as exc:
            raise UsageError(
                f"{variable}: {value!r} is not a command line ({str(exc).lower()}); "
                "nothing was changed"
            ) from None
    raise UsageError(
        "no editor: set VISUAL or EDITOR (e.g. EDITOR=nano workspace config edit)"
    )


class EditStopped(WorkspaceError):
    """A signal (SIGTERM, SIGHUP) stopped the edit; nothing was changed."""


def run_editor(command: list[str], path: Path, environ: Mapping[str, str]) -> int:
    """Run ``command path`` in the foreground; return its exit status.

    While it runs, an interrupt (Ctrl-C) is the editor's to handle, as git
    leaves it; SIGTERM or SIGHUP stop the editor and the edit.

    Raises:
        UsageError: the editor cannot be started.
        EditStopped: SIGTERM or SIGHUP arrived (exit status 128 + signal).
    """
    try:
        with _editor_signals():
            return subprocess.run([*command, str(path)], env=dict(environ)).returncode
    except OSError as exc:
        raise UsageError(f"cannot run the editor {quoted(command[0])}: {exc}") from None


class _Stopped(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _editor_signals() -> Iterator[None]:
    """Leave Ctrl-C to the editor; turn SIGTERM and SIGHUP into EditStopped.

    A handler (not "ignore") is set for SIGINT, so the editor, which starts
    with the default handlers, still gets it. Outside the main thread no
    handler can be set and the process's own are kept.
    """
    import signal

    def stop(signum: int, _frame: object) -> None:
        raise _Stopped(signum)

    wanted = {
        signal.SIGINT: lambda signum, frame: None,
        signal.SIGTERM: stop,
        signal.SIGHUP: stop,
    }
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {
        signum: signal.signal(signum, handler) for signum, handler in wanted.items()
    }
    try:
        yield
    except _Stopped as exc:
        name = signal.Signals(exc.signum).name
        raise EditStopped(
            f"stopped by {name} while the editor ran; nothing was changed",
            exit_code=128 + exc.signum,
        ) from None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def edit_user_config(
    ws: Workspace,
    editor: Callable[[list[str], Path, Mapping[str, str]], int] = run_editor,
) -> EditResult:
    """Edit a private copy of the user's file; replace the file if it validates.

    As ``git commit`` and ``crontab -e`` do, the editor gets a copy (in the
    user's private ``runtime/workspaces/<user>/tmp/``), so nobody sees a
    half-edited file and a stopped edit leaves the file as it was. A missing
    file starts from ``config/local-overrides.toml.example``. The copy is
    then checked with the rest of the cascade; only a valid, changed copy
    (or a new file) replaces the user's file, atomically. A non-zero exit
    of the editor, or a copy deleted or emptied, drops the edit.

    Raises:
        UsageError: no editor, or the file cannot be edited (nothing changed).
        NotFoundError: the user is no user of the workspace: the copy and
            the file are the user's own.
        EditStopped: a signal stopped the edit (nothing changed).
    """
    require_user(ws)
    command = editor_command(ws)
    path = ws.user_config
    _check_inside(ws, path)
    before = _editable_bytes(path)
    created = before is None
    start = _example_bytes(ws) if created else before
    with _edit_copy(ws, start) as copy:
        status = editor(command, copy, ws.environ)
        if status != 0:
            return _dropped(path, _editor_failure(status))
        edited = _edited_bytes(copy)
        if edited is None:
            return _dropped(path, "the edited copy was deleted")
        if not edited.strip():
            return _dropped(path, "the edited copy is empty")
        if edited == before:
            log.info("%s: no changes", path)
            return EditResult(path, False, True, [])
        problems = validate_config(ws, user_file=copy)
    if has_errors(problems):
        return EditResult(path, False, False, problems)
    safefs.atomic_write(path, edited, root=ws.root)
    log.info("%s %s", "created" if created else "saved the edited", path)
    return EditResult(path, created, True, problems, changed=True)


def _check_inside(ws: Workspace, path: Path) -> None:
    """Refuse, before any editing, a user file whose folder leads out.

    Raises:
        UsageError: ``config/`` (or a folder above it) is a link leading
            out of the workspace; nothing is changed.
    """
    try:
        safefs.check_within(path, ws.root)
    except UnsafeOperation as exc:
        raise UsageError(f"{exc}; nothing was changed") from None


def _dropped(path: Path, why: str) -> EditResult:
    log.info("%s: %s; nothing changed", path, why)
    return EditResult(path, False, False, [], reason=f"{why}; nothing changed")


def _editor_failure(status: int) -> str:
    if status < 0:
        import signal

        return f"the editor was killed by {signal.Signals(-status).name}"
    return f"the editor exited with status {status}"


@contextlib.contextmanager
def _edit_copy(ws: Workspace, data: bytes) -> Iterator[Path]:
    """Yield a private copy holding ``data``, named as the user's file.

    It lives in a new private folder of ``runtime/workspaces/<user>/tmp/``,
    removed with the copy afterwards, whatever happened.
    """
    ensure_user_dir(ws, temp_dir(ws))
    folder = safefs.make_temp_dir(temp_dir(ws), "config-edit-", ws.root)
    try:
        copy = folder / ws.user_config.name
        fd = safefs.create_file(copy, ws.root)
        with open(fd, "wb") as handle:
            handle.write(data)
        yield copy
    finally:
        safefs.remove_path(folder, ws.root)


def _edited_bytes(copy: Path) -> bytes | None:
    """Return what the editor left in ``copy`` (None: it was deleted)."""
    try:
        return safefs.read_regular(copy)
    except FileNotFoundError:
        return None
    except UsageError as exc:
        raise UsageError(f"{exc}; the edit was dropped, nothing changed") from None


def _editable_bytes(path: Path) -> bytes | None:
    """Return the file's bytes before an edit (None: no file yet).

    Only a regular file is edited: a link (which would be replaced by a
    file), a folder or a device is refused.

    Raises:
        UsageError: the file is not a regular file, or it (or its folder)
            cannot be read or written; nothing has been changed.
    """
    import os

    kind = safefs.entry_kind(path)
    if kind == "folder":
        raise UsageError(
            f"{path}: is a folder, not a regular file; nothing was changed"
        )
    if kind not in (None, "file"):
        raise UsageError(
            f"{path}: is a {kind}, not a regular file, and is never replaced; "
            "nothing was changed"
        )
    for where in (path, path.parent) if kind else (path.parent,):
        if not os.access(where, os.W_OK) or not _writable_flags(where):
            raise UsageError(f"{where}: cannot be written; nothing was changed")
    try:
        return safefs.read_regular(path) if kind else None
    except UsageError as exc:
        raise UsageError(f"{exc}; nothing was changed") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None


def _writable_flags(path: Path) -> bool:
    """Tell whether ``path`` is free of the immutable and append-only flags."""
    import stat

    flags = getattr(path.stat(), "st_flags", 0)
    return not flags & (stat.UF_IMMUTABLE | stat.UF_APPEND | stat.SF_IMMUTABLE)


def _example_bytes(ws: Workspace) -> bytes:
    """Return the text a new user file starts from: the workspace's example."""
    example = ws.config_dir / EXAMPLE
    source = example if example.is_file() else SHIPPED_EXAMPLE
    return safefs.read_regular(source)


def create_user_config(ws: Workspace) -> None:
    """Create the user's file from ``config/local-overrides.toml.example``."""
    safefs.atomic_write(ws.user_config, _example_bytes(ws), root=ws.root)
    log.info("created %s from the example", ws.user_config)
