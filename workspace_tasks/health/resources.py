"""Resource usage: free disk, memory, and the cache and logs against thresholds.

The thresholds come from the configuration's ``[health]`` table
(``cache_warning_size``, ``log_warning_size``, ``min_free_disk``). A log file
larger than ``log_warning_size`` is rotated by ``--fix-issues`` (keeping
``logging.max_files`` compressed copies); a large cache is only recommended
for cleaning, since what it holds is the user's to judge.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Any

from workspace_tasks import settings
from workspace_tasks.context import Workspace
from workspace_tasks.errors import UsageError
from workspace_tasks.health.model import ComponentResult, Finding
from workspace_tasks.health.repairs import Repair, conclude, relative
from workspace_tasks.health.survey import Survey, survey_workspace
from workspace_tasks.logfiles import is_rotated
from workspace_tasks.measure import tree_size
from workspace_tasks.output import human_size
from workspace_tasks.problems import Problem
from workspace_tasks.units import parse_size

FALLBACK = {
    "cache_warning_size": "400MB",
    "log_warning_size": "100MB",
    "min_free_disk": "1GB",
}
DEFAULT_KEEP = 5


@dataclass(frozen=True)
class Limits:
    """The thresholds in bytes, and how many rotated logs to keep."""

    cache_warning: int
    log_warning: int
    min_free_disk: int
    keep_logs: int


def check_resources(
    ws: Workspace, fix: bool = False, survey: Survey | None = None
) -> ComponentResult:
    """Measure disk, memory, cache and logs; rotate oversized logs when ``fix``."""
    limits, problems = read_limits(ws)
    survey = survey or survey_workspace(ws)
    free = shutil.disk_usage(ws.root).free
    result = ComponentResult("resources", problems=problems)
    findings = _log_findings(ws, survey, limits)
    if free < limits.min_free_disk:
        message = (
            f"Only {human_size(free)} free on the workspace's file system "
            f"(below {human_size(limits.min_free_disk)})"
        )
        findings.append(Finding(Problem(message, severity="warning")))
    conclude(ws, result, findings, fix)

    cache = survey.areas["cache"].bytes
    logs = survey.areas["logs"].bytes
    if result.auto_fixed:  # logs were rotated: measure them again
        logs = tree_size(ws.logs_dir).bytes
    result.figures.update(_figures(free, cache, logs))
    result.details["thresholds"] = {
        "cache_warning_size": limits.cache_warning,
        "log_warning_size": limits.log_warning,
        "min_free_disk": limits.min_free_disk,
    }
    result.recommendations += _recommendations(limits, cache, logs, findings, fix)
    return result


def read_limits(ws: Workspace) -> tuple[Limits, list[Problem]]:
    """Return the thresholds of ``ws``'s configuration and any bad value in it.

    A configuration that does not load (its problem is the configuration
    check's) or a value that is not a size falls back to the shipped
    default, with a warning saying so: the check still runs.
    """
    problems = []
    try:
        config = settings.effective_config(ws)
    except (UsageError, OSError) as exc:
        config = {}
        problems.append(
            Problem(
                f"The configuration does not load ({_one_line(exc)}); the default "
                "thresholds are used",
                severity="warning",
            )
        )
    health = config.get("health", {}) if isinstance(config.get("health"), dict) else {}
    sizes = {}
    for key, fallback in FALLBACK.items():
        try:
            sizes[key] = parse_size(health.get(key, fallback), f"health.{key}")
        except UsageError as exc:
            problems.append(Problem(f"{exc}; using {fallback}", severity="warning"))
            sizes[key] = parse_size(fallback)
    keep = _keep_logs(config)
    limits = Limits(
        sizes["cache_warning_size"],
        sizes["log_warning_size"],
        sizes["min_free_disk"],
        keep,
    )
    return limits, problems


def _one_line(exc: Exception) -> str:
    """Return the first problem an error names (a cascade may name several)."""
    if isinstance(exc, OSError):
        return f"{exc.filename or 'a file'}: {exc.strerror or exc}"
    return str(exc).split("\n", 1)[0]


def _keep_logs(config: dict[str, Any]) -> int:
    logging_table = config.get("logging")
    value = logging_table.get("max_files") if isinstance(logging_table, dict) else None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    return DEFAULT_KEEP


def _memory_available() -> int | None:
    """Return the memory available to new work, in bytes, as psutil reports it."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except (ImportError, OSError):
        return None


def _figures(free: int, cache: int, logs: int) -> dict[str, Any]:
    memory = _memory_available()
    return {
        "free_disk": human_size(free),
        "free_disk_bytes": free,
        "memory_available": None if memory is None else human_size(memory),
        "memory_available_bytes": memory,
        "cache_size": human_size(cache),
        "cache_size_bytes": cache,
        "log_size": human_size(logs),
        "log_size_bytes": logs,
    }


def _log_findings(ws: Workspace, survey: Survey, limits: Limits) -> list[Finding]:
    findings = []
    for path, size in survey.logs:
        if size <= limits.log_warning or is_rotated(path):
            continue
        name = relative(ws, path)
        message = (
            f"Log file {name} is {human_size(size)}, over the "
            f"{human_size(limits.log_warning)} warning size"
        )
        done = f"Rotated {name} ({human_size(size)}) to {path.name}.1.gz"
        repair = Repair("rotate-log", path, done, keep=limits.keep_logs)
        findings.append(Finding(Problem(message, severity="warning"), repair))
    return findings


def _recommendations(
    limits: Limits, cache: int, logs: int, findings: list[Finding], fix: bool
) -> list[str]:
    advice = []
    if cache > limits.cache_warning:
        advice.append(
            f"Consider cleaning cache (>{human_size(limits.cache_warning)}): "
            "run 'workspace cleanup --type cache'"
        )
    oversized = any(f.repair is not None for f in findings)
    if oversized and not fix:
        advice.append(
            f"Rotate logs (>{human_size(limits.log_warning)}): "
            "run 'workspace health --fix-issues'"
        )
    elif logs > limits.log_warning and not oversized:
        advice.append(
            f"Clean old logs (>{human_size(limits.log_warning)} in all): "
            "run 'workspace cleanup --type old --age 14d'"
        )
    return advice
