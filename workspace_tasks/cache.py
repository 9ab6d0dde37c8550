"""The user's cache: statistics, clearing, optimizing and refreshing.

``runtime/cache/<user>/`` holds one folder per cache type (providers,
images, downloads). Every action that removes something builds a
:class:`~workspace_tasks.cleanup.CleanupPlan` first and runs it through the
cleanup engine, so the same safety rules hold (no link followed, files held
open for writing skipped) and ``--dry-run`` shows exactly what would go.

Time limits come from ``[cache]``: ``ttl`` (entries older are expired) and
``refresh_interval`` (entries older are stale and dropped by ``refresh``).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from workspace_tasks import holders, parallel
from workspace_tasks.cleanup import (
    CleanupPlan,
    CleanupTarget,
    Removal,
    plan_cleanup,
)
from workspace_tasks.context import Workspace
from workspace_tasks.errors import UsageError
from workspace_tasks.runtime import check_inside
from workspace_tasks.text import quoted

log = logging.getLogger(__name__)

CACHE_TYPES = ("providers", "images", "downloads")
CACHE_ACTIONS = ("stats", "optimize", "clear", "refresh")
DEFAULT_TTL = 3600.0
DEFAULT_REFRESH = 300.0


@dataclass
class TypeStats:
    """Statistics of one cache type.

    In :meth:`to_dict` each moment is an age in seconds before ``now``; a
    negative age is a time in the future (a clock set wrong, a copied tree).
    """

    type: str
    files: int = 0
    bytes: int = 0
    oldest: float | None = None
    newest: float | None = None
    last_hit: float | None = None
    expired: int = 0

    def to_dict(self, now: float) -> dict:
        def age(moment: float | None) -> float | None:
            return None if moment is None else round(now - moment, 3)

        return {
            "type": self.type,
            "files": self.files,
            "bytes": self.bytes,
            "oldest_age_seconds": age(self.oldest),
            "newest_age_seconds": age(self.newest),
            "hit_age_seconds": age(self.last_hit),
            "expired": self.expired,
        }


@dataclass
class CacheStats:
    """Statistics per cache type, and the TTL they were judged by."""

    ttl: float
    now: float
    types: list[TypeStats] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(t.bytes for t in self.types)

    @property
    def total_files(self) -> int:
        return sum(t.files for t in self.types)

    def to_dict(self) -> dict:
        return {
            "ttl_seconds": self.ttl,
            "types": [t.to_dict(self.now) for t in self.types],
            "total_files": self.total_files,
            "total_bytes": self.total_bytes,
        }


def _seconds(value: object, key: str, default: float) -> float:
    from workspace_tasks.units import parse_age

    if value is None:
        return default
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return parse_age(str(value), f"[cache] {key}")


def cache_limits(ws: Workspace) -> tuple[float, float]:
    """Return ``(ttl, refresh_interval)`` in seconds from ``[cache]``."""
    from workspace_tasks.settings import setting

    section = setting(ws, "cache", {}) or {}
    ttl = _seconds(section.get("ttl"), "ttl", DEFAULT_TTL)
    refresh = _seconds(
        section.get("refresh_interval"), "refresh_interval", DEFAULT_REFRESH
    )
    return ttl, refresh


def chosen_types(kind: str | None) -> tuple[str, ...]:
    """Return the cache types ``--type`` names (all when None)."""
    if kind is None:
        return CACHE_TYPES
    if kind not in CACHE_TYPES:
        raise UsageError(
            f"--type: {quoted(kind)} is not one of {', '.join(CACHE_TYPES)}"
        )
    return (kind,)


def cache_stats(
    ws: Workspace, kind: str | None = None, now: float | None = None
) -> CacheStats:
    """Return files, bytes, oldest, newest, last hit and expired per type."""
    now = time.time() if now is None else now
    ttl, _ = cache_limits(ws)
    stats = CacheStats(ttl, now)
    for name in chosen_types(kind):
        folder = check_inside(ws, ws.cache_dir / name)
        stats.types.append(_type_stats(folder, name, now - ttl))
    return stats


def _type_stats(folder: Path, name: str, expiry: float) -> TypeStats:
    """Measure one cache type; a large one in two processes, half each."""
    result = TypeStats(name)
    subfolders = _stats_below(result, [os.fspath(folder)], expiry, descend=False)
    for part in parallel.in_two_processes(
        lambda part: _subtree_stats(name, part, expiry), subfolders
    ):
        _merge_stats(result, part)
    return result


def _subtree_stats(name: str, folders: Sequence[str], expiry: float) -> TypeStats:
    result = TypeStats(name)
    _stats_below(result, list(folders), expiry, descend=True)
    return result


def _stats_below(
    result: TypeStats, stack: list[str], expiry: float, descend: bool
) -> list[str]:
    """Count the files of the folders in ``stack`` (and below, if ``descend``).

    Returns the sub-folders not descended into.
    """
    left = []
    while stack:
        path = stack.pop()
        # Listed through a descriptor, each file is stat-ed by its name in
        # that folder rather than by its whole path.
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            continue
        infos = []
        try:
            for entry in os.scandir(fd):
                if entry.is_dir(follow_symlinks=False):
                    (stack if descend else left).append(f"{path}/{entry.name}")
                    continue
                with contextlib.suppress(FileNotFoundError):
                    infos.append(entry.stat(follow_symlinks=False))
        except OSError:
            continue
        finally:
            os.close(fd)
        if infos:
            _count(result, infos, expiry)
    return left


def _merge_stats(result: TypeStats, part: TypeStats) -> None:
    result.files += part.files
    result.bytes += part.bytes
    result.expired += part.expired
    for attribute, pick in (("oldest", min), ("newest", max), ("last_hit", max)):
        values = (getattr(result, attribute), getattr(part, attribute))
        known = [v for v in values if v is not None]
        setattr(result, attribute, pick(known) if known else None)


def _count(result: TypeStats, infos: list[os.stat_result], expiry: float) -> None:
    """Add one folder's files to ``result`` (the sums and extremes in C)."""
    mtimes = [info.st_mtime for info in infos]
    result.files += len(infos)
    result.bytes += sum(info.st_size for info in infos)
    oldest, newest = min(mtimes), max(mtimes)
    # Reading an entry is a hit: its access time (or a later write) records it.
    hit = max(newest, max(info.st_atime for info in infos))
    if result.oldest is None or oldest < result.oldest:
        result.oldest = oldest
    if result.newest is None or newest > result.newest:
        result.newest = newest
    if result.last_hit is None or hit > result.last_hit:
        result.last_hit = hit
    result.expired += sum(1 for mtime in mtimes if mtime < expiry)


