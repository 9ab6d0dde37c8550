"""Configure logging: standard error for the user, a debug file per user.

``PROVISIONING_DEBUG=true`` or ``PROVISIONING_LOG_LEVEL=debug`` turn on
debug messages on standard error; the user's log file
``runtime/logs/<user>/provisioning.log`` receives everything at debug.

The user's log file is best effort: when it cannot be opened or written
(a read-only file system, a full disk) the command goes on without it and
says so once on standard error. It is never opened through a link leading
out of the workspace.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import logging.handlers
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

LOGGER = "workspace_tasks"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_BACKUPS = 5
_TRUE = {"1", "true", "yes", "on"}


def debug_enabled(environ: Mapping[str, str]) -> bool:
    """Tell whether the environment asks for debug output."""
    if environ.get("PROVISIONING_DEBUG", "").strip().lower() in _TRUE:
        return True
    return environ.get("PROVISIONING_LOG_LEVEL", "").strip().lower() == "debug"


def stderr_level(environ: Mapping[str, str]) -> int:
    """Return the level for standard error from the environment."""
    if debug_enabled(environ):
        return logging.DEBUG
    name = environ.get("PROVISIONING_LOG_LEVEL", "").strip().upper()
    level = logging.getLevelName(name) if name else logging.WARNING
    return level if isinstance(level, int) else logging.WARNING


class StandardErrorHandler(logging.StreamHandler):
    """Write each record to ``sys.stderr`` as it is when the record comes.

    The handler outlives one command when several run in one process, and
    a caller may replace ``sys.stderr`` meanwhile (to capture it): records
    then go where the command's other messages go, never to a stale stream.
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        """Ignore a stream set by the base class: the current one is used."""


class TerminalFormatter(logging.Formatter):
    """Format a record for standard error: one line, controls escaped.

    Paths and names in a message are shown as the output module shows them
    (a traceback added in debug keeps its own lines).
    """

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802
        from workspace_tasks.output import shown

        return shown(super().formatMessage(record))


def setup_stderr(environ: Mapping[str, str]) -> logging.Logger:
    """Attach the standard-error handler to the package logger (once)."""
    logger = logging.getLogger(LOGGER)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    for handler in logger.handlers:
        if getattr(handler, "_workspace_stderr", False):
            handler.setLevel(stderr_level(environ))
            return logger
    handler = StandardErrorHandler()
    handler.setFormatter(TerminalFormatter("workspace: %(levelname)s: %(message)s"))
    handler.setLevel(stderr_level(environ))
    handler._workspace_stderr = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    return logger


class UserLogHandler(logging.handlers.RotatingFileHandler):
    """A size-rotated log whose rotations are numbered and compressed.

    The rollover is :func:`workspace_tasks.logfiles.rotate_log`, the same as
    ``workspace runtime logs --action rotate``: ``provisioning.log.1.gz`` is
    the newest rotation and other processes writing the log lose no line.
    Records logged while the rotation runs are written once it is done.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._rotating = False
        self._failed = False
        self._pending: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if self._failed:
            return
        if self._rotating:
            self._pending.append(record)
            return
        super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802
        """Give up the file after its first failure, warning once."""
        if self._failed:
            return
        self._failed = True
        error = sys.exc_info()[1]
        with contextlib.suppress(OSError):
            if self.stream:
                self.stream.close()
        self.stream = None  # type: ignore[assignment]
        _warn_once(self.baseFilename, error)

    def doRollover(self) -> None:  # noqa: N802 (the logging module's name)
        from workspace_tasks.logfiles import rotate_log

        if self.stream:
            self.stream.close()
            self.stream = None  # type: ignore[assignment]
        self._rotating = True
        try:
            rotate_log(Path(self.baseFilename), None, max(self.backupCount, 1))
        finally:
            self._rotating = False
        if not self.delay:
            self.stream = self._open()
        # The rotation's own records go into the new log as they are: checking
        # them for a rollover again would rotate for ever on a tiny max_size.
        pending, self._pending = self._pending, []
        for record in pending:
            if not self._failed:
                logging.FileHandler.emit(self, record)


def _warn_once(log_file: object, error: object) -> None:
    """Say on standard error (only) that the user's log file is not written."""
    for handler in logging.getLogger(LOGGER).handlers:
        if getattr(handler, "_workspace_stderr", False):
            record = logging.LogRecord(
                __name__,
                logging.WARNING,
                __file__,
                0,
                "cannot write the log file %s (%s); going on without it",
                (log_file, error),
                None,
            )
            handler.handle(record)


