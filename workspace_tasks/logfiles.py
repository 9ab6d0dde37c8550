"""The user's log files: tail, follow, rotate by size and archive.

Rotated logs are numbered and gzip-compressed beside the log:
``provisioning.log.1.gz`` is the newest, up to ``[logging] max_files``.
gzip is used because every system can read it (``zcat``, ``zgrep``).

Rotation never loses a line: the log is renamed aside (writers that open it
afterwards create a new one), the rotation then waits until no process holds
the renamed file open for writing, and only then compresses it. A writer
that keeps it open longer than the drain time keeps it: the file stays
uncompressed as ``<log>.1`` and is compressed by a later rotation.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import stat
import tarfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from workspace_tasks import holders, safefs
from workspace_tasks.context import Workspace
from workspace_tasks.errors import UsageError

log = logging.getLogger(__name__)

SUFFIX = ".gz"
LOG_PATTERN = "*.log"
ARCHIVE_FOLDER = "logs"
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_FILES = 5
DRAIN_TIMEOUT = 2.0
# The longest line shown whole; a longer one shows its end after a marker.
MAX_LINE = 16 * 1024
# What one poll of a followed log reads at most; the rest comes next poll.
FOLLOW_CHUNK = 4 * 1024 * 1024
_ROTATED = re.compile(r"^(?P<base>.+\.log)\.(?P<number>[0-9]+)(?P<gz>\.gz)?$")


@dataclass(frozen=True)
class Rotation:
    """One log rotated: where its lines went and who still held it."""

    path: Path
    rotated_to: Path
    size: int
    held_by: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "path": str(self.path),
            "rotated_to": str(self.rotated_to),
            "size": self.size,
            "held_by": list(self.held_by),
        }


@dataclass
class RotationReport:
    """The logs rotated by one ``logs --action rotate`` and the threshold."""

    max_bytes: int
    rotations: list[Rotation] = field(default_factory=list)
    below_threshold: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "max_bytes": self.max_bytes,
            "rotated": [r.to_dict() for r in self.rotations],
            "below_threshold": self.below_threshold,
        }


# Limits from the configuration.


def log_limits(ws: Workspace, *, strict: bool = True) -> tuple[int, int]:
    """Return ``(max_bytes, max_files)`` from ``[logging]``; 0 bytes: no rotation.

    The configuration is read as every command reading settings reads it:
    a layer that does not load, or a value that is not a size or a count,
    is the user's to fix. Without ``strict`` (for the tool's own log file,
    attached before the command runs) it falls back to the defaults, so
    that the log of a command that reports the broken file still works.

    Raises:
        UsageError: with ``strict``, the configuration or a value is broken.
    """
    from workspace_tasks.settings import effective_config
    from workspace_tasks.units import parse_count, parse_size

    try:
        section = effective_config(ws).get("logging", {})
        if not isinstance(section, dict):
            raise UsageError("[logging]: not a table in the configuration")
        max_bytes = parse_size(
            section.get("max_size", DEFAULT_MAX_BYTES), "[logging] max_size"
        )
        max_files = parse_count(
            section.get("max_files", DEFAULT_MAX_FILES), "[logging] max_files"
        )
    except UsageError as exc:
        if strict:
            raise
        log.debug("logging limits fall back to defaults: %s", exc)
        return DEFAULT_MAX_BYTES, DEFAULT_MAX_FILES
    if section.get("file_rotation", True) is False:
        return 0, max_files
    return max_bytes, max(max_files, 1)


# Which files are logs.


def logs_folder(ws: Workspace) -> Path:
    """Return the user's log folder, refusing one that leads out of the workspace.

    Raises:
        UnsafeOperation: ``runtime/logs/<user>`` (or a folder on the way) is
            a link leading outside the workspace.
    """
    from workspace_tasks.runtime import check_inside

    return check_inside(ws, ws.logs_dir)


def user_logs(ws: Workspace) -> list[Path]:
    """Return the user's current log files (``*.log``), sorted, links left out."""
    found = []
    for path in sorted(logs_folder(ws).rglob(LOG_PATTERN)):
        if path.is_file() and not path.is_symlink():
            found.append(path)
    return found


