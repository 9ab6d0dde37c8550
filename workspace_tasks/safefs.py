"""Safe file operations: every module reads, writes, deletes and locks here.

- reads of the files the tool understands (configuration, templates,
  manifests, settings) take regular files only, of a bounded size, so a fifo
  or a device at such a name cannot hang a command or fill its memory;
- writes are atomic: a temporary file in the same folder, flushed, synced and
  renamed over the target, so a reader never sees half a file;
- deletion never follows a symbolic link and never leaves the allowed root;
- per-user locks keep two backups, restores or resets from running at once.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from workspace_tasks.errors import LockedError, UnreadableFile, UnsafeOperation
from workspace_tasks.text import quoted

log = logging.getLogger(__name__)

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
# The largest configuration, template, manifest or settings file read whole.
MAX_READ_SIZE = 16 * 1024 * 1024


def read_regular(
    path: Path, *, limit: int = MAX_READ_SIZE, shown: object = None
) -> bytes:
    """Return the bytes of the regular file at ``path`` (links followed).

    The file is opened without waiting (a fifo with no writer would block
    an ordinary open) and checked on the open descriptor before a byte is
    read, so a fifo, a device such as ``/dev/zero``, a socket or a folder
    is refused instead of hanging the command or filling its memory; so is
    a file larger than ``limit`` bytes (:data:`MAX_READ_SIZE`, 16 MiB, by
    default), even one that grows while it is read. ``shown`` names the
    file in messages (``path`` without it).

    Raises:
        FileNotFoundError: nothing is at ``path``.
        UnreadableFile: not a regular file, or larger than ``limit``.
        OSError: the file cannot be opened or read (no permission).
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _KINDS if test(mode)), "special file")
            raise UnreadableFile(shown or path, f"is a {kind}, not a regular file")
        chunks = []
        size = 0
        while chunk := os.read(fd, min(1024 * 1024, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise UnreadableFile(
                    shown or path,
                    f"is larger than {_size_text(limit)}, the most read of such "
                    "a file; it is not read",
                )
    finally:
        os.close(fd)
    return b"".join(chunks)


def _size_text(size: int) -> str:
    """Say a byte count as the limits are documented (``16 MiB``, ``512 bytes``)."""
    if size >= 1024 * 1024 and size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)} MiB"
    if size >= 1024 and size % 1024 == 0:
        return f"{size // 1024} KiB"
    return f"{size} bytes"


def read_regular_text(
    path: Path, *, limit: int = MAX_READ_SIZE, shown: object = None
) -> str:
    """Return the text of the regular file at ``path``, as :func:`read_regular`.

    Raises:
        UnreadableFile: as :func:`read_regular`, or the bytes are not UTF-8.
    """
    data = read_regular(path, limit=limit, shown=shown)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(
            shown or path, f"not UTF-8 text (byte {exc.start})"
        ) from None


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


def atomic_write(
    path: Path,
    data: bytes | str,
    mode: int | None = None,
    *,
    root: Path | None = None,
) -> None:
    """Write ``data`` to ``path`` atomically, keeping or setting its mode.

    The target is replaced by rename; if ``path`` is a symbolic link, the
    link itself is replaced, never the file it points to. With ``root``,
    ``path`` must lie inside it with the folders on its way resolved, so a
    linked folder cannot lead the write out of ``root``.

    Raises:
        UnsafeOperation: ``path`` is outside ``root``.
    """
    path = Path(path)
    if root is not None:
        check_within(path, root)
    if isinstance(data, str):
        data = data.encode("utf-8")
    if mode is None:
        try:
            mode = stat.S_IMODE(path.lstat().st_mode)
        except FileNotFoundError:
            mode = 0o644
    with _naming(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
        )
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


_KINDS = (
    (stat.S_ISREG, "file"),
    (stat.S_ISDIR, "folder"),
    (stat.S_ISLNK, "symbolic link"),
    (stat.S_ISFIFO, "fifo"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISSOCK, "socket"),
)


