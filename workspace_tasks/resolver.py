"""Resolve paths and extensions along the workspace's hierarchy.

Paths: the user's ``<type>/<user>/<name>``, the shared ``<type>/<name>``, the
template ``<type>/template/<name>`` and, with fallback, the core
``<core>/<type>/<name>``. Type ``config`` also knows the cascade's names:
``user`` (``config/<user>.toml``), ``development``, ``testing`` and
``production`` (their defaults files) and ``merged`` (the merged cache).
A runtime type is one area, ``runtime/<area>``. Creating a missing path is
for the folders users own (``infra`` and ``runtime/<area>``) and the
cascade's configuration files; nothing else is made up as an empty folder.
Extensions: the user's, the shared, the core one.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from workspace_tasks import safefs
from workspace_tasks.context import (
    ENV_OF_TYPE,
    EXTENSION_KINDS,
    RUNTIME_AREAS,
    Workspace,
    require_user,
)
from workspace_tasks.errors import NotFoundError, UsageError
from workspace_tasks.names import check_name
from workspace_tasks.text import quoted

log = logging.getLogger(__name__)

ORIGINS = ("user", "shared", "core")
RUNTIME_TYPES = tuple(f"runtime/{area}" for area in RUNTIME_AREAS)
# The types whose first place is a folder the user owns, made on request.
CREATABLE_TYPES = ("infra", *RUNTIME_TYPES)


@dataclass(frozen=True)
class Extension:
    """An extension found by discovery, with where it came from."""

    kind: str
    name: str
    origin: str
    path: Path

    def to_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "name": self.name,
            "origin": self.origin,
            "path": str(self.path),
        }


def _type_parts(type_: str) -> list[str]:
    parts = [check_name(part, "TYPE") for part in type_.split("/")]
    if parts[0] == "runtime" and "/".join(parts) not in RUNTIME_TYPES:
        raise UsageError(
            f"TYPE: {quoted(type_)} is not one runtime area; use one of "
            + ", ".join(RUNTIME_TYPES)
        )
    return parts


def _check_creatable(type_: str, name: str) -> None:
    """Refuse ``--create-missing`` where no folder of the user's own belongs."""
    if type_ == "config":
        raise UsageError(
            f"--create-missing: config/{name} is not a file of the configuration "
            "cascade; the ones it creates are user, development, testing, "
            "production and merged"
        )
    if type_.startswith("extensions/"):
        raise UsageError(
            f"--create-missing: an extension is made whole, not as an empty "
            f"folder; run 'workspace tools create-extension {type_[11:]}/{name}'"
        )
    if type_ not in CREATABLE_TYPES:
        raise UsageError(
            f"--create-missing: TYPE {quoted(type_)} has no folders of each "
            "user's own; "
            "it creates them in " + ", ".join(CREATABLE_TYPES)
        )


def config_file(ws: Workspace, name: str) -> Path | None:
    """Return the file of a configuration name (``user``, ``testing``...), if any."""
    if name == "user":
        return ws.user_config
    if name == "merged":
        return ws.merged_config
    if name in ENV_OF_TYPE:
        return ws.config_dir / f"{ENV_OF_TYPE[name]}-defaults.toml"
    return None


def _check_no_dead_link(path: Path) -> None:
    """Refuse to create ``path`` over a link to nothing or another non-file."""
    kind = safefs.entry_kind(path)
    if kind is not None:
        raise UsageError(
            f"--create-missing: {path} is a {kind} that leads to nothing and "
            "is never replaced; remove it or point it at a file first"
        )


def _create_config_file(ws: Workspace, name: str, path: Path) -> None:
    from workspace_tasks import config_ops

    if name == "user":
        config_ops.create_user_config(ws)
    elif name == "merged":
        config_ops.write_cache(ws)
    else:
        shipped = safefs.read_regular(config_ops.SHIPPED_CONFIG / path.name)
        safefs.atomic_write(path, shipped, root=ws.root)
    log.info("created %s", path)


def path_candidates(
    ws: Workspace, type_: str, name: str, *, fallback_to_core: bool = False
) -> list[Path]:
    """Return the places ``resolve_path`` looks at, in order."""
    parts = _type_parts(type_)
    check_name(name, "NAME")
    base = ws.root.joinpath(*parts)
    places = [base / ws.user / name]
    if name != ws.user and not ws.is_known_user(name):
        places.append(base / name)  # else a user's area, not a shared folder
    places.append(base / "template" / name)
    if fallback_to_core:
        places.append(ws.core_root.joinpath(*parts) / name)
    return places


def resolve_path(
    ws: Workspace,
    type_: str,
    name: str,
    *,
    fallback_to_core: bool = False,
    create_missing: bool = False,
) -> Path:
    """Return the first existing path for ``type_``/``name``.

    Args:
        ws: the workspace and user.
        type_: a top-level kind of the workspace, such as ``infra`` or
            ``extensions/providers``.
        name: the name looked for.
        fallback_to_core: look in the core root last.
        create_missing: create the user's path when nothing exists.

    Raises:
        NotFoundError: nothing exists, naming every place looked at; or
            something would be created for a name that is no user.
    """
    named = config_file(ws, name) if type_ == "config" else None
    if create_missing and named is None:
        _type_parts(type_)
        _check_creatable(type_, name)
    if named is not None:
        if not named.exists() and create_missing:
            _check_no_dead_link(named)
            if name in ("user", "merged"):
                require_user(ws)  # the user's own file: a user's, not a name's
            _create_config_file(ws, name, named)
        if named.exists():
            return named
        raise NotFoundError(
            f"path resolution failed for config/{name}: {named} does not exist; "
            f"run 'workspace resolve path config {name} --create-missing'"
        )
    places = path_candidates(ws, type_, name, fallback_to_core=fallback_to_core)
    for place in places:
        if place.exists():
            log.debug("resolved %s/%s to %s", type_, name, place)
            return place
    if create_missing:
        require_user(ws)  # a mistyped name never gets areas of its own
        _create_folder(ws, places[0])
        log.info("created %s", places[0])
        return places[0]
    looked = ", ".join(str(p) for p in places)
    raise NotFoundError(
        f"path resolution failed for {type_}/{name}; looked at: {looked}"
    )