def rotated_logs(folder: Path) -> list[Path]:
    """Return the numbered rotated logs below ``folder``, sorted."""
    return sorted(
        path
        for path in folder.rglob("*.log.*")
        if _ROTATED.match(path.name) and path.is_file() and not path.is_symlink()
    )


def is_rotated(path: Path) -> bool:
    """Tell whether ``path`` is itself a rotated copy (``x.log.3.gz``, ``x.log.1``)."""
    return bool(_ROTATED.match(path.name))


def rotated_name(path: Path, number: int, compressed: bool = True) -> Path:
    """Return the name of rotation ``number`` of ``path`` (``x.log.2.gz``)."""
    return path.with_name(f"{path.name}.{number}{SUFFIX if compressed else ''}")


# Rotation.


def rotate_log(
    path: Path,
    max_bytes: int | None = None,
    keep: int = DEFAULT_MAX_FILES,
    *,
    root: Path | None = None,
    drain_timeout: float = DRAIN_TIMEOUT,
) -> Rotation | None:
    """Rotate ``path`` into ``path.1.gz`` when it has reached ``max_bytes``.

    Args:
        path: the log file.
        max_bytes: rotate only at this size or above; None rotates any
            non-empty log.
        keep: how many rotated files to keep (older ones are removed).
        root: nothing outside this folder is touched (the log's folder).
        drain_timeout: how long to wait for writers of the renamed log.

    Returns:
        The rotation, or None when the log is missing, empty or small.
    """
    path = Path(path)
    root = Path(root) if root is not None else path.parent
    safefs.check_within(path, root)
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
        return None
    if max_bytes is not None and info.st_size < max_bytes:
        return None

    _shift(path, max(keep, 1), root)
    staging = path.with_name(f".{path.name}.rotating-{os.getpid()}")
    safefs.rename(path, staging, root)
    _recreate(path, stat.S_IMODE(info.st_mode), root)
    held = _drain(staging, path.parent, drain_timeout)
    if held:
        target = rotated_name(path, 1, compressed=False)
        safefs.rename(staging, target, root)
        log.warning(
            "%s is still written by %s: kept uncompressed as %s",
            path,
            ", ".join(held),
            target.name,
        )
    else:
        target = rotated_name(path, 1)
        compress_file(staging, target, stat.S_IMODE(info.st_mode), root=root)
        safefs.remove_path(staging, root)
    log.info("rotated %s (%d bytes) to %s", path, info.st_size, target.name)
    return Rotation(path, target, info.st_size, tuple(held))


def _shift(path: Path, keep: int, root: Path) -> None:
    """Renumber ``path.N[.gz]`` to ``N+1``, dropping those past ``keep``."""
    numbered = []
    for candidate in path.parent.glob(f"{glob_escape(path.name)}.*"):
        match = _ROTATED.match(candidate.name)
        if match and match.group("base") == path.name:
            numbered.append((int(match.group("number")), candidate, match.group("gz")))
    for number, candidate, gz in sorted(numbered, reverse=True):
        if number >= keep:
            safefs.remove_path(candidate, root)
            log.debug("dropped %s (keeping %d rotations)", candidate, keep)
            continue
        renamed = rotated_name(path, number + 1, compressed=bool(gz))
        safefs.rename(candidate, renamed, root)


def glob_escape(name: str) -> str:
    """Escape the glob characters of a file name."""
    return re.sub(r"([*?\[])", r"[\1]", name)


def _recreate(path: Path, mode: int, root: Path) -> None:
    try:
        fd = safefs.create_file(path, root, mode)
    except FileExistsError:
        return  # a writer already created the new log
    os.close(fd)


