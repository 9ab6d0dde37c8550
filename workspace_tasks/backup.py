"""Make, list, verify and expire backups of one user's workspace.

A backup is one archive file (see :mod:`workspace_tasks.archive`) in the
user's backups folder (``runtime/data/<user>/backups/`` unless ``[backup]
dir`` says otherwise), private to the user. It is written under a hidden
temporary name and renamed only once complete and flushed, so an
interrupted backup never looks like one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import stat
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from workspace_tasks import __version__, archive, safefs, settings
from workspace_tasks.archive import Manifest
from workspace_tasks.context import (
    ENV_OF_TYPE,
    MANIFEST,
    MARKER,
    RESTORE_STAGING_PREFIX,
    RUNTIME_AREAS,
    Workspace,
    require_areas,
)
from workspace_tasks.errors import EXIT_USAGE, NotFoundError, UsageError
from workspace_tasks.names import check_name
from workspace_tasks.runtime import area_of, check_inside, ensure_user_dir
from workspace_tasks.text import quoted

log = logging.getLogger(__name__)

COMPONENTS = ("config", "extensions", "infra", "runtime", "logs", "cache", "shared")
DEFAULT_COMPONENTS = ("config", "extensions", "infra", "runtime")
# The shared config files of component ``shared``: every user's defaults.
SHARED_CONFIG_FILES = (
    *(f"{env}-defaults.toml" for env in ENV_OF_TYPE.values()),
    "local-overrides.toml",
    "local-overrides.toml.example",
)
RUNTIME_OF_COMPONENT = {"runtime": ("workspaces", "state", "data")}
DOIT_SUFFIXES = (".db", ".dat", ".dir", ".bak")
LAST_BACKUP = "last-backup.json"
LOCK_NAME = "workspace.lock"
_NAME_SUFFIXES = (".tar.zst", ".tar.gz", ".tar")


@dataclass(frozen=True)
class BackupOptions:
    """The flags of ``workspace backup``."""

    name: str | None = None
    components: tuple[str, ...] = DEFAULT_COMPONENTS
    include_logs: bool = False
    include_cache: bool = False
    compression: str = "none"
    encrypt: bool = False
    remote: str | None = None
    force: bool = False


@dataclass
class BackupResult:
    """What a backup wrote."""

    name: str
    path: str
    size: int
    files: int
    entries: int
    bytes: int
    components: list[str]
    compression: str
    encrypted: bool
    remote_url: str | None = None
    replaced: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    cleaned: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class BackupInfo:
    """One backup as listed: where it is, how big, when it was made."""

    name: str
    location: str
    size: int
    created: datetime
    encrypted: bool
    compression: str
    remote: bool = False
    manifest: Manifest | None = None
    # Whose backup it is (see backup_user), once known; the local file's owner.
    user: str | None = None
    uid: int | None = None

    def to_dict(self) -> dict:
        data = {
            "name": self.name,
            "location": self.location,
            "size": self.size,
            "created": self.created.isoformat(),
            "encrypted": self.encrypted,
            "compression": self.compression,
            "remote": self.remote,
        }
        if self.user is not None:
            data["user"] = self.user
        if self.manifest is not None:
            data["user"] = self.manifest.user
            data["components"] = self.manifest.components
            data["files"] = sum(1 for e in self.manifest.entries if e.type == "file")
            data["bytes"] = self.manifest.total_bytes
            data["tool_version"] = self.manifest.tool_version
        return data


@dataclass
class VerifyResult:
    """The outcome of checking every checksum of a backup."""

    name: str
    ok: bool
    files_checked: int
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


# Where backups live and what they hold.


def backups_dir(ws: Workspace) -> Path:
    """Return the user's backups folder: ``runtime/data/<user>/backups``.

    With ``[backup] dir`` (which any layer may set, the team's defaults
    too, so several users may share it) it is the user's own folder there,
    ``<dir>/<user>``; a ``dir`` whose last part is already the user's name
    (``/backups/${workspace.user}``) is used as it is.
    """
    configured = settings.text_setting(ws, "backup.dir")
    if not configured:
        return ws.backups_dir
    path = ws.expand_home(configured.replace("${workspace.user}", ws.user))
    path = path if path.is_absolute() else ws.root / path
    return path if path.name == ws.user else path / ws.user


def configured_compression(ws: Workspace, default: str) -> str:
    """Return ``[backup] compress`` (``default`` when unset), checked."""
    return settings.choice_setting(ws, "backup.compress", archive.COMPRESSIONS, default)


def lock_file(ws: Workspace) -> Path:
    """Return the per-user lock shared by backup, restore and reset."""
    return ws.state_dir / LOCK_NAME


def locked(ws: Workspace, what: str) -> contextlib.AbstractContextManager[None]:
    """Hold the user's workspace lock while ``what`` runs."""
    ensure_user_dir(ws, lock_file(ws).parent)
    return safefs.user_lock(lock_file(ws), what)