def entry_kind(path: Path) -> str | None:
    """Name what stands at ``path``, a final link not followed (None: nothing).

    One of ``file`` (a regular file), ``folder``, ``symbolic link``,
    ``fifo``, ``character device``, ``block device`` or ``socket``.
    """
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    return next((name for test, name in _KINDS if test(mode)), "special file")


def is_stream(path: Path) -> bool:
    """Tell whether ``path``, links followed, is a fifo or a character device.

    Such a target is written in place (:func:`write_stream`), never replaced.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)


def write_stream(path: Path, data: bytes | str) -> None:
    """Write ``data`` into the fifo or character device at ``path``, in place.

    Nothing is created, replaced or truncated: the target is opened for
    writing as it is (a fifo waits for its reader), and what was opened is
    checked before the first byte goes out, so a link switched meanwhile to
    a regular file cannot make this write over it.

    Raises:
        UnsafeOperation: what ``path`` leads to is not a fifo or device.
        OSError: the target cannot be opened or written (a full device).
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not (stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)):
            raise UnsafeOperation(
                f"refusing to write into {path}: not a fifo or character device"
            )
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


@contextlib.contextmanager
def _naming(path: Path) -> Iterator[None]:
    """Make a file error raised inside name ``path``, not a temporary beside it.

    The user asked for ``path``; a hidden ``.name.XXXX.tmp`` in the message
    would send them looking for a file that never stays.
    """
    try:
        yield
    except OSError as exc:
        named = os.path.basename(os.fspath(exc.filename or ""))
        ours = named.startswith(f".{path.name}.") and named.endswith(".tmp")
        if not ours or exc.errno is None:
            raise
        raise type(exc)(exc.errno, exc.strerror, os.fspath(path)) from None


