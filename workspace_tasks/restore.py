"""Restore a backup into the workspace, safely and all or nothing.

A restore runs in steps:

1. **Check** every member of the archive before anything is written: no
   absolute path, no ``..``, no backslash, no device or special file, no
   symbolic or hard link leading out of the target, no member written
   through a link or file placed by an earlier one. One bad member refuses
   the whole archive, naming it. With ``verify`` (and always on a dry run)
   every checksum is checked too, so a corrupt archive restores nothing and
   a dry run fails exactly where the real run would.
2. **Plan** what happens to each path (create, replace, keep, unchanged);
   local files newer than the backup are kept with ``merge``, replaced with
   ``overwrite``, and otherwise stop the restore; a newer file still exactly
   as ``init`` (or ``reset``) generated it is no one's work and is replaced.
   ``dry_run`` stops here.
3. **Stage** the new files in a hidden folder inside the workspace that
   mirrors it, from what step 1 checked: a second read of the archive takes
   only file data, at the offsets found then, each file against its checksum.
4. **Swap** them in by renames recorded in a journal (one per new subtree or
   replaced path); on failure the journal is undone, and a restore killed
   half-way is undone by the next.

Files that exist locally but are not in the backup are never removed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

from workspace_tasks import archive, parallel, safefs
from workspace_tasks.archive import ArchiveError, Manifest
from workspace_tasks.backup import (
    COMPONENTS,
    BackupInfo,
    check_components,
    component_of,
    decryption_keys,
    excluded_paths,
    is_shared,
    locked,
    open_backup,
    outside_user_areas,
    protected_from_plain_archives,
    remove_stale_temporaries,
    shared_problem,
    user_names,
)
from workspace_tasks.context import (
    RESTORE_STAGING_PREFIX,
    Workspace,
    check_user_areas_free,
)
from workspace_tasks.errors import (
    EXIT_USAGE,
    ChecksFailed,
    UnsafeOperation,
    UsageError,
    WorkspaceError,
)
from workspace_tasks.names import check_user_name
from workspace_tasks.tarstream import write_data
from workspace_tasks.text import quoted

log = logging.getLogger(__name__)

STAGING_PREFIX = RESTORE_STAGING_PREFIX
JOURNAL = "journal"
DONE = "done"
SHARED_MARK = "shared"
WRITES = ("create", "replace")


class UnsafeArchive(UnsafeOperation):
    """An archive with a member that could write outside its target."""


@dataclass(frozen=True)
class RestoreOptions:
    """The flags of ``workspace restore``."""

    components: tuple[str, ...] | None = None
    restore_to: str | None = None
    merge: bool = False
    overwrite: bool = False
    dry_run: bool = False
    verify: bool = False

    @property
    def checks_data(self) -> bool:
        """Tell whether every checksum is checked before the plan is made.

        A dry run checks them too: its plan must fail where the real run
        would, a damaged file included.
        """
        return self.verify or self.dry_run


@dataclass
class Member:
    """One checked member of an archive: its clean path and what it is."""

    path: str
    type: str
    mode: int
    mtime_ns: int
    size: int = 0
    target: str = ""
    sha256: str = ""
    offset: int = 0


@dataclass
class Step:
    """What the restore does to one path of the workspace."""

    source: str
    path: str
    type: str
    action: str
    size: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RestorePlan:
    """Every step of a restore, computed before anything is written."""

    backup: str
    root: str
    user: str
    source_user: str | None
    steps: list[Step] = field(default_factory=list)
    verified: bool = False
    # With --restore-to: the folders of the user's runtime tree that neither
    # exist nor come from the backup, made after the swap as init makes them.
    runtime_tree: list[str] = field(default_factory=list)
    # The components asked for (--components) of which the backup holds nothing.
    missing_components: list[str] = field(default_factory=list)
    # The shared files of another user's backup: never written into a user's
    # areas, with --restore-to or without.
    shared_left_out: list[str] = field(default_factory=list)

    @property
    def kept_newer(self) -> list[str]:
        return [s.path for s in self.steps if s.action == "keep"]

    def count(self, action: str) -> int:
        return sum(1 for s in self.steps if s.action == action)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["kept_newer"] = self.kept_newer
        return data


@dataclass
class RestoreResult:
    """What a restore did (or, with ``dry_run``, would do)."""

    plan: RestorePlan
    dry_run: bool
    written: int = 0
    cleaned: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    runtime_created: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "dry_run": self.dry_run,
            "written": self.written,
            "cleaned": self.cleaned,
            "warnings": self.warnings,
            "runtime_created": self.runtime_created,
            **self.plan.to_dict(),
        }


# Step 1: checking the members.


def _refuse(label: str, name: str, reason: str) -> UnsafeArchive:
    return UnsafeArchive(
        f"refusing {label}: member {quoted(name)} {reason}; nothing was restored"
    )


def _clean_path(name: str) -> list[str] | str:
    """Return the parts of a safe relative name, or why it is not one."""
    if "\\" in name:
        return "has a backslash in its name"
    if name.startswith("/"):
        return "has an absolute path"
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        return "has '..' in its path"
    return parts


def _parent(parts: list[str]) -> str:
    """Return the parent folder of the path made of ``parts``."""
    return "/".join(parts[:-1])


class MemberChecker:
    """Check members in archive order, remembering what earlier ones placed."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.seen: dict[str, str] = {}
        self.links: dict[str, tuple[str, str]] = {}
        # Folders whose parents have all been checked: their children need
        # no walk up the path. ``implied`` are the parents of those that are
        # no members; a member placed at one of them empties both sets.
        self.folders: set[str] = set()
        self.implied: set[str] = set()

    def check(self, info: archive.TarMember) -> Member | None:
        """Return the checked member, None for the archive's root folder.

        Raises:
            UnsafeArchive: naming the member and what is wrong with it.
        """
        parts = _clean_path(info.name)
        if isinstance(parts, str):
            raise _refuse(self.label, info.name, parts)
        if not parts:
            return None
        path = "/".join(parts)
        kind = info.kind
        if kind not in ("file", "dir", "symlink", "hardlink"):
            raise _refuse(self.label, info.name, "is a device or special file")
        self._check_parents(info.name, parts)
        earlier = self.seen.get(path)
        if earlier is not None and not (earlier == kind == "dir"):
            raise _refuse(self.label, info.name, "appears twice in the archive")
        target = ""
        if kind == "symlink":
            target = info.linkname
            self._check_symlink(info.name, parts, target)
        elif kind == "hardlink":
            target = self._check_hardlink(info.name, info.linkname)
        self.seen[path] = kind
        if path in self.implied:
            self.folders.clear()
            self.implied.clear()
        if kind == "dir":
            self._note_folder(path, parts)
        mode = info.mode & (0o1777 if kind == "dir" else 0o777)
        size = info.size if kind == "file" else 0
        mtime_ns = int(info.mtime) * 1_000_000_000
        return Member(path, kind, mode, mtime_ns, size, target, "", info.offset)

    def _note_folder(self, path: str, parts: list[str]) -> None:
        """Remember a checked folder, and the parents it implies."""
        parent = path.rpartition("/")[0]
        if parent and parent not in self.folders:
            for depth in range(1, len(parts)):
                prefix = "/".join(parts[:depth])
                if prefix not in self.seen:
                    self.implied.add(prefix)
        self.folders.add(path)

    def _check_parents(self, name: str, parts: list[str]) -> None:
        if len(parts) == 1 or _parent(parts) in self.folders:
            return
        for depth in range(1, len(parts)):
            prefix = "/".join(parts[:depth])
            kind = self.seen.get(prefix)
            if kind == "symlink":
                raise _refuse(
                    self.label,
                    name,
                    f"would be written through the "
                    f"link {quoted(prefix)} placed by an earlier member",
                )
            if kind is not None and kind != "dir":
                raise _refuse(
                    self.label,
                    name,
                    f"is below {quoted(prefix)}, which is not a folder",
                )

    def _check_symlink(self, name: str, parts: list[str], target: str) -> None:
        if not target or target.startswith("/"):
            raise _refuse(
                self.label, name, f"links to {quoted(target)}, outside the target"
            )
        self.links["/".join(parts)] = (name, target)

    def check_links(self) -> None:
        """Refuse a link that, followed through the archive's links, leaves it.

        Run once every member is known, so a link to another link is
        judged the same whatever their order in the archive.
        """
        problems = archive.link_problems(
            {path: target for path, (_, target) in self.links.items()}
        )
        for path, reason in problems.items():
            raise _refuse(self.label, self.links[path][0], reason)

    def _check_hardlink(self, name: str, linkname: str) -> str:
        parts = _clean_path(linkname)
        if isinstance(parts, str) or not parts:
            raise _refuse(
                self.label,
                name,
                f"is a hard link to {quoted(linkname)}, outside the archive",
            )
        target = "/".join(parts)
        if self.seen.get(target) != "file":
            raise _refuse(
                self.label,
                name,
                f"is a hard link to {quoted(linkname)}, "
                "which is not a file earlier in the archive",
            )
        return target


