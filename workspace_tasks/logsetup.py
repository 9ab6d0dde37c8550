"""Configure logging: standard error for the user, a debug file per user.

``PROVISIONING_DEBUG=true`` or ``PROVISIONING_LOG_LEVEL=debug`` turn on
debug messages on standard error; the user's log file
``runtime/logs/<user>/provisioning.log`` receives everything at debug.
"""

from __future__ import annotations

import logging
import logging.handlers
from collections.abc import Mapping
from pathlib import Path

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


def setup_stderr(environ: Mapping[str, str]) -> logging.Logger:
    """Attach the standard-error handler to the package logger (once)."""
    logger = logging.getLogger(LOGGER)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    for handler in logger.handlers:
        if getattr(handler, "_workspace_stderr", False):
            handler.setLevel(stderr_level(environ))
            return logger
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("workspace: %(levelname)s: %(message)s"))
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
        self._pending: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if self._rotating:
            self._pending.append(record)
            return
        super().emit(record)

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
        pending, self._pending = self._pending, []
        for record in pending:
            self.emit(record)


def attach_user_log(
    log_file: Path,
    max_bytes: int = DEFAULT_MAX_BYTES,
    backup_count: int = DEFAULT_BACKUPS,
) -> logging.Handler | None:
    """Send everything at debug to the user's log file, rotated by size.

    Nothing is attached when the user's log folder does not exist yet
    (before ``workspace init``).
    """
    logger = logging.getLogger(LOGGER)
    for handler in logger.handlers:
        if getattr(handler, "_workspace_file", None) == str(log_file):
            return handler
    if not log_file.parent.is_dir():
        return None
    handler = UserLogHandler(
        log_file, maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.setLevel(logging.DEBUG)
    handler._workspace_file = str(log_file)  # type: ignore[attr-defined]
    logger.addHandler(handler)
    return handler


def detach_user_logs() -> None:
    """Close and remove the user log handlers (used between commands in tests)."""
    logger = logging.getLogger(LOGGER)
    for handler in list(logger.handlers):
        if getattr(handler, "_workspace_file", None):
            logger.removeHandler(handler)
            handler.close()
