"""Our backup archive format: a tar whose first member is a JSON manifest.

A backup file is, from the outside in: optional age encryption, optional
zstd or gzip compression, then a PAX tar. The tar's first member,
``backup-manifest.json``, lists every entry with its path, type, mode,
mtime (nanoseconds), size and sha256; the entries follow in the same order,
each folder before its contents. Without encryption the file is a plain
tar that ``tar -xf`` (with ``--zstd`` or ``-z``) unpacks.

Files are streamed: memory use does not grow with the size of the tree.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from workspace_tasks import parallel
from workspace_tasks.errors import WorkspaceError
from workspace_tasks.tarstream import TarError, TarMember, TarReader
from workspace_tasks.text import quoted

log = logging.getLogger(__name__)

MANIFEST_NAME = "backup-manifest.json"
FORMAT = "workspace-backup/1"
COMPRESSIONS = ("none", "zstd", "gzip")
SUFFIXES = {"none": ".tar", "zstd": ".tar.zst", "gzip": ".tar.gz"}
ENCRYPTED_SUFFIX = ".age"
CHUNK = 1 << 20
BLOCK = 512
RECORD = 20 * BLOCK
ZSTD_THREADS = 2
ZSTD_JOB = 1 << 20
ZSTD_LEVEL = 3
GZIP_LEVEL = 6
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_GZIP_MAGIC = b"\x1f\x8b"
_AGE_MAGICS = (b"age-encryption.org/", b"-----BEGIN AGE ENCRYPTED FILE-----")

ProgressFn = Callable[[int, int], None]
# Below this many files, reading them in two processes costs more than it saves.
SPLIT_FILES = 1000


class ArchiveError(WorkspaceError):
    """An archive that cannot be read, or a tree that cannot be archived."""


@dataclass
class Entry:
    """One path of a backup: a file, folder, symbolic link or hard link.

    ``target`` is the text of a symbolic link, or for a hard link the path
    of the earlier entry it shares its data with.
    """

    path: str
    type: str
    mode: int
    mtime_ns: int
    size: int = 0
    sha256: str = ""
    target: str = ""

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict) -> Entry:
        """Build an entry from its manifest form, refusing malformed ones."""
        try:
            return cls(
                path=str(data["path"]),
                type=str(data["type"]),
                mode=int(data["mode"]),
                mtime_ns=int(data["mtime_ns"]),
                size=int(data.get("size", 0)),
                sha256=str(data.get("sha256", "")),
                target=str(data.get("target", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ArchiveError(f"malformed manifest entry {quoted(data)}") from exc


@dataclass
class Manifest:
    """What a backup holds and where it came from."""

    name: str
    user: str
    workspace_type: str
    components: list[str]
    created: str
    compression: str
    tool_version: str
    entries: list[Entry] = field(default_factory=list)
    format: str = FORMAT

    @property
    def total_bytes(self) -> int:
        return sum(e.size for e in self.entries if e.type == "file")

    def to_dict(self) -> dict:
        data = {k: v for k, v in self.__dict__.items() if k != "entries"}
        data["entries"] = [e.to_dict() for e in self.entries]
        return data

    def to_bytes(self) -> bytes:
        """Return the text ``json.dumps`` gives for :meth:`to_dict`, in ASCII.

        Names with newlines or unicode come escaped. The entries, all alike,
        are written field by field, their strings escaped by json's own C
        function: twice as fast as the general encoder on many entries.
        """
        from json.encoder import encode_basestring_ascii as text

        head = {k: v for k, v in self.__dict__.items() if k != "entries"}
        entries = ", ".join(
            f'{{"path": {text(e.path)}, "type": {text(e.type)}, "mode": {e.mode}, '
            f'"mtime_ns": {e.mtime_ns}, "size": {e.size}, '
            f'"sha256": {text(e.sha256)}, "target": {text(e.target)}}}'
            for e in self.entries
        )
        encoded = json.dumps(head, ensure_ascii=True)
        return f'{encoded[:-1]}, "entries": [{entries}]}}'.encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        """Parse a manifest, raising :class:`ArchiveError` if it is not one."""
        try:
            raw = json.loads(data)
            if raw.get("format") != FORMAT:
                raise ArchiveError(f"unknown backup format {quoted(raw.get('format'))}")
            entries = [Entry.from_dict(e) for e in raw.pop("entries")]
            return cls(**raw, entries=entries)
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise ArchiveError(f"unreadable backup manifest: {exc}") from exc


# Links.

_MAX_LINK_DEPTH = 40


def link_problems(links: dict[str, str]) -> dict[str, str]:
    """Return, for each link that resolves outside the tree, why.

    ``links`` maps each link's path to its target. A target is followed
    through the other links of ``links`` as the system would, so a chain of
    links that stays inside is fine and one that leaves (or loops) is not.
    """
    problems = {}
    for path, target in links.items():
        try:
            inside = _resolve(links, path.split("/")[:-1], target, 0)
        except RecursionError:
            problems[path] = f"links to {quoted(target)} through a loop of links"
            continue
        if inside is None:
            problems[path] = f"links to {quoted(target)}, outside the target"
    return problems


def _resolve(links: dict[str, str], folder: list[str], target: str, depth: int):
    """Return the parts ``target`` resolves to from ``folder``, None if outside."""
    if depth > _MAX_LINK_DEPTH:
        raise RecursionError(target)
    if target.startswith("/"):
        return None
    stack = list(folder)
    for part in target.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not stack:
                return None
            stack.pop()
            continue
        stack.append(part)
        inner = links.get("/".join(stack))
        if inner is not None:
            resolved = _resolve(links, stack[:-1], inner, depth + 1)
            if resolved is None:
                return None
            stack = resolved
    return stack


# Scanning a tree.


def scan_tree(
    root: Path,
    tops: Iterable[str],
    exclude: Iterable[str] = (),
    *,
    with_checksums: bool = False,
) -> tuple[list[Entry], list[str]]:
    """List the entries under each of ``tops`` (paths relative to ``root``).

    Folders come before their contents; names are sorted. Symbolic links
    are recorded, never followed; a second name of an already listed file
    becomes a hard link. Returns the entries and the paths skipped (sockets,
    pipes and devices, which a backup cannot hold). Checksums are left
    empty unless ``with_checksums``: the archive writer computes them while
    it reads each file for the archive.
    """
    excluded = set(exclude)
    scan = _Scan(str(root), excluded)
    for top in tops:
        if top in excluded or not os.path.lexists(f"{scan.root}/{top}"):
            continue
        scan.add(top)
    if with_checksums:
        hash_entries(root, scan.entries)
    return scan.entries, scan.skipped


class _Scan:
    """The walk of one scan: plain string paths, one ``lstat`` per entry."""

    def __init__(self, root: str, excluded: set[str]) -> None:
        self.root = root
        self.excluded = excluded
        self.entries: list[Entry] = []
        self.skipped: list[str] = []
        self.inodes: dict[tuple[int, int], str] = {}

    def add(self, relpath: str) -> None:
        """Record ``relpath`` and, for a folder, everything below it."""
        path = f"{self.root}/{relpath}"
        info = os.lstat(path)
        kind = info.st_mode
        mode = stat.S_IMODE(kind)
        if stat.S_ISDIR(kind):
            self.entries.append(Entry(relpath, "dir", mode, info.st_mtime_ns))
            with os.scandir(path) as listing:
                names = sorted(entry.name for entry in listing)
            for name in names:
                child = f"{relpath}/{name}"
                if child not in self.excluded:
                    self.add(child)
        elif stat.S_ISLNK(kind):
            target = os.readlink(path)
            self.entries.append(
                Entry(relpath, "symlink", mode, info.st_mtime_ns, 0, "", target)
            )
        elif stat.S_ISREG(kind):
            key = (info.st_dev, info.st_ino)
            if info.st_nlink > 1 and key in self.inodes:
                self.entries.append(
                    Entry(
                        relpath,
                        "hardlink",
                        mode,
                        info.st_mtime_ns,
                        target=self.inodes[key],
                    )
                )
                return
            self.inodes[key] = relpath
            self.entries.append(
                Entry(relpath, "file", mode, info.st_mtime_ns, info.st_size)
            )
        else:
            # Returned to the caller, which tells the user (once).
            log.info("skipping %s: not a file, folder or link", relpath)
            self.skipped.append(relpath)


def hash_entries(root: Path, entries: list[Entry]) -> list[str]:
    """Fill in the sha256 of every file entry, reading the files once.

    Many files are read in two processes, half each. A file that vanished
    since the scan is dropped from ``entries`` (with any hard link to it);
    returns the paths dropped.
    """
    base = str(root)
    files = [e for e in entries if e.type == "file"]
    digests: list[str | None] = []
    for part in parallel.in_two_processes(
        lambda part: [_digest_or_none(f"{base}/{e.path}", e.size) for e in part],
        files,
        minimum=SPLIT_FILES,
    ):
        digests += part
    vanished: list[str] = []
    for entry, digest in zip(files, digests, strict=True):
        if digest is None:
            vanished.append(entry.path)
        else:
            entry.sha256 = digest
    drop_vanished(entries, vanished)
    return vanished


def _digest_or_none(path: str, size: int) -> str | None:
    try:
        return file_sha256(path, size)
    except FileNotFoundError:
        return None


def drop_vanished(entries: list[Entry], vanished: list[str]) -> None:
    """Remove the ``vanished`` files, and hard links to them, from ``entries``."""
    if not vanished:
        return
    gone = set(vanished)
    for path in vanished:
        log.info("skipping %s: it vanished while being backed up", path)
    entries[:] = [
        e
        for e in entries
        if e.path not in gone and not (e.type == "hardlink" and e.target in gone)
    ]


def file_sha256(path: str | os.PathLike, size: int | None = None) -> str:
    """Return the sha256 of the first ``size`` bytes of ``path`` (all if None)."""
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        remaining = size
        while remaining is None or remaining > 0:
            want = CHUNK if remaining is None else min(CHUNK, remaining)
            block = os.read(fd, want)
            if not block:
                break
            digest.update(block)
            if remaining is not None:
                remaining -= len(block)
    finally:
        os.close(fd)
    return digest.hexdigest()


# Writing.


@contextlib.contextmanager
def compressing(out: BinaryIO, compression: str) -> Iterator[BinaryIO]:
    """Yield a writer that compresses into ``out`` (not closing ``out``)."""
    if compression == "none":
        yield out
        return
    if compression == "zstd":
        import zstandard

        # Worker threads compress while this one reads the files; small jobs
        # keep their buffers to a few megabytes.
        params = zstandard.ZstdCompressionParameters.from_level(
            ZSTD_LEVEL, threads=ZSTD_THREADS, job_size=ZSTD_JOB
        )
        compressor = zstandard.ZstdCompressor(compression_params=params)
        writer = compressor.stream_writer(out, closefd=False)
        yield writer
        writer.close()
        return
    if compression == "gzip":
        import gzip

        with gzip.GzipFile(
            fileobj=out, mode="wb", compresslevel=GZIP_LEVEL, mtime=0
        ) as writer:
            yield writer
        return
    raise ArchiveError(f"unknown compression {quoted(compression)}")


def write_archive(
    sink: BinaryIO,
    root: Path,
    manifest: Manifest,
    progress: ProgressFn | None = None,
) -> None:
    """Write ``manifest`` then every entry it lists, read from ``root``.

    Every file entry must already hold its checksum (see :func:`hash_entries`).

    Raises:
        ArchiveError: a file changed between the checksum pass and now.
    """
    head = manifest_member(manifest)
    sink.write(head)
    body = write_members(sink, root, manifest.entries, progress)
    sink.write(archive_end(len(head) + body))


def write_spooled(
    path: Path,
    root: Path,
    manifest: Manifest,
    compression: str,
    progress: ProgressFn | None = None,
    vanished: list[str] | None = None,
) -> None:
    """Write the archive of ``manifest`` to ``path``, reading each file once.

    The members go first to hidden spool files beside ``path``, compressed,
    while their checksums are computed; the manifest, complete by then, is
    written to ``path`` as a compressed stream of its own, the spools are
    appended, then the end of the archive. Compressed streams put end to
    end read as one (zstd frames, gzip members), so ``path`` is one ordinary
    archive with its manifest first. A large tree is spooled in two
    processes, each reading, checking and compressing half the members.
    Nothing written here is decrypted data of an encrypted backup:
    encrypted backups take :func:`write_archive`, which spools nothing.
    A file that vanished since the scan is left out (manifest included)
    and its path appended to ``vanished``.
    """
    vanished = [] if vanished is None else vanished
    entries = manifest.entries
    spools: list[str] = []
    try:
        for _ in range(2):
            fd, name = tempfile.mkstemp(
                prefix=f".{path.name}.", suffix=".members", dir=path.parent
            )
            os.close(fd)
            spools.append(name)
        parts = _spool_parts(entries, spools, root, compression, progress)
        size = _collect_parts(entries, parts, vanished, root, compression)
        drop_vanished(entries, vanished)
        head = manifest_member(manifest)
        with open(path, "wb") as out:
            with compressing(out, compression) as first:
                first.write(head)
            out.flush()
            for part in parts:
                with open(part[2], "rb") as spool:
                    _append_file(spool.fileno(), out.fileno())
            with compressing(out, compression) as last:
                last.write(archive_end(len(head) + size))
    finally:
        for name in spools:
            with contextlib.suppress(OSError):
                os.unlink(name)


# One spooled part: where its members start and end in the entries, its
# spool, the bytes written, the files that vanished, each file's checksum.
_Part = tuple[int, int, str, int, list[str], list[str]]


def _spool_parts(
    entries: list[Entry],
    spools: list[str],
    root: Path,
    compression: str,
    progress: ProgressFn | None,
) -> list[_Part]:
    """Write the members into the spools: two halves in two processes, or one.

    A progress display runs a thread of its own, so with one the work stays
    in this process (see :func:`parallel.in_two_processes`).
    """
    files = sum(1 for e in entries if e.type == "file")
    cut = _halfway(entries) if files >= SPLIT_FILES and progress is None else 0
    jobs = [(0, cut, spools[0]), (cut, len(entries), spools[1])]
    if cut == 0:
        return [_spool_part(entries, jobs[1], root, compression, progress)]
    return parallel.in_two_processes(
        lambda part: _spool_part(entries, part[0], root, compression, None),
        jobs,
        minimum=2,
    )


def _halfway(entries: list[Entry]) -> int:
    """Return where to cut the members in two halves of about equal work."""
    cost = [e.size + 16384 for e in entries]
    half, total = sum(cost) / 2, 0
    for index, item in enumerate(cost):
        total += item
        if total >= half:
            return index + 1
    return len(entries)


def _spool_part(
    entries: list[Entry],
    job: tuple[int, int, str],
    root: Path,
    compression: str,
    progress: ProgressFn | None,
    gone: set[str] | None = None,
) -> _Part:
    start, stop, spool = job
    part = entries[start:stop]
    lost: list[str] = []
    with open(spool, "wb") as out, compressing(out, compression) as body:
        size = write_members(body, root, part, progress, lost, gone)
    checksums = [e.sha256 for e in part if e.type == "file"]
    return start, stop, spool, size, lost, checksums


def _collect_parts(
    entries: list[Entry],
    parts: list[_Part],
    vanished: list[str],
    root: Path,
    compression: str,
) -> int:
    """Take in the checksums the parts computed; return the bytes they wrote.

    A hard link in the second half to a file that vanished in the first is
    caught here: that half is written again without it.
    """
    gone: set[str] = set()
    size = 0
    for index, (start, stop, spool, written, lost, checksums) in enumerate(parts):
        if index and any(
            e.type == "hardlink" and e.target in gone for e in entries[start:stop]
        ):
            job = (start, stop, spool)
            written = _spool_part(entries, job, root, compression, None, gone)[3]
        files = [e for e in entries[start:stop] if e.type == "file"]
        for entry, checksum in zip(files, checksums, strict=True):
            entry.sha256 = checksum
        vanished += lost
        gone.update(lost)
        size += written
    return size


def _append_file(source: int, target: int) -> None:
    """Copy all of ``source`` to the end of ``target`` inside the kernel."""
    offset = 0
    size = os.fstat(source).st_size
    try:
        while offset < size:
            sent = os.sendfile(target, source, offset, size - offset)
            if sent == 0:
                break
            offset += sent
    except OSError:
        # A file system without sendfile: copy the rest through memory.
        while offset < size:
            block = os.pread(source, min(CHUNK, size - offset), offset)
            if not block:
                break
            os.write(target, block)
            offset += len(block)
    if offset != size:
        raise ArchiveError("the archive could not be completed; run the backup again")


def manifest_member(manifest: Manifest) -> bytes:
    """Return the tar member holding ``manifest``: header, data, padding."""
    data = manifest.to_bytes()
    mtime = _created_seconds(manifest)
    header = tar_header(MANIFEST_NAME, "file", 0o600, len(data), mtime)
    return header + data + bytes(-len(data) % BLOCK)


def archive_end(written: int) -> bytes:
    """Return the end-of-archive blocks for an archive of ``written`` bytes.

    Two zero blocks, padded to a whole tar record as tar itself does.
    """
    total = written + 2 * BLOCK
    return bytes(2 * BLOCK + (-total % RECORD))


def write_members(
    sink: BinaryIO,
    root: Path,
    entries: list[Entry],
    progress: ProgressFn | None = None,
    vanished: list[str] | None = None,
    gone: set[str] | None = None,
) -> int:
    """Write the tar members of ``entries``; return the bytes written.

    A file's checksum is computed from the bytes written: an entry without
    one gets it, an entry with one must match it. With ``vanished`` (when
    the manifest is written afterwards), a file gone since the scan, and
    hard links to it, are left out and listed there; without, it fails.
    Hard links to the files in ``gone`` (gone from an earlier part of the
    same archive) are left out too.

    Raises:
        ArchiveError: a file changed while it was being backed up.
    """
    base = str(root)
    out = _Output(sink)
    total = len(entries)
    gone = set(gone or ())
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    for done, entry in enumerate(entries, start=1):
        kind = entry.type
        if kind == "file":
            try:
                fd = os.open(f"{base}/{entry.path}", flags)
            except FileNotFoundError:
                if vanished is None:
                    raise _vanished(entry.path) from None
                vanished.append(entry.path)
                gone.add(entry.path)
                continue
            except OSError as exc:
                raise _changed(entry.path) from exc
            out.add(
                tar_header(
                    entry.path, kind, entry.mode, entry.size, entry.mtime_ns // _NS
                )
            )
            _add_file(out, fd, entry)
        elif kind != "hardlink" or entry.target not in gone:
            out.add(
                tar_header(
                    entry.path, kind, entry.mode, 0, entry.mtime_ns // _NS, entry.target
                )
            )
        if progress is not None:
            progress(done, total)
    out.flush()
    return out.written


_NS = 1_000_000_000


class _Output:
    """The members on their way out: one buffer, files read straight into it.

    Reading each file into the buffer (rather than into a bytes object of
    its own, then copying) saves a copy of all the data of a backup.
    """

    def __init__(self, sink: BinaryIO) -> None:
        self.sink = sink
        self.buffer = bytearray(2 * CHUNK)
        self.view = memoryview(self.buffer)
        self.pos = 0
        self.written = 0

    def add(self, data: bytes) -> None:
        """Append ``data`` (headers, padding)."""
        size = len(data)
        if self.pos + size > len(self.buffer):
            self.flush()
            if size > len(self.buffer):
                self.sink.write(data)
                self.written += size
                return
        self.buffer[self.pos : self.pos + size] = data
        self.pos += size
        self.written += size

    def read_from(self, fd: int, size: int, digest: hashlib._Hash) -> bool:
        """Append ``size`` bytes read from ``fd``; False if it has fewer."""
        left = size
        while left > 0:
            if self.pos == len(self.buffer):
                self.flush()
            piece = self.view[
                self.pos : self.pos + min(left, len(self.buffer) - self.pos)
            ]
            count = os.readv(fd, [piece])
            if count == 0:
                return False
            digest.update(piece[:count])
            self.pos += count
            self.written += count
            left -= count
        return True

    def flush(self) -> None:
        """Hand what the buffer holds to the sink."""
        if self.pos:
            self.sink.write(self.view[: self.pos])
            self.pos = 0


def _add_file(out: _Output, fd: int, entry: Entry) -> None:
    # Not yet: sparse files are stored whole (their holes as zeros); store
    # holes once the format has sparse members. Restores punch the holes
    # back, so the files round-trip byte for byte and stay sparse.
    digest = hashlib.sha256()
    try:
        if not out.read_from(fd, entry.size, digest):
            raise _changed(entry.path)
    finally:
        os.close(fd)
    out.add(_ZERO_PADDING[: -entry.size % BLOCK])
    checksum = digest.hexdigest()
    if entry.sha256 and checksum != entry.sha256:
        raise _changed(entry.path)
    entry.sha256 = checksum


_ZERO_PADDING = bytes(BLOCK)


def _created_seconds(manifest: Manifest) -> int:
    from datetime import datetime

    try:
        return int(datetime.fromisoformat(manifest.created).timestamp())
    except ValueError:
        return 0


_TYPEFLAGS = {"file": b"0", "hardlink": b"1", "symlink": b"2", "dir": b"5"}
_LIMIT = 8**11


def tar_header(
    path: str, kind: str, mode: int, size: int, mtime: int, target: str = ""
) -> bytes:
    """Return the tar header of one member (ustar, or PAX where needed)."""
    header = _ustar_header(path, kind, mode, size, mtime, target)
    if header is not None:
        return header
    import tarfile

    info = tarfile.TarInfo(path)
    info.mode, info.mtime, info.size = mode, mtime, size
    info.type = _TYPEFLAGS[kind]
    info.linkname = target
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


# The ustar header after the link name: magic, version, empty owner and
# group names, device numbers 0, no name prefix.
_USTAR_TAIL = b"ustar\x0000" + bytes(64) + b"0000000\x00" * 2 + bytes(167)
# The sum of the bytes that never change: the tail, and the checksum field
# itself, counted as eight spaces.
_USTAR_FIXED_SUM = sum(_USTAR_TAIL) + 8 * 0x20
_USTAR_FIELDS = b"%07o\x000000000\x000000000\x00%011o\x00%011o\x00"


def _ustar_header(
    path: str, kind: str, mode: int, size: int, mtime: int, target: str
) -> bytes | None:
    """Return a plain ustar header for simple members, None for the others.

    tarfile builds each header through its general PAX path, the slowest
    step of a backup of many small files; short ASCII names need none of it.
    """
    name = path + "/" if kind == "dir" else path
    if not (name.isascii() and target.isascii()):
        return None
    raw_name, raw_link = name.encode(), target.encode()
    if len(raw_name) > 100 or len(raw_link) > 100:
        return None
    if size >= _LIMIT or not 0 <= mtime < _LIMIT:
        return None
    fields = _USTAR_FIELDS % (mode, size, mtime)
    flag = _TYPEFLAGS[kind]
    checksum = _USTAR_FIXED_SUM + sum(raw_name) + sum(fields) + flag[0] + sum(raw_link)
    return b"".join(
        (
            raw_name.ljust(100, b"\0"),
            fields,
            b"%06o\0 " % checksum,
            flag,
            raw_link.ljust(100, b"\0"),
            _USTAR_TAIL,
        )
    )


def _vanished(path: str) -> ArchiveError:
    return ArchiveError(
        f"{path} vanished while it was being backed up; run the backup again"
    )


def _changed(path: str) -> ArchiveError:
    return ArchiveError(
        f"{path} changed while it was being backed up; run the backup again"
    )


# Reading.


class _Prefixed(io.RawIOBase):
    """A stream that first returns bytes already read from it, then the rest."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._head:
            count = min(len(buffer), len(self._head))
            buffer[:count] = self._head[:count]
            self._head = self._head[count:]
            return count
        block = self._rest.read(len(buffer))
        buffer[: len(block)] = block
        return len(block)


