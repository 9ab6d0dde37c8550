"""Read the members of a tar stream in one forward pass, quickly.

A restore reads every header of an archive twice (once to check, once to
stage), and ``tarfile`` spends most of a restore's time there. This reader
parses the headers our backups and common tars use: ustar, GNU and v7
headers, PAX extended headers (local and global) and GNU long names and
links. Sparse members, which a backup never holds, are refused by name.
Member data is handed out as views of the read buffer, never copied.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from workspace_tasks.errors import WorkspaceError
from workspace_tasks.text import quoted

BLOCK = 512
CHUNK = 1 << 20
_ZERO_BLOCK = bytes(BLOCK)
_HOLE = 4096
_ZEROS = bytes(CHUNK)
_KINDS = {
    b"0": "file",
    b"\0": "file",
    b"7": "file",
    b"1": "hardlink",
    b"2": "symlink",
    b"5": "dir",
    b"3": "special",
    b"4": "special",
    b"6": "special",
}
_SPECIAL_KINDS = {
    b"x": "pax",
    b"g": "pax-global",
    b"L": "longname",
    b"K": "longlink",
    b"S": "sparse",
}
# Members that stand for themselves (not headers of the next member).
_PLAIN = frozenset(("file", "dir", "symlink", "hardlink", "special", "other"))
# Types whose size field counts no data in the stream (as tar reads them).
_NO_DATA = frozenset(("hardlink", "symlink", "dir", "special"))


class TarError(WorkspaceError):
    """A tar stream that cannot be read: damaged, cut short, or not a tar."""


@dataclass(slots=True)
class TarMember:
    """One member's header: its name, kind, mode, mtime, size and link.

    ``kind`` is ``file``, ``dir``, ``symlink``, ``hardlink``, ``special``
    (devices and pipes) or ``other`` (a type this reader does not know).
    ``offset`` is where its data starts in the stream.
    """

    name: str
    kind: str
    mode: int
    mtime: float
    size: int
    linkname: str
    offset: int = 0


def _text(field: bytes) -> str:
    end = field.find(b"\0")
    return (field if end < 0 else field[:end]).decode("utf-8", "surrogateescape")


def _number(field: bytes) -> int:
    """Decode a numeric header field: octal text, or GNU base-256."""
    if field[0] in (0x80, 0xFF):
        value = int.from_bytes(field[1:], "big")
        return value - 256 ** (len(field) - 1) if field[0] == 0xFF else value
    text = field.split(b"\0", 1)[0].strip()
    return int(text, 8) if text else 0


def _byte_sum(block: bytes) -> int:
    """Return the sum of the bytes of a 512-byte block, in C.

    Adler-32's low half is one plus the byte sum modulo 65521, and the sum
    of 256 bytes is at most 65280: each half's sum comes back exact.
    """
    low = zlib.adler32(block[:256]) & 0xFFFF
    high = zlib.adler32(block[256:]) & 0xFFFF
    return low + high - 2


def _checksum_ok(block: bytes) -> bool:
    stored = _number(block[148:156])
    unsigned = _byte_sum(block) - sum(block[148:156]) + 8 * 0x20
    if stored == unsigned:
        return True
    # Some old tars summed signed bytes.
    high = sum(1 for byte in block[:148] + block[156:] if byte > 127)
    return stored == unsigned - 256 * high


def _sparse(name: str) -> TarError:
    return TarError(
        f"member {quoted(name)} is a sparse member, which cannot be restored"
    )


def _pax_records(data: bytes) -> dict[str, str]:
    """Parse ``"<length> <key>=<value>\\n"`` records."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data) and data[pos] != 0:
        space = data.find(b" ", pos)
        if space < 0:
            raise TarError("a PAX header is malformed")
        try:
            length = int(data[pos:space])
        except ValueError:
            raise TarError("a PAX header is malformed") from None
        record = data[space + 1 : pos + length]
        if length <= 0 or not record.endswith(b"\n") or b"=" not in record:
            raise TarError("a PAX header is malformed")
        key, value = record[:-1].split(b"=", 1)
        records[key.decode("utf-8", "surrogateescape")] = value.decode(
            "utf-8", "surrogateescape"
        )
        pos += length
    return records