def component_paths(ws: Workspace, components: tuple[str, ...]) -> list[str]:
    """Return the paths (relative to the root) that ``components`` cover.

    The user's own areas: ``config/<user>.toml``,
    ``extensions/<kind>/<user>``, ``infra/<user>`` and
    ``runtime/<area>/<user>``; with ``shared`` (asked for only), the
    shared files too (see :func:`shared_paths`). Other users' areas are
    never backed up, so restoring a backup can never overwrite anybody
    else's work.
    """
    tops: list[str] = []
    for component in components:
        if component == "shared":
            tops += shared_paths(ws)
        elif component == "config":
            tops.append(f"config/{ws.user}.toml")
        elif component == "extensions":
            tops += [f"extensions/{kind}/{ws.user}" for kind in _extension_kinds(ws)]
        elif component == "infra":
            tops.append(f"infra/{ws.user}")
        elif component == "runtime":
            tops += [f"runtime/{a}/{ws.user}" for a in RUNTIME_OF_COMPONENT["runtime"]]
        else:
            tops.append(f"runtime/{component}/{ws.user}")
    return tops


def _extension_kinds(ws: Workspace) -> list[str]:
    folder = ws.extensions_dir
    if not folder.is_dir() or folder.is_symlink():
        return []
    return sorted(e.name for e in os.scandir(folder) if e.is_dir(follow_symlinks=False))


def shared_paths(ws: Workspace) -> list[str]:
    """Return what component ``shared`` holds: what no user has for their own.

    The shared config files (:data:`SHARED_CONFIG_FILES`), and in each
    ``extensions/<kind>/`` and in ``infra/`` every entry not named after a
    user (see :func:`user_names`): the shared extensions, the template
    folders, ``infra/local``, ``infra/examples`` and other shared
    infrastructures.
    """
    users = user_names(ws)
    tops = [f"config/{name}" for name in SHARED_CONFIG_FILES]
    for kind in _extension_kinds(ws):
        names = _names_in(ws.extension_kind_dir(kind))
        tops += [f"extensions/{kind}/{name}" for name in names if name not in users]
    tops += [f"infra/{name}" for name in _names_in(ws.infra_dir) if name not in users]
    return tops


def _names_in(folder: Path) -> list[str]:
    if not folder.is_dir() or folder.is_symlink():
        return []
    return sorted(os.listdir(folder))


def user_names(ws: Workspace) -> set[str]:
    """Return the names whose extension and infra folders are a user's own.

    The users with a runtime area, ``ws.user``, and every name with a
    ``config/<name>.toml`` that is not a shared config file: a user whose
    runtime area is gone still owns the rest.
    """
    names = {*ws.known_users(), ws.user}
    for name in _names_in(ws.config_dir):
        if name.endswith(".toml") and name not in SHARED_CONFIG_FILES:
            names.add(name[: -len(".toml")])
    return names


def is_shared(path: str, user: str) -> bool:
    """Tell whether ``path`` of ``user``'s backup is a shared file, not theirs.

    Under ``config``, ``extensions/<kind>`` or ``infra`` and not the
    user's own; the folders above (``config``, ``extensions/<kind>``) are
    structure, not shared files.
    """
    parts = path.split("/")
    if parts[0] == "config":
        return len(parts) > 1 and path != f"config/{user}.toml"
    if parts[0] == "infra":
        return len(parts) > 1 and parts[1] != user
    if parts[0] == "extensions":
        return len(parts) > 2 and parts[2] != user
    return False


def shared_problem(path: str, users: set[str]) -> str:
    """Return why a restore may not write the shared ``path`` ("" if it may).

    Only the shared config files, and under ``extensions/<kind>/`` and
    ``infra/`` only what is not named after one of ``users``
    (:func:`user_names` of the workspace written to).
    """
    parts = path.split("/")
    if parts[0] == "config":
        if len(parts) == 2 and parts[1] in SHARED_CONFIG_FILES:
            return ""
        return "is not one of the shared config files"
    owner = parts[1] if parts[0] == "infra" else parts[2]
    if owner in users:
        return f"is in the areas of user {owner!r}"
    return ""


def excluded_paths(ws: Workspace, backups: Path | None = None) -> set[str]:
    """Return the paths a backup never holds and a restore never writes.

    The backups folder (``backups``, else :func:`backups_dir`), the lock,
    the tool's own state (doit's database, the last-backup record) and the
    health state: restoring any of them would replace a backup or fake a
    health report.
    """
    excluded = set()
    doit = ws.doit_dep_file
    for path in (
        backups or backups_dir(ws),
        lock_file(ws),
        doit,
        *(doit.with_name(doit.name + s) for s in DOIT_SUFFIXES),
        ws.state_dir / LAST_BACKUP,
        ws.state_dir / "health.json",
        ws.state_dir / "health",
    ):
        if safefs.is_within(path, ws.root):
            excluded.add(Path(os.path.relpath(path, ws.root)).as_posix())
    return excluded


