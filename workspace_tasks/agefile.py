"""Write and read age files sealed with a passphrase, a chunk at a time.

pyrage encrypts and decrypts passphrase files only whole, in memory; this
module streams the same format (age-encryption.org/v1 with one ``scrypt``
stanza), so the ``age`` command opens what it writes and the other way
round, with memory bounded by one 64 KiB chunk. The primitives come from
``cryptography``:

- the file key (16 random bytes) is wrapped with ChaCha20-Poly1305 under a
  key derived by scrypt from the passphrase and a random salt;
- the header is authenticated by HMAC-SHA256 under a key derived (HKDF)
  from the file key;
- the payload is a random 16-byte nonce, then 64 KiB chunks sealed with
  ChaCha20-Poly1305 under a key derived from the file key and that nonce,
  each chunk's nonce being its number and a flag marking the last one.
"""

from __future__ import annotations

import base64
import functools
import hmac
import os
from typing import BinaryIO

from workspace_tasks.errors import WorkspaceError

VERSION_LINE = b"age-encryption.org/v1"
SCRYPT_LABEL = b"age-encryption.org/v1/scrypt"
# The work factor the ``age`` command uses (2**18): scrypt then needs
# 256 MiB for a moment, whatever the size of the backup.
WORK_FACTOR = 18
# The highest work factor accepted on reading, as the ``age`` command does.
MAX_WORK_FACTOR = 22
CHUNK = 64 * 1024
TAG = 16
_COLUMNS = 64
_MAX_HEADER = 16 * 1024


class AgeError(WorkspaceError):
    """An age file that cannot be opened: wrong passphrase, damaged, foreign."""


def _b64encode(data: bytes) -> bytes:
    return base64.b64encode(data).rstrip(b"=")


def _b64decode(text: bytes) -> bytes:
    if text.endswith(b"=") or b"\n" in text or b"\r" in text:
        raise AgeError("the age header is malformed")
    try:
        data = base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    except ValueError:
        raise AgeError("the age header is malformed") from None
    if _b64encode(data) != text:
        raise AgeError("the age header is malformed")
    return data