def _targets(ws: Workspace, kind: str | None) -> list[CleanupTarget]:
    # A cache folder leading out of the workspace is refused as a whole.
    return [
        CleanupTarget(check_inside(ws, ws.cache_dir / name), f"cache/{name}")
        for name in chosen_types(kind)
    ]


def plan_clear(
    ws: Workspace, kind: str | None = None, now: float | None = None
) -> CleanupPlan:
    """Plan removing every entry of one cache type (or all of them)."""
    return plan_cleanup(
        _targets(ws, kind), [ws.cache_dir], None, now=now, reason="cache cleared"
    )


def plan_refresh(
    ws: Workspace,
    kind: str | None = None,
    selective: bool = False,
    now: float | None = None,
) -> CleanupPlan:
    """Plan dropping stale entries so that they are fetched again.

    Stale means older than ``[cache] refresh_interval``; with ``selective``
    only the entries past ``[cache] ttl`` go.
    """
    ttl, refresh = cache_limits(ws)
    age = ttl if selective else refresh
    why = "past the cache TTL" if selective else "stale (older than refresh_interval)"
    return plan_cleanup(_targets(ws, kind), [ws.cache_dir], age, now=now, reason=why)


def plan_optimize(
    ws: Workspace, kind: str | None = None, now: float | None = None
) -> CleanupPlan:
    """Plan removing expired entries, duplicates by content and empty folders."""
    ttl, _ = cache_limits(ws)
    plan = plan_cleanup(
        _targets(ws, kind), [ws.cache_dir], ttl, now=now, reason="past the cache TTL"
    )
    going = {item.path for item in plan.removals}
    writers = holders.writers_below([ws.cache_dir])
    for name in chosen_types(kind):
        _plan_duplicates(plan, ws.cache_dir / name, going, writers)
    for name in chosen_types(kind):
        _plan_empty_folders(plan, ws.cache_dir / name, going)
    return plan


def _plan_duplicates(
    plan: CleanupPlan,
    folder: Path,
    going: set[Path],
    writers: dict,
) -> None:
    """Keep the oldest copy of each content; plan removing the others."""
    by_size: dict[int, list[tuple[Path, os.stat_result]]] = {}
    for path, info in _regular_files(folder):
        if path not in going and (info.st_dev, info.st_ino) not in writers:
            by_size.setdefault(info.st_size, []).append((path, info))
    for size, group in by_size.items():
        if len(group) < 2 or size == 0:
            continue
        by_digest: dict[str, list[tuple[Path, os.stat_result]]] = {}
        for path, info in group:
            by_digest.setdefault(_digest(path), []).append((path, info))
        for copies in by_digest.values():
            copies.sort(key=lambda pair: (pair[1].st_mtime, str(pair[0])))
            original = copies[0][0]
            for path, info in copies[1:]:
                reason = f"duplicate of {original.relative_to(folder.parent)}"
                plan.removals.append(_removal(path, folder, "file", info, reason))
                going.add(path)


def _plan_empty_folders(plan: CleanupPlan, folder: Path, going: set[Path]) -> None:
    """Plan removing sub-folders left with nothing once the plan has run."""

    def empties(current: Path) -> bool:
        everything_goes = True
        for entry in os.scandir(current):
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                if empties(path) and path not in going:
                    info = entry.stat(follow_symlinks=False)
                    reason = "empty folder"
                    plan.removals.append(_removal(path, folder, "folder", info, reason))
                    going.add(path)
                else:
                    everything_goes = False
            elif path not in going:
                everything_goes = False
        return everything_goes

    if folder.is_dir() and not folder.is_symlink():
        empties(folder)


def _removal(
    path: Path, root: Path, kind: str, info: os.stat_result, reason: str
) -> Removal:
    size = info.st_size if kind == "file" else 0
    return Removal(
        path.parent, path.name, root, kind, size, reason, info.st_ino, info.st_mtime_ns
    )


def _regular_files(folder: Path):
    for dirpath, _dirs, names in os.walk(folder, followlinks=False):
        for name in names:
            path = Path(dirpath) / name
            info = path.lstat()
            if stat.S_ISREG(info.st_mode):
                yield path, info


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def plan_cache_action(
    ws: Workspace,
    action: str,
    kind: str | None = None,
    selective: bool = False,
    now: float | None = None,
) -> CleanupPlan:
    """Return the plan of ``cache --action`` optimize, clear or refresh."""
    if selective and action != "refresh":
        raise UsageError("--selective goes with --action refresh")
    if action == "clear":
        return plan_clear(ws, kind, now)
    if action == "refresh":
        return plan_refresh(ws, kind, selective, now)
    if action == "optimize":
        return plan_optimize(ws, kind, now)
    raise UsageError(
        f"--action: {quoted(action)} is not one of {', '.join(CACHE_ACTIONS)}"
    )
