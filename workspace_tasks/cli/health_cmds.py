"""``workspace health`` and its component checks; ``resolve check-health`` & co.

Exit 0 when healthy, 1 on a warning or a critical finding, 2 on bad input.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from workspace_tasks import output
from workspace_tasks.cli.common import open_workspace
from workspace_tasks.context import Workspace
from workspace_tasks.errors import UnsafeOperation

if TYPE_CHECKING:
    from workspace_tasks.health import HealthReport

CHECK_COMMANDS = {
    "check-directories": "directories",
    "check-config": "configuration",
    "check-runtime": "runtime",
    "check-extensions": "extensions",
    "check-resources": "resources",
    "check-integration": "integration",
}


def _report_flags(parser: argparse.ArgumentParser, nested: bool) -> None:
    # On a component command the flags default to "not given", so that
    # ``health --root DIR check-config`` keeps what was said before it.
    default = argparse.SUPPRESS if nested else None
    if nested:
        parser.add_argument(
            "--root", metavar="DIR", default=default, help="the workspace folder"
        )
        parser.add_argument(
            "--workspace-user",
            "--user-name",
            dest="user",
            metavar="USER",
            default=default,
            help="the workspace user",
        )
    parser.add_argument(
        "--detailed",
        action="store_true",
        default=default if nested else False,
        help="add each component's details and figures",
    )
    parser.add_argument(
        "--fix-issues",
        action="store_true",
        default=default if nested else False,
        help="repair what can be repaired safely; list it under auto_fixed",
    )
    parser.add_argument(
        "--report-format",
        "--format",
        dest="format",
        choices=("text", "json"),
        default=default if nested else "text",
        help="json: only the report, as JSON, on standard output",
    )


def register(commands: argparse._SubParsersAction, common) -> None:
    """Add ``health`` with its component checks."""
    health = commands.add_parser(
        "health",
        parents=[common.root, common.user],
        help="check the workspace's health; repair it with --fix-issues",
        description="Check directories, configuration, runtime, extensions, "
        "resources and integration with the core. Exit 0 when healthy, 1 on a "
        "warning or a critical finding. The report is kept in "
        "runtime/state/<user>/health.json.",
    )
    _report_flags(health, nested=False)
    health.set_defaults(handler=run_health, component=None)
    checks = health.add_subparsers(title="component checks", metavar="CHECK")
    for command, component in CHECK_COMMANDS.items():
        check = checks.add_parser(command, help=f"check the {component} component only")
        _report_flags(check, nested=True)
        check.set_defaults(handler=run_health, component=component)


def register_resolve(verbs: argparse._SubParsersAction, common) -> None:
    """Add ``resolve check-health``, ``validate-paths`` and ``check-runtime``."""
    check_health = verbs.add_parser(
        "check-health",
        parents=[common.root, common.user, common.fmt],
        help="the whole health report (as 'workspace health')",
    )
    check_health.add_argument("--fix-issues", action="store_true")
    check_health.add_argument("--detailed", action="store_true")
    check_health.set_defaults(handler=run_health, component=None)

    validate = verbs.add_parser(
        "validate-paths",
        parents=[common.root, common.user, common.fmt],
        help="check the folders and links path resolution relies on",
    )
    validate.add_argument(
        "--repair-broken",
        dest="fix_issues",
        action="store_true",
        help="create missing folders, relink or remove broken links",
    )
    validate.set_defaults(handler=run_health, component="directories", detailed=False)

    runtime = verbs.add_parser(
        "check-runtime",
        parents=[common.root, common.user, common.fmt],
        help="check the user's runtime folders, settings and cache",
    )
    runtime.add_argument("--fix-issues", action="store_true")
    runtime.set_defaults(handler=run_health, component="runtime", detailed=False)


def run_health(args: argparse.Namespace) -> int:
    from workspace_tasks import health

    ws = open_workspace(args)
    unsaved = None
    if args.component is None:
        report = health.check_workspace_health(
            ws, fix_issues=args.fix_issues, detailed=args.detailed
        )
        unsaved = _save(ws, report)
    else:
        # One component is a report of its own, with only that component.
        result = health.check_component(ws, args.component, args.fix_issues)
        report = health.HealthReport(ws.user, [result], detailed=args.detailed)
    body = report.to_dict()["workspace_health"]
    if args.format == "json":
        output.print_json({"workspace_health": body})
    elif args.component is None:
        _print_report(body, args.detailed)
    else:
        _print_component(args.component, body, args.detailed)
    if unsaved:
        output.warn(unsaved)
    return 0 if report.overall_status == "healthy" else 1


def _save(ws: Workspace, report: HealthReport) -> str | None:
    """Keep the report in the user's state folder; return why not, if it failed."""
    from workspace_tasks.health.model import report_path, save_report

    try:
        save_report(ws, report)
    except UnsafeOperation as exc:
        return f"the report was not saved: {exc}"
    except OSError as exc:
        where = report_path(ws).relative_to(ws.root)
        return f"the report was not saved to {where}: {exc.strerror or exc}"
    return None


def _print_report(body: dict[str, Any], detailed: bool) -> None:
    output.print_line(
        f"Health of {body['user']}'s workspace: {body['overall_status']} "
        f"(checked {body['timestamp']})"
    )
    checks = body["checks"]
    output.print_table(
        ["component", "status", "issues", "fixed"],
        [
            [name, c["status"], len(c["issues"]), len(c["auto_fixed"])]
            for name, c in checks.items()
        ],
    )
    if detailed:
        for name, check in checks.items():
            output.print_line(f"{name}: {_figures(check)}")
    _print_list(
        "Issues", [f"[{n}] {i}" for n, c in checks.items() for i in c["issues"]]
    )
    fixed = [f"[{n}] {f}" for n, c in checks.items() for f in c["auto_fixed"]]
    _print_list("Fixed", fixed)
    _print_list("Recommendations", body["recommendations"])


def _print_component(name: str, body: dict[str, Any], detailed: bool) -> None:
    check = body["checks"][name]
    output.print_line(f"{name}: {check['status']}")
    if detailed:
        output.print_line(f"  {_figures(check)}")
    _print_list("Issues", check["issues"])
    _print_list("Fixed", check["auto_fixed"])
    _print_list("Recommendations", body["recommendations"])


FIGURE_SKIP = {"status", "issues", "auto_fixed", "problems", "details"}
FIGURE_SKIP |= {"recommendations", "checked_at"}


def _figures(check: dict[str, Any]) -> str:
    shown = [
        f"{key} {value}"
        for key, value in check.items()
        if key not in FIGURE_SKIP and not key.endswith("_bytes")
    ]
    return ", ".join(shown) or "-"


def _print_list(title: str, lines: list[str]) -> None:
    if not lines:
        return
    output.print_line(f"{title}:")
    output.print_lines(f"  {line}" for line in lines)