def check_archive(
    ws: Workspace,
    info: BackupInfo,
    raw: BinaryIO,
    verify: bool,
    target: Workspace | None = None,
) -> tuple[Manifest | None, list[Member]]:
    """Read the whole archive once, checking every member (and checksum).

    Every member must also land, after the ``--restore-to`` rewrite, in the
    areas of ``target``'s user (see :func:`backup.outside_user_areas`), and
    come from the areas of the user who made the backup: a backup never
    writes the marker, ``lib/``, ``tools/``, other users' areas, the
    backups folder or the tool's state. Shared files come only from a
    backup made with component ``shared``, and only those no user owns
    (:func:`backup.shared_problem`).

    Raises:
        UnsafeArchive: a member could write outside the target.
        ChecksFailed: with ``verify``, a checksum or the manifest disagrees.
    """
    target = target or ws
    checker = MemberChecker(info.name)
    checked: list[Member] = []
    problems: list[str] = []
    with archive.open_tar(raw, decryption_keys(ws)) as tar:
        manifest, pending = archive.read_manifest_member(tar)
        expected = {e.path: e for e in manifest.entries} if manifest else {}
        for tarinfo in archive.members(tar, pending):
            member = checker.check(tarinfo)
            if member is None:
                continue
            entry = expected.get(member.path)
            if entry is not None:
                member.mtime_ns, member.sha256 = entry.mtime_ns, entry.sha256
            elif manifest is not None:
                problems.append(f"{member.path}: not in the manifest")
            if member.type == "file" and (verify or manifest is None):
                digest = archive.copy_member(tar, member.path, member.size, None)
                if member.sha256 and digest != member.sha256:
                    problems.append(f"{member.path}: checksum does not match")
                member.sha256 = digest
            checked.append(member)
    checker.check_links()
    _check_areas(info.name, manifest, checked, target)
    if manifest is not None:
        present = {m.path for m in checked}
        problems += [
            f"{p}: missing from the archive" for p in expected if p not in present
        ]
    if problems and (verify or manifest is not None):
        raise ChecksFailed(
            f"backup {info.name} does not verify ({len(problems)} problems, first: "
            f"{problems[0]}); nothing was restored"
        )
    return manifest, checked


