"""``workspace runtime``: init, cleanup, logs, cache and monitor."""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
from pathlib import Path

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
from workspace_tasks.context import Workspace
from workspace_tasks.errors import UsageError
from workspace_tasks.text import quoted
from workspace_tasks.units import count_type


def register(commands: argparse._SubParsersAction, common) -> None:
    """Add ``runtime init|cleanup|logs|cache|monitor``."""
    runtime = commands.add_parser("runtime", help="manage the user's runtime data")
    verbs = runtime.add_subparsers(title="actions", metavar="ACTION", required=True)
    parents = [common.root, common.user, common.fmt]

    init = verbs.add_parser(
        "init", parents=parents, help="create (or with --force repair) your runtime"
    )
    init.add_argument(
        "--force", action="store_true", help="repair a broken tree, keeping data"
    )
    init.set_defaults(handler=run_init)

    cleanup = verbs.add_parser(
        "cleanup", parents=parents, help="remove runtime files older than an age"
    )
    cleanup.add_argument("--type", default="all", metavar="cache|logs|temp|all")
    cleanup.add_argument(
        "--age",
        metavar="AGE",
        help="remove what is older (s, m, h, d, w; default 30d, temp files "
        "[runtime] temp_max_age)",
    )
    cleanup.add_argument(
        "--rotate", action="store_true", help="also rotate oversized logs"
    )
    cleanup.add_argument("--force", action="store_true", help="do not ask first")
    cleanup.add_argument(
        "--dry-run", action="store_true", help="list what would go; change nothing"
    )
    cleanup.set_defaults(handler=run_cleanup)

    logs = verbs.add_parser("logs", parents=parents, help="tail, rotate, archive logs")
    logs.add_argument("--action", default="tail", metavar="tail|rotate|archive")
    logs.add_argument(
        "--lines",
        type=count_type("--lines"),
        metavar="N",
        help="the last N lines of each log (tail only; default 50)",
    )
    logs.add_argument(
        "--follow",
        action="store_true",
        help="keep printing new lines (with --format json: JSON lines only)",
    )
    logs.add_argument(
        "--older-than", metavar="AGE", help="archive rotated logs older (default 7d)"
    )
    logs.set_defaults(handler=run_logs)

    cache = verbs.add_parser("cache", parents=parents, help="cache statistics, upkeep")
    cache.add_argument(
        "--action", default="stats", metavar="stats|optimize|clear|refresh"
    )
    cache.add_argument("--type", metavar="providers|images|downloads")
    cache.add_argument(
        "--selective", action="store_true", help="refresh only entries past the TTL"
    )
    cache.add_argument(
        "--dry-run", action="store_true", help="list what would go; change nothing"
    )
    cache.add_argument("--force", action="store_true", help="do not ask first")
    cache.set_defaults(handler=run_cache)

    monitor = verbs.add_parser(
        "monitor",
        parents=[common.root, common.user],
        help="sample disk use and workspace processes",
    )
    monitor.add_argument(
        "--duration",
        metavar="AGE",
        help="how long to sample (default: one sample; with --interval alone, "
        "until interrupted)",
    )
    monitor.add_argument(
        "--interval", metavar="AGE", help="time between samples (default 30s)"
    )
    monitor.add_argument("--type", default="all", metavar="disk|processes|all")
    monitor.add_argument(
        "--format",
        choices=("text", "json"),
        help="text: a table per sample (live on a terminal); json: JSON lines "
        "(default: text on a terminal, json otherwise)",
    )
    monitor.set_defaults(handler=run_monitor)


def _locked_unless(
    dry_run: bool, ws: Workspace, what: str
) -> contextlib.AbstractContextManager[None]:
    """Hold the user's lock (shared with backup and restore) unless a dry run.

    A removal never races a backup or restore of the user; a dry run
    removes nothing, and changes nothing, not even the lock file.
    """
    if dry_run:
        return contextlib.nullcontext()
    from workspace_tasks.backup import locked

    return locked(ws, what)


def _choice(value: str, choices: tuple[str, ...], flag: str) -> str:
    if value not in choices:
        raise UsageError(f"{flag}: {quoted(value)} is not one of {', '.join(choices)}")
    return value


# init


def run_init(args: argparse.Namespace) -> int:
    from workspace_tasks.runtime import init_runtime

    ws = open_workspace(args, user_flag="--user-name", existing_user=False)
    result = init_runtime(ws, force=args.force)
    show(args, result, _print_init)
    if not result.unrepaired:
        return 0
    if result.force_would_help:
        output.note(
            f"Repair it, keeping your data: run 'workspace runtime init "
            f"--user-name {result.user} --force'"
        )
    if result.not_owned:
        output.note(
            "A folder owned by another account is never changed here: have "
            "its owner or an administrator give it back to you (chown)"
        )
    return 1


