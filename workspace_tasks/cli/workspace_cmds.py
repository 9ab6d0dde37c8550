"""``workspace init``, ``status`` and ``list``."""

from __future__ import annotations

import argparse
from pathlib import Path

from workspace_tasks import output
from workspace_tasks.cli.common import open_workspace, show
from workspace_tasks.context import WORKSPACE_TYPES


def register(commands: argparse._SubParsersAction, common) -> None:
    """Add the init, status and list commands."""
    init = commands.add_parser(
        "init",
        parents=[common.root, common.fmt],
        help="create a workspace, or your areas in an existing one",
        description="Create the workspace tree (./workspace unless --root or an "
        "existing workspace above), or add a user's isolated areas to it.",
    )
    init.add_argument(
        "--user-name",
        "--workspace-user",
        dest="user",
        metavar="USER",
        help="user identifier (default: PROVISIONING_WORKSPACE_USER, USER, then "
        "the login name)",
    )
    init.add_argument("--infra-name", metavar="NAME", help="infrastructure name")
    init.add_argument(
        "--workspace-type",
        choices=WORKSPACE_TYPES,
        help="default: as recorded for the user (with --overwrite), else development",
    )
    init.add_argument(
        "--template",
        choices=("minimal", "full", "custom"),
        help="minimal (default): configs and extension template folders holding "
        "only a README; full: complete extension templates and examples; custom: "
        "minimal plus --template-dir; with --overwrite, the one recorded for the "
        "user",
    )
    init.add_argument(
        "--template-dir",
        metavar="DIR",
        type=Path,
        help="your own template folder (with --template custom; with --overwrite, "
        "the one recorded for the user)",
    )
    init.add_argument(
        "--overwrite",
        action="store_true",
        help="regenerate an existing workspace, keeping copies of changed files",
    )
    init.add_argument(
        "--create-examples",
        action="store_true",
        help="create the example infrastructures",
    )
    init.set_defaults(handler=run_init)

    status = commands.add_parser(
        "status",
        parents=[common.root, common.user, common.fmt],
        help="show the workspace of a user",
    )
    status.add_argument("--detailed", action="store_true", help="add runtime sizes")
    status.set_defaults(handler=run_status)

    listing = commands.add_parser(
        "list",
        parents=[common.root, common.user, common.fmt],
        help="list users, extensions, infrastructures and config files",
    )
    listing.set_defaults(handler=run_list)


def run_init(args: argparse.Namespace) -> int:
    from workspace_tasks.init import InitOptions, init_workspace

    ws = open_workspace(
        args, must_exist=False, user_flag="--user-name", existing_user=False
    )
    template_dir = args.template_dir
    if template_dir is not None:
        from workspace_tasks.edge import current_folder

        template_dir = current_folder() / template_dir  # recorded for --overwrite
    options = InitOptions(
        infra_name=args.infra_name,
        workspace_type=args.workspace_type,
        template=args.template,
        template_dir=template_dir,
        overwrite=args.overwrite,
        create_examples=args.create_examples,
    )
    result = init_workspace(ws, options)
    show(args, result, _print_init)
    return 0


def _print_init(result) -> None:
    output.print_line(
        f"Workspace {result.root} ready for {result.user} "
        f"({result.workspace_type}, infra {result.infra_name}, "
        f"template {result.template})"
    )
    output.print_line(
        f"  {len(result.created)} files created, {len(result.regenerated)} "
        f"regenerated, {len(result.unchanged) + len(result.kept)} left as they were"
    )
    for relpath in result.removed:
        if relpath not in result.preserved:
            output.print_line(f"  {relpath} was removed: the new template replaces it")
    for relpath, copy in result.preserved.items():
        output.print_line(f"  your changed {relpath} was kept as {copy}")
    for relpath, why in result.not_regenerated.items():
        output.print_line(f"  {relpath} was not regenerated: {why}")
    hint = " (--overwrite adds the full templates)" if result.template == "full" else ""
    for folder in result.template_folders_kept:
        output.print_line(f"  {folder} already holds a template: nothing added{hint}")
    output.print_line("Next: workspace status --detailed")


def run_status(args: argparse.Namespace) -> int:
    from workspace_tasks.inventory import workspace_status

    ws = open_workspace(args, existing_user=False)
    report = workspace_status(ws, detailed=args.detailed)
    show(args, report, _print_status)
    return 0


def _print_status(report) -> None:
    output.print_line(f"Workspace: {report.root}")
    output.print_line(f"User:      {report.user}")
    output.print_line(f"Type:      {report.type}")
    output.print_line(f"Infra:     {report.infra or '-'}")
    output.print_line(f"Core:      {report.core_root}")
    if not report.initialised:
        output.print_line(
            f"(user '{report.user}' has no areas here yet: "
            f"run 'workspace init --user-name {report.user}')"
        )
    rows = [
        [kind, counts["user"], counts["shared"], counts["core"]]
        for kind, counts in report.extensions.items()
    ]
    output.print_table(["extensions", "user", "shared", "core"], rows)
    if report.runtime is not None:
        rows = [
            [area, size["files"], output.human_size(size["bytes"])]
            for area, size in report.runtime.items()
        ]
        output.print_table(["runtime", "files", "size"], rows)
    if report.health:
        output.print_line(
            f"Health:    {report.health.get('overall_status')} "
            f"(checked {report.health.get('timestamp')})"
        )
        for line in report.health.get("recommendations", []):
            output.print_line(f"  {line}")


def run_list(args: argparse.Namespace) -> int:
    from workspace_tasks.inventory import workspace_listing

    listing = workspace_listing(open_workspace(args, existing_user=False))
    show(args, listing, _print_listing)
    for warning in listing.warnings:
        output.warn(warning)
    return 0


def _print_listing(listing) -> None:
    output.print_line(f"Users: {', '.join(listing.users) or '-'}")
    output.print_table(
        ["kind", "extension", "origin"],
        [[e["kind"], e["name"], e["origin"]] for e in listing.extensions],
    )
    output.print_table(
        ["infrastructure", "origin"],
        [[i["name"], i["origin"]] for i in listing.infrastructures],
    )
    output.print_line("Config files:")
    output.print_lines(f"  {name}" for name in listing.config_files)