def _hkdf(key: bytes, salt: bytes, info: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(key)


@functools.lru_cache(maxsize=8)
def _scrypt_key(passphrase: str, salt: bytes, work_factor: int) -> bytes:
    """Return the key that wraps the file key (cached: a restore reads twice)."""
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    kdf = Scrypt(salt=SCRYPT_LABEL + salt, length=32, n=2**work_factor, r=8, p=1)
    return kdf.derive(passphrase.encode("utf-8"))


def _aead(key: bytes):
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    return ChaCha20Poly1305(key)


def _chunk_nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class PassphraseWriter:
    """A writer whose bytes go, sealed with ``passphrase``, to ``out``.

    :meth:`close` seals the last chunk; it does not close ``out``.
    """

    def __init__(
        self, out: BinaryIO, passphrase: str, work_factor: int = WORK_FACTOR
    ) -> None:
        file_key = os.urandom(16)
        salt = os.urandom(16)
        wrapped = _aead(_scrypt_key(passphrase, salt, work_factor)).encrypt(
            bytes(12), file_key, None
        )
        header = b"%s\n-> scrypt %s %d\n%s\n---" % (
            VERSION_LINE,
            _b64encode(salt),
            work_factor,
            _b64encode(wrapped),
        )
        mac = hmac.digest(_hkdf(file_key, b"", b"header"), header, "sha256")
        nonce = os.urandom(16)
        out.write(header + b" " + _b64encode(mac) + b"\n" + nonce)
        self._out = out
        self._seal = _aead(_hkdf(file_key, nonce, b"payload"))
        self._pending = bytearray()
        self._counter = 0
        self._closed = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Take ``data``; every full chunk but the newest is sealed and written.

        The newest full chunk waits: only the next write (or :meth:`close`)
        tells whether it is the last.
        """
        if self._closed:
            raise ValueError("write to a closed age writer")
        self._pending += data
        while len(self._pending) > CHUNK:
            self._emit(bytes(self._pending[:CHUNK]), last=False)
            del self._pending[:CHUNK]
        return len(data)

    def flush(self) -> None:
        """Nothing to do: chunks are written as soon as they are sealed."""

    def close(self) -> None:
        """Seal and write the last chunk (possibly empty, for an empty file)."""
        if self._closed:
            return
        self._closed = True
        self._emit(bytes(self._pending), last=True)
        self._pending.clear()

    def _emit(self, chunk: bytes, last: bool) -> None:
        nonce = _chunk_nonce(self._counter, last)
        self._out.write(self._seal.encrypt(nonce, chunk, None))
        self._counter += 1


class PassphraseReader:
    """A reader of the plaintext of an age file sealed with ``passphrase``.

    The header is checked on opening (a wrong passphrase fails there); each
    chunk is checked as it is read, and a file cut short fails at its end.

    Raises:
        AgeError: the passphrase does not open the file, or it is damaged.
    """

    def __init__(self, src: BinaryIO, passphrase: str) -> None:
        self._src = src
        file_key = self._read_header(passphrase)
        nonce = self._read_exactly(16)
        if len(nonce) != 16:
            raise AgeError("the age file is cut short")
        self._open = _aead(_hkdf(file_key, nonce, b"payload"))
        self._counter = 0
        self._ahead = self._read_exactly(CHUNK + TAG)
        self._plain = b""
        self._pos = 0
        self._done = False

    def _read_exactly(self, size: int) -> bytes:
        parts, left = [], size
        while left > 0:
            block = self._src.read(left)
            if not block:
                break
            parts.append(block)
            left -= len(block)
        return b"".join(parts)

    def _line(self) -> bytes:
        line = self._src.readline(_MAX_HEADER)
        if not line.endswith(b"\n"):
            raise AgeError("the age header is malformed or cut short")
        return line[:-1]

    def _read_header(self, passphrase: str) -> bytes:
        if self._line() != VERSION_LINE:
            raise AgeError("not an age file of a version this tool reads")
        header = [VERSION_LINE]
        stanza = self._line()
        header.append(stanza)
        args = stanza.split(b" ")
        if len(args) != 4 or args[:2] != [b"->", b"scrypt"]:
            raise AgeError("the age file is not sealed with a passphrase")
        salt = _b64decode(args[2])
        if len(salt) != 16 or not args[3].isdigit() or args[3].startswith(b"0"):
            raise AgeError("the age header is malformed")
        work_factor = int(args[3])
        if work_factor > MAX_WORK_FACTOR:
            raise AgeError(
                f"the passphrase work factor {work_factor} is above the "
                f"{MAX_WORK_FACTOR} this tool accepts"
            )
        body = self._line()
        header.append(body)
        wrapped = _b64decode(body)
        if len(body) >= _COLUMNS or len(wrapped) != 32:
            raise AgeError("the age header is malformed")
        end = self._line()
        if not end.startswith(b"--- "):
            raise AgeError("the age file must have the passphrase stanza alone")
        from cryptography.exceptions import InvalidTag

        try:
            key = _scrypt_key(passphrase, salt, work_factor)
            file_key = _aead(key).decrypt(bytes(12), wrapped, None)
        except InvalidTag:
            raise AgeError("the passphrase is not the one it was sealed with") from None
        text = b"\n".join(header) + b"\n---"
        mac = hmac.digest(_hkdf(file_key, b"", b"header"), text, "sha256")
        if not hmac.compare_digest(mac, _b64decode(end[4:])):
            raise AgeError("the age header has been changed")
        return file_key

    def read(self, size: int = -1) -> bytes:
        """Return up to ``size`` bytes of plaintext (all that is left if -1)."""
        if size < 0:
            parts = []
            while block := self.read(CHUNK):
                parts.append(block)
            return b"".join(parts)
        if self._pos >= len(self._plain):
            if self._done:
                return b""
            self._next_chunk()
        piece = self._plain[self._pos : self._pos + size]
        self._pos += len(piece)
        return piece

    def _next_chunk(self) -> None:
        from cryptography.exceptions import InvalidTag

        sealed = self._ahead
        self._ahead = self._read_exactly(CHUNK + TAG) if sealed else b""
        last = not self._ahead
        if len(sealed) < TAG or (not last and len(sealed) != CHUNK + TAG):
            raise AgeError("the age file is cut short or damaged")
        try:
            plain = self._open.decrypt(_chunk_nonce(self._counter, last), sealed, None)
        except InvalidTag:
            raise AgeError("the age file is damaged or cut short") from None
        if last and not plain and self._counter:
            raise AgeError("the age file ends with an empty chunk")
        self._counter += 1
        self._plain, self._pos = plain, 0
        self._done = last
