"""The results of a health check: findings, component results, the report.

A component check turns what it saw into :class:`Finding` values, each a
problem and, when it can be repaired safely, the repair. Its
:class:`ComponentResult` keeps the problems left after repairs, the repairs
done and the component's own figures; :class:`HealthReport` gathers the
components under the shape of ``workspace health --report-format json``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from workspace_tasks import safefs
from workspace_tasks.context import Workspace
from workspace_tasks.errors import UsageError
from workspace_tasks.problems import Problem

log = logging.getLogger(__name__)

HEALTHY, WARNING, CRITICAL = "healthy", "warning", "critical"
STATUSES = (HEALTHY, WARNING, CRITICAL)
COMPONENTS = (
    "directories",
    "configuration",
    "runtime",
    "extensions",
    "resources",
    "integration",
)
REPORT_FILE = "health.json"


def now_stamp() -> str:
    """Return the current UTC time as the report writes it."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def worst(statuses: list[str]) -> str:
    """Return the most serious of ``statuses`` (healthy when empty)."""
    return max(statuses, key=STATUSES.index, default=HEALTHY)


def status_of(problems: list[Problem]) -> str:
    """Return critical for any error, warning for any warning, else healthy."""
    if any(p.severity == "error" for p in problems):
        return CRITICAL
    return WARNING if problems else HEALTHY


def issue_text(problem: Problem) -> str:
    """Return ``file:line:column: message`` (the severity is the status's)."""
    where = [str(p) for p in (problem.file, problem.line, problem.column) if p]
    return f"{':'.join(where)}: {problem.message}" if where else problem.message


@dataclass(frozen=True)
class Finding:
    """One problem seen by a check, and the repair that fixes it, if safe."""

    problem: Problem
    repair: Any = None  # a repairs.Repair, or None when it must be reported


@dataclass
class ComponentResult:
    """One component's verdict: problems left, repairs done, its figures."""

    name: str
    problems: list[Problem] = field(default_factory=list)
    auto_fixed: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    recommendations: list[str] = field(default_factory=list)
    checked_at: str = field(default_factory=now_stamp)

    @property
    def status(self) -> str:
        return status_of(self.problems)

    @property
    def issues(self) -> list[str]:
        return [issue_text(p) for p in self.problems]

    def to_dict(self, detailed: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "status": self.status,
            "issues": self.issues,
            "auto_fixed": list(self.auto_fixed),
            **self.figures,
            "checked_at": self.checked_at,
        }
        if detailed:
            data["problems"] = [p.to_dict() for p in self.problems]
            data["details"] = self.details
        return data

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> ComponentResult:
        """Rebuild a result saved by :meth:`to_dict` with ``detailed``."""
        known = {"status", "issues", "auto_fixed", "checked_at", "problems"}
        known |= {"details", "recommendations"}
        return cls(
            name=name,
            problems=[Problem(**p) for p in data.get("problems", [])],
            auto_fixed=list(data.get("auto_fixed", [])),
            figures={k: v for k, v in data.items() if k not in known},
            details=dict(data.get("details", {})),
            recommendations=list(data.get("recommendations", [])),
            checked_at=data.get("checked_at") or now_stamp(),
        )


@dataclass
class HealthReport:
    """The whole report: every component, the overall verdict, what to do."""

    user: str
    components: list[ComponentResult]
    timestamp: str = field(default_factory=now_stamp)
    detailed: bool = False

    @property
    def overall_status(self) -> str:
        return worst([c.status for c in self.components])

    @property
    def recommendations(self) -> list[str]:
        seen: dict[str, None] = {}
        for component in self.components:
            seen.update(dict.fromkeys(component.recommendations))
        return list(seen)

    @property
    def auto_fixed(self) -> list[str]:
        return [fix for c in self.components for fix in c.auto_fixed]

    def component(self, name: str) -> ComponentResult:
        """Return the result of component ``name``."""
        return next(c for c in self.components if c.name == name)

    def to_dict(self) -> dict[str, Any]:
        checks = {c.name: c.to_dict(self.detailed) for c in self.components}
        return {
            "workspace_health": {
                "user": self.user,
                "timestamp": self.timestamp,
                "overall_status": self.overall_status,
                "checks": checks,
                "recommendations": self.recommendations,
            }
        }


def report_path(ws: Workspace):
    """Return where the latest report of ``ws``'s user is kept."""
    return ws.state_dir / REPORT_FILE


def save_report(ws: Workspace, report: HealthReport) -> bool:
    """Write ``report`` to ``runtime/state/<user>/health.json``; True if written.

    Nothing is written while the user's state folder is missing: creating it
    here would give it the wrong mode; ``--fix-issues`` creates it properly.

    Raises:
        UnsafeOperation: the state folder leads out of the workspace.
        OSError: the report cannot be written there.
    """
    from workspace_tasks.runtime import check_inside

    check_inside(ws, ws.state_dir)
    if not ws.state_dir.is_dir():
        log.debug("no state folder %s; report not saved", ws.state_dir)
        return False
    text = json.dumps(report.to_dict(), indent=2) + "\n"
    safefs.atomic_write(report_path(ws), text, safefs.PRIVATE_FILE, root=ws.root)
    return True


def latest_report(ws: Workspace) -> dict[str, Any] | None:
    """Return the latest saved report's ``workspace_health`` part, if any.

    A report reached through a link leading out of the workspace is not the
    user's: it is ignored.
    """
    path = report_path(ws)
    if not safefs.resolves_within(path, ws.root):
        log.debug("%s leads outside the workspace; not read", path)
        return None
    try:
        data = json.loads(safefs.read_regular(path))
    except (OSError, ValueError, UsageError):
        return None
    body = data.get("workspace_health") if isinstance(data, dict) else None
    return body if isinstance(body, dict) else None


def health_summary(ws: Workspace) -> dict[str, Any] | None:
    """Return the latest report in short: verdict, time, issues, advice."""
    body = latest_report(ws)
    if body is None:
        return None
    checks = body.get("checks") if isinstance(body.get("checks"), dict) else {}
    issues = [
        f"[{name}] {issue}"
        for name, check in checks.items()
        if isinstance(check, dict)
        for issue in check.get("issues", [])
    ]
    return {
        "overall_status": body.get("overall_status"),
        "timestamp": body.get("timestamp"),
        "issues": issues,
        "recommendations": list(body.get("recommendations", [])),
    }