def _drain(staging: Path, folder: Path, timeout: float) -> list[str]:
    """Wait until nobody writes ``staging``; return who still does at the end."""
    key = holders.file_key(staging)
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        writing = holders.writers_below([folder]).get(key, []) if key else []
        if not writing:
            return []
        if time.monotonic() >= deadline:
            return [str(h) for h in writing]
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def compress_file(
    source: Path, target: Path, mode: int = 0o600, *, root: Path | None = None
) -> None:
    """Write ``source`` gzip-compressed to ``target`` atomically (inside ``root``)."""
    import gzip
    import shutil

    # The gzip header names the log itself, not the temporary file.
    name = target.name.removesuffix(SUFFIX)
    with (
        safefs.atomic_output(target, mode, root=root) as tmp,
        open(source, "rb") as src,
        open(tmp, "wb") as raw,
        gzip.GzipFile(name, "wb", 6, raw) as gz,
    ):
        shutil.copyfileobj(src, gz, 1024 * 1024)


def logs_to_rotate(ws: Workspace, removed: Iterable[Path] = ()) -> list[dict]:
    """Return the user's logs at or above the configured size (path, size).

    Logs in ``removed`` (planned for removal by the same cleanup) are left
    out: what is removed is not rotated.
    """
    max_bytes, _ = log_limits(ws)
    if not max_bytes:
        return []
    going = {Path(path) for path in removed}
    found = []
    for path in user_logs(ws):
        if path in going:
            continue
        size = path.lstat().st_size
        if size >= max_bytes:
            found.append({"path": str(path), "size": size})
    return found


def rotate_user_logs(
    ws: Workspace,
    max_bytes: int | None = None,
    keep: int | None = None,
    paths: Iterable[Path] | None = None,
) -> RotationReport:
    """Rotate each of the user's logs at or above the configured size.

    With ``paths``, only those of the user's logs (a plan made before).
    """
    configured_bytes, configured_keep = log_limits(ws)
    max_bytes = configured_bytes if max_bytes is None else max_bytes
    keep = configured_keep if keep is None else keep
    report = RotationReport(max_bytes)
    chosen = None if paths is None else {Path(path) for path in paths}
    for path in user_logs(ws):
        if chosen is not None and path not in chosen:
            continue
        rotation = rotate_log(path, max_bytes or None, keep, root=ws.logs_dir)
        if rotation is None:
            report.below_threshold.append(str(path))
        else:
            report.rotations.append(rotation)
    return report


# Reading.


@dataclass
class Tail:
    """The last lines of each of the user's logs."""

    files: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"files": self.files}


class _Line:
    """A line gathered piece by piece, keeping at most its last ``MAX_LINE`` bytes."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.kept = 0
        self.cut = 0

    def add_before(self, piece: bytes | int) -> None:
        """Add ``piece`` (bytes, or a count of zero bytes) before what is held."""
        size = piece if isinstance(piece, int) else len(piece)
        room = MAX_LINE - self.kept
        if room <= 0:
            self.cut += size
            return
        if size > room:
            self.cut += size - room
        if isinstance(piece, int):
            piece = bytes(min(size, room))
        self.pieces.append(piece[-room:] if size > room else piece)
        self.kept += min(size, room)

    def add_after(self, piece: bytes) -> None:
        """Add ``piece`` after what is held, keeping the line's last bytes."""
        self.pieces.append(piece)
        self.kept += len(piece)
        if self.kept > MAX_LINE:
            data = b"".join(self.pieces)
            self.cut += len(data) - MAX_LINE
            self.pieces, self.kept = [data[-MAX_LINE:]], MAX_LINE

    def text(self, backwards: bool) -> str:
        """Return the line as text, a marker first when its start was cut."""
        pieces = reversed(self.pieces) if backwards else self.pieces
        data = b"".join(pieces).removesuffix(b"\r")
        text = data.decode("utf-8", errors="replace")
        return f"[{_human(self.cut)} cut] {text}" if self.cut else text


def _human(size: int) -> str:
    from workspace_tasks.output import human_size

    return human_size(size)


def _data_after(fd: int, offset: int, end: int) -> bool:
    """Tell whether ``[offset, end)`` of a file holds data, not only a hole."""
    if not hasattr(os, "SEEK_DATA"):
        return True
    try:
        return os.lseek(fd, offset, os.SEEK_DATA) < end
    except OSError as exc:  # ENXIO: only a hole from there on
        return exc.errno != errno.ENXIO