def _is_excluded(path: str, excluded: set[str]) -> bool:
    """Tell whether ``path`` is one of ``excluded`` or lies below one."""
    if path in excluded:
        return True
    slash = path.find("/")
    while slash > 0:
        if path[:slash] in excluded:
            return True
        slash = path.find("/", slash + 1)
    return False


def outside_user_areas(ws: Workspace, path: str, kind: str, excluded: set[str]) -> str:
    """Return why ``path`` is not the user's to restore ("" when it is).

    A path belongs to the user when it lies in one of the areas of
    :func:`component_paths` and is not excluded; the folders above those
    areas (``config``, ``extensions/<kind>``, ``runtime/<area>``) pass
    as folders only. ``excluded`` is :func:`excluded_paths` of ``ws``.
    """
    u = ws.user
    parts = path.split("/")
    top = parts[0]
    if kind == "dir" and (
        (len(parts) == 1 and top in ("config", "extensions", "infra", "runtime"))
        or (len(parts) == 2 and top == "extensions")
        or (len(parts) == 2 and top == "runtime" and parts[1] in RUNTIME_AREAS)
    ):
        return ""
    own = (
        path == f"config/{u}.toml"
        or (top == "infra" and len(parts) > 1 and parts[1] == u)
        or (top == "extensions" and len(parts) > 2 and parts[2] == u)
        or (
            top == "runtime"
            and len(parts) > 2
            and parts[1] in RUNTIME_AREAS
            and parts[2] == u
        )
    )
    if not own:
        return f"is outside the areas of user {quoted(u)}"
    if _is_excluded(path, excluded):
        return "is tool state (backups, lock, health or task state)"
    return ""


def protected_from_plain_archives(
    ws: Workspace, path: str, kind: str, excluded: set[str]
) -> str:
    """Return why a plain tar (no manifest of ours) may not write ``path``.

    A tar of the user's own making may bring new shared files (notes, a
    ``config/extra.toml``), but never: the workspace's records, ``lib/`` and
    ``tools/``, the shared files ``init`` generated, a structural folder
    replaced by something else, another user's areas, or tool state.
    """
    parts = path.split("/")
    top = parts[0]
    if path in (MARKER, MANIFEST):
        return "is the workspace's own record"
    if top in ("lib", "tools") and not (kind == "dir" and len(parts) == 1):
        return "is tool code the workspace generated"
    structural = (
        len(parts) == 1
        and top in ("config", "extensions", "infra", "runtime", "lib", "tools")
    ) or (len(parts) == 2 and top in ("extensions", "runtime"))
    if structural:
        return "" if kind == "dir" else "would replace a folder of the workspace"
    if outside_user_areas(ws, path, kind, excluded) == "":
        return ""
    if top == "runtime":
        return f"is outside the runtime areas of user {quoted(ws.user)}"
    owner = _area_owner(parts)
    if owner and owner != ws.user and owner in ws.known_users():
        return f"is in the areas of user {quoted(owner)}"
    from workspace_tasks.init import read_manifest

    if path in read_manifest(ws):
        return "is a shared file the workspace generated"
    return ""


def _area_owner(parts: list[str]) -> str:
    """Return the user whose area a path would be in, if it is in one."""
    if parts[0] == "config" and len(parts) == 2 and parts[1].endswith(".toml"):
        return parts[1][: -len(".toml")]
    if parts[0] == "infra" and len(parts) > 1:
        return parts[1]
    if parts[0] == "extensions" and len(parts) > 2:
        return parts[2]
    return ""


def component_of(path: str, user: str) -> str:
    """Return the component a path of ``user``'s backup belongs to.

    ``shared`` for the shared files (see :func:`is_shared`); else its top
    folder, ``logs`` and ``cache`` for those runtime areas.
    """
    parts = path.split("/")
    if parts[0] == "runtime" and len(parts) > 1:
        return parts[1] if parts[1] in ("logs", "cache") else "runtime"
    if is_shared(path, user):
        return "shared"
    return parts[0]


def check_components(names: tuple[str, ...], flag: str = "--components") -> None:
    """Refuse an empty list and component names that are not known.

    Raises:
        UsageError: naming the flag and the components to choose from.
    """
    if not names:
        raise UsageError(
            f"{flag}: the list is empty; choose from {','.join(COMPONENTS)}"
        )
    unknown = [n for n in names if n not in COMPONENTS]
    if unknown:
        raise UsageError(
            f"{flag}: {', '.join(unknown)} is not a component; "
            f"choose from {','.join(COMPONENTS)}"
        )


def parse_components(text: str, flag: str = "--components") -> tuple[str, ...]:
    """Split ``config,extensions`` into names, refusing unknown ones."""
    names = tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    check_components(names, flag)
    return names


# Listing.


