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

from workspace_tasks import safefs
from workspace_tasks.cleanup import CleanupPlan, CleanupTarget, plan_cleanup
from workspace_tasks.context import RUNTIME_AREAS, Workspace
from workspace_tasks.errors import UsageError

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
    repaired: list[str] = field(default_factory=list)
    moved_aside: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "user": self.user,
            "created": self.created,
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


def temp_dir(ws: Workspace) -> Path:
    """Return the user's folder for temporary files."""
    return ws.workspace_data_dir / "tmp"


def inspect_runtime(ws: Workspace) -> list[str]:
    """Return what is wrong with the user's runtime tree (missing is not wrong)."""
    problems = []
    for folder in runtime_folders(ws):
        try:
            info = folder.lstat()
        except FileNotFoundError:
            continue
        relative = folder.relative_to(ws.root)
        if stat.S_ISLNK(info.st_mode):
            problems.append(f"{relative} is a symbolic link, not a folder")
        elif not stat.S_ISDIR(info.st_mode):
            problems.append(f"{relative} is a file, not a folder")
        elif stat.S_IMODE(info.st_mode) != safefs.PRIVATE_DIR:
            mode = oct(stat.S_IMODE(info.st_mode))
            problems.append(f"{relative} has mode {mode}, not 0o700")
    return problems


def init_runtime(ws: Workspace, force: bool = False) -> RuntimeInit:
    """Create the user's runtime tree; with ``force`` repair a broken one.

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
    for area in RUNTIME_AREAS:
        safefs.ensure_dir(ws.runtime_root / area)
    stamp = time.strftime("%Y%m%d%H%M%S")
    for folder in runtime_folders(ws):
        relative = str(folder.relative_to(ws.root))
        if _move_aside_if_not_folder(folder, stamp, result):
            result.repaired.append(relative)
        try:
            mode = stat.S_IMODE(folder.lstat().st_mode)
        except FileNotFoundError:
            safefs.ensure_dir(folder, safefs.PRIVATE_DIR)
            result.created.append(relative)
            continue
        if mode != safefs.PRIVATE_DIR:
            os.chmod(folder, safefs.PRIVATE_DIR)
            result.repaired.append(relative)
    if result.created or result.repaired:
        log.info(
            "runtime of %s: %d folders created, %d repaired",
            ws.user,
            len(result.created),
            len(result.repaired),
        )
    return result


def _move_aside_if_not_folder(folder: Path, stamp: str, result: RuntimeInit) -> bool:
    try:
        info = folder.lstat()
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(info.st_mode):
        return False
    aside = folder.with_name(f"{folder.name}.broken-{stamp}")
    # A rename moves a link as a link and keeps a file's data.
    os.rename(folder, aside)
    safefs.ensure_dir(folder, safefs.PRIVATE_DIR)
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
    """
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
    targets = cleanup_targets(ws, kind)
    if age is None:
        age = default_age(ws, kind)
    return plan_cleanup(targets, allowed_roots(ws), age, now=now)
