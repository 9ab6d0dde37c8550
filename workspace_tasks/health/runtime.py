"""Runtime environment: the user's private areas, their settings and cache.

Each runtime folder of the user must exist, belong to the account running
the check and be private (0700): ``--fix-issues`` creates and ``chmod``s
them. A file in a runtime folder's place, or a runtime folder leading out
of the workspace, is critical: it is left alone and nothing beneath it is
read or repaired. Leftovers of interrupted backups and restores are warned
about, never deleted here. Corrupted cache entries (see
:mod:`workspace_tasks.health.survey` and the README) are cleared: the cache
only holds what can be fetched again.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from workspace_tasks import init, safefs
from workspace_tasks.context import RESTORE_STAGING_PREFIX, Workspace
from workspace_tasks.errors import UnsafeOperation, UsageError
from workspace_tasks.health.model import ComponentResult, Finding
from workspace_tasks.health.repairs import Repair, conclude, relative
from workspace_tasks.health.survey import SIDECAR_SUFFIX, Survey, survey_workspace
from workspace_tasks.measure import tree_size
from workspace_tasks.output import human_size
from workspace_tasks.problems import Problem
from workspace_tasks.runtime import check_inside

OWNER_ONLY = stat.S_IRWXU
SPOOL_SUFFIX = ".members"


def check_runtime(
    ws: Workspace, fix: bool = False, survey: Survey | None = None
) -> ComponentResult:
    """Check the user's runtime folders, settings and cache; repair when ``fix``."""
    findings, blocked = _folder_findings(ws)
    findings += _settings_findings(ws, blocked)
    result = ComponentResult("runtime")
    conclude(ws, result, findings, fix)

    # The cache is read after the folders are repaired, so it can be cleared.
    survey = survey or survey_workspace(ws)
    conclude(ws, result, _cache_findings(ws, survey, blocked), fix)
    left = _leftover_findings(ws, blocked)
    conclude(ws, result, left, fix)
    if left:
        result.recommendations.append(
            "Clear leftovers of interrupted backups and restores: run the next "
            "'workspace backup' or 'workspace restore', or remove them"
        )
    _add_figures(result, survey)
    if blocked:
        result.recommendations.append(
            "Move aside what stands where a runtime folder belongs: run "
            f"'workspace runtime init --user-name {ws.user} --force'"
        )
    return result


def _is_below(path: Path, blocked: list[Path]) -> bool:
    """Tell whether ``path`` is one of ``blocked`` or lies beneath one."""
    return any(path == top or top in path.parents for top in blocked)


def _folder_findings(ws: Workspace) -> tuple[list[Finding], list[Path]]:
    """Return the folders' findings and the folders not to look beneath.

    A file where a folder belongs, or a link leading out of the workspace,
    is reported and what lies beneath it is neither read nor repaired.
    """
    findings: list[Finding] = []
    blocked: list[Path] = []
    for folder in init.private_folders(ws):
        if _is_below(folder, blocked):
            continue
        name = relative(ws, folder)
        try:
            check_inside(ws, folder)
        except UnsafeOperation:
            message = (
                f"Runtime folder {name} leads outside the workspace "
                f"(to {os.path.realpath(folder)}); not followed"
            )
            findings.append(Finding(Problem(message)))
            blocked.append(folder)
            continue
        try:
            info = folder.lstat()
        except NotADirectoryError:
            blocked.append(folder)  # beneath a file, reported by directories
            continue
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
        barrier = _barrier(ws, folder, name, info)
        if barrier is not None:
            findings.append(barrier)
            blocked.append(folder)
            continue
        findings += _access_findings(ws, folder, name, info)
    return findings, blocked


def _barrier(
    ws: Workspace, folder: Path, name: str, info: os.stat_result
) -> Finding | None:
    """Return the finding of a file or outside link where a folder belongs."""
    if stat.S_ISLNK(info.st_mode):
        if folder.is_dir():
            return None  # a link to storage in the workspace: its target's
        return Finding(Problem(f"Runtime folder {name} is a link to no folder"))
    if not stat.S_ISDIR(info.st_mode):
        return Finding(Problem(f"A file stands where a folder belongs: {name}"))
    return None


def _access_findings(
    ws: Workspace, folder: Path, name: str, info: os.stat_result
) -> list[Finding]:
    if stat.S_ISLNK(info.st_mode):
        return []  # a link to storage elsewhere: its target's business
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


def _settings_findings(ws: Workspace, blocked: list[Path]) -> list[Finding]:
    if _is_below(ws.settings_file, blocked) or ws.settings_file.is_file():
        return []
    name = relative(ws, ws.settings_file)
    problem = Problem(f"Missing runtime settings {name}")
    planned = init.generated_file(ws, name)
    if planned is None:
        return [Finding(problem)]
    done = f"Created missing runtime settings {name} from the shipped template"
    repair = Repair("create-file", ws.settings_file, done, data=planned.data)
    return [Finding(problem, repair)]


def _cache_findings(
    ws: Workspace, survey: Survey, blocked: list[Path]
) -> list[Finding]:
    findings = []
    for path, reason in survey.suspect_cache:
        if not _is_below(path, blocked):
            findings.append(_cache_finding(ws, path, reason))
    for sidecar in survey.sidecars:
        if _is_below(sidecar, blocked):
            continue
        entry = sidecar.with_name(sidecar.name[: -len(SIDECAR_SUFFIX)])
        if not entry.is_file() or entry.is_symlink():
            # The checksum file is what is there: it is named and removed.
            reason = f"a checksum file without its entry {entry.name}"
            findings.append(_cache_finding(ws, sidecar, reason))
            continue
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


def leftovers(ws: Workspace, blocked: list[Path]) -> list[Path]:
    """Return what killed backups and restores left behind, hidden.

    The spool and temporary files of a backup in ``runtime/data/<user>/
    backups`` and the staging folders of a restore at the workspace's top.
    """
    found = sorted(ws.root.glob(f"{RESTORE_STAGING_PREFIX}*"))
    if not _is_below(ws.backups_dir, blocked) and ws.backups_dir.is_dir():
        found += sorted(
            p
            for p in ws.backups_dir.glob(".*")
            if ".tmp" in p.name or p.name.endswith(SPOOL_SUFFIX)
        )
    return found


def _leftover_findings(ws: Workspace, blocked: list[Path]) -> list[Finding]:
    findings = []
    for path in leftovers(ws, blocked):
        size = tree_size(path).bytes if _is_folder(path) else path.lstat().st_size
        what = "restore" if path.name.startswith(RESTORE_STAGING_PREFIX) else "backup"
        advice = f"the next {what} clears it, or remove it"
        why = safefs.why_untrusted(path)
        if why:  # the next backup or restore leaves it alone
            advice = f"it {why}: check it and remove it"
        message = (
            f"Leftover of an interrupted {what} {relative(ws, path)} "
            f"({human_size(size)}); {advice}"
        )
        findings.append(Finding(Problem(message, severity="warning")))
    return findings


def _is_folder(path: Path) -> bool:
    try:
        return stat.S_ISDIR(path.lstat().st_mode)
    except OSError:
        return False


def _sidecar_mismatch(entry: Path, sidecar: Path) -> str | None:
    try:
        words = safefs.read_regular(sidecar, limit=4096).decode("ascii").split()
        expected = words[0].lower() if words else ""
        digest = hashlib.sha256()
        with entry.open("rb") as handle:
            while chunk := handle.read(1024 * 1024):
                digest.update(chunk)
    except (OSError, UnicodeDecodeError, UsageError):
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
