"""Directory structure: the folders ``init`` makes, links, runaway depth.

Missing folders are created again (as ``init`` makes them). A broken
symbolic link left by a move of the whole workspace is pointed back at the
same place inside it (found by the target's trailing path); any other broken
link, one whose target moved within the workspace included, is removed, as
is a link that loops. Links are read, never followed. Only the shared areas
and the checking user's own are judged: another user's links are theirs.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

from workspace_tasks import init, safefs
from workspace_tasks.context import Workspace, area_name
from workspace_tasks.health.model import ComponentResult, Finding
from workspace_tasks.health.repairs import Repair, conclude, relative
from workspace_tasks.health.survey import MAX_DEPTH, Survey, survey_workspace
from workspace_tasks.problems import Problem


def check_directories(
    ws: Workspace, fix: bool = False, survey: Survey | None = None
) -> ComponentResult:
    """Check the workspace's folders and links; repair them when ``fix``.

    The user's private runtime folders are the runtime component's part.
    What lies in another user's areas is that user's to check and repair:
    it is neither reported nor touched here.
    """
    survey = survey or survey_workspace(ws)
    theirs = _other_users_areas(ws)
    folders = _shared_folders(ws)
    findings = _link_findings(ws, [p for p in survey.symlinks if not theirs(p)])
    findings += _folder_findings(ws, folders)
    findings += [
        Finding(Problem(f"Folder tree deeper than {MAX_DEPTH} levels at "
                        f"{relative(ws, p)}; not inspected below", severity="warning"))
        for p in survey.too_deep
        if not theirs(p)
    ]  # fmt: skip
    findings += [
        Finding(Problem(f"Cannot list folder {relative(ws, p)}", severity="warning"))
        for p in survey.unlisted
        if not theirs(p)
    ]
    result = ComponentResult(
        "directories",
        figures={"folders_checked": len(folders), "symlinks": len(survey.symlinks)},
        details={"folders": [relative(ws, p) for p in folders]},
    )
    return conclude(ws, result, findings, fix)


def _other_users_areas(ws: Workspace) -> Callable[[Path], bool]:
    """Return a test telling whether a path lies in another user's areas."""
    others = set(ws.known_users()) - {ws.user}

    def theirs(path: Path) -> bool:
        try:
            parts = Path(path).relative_to(ws.root).parts
        except ValueError:
            return False
        return area_name(parts) in others

    return theirs


def _shared_folders(ws: Workspace) -> list[Path]:
    private = set(init.private_folders(ws))
    return [p for p in init.expected_folders(ws) if p not in private]


def _folder_findings(ws: Workspace, folders: list[Path]) -> list[Finding]:
    findings = []
    for folder in folders:
        name = relative(ws, folder)
        if folder.is_symlink() or folder.is_dir():
            continue  # a link in a folder's place is judged as a link
        if folder.exists():
            problem = Problem(f"{name} should be a folder but is a file")
            findings.append(Finding(problem))
            continue
        problem = Problem(f"Missing folder {name}", severity="warning")
        findings.append(
            Finding(problem, Repair("create-folder", folder, f"Created folder {name}"))
        )
    return findings


def _link_findings(ws: Workspace, links: list[Path]) -> list[Finding]:
    findings = []
    for link in links:
        try:
            os.stat(link)
            continue  # it resolves: not ours to judge where it points
        except OSError as exc:
            looping = exc.errno == errno.ELOOP
        except ValueError:
            looping = False
        findings.append(_broken_link(ws, link, looping))
    return findings


def _broken_link(ws: Workspace, link: Path, looping: bool) -> Finding:
    name = relative(ws, link)
    try:
        target = os.readlink(link)
    except OSError:
        target = "?"
    if looping:
        problem = Problem(f"Symlink loop at {name} -> {target}", severity="warning")
        done = f"Removed looping symlink {name} (-> {target})"
        return Finding(problem, Repair("remove-link", link, done))
    problem = Problem(f"Broken symlink {name} -> {target}", severity="warning")
    found = _find_target(ws, link, target)
    if found is None:
        done = f"Removed broken symlink {name} (-> {target}, not found)"
        return Finding(problem, Repair("remove-link", link, done))
    new_target = os.path.relpath(found, link.parent)
    done = f"Relinked {name} -> {new_target} (was -> {target})"
    return Finding(problem, Repair("relink", link, done, target=new_target))


def _find_target(ws: Workspace, link: Path, target: str) -> Path | None:
    """Find the link's lost target in the workspace by its trailing path parts.

    An absolute link into the workspace's old place (``/old/ws/infra/x``)
    finds ``infra/x`` here. At least two parts must match, so that a bare
    file name never picks an unrelated file.
    """
    parts = [p for p in Path(os.path.normpath(link.parent / target)).parts if p]
    parts = [p for p in parts if p not in ("/", "..", ".")]
    root = os.path.realpath(ws.root)
    for start in range(len(parts) - 1):
        candidate = ws.root.joinpath(*parts[start:])
        if link.is_relative_to(candidate) or not candidate.exists():
            continue  # never the link itself or a folder holding it
        real = os.path.realpath(candidate)
        if real != os.path.realpath(link) and safefs.is_within(Path(real), Path(root)):
            return candidate
    return None