def _split_name(filename: str) -> tuple[str, str, bool] | None:
    encrypted = filename.endswith(archive.ENCRYPTED_SUFFIX)
    base = filename[: -len(archive.ENCRYPTED_SUFFIX)] if encrypted else filename
    for suffix in _NAME_SUFFIXES:
        if base.endswith(suffix) and len(base) > len(suffix):
            compression = {".tar.zst": "zstd", ".tar.gz": "gzip", ".tar": "none"}
            return base[: -len(suffix)], compression[suffix], encrypted
    return None


def list_backups(ws: Workspace, remote: str | None = None) -> list[BackupInfo]:
    """Return the backups of the user, newest first (local, or at ``remote``).

    Only the user's own (see :func:`backup_user`): another user's backup,
    or a file that merely looks like one, in the same folder is never
    listed, so it is never the latest, never restored without being named
    and never removed by a cleanup. Hidden files (backups still being
    written) are never listed.

    Raises:
        UnsafeOperation: the backups folder is in the user's runtime area
            and leads out of the workspace through a link.
    """
    found = []
    for info in backup_files(ws, remote):
        info.user = backup_user(ws, info)
        if info.user == ws.user:
            found.append(info)
    found.sort(key=lambda b: (b.created, b.name), reverse=True)
    return found


def backup_files(ws: Workspace, remote: str | None = None) -> list[BackupInfo]:
    """Return every file named as a backup is, whoever it belongs to.

    Regular files named ``NAME.tar``, ``.tar.zst`` or ``.tar.gz`` (with
    ``.age`` when encrypted) in the user's backups folder (or at
    ``remote``), hidden ones left out; nothing is read from them.
    """
    found: list[BackupInfo] = []
    if remote:
        from workspace_tasks import remote as remote_store

        for item in remote_store.list_files(ws, remote):
            parts = _split_name(item.name)
            if parts and not item.name.startswith("."):
                created = item.modified or datetime.fromtimestamp(0, UTC)
                found.append(
                    BackupInfo(
                        parts[0],
                        item.url,
                        item.size,
                        created,
                        parts[2],
                        parts[1],
                        remote=True,
                    )
                )
        return found
    folder = backups_dir(ws)
    if area_of(ws, folder):
        check_inside(ws, folder)
    entries = list(os.scandir(folder)) if folder.is_dir() else []
    for entry in entries:
        parts = _split_name(entry.name)
        if (
            parts is None
            or entry.name.startswith(".")
            or not entry.is_file(follow_symlinks=False)
        ):
            continue
        info = entry.stat(follow_symlinks=False)
        created = datetime.fromtimestamp(info.st_mtime, UTC)
        found.append(
            BackupInfo(
                parts[0],
                entry.path,
                info.st_size,
                created,
                parts[2],
                parts[1],
                uid=info.st_uid,
            )
        )
    return found


def backup_user(ws: Workspace, info: BackupInfo) -> str | None:
    """Return the user whose backup ``info`` is; None when it is nobody's known.

    A local file must belong to this account. Then a readable manifest
    names the user. A file without one (encrypted, damaged, or a tar not
    made here) is ``ws.user``'s only when its path has the user in it: the
    ``workspace-<user>-<YYYYmmdd_HHMMSS>`` of auto names, or a backups
    folder of the user's own (``runtime/data/<user>/backups``, or one whose
    name is the user's, as each user's folder under ``[backup] dir`` is).
    Encrypted files are never decrypted for this.
    """
    if info.uid is not None and info.uid != os.getuid():
        return None
    user = None if info.encrypted else _manifest_user(ws, info)
    if user is not None:
        return user
    return ws.user if _named_for(ws, info) else None


def _manifest_user(ws: Workspace, info: BackupInfo) -> str | None:
    """Return the user the manifest names; None if there is none to read."""
    try:
        with open_backup(ws, info) as raw, archive.open_tar(raw, None) as tar:
            manifest, _ = archive.read_manifest_member(tar)
    except (archive.ArchiveError, OSError) as exc:
        log.debug("no manifest read from %s: %s", info.location, exc)
        return None
    return manifest.user if manifest is not None else None


def _named_for(ws: Workspace, info: BackupInfo) -> bool:
    """Tell whether the path of ``info`` has ``ws.user`` in it (see above)."""
    stamp = rf"workspace-{re.escape(ws.user)}-\d{{8}}_\d{{6}}(-\d+)?"
    if re.fullmatch(stamp, info.name):
        return True
    if info.remote:
        return info.location.rstrip("/").split("/")[-2] == ws.user
    folder = Path(info.location).parent
    return folder == ws.backups_dir or folder.name == ws.user


