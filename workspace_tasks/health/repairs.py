"""Repairs of ``--fix-issues``: planned in full, checked, then carried out.

A check proposes one :class:`Repair` per problem it can fix safely. The plan
is checked as a whole before the first action (every path inside the
workspace, removals only of links or of cache entries), then each repair
runs through :mod:`workspace_tasks.safefs` or :func:`rotate_log`. A repair
that fails leaves its problem reported, with the reason.
"""

from __future__ import annotations

import dataclasses
import logging
import stat
from dataclasses import dataclass
from pathlib import Path

from workspace_tasks import safefs
from workspace_tasks.context import Workspace
from workspace_tasks.errors import UnsafeOperation
from workspace_tasks.health.model import ComponentResult, Finding
from workspace_tasks.logfiles import rotate_log
from workspace_tasks.problems import Problem

log = logging.getLogger(__name__)

FIX_COMMAND = "Repair what can be repaired: run 'workspace health --fix-issues'"


@dataclass(frozen=True)
class Repair:
    """One planned repair: what to do to which path, and how to say it is done."""

    action: str  # create-folder, create-file, relink, remove-link, make-private,
    # clear-cache, rotate-log
    path: Path
    done: str
    target: str | None = None
    data: bytes | None = None
    mode: int | None = None
    keep: int = 5


def relative(ws: Workspace, path: Path) -> str:
    """Return ``path`` relative to the workspace root when it lies inside."""
    try:
        return str(Path(path).relative_to(ws.root))
    except ValueError:
        return str(path)


def check_plan(ws: Workspace, plan: list[Repair]) -> None:
    """Refuse the whole plan if one repair would leave its allowed place.

    Raises:
        UnsafeOperation: a path outside the workspace, a cache entry outside
            the user's cache, or a removal of something that is not a link.
    """
    for repair in plan:
        safefs.check_within(repair.path, ws.root)
        if repair.action == "clear-cache":
            safefs.check_within(repair.path, ws.cache_dir)
            if repair.target:
                safefs.check_within(Path(repair.target), ws.cache_dir)
        if repair.action == "remove-link" and not repair.path.is_symlink():
            raise UnsafeOperation(f"refusing to remove {repair.path}: not a link")


def apply_plan(ws: Workspace, plan: list[Repair]) -> dict[Repair, str | None]:
    """Carry out ``plan`` in order; return each repair's error (None when done)."""
    outcome: dict[Repair, str | None] = {}
    for repair in plan:
        try:
            _apply(ws, repair)
        except (OSError, UnsafeOperation) as exc:
            # A path that changed since the plan was checked: left undone.
            outcome[repair] = getattr(exc, "strerror", None) or str(exc)
            log.warning("could not repair %s: %s", repair.path, outcome[repair])
            continue
        outcome[repair] = None
        log.info("%s", repair.done)
    return outcome


def _apply(ws: Workspace, repair: Repair) -> None:
    path = repair.path
    if repair.action == "create-folder":
        safefs.check_within(path, ws.root)
        safefs.ensure_dir(path, repair.mode)
    elif repair.action == "create-file":
        if path.exists() or path.is_symlink():
            raise FileExistsError(17, "something appeared there meanwhile")
        safefs.atomic_write(path, repair.data or b"", repair.mode, root=ws.root)
    elif repair.action == "relink":
        safefs.check_within(path, ws.root)
        safefs.atomic_symlink(path, repair.target or "")
    elif repair.action == "remove-link":
        safefs.remove_path(path, ws.root)
    elif repair.action == "make-private":
        safefs.set_mode(path, repair.mode or safefs.PRIVATE_DIR, ws.root)
    elif repair.action == "clear-cache":
        # The entry, then its checksum file (``target``) if it has one.
        for entry in (path, Path(repair.target) if repair.target else None):
            if entry is not None and _is_file(entry):
                safefs.remove_path(entry, ws.cache_dir)
    elif repair.action == "rotate-log":
        rotate_log(path, None, repair.keep, root=ws.logs_dir)
    else:
        raise ValueError(f"unknown repair {repair.action!r}")


def _is_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except FileNotFoundError:
        return False


def conclude(
    ws: Workspace,
    result: ComponentResult,
    findings: list[Finding],
    fix: bool,
) -> ComponentResult:
    """Repair what ``findings`` allow when ``fix``; fill ``result``'s problems.

    Without ``fix`` every finding stays a problem, and the ones a repair
    exists for add the recommendation to run ``--fix-issues``.
    """
    wanted = [f.repair for f in findings if f.repair is not None] if fix else []
    plan, refused = _split_plan(ws, wanted)
    check_plan(ws, plan)
    outcome = apply_plan(ws, plan)
    for finding in findings:
        repair = finding.repair
        if repair is not None and repair in refused:
            kept = f"{finding.problem.message} (not repaired: {refused[repair]})"
            result.problems.append(_reworded(finding.problem, kept))
        elif repair is not None and repair in outcome and outcome[repair] is None:
            result.auto_fixed.append(repair.done)
        elif repair is not None and repair in outcome:
            failed = f"{finding.problem.message} (repair failed: {outcome[repair]})"
            result.problems.append(_reworded(finding.problem, failed))
        else:
            result.problems.append(finding.problem)
    if not fix and any(f.repair is not None for f in findings):
        result.recommendations.append(FIX_COMMAND)
    return result


def _split_plan(
    ws: Workspace, wanted: list[Repair]
) -> tuple[list[Repair], dict[Repair, str]]:
    """Keep the repairs that stay in their place; say why the others do not.

    A repair reached through a link out of the workspace is left undone and
    its problem reported, so the rest of the plan and the report go ahead.
    """
    plan: list[Repair] = []
    refused: dict[Repair, str] = {}
    for repair in wanted:
        try:
            check_plan(ws, [repair])
        except UnsafeOperation as exc:
            outside = not safefs.is_within(repair.path, ws.root)
            refused[repair] = "it leads outside the workspace" if outside else str(exc)
            log.debug("not repairing %s: %s", repair.path, refused[repair])
            continue
        plan.append(repair)
    return plan, refused


def _reworded(problem: Problem, message: str) -> Problem:
    return dataclasses.replace(problem, message=message)
