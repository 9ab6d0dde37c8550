"""Encrypt and decrypt backups with age, compatible with the ``age`` command.

Keys come from the configuration and the workspace's environment, never
from the process directly:

- ``[backup] recipients``: age public keys (``age1…``) or SSH public keys;
  a machine holding only these can write backups it cannot read;
- ``[backup] identity_file``: an age identity file (``age-keygen``) used to
  read them back;
- ``[backup] passphrase_env`` (default ``PROVISIONING_BACKUP_PASSPHRASE``):
  the environment variable holding a passphrase, used when no recipient is
  configured.

Both directions stream with bounded memory, and no plaintext copy of a
backup is ever written to disk: to public keys, data flows through an
in-memory pipe to pyrage; with a passphrase (which pyrage only encrypts
whole), :mod:`workspace_tasks.agefile` writes and reads age's passphrase
format in chunks.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from workspace_tasks import safefs, settings
from workspace_tasks.archive import ArchiveError
from workspace_tasks.context import Workspace
from workspace_tasks.errors import UsageError
from workspace_tasks.text import quoted

log = logging.getLogger(__name__)

DEFAULT_PASSPHRASE_ENV = "PROVISIONING_BACKUP_PASSPHRASE"


class CryptoError(ArchiveError):
    """A backup that cannot be encrypted or decrypted with the keys given.

    An archive error like any other: whoever reads the backup names its file.
    """


@dataclass(frozen=True)
class EncryptionKeys:
    """Whom a backup is encrypted to: public keys, or else a passphrase."""

    recipients: tuple[str, ...] = ()
    passphrase: str | None = None


@dataclass(frozen=True)
class DecryptionKeys:
    """What can open a backup: identities from a file, and/or a passphrase."""

    identities: tuple[str, ...] = ()
    passphrase: str | None = None


def _passphrase(ws: Workspace) -> tuple[str, str | None]:
    variable = settings.text_setting(ws, "backup.passphrase_env")
    variable = variable or DEFAULT_PASSPHRASE_ENV
    return variable, ws.environ.get(variable) or None


def encryption_keys(ws: Workspace) -> EncryptionKeys:
    """Return the keys ``--encrypt`` uses: configured recipients, else passphrase.

    Raises:
        UsageError: neither is available, or a recipient is not a key.
    """
    recipients = tuple(
        r.strip() for r in settings.texts_setting(ws, "backup.recipients")
    )
    if recipients:
        _parse_recipients(recipients)
        return EncryptionKeys(recipients=recipients)
    variable, passphrase = _passphrase(ws)
    if passphrase:
        return EncryptionKeys(passphrase=passphrase)
    raise UsageError(
        "--encrypt: no key; list age public keys in [backup] recipients of "
        f"{ws.user_config} or set a passphrase in ${variable}"
    )


def decryption_keys(ws: Workspace) -> DecryptionKeys:
    """Return the identities and passphrase available to read backups."""
    identities: tuple[str, ...] = ()
    configured = settings.text_setting(ws, "backup.identity_file")
    if configured:
        path = ws.expand_home(configured)
        path = path if path.is_absolute() else ws.root / path
        try:
            text = safefs.read_regular_text(path)
        except OSError as exc:
            raise UsageError(
                f"[backup] identity_file: cannot read {path}: {exc.strerror}"
            ) from None
        except UsageError as exc:
            raise UsageError(f"[backup] identity_file: {exc}") from None
        identities = tuple(
            line.strip()
            for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        )
    return DecryptionKeys(identities, _passphrase(ws)[1])


def _parse_recipients(recipients: tuple[str, ...]) -> list:
    import pyrage

    parsed = []
    for text in recipients:
        try:
            if text.startswith(("ssh-", "ecdsa-")):
                parsed.append(pyrage.ssh.Recipient.from_str(text))
            else:
                parsed.append(pyrage.x25519.Recipient.from_str(text))
        except pyrage.RecipientError:
            raise UsageError(
                f"[backup] recipients: {quoted(text)} is not an age or SSH public key"
            ) from None
    return parsed


def _parse_identities(identities: tuple[str, ...]) -> list:
    import pyrage

    parsed = []
    for text in identities:
        try:
            parsed.append(pyrage.x25519.Identity.from_str(text))
        except pyrage.IdentityError:
            raise UsageError(
                "[backup] identity_file: a line is not an age secret key"
            ) from None
    return parsed


@contextlib.contextmanager
def encrypting(out: BinaryIO, keys: EncryptionKeys) -> Iterator[BinaryIO]:
    """Yield a writer whose bytes are encrypted into ``out``."""
    if keys.passphrase is not None and not keys.recipients:
        from workspace_tasks import agefile

        writer = agefile.PassphraseWriter(out, keys.passphrase)
        yield writer
        writer.close()
        return
    import pyrage

    recipients = _parse_recipients(keys.recipients)
    read_fd, write_fd = os.pipe()
    reader = open(read_fd, "rb")  # noqa: SIM115 - owned by the worker thread

    def work() -> None:
        with reader:
            pyrage.encrypt_io(reader, out, recipients)

    worker = _Worker(work)
    writer = open(write_fd, "wb")  # noqa: SIM115 - closed below
    try:
        yield writer
    except BaseException:
        writer.close()
        worker.join()
        raise
    with contextlib.suppress(BrokenPipeError):
        writer.close()
    worker.join()
    worker.raise_error("encryption failed")


@contextlib.contextmanager
def decrypting(src: BinaryIO, keys: DecryptionKeys) -> Iterator[BinaryIO]:
    """Yield a reader of the plaintext of the age stream ``src``.

    Raises:
        CryptoError: the keys do not open it, or it is damaged.
    """
    head = src.peek(256)[:256] if hasattr(src, "peek") else b""
    if b"\n-> scrypt " in head:
        if not keys.passphrase:
            raise CryptoError(
                "this backup is encrypted with a passphrase; set it in "
                f"${DEFAULT_PASSPHRASE_ENV} (or [backup] passphrase_env)"
            )
        from workspace_tasks import agefile

        try:
            yield agefile.PassphraseReader(src, keys.passphrase)
        except agefile.AgeError as exc:
            raise CryptoError(f"cannot decrypt the backup: {exc}") from None
        return
    if not keys.identities:
        raise CryptoError(
            "this backup is encrypted to age keys; point [backup] identity_file "
            "at a matching identity file"
        )
    import pyrage

    identities = _parse_identities(keys.identities)
    read_fd, write_fd = os.pipe()
    writer = open(write_fd, "wb")  # noqa: SIM115 - owned by the worker thread

    def work() -> None:
        with writer:
            pyrage.decrypt_io(src, writer, identities)

    worker = _Worker(work)
    reader = open(read_fd, "rb")  # noqa: SIM115 - closed below
    try:
        yield reader
    finally:
        # Stopping early on purpose breaks the worker's pipe: its error then
        # means nothing. Having read to the end, its error is the answer.
        at_end = _drain(reader)
        reader.close()
        worker.join()
        if at_end:
            worker.raise_error("cannot decrypt the backup")


def _drain(reader: BinaryIO, limit: int = 1 << 20) -> bool:
    """Read what is left up to ``limit`` bytes; tell whether the end came."""
    left = limit
    while left > 0:
        block = reader.read(min(left, 1 << 16))
        if not block:
            return True
        left -= len(block)
    return False


class _Worker(threading.Thread):
    """Run one encryption or decryption, keeping its error for the caller."""

    def __init__(self, action: Callable[[], None]) -> None:
        super().__init__(daemon=True)
        self._action = action
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self._action()
        except BaseException as exc:  # handed to the caller's thread
            self.error = exc

    def raise_error(self, what: str) -> None:
        if self.error is not None and not isinstance(self.error, BrokenPipeError):
            raise CryptoError(f"{what}: {self.error}") from None
