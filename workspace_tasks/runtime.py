"""The user's runtime tree: create it, repair it, and choose what to clean.

``runtime/{workspaces,cache,state,logs,data}/<user>/`` hold one user's data,
private to that user (folders 0700). :func:`init_runtime` creates what is
missing; with ``force`` it also repairs what is wrong without losing data:
a file or a link where a folder belongs is moved aside (a link is replaced,
never followed) and wrong permissions are corrected.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from workspace_tasks import safefs
from workspace_tasks.context import RUNTIME_AREAS, Workspace
from workspace_tasks.errors import UnsafeOperation, UsageError
from workspace_tasks.text import quoted

if TYPE_CHECKING:
    from workspace_tasks.cleanup import CleanupPlan, CleanupTarget

log = logging.getLogger(__name__)

SUBFOLDERS = {
    "workspaces": ("extensions", "tmp"),
    "cache": ("providers", "images", "downloads"),
    "state": ("deployments", "workflows"),
    "logs": ("extensions",),
    "data": ("backups",),
}
CLEANUP_TYPES = ("cache", "logs", "temp", "all")
TEMP_PATTERNS = ("*.tmp", "*.temp", "*.partial", "*.swp", "*~")
# Folders whose temporary-looking files a temp cleanup leaves alone.
TEMP_SKIP = {"data": ("backups",)}
DEFAULT_AGE = 30 * 86400
DEFAULT_TEMP_AGE = 7 * 86400


@dataclass
class RuntimeInit:
    """What ``runtime init`` created and repaired, and what it left for --force.

    ``problems`` are those ``--force`` found and repaired; ``unrepaired``
    those left as they were: all of them without ``--force``, and with it
    the folders owned by another account (``not_owned``), which only their
    owner or an administrator can give back. ``created`` counts every
    folder made, those put back where a file or link was moved aside too.
    """

    user: str
    created: list[str] = field(default_factory=list)
    files_created: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    moved_aside: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    unrepaired: list[str] = field(default_factory=list)
    not_owned: list[str] = field(default_factory=list)

    @property
    def force_would_help(self) -> bool:
        """Tell whether ``--force`` would repair something left unrepaired."""
        return len(self.unrepaired) > len(self.not_owned)

    def to_dict(self) -> dict:
        return {
            "user": self.user,
            "created": self.created,
            "files_created": self.files_created,
            "repaired": self.repaired,
            "moved_aside": self.moved_aside,
            "problems": self.problems,
            "unrepaired": self.unrepaired,
            "not_owned": self.not_owned,
        }


def runtime_folders(ws: Workspace) -> list[Path]:
    """Return every folder of the user's runtime tree, parents first."""
    folders = []
    for area in RUNTIME_AREAS:
        folders.append(ws.runtime(area))
        folders += [ws.runtime(area) / sub for sub in SUBFOLDERS[area]]
    return folders


def check_inside(ws: Workspace, path: Path) -> Path:
    """Return ``path`` if it stays in the workspace with every link followed.

    Raises:
        UnsafeOperation: ``path`` or a folder on the way is a link leading
            out of the workspace (exit 2); nothing is read or written there.
    """
    if safefs.resolves_within(path, ws.root):
        return path
    link = _link_leading_out(ws, path)
    how = "it leads" if link == path else f"{_relative(ws, link)} on its way leads"
    raise UnsafeOperation(
        f"refusing to use {_relative(ws, path)}: {how} outside the workspace "
        f"(to {os.path.realpath(link)}); run 'workspace runtime init "
        f"--user-name {ws.user} --force' to move the link aside"
    )


def _relative(ws: Workspace, path: Path) -> str:
    try:
        return str(path.relative_to(ws.root))
    except ValueError:
        return str(path)


def _link_leading_out(ws: Workspace, path: Path) -> Path:
    """Return the first folder from the root down to ``path`` that leads out."""
    try:
        parts = path.relative_to(ws.root).parts
    except ValueError:
        return path
    current = ws.root
    for part in parts:
        current = current / part
        if not safefs.resolves_within(current, ws.root):
            return current
    return path


