"""``workspace backup``, ``workspace restore`` and ``workspace reset``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from workspace_tasks import output
from workspace_tasks.cli.cleanup_view import require_terminal
from workspace_tasks.cli.common import open_workspace, show
from workspace_tasks.context import Workspace
from workspace_tasks.errors import UsageError


def register(commands: argparse._SubParsersAction, common) -> None:
    """Add the backup, restore and reset commands."""
    _register_backup(commands, common)
    _register_restore(commands, common)
    _register_reset(commands, common)


def _register_backup(commands: argparse._SubParsersAction, common) -> None:
    backup = commands.add_parser(
        "backup",
        parents=[common.root, common.user, common.fmt],
        help="back up your workspace into one archive",
        description="Write a backup of your workspace: a tar with a JSON manifest "
        "first, optionally compressed (zstd or gzip) and encrypted with age.",
    )
    naming = backup.add_mutually_exclusive_group()
    naming.add_argument("--name", metavar="NAME", help="the backup's name")
    naming.add_argument(
        "--auto-name",
        action="store_true",
        help="name it workspace-<user>-<YYYYmmdd_HHMMSS> (the default)",
    )
    backup.add_argument(
        "--components",
        metavar="LIST",
        default="config,extensions,infra,runtime",
        help="comma-separated: config, extensions, infra, runtime, logs, cache, "
        "shared (the team's defaults, shared extensions and infra) "
        "(default: config,extensions,infra,runtime)",
    )
    backup.add_argument("--include-logs", action="store_true", help="add your logs")
    backup.add_argument("--include-cache", action="store_true", help="add your cache")
    backup.add_argument(
        "--compress",
        nargs="?",
        const="",
        choices=("", "zstd", "gzip"),
        metavar="zstd|gzip",
        help="compress the archive (alone: [backup] compress of the config, zstd)",
    )
    backup.add_argument(
        "--encrypt",
        action="store_true",
        help="encrypt with age to [backup] recipients, else to the passphrase "
        "in $PROVISIONING_BACKUP_PASSPHRASE",
    )
    backup.add_argument(
        "--remote", metavar="URL", help="also upload to s3://bucket/prefix or file://"
    )
    backup.add_argument(
        "--force", action="store_true", help="replace a backup of the same name"
    )
    backup.set_defaults(handler=run_backup)


def _register_restore(commands: argparse._SubParsersAction, common) -> None:
    restore = commands.add_parser(
        "restore",
        parents=[common.root, common.user, common.fmt],
        help="list, inspect or restore backups",
        description="List backups, show one's contents, or restore one. Every "
        "member is checked before anything is written; local files newer than "
        "the backup need --merge (keep them) or --overwrite (replace them).",
    )
    mode = restore.add_mutually_exclusive_group()
    mode.add_argument("--list-backups", action="store_true", help="list backups")
    mode.add_argument(
        "--show-contents", action="store_true", help="list what a backup holds"
    )
    restore.add_argument(
        "--detailed", action="store_true", help="with --list-backups: read manifests"
    )
    source = restore.add_mutually_exclusive_group()
    source.add_argument("--backup-name", metavar="NAME", help="the backup to use")
    source.add_argument(
        "--backup-file", metavar="PATH", help="an archive given by path (ours or a tar)"
    )
    source.add_argument("--latest", action="store_true", help="the newest backup")
    source.add_argument(
        "--latest-known-good",
        action="store_true",
        help="the newest backup whose checksums all verify",
    )
    restore.add_argument(
        "--selective", action="store_true", help="choose components on a terminal"
    )
    restore.add_argument(
        "--components",
        metavar="LIST",
        help="restore only these components (default: all the backup holds)",
    )
    restore.add_argument(
        "--restore-to", metavar="USER", help="restore into another user's areas"
    )
    resolve = restore.add_mutually_exclusive_group()
    resolve.add_argument(
        "--merge", action="store_true", help="keep local files newer than the backup"
    )
    resolve.add_argument(
        "--overwrite", action="store_true", help="replace local files newer than it"
    )
    restore.add_argument(
        "--dry-run", action="store_true", help="print the plan, change nothing"
    )
    restore.add_argument(
        "--verify", action="store_true", help="check every checksum before restoring"
    )
    restore.add_argument(
        "--remote", metavar="URL", help="use the backups stored at this URL"
    )
    restore.set_defaults(handler=run_restore)


def _register_reset(commands: argparse._SubParsersAction, common) -> None:
    reset = commands.add_parser(
        "reset",
        parents=[common.root, common.user, common.fmt],
        help="reset your areas of the workspace to fresh ones",
        description="Remove your config, extensions, infrastructure and runtime "
        "areas (never your backups or other users' areas) and create them again.",
    )
    reset.add_argument(
        "--backup-first",
        action="store_true",
        help="make and verify a backup before removing anything",
    )
    reset.add_argument(
        "--keep-config", action="store_true", help="keep config/<user>.toml"
    )
    reset.add_argument(
        "--force", action="store_true", help="do not ask for confirmation"
    )
    reset.add_argument(
        "--no-backup", action="store_true", help="reset without a backup (with --force)"
    )
    reset.add_argument(
        "--dry-run", action="store_true", help="print what would be removed"
    )
    reset.set_defaults(handler=run_reset)


def _open_leniently(args: argparse.Namespace, **how: bool) -> Workspace:
    """Open the workspace reading settings without its broken config layers.

    Backup, restore and reset are how a broken workspace is repaired (the
    spec's recovery starts with a backup of it): a layer that does not
    parse is left out with a one-line warning naming it, instead of
    stopping them.
    """
    from workspace_tasks.settings import without_broken_layers

    ws, warnings = without_broken_layers(open_workspace(args, **how))
    for warning in warnings:
        output.warn(warning)
    return ws


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """Yield a progress callback on a terminal, None elsewhere."""
    if not output.stderr_is_terminal():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


# backup


def run_backup(args: argparse.Namespace) -> int:
    from workspace_tasks.backup import (
        BackupOptions,
        configured_compression,
        create_backup,
        parse_components,
    )

    ws = _open_leniently(args)
    compression = "none"
    if args.compress is not None:
        compression = args.compress or configured_compression(ws, "zstd")
    options = BackupOptions(
        name=args.name,
        components=parse_components(args.components),
        include_logs=args.include_logs,
        include_cache=args.include_cache,
        compression=compression,
        encrypt=args.encrypt,
        remote=args.remote,
        force=args.force,
    )
    with _progress("backing up") as progress:
        result = create_backup(ws, options, progress=progress)
    show(args, result, _print_backup)
    return 0


def _print_backup(result) -> None:
    output.print_line(
        f"Backup {result.name}: {result.files} files, "
        f"{output.human_size(result.bytes)} -> {output.human_size(result.size)} "
        f"({result.compression}{', encrypted' if result.encrypted else ''})"
    )
    output.print_line(f"  {result.path}")
    if result.remote_url:
        output.print_line(f"  uploaded and verified: {result.remote_url}")
    for path in result.replaced:
        output.print_line(f"  replaced {path}")
    for path in result.skipped:
        output.warn(f"skipped {path}: not a file, folder or link")
    for warning in result.warnings:
        output.warn(warning)
    _print_cleaned(result.cleaned)


def _print_cleaned(names: list[str]) -> None:
    for name in names:
        output.note(f"removed {name}, left by an interrupted backup or restore")


# restore


def run_restore(args: argparse.Namespace) -> int:
    # A restore may bring back areas the user lost, or move them to a new
    # workspace: the user need not have any yet.
    ws = _open_leniently(args, existing_user=False)
    if args.detailed and not args.list_backups:
        raise UsageError("--detailed goes with --list-backups")
    if args.remote is not None:
        from workspace_tasks import remote

        remote.check_url(args.remote)
    if args.list_backups:
        _refuse_with_listing(args)
        return _list(args, ws)
    info = _pick_backup(args, ws)
    if args.show_contents:
        return _show_contents(args, ws, info)
    return _restore(args, ws, info)


def _refuse_with_listing(args: argparse.Namespace) -> None:
    flags = {
        "--backup-name": args.backup_name,
        "--backup-file": args.backup_file,
        "--latest": args.latest,
        "--latest-known-good": args.latest_known_good,
        "--selective": args.selective,
        "--components": args.components,
        "--restore-to": args.restore_to,
        "--merge": args.merge,
        "--overwrite": args.overwrite,
        "--dry-run": args.dry_run,
        "--verify": args.verify,
    }
    used = [flag for flag, value in flags.items() if value]
    if used:
        raise UsageError(f"{used[0]} does not go with --list-backups")


def _list(args: argparse.Namespace, ws) -> int:
    from workspace_tasks.backup import describe, list_backups

    infos = list_backups(ws, args.remote)
    if args.detailed:
        describe(ws, infos)
    show(args, [i.to_dict() for i in infos], _print_listing)
    return 0


def _print_listing(rows: list[dict]) -> None:
    if not rows:
        output.print_line("No backups yet; make one with 'workspace backup'")
        return
    columns = ["name", "created", "size", "compression", "encrypted"]
    detailed = any("files" in row for row in rows)
    if detailed:
        columns += ["files", "bytes", "components"]
    table = []
    for row in rows:
        cells = [
            row["name"],
            row["created"][:19].replace("T", " "),
            output.human_size(row["size"]),
            row["compression"],
            "yes" if row["encrypted"] else "no",
        ]
        if detailed:
            cells += [
                row.get("files", "?"),
                output.human_size(row["bytes"]) if "bytes" in row else "?",
                ",".join(row.get("components", [])) or "?",
            ]
        table.append(cells)
    output.print_table(columns, table)


def _pick_backup(args: argparse.Namespace, ws):
    from workspace_tasks import backup

    if args.backup_file:
        if args.remote:
            raise UsageError("--backup-file names a local file; drop --remote")
        return backup.backup_from_file(args.backup_file)
    if args.backup_name:
        return backup.find_backup(ws, args.backup_name, args.remote)
    if args.latest_known_good:
        return backup.latest_known_good(ws, args.remote)
    if args.latest:
        found = backup.list_backups(ws, args.remote)
        if not found:
            raise UsageError(
                f"--latest: no backups in {args.remote or backup.backups_dir(ws)}"
            )
        return found[0]
    raise UsageError(
        "say which backup: --backup-name NAME, --backup-file PATH, --latest or "
        "--latest-known-good (see --list-backups)"
    )


def _show_contents(args: argparse.Namespace, ws, info) -> int:
    from workspace_tasks.backup import read_manifest

    manifest = read_manifest(ws, info)
    if manifest is None:
        raise UsageError(f"{info.location} has no manifest; list it with 'tar -tf'")
    show(args, manifest, _print_manifest)
    return 0


def _print_manifest(manifest) -> None:
    output.print_line(
        f"Backup {manifest.name} of {manifest.user} ({manifest.workspace_type}), "
        f"made {manifest.created} by version {manifest.tool_version}"
    )
    output.print_line(f"Components: {', '.join(manifest.components)}")
    output.print_table(
        ["type", "mode", "size", "path"],
        [
            [
                e.type,
                oct(e.mode)[2:],
                e.size if e.type == "file" else "",
                e.path + (f" -> {e.target}" if e.target else ""),
            ]
            for e in manifest.entries
        ],
    )


def _restore(args: argparse.Namespace, ws, info) -> int:
    from workspace_tasks.backup import parse_components
    from workspace_tasks.restore import RestoreOptions, restore_backup

    components = None
    if args.components is not None:
        components = parse_components(args.components)
    if args.selective:
        if components is not None:
            raise UsageError(
                "--selective asks on a terminal; --components already chose: use one"
            )
        components = _ask_components(ws, info)
    options = RestoreOptions(
        components=components,
        restore_to=args.restore_to,
        merge=args.merge,
        overwrite=args.overwrite,
        dry_run=args.dry_run,
        verify=args.verify,
    )
    with _progress("restoring") as progress:
        result = restore_backup(ws, info, options, progress)
    source = result.plan.source_user
    if args.restore_to is None and source not in (None, ws.user):
        output.warn(
            f"backup {info.name} belongs to user {source!r}, not to {ws.user!r}: "
            f"its files go to the areas of {ws.user}, the user name in its "
            "configs rewritten"
        )
    show(args, result, _print_restore)
    return 0


def _ask_components(ws, info) -> tuple[str, ...]:
    from workspace_tasks.backup import read_manifest

    if not sys.stdin.isatty():
        raise UsageError(
            "--selective asks on a terminal; in scripts use "
            "--components config,extensions"
        )
    manifest = read_manifest(ws, info)
    if manifest is None:
        raise UsageError("--selective needs a backup with a manifest; use --components")
    chosen = []
    for component in manifest.components:
        output.note(f"Restore {component}? [y/N] ")
        if sys.stdin.readline().strip().lower() in ("y", "yes"):
            chosen.append(component)
    if not chosen:
        raise UsageError("--selective: no component chosen; nothing to restore")
    return tuple(chosen)


def _print_restore(result) -> None:
    plan = result.plan
    if plan.missing_components:
        output.warn(
            f"--components: backup {plan.backup} holds no "
            f"{', '.join(plan.missing_components)}; restoring the rest"
        )
    if plan.shared_left_out:
        output.warn(
            f"left the {len(plan.shared_left_out)} shared files of backup "
            f"{plan.backup} alone: they are restored only for the user who "
            f"backed them up ({plan.source_user}), never into another's areas"
        )
    if result.dry_run:
        output.print_line(
            f"Would restore {plan.backup} into {plan.root} for {plan.user} "
            "(every checksum verified):"
        )
        for step in plan.steps:
            output.print_line(f"  {step.action:9} {step.path}")
        for path in plan.runtime_tree:
            output.print_line(f"  {'create':9} {path} (runtime tree of {plan.user})")
        return
    output.print_line(
        f"Restored {plan.backup} into {plan.root} for {plan.user}: "
        f"{plan.count('create')} created, {plan.count('replace')} replaced, "
        f"{plan.count('unchanged')} unchanged"
        + (", checksums verified first" if plan.verified else "")
    )
    for path in plan.kept_newer:
        output.print_line(f"  kept your newer {path}")
    if result.runtime_created:
        output.print_line(
            f"  completed the runtime tree of {plan.user}: "
            f"{len(result.runtime_created)} folders and files created"
        )
    for warning in result.warnings:
        output.warn(warning)
    _print_cleaned(result.cleaned)


# reset


def run_reset(args: argparse.Namespace) -> int:
    from workspace_tasks.reset import ResetOptions, check_options, reset_workspace

    ws = _open_leniently(args)
    options = ResetOptions(
        backup_first=args.backup_first,
        keep_config=args.keep_config,
        force=args.force,
        no_backup=args.no_backup,
        dry_run=args.dry_run,
    )
    check_options(options)
    asking = not args.force and not args.dry_run
    if asking:
        require_terminal("reset")
    result = reset_workspace(ws, options, confirm=_confirm_reset if asking else None)
    if result.cancelled:
        output.note("Nothing removed.")
        return 0
    show(args, result, _print_reset)
    return 0


def _confirm_reset(plan) -> bool:
    """Show the reset's plan and ask; True only for an explicit yes."""
    _print_reset(plan)
    output.note(
        f"Remove {len(plan.removals)} paths ({output.human_size(plan.bytes)}) "
        "and create them again?"
    )
    try:
        answer = input("[y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def _print_reset(result) -> None:
    verb = "Would remove" if result.dry_run else "Removed"
    output.print_line(
        f"{verb} {len(result.removals)} paths of {result.user} "
        f"({output.human_size(result.bytes)}):"
    )
    for removal in result.removals:
        output.print_line(f"  {removal.path}")
    for kept in result.kept:
        output.print_line(f"  kept {kept}")
    if result.backup:
        output.print_line(f"Backup first (verified): {result.backup.path}")
    if result.reinitialised:
        output.print_line("Your areas were created again from the templates.")
