"""The ``workspace`` console script: parse, call the library, print the result.

Only this package and ``tasks.py`` print or exit; library errors become exit
codes here (0 ok, 1 a check found problems, 2 anything else that stopped the
command: bad input, a file or store that cannot be read or written; 70 an
error of the tool itself, which no check or input should cause).
"""

from __future__ import annotations

import logging
import os
import shlex
import sys

from workspace_tasks import output
from workspace_tasks.errors import EXIT_INTERNAL, EXIT_USAGE, WorkspaceError

log = logging.getLogger("workspace_tasks.cli")


def main(argv: list[str] | None = None) -> int:
    """Run the ``workspace`` command with ``argv``; return its exit code.

    Every command ends with a debug line naming it and its exit code, so
    the user's log file holds a line for each command that found the user,
    the first ``init`` of a user (which makes the log's folder) included.
    """
    from workspace_tasks import logsetup

    argv = sys.argv[1:] if argv is None else list(argv)
    logsetup.setup_stderr(os.environ)
    try:
        code = _run(argv)
        logsetup.attach_pending_logs()
        log.debug("workspace %s: exit code %d", shlex.join(argv), code)
        return code
    finally:
        logsetup.detach_user_logs()


def _run(argv: list[str]) -> int:
    """Parse ``argv`` and run its handler; turn errors into exit codes."""
    from workspace_tasks import logsetup
    from workspace_tasks.cli.parser import build_parser

    try:
        parser = build_parser(argv)
        args = parser.parse_args(argv)
        handler = getattr(args, "handler", None)
        if handler is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        return int(handler(args) or 0)
    except WorkspaceError as exc:
        output.error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        output.error("interrupted")
        return 130
    except BrokenPipeError:
        # The reader (e.g. `| head`) has gone: stop quietly, as cat does.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as exc:
        # A file the command had to read or write: name it, in one line.
        if logsetup.debug_enabled(os.environ):
            raise
        log.debug("file error", exc_info=True)
        where = exc.filename or "a file"
        output.error(f"{where}: {exc.strerror or exc}")
        return EXIT_USAGE
    except Exception as exc:
        if logsetup.debug_enabled(os.environ):
            raise
        log.debug("unexpected error", exc_info=True)
        output.error(
            f"unexpected {type(exc).__name__}: {exc} "
            "(set PROVISIONING_DEBUG=true to see where)"
        )
        return EXIT_INTERNAL