def check_folder(ws: Workspace, path: Path) -> Path:
    """Return ``path`` if it, and each folder on its way, is a folder or missing.

    Raises:
        UsageError: a file, or a link to no folder (a loop of links, say),
            stands where a folder of the user's runtime tree belongs.
    """
    try:
        parts = path.relative_to(ws.root).parts
    except ValueError:
        return path
    current = ws.root
    for part in parts:
        current = current / part
        if os.path.lexists(current) and not os.path.isdir(current):
            what = "a link to no folder" if current.is_symlink() else "a file"
            raise UsageError(
                f"{_relative(ws, current)} is {what}, not a folder; run "
                f"'workspace runtime init --user-name {ws.user} --force' "
                "to move it aside"
            )
    return path


def area_of(ws: Workspace, path: Path) -> str | None:
    """Return the runtime area whose user's folder holds ``path``, if any."""
    for area in RUNTIME_AREAS:
        top = ws.runtime(area)
        if path == top or top in path.parents:
            return area
    return None


def ensure_user_dir(ws: Workspace, path: Path) -> bool:
    """Create a folder of the user's runtime tree, private (0700) all the way.

    Every missing folder from ``runtime/<area>/<user>`` down to ``path`` is
    made 0700, the shared ``runtime/<area>`` keeps its usual mode, and a
    link leading out of the workspace, or a file where a folder belongs, is
    refused. A folder elsewhere is simply created private. Return True if
    ``path`` was created.

    Raises:
        UnsafeOperation: ``path`` leads out of the workspace.
        UsageError: a file or a broken link stands where a folder belongs.
    """
    path = Path(path)
    area = area_of(ws, path)
    if area is None:
        return safefs.ensure_dir(path, safefs.PRIVATE_DIR)
    check_inside(ws, path)
    check_folder(ws, path)
    shared = ws.runtime_root / area
    safefs.ensure_dir(shared)
    return safefs.ensure_private_dir(path, shared)


def temp_dir(ws: Workspace) -> Path:
    """Return the user's folder for temporary files."""
    return ws.workspace_data_dir / "tmp"


def shared_folders(ws: Workspace) -> list[Path]:
    """Return ``runtime`` and its ``runtime/<area>`` folders, shared by users."""
    return [ws.runtime_root] + [ws.runtime_root / area for area in RUNTIME_AREAS]


def _problem(ws: Workspace, folder: Path, private: bool) -> str | None:
    try:
        info = folder.lstat()
    except (FileNotFoundError, NotADirectoryError):
        return None  # missing (or below a file, reported for that file)
    relative = folder.relative_to(ws.root)
    if stat.S_ISLNK(info.st_mode):
        return f"{relative} is a symbolic link, not a folder"
    if not stat.S_ISDIR(info.st_mode):
        return f"{relative} is a file, not a folder"
    if private and info.st_uid != os.getuid():
        return (
            f"{relative} belongs to uid {info.st_uid}, not to you (uid "
            f"{os.getuid()}); only its owner or an administrator can give it "
            "back (chown)"
        )
    if private and stat.S_IMODE(info.st_mode) != safefs.PRIVATE_DIR:
        mode = stat.S_IMODE(info.st_mode)
        return f"{relative} has mode {mode:04o}, not {safefs.PRIVATE_DIR:04o}"
    return None


def inspect_runtime(ws: Workspace) -> list[str]:
    """Return what is wrong with the user's runtime tree (missing is not wrong)."""
    found = [_problem(ws, folder, False) for folder in shared_folders(ws)]
    found += [_problem(ws, folder, True) for folder in runtime_folders(ws)]
    return [problem for problem in found if problem]


def not_owned(ws: Workspace) -> list[Path]:
    """Return the user's runtime folders that belong to another account."""
    found = []
    for folder in runtime_folders(ws):
        try:
            info = folder.lstat()
        except (FileNotFoundError, NotADirectoryError):
            continue
        if stat.S_ISDIR(info.st_mode) and info.st_uid != os.getuid():
            found.append(folder)
    return found


