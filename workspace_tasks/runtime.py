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
DEFAULT_AGE = 30 * 86400


@dataclass
class RuntimeInit:
    """What ``runtime init`` created and repaired."""

    user: str
    created: list[str] = field(default_factory=list)
    files_created: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    moved_aside: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "user": self.user,
            "created": self.created,
            "files_created": self.files_created,
            "repaired": self.repaired,
            "moved_aside": self.moved_aside,
            "problems": self.problems,
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
    try:
        shown = path.relative_to(ws.root)
    except ValueError:
        shown = path
    raise UnsafeOperation(
        f"refusing to use {shown}: it leads outside the workspace "
        f"(to {os.path.realpath(path)}); run 'workspace runtime init "
        f"--user-name {ws.user} --force' to move the link aside"
    )


def _area_of(ws: Workspace, path: Path) -> str | None:
    for area in RUNTIME_AREAS:
        top = ws.runtime(area)
        if path == top or top in path.parents:
            return area
    return None


def ensure_user_dir(ws: Workspace, path: Path) -> bool:
    """Create a folder of the user's runtime tree, private (0700) all the way.

    Every missing folder from ``runtime/<area>/<user>`` down to ``path`` is
    made 0700, the shared ``runtime/<area>`` keeps its usual mode, and a
    link leading out of the workspace is refused. A folder elsewhere is
    simply created private. Return True if ``path`` was created.
    """
    path = Path(path)
    area = _area_of(ws, path)
    if area is None:
        return safefs.ensure_dir(path, safefs.PRIVATE_DIR)
    check_inside(ws, path)
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
    if private and stat.S_IMODE(info.st_mode) != safefs.PRIVATE_DIR:
        return f"{relative} has mode {oct(stat.S_IMODE(info.st_mode))}, not 0o700"
    return None


def inspect_runtime(ws: Workspace) -> list[str]:
    """Return what is wrong with the user's runtime tree (missing is not wrong)."""
    found = [_problem(ws, folder, False) for folder in shared_folders(ws)]
    found += [_problem(ws, folder, True) for folder in runtime_folders(ws)]
    return [problem for problem in found if problem]


def init_runtime(ws: Workspace, force: bool = False) -> RuntimeInit:
    """Create the user's runtime tree; with ``force`` repair a broken one.

    Missing folders are created private and the files ``workspace init``
    seeds there (``settings.toml``, ``current-infra``, the first log, the
    database) are put back when missing; nothing existing is overwritten.

    Raises:
        UsageError: the tree is broken and ``force`` is not set.
    """
    result = RuntimeInit(ws.user)
    problems = inspect_runtime(ws)
    if problems and not force:
        raise UsageError(
            f"the runtime of '{ws.user}' needs repair ({problems[0]}); "
            f"run 'workspace runtime init --user-name {ws.user} --force'"
        )
    result.problems = problems
    stamp = time.strftime("%Y%m%d%H%M%S")
    # Parents first: a link or file in the way is moved aside before
    # anything is created below it, so nothing is written through it.
    for folder in shared_folders(ws):
        if _move_aside_if_not_folder(folder, stamp, result, None):
            result.repaired.append(str(folder.relative_to(ws.root)))
        safefs.ensure_dir(folder)
    for folder in runtime_folders(ws):
        _init_user_folder(ws, folder, stamp, result)
    _seed_files(ws, result)
    if result.created or result.repaired or result.files_created:
        log.info(
            "runtime of %s: %d folders created, %d files created, %d repaired",
            ws.user,
            len(result.created),
            len(result.files_created),
            len(result.repaired),
        )
    return result


def _init_user_folder(
    ws: Workspace, folder: Path, stamp: str, result: RuntimeInit
) -> None:
    relative = str(folder.relative_to(ws.root))
    if _move_aside_if_not_folder(folder, stamp, result, safefs.PRIVATE_DIR):
        result.repaired.append(relative)
    try:
        mode = stat.S_IMODE(folder.lstat().st_mode)
    except FileNotFoundError:
        safefs.ensure_dir(folder, safefs.PRIVATE_DIR)
        result.created.append(relative)
        return
    if mode != safefs.PRIVATE_DIR:
        os.chmod(folder, safefs.PRIVATE_DIR)
        result.repaired.append(relative)


def _seed_files(ws: Workspace, result: RuntimeInit) -> None:
    """Write each missing file ``init`` seeds in the user's runtime tree."""
    from workspace_tasks.init import runtime_seed_files

    for planned in runtime_seed_files(ws):
        target = ws.root / planned.relpath
        if target.exists() or target.is_symlink():
            continue  # never overwritten, whatever is there
        check_inside(ws, target)
        ensure_user_dir(ws, target.parent)
        safefs.atomic_write(target, planned.data, planned.mode)
        result.files_created.append(planned.relpath)
        log.info("put back %s", planned.relpath)


def _move_aside_if_not_folder(
    folder: Path, stamp: str, result: RuntimeInit, mode: int | None
) -> bool:
    try:
        info = folder.lstat()
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(info.st_mode):
        return False
    aside = folder.with_name(f"{folder.name}.broken-{stamp}")
    # A rename moves a link as a link and keeps a file's data.
    os.rename(folder, aside)
    safefs.ensure_dir(folder, mode)
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
    temporary-looking files (``*.tmp``, ``*.partial``, …) in every area.

    Raises:
        UnsafeOperation: one of those folders leads outside the workspace.
    """
    from workspace_tasks.cleanup import CleanupTarget

    if kind not in CLEANUP_TYPES:
        raise UsageError(f"--type: {kind!r} is not one of {', '.join(CLEANUP_TYPES)}")
    targets = []
    if kind in ("cache", "all"):
        targets.append(CleanupTarget(ws.cache_dir, "cache", (), _keep("cache")))
    if kind in ("logs", "all"):
        targets.append(CleanupTarget(ws.logs_dir, "logs", (), _keep("logs")))
    if kind in ("temp", "all"):
        targets.append(CleanupTarget(temp_dir(ws), "temp"))
        for area in RUNTIME_AREAS:
            targets.append(CleanupTarget(ws.runtime(area), "temp", TEMP_PATTERNS))
    # A folder leading out of the workspace refuses the whole cleanup.
    for target in targets:
        check_inside(ws, target.folder)
    return targets


def default_age(ws: Workspace, kind: str) -> float:
    """Return the age used without ``--age``: 30d, temp files ``[runtime]``'s."""
    if kind != "temp":
        return DEFAULT_AGE
    from workspace_tasks.settings import setting
    from workspace_tasks.units import parse_age

    value = setting(ws, "runtime.temp_max_age", "7d")
    return parse_age(value, "[runtime] temp_max_age")


def plan_runtime_cleanup(
    ws: Workspace, kind: str, age: float | None = None, now: float | None = None
) -> CleanupPlan:
    """Plan ``runtime cleanup --type kind --age``: files older than ``age``."""
    from workspace_tasks.cleanup import plan_cleanup

    targets = cleanup_targets(ws, kind)
    if age is None:
        age = default_age(ws, kind)
    return plan_cleanup(targets, allowed_roots(ws), age, now=now)