def _check_areas(
    label: str, manifest: Manifest | None, members: list[Member], target: Workspace
) -> None:
    """Refuse the archive when a member is not the restoring user's to write."""
    if manifest is None:
        excluded = excluded_paths(target)
        for member in members:
            why = protected_from_plain_archives(
                target, member.path, member.type, excluded
            )
            if why:
                raise _refuse(label, member.path, why)
        return
    check_user_name(manifest.user, f"the manifest of {label}")
    source = target.for_user(manifest.user)
    source_excluded = excluded_paths(source)
    target_excluded = excluded_paths(target)
    same = source.user == target.user and source_excluded == target_excluded
    # Shared files only from a backup made with them, only where no user's
    # areas are (they are restored to the same place, never rewritten).
    with_shared = "shared" in manifest.components
    users = user_names(target) | {source.user} if with_shared else set()
    for member in members:
        if with_shared and is_shared(member.path, source.user):
            why = shared_problem(member.path, users)
        else:
            why = outside_user_areas(source, member.path, member.type, source_excluded)
            if not why and not same:
                path = map_path(member.path, source.user, target.user)
                why = outside_user_areas(target, path, member.type, target_excluded)
        if why:
            raise _refuse(label, member.path, why)


# Step 2: planning.


def map_path(path: str, source_user: str | None, user: str) -> str:
    """Return where ``path`` of ``source_user``'s backup goes for ``user``."""
    if not source_user or source_user == user:
        return path
    parts = path.split("/")
    if parts[0] == "config" and len(parts) == 2 and parts[1] == f"{source_user}.toml":
        parts[1] = f"{user}.toml"
    elif parts[0] == "infra" and len(parts) > 1 and parts[1] == source_user:
        parts[1] = user
    elif (
        parts[0] in ("extensions", "runtime")
        and len(parts) > 2
        and (parts[2] == source_user)
    ):
        parts[2] = user
    return "/".join(parts)


def _rewrites_user(path: str, user: str) -> bool:
    return path == f"config/{user}.toml" or (
        path.startswith(f"runtime/workspaces/{user}/") and path.endswith(".toml")
    )


def rewrite_user(data: bytes, source_user: str, user: str) -> bytes:
    """Replace the user name where it stands as a quoted value or path part."""
    pattern = rb'(?<=["/])' + re.escape(source_user.encode()) + rb'(?=["/])'
    return re.sub(pattern, user.encode(), data)


def _local_state(root: Path, path: str) -> os.stat_result | None:
    try:
        return os.lstat(f"{root}/{path}")
    except FileNotFoundError:
        return None


class _Folders:
    """What planning learnt about the workspace's folders: real or missing.

    Members come folder first, so most lookups of a restore into an empty
    place end at a folder already known to be missing, with no system call.
    """

    def __init__(self, root: Path, generated: dict[str, str] | None = None) -> None:
        self.root = root
        self.known: dict[str, bool] = {}
        self.generated = generated or {}
        self.log_file = ""

    def state(self, path: str) -> os.stat_result | None:
        """Return ``lstat`` of ``path``, None when it or a parent is missing."""
        parent = path.rpartition("/")[0]
        if parent and self.known.get(parent) is False:
            return None
        return _local_state(self.root, path)

    def check(self, path: str) -> None:
        """Refuse to restore ``path`` through a link or below a file."""
        parts = path.split("/")
        for depth in range(1, len(parts)):
            prefix = "/".join(parts[:depth])
            known = self.known.get(prefix)
            if known is False:
                return
            if known is None:
                state = _local_state(self.root, prefix)
                known = state is not None and stat.S_ISDIR(state.st_mode)
                if state is None or known:
                    self.known[prefix] = known
                    if not known:
                        return
                    continue
                _refuse_destination(self.root, path, prefix, state)


def _refuse_destination(
    root: Path, path: str, prefix: str, state: os.stat_result
) -> None:
    if stat.S_ISLNK(state.st_mode):
        raise UnsafeOperation(
            f"refusing to restore {path}: {prefix} in the workspace is a "
            "symbolic link, and writing through it could leave the workspace"
        )
    raise UsageError(
        f"cannot restore {path}: {root / prefix} is a file where the backup "
        "has a folder; move it away first"
    )


def _same(
    root: Path, member: Member, path: str, state: os.stat_result, linked: str = ""
) -> bool:
    mode = stat.S_IMODE(state.st_mode)
    if member.type == "dir":
        return stat.S_ISDIR(state.st_mode) and mode == member.mode
    if member.type == "symlink":
        return stat.S_ISLNK(state.st_mode) and os.readlink(root / path) == member.target
    if member.type == "hardlink":
        # The same file as its (unchanged) target already: nothing to do.
        other = _local_state(root, linked) if linked else None
        return (
            other is not None
            and stat.S_ISREG(state.st_mode)
            and (state.st_dev, state.st_ino) == (other.st_dev, other.st_ino)
        )
    return (
        stat.S_ISREG(state.st_mode)
        and state.st_size == member.size
        and mode == member.mode
        and state.st_mtime_ns == member.mtime_ns
        and archive.file_sha256(root / path) == member.sha256
    )


