"""``doit validate`` and ``doit test``: one sub-task per extension.

Each sub-task (``validate:providers/aws``) depends on that extension's
files, so after a change only the changed extension runs again. The list of
files is part of the up-to-date check too, so a file added or removed is
noticed; a new extension is a new sub-task, a deleted one simply goes.
A cluster's validation also depends on where its task services are found.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from workspace_tasks import output
from workspace_tasks.context import EXTENSION_KINDS, Workspace
from workspace_tasks.taskdefs import reported

if TYPE_CHECKING:
    from workspace_tasks.resolver import Extension


@reported
def validate_one(ws: Workspace, extension: Extension) -> bool:
    """Validate one extension; False fails the sub-task.

    Each problem is one line on standard error (``workspace: error:
    file:line:column: message``), which doit shows at its default
    verbosity, so a failing sub-task always says why.
    """
    from workspace_tasks.validation import validate_extension

    problems = validate_extension(ws, extension.kind, extension.name)
    for problem in problems:
        if problem.severity == "error":
            output.error(problem.located())
        else:
            output.warn(problem.located())
    return not any(problem.severity == "error" for problem in problems)


@reported
def run_suite(ws: Workspace, extension: Extension) -> bool:
    """Run one extension's tests; False fails the sub-task.

    A failing run shows pytest's report and one ``workspace: error:`` line
    with the counts on standard error, which doit shows at its default
    verbosity; a passing run prints its counts.
    """
    from workspace_tasks.testrun import run_tests

    run = run_tests(ws, extension)
    verdict = f"{extension.kind}/{extension.name}: {run.summary()}"
    if run.ok:
        output.print_line(verdict)
        return True
    output.note_block(run.output.rstrip("\n"))
    output.error(f"{verdict} (tests in {run.path}/tests)")
    return False


def _extensions(ws: Workspace) -> list[Extension]:
    from workspace_tasks.resolver import effective_extensions

    return [e for kind in EXTENSION_KINDS for e in effective_extensions(ws, kind)]


def _fingerprint(ws: Workspace, extension: Extension, files: list) -> dict:
    """Return what, beside file contents, decides whether a sub-task is current."""
    from workspace_tasks.manifest import load_manifest
    from workspace_tasks.validation import taskserv_finder

    found: dict = {
        "path": str(extension.path),
        "files": [str(path.relative_to(extension.path)) for path in files],
    }
    if extension.kind == "clusters":
        find = taskserv_finder(ws)
        try:
            names = load_manifest(extension.path).taskservs
        except Exception:  # a broken manifest is reported by the validation
            names = ()
        found["taskservs"] = {name: str(find(name)) for name in names}
    return found


def _scan(ws: Workspace) -> list[tuple[Extension, list, dict]]:
    """Return each extension with its files and fingerprint, read once."""
    from workspace_tasks.extension_files import list_files

    found = []
    for extension in _extensions(ws):
        files = list_files(extension.path)
        found.append((extension, files, _fingerprint(ws, extension, files)))
    return found


def _sub_tasks(
    ws: Workspace,
    scanned: list[tuple[Extension, list, dict]],
    action: Callable[[Workspace, Extension], bool],
    verb: str,
) -> Iterator[dict]:
    from doit.tools import config_changed

    yield {"name": None, "doc": f"{verb} every extension (one sub-task each)"}
    for extension, files, fingerprint in scanned:
        yield {
            "name": f"{extension.kind}/{extension.name}",
            "actions": [(action, [ws, extension])],
            "file_dep": [str(path) for path in files],
            "uptodate": [config_changed(fingerprint)],
            "doc": f"{verb} {extension.kind}/{extension.name} ({extension.origin})",
            "verbosity": 1,
        }


def creators(ws: Workspace) -> dict[str, Callable[[], Iterator[dict]]]:
    """Return the validate and test tasks bound to ``ws``."""
    # Both families walk the same extensions: scan them once per load.
    scanned: list[tuple[Extension, list, dict]] = []

    def scan() -> list[tuple[Extension, list, dict]]:
        if not scanned:
            scanned.extend(_scan(ws))
        return scanned

    def task_validate() -> Iterator[dict]:
        """Validate every extension: structure, KCL, templates, manifests, Python."""
        yield from _sub_tasks(ws, scan(), validate_one, "validate")

    def task_test() -> Iterator[dict]:
        """Run every extension's unit and integration tests."""
        yield from _sub_tasks(ws, scan(), run_suite, "test")

    return {"task_validate": task_validate, "task_test": task_test}
