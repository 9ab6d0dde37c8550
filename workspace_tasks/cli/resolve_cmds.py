"""``workspace resolve``: paths, extensions and their discovery."""

from __future__ import annotations

import argparse

from workspace_tasks import output
from workspace_tasks.cli import config_cmds, health_cmds
from workspace_tasks.cli.common import open_workspace, show
from workspace_tasks.context import Workspace


def register(commands: argparse._SubParsersAction, common) -> None:
    """Add ``resolve path|extension|list-extensions|config`` and the health checks."""
    resolve = commands.add_parser("resolve", help="resolve paths and extensions")
    verbs = resolve.add_subparsers(title="what", metavar="WHAT", required=True)

    path = verbs.add_parser(
        "path",
        parents=[common.root, common.user, common.fmt],
        help="the first existing of user, shared, template and core paths",
    )
    path.add_argument("type", metavar="TYPE", help="e.g. infra, extensions/providers")
    path.add_argument("name", metavar="NAME")
    path.add_argument("--fallback-to-core", action="store_true")
    path.add_argument(
        "--create-missing",
        action="store_true",
        help="create the user's path when nothing exists",
    )
    path.set_defaults(handler=run_path)

    extension = verbs.add_parser(
        "extension",
        parents=[common.root, common.user, common.fmt],
        help="find an extension: the user's, the shared, the core one",
    )
    extension.add_argument("kind", metavar="KIND")
    extension.add_argument("name", metavar="NAME")
    extension.set_defaults(handler=run_extension)

    listing = verbs.add_parser(
        "list-extensions",
        parents=[common.root, common.user, common.fmt],
        help="list the extensions of a kind with their origin",
    )
    listing.add_argument("kind", metavar="KIND")
    listing.add_argument("--include-core", action="store_true")
    listing.set_defaults(handler=run_list_extensions)

    config_cmds.register_resolve(verbs, common)
    health_cmds.register_resolve(verbs, common)


def _workspace(args: argparse.Namespace) -> Workspace:
    """Open the workspace for the flags' user, areas or not.

    Resolution falls back to shared and core paths for any user;
    ``--create-missing`` creates the user's path for a user of the
    workspace only.
    """
    return open_workspace(args, existing_user=False)


def run_path(args: argparse.Namespace) -> int:
    from workspace_tasks.resolver import resolve_path

    ws = _workspace(args)
    found = resolve_path(
        ws,
        args.type,
        args.name,
        fallback_to_core=args.fallback_to_core,
        create_missing=args.create_missing,
    )
    show(args, {"path": str(found)}, lambda data: output.print_line(data["path"]))
    return 0


def run_extension(args: argparse.Namespace) -> int:
    from workspace_tasks.resolver import resolve_extension

    found = resolve_extension(_workspace(args), args.kind, args.name)
    show(args, found, lambda e: output.print_line(f"{e.path}\t{e.origin}"))
    return 0


def run_list_extensions(args: argparse.Namespace) -> int:
    from workspace_tasks.resolver import scan_extensions

    found, ignored = scan_extensions(
        _workspace(args), args.kind, include_core=args.include_core
    )
    show(
        args,
        [e.to_dict() for e in found],
        lambda rows: output.print_table(
            ["name", "origin", "path"],
            [[r["name"], r["origin"], r["path"]] for r in rows],
        ),
    )
    for warning in ignored:
        output.warn(warning)
    return 0