def last_lines(path: Path, count: int, block: int = 65536) -> list[str]:
    """Return the last ``count`` lines of ``path``, reading backwards from its end.

    As ``tail -n``: blocks are read from the end until ``count`` lines are
    found, so the time and memory do not grow with the file. A line longer
    than ``MAX_LINE`` bytes shows its last ``MAX_LINE`` bytes after a marker
    saying how much was cut, and the holes of a sparse file are skipped
    without being read.
    """
    if count <= 0:
        return []
    found: list[str] = []
    line = _Line()
    with open(path, "rb") as handle:
        fd = handle.fileno()
        size = position = os.fstat(fd).st_size
        if position and os.pread(fd, 1, position - 1) == b"\n":
            position -= 1  # the newline ending the last line starts no new one
        while position > 0 and len(found) < count:
            start = max(0, position - block)
            if not _data_after(fd, start, position):
                line.add_before(position - start)
                position = start
                continue
            pieces = os.pread(fd, position - start, start).split(b"\n")
            position = start
            for piece in reversed(pieces[1:]):
                line.add_before(piece)
                found.append(line.text(backwards=True))
                line = _Line()
                if len(found) == count:
                    break
            else:
                line.add_before(pieces[0])
        if size and position == 0 and len(found) < count:
            found.append(line.text(backwards=True))  # the first line
    return found[::-1]


def tail_logs(ws: Workspace, count: int) -> Tail:
    """Return the last ``count`` lines of each of the user's logs."""
    if count < 0:
        raise UsageError(f"--lines: {count} is negative; give 0 or more")
    tail = Tail()
    for path in user_logs(ws):
        tail.files[str(path.relative_to(ws.logs_dir))] = last_lines(path, count)
    return tail


def _read_lines(handle: BinaryIO, rest: _Line) -> tuple[list[str], _Line, bool]:
    """Read up to ``FOLLOW_CHUNK`` bytes after ``rest``, the line begun before.

    Return the complete lines, the line begun at the end, and whether the
    end of the file was reached.
    """
    lines = []
    budget = FOLLOW_CHUNK
    while budget > 0:
        data = handle.read(min(budget, 1024 * 1024))
        if not data:
            return lines, rest, True
        budget -= len(data)
        *complete, last = data.split(b"\n")
        for piece in complete:
            rest.add_after(piece)
            lines.append(rest.text(backwards=False))
            rest = _Line()
        rest.add_after(last)
    return lines, rest, False


class _Followed:
    """One log being followed: its open handle and the partial last line."""

    def __init__(self, path: Path, from_end: bool) -> None:
        self.path = path
        self.handle = open(path, "rb")  # noqa: SIM115 (kept open while following)
        self.key = holders.file_key(path)
        self.rest = _Line()
        self.retired: list[tuple[BinaryIO, _Line]] = []
        self.behind = False
        if from_end:
            self.handle.seek(0, os.SEEK_END)

    def read(self) -> list[str]:
        """Return the complete lines written since the last read.

        At most ``FOLLOW_CHUNK`` bytes of a file are read per call (then
        ``behind`` is set), and a line longer than ``MAX_LINE`` keeps its
        end only, so memory stays bounded whatever is written.
        """
        lines = self._drain_retired()
        found, self.rest, done = _read_lines(self.handle, self.rest)
        lines += found
        self.behind = not done
        current = holders.file_key(self.path)
        if done and current is not None and current != self.key:
            # Rotated: keep reading the old file until its last writer is
            # done (its last name is gone), and start the new one at its top.
            self.retired.append((self.handle, self.rest))
            self.handle = open(self.path, "rb")  # noqa: SIM115
            self.key, self.rest = current, _Line()
            found, self.rest, done = _read_lines(self.handle, self.rest)
            lines += found
            self.behind = not done
        return lines

    def _drain_retired(self) -> list[str]:
        lines: list[str] = []
        still: list[tuple[BinaryIO, _Line]] = []
        for handle, rest in self.retired:
            found, rest, done = _read_lines(handle, rest)
            lines += found
            if done and os.fstat(handle.fileno()).st_nlink == 0:
                if rest.kept or rest.cut:
                    lines.append(rest.text(backwards=False))
                handle.close()
            else:
                self.behind = self.behind or not done
                still.append((handle, rest))
        self.retired = still
        return lines

    def close(self) -> None:
        self.handle.close()
        for handle, _ in self.retired:
            handle.close()