def attach_user_log(
    log_file: Path,
    max_bytes: int = DEFAULT_MAX_BYTES,
    backup_count: int = DEFAULT_BACKUPS,
    *,
    root: Path | None = None,
) -> logging.Handler | None:
    """Send everything at debug to the user's log file, rotated by size.

    Nothing is attached when the file or a folder on its way is a link
    leading out of ``root`` (the workspace), or when the file cannot be
    opened: the log is never a reason for a command to fail. While the
    user's log folder does not exist yet (before ``workspace init``), the
    records are kept, for :func:`attach_pending_logs` to write once the
    command has made the folder.
    """
    logger = logging.getLogger(LOGGER)
    for handler in logger.handlers:
        if getattr(handler, "_workspace_file", None) == str(log_file):
            return handler
    if not log_file.parent.is_dir():
        # Missing before init is quiet; a file in a folder's place is not.
        blocker = _not_a_folder(log_file.parent)
        if blocker is not None:
            _warn_once(log_file, f"{blocker} is not a folder")
        else:
            _keep_pending(logger, log_file, max_bytes, backup_count, root)
        return None
    if root is not None and not _stays_inside(log_file, root):
        logger.debug("not logging to %s: it leads outside %s", log_file, root)
        return None
    try:
        # A path with a byte that is not UTF-8 is logged as those bytes.
        handler = UserLogHandler(
            log_file,
            maxBytes=max_bytes,
            backupCount=backup_count,
            encoding="utf-8",
            errors="surrogateescape",
        )
    except OSError as exc:
        _warn_once(log_file, exc)
        return None
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.setLevel(logging.DEBUG)
    handler._workspace_file = str(log_file)  # type: ignore[attr-defined]
    logger.addHandler(handler)
    return handler


class PendingUserLog(logging.Handler):
    """Keep a command's records until its user's log folder exists.

    ``init`` (or ``runtime init``, or a restore) makes the folder the log
    goes into: what the command logged before is written there after it,
    so its first run is in the log like any other.
    """

    MAX_RECORDS = 10_000

    def __init__(
        self, log_file: Path, max_bytes: int, backup_count: int, root: Path | None
    ) -> None:
        super().__init__(logging.DEBUG)
        self.log_file = log_file
        self.limits = (max_bytes, backup_count)
        self.root = root
        self.records: collections.deque[logging.LogRecord] = collections.deque(
            maxlen=self.MAX_RECORDS
        )
        self._workspace_pending = str(log_file)

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _keep_pending(
    logger: logging.Logger,
    log_file: Path,
    max_bytes: int,
    backup_count: int,
    root: Path | None,
) -> None:
    for handler in logger.handlers:
        if getattr(handler, "_workspace_pending", None) == str(log_file):
            return
    logger.addHandler(PendingUserLog(log_file, max_bytes, backup_count, root))


def attach_pending_logs() -> None:
    """Open the user logs whose folder the command made; write what was kept.

    A log whose folder still does not exist is dropped with its records.
    """
    logger = logging.getLogger(LOGGER)
    for pending in [h for h in logger.handlers if isinstance(h, PendingUserLog)]:
        logger.removeHandler(pending)
        if not pending.log_file.parent.is_dir():
            continue
        handler = attach_user_log(pending.log_file, *pending.limits, root=pending.root)
        if handler is not None:
            for record in pending.records:
                handler.handle(record)


def _not_a_folder(folder: Path) -> Path | None:
    """Return the nearest existing path at or above ``folder`` if not a folder."""
    for path in (folder, *folder.parents):
        if os.path.lexists(path):
            return None if os.path.isdir(path) else path
    return None


def _stays_inside(log_file: Path, root: Path) -> bool:
    from workspace_tasks.safefs import resolves_within

    return resolves_within(log_file, root)


def detach_user_logs() -> None:
    """Close and remove the user log handlers (used between commands in tests)."""
    logger = logging.getLogger(LOGGER)
    for handler in list(logger.handlers):
        if getattr(handler, "_workspace_file", None) or isinstance(
            handler, PendingUserLog
        ):
            logger.removeHandler(handler)
            handler.close()