def expired_backups(
    ws: Workspace, now: datetime, keep_within: float | None = None
) -> list[BackupInfo]:
    """Return the local backups past retention, oldest last.

    A backup is kept when it is one of the ``[backup] keep_last`` newest or
    younger than ``[backup] keep_within`` (or ``keep_within`` seconds, when
    given); every other one has expired.
    """
    keep_last = settings.int_setting(ws, "backup.keep_last")
    if keep_within is None:
        keep_within = settings.age_setting(ws, "backup.keep_within")
    window = timedelta(seconds=keep_within) if keep_within is not None else None
    if keep_last <= 0 and window is None:
        return []  # no retention configured: every backup is kept
    expired = []
    for index, info in enumerate(list_backups(ws)):
        if index < keep_last:
            continue
        if window is not None and now - info.created <= window:
            continue
        expired.append(info)
    return expired


def find_backup(ws: Workspace, name: str, remote: str | None = None) -> BackupInfo:
    """Return the backup called ``name``: the user's own first, else any.

    Named, even a backup of another user is found (its ``user`` says
    whose); only listings and ``--latest`` stick to the user's own.

    Raises:
        NotFoundError: there is none, naming where it was looked for.
    """
    named = [info for info in backup_files(ws, remote) if info.name == name]
    for info in named:
        info.user = backup_user(ws, info)
    named.sort(key=lambda b: (b.user == ws.user, b.created), reverse=True)
    if named:
        return named[0]
    where = remote or backups_dir(ws)
    raise NotFoundError(
        f"--backup-name: no backup {quoted(name)} in {where}; "
        "see 'workspace restore --list-backups'"
    )


def backup_from_file(path: Path) -> BackupInfo:
    """Describe an archive given by path (ours, or a plain tar)."""
    path = Path(path)
    try:
        info = path.stat()
    except OSError as exc:
        raise NotFoundError(
            f"--backup-file: cannot read {path}: {exc.strerror}"
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"--backup-file: {path} is not a file")
    parts = _split_name(path.name) or (path.name, "none", False)
    created = datetime.fromtimestamp(info.st_mtime, UTC)
    return BackupInfo(parts[0], str(path), info.st_size, created, parts[2], parts[1])


def open_backup(ws: Workspace, info: BackupInfo) -> BinaryIO:
    """Open a backup's file for reading, local or remote."""
    if info.remote:
        from workspace_tasks import remote as remote_store

        return remote_store.open_file(ws, info.location)
    return open(info.location, "rb")  # noqa: SIM115 - the caller closes it


def decryption_keys(ws: Workspace) -> Callable[[], object]:
    """Return a function giving the keys to open backups, read when needed."""

    def keys() -> object:
        from workspace_tasks import crypto

        return crypto.decryption_keys(ws)

    return keys


def read_manifest(ws: Workspace, info: BackupInfo) -> Manifest | None:
    """Read a backup's manifest (None for a tar that has none).

    Raises:
        archive.ArchiveError: not a readable archive, naming it (exit 2).
    """
    try:
        with (
            open_backup(ws, info) as raw,
            archive.open_tar(raw, decryption_keys(ws)) as tar,
        ):
            manifest, _ = archive.read_manifest_member(tar)
    except archive.ArchiveError as exc:
        raise archive.ArchiveError(
            f"{info.location}: {exc}", exit_code=EXIT_USAGE
        ) from None
    return manifest


def describe(ws: Workspace, infos: list[BackupInfo]) -> list[BackupInfo]:
    """Fill in each backup's manifest where it can be read (``--detailed``)."""
    for info in infos:
        try:
            info.manifest = read_manifest(ws, info)
        except Exception as exc:  # one unreadable backup must not hide the rest
            log.warning("cannot read the manifest of %s: %s", info.name, exc)
    return infos


# Verifying.


def verify_backup(
    ws: Workspace, info: BackupInfo, config_parses: bool = False
) -> VerifyResult:
    """Read a whole backup and check every entry against its manifest.

    With ``config_parses`` the user's config file in it must be valid TOML
    too: a backup of a broken configuration is not a good one to go back to.
    """
    problems: list[str] = []
    checked = 0
    try:
        with (
            open_backup(ws, info) as raw,
            archive.open_tar(raw, decryption_keys(ws)) as tar,
        ):
            manifest, _ = archive.read_manifest_member(tar)
            if manifest is None:
                return VerifyResult(
                    info.name, False, 0, ["the archive has no manifest"]
                )
            expected = {e.path: e for e in manifest.entries}
            config = f"config/{manifest.user}.toml" if config_parses else ""
            for member in archive.members(tar):
                checked += _verify_member(tar, member, expected, problems, config)
            problems += [f"{path}: missing from the archive" for path in expected]
    except Exception as exc:  # any failure to read is a failed verification
        from workspace_tasks.errors import WorkspaceError

        if not isinstance(exc, WorkspaceError | OSError | EOFError):
            raise
        problems.append(str(exc))
    return VerifyResult(info.name, not problems, checked, problems)


