"""Extension status: every extension of the user and the shared ones validates.

Here validation means each ``*.j2`` template of the extension parses; the
problems carry the template's file and line.
"""

from __future__ import annotations

from workspace_tasks.context import EXTENSION_KINDS, Workspace
from workspace_tasks.health.model import ComponentResult, Finding
from workspace_tasks.health.repairs import conclude
from workspace_tasks.problems import Problem
from workspace_tasks.resolver import Extension, list_extensions

TEMPLATE_SUFFIX = ".j2"


def workspace_extensions(ws: Workspace) -> list[Extension]:
    """Return the user's and the shared extensions of every kind."""
    return [e for kind in EXTENSION_KINDS for e in list_extensions(ws, kind)]


def check_extensions(ws: Workspace, fix: bool = False) -> ComponentResult:
    """Validate each extension; nothing here is repaired automatically."""
    extensions = workspace_extensions(ws)
    result = ComponentResult(
        "extensions",
        figures={kind: 0 for kind in EXTENSION_KINDS},
        details={"invalid": []},
    )
    findings = []
    for extension in extensions:
        result.figures[extension.kind] += 1
        problems = _extension_problems(ws, extension)
        if problems:
            result.details["invalid"].append(f"{extension.kind}/{extension.name}")
        findings += [Finding(problem) for problem in problems]
    conclude(ws, result, findings, fix)
    if result.problems:
        result.recommendations.append(
            "Fix the extension templates named above, then run "
            "'workspace health check-extensions'"
        )
    return result


def _extension_problems(ws: Workspace, extension: Extension) -> list[Problem]:
    """Return the problems of one extension, as ``validate-extension`` finds them."""
    from workspace_tasks.validation import validate_found

    return validate_found(ws, extension)
