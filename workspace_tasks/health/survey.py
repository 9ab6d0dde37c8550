"""Walk a workspace once and note what the health checks need.

The walk uses ``os.scandir`` with an explicit stack: symbolic links are
noted, never followed (so a link loop cannot trap it), the depth is bounded
(so a very deep tree cannot exhaust anything) and only this user's runtime
areas are entered. Files are ``stat``-ed only inside those areas, where
their sizes count, which keeps a walk over a large cache close to ``du``.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from workspace_tasks.context import RUNTIME_AREAS, Workspace

MAX_DEPTH = 64
SIDECAR_SUFFIX = ".sha256"
PARTIAL_SUFFIXES = (".tmp", ".part", ".partial", ".download", ".crdownload")
# An empty or partial file younger than this may still be being written.
SETTLE_SECONDS = 3600
KEEP_FILES = frozenset({".keep", ".gitkeep"})
SUSPECT_ENDINGS = (*PARTIAL_SUFFIXES, SIDECAR_SUFFIX)
TYPE_AND_READ = stat.S_IFMT(0o777777) | stat.S_IRUSR
REGULAR_READABLE = stat.S_IFREG | stat.S_IRUSR


@dataclass
class AreaUsage:
    """Files and bytes of one runtime area of the user."""

    files: int = 0
    bytes: int = 0


@dataclass
class Survey:
    """What one walk of the workspace saw."""

    symlinks: list[Path] = field(default_factory=list)
    too_deep: list[Path] = field(default_factory=list)
    unlisted: list[Path] = field(default_factory=list)
    areas: dict[str, AreaUsage] = field(default_factory=dict)
    suspect_cache: list[tuple[Path, str]] = field(default_factory=list)
    sidecars: list[Path] = field(default_factory=list)
    logs: list[tuple[Path, int]] = field(default_factory=list)


def survey_workspace(ws: Workspace, now: float | None = None) -> Survey:
    """Walk ``ws`` once: links, over-deep folders, runtime sizes and suspects."""
    now = time.time() if now is None else now
    found = Survey(areas={area: AreaUsage() for area in RUNTIME_AREAS})
    area_of = {os.fspath(ws.runtime(area)): area for area in RUNTIME_AREAS}
    shared_area_dirs = {os.fspath(ws.runtime_root / area) for area in RUNTIME_AREAS}
    stack: list[tuple[str, int, str | None]] = [(os.fspath(ws.root), 0, None)]
    while stack:
        folder, depth, area = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
        except OSError:
            found.unlisted.append(Path(folder))
            continue
        other_users_here = folder in shared_area_dirs
        files = []
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if other_users_here and entry.name != ws.user:
                    continue
                if depth + 1 > MAX_DEPTH:
                    found.too_deep.append(Path(entry.path))
                    continue
                stack.append((entry.path, depth + 1, area_of.get(entry.path, area)))
            elif entry.is_symlink():
                found.symlinks.append(Path(entry.path))
            elif area is not None:
                files.append(entry)
        if files:
            _note_files(found, area, files, now)
    for noted in (found.symlinks, found.too_deep, found.unlisted, found.sidecars):
        noted.sort()
    found.suspect_cache.sort()
    found.logs.sort()
    return found


def _note_files(
    found: Survey, area: str, entries: list[os.DirEntry], now: float
) -> None:
    # The hot loop of a large cache: one stat per file and, for the usual
    # readable, non-empty, plainly named file, nothing else.
    usage = found.areas[area]
    in_cache, in_logs = area == "cache", area == "logs"
    total = 0
    for entry in entries:
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        total += info.st_size
        if in_logs and stat.S_ISREG(info.st_mode):
            found.logs.append((Path(entry.path), info.st_size))
        elif in_cache and (
            info.st_size == 0
            or info.st_mode & TYPE_AND_READ != REGULAR_READABLE
            or entry.name.endswith(SUSPECT_ENDINGS)
        ):
            _note_cache_entry(found, entry, info, now)
    usage.files += len(entries)
    usage.bytes += total


def _note_cache_entry(
    found: Survey, entry: os.DirEntry, info: os.stat_result, now: float
) -> None:
    if not stat.S_ISREG(info.st_mode):
        return
    reason = _cache_suspicion(entry.name, info, now)
    if reason == "sidecar":
        found.sidecars.append(Path(entry.path))
    elif reason:
        found.suspect_cache.append((Path(entry.path), reason))


def _cache_suspicion(name: str, info: os.stat_result, now: float) -> str | None:
    if name.endswith(SIDECAR_SUFFIX):
        return "sidecar"
    settled = now - info.st_mtime > SETTLE_SECONDS
    if name.endswith(PARTIAL_SUFFIXES):
        return "a leftover partial download" if settled else None
    if info.st_size == 0 and name not in KEEP_FILES and settled:
        return "empty"
    if not info.st_mode & stat.S_IRUSR:
        return "unreadable by its owner"
    return None