@contextlib.contextmanager
def atomic_output(
    path: Path, mode: int = 0o644, *, root: Path | None = None
) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success.

    For writers that stream (archives): the target never exists half-written,
    and an interrupted write leaves only a hidden ``.tmp`` file behind. With
    ``root``, ``path`` must lie inside it (see :func:`atomic_write`).
    """
    path = Path(path)
    if root is not None:
        check_within(path, root)
    with _naming(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
        )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp_path, mode)
        with _naming(path):
            os.replace(tmp_path, path)
        fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


def atomic_copy(source: Path, target: Path, root: Path) -> None:
    """Copy the file ``source`` to ``target`` atomically, keeping mode and times.

    Both lie inside ``root``. ``source`` is read only when it is a regular
    file, never through a link, which could lead out of ``root``; a link
    at ``target`` is replaced, never written through.

    Raises:
        UnsafeOperation: ``source`` is a link or not a regular file.
    """
    check_within(source, root)
    check_within(target, root)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(source, flags)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise UnsafeOperation(
            f"refusing to copy {source}: it is a symbolic link"
        ) from None
    with os.fdopen(fd, "rb") as reader:
        info = os.fstat(reader.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeOperation(f"refusing to copy {source}: not a regular file")
        with atomic_output(target, stat.S_IMODE(info.st_mode)) as tmp:
            with open(tmp, "wb") as writer:
                shutil.copyfileobj(reader, writer, 1024 * 1024)
            os.utime(tmp, ns=(info.st_atime_ns, info.st_mtime_ns))


def atomic_symlink(link: Path, target: str | os.PathLike) -> None:
    """Point ``link`` at ``target`` atomically, replacing a link already there.

    A new link is made beside ``link`` and renamed over it, so the name never
    disappears; whatever ``link`` pointed to before is left untouched.
    """
    link = Path(link)
    tmp = link.parent / f".{link.name}.{os.getpid()}.link.tmp"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    with _naming(link):
        os.symlink(target, tmp)
        try:
            os.replace(tmp, link)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    fsync_dir(link.parent)


def create_file(path: Path, root: Path, mode: int = PRIVATE_FILE) -> int:
    """Create the new file ``path`` inside ``root`` with ``mode``; return its fd.

    Nothing may be at ``path`` yet, not even a link: an existing name is
    an error (:class:`FileExistsError`), never opened or followed. The
    caller writes through the descriptor and closes it.
    """
    check_within(path, root)
    return _create(path, mode)


def _create(path: str | Path, mode: int) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, mode)
    try:
        os.fchmod(fd, mode)  # the umask may have taken bits away
    except BaseException:
        os.close(fd)
        raise
    return fd


def make_dir(path: Path, root: Path, mode: int | None = None) -> None:
    """Create the one new folder ``path`` inside ``root``, with ``mode`` if given.

    Without ``mode`` the folder gets the usual mode the umask leaves; with
    it, exactly ``mode``. An existing name is an error, never followed.
    """
    check_within(path, root)
    _mkdir(path, mode)


def _mkdir(path: str | Path, mode: int | None) -> None:
    os.mkdir(path, 0o777 if mode is None else mode)
    if mode is not None:
        os.chmod(path, mode)  # the umask may have taken bits away


def make_temp_dir(folder: Path, prefix: str, root: Path) -> Path:
    """Create a new private folder in ``folder``, named ``prefix`` and a random part.

    The random part is lowercase letters, digits and ``_``; ``folder``
    must lie inside ``root``.
    """
    check_within(Path(folder) / prefix, root)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=folder))


def make_dirs(path: Path, mode: int | None = None, root: Path | None = None) -> bool:
    """Create ``path`` and every missing folder above it; True if it was missing.

    Each folder created gets ``mode`` (the umask's usual one without it);
    folders already there keep theirs. With ``root``, ``path`` must lie
    inside it with every link on the way followed.

    Raises:
        UnsafeOperation: ``path`` leads out of ``root``.
    """
    return bool(_make_missing(Path(path), mode, root))


def _make_missing(path: Path, mode: int | None, root: Path | None) -> list[Path]:
    """Create ``path`` and the folders missing above it; return those created."""
    if root is not None and not resolves_within(path, root):
        raise UnsafeOperation(
            f"refusing to create {path}: it leads outside {root} "
            f"(to {os.path.realpath(path)})"
        )
    missing = []
    current = path
    while not current.is_dir() and current != current.parent:
        missing.append(current)
        current = current.parent
    created = []
    for folder in reversed(missing):
        try:
            _mkdir(folder, mode)
        except FileExistsError:
            if not folder.is_dir():
                raise
            continue
        created.append(folder)
    return created


def make_unique_dir(
    folder: Path, name: str, root: Path, mode: int | None = None
) -> Path:
    """Create a new folder ``name`` in ``folder``; ``name-2``, ``name-3``… if taken.

    A name already there (a folder, a file or a link) is never reused, so
    whatever an earlier run left under it stays as it was. ``folder`` must
    exist and lie inside ``root``. Return the folder created.
    """
    for number in itertools.count(1):
        candidate = Path(folder) / (name if number == 1 else f"{name}-{number}")
        try:
            make_dir(candidate, root, mode)
        except FileExistsError:
            continue
        return candidate
    raise AssertionError("unreachable")  # itertools.count never ends


class Undo:
    """Take back, on failure, what a run created or replaced inside ``root``.

    Each change goes through a method here that records how to undo it: a
    new folder is removed again while it is empty, a new file is removed, a
    replaced file gets its earlier bytes, mode and times back, a renamed
    entry is renamed back, and a new folder tree (:meth:`make_unique_dir`)
    is removed whole. Used as a context manager, an exception undoes everything newest
    first and is raised again; a step that cannot be undone is logged and
    the others still run.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._steps: list[tuple[str, Path, object]] = []

    def __enter__(self) -> Undo:
        return self

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        if error is not None:
            self.undo()

    def make_dirs(self, path: Path, mode: int | None = None) -> bool:
        """Create ``path`` and the folders missing above it (see :func:`make_dirs`)."""
        created = _make_missing(Path(path), mode, self.root)
        self._steps += [("folder", folder, None) for folder in created]
        return bool(created)

    def make_unique_dir(self, folder: Path, name: str, mode: int | None = None) -> Path:
        """Create a new folder as :func:`make_unique_dir`; undone with its contents."""
        made = make_unique_dir(folder, name, self.root, mode)
        self._steps.append(("tree", made, None))
        return made

    def write(self, path: Path, data: bytes | str, mode: int | None = None) -> None:
        """Write ``path`` atomically; a file there before is kept to put back.

        Raises:
            UnsafeOperation: something other than a regular file is at ``path``.
        """
        path = Path(path)
        check_within(path, self.root)
        try:
            info = path.lstat()
        except FileNotFoundError:
            previous = None
        else:
            if not stat.S_ISREG(info.st_mode):
                raise UnsafeOperation(
                    f"refusing to replace {path}: it is not a regular file"
                )
            times = (info.st_atime_ns, info.st_mtime_ns)
            previous = (path.read_bytes(), stat.S_IMODE(info.st_mode), times)
        atomic_write(path, data, mode)
        self._steps.append(("file", path, previous))

    def remove_file(self, path: Path) -> None:
        """Remove the regular file ``path``; undone by writing it back.

        Raises:
            UnsafeOperation: ``path`` is not a regular file inside the root.
        """
        path = Path(path)
        check_within(path, self.root)
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeOperation(f"refusing to remove {path}: not a regular file")
        times = (info.st_atime_ns, info.st_mtime_ns)
        previous = (path.read_bytes(), stat.S_IMODE(info.st_mode), times)
        remove_path(path, self.root)
        self._steps.append(("file", path, previous))

    def rename(self, source: Path, target: Path) -> None:
        """Rename ``source`` to ``target`` as :func:`rename` does."""
        rename(source, target, self.root)
        self._steps.append(("rename", Path(target), Path(source)))

    def undo(self) -> bool:
        """Take every recorded change back, newest first; True if all were."""
        complete = True
        for action, path, detail in reversed(self._steps):
            if action == "tree" and not complete:
                log.warning("kept %s: an earlier change could not be undone", path)
                continue
            try:
                self._undo_one(action, path, detail)
            except (OSError, UnsafeOperation) as exc:
                complete = False
                log.warning("could not undo the change to %s: %s", path, exc)
        self._steps.clear()
        return complete

    def _undo_one(self, action: str, path: Path, detail: object) -> None:
        if action == "folder":
            remove_empty_dir(path, self.root)
        elif action == "tree":
            remove_path(path, self.root)
        elif action == "rename":
            rename(path, detail, self.root)  # type: ignore[arg-type]
        elif detail is None:
            remove_path(path, self.root)
        else:
            data, mode, times = detail  # type: ignore[misc]
            atomic_write(path, data, mode)
            os.utime(path, ns=times, follow_symlinks=False)


class NewTree:
    """A folder tree this process builds inside ``root`` (a staging folder).

    A folder made through it is a real folder inside ``root``: its parent
    was, and ``mkdir`` never follows a link. So what is created in it later
    needs no new resolution of its path, and staging many thousand files
    costs plain system calls; any other path is checked as
    :func:`check_within` does. Paths are strings, as the caller joins them.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.folders: set[str] = set()

    def _check(self, path: str) -> None:
        if path.rpartition("/")[0] not in self.folders:
            check_within(Path(path), self.root)

    def make_dir(self, path: str, mode: int | None = None) -> None:
        """Create the folder ``path``; a real folder there already is kept."""
        self._check(path)
        try:
            _mkdir(path, mode)
        except FileExistsError:
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                raise
        self.folders.add(path)

    def create_file(self, path: str, mode: int = PRIVATE_FILE) -> int:
        """Create the new file ``path``; return its descriptor (see create_file)."""
        self._check(path)
        return _create(path, mode)

    def make_symlink(self, path: str, target: str) -> None:
        """Create the new link ``path`` pointing at ``target``."""
        self._check(path)
        os.symlink(target, path)

    def make_hardlink(self, source: str, path: str) -> None:
        """Give the file ``source`` (not followed) the new name ``path``."""
        self._check(source)
        self._check(path)
        os.link(source, path, follow_symlinks=False)


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


def relative_inside(path: Path, root: Path) -> str | None:
    """Return ``path`` relative to ``root`` (``/``-separated), None if outside.

    As :func:`is_within`, the parent folders are resolved and the last part
    is taken as it is, so the result names what an operation on ``path``
    would really touch; ``root`` itself gives ``"."``.
    """
    if "\0" in os.fspath(path):
        return None  # a name no file can have
    path = Path(os.path.abspath(path))
    real_root = Path(os.path.realpath(root))
    candidate = Path(os.path.realpath(path.parent)) / path.name
    if candidate != real_root and real_root not in candidate.parents:
        return None
    return candidate.relative_to(real_root).as_posix()


def why_untrusted(path: Path) -> str:
    """Return why ``path`` cannot be taken as the current user's own ("" if it can).

    Trusted is a file or folder, not a link, owned by the current user and
    writable by nobody else: only then can its contents not have been
    written by someone else. What is not trusted is left alone, not acted on.
    """
    try:
        info = os.lstat(path)
    except OSError as exc:
        return f"cannot be examined ({exc.strerror})"
    mode = stat.S_IMODE(info.st_mode)
    if stat.S_ISLNK(info.st_mode):
        return "is a symbolic link"
    if info.st_uid != os.getuid():
        return f"belongs to uid {info.st_uid}, not to this user (uid {os.getuid()})"
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"is writable by other users (mode {mode:04o})"
    return ""


def check_within(path: Path, root: Path) -> None:
    """Raise :class:`UnsafeOperation` unless ``path`` is inside ``root``.

    A path written inside ``root`` whose folders lead out through a link is
    named with the place it really leads to.
    """
    if is_within(path, root):
        return
    absolute = Path(os.path.abspath(path))
    if absolute.is_relative_to(os.path.abspath(root)):
        real = Path(os.path.realpath(absolute.parent)) / absolute.name
        raise UnsafeOperation(
            f"refusing to write {path}: a link on the way leads outside {root} "
            f"(to {real})"
        )
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


def remove_empty_dir(path: Path, root: Path) -> bool:
    """Remove the folder ``path`` inside ``root`` if it is empty; True if removed.

    A link in its place is not a folder: it is left alone, as is a folder
    that still holds anything.
    """
    check_within(path, root)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISDIR(info.st_mode):
        return False
    try:
        os.rmdir(path)
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            return False
        raise
    return True


def rename(source: Path, target: Path, root: Path) -> None:
    """Rename ``source`` to ``target``, both inside ``root``.

    A link at either end is moved or replaced as a link, never followed;
    a folder on the way that leads out of ``root`` refuses the rename.
    """
    check_within(source, root)
    check_within(target, root)
    os.rename(source, target)


def _walk_no_links(top: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        for name in dirnames + filenames:
            yield Path(dirpath) / name


_WALK_FLAGS = (
    getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
)


def set_mode(path: Path, mode: int, root: Path, *, mtime_ns: int | None = None) -> None:
    """Give ``path``, inside ``root``, the permission bits ``mode`` (and an mtime).

    ``path`` is reached from ``root`` one name at a time, never through a
    link, so a link on the way or at the end cannot redirect the change
    out of ``root``; a link at ``path`` itself is refused, as changing its
    mode would change what it points to.

    Raises:
        UnsafeOperation: ``path`` is not inside ``root`` as written, or a
            link stands on the way or at the end.
    """
    path, root = Path(path), Path(root)
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        raise UnsafeOperation(
            f"refusing to touch {path}: it is outside {root}"
        ) from None
    if ".." in parts or not parts:
        raise UnsafeOperation(f"refusing to change the mode of {path}")
    fd = os.open(root, _WALK_FLAGS & ~os.O_NOFOLLOW)
    try:
        for part in parts[:-1]:
            below = _open_below(fd, part, path)
            os.close(fd)
            fd = below
        if stat.S_ISLNK(os.lstat(parts[-1], dir_fd=fd).st_mode):
            raise UnsafeOperation(
                f"refusing to change the mode of {path}: it is a symbolic link"
            )
        os.chmod(parts[-1], mode, dir_fd=fd)
        if mtime_ns is not None:
            ns = (mtime_ns, mtime_ns)
            os.utime(parts[-1], ns=ns, dir_fd=fd, follow_symlinks=False)
    finally:
        os.close(fd)


def set_folder_modes(root: Path, folders: Iterable[tuple[str, int, int]]) -> None:
    """Give many folders inside ``root`` their modes and mtimes, never via a link.

    ``folders`` holds (path relative to ``root``, mode, mtime in ns). As
    :func:`set_mode` does for one path, each is reached from ``root`` one
    name at a time; here the folders open on the way are kept while their
    descendants are handled, so each folder is opened once, not once per
    folder beneath it. Descendants come before their ancestors, so a mode
    that closes a folder never blocks what lies in it.

    Raises:
        UnsafeOperation: a path leaves ``root`` or a link stands on the way
            or at the end.
    """
    root = Path(root)
    ordered = sorted(folders, key=lambda entry: entry[0].split("/"), reverse=True)
    stack: list[tuple[str, int]] = [("", os.open(root, _WALK_FLAGS & ~os.O_NOFOLLOW))]
    try:
        for relative, mode, mtime_ns in ordered:
            parts = relative.split("/")
            if not relative or ".." in parts or "" in parts:
                raise UnsafeOperation(
                    f"refusing to change the mode of {quoted(relative)}"
                )
            parent = "/".join(parts[:-1])
            while stack[-1][0] and not _leads_to(stack[-1][0], parent):
                os.close(stack.pop()[1])
            for name in parent[len(stack[-1][0]) :].strip("/").split("/"):
                if name:
                    below = _open_below(stack[-1][1], name, root / relative)
                    here = f"{stack[-1][0]}/{name}" if stack[-1][0] else name
                    stack.append((here, below))
            fd = stack[-1][1]
            if stat.S_ISLNK(os.lstat(parts[-1], dir_fd=fd).st_mode):
                raise UnsafeOperation(
                    f"refusing to change the mode of {root / relative}: it is a "
                    "symbolic link"
                )
            os.chmod(parts[-1], mode, dir_fd=fd)
            ns = (mtime_ns, mtime_ns)
            os.utime(parts[-1], ns=ns, dir_fd=fd, follow_symlinks=False)
    finally:
        for _, fd in stack:
            os.close(fd)


def _leads_to(folder: str, path: str) -> bool:
    """Tell whether ``folder`` is ``path`` or one of its parents (relative)."""
    return path == folder or path.startswith(f"{folder}/")


def _open_below(fd: int, name: str, path: Path) -> int:
    """Open the folder ``name`` of the folder ``fd``, refusing a link."""
    try:
        return os.open(name, _WALK_FLAGS, dir_fd=fd)
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        raise UnsafeOperation(
            f"refusing to change the mode of {path}: {name} on the way to it "
            "is a symbolic link or not a folder"
        ) from None


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
    message; a positive timeout waits that many seconds first.
    """
    import filelock

    lock_file = Path(lock_file)
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(lock_file))
    try:
        lock.acquire(timeout=timeout)
    except filelock.Timeout:
        raise LockedError(
            f"another backup, restore, reset or cleanup holds {lock_file}; "
            f"wait for it to finish before running {what}"
        ) from None
    log.debug("locked %s for %s", lock_file, what)
    try:
        yield
    finally:
        lock.release()


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
        raise UnsafeOperation(f"refusing to remove {quoted(name)}: not a plain name")
    if folder:
        os.rmdir(name, dir_fd=folder_fd)
    else:
        os.unlink(name, dir_fd=folder_fd)
