"""Runtime environment: the user's private areas, their settings and cache.

Each runtime folder of the user must exist, belong to the account running
the check and be private (0700): ``--fix-issues`` creates and ``chmod``s
them. Corrupted cache entries (see :mod:`workspace_tasks.health.survey` and
the README) are cleared: the cache only holds what can be fetched again.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from workspace_tasks import init, safefs
from workspace_tasks.context import Workspace
from workspace_tasks.health.model import ComponentResult, Finding
from workspace_tasks.health.repairs import Repair, conclude, relative
from workspace_tasks.health.survey import SIDECAR_SUFFIX, Survey, survey_workspace
from workspace_tasks.output import human_size
from workspace_tasks.problems import Problem

OWNER_ONLY = stat.S_IRWXU


def check_runtime(
    ws: Workspace, fix: bool = False, survey: Survey | None = None
) -> ComponentResult:
    """Check the user's runtime folders, settings and cache; repair when ``fix``."""
    findings = _folder_findings(ws) + _settings_findings(ws)
    result = ComponentResult("runtime")
    conclude(ws, result, findings, fix)

    # The cache is read after the folders are repaired, so it can be cleared.
    survey = survey or survey_workspace(ws)
    conclude(ws, result, _cache_findings(ws, survey), fix)
    _add_figures(result, survey)
    if not ws.settings_file.is_file():
        result.recommendations.append(
            f"Give {ws.user} a workspace here: "
            f"run 'workspace init --user-name {ws.user}'"
        )
    return result


def _folder_findings(ws: Workspace) -> list[Finding]:
    findings = []
    for folder in init.private_folders(ws):
        name = relative(ws, folder)
        try:
            info = folder.lstat()
        except FileNotFoundError:
            problem = Problem(f"Missing runtime folder {name}", severity="warning")
            repair = Repair(
                "create-folder",
                folder,
                f"Created runtime folder {name} (mode 0700)",
                mode=safefs.PRIVATE_DIR,
            )
            findings.append(Finding(problem, repair))
            continue
        findings += _access_findings(ws, folder, name, info)
    return findings


def _access_findings(
    ws: Workspace, folder: Path, name: str, info: os.stat_result
) -> list[Finding]:
    if stat.S_ISLNK(info.st_mode):
        return []  # a link to storage elsewhere: its target's business
    if not stat.S_ISDIR(info.st_mode):
        return [Finding(Problem(f"Runtime folder {name} is not a folder"))]
    if info.st_uid != os.getuid():
        message = f"Runtime folder {name} belongs to uid {info.st_uid}, not to you"
        return [Finding(Problem(message))]
    mode = stat.S_IMODE(info.st_mode)
    if mode == safefs.PRIVATE_DIR:
        return []
    usable = mode & OWNER_ONLY == OWNER_ONLY
    message = (
        f"Runtime folder {name} has mode {mode:04o}; it should be 0700 "
        f"(private to {ws.user})"
    )
    if not usable:
        message += " and you cannot write to it"
    repair = Repair(
        "make-private",
        folder,
        f"Set mode 0700 on {name} (was {mode:04o})",
        mode=safefs.PRIVATE_DIR,
    )
    severity = "warning" if usable else "error"
    return [Finding(Problem(message, severity=severity), repair)]


def _settings_findings(ws: Workspace) -> list[Finding]:
    if ws.settings_file.is_file():
        return []
    name = relative(ws, ws.settings_file)
    problem = Problem(f"Missing runtime settings {name}")
    planned = init.generated_file(ws, name)
    if planned is None:
        return [Finding(problem)]
    done = f"Created missing runtime settings {name} from the shipped template"
    repair = Repair("create-file", ws.settings_file, done, data=planned.data)
    return [Finding(problem, repair)]


def _cache_findings(ws: Workspace, survey: Survey) -> list[Finding]:
    findings = []
    for path, reason in survey.suspect_cache:
        findings.append(_cache_finding(ws, path, reason))
    for sidecar in survey.sidecars:
        entry = sidecar.with_name(sidecar.name[: -len(SIDECAR_SUFFIX)])
        reason = _sidecar_mismatch(entry, sidecar)
        if reason:
            findings.append(_cache_finding(ws, entry, reason, sidecar))
    return findings


def _cache_finding(
    ws: Workspace, path: Path, reason: str, sidecar: Path | None = None
) -> Finding:
    name = relative(ws, path)
    problem = Problem(f"Corrupted cache entry {name}: {reason}", severity="warning")
    also = str(sidecar) if sidecar else None
    repair = Repair("clear-cache", path, f"Cleared cache entry {name} ({reason})", also)
    return Finding(problem, repair)


def _sidecar_mismatch(entry: Path, sidecar: Path) -> str | None:
    if not entry.is_file() or entry.is_symlink():
        return "its checksum file has no entry"
    try:
        words = sidecar.read_text(encoding="ascii").split()
        expected = words[0].lower() if words else ""
        digest = hashlib.sha256()
        with entry.open("rb") as handle:
            while chunk := handle.read(1024 * 1024):
                digest.update(chunk)
    except (OSError, UnicodeDecodeError):
        return "its checksum cannot be read"
    if digest.hexdigest() != expected:
        return "checksum does not match"
    return None


def _add_figures(result: ComponentResult, survey: Survey) -> None:
    areas = survey.areas
    total = sum(usage.bytes for usage in areas.values())
    result.figures.update(
        disk_usage=human_size(total),
        cache_size=human_size(areas["cache"].bytes),
        log_size=human_size(areas["logs"].bytes),
        disk_usage_bytes=total,
        cache_size_bytes=areas["cache"].bytes,
        log_size_bytes=areas["logs"].bytes,
    )
    result.details["areas"] = {
        area: {"files": usage.files, "bytes": usage.bytes}
        for area, usage in areas.items()
    }