def _print_init(result) -> None:
    output.print_line(
        f"Runtime of {result.user}: {len(result.created)} folders created, "
        f"{len(result.files_created)} files created, "
        f"{len(result.repaired)} repaired"
    )
    for relpath in result.files_created:
        output.print_line(f"  created {relpath}")
    for problem in result.problems:
        output.print_line(f"  fixed: {problem}")
    for original, aside in result.moved_aside.items():
        output.print_line(f"  {original} was not a folder; kept as {aside}")
    for problem in result.unrepaired:
        output.print_line(f"  not repaired: {problem}")


# cleanup


def run_cleanup(args: argparse.Namespace) -> int:
    from workspace_tasks import logfiles, runtime
    from workspace_tasks.units import parse_age

    _choice(args.type, runtime.CLEANUP_TYPES, "--type")
    age = parse_age(args.age, "--age") if args.age is not None else None
    if args.rotate and args.type not in ("logs", "all"):
        raise UsageError("--rotate goes with --type logs or all")
    if not args.dry_run and not args.force:
        require_terminal("runtime cleanup")
    ws = open_workspace(args)
    with _locked_unless(args.dry_run, ws, "runtime cleanup"):
        plan = runtime.plan_runtime_cleanup(ws, args.type, age)
        spare_current_folder(plan)
        rotations = []
        if args.rotate:
            going = [item.path for item in plan.removals]
            rotations = logfiles.logs_to_rotate(ws, going)
        if args.dry_run:
            show(args, {**plan.to_dict(), "would_rotate": rotations}, print_plan)
            return 0
        if not args.force and not confirm(plan, rotations):
            output.note("Nothing removed.")
            return 0
        result = execute_with_progress(plan).to_dict()
        if args.rotate:
            planned = [Path(item["path"]) for item in rotations]
            report = logfiles.rotate_user_logs(ws, paths=planned)
            result["rotated"] = [r.to_dict() for r in report.rotations]
    show(args, result, print_result)
    return 0


# logs

LOG_ACTIONS = ("tail", "rotate", "archive")
DEFAULT_TAIL_LINES = 50


def run_logs(args: argparse.Namespace) -> int:
    from workspace_tasks import logfiles
    from workspace_tasks.units import parse_age

    action = _choice(args.action, LOG_ACTIONS, "--action")
    if args.follow and action != "tail":
        raise UsageError("--follow goes with --action tail")
    if args.lines is not None and action != "tail":
        raise UsageError("--lines goes with --action tail")
    if args.older_than is not None and action != "archive":
        raise UsageError("--older-than goes with --action archive")
    lines = DEFAULT_TAIL_LINES if args.lines is None else args.lines
    older_than = parse_age(
        "7d" if args.older_than is None else args.older_than, "--older-than"
    )
    ws = open_workspace(args)
    if action == "rotate":
        show(args, logfiles.rotate_user_logs(ws), _print_rotations)
    elif action == "archive":
        from workspace_tasks.backup import locked

        with locked(ws, "runtime logs --action archive"):
            archived = logfiles.archive_logs(ws, older_than)
        show(args, archived, _print_archive)
    elif args.follow and args.format == "json":
        # JSON lines only: each line shown so far, then each new one.
        for name, shown_lines in logfiles.tail_logs(ws, lines).files.items():
            for line in shown_lines:
                output.print_json_line({"file": name, "line": line})
        return _follow(args, ws)
    else:
        show(args, logfiles.tail_logs(ws, lines), _print_tail)
        if args.follow:
            return _follow(args, ws)
    return 0


def _print_tail(tail) -> None:
    for name, lines in tail.files.items():
        output.print_line(f"==> {name} <==")
        output.print_lines(lines)


def _follow(args: argparse.Namespace, ws) -> int:
    from workspace_tasks.logfiles import follow_logs

    try:
        for name, line in follow_logs(ws):
            if args.format == "json":
                output.print_json_line({"file": name, "line": line})
            else:
                output.print_line(f"{name}: {line}")
    except KeyboardInterrupt:
        return 0
    return 0


def _print_rotations(report) -> None:
    for rotation in report.rotations:
        held = f" (still written by {', '.join(rotation.held_by)})"
        output.print_line(
            f"rotated {rotation.path} ({output.human_size(rotation.size)}) "
            f"to {rotation.rotated_to.name}{held if rotation.held_by else ''}"
        )
    output.print_line(
        f"{len(report.rotations)} rotated, {len(report.below_threshold)} below "
        f"{output.human_size(report.max_bytes)}"
    )


def _print_archive(result) -> None:
    if result.archive is None:
        output.print_line("No rotated logs old enough to archive.")
        return
    output.print_line(
        f"Archived {len(result.files)} rotated logs into {result.archive}"
    )


