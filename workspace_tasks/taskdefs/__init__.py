"""doit task definitions: library functions with their file dependencies.

``load(root)`` finds the workspace and user once and returns doit's
configuration (state kept per user under ``runtime/state/<user>/``) and the
task creators of every family. The creators hold no logic of their own.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

from workspace_tasks.context import Workspace

FAMILIES = (
    "workspace_tasks.taskdefs.status",
    "workspace_tasks.taskdefs.config",
    "workspace_tasks.taskdefs.extensions",
    "workspace_tasks.taskdefs.backup",
    "workspace_tasks.taskdefs.health",
)


def reported(action: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a task action so a user's error fails the task in one line.

    A :class:`~workspace_tasks.errors.WorkspaceError` (an invalid layer, a
    missing file) or a file that cannot be read or written is printed as
    ``workspace: error: ...`` and the task fails without doit's traceback;
    any other exception is left to doit. An action returning False has
    printed its verdict: the task fails quietly.
    """

    @functools.wraps(action)
    def run(*args: Any, **kwargs: Any) -> Any:
        import os

        from doit.exceptions import TaskFailed

        from workspace_tasks import logsetup, output
        from workspace_tasks.errors import WorkspaceError

        try:
            result = action(*args, **kwargs)
        except WorkspaceError as exc:
            output.error(str(exc))
            # Printed above already: doit reports nothing more.
            return TaskFailed(str(exc), report=False)
        except OSError as exc:
            if logsetup.debug_enabled(os.environ):
                raise
            message = f"{exc.filename or 'a file'}: {exc.strerror or exc}"
            output.error(message)
            return TaskFailed(message, report=False)
        if result is False:
            return TaskFailed(f"{action.__name__} failed", report=False)
        return result

    return run


def guarded(creator: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a task creator so a user's error while doit loads tasks is one line.

    doit calls the creators for every command (``doit list`` too) and shows
    a traceback for whatever they raise: a
    :class:`~workspace_tasks.errors.WorkspaceError` (a layer that does not
    parse, an unknown workspace type) is printed as ``workspace: error:
    ...`` instead, and doit stops with the error's exit code.
    """

    @functools.wraps(creator)
    def create(*args: Any, **kwargs: Any) -> Any:
        from workspace_tasks.errors import WorkspaceError

        try:
            result = creator(*args, **kwargs)
        except WorkspaceError as exc:
            _stop(exc)
        if inspect.isgenerator(result):
            return _guarded_items(result)
        return result

    return create


def _guarded_items(items: Iterator[Any]) -> Iterator[Any]:
    from workspace_tasks.errors import WorkspaceError

    try:
        yield from items
    except WorkspaceError as exc:
        _stop(exc)


def _stop(exc: Exception) -> NoReturn:
    from workspace_tasks import output

    output.error(str(exc))
    raise SystemExit(getattr(exc, "exit_code", 1)) from None


def task_creators(ws: Workspace) -> dict[str, Callable[[], dict]]:
    """Return ``{"task_<name>": creator}`` for every family, bound to ``ws``.

    Each creator is marked for doit's delayed creation: ``doit health``
    creates the health tasks only, not every family's (scanning the
    extensions, reading the layers), while ``doit list`` still lists them
    all and a target given by its path still finds its task.
    """
    from doit import create_after

    creators: dict[str, Callable[[], dict]] = {}
    for name in FAMILIES:
        family = importlib.import_module(name).creators(ws)
        creators.update({task: guarded(make) for task, make in family.items()})
    for creator in creators.values():
        create_after(target_regex=".*")(creator)
    return creators


def doit_config(ws: Workspace) -> dict:
    """Return ``DOIT_CONFIG`` for ``ws``: per-user state, JSON backend.

    Raises:
        UnsafeOperation: the state folder or file leads out of the workspace.
        UsageError: a file or a broken link stands where the state folder
            belongs, or something other than a file where the state file is.
    """
    from workspace_tasks.runtime import ensure_user_dir

    ensure_user_dir(ws, ws.state_dir)
    _check_doit_state(ws)
    return {
        "dep_file": str(ws.doit_dep_file),
        "backend": "json",
        "default_tasks": ["status"],
        "verbosity": 2,
    }


def _check_doit_state(ws: Workspace) -> None:
    """Make sure doit can read and write its state file before it runs.

    A file that does not parse is set aside, saying so: it only records
    which tasks are up to date, so doit starts a new one and runs each task
    once more, where a corrupt one would stop every run. A missing file is
    created empty, and one that cannot be written is refused now, in one
    line, rather than by doit after the tasks ran.

    Raises:
        UsageError: the state file is not a file or cannot be written.
    """
    import time

    from workspace_tasks import output, safefs
    from workspace_tasks.errors import UsageError
    from workspace_tasks.runtime import check_inside

    path = check_inside(ws, ws.doit_dep_file)
    shown = path.relative_to(ws.root)
    why = _doit_state_problem(path, shown)
    if why == "":
        return
    if why is not None:
        stamp = time.strftime("%Y%m%d%H%M%S")
        aside = path.with_name(f"{path.name}.corrupt-{stamp}")
        safefs.rename(path, aside, ws.root)
        output.warn(
            f"{shown} was not valid doit state ({why}); moved it aside as "
            f"{aside.name}: doit starts a new one and runs every task once"
        )
    try:
        safefs.atomic_write(path, "{}", safefs.PRIVATE_FILE, root=ws.root)
    except OSError as exc:
        raise UsageError(
            f"{shown}: cannot be written ({exc.strerror or exc}); doit keeps "
            "its state there"
        ) from None


def _doit_state_problem(path: Path, shown: Path) -> str | None:
    """Return why doit's state file is unusable: "" when it is good, None if absent.

    Raises:
        UsageError: it is not a file, or cannot be opened for writing.
    """
    import json
    import os
    import stat

    from workspace_tasks.errors import UsageError

    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise UsageError(
                f"{shown} is not a file; move it away, doit keeps its state there"
            )
        data = json.loads(path.read_bytes())
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND))  # writable?
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UsageError(f"{shown}: {exc.strerror or exc}") from None
    except ValueError as exc:  # UnicodeDecodeError included
        return str(exc)
    return "" if isinstance(data, dict) else "not a JSON object"


def load(root: Path | None = None, user: str | None = None) -> tuple[dict, dict]:
    """Return ``(DOIT_CONFIG, tasks)`` for the workspace at or above ``root``.

    A problem found here (no workspace, an unknown user, a state folder that
    is a file or leads out of the workspace) is one ``workspace: error:``
    line and doit exits with its code, as the ``workspace`` command would.
    """
    import os

    from workspace_tasks import logsetup, output
    from workspace_tasks.edge import current_workspace
    from workspace_tasks.errors import EXIT_USAGE, WorkspaceError

    try:
        ws = current_workspace(str(root) if root else None, user, existing_user=True)
        logsetup.setup_stderr(os.environ)
        logsetup.attach_user_log(ws.log_file, root=ws.root)
        config = doit_config(ws)
    except WorkspaceError as exc:
        output.error(str(exc))
        raise SystemExit(exc.exit_code) from None
    except OSError as exc:
        if logsetup.debug_enabled(os.environ):
            raise
        output.error(f"{exc.filename or 'a file'}: {exc.strerror or exc}")
        raise SystemExit(EXIT_USAGE) from None
    return config, task_creators(ws)