def _read_head(stream: BinaryIO, size: int = 64) -> bytes:
    head = b""
    while len(head) < size:
        block = stream.read(size - len(head))
        if not block:
            break
        head += block
    return head


def sniff(head: bytes) -> str:
    """Name the outer layer of a backup from its first bytes."""
    if head.startswith(_AGE_MAGICS):
        return "age"
    if head.startswith(_ZSTD_MAGIC):
        return "zstd"
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    return "none"


@contextlib.contextmanager
def plain_stream(raw: BinaryIO, keys: object = None) -> Iterator[BinaryIO]:
    """Yield the tar bytes of a backup file: decrypted, then decompressed.

    ``keys`` are :class:`~workspace_tasks.crypto.DecryptionKeys` (or a
    function returning them, called only for an encrypted backup);
    decrypted bytes never touch the disk.
    """
    with contextlib.ExitStack() as stack:
        head = _read_head(raw)
        stream: BinaryIO = io.BufferedReader(_Prefixed(head, raw), CHUNK)
        if sniff(head) == "age":
            from workspace_tasks import crypto

            keys = keys() if callable(keys) else keys
            if keys is None:
                raise ArchiveError("this backup is encrypted and no key was given")
            stream = stack.enter_context(crypto.decrypting(stream, keys))
            head = _read_head(stream)
            stream = io.BufferedReader(_Prefixed(head, stream), CHUNK)
        kind = sniff(head)
        if kind == "zstd":
            import zstandard

            decompressor = zstandard.ZstdDecompressor()
            stream = decompressor.stream_reader(stream, read_across_frames=True)
        elif kind == "gzip":
            import gzip

            stream = stack.enter_context(gzip.GzipFile(fileobj=stream, mode="rb"))
        if kind != "none":
            # Decompression releases the interpreter lock: done on a thread
            # of its own, it overlaps the reading of the members.
            stream = _Decompressed(stack.enter_context(_ReadAhead(stream)), kind)
        yield stream


