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
import tarfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from workspace_tasks.errors import WorkspaceError

log = logging.getLogger(__name__)

MANIFEST_NAME = "backup-manifest.json"
FORMAT = "workspace-backup/1"
COMPRESSIONS = ("none", "zstd", "gzip")
SUFFIXES = {"none": ".tar", "zstd": ".tar.zst", "gzip": ".tar.gz"}
ENCRYPTED_SUFFIX = ".age"
CHUNK = 1 << 20
ZSTD_LEVEL = 3
GZIP_LEVEL = 6
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_GZIP_MAGIC = b"\x1f\x8b"
_AGE_MAGICS = (b"age-encryption.org/", b"-----BEGIN AGE ENCRYPTED FILE-----")

ProgressFn = Callable[[int, int], None]


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
            raise ArchiveError(f"malformed manifest entry {data!r}") from exc


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
        # Compact and ASCII-only: names with newlines or unicode are escaped.
        return json.dumps(self.to_dict(), ensure_ascii=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        """Parse a manifest, raising :class:`ArchiveError` if it is not one."""
        try:
            raw = json.loads(data)
            if raw.get("format") != FORMAT:
                raise ArchiveError(f"unknown backup format {raw.get('format')!r}")
            entries = [Entry.from_dict(e) for e in raw.pop("entries")]
            return cls(**raw, entries=entries)
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise ArchiveError(f"unreadable backup manifest: {exc}") from exc


# Scanning a tree.


def scan_tree(
    root: Path,
    tops: Iterable[str],
    exclude: Iterable[str] = (),
    *,
    with_checksums: bool = True,
) -> tuple[list[Entry], list[str]]:
    """List the entries under each of ``tops`` (paths relative to ``root``).

    Folders come before their contents; names are sorted. Symbolic links
    are recorded, never followed; a second name of an already listed file
    becomes a hard link. Returns the entries and the paths skipped (sockets,
    pipes and devices, which a backup cannot hold).
    """
    excluded = set(exclude)
    entries: list[Entry] = []
    skipped: list[str] = []
    inodes: dict[tuple[int, int], str] = {}
    for top in tops:
        if top in excluded or not os.path.lexists(root / top):
            continue
        _scan_path(root, top, excluded, entries, skipped, inodes, with_checksums)
    return entries, skipped


def _scan_path(
    root: Path,
    relpath: str,
    excluded: set[str],
    entries: list[Entry],
    skipped: list[str],
    inodes: dict[tuple[int, int], str],
    with_checksums: bool,
) -> None:
    info = os.lstat(root / relpath)
    mode = stat.S_IMODE(info.st_mode)
    if stat.S_ISDIR(info.st_mode):
        entries.append(Entry(relpath, "dir", mode, info.st_mtime_ns))
        with os.scandir(root / relpath) as listing:
            names = sorted(entry.name for entry in listing)
        for name in names:
            child = f"{relpath}/{name}"
            if child not in excluded:
                _scan_path(
                    root, child, excluded, entries, skipped, inodes, with_checksums
                )
    elif stat.S_ISLNK(info.st_mode):
        target = os.readlink(root / relpath)
        entries.append(Entry(relpath, "symlink", mode, info.st_mtime_ns, 0, "", target))
    elif stat.S_ISREG(info.st_mode):
        key = (info.st_dev, info.st_ino)
        if info.st_nlink > 1 and key in inodes:
            entries.append(
                Entry(relpath, "hardlink", mode, info.st_mtime_ns, target=inodes[key])
            )
            return
        inodes[key] = relpath
        digest = file_sha256(root / relpath, info.st_size) if with_checksums else ""
        entries.append(
            Entry(relpath, "file", mode, info.st_mtime_ns, info.st_size, digest)
        )
    else:
        log.warning("skipping %s: not a file, folder or link", relpath)
        skipped.append(relpath)


def file_sha256(path: Path, size: int | None = None) -> str:
    """Return the sha256 of the first ``size`` bytes of ``path`` (all if None)."""
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as handle:
        remaining = size
        while remaining is None or remaining > 0:
            want = CHUNK if remaining is None else min(CHUNK, remaining)
            block = handle.read(want)
            if not block:
                break
            digest.update(block)
            if remaining is not None:
                remaining -= len(block)
    return digest.hexdigest()


# Writing.


class _HashingReader(io.RawIOBase):
    """Read a file, hashing what is read, so the write pass checks the data."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        block = self._handle.read(size)
        self.digest.update(block)
        return block

    def readinto(self, buffer) -> int:
        block = self.read(len(buffer))
        buffer[: len(block)] = block
        return len(block)


@contextlib.contextmanager
def compressing(out: BinaryIO, compression: str) -> Iterator[BinaryIO]:
    """Yield a writer that compresses into ``out`` (not closing ``out``)."""
    if compression == "none":
        yield out
        return
    if compression == "zstd":
        import zstandard

        # Several threads keep compression from being the slow step.
        compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=-1)
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
    raise ArchiveError(f"unknown compression {compression!r}")


def write_archive(
    sink: BinaryIO,
    root: Path,
    manifest: Manifest,
    progress: ProgressFn | None = None,
) -> None:
    """Write ``manifest`` then every entry it lists, read from ``root``.

    Raises:
        ArchiveError: a file changed between the checksum pass and now.
    """
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        data = manifest.to_bytes()
        info = tarfile.TarInfo(MANIFEST_NAME)
        info.size, info.mode = len(data), 0o600
        info.mtime = _created_seconds(manifest)
        tar.addfile(info, io.BytesIO(data))
        total = len(manifest.entries)
        for done, entry in enumerate(manifest.entries, start=1):
            _add_entry(tar, root, entry)
            if progress is not None:
                progress(done, total)


def _created_seconds(manifest: Manifest) -> int:
    from datetime import datetime

    try:
        return int(datetime.fromisoformat(manifest.created).timestamp())
    except ValueError:
        return 0


_TYPEFLAGS = {"file": b"0", "hardlink": b"1", "symlink": b"2", "dir": b"5"}
_LIMIT = 8**11


def _ustar_header(entry: Entry, mtime: int) -> bytes | None:
    """Return a plain ustar header for simple entries, None for the others.

    tarfile builds each header through its general PAX path, the slowest
    step of a backup of many small files; short ASCII names need none of it.
    """
    name = entry.path + ("/" if entry.type == "dir" else "")
    if not (name.isascii() and entry.target.isascii()):
        return None
    raw_name, raw_link = name.encode(), entry.target.encode()
    if len(raw_name) > 100 or len(raw_link) > 100:
        return None
    if entry.size >= _LIMIT or not 0 <= mtime < _LIMIT:
        return None
    header = b"".join(
        (
            raw_name.ljust(100, b"\0"),
            b"%07o\0%07o\0%07o\0" % (entry.mode, 0, 0),
            b"%011o\0%011o\0" % (entry.size if entry.type == "file" else 0, mtime),
            b" " * 8,
            _TYPEFLAGS[entry.type],
            raw_link.ljust(100, b"\0"),
            b"ustar\x0000",
            b"\0" * 64,
            b"%07o\0%07o\0" % (0, 0),
        )
    ).ljust(tarfile.BLOCKSIZE, b"\0")
    checksum = b"%06o\0 " % sum(header)
    return header[:148] + checksum + header[156:]


def _add_entry(tar: tarfile.TarFile, root: Path, entry: Entry) -> None:
    # Not yet: sparse files are stored whole (their holes as zeros); store
    # holes once tarfile writes GNU or PAX sparse members. Restores punch
    # the holes back, so the files round-trip byte for byte and stay sparse.
    mtime = entry.mtime_ns // 1_000_000_000
    header = _ustar_header(entry, mtime)
    if header is None:
        _add_entry_slowly(tar, root, entry, mtime)
        return
    out = tar.fileobj
    out.write(header)
    tar.offset += tarfile.BLOCKSIZE
    if entry.type != "file":
        return
    digest = hashlib.sha256()
    fd = os.open(root / entry.path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb", buffering=0) as handle:
        left = entry.size
        while left > 0:
            block = handle.read(min(CHUNK, left))
            if not block:
                raise _changed(entry.path)
            digest.update(block)
            out.write(block)
            left -= len(block)
    padding = -entry.size % tarfile.BLOCKSIZE
    out.write(b"\0" * padding)
    tar.offset += entry.size + padding
    if digest.hexdigest() != entry.sha256:
        raise _changed(entry.path)


def _add_entry_slowly(
    tar: tarfile.TarFile, root: Path, entry: Entry, mtime: int
) -> None:
    info = tarfile.TarInfo(entry.path)
    info.mode = entry.mode
    info.mtime = mtime
    if entry.type == "dir":
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    elif entry.type == "symlink":
        info.type, info.linkname = tarfile.SYMTYPE, entry.target
        tar.addfile(info)
    elif entry.type == "hardlink":
        info.type, info.linkname = tarfile.LNKTYPE, entry.target
        tar.addfile(info)
    else:
        info.size = entry.size
        fd = os.open(root / entry.path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as handle:
            reader = _HashingReader(handle)
            try:
                tar.addfile(info, reader)
            except OSError as exc:
                raise _changed(entry.path) from exc
        if reader.digest.hexdigest() != entry.sha256:
            raise _changed(entry.path)


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
        yield stream


@contextlib.contextmanager
def open_tar(raw: BinaryIO, keys: object = None) -> Iterator[tarfile.TarFile]:
    """Open a backup file for one sequential pass over its members."""
    with plain_stream(raw, keys) as stream:
        try:
            tar = tarfile.open(fileobj=stream, mode="r|", bufsize=CHUNK)  # noqa: SIM115
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise ArchiveError(f"not a readable backup archive: {exc}") from exc
        with tar:
            yield tar


def read_manifest_member(tar: tarfile.TarFile) -> tuple[Manifest | None, object]:
    """Read the first member; return the manifest (or None) and that member.

    A foreign tar has no manifest: its first member is returned so the
    caller can treat it as an ordinary entry.
    """
    try:
        first = tar.next()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ArchiveError(f"not a readable backup archive: {exc}") from exc
    if first is None or first.name != MANIFEST_NAME or not first.isfile():
        return None, first
    handle = tar.extractfile(first)
    assert handle is not None
    return Manifest.from_bytes(handle.read()), None


def members(tar: tarfile.TarFile, pending: object = None) -> Iterator[tarfile.TarInfo]:
    """Yield the remaining members, starting with ``pending`` if given."""
    if pending is not None:
        yield pending  # type: ignore[misc]
    while True:
        try:
            member = tar.next()
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise ArchiveError(f"the archive is damaged: {exc}") from exc
        if member is None:
            return
        yield member


def copy_member(
    tar: tarfile.TarFile, member: tarfile.TarInfo, out: BinaryIO | None
) -> str:
    """Copy a regular member's data to ``out`` (None: only read); return sha256.

    Runs of zeros are skipped with a seek when writing, so a sparse file
    comes back sparse; the caller truncates ``out`` to the member's size.
    """
    digest = hashlib.sha256()
    handle = tar.extractfile(member)
    if handle is None:
        return digest.hexdigest()
    zeros = bytes(CHUNK)
    try:
        while True:
            block = handle.read(CHUNK)
            if not block:
                break
            digest.update(block)
            if out is None:
                continue
            if block == zeros[: len(block)]:
                out.seek(len(block), os.SEEK_CUR)
            else:
                out.write(block)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ArchiveError(f"{member.name}: the archive is damaged: {exc}") from exc
    return digest.hexdigest()