def latest_known_good(ws: Workspace, remote: str | None = None) -> BackupInfo:
    """Return the newest backup that verifies and whose user config parses.

    Raises:
        NotFoundError: no backup verifies.
    """
    for info in list_backups(ws, remote):
        result = verify_backup(ws, info, config_parses=True)
        if result.ok:
            return info
        log.warning("backup %s does not verify: %s", info.name, result.problems[0])
    raise NotFoundError(
        f"--latest-known-good: no backup in {remote or backups_dir(ws)} verifies"
    )


def _verify_member(
    tar, member, expected: dict, problems: list[str], config: str = ""
) -> int:
    """Check one member against the manifest (and parse it if it is ``config``)."""
    name = member.name.rstrip("/")
    entry = expected.pop(name, None)
    if entry is None:
        problems.append(f"{name}: not in the manifest")
        return 0
    if entry.type != "file":
        return 0
    if member.kind != "file" or member.size != entry.size:
        problems.append(f"{name}: size or type differs from the manifest")
        return 0
    if name != config:
        digest = archive.copy_member(tar, name, member.size, None)
    else:
        data = archive.read_member(tar, name, member.size, member.offset)
        digest = hashlib.sha256(data).hexdigest()
        problems += _toml_problems(name, data)
    if digest != entry.sha256:
        problems.append(f"{name}: checksum does not match")
    return 1


def _toml_problems(name: str, data: bytes) -> list[str]:
    """Return why ``data`` (the file ``name``) is not valid TOML, if it is not."""
    from workspace_tasks import tomlfile

    try:
        tomlfile.loads(data.decode("utf-8"), name)
    except UnicodeDecodeError:
        return [f"{name}: not valid UTF-8 text"]
    except UsageError as exc:
        return [str(exc)]
    return []


# Leftovers of interrupted runs.

_TEMPORARY_SUFFIXES = (".tmp", ".members")


def remove_stale_temporaries(
    ws: Workspace, warnings: list[str] | None = None
) -> list[str]:
    """Remove what killed backups and restores of the user left behind.

    The caller holds the user's lock, so no backup or restore of the user is
    writing: every hidden temporary in the backups folder (archives being
    written, their plaintext spools) and in the user's state folder, and
    every restore staging folder of the user, is stale. A staging folder
    whose swap was cut short is undone first. A folder someone else could
    have written in, or one reached through a link leading out of the
    workspace, is left alone and said so in ``warnings``. Returns the
    names removed.
    """
    left: list[str] = [] if warnings is None else warnings
    removed = []
    for folder in (backups_dir(ws), ws.state_dir):
        stale = _stale_temporaries(folder)
        why = _why_not_cleared(ws, folder) if stale else ""
        if why:
            left.append(
                f"left {len(stale)} temporary files in {folder} alone: the folder "
                f"{why}; check them and remove them yourself"
            )
            log.info("%s", left[-1])
            continue
        for path in stale:
            safefs.remove_path(path, folder)
            removed.append(path.name)
    if _has_staging_folder(ws):
        from workspace_tasks import restore

        removed += restore.recover_interrupted(ws, left)
    for name in removed:
        log.info("removed %s, left by an interrupted backup or restore", name)
    return removed


def _stale_temporaries(folder: Path) -> list[Path]:
    if not folder.is_dir() or folder.is_symlink():
        return []
    return [
        Path(entry.path)
        for entry in sorted(os.scandir(folder), key=lambda e: e.name)
        if entry.name.startswith(".")
        and entry.name.endswith(_TEMPORARY_SUFFIXES)
        and entry.is_file(follow_symlinks=False)
    ]


def _why_not_cleared(ws: Workspace, folder: Path) -> str:
    """Return why temporaries in ``folder`` are not the user's to remove."""
    if ws.root in folder.parents and not safefs.resolves_within(folder, ws.root):
        return f"leads outside the workspace (to {os.path.realpath(folder)})"
    return safefs.why_untrusted(folder)


def _has_staging_folder(ws: Workspace) -> bool:
    """Tell whether any restore staging folder lies in the workspace's root."""
    try:
        names = os.listdir(ws.root)
    except OSError:
        return False
    return any(name.startswith(RESTORE_STAGING_PREFIX) for name in names)


# Making a backup.


def auto_name(ws: Workspace, now: datetime) -> str:
    """Return ``workspace-<user>-<YYYYmmdd_HHMMSS>``, unique in the folder."""
    stem = f"workspace-{ws.user}-{now.astimezone().strftime('%Y%m%d_%H%M%S')}"
    taken = {b.name for b in backup_files(ws)}
    name, counter = stem, 2
    while name in taken:
        name, counter = f"{stem}-{counter}", counter + 1
    return name


def _check_options(options: BackupOptions) -> None:
    if options.name is not None:
        check_name(options.name, "--name")
    check_components(options.components)
    if options.compression not in archive.COMPRESSIONS:
        raise UsageError(
            f"--compress: {quoted(options.compression)} is not one of zstd, gzip"
        )
    if options.remote is not None:
        from workspace_tasks import remote

        remote.check_url(options.remote)