def _decide(
    folders: _Folders,
    member: Member,
    path: str,
    options: RestoreOptions,
    rewritten: bool,
    linked: str = "",
) -> str:
    root = folders.root
    folders.check(path)
    state = folders.state(path)
    if member.type == "dir" and (state is None or stat.S_ISDIR(state.st_mode)):
        folders.known[path] = state is not None
    if state is None:
        return "create"
    if not rewritten and _same(root, member, path, state, linked):
        return "unchanged"
    if member.type == "dir" and stat.S_ISDIR(state.st_mode):
        return "update"
    local_is_newer = state.st_mtime_ns > member.mtime_ns
    if not local_is_newer or options.overwrite:
        return "replace"
    # Newer only because init (or reset) wrote it and nobody has edited it
    # since: the backup's version is the user's work, so it is restored.
    if (
        path in folders.generated
        and stat.S_ISREG(state.st_mode)
        and archive.file_sha256(root / path) == folders.generated[path]
    ):
        return "replace"
    if path == folders.log_file:
        return "keep"  # the log every command appends to, this one included
    return "keep" if options.merge else "conflict"


def plan_restore(
    ws: Workspace,
    info: BackupInfo,
    manifest: Manifest | None,
    members: list[Member],
    options: RestoreOptions,
) -> RestorePlan:
    """Decide what happens to every path; refuse unresolved conflicts.

    Raises:
        UsageError: local files are newer than the backup and neither
            ``merge`` nor ``overwrite`` says what to do with them.
    """
    source_user = manifest.user if manifest else None
    plan = RestorePlan(
        info.name, str(ws.root), ws.user, source_user, verified=options.checks_data
    )
    owner = source_user or ws.user
    if options.components:
        plan.missing_components = _missing_components(info, owner, members, options)
    folders = _Folders(ws.root, _generated(ws))
    folders.log_file = Path(os.path.relpath(ws.log_file, ws.root)).as_posix()
    planned: dict[str, str] = {}
    actions: dict[str, str] = {}
    # Each member's component matters only to choose some, or to leave the
    # shared files of another user's backup alone.
    choosing = bool(options.components) or owner != ws.user
    for member in members:
        component = component_of(member.path, owner) if choosing else ""
        if options.components and component not in options.components:
            continue
        if component == "shared" and owner != ws.user:
            plan.shared_left_out.append(member.path)
            continue
        path = map_path(member.path, source_user, ws.user)
        if planned.setdefault(path, member.path) != member.path:
            raise UnsafeArchive(
                f"refusing {info.name}: members {quoted(planned[path])} and "
                f"{quoted(member.path)} would both restore {path}; nothing was restored"
            )
        rewritten = bool(source_user and source_user != ws.user) and _rewrites_user(
            path, ws.user
        )
        linked = ""
        if member.type == "hardlink":
            linked = map_path(member.target, source_user, ws.user)
            if actions.get(linked) != "unchanged":
                linked = ""  # its target is rewritten: so is the link
        action = _decide(folders, member, path, options, rewritten, linked)
        actions[path] = action
        plan.steps.append(Step(member.path, path, member.type, action, member.size))
    conflicts = [s.path for s in plan.steps if s.action == "conflict"]
    if conflicts:
        raise UsageError(
            f"{len(conflicts)} local files are newer than backup {info.name} "
            f"(first: {conflicts[0]}); pass --merge to keep them or --overwrite "
            "to replace them"
        )
    if options.restore_to:
        plan.runtime_tree = _missing_runtime_folders(ws, plan)
    return plan


def _missing_components(
    info: BackupInfo, owner: str, members: list[Member], options: RestoreOptions
) -> list[str]:
    """Return the components asked for that ``owner``'s backup holds nothing of.

    Raises:
        UsageError: it holds none of them: nothing would be restored.
    """
    assert options.components is not None
    held = {component_of(m.path, owner) for m in members}
    missing = [c for c in options.components if c not in held]
    if len(missing) == len(options.components):
        holds = ",".join(c for c in COMPONENTS if c in held) or "no component"
        raise UsageError(
            f"--components: backup {info.name} holds none of "
            f"{','.join(missing)} (it holds {holds}); nothing to restore"
        )
    return missing


def _missing_runtime_folders(ws: Workspace, plan: RestorePlan) -> list[str]:
    """Return the runtime folders of ``ws``'s user the restore leaves missing."""
    from workspace_tasks.runtime import runtime_folders

    written = {s.path for s in plan.steps if s.action in WRITES}
    missing = []
    for folder in runtime_folders(ws):
        path = folder.relative_to(ws.root).as_posix()
        if path not in written and not os.path.lexists(folder):
            missing.append(path)
    return missing


def _generated(ws: Workspace) -> dict[str, str]:
    """Return the digests of the files ``init`` last wrote (path -> sha256)."""
    from workspace_tasks import init

    manifest = init.read_manifest(ws)
    return manifest if isinstance(manifest, dict) else {}


# Steps 3 and 4: staging and swapping.


class _Layout:
    """Where each written step is staged, and which steps move on their own.

    The staging folder mirrors the workspace. A step inside a folder that
    the restore creates travels with that folder; only the others (the tops
    of new subtrees, and what replaces local files) are renamed into place
    one by one, so a restore into an empty place is a handful of renames.
    """

    def __init__(self, plan: RestorePlan, staging: Path, root: Path) -> None:
        self.new = f"{staging}/new"
        writes = [s for s in plan.steps if s.action in WRITES]
        created = {s.path for s in writes if s.type == "dir"}
        self.moved = [s for s in writes if not _inside(s.path, created)]
        self.tree = safefs.NewTree(root)

    def staged(self, path: str) -> str:
        """Return where ``path`` of the workspace is staged."""
        return f"{self.new}/{path}"

    def make_folders(self, steps: list[Step]) -> None:
        """Create the staged folders of ``steps`` and the parents of all.

        They get the default mode, as tar gives folders it must make; the
        staging folder itself is private, and restored folders get their
        own modes once swapped in. Each level of the tree is made on a few
        threads once the level above it exists.
        """
        folders: set[str] = set()
        for step in steps:
            path = step.path if step.type == "dir" else step.path.rpartition("/")[0]
            while path and path not in folders:
                folders.add(path)
                path = path.rpartition("/")[0]
        levels: dict[int, list[tuple[str, str]]] = {}
        for path in folders:
            level = levels.setdefault(path.count("/"), [])
            level.append((self.staged(path), path))
        for depth in sorted(levels):
            parallel.run_all(self._make_folders, levels[depth])

    def _make_folders(self, folders: Sequence[tuple[str, str]]) -> list[None]:
        for staged, path in folders:
            try:
                self.tree.make_dir(staged)
            except OSError as exc:
                raise _os_error(path, exc) from None
        return []


