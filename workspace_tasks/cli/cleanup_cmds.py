"""``workspace cleanup``: old backups, caches and logs, with a plan first."""

from __future__ import annotations

import argparse

from workspace_tasks import output
from workspace_tasks.cli.cleanup_view import (
    confirm,
    execute_with_progress,
    print_plan,
    print_result,
    require_terminal,
    spare_current_folder,
)
from workspace_tasks.cli.common import open_workspace, show


def register(commands: argparse._SubParsersAction, common) -> None:
    """Add the ``cleanup`` command."""
    cleanup = commands.add_parser(
        "cleanup",
        parents=[common.root, common.user, common.fmt],
        help="remove old backups, caches and logs of a user",
        description="Remove a user's backups past retention (old), cache files "
        "(cache), old logs (logs) or all of them. Nothing outside that user's "
        "runtime areas and backups folder is touched; links are not followed.",
    )
    cleanup.add_argument(
        "--type",
        default="old",
        metavar="old|cache|logs|all",
        help="what to clean (default: old)",
    )
    cleanup.add_argument(
        "--age",
        metavar="AGE",
        help="only what is older, e.g. 14d (units s, m, h, d, w)",
    )
    cleanup.add_argument(
        "--dry-run", action="store_true", help="list what would go; change nothing"
    )
    cleanup.add_argument("--force", action="store_true", help="do not ask first")
    cleanup.set_defaults(handler=run_cleanup)


def run_cleanup(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from workspace_tasks import backup
    from workspace_tasks.housekeeping import check_kind, plan_workspace_cleanup
    from workspace_tasks.units import parse_age

    check_kind(args.type)
    age = parse_age(args.age, "--age") if args.age is not None else None
    if not args.dry_run and not args.force:
        require_terminal("cleanup")
    ws = open_workspace(args, user_flag="--user-name")
    now = datetime.now(UTC)
    with backup.locked(ws, "cleanup"):
        plan = plan_workspace_cleanup(ws, args.type, age, now)
        spare_current_folder(plan)
        if args.dry_run:
            show(args, {**plan.to_dict(), "would_rotate": []}, print_plan)
            return 0
        if not args.force and not confirm(plan, []):
            output.note("Nothing removed.")
            return 0
        result = execute_with_progress(plan)
    show(args, result.to_dict(), print_result)
    return 0