def create_backup(
    ws: Workspace,
    options: BackupOptions,
    now: datetime | None = None,
    progress: archive.ProgressFn | None = None,
) -> BackupResult:
    """Back up the user's workspace as one archive (holding the user's lock).

    Raises:
        UsageError: a bad option, or an existing name without ``force``.
        NotFoundError: the user has no areas in the workspace.
        archive.ArchiveError: a file changed while being read.
    """
    _check_options(options)  # bad flags fail before the lock is even made
    require_areas(ws)
    with locked(ws, "backup"):
        return make_backup(ws, options, now or datetime.now(UTC), progress)


def _check_replaced(ws: Workspace, existing: list[BackupInfo], force: bool) -> None:
    """Refuse to replace files of the new backup's name, unless all may go.

    With ``force`` an earlier backup of the user's own is replaced; a file
    that is not positively one (another user's backup, a file that only
    looks like one) never is.

    Raises:
        UsageError: naming ``--name``, and ``--force`` when it would do.
    """
    for info in existing:
        user = backup_user(ws, info)
        if user != ws.user:
            whose = f"a backup of user {user!r}" if user else "not a backup of yours"
            raise UsageError(
                f"--name: {info.location} is {whose} and is never replaced; "
                "choose another name"
            )
    if existing and not force:
        raise UsageError(
            f"--name: a backup {existing[0].name!r} already exists; pass --force "
            "to replace it"
        )


def _check_target(ws: Workspace, target: Path, options: BackupOptions) -> None:
    """Refuse a backup whose file would replace a link, folder, fifo or device.

    Only a regular file (an earlier backup, with ``--force``) is replaced;
    the remote copy's place is checked too, before anything is written: a
    copy of the same name there is replaced only with ``--force`` as well.

    Raises:
        UsageError: naming ``--name`` (or ``--remote``) and what stands there.
    """
    kind = safefs.entry_kind(target)
    if kind not in (None, "file"):
        raise UsageError(
            f"--name: {target} is a {kind}, not a backup, and is never "
            "replaced; remove it or choose another name"
        )
    if options.remote:
        from workspace_tasks import remote

        remote.check_upload_target(ws, options.remote, target.name, options.force)


def make_backup(
    ws: Workspace,
    options: BackupOptions,
    now: datetime,
    progress: archive.ProgressFn | None = None,
) -> BackupResult:
    """Back up the user's workspace; the caller holds the user's lock."""
    _check_options(options)
    warnings: list[str] = []
    cleaned = remove_stale_temporaries(ws, warnings)
    keys = _encryption_keys(ws) if options.encrypt else None
    name = options.name or auto_name(ws, now)
    folder = backups_dir(ws)
    suffix = archive.SUFFIXES[options.compression]
    target = folder / f"{name}{suffix}{archive.ENCRYPTED_SUFFIX if keys else ''}"
    existing = [b for b in backup_files(ws) if b.name == name]
    _check_replaced(ws, existing, options.force)
    _check_target(ws, target, options)

    components = list(options.components)
    components += [
        c
        for c, on in (("logs", options.include_logs), ("cache", options.include_cache))
        if on
    ]
    components = list(dict.fromkeys(components))
    tops = component_paths(ws, tuple(components))
    entries, skipped = archive.scan_tree(ws.root, tops, excluded_paths(ws))
    warnings += link_warnings(entries)
    manifest = Manifest(
        name=name,
        user=ws.user,
        workspace_type=ws.type,
        components=components,
        created=now.isoformat(),
        compression=options.compression,
        tool_version=__version__,
        entries=entries,
    )

    ensure_user_dir(ws, folder)
    vanished = _write(target, ws.root, manifest, options.compression, keys, progress)
    warnings += [f"skipped {p}: it vanished while being backed up" for p in vanished]
    replaced = [b.location for b in existing if b.location != str(target)]
    for old in replaced:
        safefs.remove_path(Path(old), folder)
    _record_last_backup(ws, name, now, fingerprint(entries))
    log.info("backup %s written to %s", name, target)

    remote_url = None
    if options.remote:
        from workspace_tasks import remote as remote_store

        try:
            copy = remote_store.upload(ws, target, options.remote, options.force)
        except remote_store.RemoteError as exc:
            raise remote_store.RemoteError(
                f"{exc}; the local backup {target} is kept", exit_code=exc.exit_code
            ) from exc
        remote_url = copy.url
    files = [e for e in entries if e.type == "file"]
    return BackupResult(
        name=name,
        path=str(target),
        size=target.stat().st_size,
        files=len(files),
        entries=len(entries),
        bytes=sum(e.size for e in files),
        components=components,
        compression=options.compression,
        encrypted=keys is not None,
        remote_url=remote_url,
        replaced=replaced,
        skipped=skipped,
        warnings=warnings,
        cleaned=cleaned,
    )