def _inside(path: str, folders: set[str]) -> bool:
    """Tell whether a proper parent of ``path`` is one of ``folders``."""
    parent = path.rpartition("/")[0]
    while parent:
        if parent in folders:
            return True
        parent = parent.rpartition("/")[0]
    return False


# A staged file: where it goes, its workspace path, its member, its data
# and whether the data is still to be checked against the member's checksum.
# Files up to LARGE_FILE go to the writer threads in batches of BATCH_BYTES;
# larger ones are streamed to disk by the reading thread.
_Staged = tuple[str, str, Member, bytes, bool]
LARGE_FILE = 1 << 20
BATCH_BYTES = 1 << 20
BATCH_FILES = 64


def _stage(
    ws: Workspace,
    raw: BinaryIO,
    plan: RestorePlan,
    layout: _Layout,
    checked: dict[str, Member],
    progress: archive.ProgressFn | None,
) -> int:
    """Stage every written step from the members checked in the first pass.

    Names, kinds, links and modes all come from that pass; this one reads
    only file data, at the offsets found then, and checks every file
    against its checksum (the manifest's, or the first pass's for a tar
    without one) before it is written, so an archive that changed in
    between restores nothing. Folders come first, then files (written on
    a few threads), then links, which may name the files.
    """
    steps = [s for s in plan.steps if s.action in WRITES]
    layout.tree.make_dir(layout.new, safefs.PRIVATE_DIR)
    layout.make_folders(steps)
    files = [s for s in steps if s.type == "file"]
    done = len(steps) - len(files)
    if files:
        with (
            archive.open_tar(raw, decryption_keys(ws)) as tar,
            parallel.Batches(functools.partial(_write_staged, layout.tree)) as writers,
        ):
            batch: list[_Staged] = []
            size = 0
            for step in files:
                member = checked[step.source]
                staged = _read_file(tar, member, step, plan, layout)
                if staged is not None:
                    batch.append(staged)
                    size += len(staged[3])
                if size >= BATCH_BYTES or len(batch) >= BATCH_FILES:
                    writers.submit(batch)
                    batch, size = [], 0
                done += 1
                if progress is not None:
                    progress(done, len(steps))
            writers.submit(batch)
    for step in steps:
        if step.type in ("symlink", "hardlink"):
            _stage_link(checked[step.source], step, plan, layout, ws.root)
    return len(steps)


def _os_error(path: str, exc: OSError) -> ArchiveError:
    # The staging folder is an inner detail: name the workspace path.
    return ArchiveError(f"cannot restore {path}: {exc.strerror}; nothing was restored")


def _stage_link(
    member: Member, step: Step, plan: RestorePlan, layout: _Layout, root: Path
) -> None:
    target = layout.staged(step.path)
    try:
        if member.type == "symlink":
            layout.tree.make_symlink(target, member.target)
            mtime = (member.mtime_ns, member.mtime_ns)
            os.utime(target, ns=mtime, follow_symlinks=False)
            return
        linked = map_path(member.target, plan.source_user, plan.user)
        source = layout.staged(linked)
        if not os.path.lexists(source):
            source = f"{root}/{linked}"
        layout.tree.make_hardlink(source, target)
    except OSError as exc:
        raise _os_error(step.path, exc) from None


def _read_file(
    tar: archive.TarReader,
    member: Member,
    step: Step,
    plan: RestorePlan,
    layout: _Layout,
) -> _Staged | None:
    """Read and check one file's data; return it to be written, or write it.

    A file larger than :data:`LARGE_FILE` is written here as it is read
    (None is returned); it is removed again if its checksum fails.
    """
    target = layout.staged(step.path)
    if member.size > LARGE_FILE and not _rewritten(step, plan):
        try:
            _stream_file(tar, member, layout.tree.create_file(target))
        except OSError as exc:
            raise _os_error(step.path, exc) from None
        return None
    data = archive.read_member(tar, member.path, member.size, member.offset)
    if _rewritten(step, plan):
        _check_digest(member, hashlib.sha256(data).hexdigest())
        assert plan.source_user is not None
        rewritten = rewrite_user(data, plan.source_user, plan.user)
        return (target, step.path, member, rewritten, False)
    return (target, step.path, member, data, True)


def _rewritten(step: Step, plan: RestorePlan) -> bool:
    return bool(
        plan.source_user
        and plan.source_user != plan.user
        and _rewrites_user(step.path, plan.user)
    )


def _check_digest(member: Member, digest: str) -> None:
    if digest != member.sha256:
        raise ArchiveError(
            f"{member.path}: checksum does not match the manifest; the backup "
            "is damaged and nothing was restored"
        )


