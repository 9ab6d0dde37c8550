"""Copy backups to and from remote storage named by an fsspec URL.

``s3://bucket/prefix`` and ``file:///path`` (or any fsspec protocol) work.
For S3 the endpoint comes from ``[backup] s3_endpoint_url`` in the config,
else ``AWS_ENDPOINT_URL`` in the workspace's environment; credentials from
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` there, else the usual
AWS configuration. Every upload is read back and checked (size and sha256)
before it counts.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from workspace_tasks import safefs, settings
from workspace_tasks.context import Workspace
from workspace_tasks.errors import UsageError, WorkspaceError
from workspace_tasks.text import quoted

log = logging.getLogger(__name__)

CHUNK = 1 << 20


class RemoteError(WorkspaceError):
    """Remote storage that cannot be reached, or an upload that did not verify."""


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
    endpoint = settings.setting(ws, "backup.s3_endpoint_url") or ws.environ.get(
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
    return fs, cls._strip_protocol(url).rstrip("/")


def _join(url: str, name: str) -> str:
    return f"{url.rstrip('/')}/{name}"


def check_upload_target(ws: Workspace, url: str, name: str) -> None:
    """Refuse an upload of ``name`` to ``url`` that would replace a non-file.

    In a ``file://`` folder a regular file of that name is replaced by the
    new copy; a link, folder, fifo or device standing there is never
    replaced (a link would be turned into a file). Other stores hold only
    files.

    Raises:
        UsageError: naming ``--remote`` and what stands there.
    """
    if not url.startswith("file://"):
        return
    _, folder = filesystem(ws, url)
    target = Path(folder) / name
    kind = safefs.entry_kind(target)
    if kind not in (None, "file"):
        raise UsageError(
            f"--remote: {target} is a {kind}, not a backup, and is never "
            "replaced; remove it or choose another name"
        )


def upload(ws: Workspace, local: Path, url: str) -> RemoteFile:
    """Copy ``local`` into the folder ``url``; verify size and sha256 after.

    The copy is written under a hidden name, read back and checked, and only
    then renamed to its own name: a copy that does not verify (or an upload
    cut short) is never listed as a backup, and an earlier copy of the same
    name stays until the new one has verified.

    Raises:
        RemoteError: the copy failed or does not match what was sent; the
            hidden copy has been removed.
    """
    fs, folder = filesystem(ws, url)
    target = f"{folder}/{local.name}"
    partial = f"{folder}/.{local.name}.partial"
    size = local.stat().st_size
    expected = _sha256_local(local)
    local_folder = Path(folder) if url.startswith("file://") else None
    check_upload_target(ws, url, local.name)
    try:
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
    except (OSError, ValueError) as exc:
        _remove_quietly(fs, partial)
        raise RemoteError(f"upload of {local.name} to {url} failed: {exc}") from exc
    except RemoteError:
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
            "the copy is not kept"
        )


def _remove_quietly(fs: Any, path: str) -> None:
    """Remove a hidden partial copy; its absence is not an error."""
    try:
        if fs.exists(path):
            fs.rm_file(path)
    except (OSError, ValueError) as exc:
        log.warning("could not remove the partial copy %s: %s", path, exc)


def _copy_private(local: Path, target: Path) -> None:
    """Copy ``local`` to ``target`` on this machine as a private file (0600).

    A missing folder is created private (0700); the copy is written under a
    temporary name and renamed, so it is never readable by others nor seen
    half-written.
    """
    import shutil

    safefs.make_dirs(target.parent.parent)
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
    try:
        if not fs.exists(folder):
            if url.startswith("file://"):
                raise UsageError(f"--remote: {url} does not exist")
            return []
        infos = fs.ls(folder, detail=True)
    except (OSError, ValueError) as exc:
        raise RemoteError(f"cannot list {url}: {exc}") from exc
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
    try:
        return fs.open(path, "rb", block_size=CHUNK)
    except (OSError, ValueError) as exc:
        raise RemoteError(f"cannot open {url}: {exc}") from exc


def _sha256_local(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _sha256_stream(handle: BinaryIO) -> str:
    digest = hashlib.sha256()
    while block := handle.read(CHUNK):
        digest.update(block)
    return digest.hexdigest()