def link_warnings(entries: list[archive.Entry]) -> list[str]:
    """Return a warning for each link that a restore would refuse.

    Such a link (leaving the workspace, or a loop of links) is still backed
    up as it is, but restoring the backup will refuse the whole archive.
    """
    links = {e.path: e.target for e in entries if e.type == "symlink"}
    return [
        f"{path} {reason}: a restore of this backup will refuse it"
        for path, reason in archive.link_problems(links).items()
    ]


def _encryption_keys(ws: Workspace) -> object:
    from workspace_tasks import crypto

    return crypto.encryption_keys(ws)


def _write(
    target: Path,
    root: Path,
    manifest: Manifest,
    compression: str,
    keys: object,
    progress: archive.ProgressFn | None,
) -> list[str]:
    """Write the archive; return the files that vanished and were left out."""
    vanished: list[str] = []
    with safefs.atomic_output(target, safefs.PRIVATE_FILE) as temporary:
        os.chmod(temporary, safefs.PRIVATE_FILE)
        if keys is None:
            # One read of each file: checksums are computed while writing.
            archive.write_spooled(
                temporary, root, manifest, compression, progress, vanished
            )
            return vanished
        # Encrypted: nothing unencrypted may be spooled, so the checksums
        # for the manifest come from a first pass over the files.
        vanished = archive.hash_entries(root, manifest.entries)
        with open(temporary, "wb") as out, contextlib.ExitStack() as stack:
            from workspace_tasks import crypto

            sink: BinaryIO = stack.enter_context(crypto.encrypting(out, keys))
            sink = stack.enter_context(archive.compressing(sink, compression))
            archive.write_archive(sink, root, manifest, progress)
    return vanished


# Automatic backups.


def fingerprint(entries: list[archive.Entry]) -> str:
    """Return a digest of the paths, sizes, modes and mtimes of ``entries``.

    Folder mtimes are left out: they change whenever the tool writes its own
    state beside backed-up files, and their contents are listed anyway.
    """
    lines = "".join(
        f"{e.path}\0{e.type}\0{e.mode}\0{0 if e.type == 'dir' else e.mtime_ns}"
        f"\0{e.size}\0{e.target}\n"
        for e in entries
    )
    return hashlib.sha256(lines.encode("utf-8", "surrogateescape")).hexdigest()


def _record_last_backup(ws: Workspace, name: str, now: datetime, digest: str) -> None:
    record = {"name": name, "time": now.isoformat(), "fingerprint": digest}
    ensure_user_dir(ws, ws.state_dir)
    path = ws.state_dir / LAST_BACKUP
    safefs.atomic_write(path, json.dumps(record) + "\n", root=ws.root)


def _last_backup(ws: Workspace) -> dict:
    try:
        return json.loads((ws.state_dir / LAST_BACKUP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


@dataclass
class AutoBackupResult:
    """Whether an automatic backup was made, and why (or why not)."""

    made: bool
    reason: str
    backup: BackupResult | None = None

    def to_dict(self) -> dict:
        return {
            "made": self.made,
            "reason": self.reason,
            "backup": self.backup.to_dict() if self.backup else None,
        }


def auto_backup(ws: Workspace, now: datetime | None = None) -> AutoBackupResult:
    """Back up when ``backup_interval`` has passed and something changed.

    The interval is ``[development] backup_interval`` of the user config
    (off when missing or when ``auto_backup`` is false); compression is
    ``[backup] compress``, encryption ``[backup] encrypt``.
    """
    now = now or datetime.now(UTC)
    seconds = settings.age_setting(ws, "development.backup_interval")
    if seconds is None or not settings.bool_setting(
        ws, "development.auto_backup", True
    ):
        return AutoBackupResult(
            False,
            "automatic backups are off ([development] backup_interval is not set)",
        )
    with locked(ws, "backup"):
        last = _last_backup(ws)
        reason = _why_not(ws, last, now, seconds)
        if reason:
            return AutoBackupResult(False, reason)
        options = BackupOptions(
            compression=configured_compression(ws, "none"),
            encrypt=settings.bool_setting(ws, "backup.encrypt"),
        )
        result = make_backup(ws, options, now)
    return AutoBackupResult(True, "made a new backup", result)


def _why_not(ws: Workspace, last: dict, now: datetime, seconds: float) -> str:
    when = None
    with contextlib.suppress(KeyError, ValueError, TypeError):
        when = datetime.fromisoformat(last["time"])
    if when is None:
        newest = list_backups(ws)
        when = newest[0].created if newest else None
    if when is not None and (now - when).total_seconds() < seconds:
        return (
            f"the last backup is from {when.isoformat(timespec='seconds')}, "
            f"within the interval of {seconds:g}s"
        )
    entries, _ = archive.scan_tree(
        ws.root,
        component_paths(ws, DEFAULT_COMPONENTS),
        excluded_paths(ws),
        with_checksums=False,
    )
    if last.get("fingerprint") == fingerprint(entries):
        return "nothing changed since the last backup"
    return ""