def _stream_file(tar: archive.TarReader, member: Member, fd: int) -> None:
    """Copy ``member``'s data into the new staged file ``fd``, then close it."""
    try:
        digest = archive.copy_member(tar, member.path, member.size, fd, member.offset)
        _check_digest(member, digest)
        os.fchmod(fd, member.mode)
        os.utime(fd, ns=(member.mtime_ns, member.mtime_ns))
    finally:
        os.close(fd)


@dataclass(frozen=True)
class _Undo:
    """One journal entry: a path of the workspace, and where its old one went."""

    action: str
    path: Path
    saved: Path | None = None


class UndoFailed(WorkspaceError):
    """A swap that failed and could not be undone: its staging folder is kept."""


def _write_staged(tree: safefs.NewTree, batch: list[_Staged]) -> None:
    """Check and write a batch of files into the staging folder (a worker).

    A file whose data does not match its checksum fails the restore, and
    the staging folder, written or not, is discarded with it.
    """
    for target, path, member, data, check in batch:
        if check:
            _check_digest(member, hashlib.sha256(data).hexdigest())
        try:
            fd = tree.create_file(target)
            try:
                write_data(fd, data)
                os.fchmod(fd, member.mode)
                os.utime(fd, ns=(member.mtime_ns, member.mtime_ns))
            finally:
                os.close(fd)
        except OSError as exc:
            raise _os_error(path, exc) from None


class _Journal:
    """The renames of a swap, written before they happen so they can be undone.

    A swap that writes shared files says so on the journal's first line
    (action ``shared``): only then may its entries name them.
    """

    def __init__(self, staging: Path, shared: bool = False) -> None:
        self.staging = staging
        self.path = staging / JOURNAL
        fd = safefs.create_file(self.path, staging)
        self.handle = os.fdopen(fd, "a", encoding="utf-8")
        self.entries: list[_Undo] = []
        self.saved: dict[str, str] = {}
        if shared:
            self.handle.write(json.dumps({"action": SHARED_MARK}) + "\n")
            self.handle.flush()

    def record(self, action: str, path: str, saved: str = "") -> None:
        """Append one operation, flushed to the file before it is done."""
        line = {"action": action, "path": path, "saved": saved}
        self.handle.write(json.dumps(line) + "\n")
        self.handle.flush()
        if action == "save":
            self.saved[path] = saved
        elif action == "place":
            saved = self.saved.get(path, "")
        self.entries.append(_Undo(action, Path(path), Path(saved) if saved else None))

    def close(self) -> None:
        self.handle.close()


def _swap(
    root: Path,
    plan: RestorePlan,
    staging: Path,
    layout: _Layout,
    folders: dict[str, tuple[int, int]],
) -> None:
    owner = plan.source_user or plan.user
    shared = any(is_shared(s.source, owner) for s in plan.steps if s.action in WRITES)
    journal = _Journal(staging, shared)
    known: set[str] = {str(root)}
    old = staging / "old"
    safefs.make_dir(old, root)
    step = None
    try:
        for index, step in enumerate(layout.moved):
            dest = f"{root}/{step.path}"
            _make_parents(dest.rpartition("/")[0], journal, known, root)
            if os.path.lexists(dest):
                saved = f"{old}/{index}"
                journal.record("save", dest, saved)
                safefs.rename(Path(dest), Path(saved), root)
            journal.record("place", dest)
            safefs.rename(Path(layout.staged(step.path)), Path(dest), root)
        journal.close()
        os.close(safefs.create_file(staging / DONE, root))
    except BaseException as exc:
        journal.close()
        where = step.path if step is not None else "the workspace"
        why = exc.strerror if isinstance(exc, OSError) else type(exc).__name__
        failed = _undo_entries(root, journal.entries)
        if failed:
            raise UndoFailed(
                f"cannot restore {where}: {why}, and undoing the restore failed "
                f"too ({failed}); what it replaced is kept in {staging}"
            ) from exc
        if isinstance(exc, OSError):
            raise WorkspaceError(
                f"cannot restore {where}: {why}; the restore was undone"
            ) from None
        raise
    _apply_folder_metadata(root, plan, folders)


def _make_parents(folder: str, journal: _Journal, known: set[str], root: Path) -> None:
    missing = []
    while folder not in known and not os.path.lexists(folder):
        missing.append(folder)
        folder = folder.rpartition("/")[0]
    known.add(folder)
    for path in reversed(missing):
        journal.record("mkdir", path)
        safefs.make_dir(Path(path), root)
        known.add(path)


def _apply_folder_metadata(
    root: Path, plan: RestorePlan, folders: dict[str, tuple[int, int]]
) -> None:
    """Give restored folders their modes and mtimes, the deepest first."""
    # Unchanged folders too: renames into them during the swap moved their
    # mtimes, which the backup recorded.
    touched = [
        (step.path, *folders[step.path])
        for step in plan.steps
        if step.type == "dir" and step.action != "keep"
    ]
    safefs.set_folder_modes(root, touched)


def undo_journal(ws: Workspace, staging: Path) -> list[str]:
    """Undo the renames recorded in ``staging``'s journal, newest first.

    Every entry is checked before anything is undone (see
    :func:`_read_journal`): one that fails the check and nothing is. Returns
    the problems that left the journal undone, or partly undone when an
    operation failed; an empty list when it was undone in full.
    """
    entries, problems = _read_journal(ws, staging)
    if problems:
        return problems
    failed = _undo_entries(ws.root, entries)
    if failed:
        return [f"undoing it failed: {failed}"]
    if entries:
        log.info("undid the interrupted restore recorded in %s", staging)
    return []