class _Decompressed:
    """The decompressed bytes of a backup; any failure is an ArchiveError.

    zstandard, zlib and gzip each raise errors of their own for damaged or
    cut-short data: here they all become one error saying so. A stream
    that gives nothing at all was cut short before its first member.
    """

    def __init__(self, stream: _ReadAhead, kind: str) -> None:
        self._stream = stream
        self._kind = kind
        self._started = False

    def read(self, size: int = -1) -> bytes:
        """Return the next chunk, b"" at the end (see :meth:`_ReadAhead.read`)."""
        try:
            block = self._stream.read(size)
        except WorkspaceError:
            raise
        except Exception as exc:  # each decompressor has its own error types
            raise ArchiveError(
                f"the archive is truncated or corrupt ({self._kind}: {exc})"
            ) from None
        if not block and not self._started:
            raise ArchiveError(
                f"the archive is truncated or corrupt: its {self._kind} data "
                "ends before the first member"
            )
        self._started = True
        return block


class _ReadAhead:
    """Read a stream on a thread of its own, a few chunks ahead of the reader.

    At most ``depth`` chunks wait in memory. An error of the stream is
    raised in the reader's thread, where it would have happened.
    """

    def __init__(self, stream: BinaryIO, depth: int = 4) -> None:
        import queue
        import threading

        self._stream = stream
        self._chunks: queue.Queue[bytes | BaseException] = queue.Queue(depth)
        self._stopped = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stopped.is_set():
                block = self._stream.read(CHUNK)
                self._chunks.put(block)
                if not block:
                    return
        except BaseException as exc:  # handed to the reader's thread
            self._chunks.put(exc)

    def read(self, size: int = -1) -> bytes:
        """Return the next chunk (of any length), b"" at the end."""
        if self._done:
            return b""
        block = self._chunks.get()
        if isinstance(block, BaseException):
            self._done = True
            raise block
        if not block:
            self._done = True
        return block

    def __enter__(self) -> _ReadAhead:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopped.set()
        while self._thread.is_alive():
            with contextlib.suppress(Exception):
                self._chunks.get(timeout=0.05)
        self._thread.join()


