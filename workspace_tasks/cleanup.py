"""Plan and carry out the removal of old files, safely.

The engine any cleanup command uses (``workspace runtime cleanup``, the
cache actions, a workspace-wide cleanup): :func:`plan_cleanup` walks the
folders it is given and lists each file it would remove with its size and
the reason; :func:`execute_plan` removes exactly that list. ``--dry-run``
shows the plan; the real run executes the same plan.

Safety, checked while planning and again just before each removal:

- every folder walked must lie inside one of the allowed roots;
- symbolic links are never followed: a link is removed as a link at most;
- a file whose modification time lies in the future counts as new;
- a file some process holds open for writing is skipped and named;
- a file changed between planning and removal is left alone;
- what ``runtime init --force`` kept aside (``<name>.broken-<time>``) is
  the user's to look at: it is never a candidate, whatever its age.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import stat
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from workspace_tasks import holders, parallel, safefs
from workspace_tasks.errors import UnsafeOperation

log = logging.getLogger(__name__)

Progress = Callable[[int], None]

# ``<name>.broken-<YYYYmmddHHMMSS>`` (``-2``, ``-3``… when taken): see aside_path.
_KEPT_ASIDE = re.compile(r"\.broken-[0-9]{14}(?:-[0-9]+)?$")


def aside_path(path: Path, stamp: str) -> Path:
    """Return a free name to keep ``path`` aside under: ``<name>.broken-<stamp>``.

    ``stamp`` is the time as ``YYYYmmddHHMMSS``; a name already taken gets
    ``-2``, ``-3``… so nothing kept aside before is replaced.
    """
    candidate = path.with_name(f"{path.name}.broken-{stamp}")
    number = 1
    while os.path.lexists(candidate):
        number += 1
        candidate = path.with_name(f"{path.name}.broken-{stamp}-{number}")
    return candidate


def is_kept_aside(name: str) -> bool:
    """Tell whether ``name`` is one :func:`aside_path` gives."""
    return _KEPT_ASIDE.search(name) is not None


@dataclass(frozen=True)
class CleanupTarget:
    """A folder to clean, and which files in it may go.

    Attributes:
        folder: the folder walked (it is never removed itself).
        label: the kind of data, shown with each removal (``cache``, ``logs``).
        patterns: shell patterns a file name must match; empty for any file.
        keep_folders: sub-folders (relative names) kept even when emptied.
        skip_folders: sub-folders (relative names) not entered at all.
    """

    folder: Path
    label: str
    patterns: tuple[str, ...] = ()
    keep_folders: tuple[str, ...] = ()
    skip_folders: tuple[str, ...] = ()

    def matches(self, name: str) -> bool:
        """Tell whether a file called ``name`` may be removed by this target."""
        return not self.patterns or any(
            fnmatch.fnmatchcase(name, pattern) for pattern in self.patterns
        )

    def to_dict(self) -> dict:
        return {
            "folder": str(self.folder),
            "label": self.label,
            "patterns": list(self.patterns),
        }


class Removal(NamedTuple):
    """One entry of a plan: what goes, how big it is and why.

    A named tuple: plans of a hundred thousand entries are built quickly.
    """

    folder: Path
    name: str
    root: Path
    kind: str  # file, link or folder
    size: int
    reason: str
    inode: int
    mtime_ns: int

    @property
    def path(self) -> Path:
        return self.folder / self.name

    def to_dict(self) -> dict:
        return {
            "path": f"{self.folder}/{self.name}",
            "kind": self.kind,
            "size": self.size,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Skip:
    """A file the plan leaves alone although it matched, and why."""

    path: Path
    reason: str

    def to_dict(self) -> dict:
        return {"path": str(self.path), "reason": self.reason}


@dataclass
class CleanupPlan:
    """Everything a cleanup will remove and everything it deliberately skips."""

    targets: list[CleanupTarget]
    max_age: float | None
    removals: list[Removal] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    kept: int = 0

    @property
    def bytes_to_free(self) -> int:
        return sum(item.size for item in self.removals)

    @property
    def files(self) -> int:
        return sum(1 for item in self.removals if item.kind != "folder")

    def to_dict(self) -> dict:
        return {
            "targets": [t.to_dict() for t in self.targets],
            "max_age_seconds": self.max_age,
            "removals": [r.to_dict() for r in self.removals],
            "skipped": [s.to_dict() for s in self.skipped],
            "kept": self.kept,
            "files": self.files,
            "bytes_to_free": self.bytes_to_free,
        }


@dataclass
class CleanupResult:
    """What a cleanup removed, what it skipped, and the bytes it freed."""

    removed: list[Removal] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    freed: int = 0

    def to_dict(self) -> dict:
        return {
            "removed": [r.to_dict() for r in self.removed],
            "skipped": [s.to_dict() for s in self.skipped],
            "files_removed": sum(1 for r in self.removed if r.kind != "folder"),
            "bytes_freed": self.freed,
        }


def plan_cleanup(
    targets: Sequence[CleanupTarget],
    allowed_roots: Sequence[Path],
    max_age: float | None,
    *,
    now: float | None = None,
    reason: str | None = None,
) -> CleanupPlan:
    """Plan the removal of files older than ``max_age`` seconds in ``targets``.

    Args:
        targets: the folders to walk, each with its file-name patterns.
        allowed_roots: nothing outside these folders is ever planned.
        max_age: remove files last modified more than this many seconds ago;
            ``None`` removes files of any age (a cache clear).
        now: the reference time (seconds since the epoch); the clock if None.
        reason: the reason given for each removal; a default names the age.

    Raises:
        UnsafeOperation: a target folder lies outside every allowed root.
    """
    now = time.time() if now is None else now
    plan = CleanupPlan(list(targets), max_age)
    for target in targets:
        _check_allowed(target.folder, allowed_roots)
    writers = holders.writers_below(t.folder for t in targets if t.folder.is_dir())
    seen: set[str] = set()
    for target in targets:
        walker = _Walker(plan, target, now, reason, writers, seen)
        walker.plan_target()
    log.debug(
        "cleanup plan: %d entries, %d bytes, %d skipped, %d kept",
        len(plan.removals),
        plan.bytes_to_free,
        len(plan.skipped),
        plan.kept,
    )
    return plan


def plan_named_files(paths: Iterable[Path], root: Path, reason: str) -> CleanupPlan:
    """Plan the removal of the named files inside ``root``.

    For files chosen by something other than age (backups past retention):
    a link is removed as a link, anything that is neither a file nor a link
    is skipped, and a path outside ``root`` is refused.
    """
    plan = CleanupPlan([], None)
    for path in paths:
        path = Path(path)
        _check_allowed(path.parent, [root])
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(info.st_mode):
            kind, size = "link", 0
        elif stat.S_ISREG(info.st_mode):
            kind, size = "file", info.st_size
        else:
            plan.skipped.append(Skip(path, "not a regular file"))
            continue
        plan.removals.append(
            Removal(
                path.parent,
                path.name,
                root,
                kind,
                size,
                reason,
                info.st_ino,
                info.st_mtime_ns,
            )  # fmt: skip
        )
    return plan


def spare_folders(plan: CleanupPlan, folders: Iterable[Path]) -> None:
    """Keep every planned folder that is, or holds, one of ``folders``.

    Given the current folder, so that a cleanup run from inside an emptied
    folder does not remove the ground under the shell that started it.
    """
    held: set[str] = set()
    for folder in folders:
        real = Path(os.path.realpath(folder))
        held.update(str(p) for p in (real, *real.parents))
    remaining = []
    for item in plan.removals:
        if item.kind == "folder" and os.path.realpath(item.path) in held:
            plan.skipped.append(Skip(item.path, "the current folder is in it"))
        else:
            remaining.append(item)
    plan.removals = remaining


def _check_allowed(folder: Path, allowed_roots: Sequence[Path]) -> None:
    if not any(safefs.is_within(folder, root) for root in allowed_roots):
        roots = ", ".join(str(r) for r in allowed_roots)
        raise UnsafeOperation(
            f"refusing to clean {folder}: it is outside the allowed folders {roots}"
        )


KEPT_ASIDE = "kept aside by 'runtime init --force': check it and remove it yourself"


def describe_age(seconds: float) -> str:
    """Return an age in the largest whole unit: ``30d``, ``12h``, ``90s``."""
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


class _Walker:
    """Walk one target without following links, filling the plan."""

    def __init__(
        self,
        plan: CleanupPlan,
        target: CleanupTarget,
        now: float,
        reason: str | None,
        writers: dict[holders.FileKey, list[holders.Holder]],
        seen: set[str],
    ) -> None:
        self.plan = plan
        self.target = target
        self.now = now
        self.writers = writers
        self.seen = seen
        self.track = len(plan.targets) > 1
        if reason is None and plan.max_age is not None:
            reason = f"{target.label}: older than {describe_age(plan.max_age)}"
        self.reason = reason or f"{target.label}: cleared"
        self.cutoff = None if plan.max_age is None else now - plan.max_age
        self.keep = {os.path.join(target.folder, name) for name in target.keep_folders}
        self.skip = {os.path.join(target.folder, name) for name in target.skip_folders}

    def plan_target(self) -> None:
        folder = self.target.folder
        try:
            info = folder.lstat()
        except FileNotFoundError:
            return
        if stat.S_ISLNK(info.st_mode):
            self.plan.skipped.append(
                Skip(folder, "is a symbolic link; links are not followed")
            )
            return
        if stat.S_ISDIR(info.st_mode):
            self._walk(folder)

    def _walk(self, folder: Path) -> bool:
        """Plan the entries of ``folder``; return True if all of them go.

        The folder is opened once and its files examined through that
        descriptor (``fstatat`` by name, not a walk of the whole path for
        each file), which is most of a large cleanup's time. Its sub-folders
        are walked once it is closed, so deep trees hold few descriptors.
        """
        try:
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError as exc:
            self.plan.skipped.append(Skip(folder, f"cannot read: {exc}"))
            return False
        base = os.fspath(folder)
        everything_goes = True
        folders = []
        plan_file = self._plan_file
        skipped = {os.path.basename(p) for p in self.skip if os.path.dirname(p) == base}
        try:
            for entry in os.scandir(fd):
                if entry.name in skipped:
                    everything_goes = False
                elif is_kept_aside(entry.name):
                    if self.target.matches(entry.name):  # say so where it counts
                        self.plan.skipped.append(Skip(folder / entry.name, KEPT_ASIDE))
                    everything_goes = False
                elif entry.is_dir(follow_symlinks=False):
                    folders.append(entry.name)
                elif not plan_file(folder, base, entry):
                    everything_goes = False
        except OSError as exc:
            self.plan.skipped.append(Skip(folder, f"cannot read: {exc}"))
            return False
        finally:
            os.close(fd)
        for name in folders:
            emptied = self._walk(folder / name)
            emptied = emptied and self._may_remove_folder(folder, base, name)
            everything_goes = everything_goes and emptied
        return everything_goes

    def _may_remove_folder(self, folder: Path, base: str, name: str) -> bool:
        # A target limited to some file names (temp files) removes no folder.
        path = f"{base}/{name}"
        if self.target.patterns or path in self.keep:
            return False
        if path in self.seen:
            return True
        try:
            info = os.lstat(path)
        except OSError:
            return False
        if self.cutoff is not None and info.st_mtime > self.cutoff:
            return False
        self._add(folder, base, name, "folder", 0, info)
        return True

    def _plan_file(self, folder: Path, base: str, entry: os.DirEntry) -> bool:
        name = entry.name
        if self.target.patterns and not self.target.matches(name):
            return False
        # Only overlapping targets (temp files inside the cache) meet twice.
        if self.seen and f"{base}/{name}" in self.seen:
            return True
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            return False
        cutoff = self.cutoff
        if (
            cutoff is None or info.st_mtime > cutoff or info.st_mtime > self.now
        ) and not self._old_enough(base, name, info):
            return False
        is_link = stat.S_ISLNK(info.st_mode)
        if not is_link:
            busy = self.writers.get((info.st_dev, info.st_ino))
            if busy:
                who = ", ".join(str(h) for h in busy)
                reason = f"held open for writing by {who}"
                self.plan.skipped.append(Skip(folder / name, reason))
                return False
        kind = "link" if is_link else "file"
        self._add(folder, base, name, kind, 0 if is_link else info.st_size, info)
        return True

    def _old_enough(self, base: str, name: str, info: os.stat_result) -> bool:
        if info.st_mtime > self.now:
            # Written since the plan started is merely new; further ahead
            # than the clock is a future time, named so the user sees it.
            if self.cutoff is not None and info.st_mtime > time.time() + 1:
                reason = "modification time in the future: treated as new"
                self.plan.skipped.append(Skip(Path(base, name), reason))
            elif self.cutoff is not None:
                self.plan.kept += 1
            return self.cutoff is None
        if self.cutoff is not None and info.st_mtime > self.cutoff:
            self.plan.kept += 1
            return False
        return True

    def _add(
        self,
        folder: Path,
        base: str,
        name: str,
        kind: str,
        size: int,
        info: os.stat_result,
    ) -> None:
        if self.track:
            self.seen.add(f"{base}/{name}")
        self.plan.removals.append(
            Removal(
                folder,
                name,
                self.target.folder,
                kind,
                size,
                self.reason,
                info.st_ino,
                info.st_mtime_ns,
            )
        )


def execute_plan(plan: CleanupPlan, progress: Progress | None = None) -> CleanupResult:
    """Remove exactly the entries of ``plan``, checking each one again first.

    An entry that changed since the plan was made (another file under the
    same name, a newer modification time) or that is gone is skipped, and a
    folder that is no longer empty is kept. Files go first, a large plan's
    in two processes (half the folders each); folders after, in the plan's
    order, so each goes once what was planned inside it is gone.
    """
    result = CleanupResult(skipped=list(plan.skipped))
    files = [item for item in plan.removals if item.kind != "folder"]
    folders = [item for item in plan.removals if item.kind == "folder"]
    done = 0
    for items in (files, folders):
        runs = _folder_runs(items)
        split = _in_two if items is files and len(files) >= SPLIT_FILES else _in_one
        for outcome in split(lambda part, items=items: _remove_runs(items, part), runs):
            done += _record(result, items, outcome)
            if progress is not None:
                progress(done)
    log.info(
        "cleanup removed %d entries, freed %d bytes, skipped %d",
        len(result.removed),
        result.freed,
        len(result.skipped),
    )
    return result


def _in_one(action: Callable[[Sequence[range]], _Outcome], runs: Sequence[range]):
    return [action(runs)]


def _in_two(action: Callable[[Sequence[range]], _Outcome], runs: Sequence[range]):
    return parallel.in_two_processes(action, runs, minimum=2)


# Below this many files, removing them in two processes costs more than it saves.
SPLIT_FILES = 1000


# What became of each entry of a run: its index, and the problem (None when
# it was removed). Plain numbers and text travel cheaply between processes.
_Outcome = list[tuple[int, str | None]]


def _folder_runs(items: list[Removal]) -> list[range]:
    """Return the index ranges of consecutive entries of one folder."""
    runs = []
    start = 0
    for index in range(1, len(items) + 1):
        if index == len(items) or (items[index].folder, items[index].root) != (
            items[start].folder,
            items[start].root,
        ):
            runs.append(range(start, index))
            start = index
    return runs


def _remove_runs(items: list[Removal], runs: Sequence[range]) -> _Outcome:
    outcome: _Outcome = []
    for run in runs:
        first = items[run.start]
        try:
            with safefs.folder_handle(first.folder, first.root) as fd:
                for index in run:
                    outcome.append((index, _remove(fd, items[index])))
        except OSError as exc:
            reason = f"cannot open its folder: {exc.strerror or exc}"
            done = {index for index, _ in outcome}
            outcome += [(index, reason) for index in run if index not in done]
    return outcome


def _remove(fd: int, item: Removal) -> str | None:
    """Remove one entry of an opened folder; return the problem, if any."""
    problem = _recheck(fd, item)
    if problem is None:
        try:
            safefs.remove_entry(fd, item.name, folder=item.kind == "folder")
        except OSError as exc:
            problem = f"could not remove: {exc.strerror or exc}"
    return problem


def _record(result: CleanupResult, items: list[Removal], outcome: _Outcome) -> int:
    for index, problem in outcome:
        item = items[index]
        if problem is None:
            result.freed += item.size
            result.removed.append(item)
        else:
            result.skipped.append(Skip(item.path, problem))
    return len(outcome)


def _recheck(fd: int, item: Removal) -> str | None:
    try:
        info = os.stat(item.name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return "already gone"
    if info.st_ino != item.inode:
        return "replaced since the plan was made"
    if item.kind != "folder" and info.st_mtime_ns != item.mtime_ns:
        return "modified since the plan was made"
    # A folder that gained an entry is refused by rmdir itself.
    return None


def merge_plans(plans: Iterable[CleanupPlan]) -> CleanupPlan:
    """Join several plans into one (each path once, in order)."""
    merged: CleanupPlan | None = None
    seen: set[Path] = set()
    for plan in plans:
        if merged is None:
            merged = CleanupPlan([], plan.max_age)
        merged.targets += plan.targets
        merged.kept += plan.kept
        merged.skipped += plan.skipped
        for item in plan.removals:
            if item.path not in seen:
                seen.add(item.path)
                merged.removals.append(item)
    return merged or CleanupPlan([], None)