# cache


def run_cache(args: argparse.Namespace) -> int:
    from workspace_tasks import cache

    action = _choice(args.action, cache.CACHE_ACTIONS, "--action")
    cache.chosen_types(args.type)
    if action == "stats":
        if args.selective or args.dry_run or args.force:
            raise UsageError(
                "--selective, --dry-run and --force go with the other actions"
            )
        ws = open_workspace(args)
        show(args, cache.cache_stats(ws, args.type), _print_stats)
        return 0
    if args.selective and action != "refresh":
        raise UsageError("--selective goes with --action refresh")
    if not args.dry_run and not args.force:
        require_terminal(f"runtime cache --action {action}")
    ws = open_workspace(args)
    with _locked_unless(args.dry_run, ws, f"runtime cache --action {action}"):
        plan = cache.plan_cache_action(ws, action, args.type, args.selective)
        spare_current_folder(plan)
        if args.dry_run:
            show(args, plan.to_dict(), print_plan)
            return 0
        if not args.force and not confirm(plan, []):
            output.note("Nothing removed.")
            return 0
        result = execute_with_progress(plan).to_dict()
    show(args, result, print_result)
    return 0


def _print_stats(stats) -> None:
    def age(seconds: float | None) -> str:
        if seconds is None:
            return "-"
        if seconds < 0:
            return "in the future"
        from workspace_tasks.cleanup import describe_age

        return describe_age(round(seconds))

    rows = [
        [
            row["type"],
            row["files"],
            output.human_size(row["bytes"]),
            age(row["oldest_age_seconds"]),
            age(row["newest_age_seconds"]),
            age(row["hit_age_seconds"]),
            row["expired"],
        ]
        for row in stats.to_dict()["types"]
    ]
    output.print_table(
        ["type", "files", "size", "oldest", "newest", "last hit", "expired"], rows
    )


# monitor


def run_monitor(args: argparse.Namespace) -> int:
    from workspace_tasks import monitor
    from workspace_tasks.units import parse_age

    kind = monitor.check_monitor_type(args.type)
    interval = parse_age(args.interval or "30s", "--interval")
    if interval <= 0:
        raise UsageError("--interval: must be more than 0s")
    if args.duration is not None:
        duration = parse_age(args.duration, "--duration")
    else:  # one sample, or with an interval of its own until interrupted
        duration = math.inf if args.interval is not None else 0.0
    fmt = args.format or ("text" if sys.stdout.isatty() else "json")
    ws = open_workspace(args)
    try:
        if fmt == "text" and sys.stdout.isatty():
            _monitor_live(ws, duration, interval, kind)
        else:
            show_sample = _print_sample_json if fmt == "json" else _print_sample_text
            monitor.run_monitor(ws, duration, interval, kind, show_sample)
    except KeyboardInterrupt:
        pass  # the way to end a run without a duration
    return 0


def _print_sample_json(sample) -> None:
    output.print_json_line(sample.to_dict())


def _print_sample_text(sample) -> None:
    output.print_table(
        ["what", "files / pid", "size / rss", "detail"],
        _sample_rows(sample),
        title=f"workspace monitor at {sample.time}",
    )
    output.print_line()


def _monitor_live(ws, duration: float, interval: float, kind: str) -> None:
    from rich.live import Live

    from workspace_tasks.monitor import run_monitor as sample_loop

    with Live(_sample_table(None), auto_refresh=False) as live:

        def update(sample) -> None:
            live.update(_sample_table(sample), refresh=True)

        sample_loop(ws, duration, interval, kind, update)


def _sample_rows(sample) -> list[list[str]]:
    """Return one sample as table rows: areas, free disk, processes."""
    rows = [
        [area, str(use["files"]), output.human_size(use["bytes"]), ""]
        for area, use in (sample.disk or {}).items()
    ]
    if sample.free_bytes is not None:
        rows.append(["free", "", output.human_size(sample.free_bytes), ""])
    for process in sample.processes or []:
        detail = f"{process.cpu_percent:.0f}% cpu, {process.reason}"
        rows.append(
            [process.name, str(process.pid), output.human_size(process.rss), detail]
        )
    return rows


def _sample_table(sample):
    from rich.table import Table
    from rich.text import Text

    table = Table(title="workspace monitor" + (f" at {sample.time}" if sample else ""))
    table.add_column("what")
    table.add_column("files / pid")
    table.add_column("size / rss")
    table.add_column("detail")
    if sample is None:
        return table
    for row in _sample_rows(sample):
        # A process's name and folder are anybody's text: shown, never markup.
        table.add_row(*(Text(output.shown(cell)) for cell in row))
    return table
