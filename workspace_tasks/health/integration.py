"""Integration with the core: core root, core defaults, versions, generated tools.

The core root must exist and its defaults parse and resolve through the
path resolver; the workspace's marker must name the version of this tool
that made it; the library and task files ``init`` generated (the path
resolver, ``tasks.py``, ``dodo.py``) must be there, and are put back from the
shipped templates by ``--fix-issues``.
"""

from __future__ import annotations

import tomllib

from workspace_tasks import __version__, init, safefs
from workspace_tasks.context import Workspace
from workspace_tasks.errors import UsageError, WorkspaceError
from workspace_tasks.health.configuration import toml_syntax_problem
from workspace_tasks.health.model import ComponentResult, Finding
from workspace_tasks.health.repairs import Repair, conclude, relative
from workspace_tasks.problems import Problem
from workspace_tasks.resolver import resolve_path

GENERATED_TOOLS = ("lib/path_resolver.py", "tools/tasks.py", "tools/dodo.py")


def check_integration(ws: Workspace, fix: bool = False) -> ComponentResult:
    """Check the link to the core and the generated tools; restore those."""
    result = ComponentResult("integration")
    problems = _core_problems(ws)
    workspace_version, version_problems = _version_problems(ws)
    result.figures.update(
        core_root=str(ws.core_root),
        tool_version=__version__,
        workspace_version=workspace_version,
    )
    conclude(ws, result, [Finding(p) for p in problems + version_problems], False)
    conclude(ws, result, _tool_findings(ws), fix)
    if version_problems:
        result.recommendations.append(
            "Regenerate the workspace's generated files: run "
            f"'workspace init --user-name {ws.user} --overwrite'"
        )
    return result


def _core_problems(ws: Workspace) -> list[Problem]:
    if not ws.core_root.is_dir():
        return [
            Problem(f"Core root {ws.core_root} not found; check PROVISIONING_CORE_ROOT")
        ]
    try:
        tomllib.loads(safefs.read_regular_text(ws.core_defaults))
    except (OSError, UsageError) as exc:
        return [Problem(f"Core defaults {ws.core_defaults} cannot be read: {exc}")]
    except tomllib.TOMLDecodeError as exc:
        return [toml_syntax_problem(str(ws.core_defaults), str(exc))]
    try:
        resolve_path(ws, "config", ws.core_defaults.name, fallback_to_core=True)
    except WorkspaceError as exc:
        return [Problem(f"Core defaults do not resolve: {exc}")]
    return []


def _version_problems(ws: Workspace) -> tuple[str | None, list[Problem]]:
    name = relative(ws, ws.marker)
    try:
        marker = tomllib.loads(safefs.read_regular_text(ws.marker))
    except (OSError, UsageError) as exc:
        return None, [Problem(f"Workspace marker {name} cannot be read: {exc}")]
    except tomllib.TOMLDecodeError as exc:
        return None, [toml_syntax_problem(name, str(exc))]
    made_by = marker.get("workspace", {}).get("tool_version")
    if made_by == __version__:
        return made_by, []
    message = (
        f"Workspace made by workspace_tasks {made_by or 'of unknown version'}; "
        f"this is {__version__}"
    )
    return made_by, [Problem(message, file=name, severity="warning")]


def _tool_findings(ws: Workspace) -> list[Finding]:
    findings = []
    for relpath in GENERATED_TOOLS:
        path = ws.root / relpath
        if path.is_file() or path.is_symlink():
            continue
        problem = Problem(f"Missing generated file {relpath}", severity="warning")
        planned = init.generated_file(ws, relpath)
        if planned is None:
            findings.append(Finding(problem))
            continue
        done = f"Restored {relpath} from the shipped template"
        repair = Repair("create-file", path, done, data=planned.data, mode=planned.mode)
        findings.append(Finding(problem, repair))
    return findings
