"""Sample the workspace's disk use and the processes working in it.

:func:`run_monitor` takes a sample at the start and then every ``interval``
seconds until ``duration`` has passed (the last sample at the end, so a
2-second run at 1-second intervals gives three samples). Samples are
scheduled from the start time, so slow samples do not make the run drift;
a slot missed because a sample took too long is skipped, not made up.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from workspace_tasks.context import RUNTIME_AREAS, Workspace
from workspace_tasks.errors import UsageError
from workspace_tasks.measure import tree_size
from workspace_tasks.text import quoted

log = logging.getLogger(__name__)

MONITOR_TYPES = ("disk", "processes", "all")


@dataclass(frozen=True)
class ProcessInfo:
    """A process working in the workspace."""

    pid: int
    name: str
    user: str
    cpu_percent: float
    rss: int
    reason: str

    def to_dict(self) -> dict:
        return {
            "pid": self.pid,
            "name": self.name,
            "user": self.user,
            "cpu_percent": self.cpu_percent,
            "rss": self.rss,
            "reason": self.reason,
        }


@dataclass
class Sample:
    """One sample: when, disk use per runtime area, processes."""

    time: str
    elapsed: float
    disk: dict[str, dict[str, int]] | None = None
    free_bytes: int | None = None
    processes: list[ProcessInfo] | None = None

    def to_dict(self) -> dict:
        data: dict = {"time": self.time, "elapsed": round(self.elapsed, 3)}
        if self.disk is not None:
            data["disk"] = self.disk
            data["free_bytes"] = self.free_bytes
        if self.processes is not None:
            data["processes"] = [p.to_dict() for p in self.processes]
        return data


@dataclass
class MonitorResult:
    """Every sample of one monitoring run."""

    samples: list[Sample] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"samples": [s.to_dict() for s in self.samples]}


def check_monitor_type(kind: str) -> str:
    """Return ``kind`` if it is a monitor type, else raise naming ``--type``."""
    if kind not in MONITOR_TYPES:
        raise UsageError(
            f"--type: {quoted(kind)} is not one of {', '.join(MONITOR_TYPES)}"
        )
    return kind


def disk_use(ws: Workspace) -> dict[str, dict[str, int]]:
    """Return files and bytes of each of the user's runtime areas.

    Raises:
        UnsafeOperation: an area leads out of the workspace through a link.
    """
    from workspace_tasks.runtime import check_inside

    use = {}
    for area in RUNTIME_AREAS:
        size = tree_size(check_inside(ws, ws.runtime(area)))
        use[area] = {"files": size.files, "bytes": size.bytes}
    return use


def workspace_processes(ws: Workspace, skip_pid: int | None = None) -> list:
    """Return the processes whose folder or open files lie in the workspace."""
    import psutil

    root = os.path.join(os.fspath(ws.root), "")
    user_areas = tuple(
        os.path.join(os.fspath(ws.runtime(area)), "") for area in RUNTIME_AREAS
    )
    found = []
    attributes = ["pid", "name", "username", "cwd", "memory_info"]
    for process in psutil.process_iter(attributes):
        if process.pid == skip_pid:
            continue
        reason = _why_in_workspace(process, root, user_areas)
        if reason is None:
            continue
        info = process.info
        try:
            cpu = process.cpu_percent(interval=None)
        except psutil.Error:
            cpu = 0.0
        memory = info.get("memory_info")
        found.append(
            ProcessInfo(
                process.pid,
                info.get("name") or "?",
                info.get("username") or "?",
                cpu,
                memory.rss if memory else 0,
                reason,
            )
        )
    return found


def _why_in_workspace(process, root: str, user_areas: tuple[str, ...]) -> str | None:
    import psutil

    cwd = process.info.get("cwd")
    if cwd and os.path.join(cwd, "").startswith(root):
        return f"works in {cwd}"
    try:
        files = process.open_files()
    except (psutil.Error, OSError):
        return None
    for opened in files:
        if opened.path.startswith(user_areas):
            return f"has {opened.path} open"
    return None


def take_sample(
    ws: Workspace, kind: str, elapsed: float, skip_pid: int | None = None
) -> Sample:
    """Return one sample of the kind asked for (disk, processes or all)."""
    import shutil

    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    sample = Sample(stamp, elapsed)
    if kind in ("disk", "all"):
        sample.disk = disk_use(ws)
        sample.free_bytes = shutil.disk_usage(ws.root).free
    if kind in ("processes", "all"):
        sample.processes = workspace_processes(ws, skip_pid)
    return sample


def run_monitor(
    ws: Workspace,
    duration: float,
    interval: float,
    kind: str = "all",
    on_sample: Callable[[Sample], None] | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> MonitorResult:
    """Sample every ``interval`` seconds from now until ``duration`` has passed.

    An infinite ``duration`` samples until interrupted; such a run hands each
    sample to ``on_sample`` and keeps none, so its memory does not grow.

    Raises:
        UsageError: a negative duration, an interval that is not positive,
            or an unknown ``kind``.
    """
    check_monitor_type(kind)
    if duration < 0:
        raise UsageError("--duration: must not be negative")
    if interval <= 0:
        raise UsageError("--interval: must be more than 0s")
    result = MonitorResult()
    start = clock()
    slot = 0
    while True:
        sample = take_sample(ws, kind, clock() - start, skip_pid=os.getpid())
        if math.isfinite(duration):
            result.samples.append(sample)
        if on_sample is not None:
            on_sample(sample)
        slot = _next_slot(clock() - start, interval, slot)
        if slot * interval > duration + 1e-9:
            break
        sleep(max(0.0, start + slot * interval - clock()))
    log.debug("monitor took %d samples", len(result.samples))
    return result


def _next_slot(elapsed: float, interval: float, slot: int) -> int:
    """Return the first slot after ``slot`` that has not already passed."""
    return max(slot + 1, int(elapsed // interval) + 1)