def _undo_entries(root: Path, entries: list[_Undo]) -> str:
    """Undo ``entries`` newest first; return why it stopped ("" when all done).

    Undoing again what is undone already changes nothing, so a journal
    whose undo was cut short can be undone once more.
    """
    try:
        for entry in reversed(entries):
            _undo(root, entry)
    except (OSError, UnsafeOperation) as exc:
        return str(exc)
    return ""


def _undo(root: Path, entry: _Undo) -> None:
    if entry.action == "place":
        # Placed over a saved path: undone already once the saved one is back.
        if entry.saved is None or os.path.lexists(entry.saved):
            safefs.remove_path(entry.path, root)
    elif entry.action == "save":
        if entry.saved is not None and os.path.lexists(entry.saved):
            safefs.remove_path(entry.path, root)
            safefs.rename(entry.saved, entry.path, root)
    elif _is_folder(entry.path) and not safefs.remove_empty_dir(entry.path, root):
        log.warning("left %s in place: it is not empty", entry.path)


def _is_folder(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _read_journal(ws: Workspace, staging: Path) -> tuple[list[_Undo], list[str]]:
    """Read ``staging``'s journal, checking every entry; return them and problems.

    A journal is believed only when this user alone could have written it,
    and each path it names must be inside the workspace, in the user's own
    areas (see :func:`backup.outside_user_areas`) or among the shared files
    a restore may write (:func:`backup.shared_problem`), with the copies of
    replaced paths inside ``staging``. A line cut short by a kill is no
    problem: its operation never happened.
    """
    journal = staging / JOURNAL
    if not os.path.lexists(journal):
        return [], []
    why = safefs.why_untrusted(journal)
    if why:
        return [], [f"its journal {why}"]
    try:
        lines = journal.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        return [], [f"its journal cannot be read ({exc})"]
    checker = _EntryChecker(ws, staging)
    entries: list[_Undo] = []
    problems: list[str] = []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except ValueError:
            if number < len(lines):
                problems.append(f"journal line {number} is not JSON")
            continue
        if number == 1 and record == {"action": SHARED_MARK}:
            checker.shared = True
            continue
        checked = checker.check(record)
        if isinstance(checked, str):
            problems.append(f"journal line {number} {checked}")
        else:
            entries.append(checked)
    return entries, problems


class _EntryChecker:
    """Check journal entries in order, pairing each place with its save."""

    def __init__(self, ws: Workspace, staging: Path) -> None:
        self.ws = ws
        self.staging = staging
        try:
            self.excluded = excluded_paths(ws)
        except WorkspaceError:  # a config the killed restore left half-written
            self.excluded = excluded_paths(ws, ws.backups_dir)
        self.users = user_names(ws)
        self.saved: dict[Path, Path] = {}
        self.shared = False  # the journal says its restore wrote shared files

    def _not_writable(self, relative: str, kind: str) -> str:
        """Return why the journal's restore did not write ``relative`` ("" if so).

        The user's own areas, and, in the journal of a restore that wrote
        shared files, the shared files a restore may write.
        """
        why = outside_user_areas(self.ws, relative, kind, self.excluded)
        if why and self.shared and is_shared(relative, self.ws.user):
            return shared_problem(relative, self.users) and why
        return why

    def check(self, record: object) -> _Undo | str:
        """Return the checked entry, or what is wrong with it."""
        if not isinstance(record, dict):
            return "is not a journal entry"
        action, path, saved = (record.get(k) for k in ("action", "path", "saved"))
        if action not in ("save", "place", "mkdir") or not isinstance(path, str):
            return "is not a journal entry"
        where = self._path(action, path)
        if isinstance(where, str):
            return where
        if action == "place":
            return _Undo(action, where, self.saved.get(where))
        if action == "mkdir":
            return _Undo(action, where)
        copy = self._saved(saved)
        if isinstance(copy, str):
            return copy
        self.saved[where] = copy
        return _Undo(action, where, copy)

    def _path(self, action: str, raw: str) -> Path | str:
        relative = safefs.relative_inside(Path(raw), self.ws.root)
        if not os.path.isabs(raw) or relative in (None, "."):
            return f"names {quoted(raw)}, outside the workspace"
        why = self._not_writable(relative, "dir")
        if why:
            return f"names {relative}, which {why}"
        # A folder made on the way may be a shared one (config, runtime/data):
        # it is removed only when empty. What was placed or saved is removed
        # whole, so all of it must be the user's.
        foreign = self._foreign(relative) if action != "mkdir" else ""
        if foreign:
            return (
                f"names {relative}, which holds {foreign}, "
                f"outside the areas of user {quoted(self.ws.user)}"
            )
        return self.ws.root / relative

    def _foreign(self, relative: str) -> str:
        """Return a path of the tree at ``relative`` not the user's ("" if none)."""
        if not self._not_writable(relative, "file"):
            return ""
        folder = self.ws.root / relative
        if not os.path.lexists(folder):
            return ""
        if not _is_folder(folder):
            return relative
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            return relative
        for name in names:
            found = self._foreign(f"{relative}/{name}")
            if found:
                return found
        return ""

    def _saved(self, raw: object) -> Path | str:
        relative = (
            safefs.relative_inside(Path(raw), self.staging)
            if isinstance(raw, str) and os.path.isabs(raw)
            else None
        )
        if relative in (None, "."):
            return (
                f"keeps a replaced path at {quoted(raw)}, outside {self.staging.name}"
            )
        return self.staging / relative


def staging_prefix(ws: Workspace) -> str:
    """Return the name prefix of the user's restore staging folders."""
    return f"{STAGING_PREFIX}{ws.user}-"


def staging_folders(ws: Workspace) -> list[Path]:
    """Return the user's restore staging folders, whoever made them.

    The random part of a staging folder's name has no ``-``: so user
    ``dev`` does not take ``.workspace-restore-dev-ops-x1y2`` of user
    ``dev-ops`` for one of its own.
    """
    prefix = staging_prefix(ws)
    return [
        path
        for path in sorted(ws.root.glob(f"{prefix}*"))
        if "-" not in path.name[len(prefix) :]
    ]


def recover_interrupted(ws: Workspace, warnings: list[str] | None = None) -> list[str]:
    """Undo the user's restores killed half-way; remove their staging folders.

    Only the user's own, as their names say (another user's restore may be
    running right now), and only folders no one else could have written:
    one that belongs to another account or that others may write, or whose
    journal names anything outside the user's areas, is left alone and
    said so in ``warnings``. Returns the names of the folders removed.
    """
    recovered = []
    for staging in staging_folders(ws):
        problems = _recover(ws, staging)
        if problems:
            warning = (
                f"left {staging.name} alone: {'; '.join(problems)}; "
                "check it and remove it yourself"
            )
            log.info("%s", warning)
            if warnings is not None:
                warnings.append(warning)
            continue
        recovered.append(staging.name)
    return recovered


def _recover(ws: Workspace, staging: Path) -> list[str]:
    why = safefs.why_untrusted(staging)
    if why:
        return [f"it {why}"]
    if not _is_folder(staging):
        return ["it is not a folder"]
    if not os.path.lexists(staging / DONE):
        problems = undo_journal(ws, staging)
        if problems:
            return problems
    safefs.remove_path(staging, ws.root)
    return []


# The whole restore.


def _check_options(options: RestoreOptions) -> None:
    if options.merge and options.overwrite:
        raise UsageError(
            "--merge keeps newer local files and --overwrite replaces them: choose one"
        )
    if options.components is not None:
        check_components(options.components)
    if options.restore_to is not None:
        check_user_name(options.restore_to, "--restore-to")
        if options.components and "shared" in options.components:
            raise UsageError(
                "--restore-to never writes shared files; drop shared from --components"
            )


def _rewind(ws: Workspace, info: BackupInfo, raw: BinaryIO) -> BinaryIO:
    try:
        raw.seek(0)
        return raw
    except (OSError, ValueError):
        raw.close()
        return open_backup(ws, info)


def restore_backup(
    ws: Workspace,
    info: BackupInfo,
    options: RestoreOptions,
    progress: archive.ProgressFn | None = None,
) -> RestoreResult:
    """Check, plan, stage and swap in the backup ``info`` (see the module).

    With ``restore_to`` the backup goes to that user's areas, its paths and
    the user name in its configs rewritten.
    """
    _check_options(options)
    target = ws.for_user(options.restore_to) if options.restore_to else ws
    if options.restore_to:
        check_user_areas_free(target, "--restore-to")
    try:
        return _restore(ws, target, info, options, progress)
    except (ArchiveError, ChecksFailed) as exc:
        # A damaged or foreign archive is bad input: name it, exit 2.
        raise type(exc)(f"{info.location}: {exc}", exit_code=EXIT_USAGE) from None


def _restore(
    ws: Workspace,
    target: Workspace,
    info: BackupInfo,
    options: RestoreOptions,
    progress: archive.ProgressFn | None,
) -> RestoreResult:
    raw = open_backup(ws, info)
    try:
        manifest, members = check_archive(ws, info, raw, options.checks_data, target)
        if options.restore_to and manifest is None:
            raise UsageError(
                "--restore-to needs a backup made by this tool "
                "(this archive has no manifest naming its user)"
            )
        if options.dry_run:
            plan = plan_restore(target, info, manifest, members, options)
            return RestoreResult(plan, dry_run=True)
        with locked(target, "restore"):
            warnings: list[str] = []
            cleaned = remove_stale_temporaries(target, warnings)
            plan = plan_restore(target, info, manifest, members, options)
            raw = _rewind(ws, info, raw)
            written = _apply(target, info, raw, plan, members, progress)
            created = _complete_runtime_tree(target) if options.restore_to else []
    finally:
        raw.close()
    log.info("restored %s into %s (%d written)", info.name, target.root, written)
    return RestoreResult(plan, False, written, cleaned, warnings, created)


def _complete_runtime_tree(ws: Workspace) -> list[str]:
    """Create what the user's runtime tree lacks, as ``runtime init`` does.

    A restore into another user brings only what the backup holds (no
    logs or cache, say); the user must end with a whole tree, as one made
    by ``init``. Nothing there is overwritten. Returns what was created.
    """
    from workspace_tasks.runtime import init_runtime

    made = init_runtime(ws)
    return made.created + made.files_created


def _apply(
    ws: Workspace,
    info: BackupInfo,
    raw: BinaryIO,
    plan: RestorePlan,
    members: list[Member],
    progress: archive.ProgressFn | None,
) -> int:
    if not any(s.action in (*WRITES, "update") for s in plan.steps):
        return 0
    folders = {
        map_path(m.path, plan.source_user, plan.user): (m.mode, m.mtime_ns)
        for m in members
        if m.type == "dir"
    }
    staging = safefs.make_temp_dir(ws.root, staging_prefix(ws), ws.root)
    try:
        checked = {m.path: m for m in members}
        layout = _Layout(plan, staging, ws.root)
        written = _stage(ws, raw, plan, layout, checked, progress)
        _swap(ws.root, plan, staging, layout, folders)
    except UndoFailed:
        raise  # the staging folder holds what the restore replaced
    except BaseException:
        safefs.remove_path(staging, ws.root)
        raise
    safefs.remove_path(staging, ws.root)
    return written