def init_runtime(ws: Workspace, force: bool = False) -> RuntimeInit:
    """Create the user's runtime tree; with ``force`` repair a broken one.

    Missing folders are created private and the files ``workspace init``
    seeds there (``settings.toml``, ``current-infra``, the first log, the
    database) are put back when missing; nothing existing is overwritten.

    Without ``force`` what is wrong is left as it is and listed under
    ``unrepaired``: a folder that is not private, and a file or a link
    where a folder belongs, beneath which nothing is created (nothing is
    ever written through a link). A folder owned by another account is
    left as it is and listed even with ``force``: its owner, not this
    user, can give it back.
    """
    result = RuntimeInit(ws.user)
    foreign = not_owned(ws)
    result.not_owned = [str(folder.relative_to(ws.root)) for folder in foreign]
    owned_by_others = [_problem(ws, folder, True) for folder in foreign]
    problems = inspect_runtime(ws)
    if force:
        result.problems = [p for p in problems if p not in owned_by_others]
        result.unrepaired = [p for p in problems if p in owned_by_others]
        _repair_tree(ws, result, foreign)
        blocked = foreign
    else:
        result.unrepaired = problems
        blocked = _blocking_folders(ws) + foreign
        _create_missing(ws, result, blocked)
    _seed_files(ws, result, blocked)
    if result.created or result.repaired or result.files_created:
        log.info(
            "runtime of %s: %d folders created, %d files created, %d repaired",
            ws.user,
            len(result.created),
            len(result.files_created),
            len(result.repaired),
        )
    return result


def _repair_tree(ws: Workspace, result: RuntimeInit, foreign: list[Path]) -> None:
    stamp = time.strftime("%Y%m%d%H%M%S")
    # Parents first: a link or file in the way is moved aside before
    # anything is created below it, so nothing is written through it.
    for folder in shared_folders(ws):
        if _move_aside_if_not_folder(ws, folder, stamp, result, None):
            result.repaired.append(str(folder.relative_to(ws.root)))
        elif safefs.ensure_dir(folder):
            result.created.append(str(folder.relative_to(ws.root)))
    for folder in runtime_folders(ws):
        if not _is_below(folder, foreign):  # another account's: left as it is
            _init_user_folder(ws, folder, stamp, result)


def _blocking_folders(ws: Workspace) -> list[Path]:
    """Return the folders of the tree where a file or a link stands instead."""
    blocking = []
    for folder in shared_folders(ws) + runtime_folders(ws):
        try:
            info = folder.lstat()
        except (FileNotFoundError, NotADirectoryError):
            continue
        if not stat.S_ISDIR(info.st_mode):
            blocking.append(folder)
    return blocking


def _is_below(path: Path, blocked: list[Path]) -> bool:
    """Tell whether ``path`` is one of ``blocked`` or lies beneath one."""
    return any(path == top or top in path.parents for top in blocked)


def _create_missing(ws: Workspace, result: RuntimeInit, blocked: list[Path]) -> None:
    """Create the missing folders that no file or link stands above."""
    for folder in shared_folders(ws):
        if not _is_below(folder, blocked) and safefs.ensure_dir(folder):
            result.created.append(str(folder.relative_to(ws.root)))
    for folder in runtime_folders(ws):
        if _is_below(folder, blocked) or os.path.lexists(folder):
            continue
        safefs.ensure_dir(folder, safefs.PRIVATE_DIR)
        result.created.append(str(folder.relative_to(ws.root)))


def _init_user_folder(
    ws: Workspace, folder: Path, stamp: str, result: RuntimeInit
) -> None:
    relative = str(folder.relative_to(ws.root))
    if _move_aside_if_not_folder(ws, folder, stamp, result, safefs.PRIVATE_DIR):
        result.repaired.append(relative)
    try:
        mode = stat.S_IMODE(folder.lstat().st_mode)
    except FileNotFoundError:
        safefs.ensure_dir(folder, safefs.PRIVATE_DIR)
        result.created.append(relative)
        return
    if mode != safefs.PRIVATE_DIR:
        safefs.set_mode(folder, safefs.PRIVATE_DIR, ws.root)
        result.repaired.append(relative)


def _seed_files(ws: Workspace, result: RuntimeInit, blocked: list[Path]) -> None:
    """Write each missing file ``init`` seeds in the user's runtime tree."""
    from workspace_tasks.init import runtime_seed_files

    for planned in runtime_seed_files(ws):
        target = ws.root / planned.relpath
        if target.exists() or target.is_symlink() or _is_below(target, blocked):
            continue  # never overwritten, whatever is there
        check_inside(ws, target)
        ensure_user_dir(ws, target.parent)
        safefs.atomic_write(target, planned.data, planned.mode, root=ws.root)
        result.files_created.append(planned.relpath)
        log.info("put back %s", planned.relpath)