class TarReader:
    """Yield the members of a tar stream; read or skip each one's data."""

    def __init__(self, stream) -> None:
        self._stream = stream
        self._buf = b""
        self._pos = 0
        self._unread = 0
        self._offset = 0
        self._globals: dict[str, str] = {}

    # Buffer handling.

    def _fill(self, need: int) -> bool:
        """Make ``need`` bytes available from the buffer; False at the end."""
        have = len(self._buf) - self._pos
        if have >= need:
            return True
        # Joining one part takes it as it is: no copy of a whole chunk.
        parts = [self._buf[self._pos :]] if have else []
        while have < need:
            block = self._stream.read(max(CHUNK, need - have))
            if not block:
                break
            parts.append(block)
            have += len(block)
        self._buf = b"".join(parts)
        self._pos = 0
        return have >= need

    def _take(self, size: int) -> bytes:
        if not self._fill(size):
            raise TarError("the archive ends in the middle of a member")
        data = self._buf[self._pos : self._pos + size]
        self._pos += size
        self._offset += size
        return data

    def _skip(self, size: int) -> None:
        while size > 0:
            if self._pos >= len(self._buf) and not self._fill(1):
                raise TarError("the archive ends in the middle of a member")
            step = min(size, len(self._buf) - self._pos)
            self._pos += step
            self._offset += step
            size -= step

    # Members.

    def __iter__(self) -> Iterator[TarMember]:
        while True:
            member = self.next()
            if member is None:
                return
            yield member

    def next(self) -> TarMember | None:
        """Return the next member, None at the end of the archive."""
        if self._unread:
            self._skip(self._unread)
            self._unread = 0
        local: dict[str, str] = {}
        while True:
            start = self._offset
            if len(self._buf) - self._pos < BLOCK and not self._fill(BLOCK):
                if len(self._buf) - self._pos:
                    raise TarError("the archive ends in the middle of a header")
                if start == 0:
                    raise TarError("the archive is empty")
                return None
            pos = self._pos
            block = self._buf[pos : pos + BLOCK]
            self._pos = pos + BLOCK
            self._offset = start + BLOCK
            if block == _ZERO_BLOCK:
                if start == 0:
                    raise TarError("the archive is empty")
                return None
            member = self._parse(block, start)
            kind = member.kind
            if kind in _PLAIN:
                if local or self._globals:
                    self._apply_pax(member, {**self._globals, **local})
                if kind in _NO_DATA:
                    member.size = 0
                member.offset = self._offset
                self._unread = member.size + (-member.size % BLOCK)
                return member
            if kind == "pax":
                local.update(_pax_records(self._take_data(member.size)))
            elif kind == "pax-global":
                self._globals.update(_pax_records(self._take_data(member.size)))
            elif kind == "longname":
                local["path"] = _text(self._take_data(member.size))
            elif kind == "longlink":
                local["linkpath"] = _text(self._take_data(member.size))
            else:
                raise _sparse(member.name)

    def _parse(self, block: bytes, start: int) -> TarMember:
        try:
            if not _checksum_ok(block):
                raise ValueError
            mode = _number(block[100:108])
            size = _number(block[124:136])
            mtime = _number(block[136:148])
        except (ValueError, IndexError):
            where = "not a tar archive" if start == 0 else "a header is damaged"
            raise TarError(f"{where} (at byte {start})") from None
        name = _text(block[0:100])
        if block[257:263] == b"ustar\x00" and block[345] != 0:
            name = _text(block[345:500]) + "/" + name
        flag = block[156:157]
        kind = _KINDS.get(flag) or _SPECIAL_KINDS.get(flag, "other")
        if flag == b"\0" and name.endswith("/"):
            kind = "dir"
        return TarMember(name, kind, mode, mtime, size, _text(block[157:257]))

    def _take_data(self, size: int) -> bytes:
        data = self._take(size)
        self._skip(-size % BLOCK)
        return data

    def _apply_pax(self, member: TarMember, pax: dict[str, str]) -> None:
        if any(key.startswith("GNU.sparse.") for key in pax):
            raise _sparse(member.name)
        try:
            if "path" in pax:
                member.name = pax["path"]
            if "linkpath" in pax:
                member.linkname = pax["linkpath"]
            if "size" in pax:
                member.size = int(pax["size"])
            if "mtime" in pax:
                member.mtime = float(pax["mtime"])
        except ValueError:
            raise TarError(
                f"member {quoted(member.name)} has a malformed PAX header"
            ) from None

    # Data.

    def seek(self, offset: int) -> None:
        """Move forward to ``offset`` of the stream (a member's data)."""
        if offset < self._offset:
            raise TarError("the archive cannot be read backwards")
        self._skip(offset - self._offset)
        self._unread = 0

    def pieces(self, size: int, name: str) -> Iterator[memoryview]:
        """Yield ``size`` bytes of member data from here, as buffer views.

        Each view is valid only until the next one is asked for.
        """
        self._unread = 0
        left = size
        while left > 0:
            if self._pos >= len(self._buf) and not self._fill(1):
                raise TarError(f"the archive ends in the middle of {quoted(name)}")
            step = min(left, len(self._buf) - self._pos)
            view = memoryview(self._buf)[self._pos : self._pos + step]
            self._pos += step
            self._offset += step
            left -= step
            yield view
        self._skip(-size % BLOCK)

    def read_at(self, offset: int, size: int, name: str) -> bytes:
        """Return ``size`` bytes of member data starting at ``offset``."""
        self.seek(offset)
        pos = self._pos
        if len(self._buf) - pos >= size + (-size % BLOCK):
            end = pos + size + (-size % BLOCK)
            self._pos = end
            self._offset += end - pos
            return self._buf[pos : pos + size]
        return b"".join(self.pieces(size, name))

    def read(self, member: TarMember) -> bytes:
        """Return the whole data of the member just returned."""
        return b"".join(self.pieces(member.size, member.name))

    def copy(self, size: int, name: str, fd: int | None) -> str:
        """Write ``size`` bytes of data to ``fd`` (None: only read); return sha256.

        Long runs of zeros are skipped with a seek, so a sparse file comes
        back sparse; the file is then cut to its size.
        """
        digest = hashlib.sha256()
        seeked = False
        for piece in self.pieces(size, name):
            digest.update(piece)
            if fd is not None:
                seeked = _write_piece(fd, piece) or seeked
        if seeked:
            os.ftruncate(fd, size)
        return digest.hexdigest()


def write_data(fd: int, data: bytes | memoryview) -> None:
    """Write ``data`` to the new file ``fd``, as a hole if it is all zeros."""
    if _write_piece(fd, data):
        os.ftruncate(fd, len(data))


def _write_piece(fd: int, piece: bytes | memoryview) -> bool:
    """Write one piece of data; tell whether it was skipped as a hole."""
    if len(piece) >= _HOLE and piece == _ZEROS[: len(piece)]:
        os.lseek(fd, len(piece), os.SEEK_CUR)
        return True
    while piece:
        piece = piece[os.write(fd, piece) :]
    return False
