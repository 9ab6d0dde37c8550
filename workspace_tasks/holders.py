"""Find the processes that hold files open for writing.

Cleanup skips a file another process is still writing, and log rotation
waits until the last writer of a renamed log lets go of it. On Linux the
answer comes from ``/proc/<pid>/fd`` and ``fdinfo`` (cheap: only links that
point below the folders asked about are examined); elsewhere from psutil.
Processes of other accounts are invisible without privileges.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

PROC = Path("/proc")
# The access mode bits of open(2) flags: O_WRONLY is 1, O_RDWR is 2.
_ACCMODE = 0o3

FileKey = tuple[int, int]


@dataclass(frozen=True)
class Holder:
    """A process holding a file open for writing."""

    pid: int
    name: str

    def __str__(self) -> str:
        return f"pid {self.pid} ({self.name})"


def file_key(path: Path) -> FileKey | None:
    """Return the (device, inode) of ``path`` without following a link."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino)


def writers_below(folders: Iterable[Path]) -> dict[FileKey, list[Holder]]:
    """Return every file below ``folders`` open for writing, by (device, inode)."""
    prefixes = tuple(os.path.join(os.path.realpath(folder), "") for folder in folders)
    if not prefixes:
        return {}
    found = _scan_proc(prefixes) if PROC.is_dir() else _scan_psutil(prefixes)
    log.debug("%d files open for writing below %s", len(found), prefixes)
    return found


def _process_name(pid: str) -> str:
    try:
        return (PROC / pid / "comm").read_text(encoding="utf-8").strip()
    except OSError:
        return "?"


def _writing(pid: str, fd: str) -> bool:
    try:
        text = (PROC / pid / "fdinfo" / fd).read_text(encoding="ascii")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags:"):
            return int(line.split()[1], 8) & _ACCMODE in (1, 2)
    return False


def _scan_proc(prefixes: tuple[str, ...]) -> dict[FileKey, list[Holder]]:
    found: dict[FileKey, list[Holder]] = {}
    for pid in os.listdir(PROC):
        if not pid.isdigit():
            continue
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if not target.startswith(prefixes) or not _writing(pid, fd):
                continue
            try:
                info = os.stat(f"{fd_dir}/{fd}")
            except OSError:
                continue
            holder = Holder(int(pid), _process_name(pid))
            found.setdefault((info.st_dev, info.st_ino), []).append(holder)
    return found


def _scan_psutil(prefixes: tuple[str, ...]) -> dict[FileKey, list[Holder]]:
    import psutil

    found: dict[FileKey, list[Holder]] = {}
    for process in psutil.process_iter(["pid", "name"]):
        try:
            files = process.open_files()
        except (psutil.Error, OSError):
            continue
        for opened in files:
            if not opened.path.startswith(prefixes) or opened.mode == "r":
                continue
            key = file_key(Path(opened.path))
            if key is not None:
                holder = Holder(process.pid, process.info["name"] or "?")
                found.setdefault(key, []).append(holder)
    return found
