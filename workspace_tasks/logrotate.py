"""Rotate a log file: numbered, gzip-compressed copies, then truncate in place.

``rotate_log(path, keep)`` writes the log's content to ``<name>.1.gz`` (older
copies move to ``.2.gz``, ``.3.gz`` … and those past ``keep`` are dropped),
then empties the log. The log itself is never renamed, so a process holding
it open in append mode keeps writing to the same, now empty, file.
"""

from __future__ import annotations

import errno
import gzip
import logging
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

from workspace_tasks import safefs
from workspace_tasks.errors import UsageError

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
ROTATED = re.compile(r".+\.\d+(\.gz)?$")


def rotated_name(path: Path, number: int) -> Path:
    """Return the name of the ``number``-th rotated copy of ``path``."""
    return path.with_name(f"{path.name}.{number}.gz")


def is_rotated(path: Path) -> bool:
    """Tell whether ``path`` is itself a rotated copy (``x.log.3.gz``)."""
    return path.name.endswith(".gz") or bool(ROTATED.fullmatch(path.name))


def rotate_log(path: Path, keep: int) -> Path:
    """Compress ``path`` into ``<name>.1.gz`` and empty it; return the copy.

    Args:
        path: a regular log file (a symbolic link is refused, not followed).
        keep: how many rotated copies to keep, at least 1.

    Raises:
        UsageError: ``keep`` below 1, or ``path`` is not a regular file.
    """
    path = Path(path)
    if keep < 1:
        raise UsageError(f"keep: {keep} rotated copies; keep at least 1")
    info = path.lstat()
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"{path} is not a regular file; only log files rotate")

    _shift_copies(path, keep)
    rotated = rotated_name(path, 1)
    fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
    try:
        with safefs.atomic_output(rotated, stat.S_IMODE(info.st_mode)) as tmp:
            copied = _compress(fd, 0, tmp, "wb")
        _catch_up_then_truncate(fd, rotated, copied)
    finally:
        os.close(fd)
    log.info("rotated %s to %s", path, rotated)
    return rotated


def _shift_copies(path: Path, keep: int) -> None:
    # The oldest copy past ``keep`` goes; the others move up one number.
    oldest = rotated_name(path, keep)
    if oldest.exists() or oldest.is_symlink():
        safefs.remove_path(oldest, path.parent)
    for number in range(keep - 1, 0, -1):
        older = rotated_name(path, number)
        if older.exists():
            os.replace(older, rotated_name(path, number + 1))


def _compress(fd: int, start: int, target: Path, mode: str) -> int:
    """Append ``fd``'s bytes from ``start`` to the gzip ``target``; return the end."""
    # Level 1: rotation runs inside a health check, where a quick pass over
    # a large log matters more than the last few percent of space.
    with gzip.GzipFile(target, mode, compresslevel=1, mtime=0) as sink:
        end = start
        for offset, length in _extents(fd, start):
            if offset is None:
                _write_zeros(sink, length)
                end += length
            else:
                end += _copy_range(fd, offset, length, sink)
        sink.flush()
        os.fsync(sink.fileobj.fileno())
    return end


def _extents(fd: int, start: int) -> Iterator[tuple[int | None, int]]:
    # Holes of a sparse file come as (None, length), so their zeros are
    # produced here instead of read from the disk.
    size = os.fstat(fd).st_size
    position = start
    while position < size:
        try:
            data = os.lseek(fd, position, os.SEEK_DATA)
            hole = os.lseek(fd, data, os.SEEK_HOLE)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # only a hole up to the end
                data = hole = size
            else:  # the file system cannot tell: read everything
                data, hole = position, size
        if data > position:
            yield None, min(data, size) - position
        if hole > data:
            yield data, min(hole, size) - data
        position = max(hole, data)


def _write_zeros(sink: gzip.GzipFile, length: int) -> None:
    zeros = bytes(min(CHUNK, length))
    while length > 0:
        step = min(length, len(zeros))
        sink.write(zeros[:step])
        length -= step


def _copy_range(fd: int, offset: int, length: int, sink: gzip.GzipFile) -> int:
    copied = 0
    while copied < length:
        chunk = os.pread(fd, min(CHUNK, length - copied), offset + copied)
        if not chunk:
            break
        sink.write(chunk)
        copied += len(chunk)
    return copied


def _catch_up_then_truncate(fd: int, rotated: Path, copied: int) -> None:
    # The compressed copy is on disk before the log is emptied. Lines a
    # writer appended meanwhile go into the copy as one more gzip member
    # (readers of gzip join members), and the log is truncated only once
    # nothing new arrived since the last read. A line written in the instant
    # between that check and the truncation is lost: the price of
    # copy-truncate over renaming a file that others hold open.
    while os.fstat(fd).st_size > copied:
        copied = _compress(fd, copied, rotated, "ab")
    os.ftruncate(fd, 0)
