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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from workspace_tasks import parallel
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
    """Walk ``ws`` once: links, over-deep folders, runtime sizes and suspects.

    The folders two levels into the user's cache (``<type>/<folder>``) are
    walked last, in two processes when there are many (a large cache is
    most of the walk).
    """
    now = time.time() if now is None else now
    found = Survey(areas={area: AreaUsage() for area in RUNTIME_AREAS})
    walk = _Walk(ws, now)
    deferred: list[tuple[str, int, str | None]] = []
    walk.run(found, [(os.fspath(ws.root), 0, None)], deferred)
    for part in parallel.in_two_processes(walk.survey, deferred):
        _merge(found, part)
    for noted in (found.symlinks, found.too_deep, found.unlisted, found.sidecars):
        noted.sort()
    found.suspect_cache.sort()
    found.logs.sort()
    return found


class _Walk:
    """What a walk of one workspace needs to know at every folder."""

    def __init__(self, ws: Workspace, now: float) -> None:
        self.user = ws.user
        self.now = now
        self.area_of = {os.fspath(ws.runtime(area)): area for area in RUNTIME_AREAS}
        self.shared = {os.fspath(ws.runtime_root / area) for area in RUNTIME_AREAS}
        self.cache = os.fspath(ws.runtime("cache"))

    def survey(self, folders: Sequence[tuple[str, int, str | None]]) -> Survey:
        """Return the survey of ``folders`` and everything below them."""
        found = Survey(areas={area: AreaUsage() for area in RUNTIME_AREAS})
        self.run(found, list(folders), None)
        return found

    def run(
        self,
        found: Survey,
        stack: list[tuple[str, int, str | None]],
        deferred: list[tuple[str, int, str | None]] | None,
    ) -> None:
        """Walk ``stack``; with ``deferred``, leave the cache's folders there."""
        while stack:
            folder, depth, area = stack.pop()
            # Listed through a descriptor, the files are stat-ed by name in
            # their folder rather than by their whole path.
            try:
                fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
            except OSError:
                found.unlisted.append(Path(folder))
                continue
            try:
                below = self._folder(found, fd, folder, depth, area)
            except OSError:
                found.unlisted.append(Path(folder))
                continue
            finally:
                os.close(fd)
            if deferred is not None and os.path.dirname(folder) == self.cache:
                deferred += below
            else:
                stack += below

    def _folder(
        self, found: Survey, fd: int, folder: str, depth: int, area: str | None
    ) -> list[tuple[str, int, str | None]]:
        """Note what the opened ``folder`` holds; return its folders to walk."""
        other_users_here = folder in self.shared
        below = []
        files = []
        for entry in os.scandir(fd):
            if entry.is_dir(follow_symlinks=False):
                if other_users_here and entry.name != self.user:
                    continue
                path = f"{folder}/{entry.name}"
                if depth + 1 > MAX_DEPTH:
                    found.too_deep.append(Path(path))
                    continue
                below.append((path, depth + 1, self.area_of.get(path, area)))
            elif entry.is_symlink():
                found.symlinks.append(Path(folder, entry.name))
            elif area is not None:
                files.append(entry)
        if files:
            _note_files(found, area, folder, files, self.now)
        return below


def _merge(found: Survey, part: Survey) -> None:
    for name in ("symlinks", "too_deep", "unlisted", "suspect_cache", "sidecars"):
        getattr(found, name).extend(getattr(part, name))
    found.logs.extend(part.logs)
    for area, usage in part.areas.items():
        found.areas[area].files += usage.files
        found.areas[area].bytes += usage.bytes


def _note_files(
    found: Survey, area: str, folder: str, entries: list[os.DirEntry], now: float
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
            found.logs.append((Path(folder, entry.name), info.st_size))
        elif in_cache and (
            info.st_size == 0
            or info.st_mode & TYPE_AND_READ != REGULAR_READABLE
            or entry.name.endswith(SUSPECT_ENDINGS)
        ):
            _note_cache_entry(found, Path(folder, entry.name), info, now)
    usage.files += len(entries)
    usage.bytes += total


def _note_cache_entry(
    found: Survey, path: Path, info: os.stat_result, now: float
) -> None:
    if not stat.S_ISREG(info.st_mode):
        return
    reason = _cache_suspicion(path.name, info, now)
    if reason == "sidecar":
        found.sidecars.append(path)
    elif reason:
        found.suspect_cache.append((path, reason))


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
