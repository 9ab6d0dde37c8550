"""Copy backups to and from remote storage named by an fsspec URL.

``s3://bucket/prefix`` and ``file:///path`` (or any fsspec protocol) work.
For S3 the endpoint comes from ``[backup] s3_endpoint_url`` in the config,
else ``AWS_ENDPOINT_URL`` in the workspace's environment; credentials from
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` there, else the usual
AWS configuration. Every upload is read back and checked (size and sha256)
before it counts. A ``file://`` URL is percent-decoded (``sub%20dir`` is
``sub dir``).

Any failure of the store (unreachable, refused, a folder that cannot be
written) is one :class:`RemoteError` naming ``--remote`` and the URL
(exit 2); an upload that was written but does not read back the same is a
check that found a problem (exit 1).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, unquote

from workspace_tasks import safefs, settings
from workspace_tasks.context import Workspace
from workspace_tasks.errors import EXIT_PROBLEMS, UsageError, WorkspaceError
from workspace_tasks.text import quoted

log = logging.getLogger(__name__)

CHUNK = 1 << 20


class RemoteError(WorkspaceError):
    """Remote storage that cannot be reached, or an upload that did not verify."""


@contextlib.contextmanager
def reaching(url: str, what: str) -> Iterator[None]:
    """Turn any failure of the store while doing ``what`` into a RemoteError.

    fsspec's backends raise exceptions of their own (botocore's, aiohttp's)
    besides OSError: whichever it is, the user gets one line naming
    ``--remote`` and the URL.
    """
    try:
        yield
    except WorkspaceError:
        raise
    except Exception as exc:  # each fsspec backend has its own error types
        log.debug("%s %s failed", what, url, exc_info=True)
        reason = str(exc) or type(exc).__name__
        raise RemoteError(f"--remote: {what} {url} failed: {reason}") from None


@dataclass(frozen=True)
class RemoteFile:
    """One file in remote storage."""

    url: str
    name: str
    size: int
    modified: datetime | None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["modified"] = self.modified.isoformat() if self.modified else None
        return data


def _storage_options(ws: Workspace, protocol: str) -> dict[str, Any]:
    if protocol not in ("s3", "s3a"):
        return {}
    options: dict[str, Any] = {}
    endpoint = settings.text_setting(ws, "backup.s3_endpoint_url") or ws.environ.get(
        "AWS_ENDPOINT_URL"
    )
    client: dict[str, Any] = {}
    if endpoint:
        client["endpoint_url"] = str(endpoint)
    region = ws.environ.get("AWS_REGION") or ws.environ.get("AWS_DEFAULT_REGION")
    if region:
        client["region_name"] = region
    if client:
        options["client_kwargs"] = client
    key = ws.environ.get("AWS_ACCESS_KEY_ID")
    secret = ws.environ.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        options.update(key=key, secret=secret)
    return options


PROTOCOLS = ("s3", "s3a", "file")


def check_url(url: str) -> None:
    """Refuse a ``--remote`` URL we cannot use, before any work is done.

    Raises:
        UsageError: not ``s3://bucket/...`` or ``file:///absolute/path``.
    """
    protocol, sep, rest = url.partition("://")
    if not sep or protocol not in PROTOCOLS:
        raise UsageError(
            f"--remote: {quoted(url)} is not supported; use s3://bucket/prefix "
            "or file:///absolute/path"
        )
    if protocol == "file" and not rest.startswith("/"):
        raise UsageError(
            f"--remote: {quoted(url)} is a relative path; use file:///absolute/path"
        )
    if protocol != "file" and not rest.strip("/"):
        raise UsageError(f"--remote: {quoted(url)} names no bucket")


def filesystem(ws: Workspace, url: str) -> tuple[Any, str]:
    """Return the fsspec filesystem and the path inside it for ``url``.

    Raises:
        UsageError: the URL names no known protocol.
    """
    import fsspec

    check_url(url)
    protocol = url.split("://", 1)[0]
    try:
        cls = fsspec.get_filesystem_class(protocol)
    except (ValueError, ImportError) as exc:
        raise UsageError(f"--remote: {exc}") from None
    fs = cls(**_storage_options(ws, protocol))
    path = cls._strip_protocol(url).rstrip("/")
    return fs, unquote(path) if protocol == "file" else path


def _join(url: str, name: str) -> str:
    return f"{url.rstrip('/')}/{quote(name) if url.startswith('file://') else name}"


def check_upload_target(ws: Workspace, url: str, name: str, force: bool) -> None:
    """Refuse an upload of ``name`` to ``url`` that would replace what is there.

    A copy of that name already there is replaced only with ``force``; in a
    ``file://`` folder a link, folder, fifo or device standing there is
    never replaced (a link would be turned into a file).

    Raises:
        UsageError: naming ``--remote`` and what stands there.
        RemoteError: the store cannot be reached.
    """
    fs, folder = filesystem(ws, url)
    target = f"{folder}/{name}"
    if url.startswith("file://"):
        kind = safefs.entry_kind(Path(target))
        if kind not in (None, "file"):
            raise UsageError(
                f"--remote: {target} is a {kind}, not a backup, and is never "
                "replaced; remove it or choose another name"
            )
        exists = kind is not None
    else:
        with reaching(url, "looking for"):
            exists = fs.exists(target)
    if exists and not force:
        raise UsageError(
            f"--remote: {_join(url, name)} already exists; pass --force to replace it"
        )


def upload(ws: Workspace, local: Path, url: str, force: bool = False) -> RemoteFile:
    """Copy ``local`` into the folder ``url``; verify size and sha256 after.

    The copy is written under a hidden name, read back and checked, and only
    then renamed to its own name: a copy that does not verify (or an upload
    cut short) is never listed as a backup, and an earlier copy of the same
    name stays until the new one has verified; it is replaced only with
    ``force``.

    Raises:
        UsageError: a copy of that name is there and ``force`` is not given.
        RemoteError: the copy failed (exit 2) or does not match what was
            sent (exit 1); the hidden copy has been removed.
    """
    fs, folder = filesystem(ws, url)
    target = f"{folder}/{local.name}"
    partial = f"{folder}/.{local.name}.partial"
    size = local.stat().st_size
    expected = _sha256_local(local)
    local_folder = Path(folder) if url.startswith("file://") else None
    check_upload_target(ws, url, local.name, force)
    try:
        with reaching(url, f"upload of {local.name} to"):
            if local_folder is not None:
                _copy_private(local, local_folder / Path(partial).name)
            else:
                fs.makedirs(folder, exist_ok=True)
                fs.put_file(str(local), partial)
            fs.invalidate_cache(folder)
            _check_copy(fs, partial, size, expected, f"upload of {local.name} to {url}")
            if local_folder is not None:
                safefs.rename(Path(partial), Path(target), local_folder)
            else:
                fs.mv(partial, target)
    except WorkspaceError:
        _remove_quietly(fs, partial)
        raise
    log.info("uploaded %s to %s (%d bytes, verified)", local, url, size)
    return RemoteFile(_join(url, local.name), local.name, size, None)


def _check_copy(fs: Any, path: str, size: int, sha256: str, what: str) -> None:
    """Raise RemoteError unless ``path`` has ``size`` bytes and ``sha256``."""
    remote_size = int(fs.info(path)["size"])
    with fs.open(path, "rb") as handle:
        remote_sum = _sha256_stream(handle)
    if remote_size != size or remote_sum != sha256:
        raise RemoteError(
            f"{what} did not verify ({remote_size} bytes, expected {size}; "
            f"checksum {'matches' if remote_sum == sha256 else 'differs'}); "
            "the copy is not kept",
            exit_code=EXIT_PROBLEMS,
        )


def _remove_quietly(fs: Any, path: str) -> None:
    """Remove a hidden partial copy; its absence is not an error."""
    try:
        if fs.exists(path):
            fs.rm_file(path)
    except Exception as exc:  # each fsspec backend has its own error types
        log.warning("could not remove the partial copy %s: %s", path, exc)


def _copy_private(local: Path, target: Path) -> None:
    """Copy ``local`` to ``target`` on this machine as a private file (0600).

    Every missing folder on the way is created private (0700), folders
    already there keep their modes; the copy is written under a temporary
    name and renamed, so it is never readable by others nor seen
    half-written.
    """
    import shutil

    safefs.make_dirs(target.parent, safefs.PRIVATE_DIR)
    with (
        safefs.atomic_output(target, safefs.PRIVATE_FILE) as tmp,
        local.open("rb") as source,
        open(tmp, "wb") as out,
    ):
        shutil.copyfileobj(source, out, CHUNK)


def list_files(ws: Workspace, url: str) -> list[RemoteFile]:
    """List the files directly inside the remote folder ``url``.

    Raises:
        UsageError: a ``file://`` folder that does not exist.
    """
    fs, folder = filesystem(ws, url)
    with reaching(url, "listing"):
        if not fs.exists(folder):
            if url.startswith("file://"):
                raise UsageError(f"--remote: {url} does not exist")
            return []
        infos = fs.ls(folder, detail=True)
    files = []
    for info in infos:
        if info.get("type") != "file":
            continue
        name = str(info["name"]).rstrip("/").rsplit("/", 1)[-1]
        files.append(
            RemoteFile(_join(url, name), name, int(info.get("size") or 0), _mtime(info))
        )
    return files


def _mtime(info: dict) -> datetime | None:
    for key in ("LastModified", "mtime", "created"):
        value = info.get(key)
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, UTC)
    return None


def open_file(ws: Workspace, url: str) -> BinaryIO:
    """Open a remote file for reading."""
    fs, path = filesystem(ws, url)
    with reaching(url, "opening"):
        return fs.open(path, "rb", block_size=CHUNK)


def _sha256_local(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _sha256_stream(handle: BinaryIO) -> str:
    digest = hashlib.sha256()
    while block := handle.read(CHUNK):
        digest.update(block)
    return digest.hexdigest()