def _create_folder(ws: Workspace, folder: Path) -> None:
    """Create ``folder`` inside the workspace: private in a runtime area.

    A user's runtime folders are private (0700) all the way down, as
    ``init`` makes them; elsewhere new folders get the usual mode.
    """
    from workspace_tasks.runtime import area_of, ensure_user_dir

    if area_of(ws, folder):
        ensure_user_dir(ws, folder)
    else:
        safefs.make_dirs(folder, root=ws.root)


def _check_kind(kind: str) -> str:
    if kind not in EXTENSION_KINDS:
        raise UsageError(
            f"KIND: {quoted(kind)} is not one of {', '.join(EXTENSION_KINDS)}"
        )
    return kind


def unusable_folder(entry: Path) -> str | None:
    """Return why ``entry`` is not a folder discovery can use (None if it is).

    Its name must be a valid name, and a link must lead to a folder that
    does not hold the link itself (``ln -s . loop`` would list a folder as
    its own member, and walking it would never end). An empty reason means
    it is no folder at all (a README, a broken link), skipped silently.
    """
    try:
        info = entry.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a link that loops"
        return "" if not entry.is_symlink() else "a link to nothing"
    if not stat.S_ISDIR(info.st_mode):
        return ""
    if entry.is_symlink():
        target = Path(os.path.realpath(entry))
        holder = Path(os.path.realpath(entry.parent))
        if target == holder or target in holder.parents:
            return "a link back to a folder holding it"
    try:
        check_name(entry.name, "name")
    except UsageError:
        return "not a valid name"
    return None


def _extension_dirs(
    folder: Path, skip: set[str], ignored: list[tuple[Path, str]] | None = None
) -> list[Path]:
    if not folder.is_dir():
        return []
    found = []
    for entry in sorted(folder.iterdir()):
        if entry.name in skip or entry.name.startswith("."):
            continue
        why = unusable_folder(entry)
        if why is None:
            found.append(entry)
        elif why and ignored is not None:
            ignored.append((entry, why))
    return found


def shown_path(ws: Workspace, path: Path) -> str:
    """Return ``path`` relative to the workspace when it lies in it."""
    try:
        return path.relative_to(ws.root).as_posix()
    except ValueError:
        return str(path)


def scan_extensions(
    ws: Workspace, kind: str, *, include_core: bool = False
) -> tuple[list[Extension], list[str]]:
    """Return the extensions of ``kind`` and why other folders there are not.

    As :func:`list_extensions`; the second list says, for each folder left
    out (an invalid name, a link that loops), what it is.
    """
    _check_kind(kind)
    ignored: list[tuple[Path, str]] = []
    kind_dir = ws.extension_kind_dir(kind)
    found = [
        Extension(kind, p.name, "user", p)
        for p in _extension_dirs(ws.user_extensions_dir(kind), set(), ignored)
    ]
    skip = {"template", *ws.known_users(), ws.user}
    found += [
        Extension(kind, p.name, "shared", p)
        for p in _extension_dirs(kind_dir, skip, ignored)
    ]
    if include_core:
        core = ws.core_root / "extensions" / kind
        found += [
            Extension(kind, p.name, "core", p)
            for p in _extension_dirs(core, set(), ignored)
        ]
    reasons = [f"{shown_path(ws, path)}: {why}; not listed" for path, why in ignored]
    return found, reasons


def list_extensions(
    ws: Workspace, kind: str, *, include_core: bool = False
) -> list[Extension]:
    """List the extensions of ``kind``: the user's, the shared and the core ones.

    A name present at several levels is listed once per level, so the origin
    that wins (the first) and what it shadows are both visible. Only folders
    :func:`resolve_extension` would find are listed: a folder with an
    invalid name, or a link that loops, is left out.
    """
    return scan_extensions(ws, kind, include_core=include_core)[0]


def resolve_extension(ws: Workspace, kind: str, name: str) -> Extension:
    """Return extension ``name`` of ``kind``: the user's, else shared, else core.

    Raises:
        NotFoundError: no level has it, naming the places looked at.
    """
    _check_kind(kind)
    check_name(name, "NAME")
    places = [("user", ws.user_extensions_dir(kind) / name)]
    if name not in ("template", ws.user) and not ws.is_known_user(name):
        places.append(("shared", ws.extension_kind_dir(kind) / name))
    places.append(("core", ws.core_root / "extensions" / kind / name))
    for origin, place in places:
        if place.is_dir() and unusable_folder(place) is None:
            return Extension(kind, name, origin, place)
    looked = ", ".join(str(p) for _, p in places)
    raise NotFoundError(f"extension '{kind}/{name}' not found; looked at: {looked}")


def effective_extensions(ws: Workspace, kind: str) -> list[Extension]:
    """List the extensions of ``kind`` that discovery resolves to, one per name.

    A user's extension shadows a shared one of the same name, which shadows
    a core one, as :func:`resolve_extension` decides.
    """
    winners: dict[str, Extension] = {}
    for extension in list_extensions(ws, kind, include_core=True):
        winners.setdefault(extension.name, extension)
    return sorted(winners.values(), key=lambda e: e.name)
