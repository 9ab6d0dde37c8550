"""The one hierarchy of errors; the command line maps them to exit codes.

Exit 1 means a check ran and found problems (:class:`ChecksFailed`); every
other error that stops a command (bad input, a file or a store that cannot
be read or written, a lock held elsewhere) is exit 2.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
# A fault of the tool itself (sysexits' EX_SOFTWARE): never "problems found".
EXIT_INTERNAL = 70


class WorkspaceError(Exception):
    """Base of every error the tool reports to a user without a traceback.

    Exit 2 unless a subclass (or ``exit_code``) says otherwise: only a check
    that found problems exits 1.
    """

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class UsageError(WorkspaceError):
    """Bad input: a flag, a name or a file the user can fix (exit 2)."""

    exit_code = EXIT_USAGE


class InvalidName(UsageError):
    """A user, infra or extension name that is not allowed."""


class NotFoundError(UsageError):
    """Something asked for does not exist where it was looked for."""


class FileSyntaxError(UsageError):
    """A file that does not parse, with its position."""

    def __init__(self, path: object, line: int, column: int, message: str) -> None:
        super().__init__(f"{path}:{line}:{column}: {message}")
        self.path = path
        self.line = line
        self.column = column
        self.detail = message


class UnreadableFile(UsageError):
    """A file that exists but cannot be read: a fifo, a folder, too large."""

    def __init__(self, path: object, detail: str) -> None:
        super().__init__(f"{path}: {detail}")
        self.path = path
        self.detail = detail


class UnsafeOperation(WorkspaceError):
    """An operation refused because it would leave the allowed root."""

    exit_code = EXIT_USAGE


class LockedError(WorkspaceError):
    """Another process holds the user's workspace lock (exit 2: not now)."""

    exit_code = EXIT_USAGE


class ChecksFailed(WorkspaceError):
    """A check ran and found problems (exit 1)."""

    exit_code = EXIT_PROBLEMS