def _move_aside_if_not_folder(
    ws: Workspace, folder: Path, stamp: str, result: RuntimeInit, mode: int | None
) -> bool:
    try:
        info = folder.lstat()
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(info.st_mode):
        return False
    from workspace_tasks.cleanup import aside_path

    aside = aside_path(folder, stamp)
    # A rename moves a link as a link and keeps a file's data.
    safefs.rename(folder, aside, ws.root)
    safefs.ensure_dir(folder, mode)
    result.created.append(str(folder.relative_to(ws.root)))
    result.moved_aside[str(folder)] = str(aside)
    log.info("moved %s aside to %s", folder, aside)
    return True


# Cleanup.


def allowed_roots(ws: Workspace) -> list[Path]:
    """Return the folders a cleanup of this user may touch: its runtime areas."""
    return [ws.runtime(area) for area in RUNTIME_AREAS]


def _keep(area: str) -> tuple[str, ...]:
    return SUBFOLDERS[area]


def cleanup_targets(ws: Workspace, kind: str) -> list[CleanupTarget]:
    """Return the folders and file patterns a ``--type`` cleans.

    cache: everything in ``runtime/cache/<user>``; logs: everything in
    ``runtime/logs/<user>``; temp: ``runtime/workspaces/<user>/tmp`` and
    temporary-looking files (``*.tmp``, ``*.partial``, …) in every area but
    the backups folder, whose temporaries only a backup or restore (holding
    the user's lock) clears: one may be a backup still being written.

    Raises:
        UnsafeOperation: one of those folders leads outside the workspace.
    """
    from workspace_tasks.cleanup import CleanupTarget

    if kind not in CLEANUP_TYPES:
        raise UsageError(
            f"--type: {quoted(kind)} is not one of {', '.join(CLEANUP_TYPES)}"
        )
    targets = []
    if kind in ("cache", "all"):
        targets.append(CleanupTarget(ws.cache_dir, "cache", (), _keep("cache")))
    if kind in ("logs", "all"):
        targets.append(CleanupTarget(ws.logs_dir, "logs", (), _keep("logs")))
    if kind in ("temp", "all"):
        targets.append(CleanupTarget(temp_dir(ws), "temp"))
        for area in RUNTIME_AREAS:
            skip = TEMP_SKIP.get(area, ())
            targets.append(
                CleanupTarget(ws.runtime(area), "temp", TEMP_PATTERNS, (), skip)
            )
    # A folder leading out of the workspace refuses the whole cleanup.
    for target in targets:
        check_inside(ws, target.folder)
    return targets


def default_age(ws: Workspace, kind: str) -> float:
    """Return the age a cleanup of ``kind`` uses without ``--age``.

    The one place deciding it, for every cleanup command: 30d for cache and
    logs, ``[runtime] temp_max_age`` (7d unless set) for temporary files.
    ``all`` has no age of its own: each of its types keeps its own.
    """
    if kind not in ("cache", "logs", "temp"):
        raise ValueError(f"no default age for cleanup type {kind!r}")
    if kind != "temp":
        return DEFAULT_AGE
    from workspace_tasks.settings import age_setting

    configured = age_setting(ws, "runtime.temp_max_age")
    return DEFAULT_TEMP_AGE if configured is None else configured


def plan_runtime_cleanup(
    ws: Workspace, kind: str, age: float | None = None, now: float | None = None
) -> CleanupPlan:
    """Plan ``runtime cleanup --type kind --age``: files older than ``age``.

    Without ``age`` each type is planned with its own default age
    (:func:`default_age`), ``all`` included.
    """
    from workspace_tasks.cleanup import merge_plans, plan_cleanup

    kinds = ("cache", "logs", "temp") if kind == "all" else (kind,)
    cleanup_targets(ws, kind)  # an unknown type or a link out refuses it all
    plans = [
        plan_cleanup(
            cleanup_targets(ws, one),
            allowed_roots(ws),
            default_age(ws, one) if age is None else age,
            now=now,
        )
        for one in kinds
    ]
    return plans[0] if len(plans) == 1 else merge_plans(plans)