class LogFollower:
    """Follow every log of a user, across rotations and new log files.

    Call :meth:`poll` repeatedly; each call returns the complete lines
    written since the previous one, as ``(log name, line)`` pairs.
    """

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.followed: dict[Path, _Followed] = {
            path: _Followed(path, from_end=True) for path in user_logs(ws)
        }

    @property
    def behind(self) -> bool:
        """Tell whether the last poll left lines to read (a burst of writes)."""
        return any(followed.behind for followed in self.followed.values())

    def poll(self) -> list[tuple[str, str]]:
        """Return the lines written since the last poll (see :attr:`behind`)."""
        for path in user_logs(self.ws):
            if path not in self.followed:
                self.followed[path] = _Followed(path, from_end=False)
        found = []
        for path, followed in self.followed.items():
            name = str(path.relative_to(self.ws.logs_dir))
            found += [(name, line) for line in followed.read()]
        return found

    def close(self) -> None:
        """Close every file being followed."""
        for followed in self.followed.values():
            followed.close()


def follow_logs(ws: Workspace, interval: float = 0.25) -> Iterator[tuple[str, str]]:
    """Yield ``(log name, line)`` as lines are written, until closed."""
    follower = LogFollower(ws)
    try:
        while True:
            yield from follower.poll()
            if not follower.behind:
                time.sleep(interval)
    finally:
        follower.close()


# Archiving.


@dataclass
class ArchiveResult:
    """Rotated logs moved into one archive, and where it is."""

    archive: str | None
    files: list[str] = field(default_factory=list)
    bytes: int = 0

    def to_dict(self) -> dict:
        return {"archive": self.archive, "files": self.files, "bytes": self.bytes}


def archive_folder(ws: Workspace) -> Path:
    """Return where log archives go: ``runtime/data/<user>/backups/logs``."""
    return ws.backups_dir / ARCHIVE_FOLDER


def archive_logs(
    ws: Workspace, older_than: float, now: float | None = None
) -> ArchiveResult:
    """Move rotated logs older than ``older_than`` seconds into one ``.tar.gz``.

    The archive is written and read back before any rotated log is removed.
    """
    from workspace_tasks.runtime import check_inside, ensure_user_dir

    now = time.time() if now is None else now
    check_inside(ws, archive_folder(ws))
    chosen = [
        path
        for path in rotated_logs(logs_folder(ws))
        if now - path.lstat().st_mtime > older_than
    ]
    if not chosen:
        return ArchiveResult(None)
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")
    target = _free_name(archive_folder(ws), f"logs-{stamp}", ".tar.gz")
    ensure_user_dir(ws, archive_folder(ws))
    with (
        safefs.atomic_output(target, safefs.PRIVATE_FILE, root=ws.root) as tmp,
        tarfile.open(tmp, "w:gz") as tar,
    ):
        for path in chosen:
            tar.add(path, arcname=str(path.relative_to(ws.logs_dir)))
    _verify_archive(target, len(chosen))
    result = ArchiveResult(str(target))
    for path in chosen:
        result.bytes += safefs.remove_path(path, ws.logs_dir)
        result.files.append(str(path.relative_to(ws.logs_dir)))
    log.info("archived %d rotated logs into %s", len(chosen), target)
    return result


def _free_name(folder: Path, stem: str, suffix: str) -> Path:
    candidate = folder / f"{stem}{suffix}"
    number = 1
    while candidate.exists():
        candidate = folder / f"{stem}-{number}{suffix}"
        number += 1
    return candidate


def _verify_archive(path: Path, expected: int) -> None:
    with tarfile.open(path, "r:gz") as tar:
        members = tar.getmembers()
    if len(members) != expected:
        raise OSError(f"{path} holds {len(members)} files, expected {expected}")
