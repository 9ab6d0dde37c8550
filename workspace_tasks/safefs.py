"""Safe file operations: every module writes, deletes and locks through here.

- writes are atomic: a temporary file in the same folder, flushed, synced and
  renamed over the target, so a reader never sees half a file;
- deletion never follows a symbolic link and never leaves the allowed root;
- per-user locks keep two backups, restores or resets from running at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from workspace_tasks.errors import LockedError, UnsafeOperation

log = logging.getLogger(__name__)

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries so a rename in it survives a crash."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):  # some file systems cannot sync folders
            os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes | str, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` atomically, keeping or setting its mode.

    The target is replaced by rename; if ``path`` is a symbolic link, the
    link itself is replaced, never the file it points to.
    """
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    if mode is None:
        try:
            mode = stat.S_IMODE(path.lstat().st_mode)
        except FileNotFoundError:
            mode = 0o644
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


@contextlib.contextmanager
def atomic_output(path: Path, mode: int = 0o644) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success.

    For writers that stream (archives): the target never exists half-written,
    and an interrupted write leaves only a hidden ``.tmp`` file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp_path, mode)
        os.replace(tmp_path, path)
        fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


def atomic_symlink(link: Path, target: str | os.PathLike) -> None:
    """Point ``link`` at ``target`` atomically, replacing a link already there.

    A new link is made beside ``link`` and renamed over it, so the name never
    disappears; whatever ``link`` pointed to before is left untouched.
    """
    link = Path(link)
    tmp = link.parent / f".{link.name}.{os.getpid()}.link.tmp"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    os.symlink(target, tmp)
    try:
        os.replace(tmp, link)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(link.parent)


def ensure_dir(path: Path, mode: int | None = None) -> bool:
    """Create ``path`` (and parents); set ``mode`` on it. Return True if created."""
    path = Path(path)
    created = not path.is_dir()
    path.mkdir(parents=True, exist_ok=True)
    if mode is not None and stat.S_IMODE(path.stat().st_mode) != mode:
        os.chmod(path, mode)
    return created


def is_within(path: Path, root: Path) -> bool:
    """Tell whether ``path`` lies inside ``root`` without following its last part.

    The parent folders are resolved (so a linked folder on the way cannot
    smuggle the path out); the last component is taken as it is.
    """
    path = Path(os.path.abspath(path))
    root = Path(os.path.realpath(root))
    parent = Path(os.path.realpath(path.parent))
    candidate = parent / path.name
    return candidate == root or root in candidate.parents


def resolves_within(path: Path, root: Path) -> bool:
    """Tell whether ``path``, with every link on it followed, lies inside ``root``.

    For paths that are opened or written through (a log file, a folder
    created or walked): a link anywhere on the way, the last part included,
    must not lead out of ``root``.
    """
    return is_within(Path(os.path.realpath(path)), root)


def ensure_private_dir(path: Path, base: Path) -> bool:
    """Create ``path`` and every missing folder between ``base`` and it as 0700.

    ``base`` itself must exist; ``path`` is made private even when it was
    there already. Return True if ``path`` was created.
    """
    path, base = Path(path), Path(base)
    current = base
    created = False
    for part in path.relative_to(base).parts:
        current = current / part
        try:
            os.mkdir(current, PRIVATE_DIR)
        except FileExistsError:
            created = False
            continue
        created = True
        os.chmod(current, PRIVATE_DIR)  # the umask may have taken bits away
    if not created and stat.S_IMODE(path.stat().st_mode) != PRIVATE_DIR:
        os.chmod(path, PRIVATE_DIR)
    return created


def check_within(path: Path, root: Path) -> None:
    """Raise :class:`UnsafeOperation` unless ``path`` is inside ``root``."""
    if not is_within(path, root):
        raise UnsafeOperation(f"refusing to touch {path}: it is outside {root}")


def remove_path(path: Path, root: Path) -> int:
    """Remove a file, link or folder tree inside ``root``; return bytes freed.

    A symbolic link is removed as a link: what it points to is never touched,
    and a tree is walked without following links in it.
    """
    path = Path(path)
    check_within(path, root)
    try:
        info = path.lstat()
    except FileNotFoundError:
        return 0
    if stat.S_ISDIR(info.st_mode):
        freed = sum(
            entry.lstat().st_size
            for entry in _walk_no_links(path)
            if not stat.S_ISDIR(entry.lstat().st_mode)
        )
        shutil.rmtree(path)
        return freed
    path.unlink()
    return 0 if stat.S_ISLNK(info.st_mode) else info.st_size


def _walk_no_links(top: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        for name in dirnames + filenames:
            yield Path(dirpath) / name


def make_private(path: Path) -> bool:
    """Give ``path`` mode 0700 (folders) or 0600 (files); True if changed."""
    info = Path(path).lstat()
    if stat.S_ISLNK(info.st_mode):
        return False
    wanted = PRIVATE_DIR if stat.S_ISDIR(info.st_mode) else PRIVATE_FILE
    if stat.S_IMODE(info.st_mode) == wanted:
        return False
    os.chmod(path, wanted)
    return True


@contextlib.contextmanager
def user_lock(lock_file: Path, what: str, timeout: float = 0) -> Iterator[None]:
    """Hold the per-user lock at ``lock_file`` while ``what`` runs.

    With ``timeout`` 0 a second holder is refused at once with a clear
    message; a positive timeout waits that many seconds first. The lock is
    ``flock`` on the file, as the ``filelock`` package takes it on Unix, so
    holders of either kind exclude each other.
    """
    import fcntl

    lock_file = Path(lock_file)
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockedError(
                        f"another backup, restore or reset holds {lock_file}; "
                        f"wait for it to finish before running {what}"
                    ) from None
                time.sleep(0.05)
        log.debug("locked %s for %s", lock_file, what)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def folder_handle(folder: Path, root: Path) -> Iterator[int]:
    """Open ``folder`` (inside ``root``, not a link) for removals by name.

    Removing entries through the descriptor (:func:`remove_entry`) checks the
    folder once instead of once per file, and a folder renamed or replaced by
    a link meanwhile cannot redirect the removals elsewhere.
    """
    check_within(folder, root)
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        yield fd
    finally:
        os.close(fd)


def remove_entry(folder_fd: int, name: str, *, folder: bool = False) -> None:
    """Remove the file, link or empty folder ``name`` of an opened folder.

    A link is removed as a link; a folder is removed only when empty.
    """
    if "/" in name or name in ("", ".", ".."):
        raise UnsafeOperation(f"refusing to remove {name!r}: not a plain name")
    if folder:
        os.rmdir(name, dir_fd=folder_fd)
    else:
        os.unlink(name, dir_fd=folder_fd)