@contextlib.contextmanager
def open_tar(raw: BinaryIO, keys: object = None) -> Iterator[TarReader]:
    """Open a backup file for one sequential pass over its members."""
    with plain_stream(raw, keys) as stream:
        yield TarReader(stream)


def read_manifest_member(tar: TarReader) -> tuple[Manifest | None, object]:
    """Read the first member; return the manifest (or None) and that member.

    A foreign tar has no manifest: its first member is returned so the
    caller can treat it as an ordinary entry.
    """
    try:
        first = tar.next()
        if first is None or first.name != MANIFEST_NAME or first.kind != "file":
            return None, first
        data = tar.read(first)
    except (TarError, EOFError, OSError) as exc:
        raise ArchiveError(f"not a readable backup archive: {exc}") from exc
    return Manifest.from_bytes(data), None


def members(tar: TarReader, pending: object = None) -> Iterator[TarMember]:
    """Yield the remaining members, starting with ``pending`` if given."""
    if pending is not None:
        yield pending  # type: ignore[misc]
    while True:
        try:
            member = tar.next()
        except (TarError, EOFError, OSError) as exc:
            raise ArchiveError(f"the archive is damaged: {exc}") from exc
        if member is None:
            return
        yield member


def copy_member(
    tar: TarReader, name: str, size: int, fd: int | None, offset: int | None = None
) -> str:
    """Copy a regular member's data to ``fd`` (None: only read); return sha256.

    The data is the current member's, or that at ``offset`` of the stream
    (forward only). Runs of zeros are skipped with a seek when writing, so
    a sparse file comes back sparse.
    """
    try:
        if offset is not None:
            tar.seek(offset)
        return tar.copy(size, name, fd)
    except (TarError, EOFError, OSError) as exc:
        raise ArchiveError(f"{name}: the archive is damaged: {exc}") from exc


def read_member(tar: TarReader, name: str, size: int, offset: int) -> bytes:
    """Return the data of the regular member whose data is at ``offset``."""
    try:
        return tar.read_at(offset, size, name)
    except (TarError, EOFError, OSError) as exc:
        raise ArchiveError(f"{name}: the archive is damaged: {exc}") from exc
