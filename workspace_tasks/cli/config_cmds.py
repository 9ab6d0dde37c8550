"""``workspace config``: show, validate, hierarchy, merge and edit the cascade."""

from __future__ import annotations

import argparse
from pathlib import Path

from workspace_tasks import output
from workspace_tasks.cli.common import open_workspace, show
from workspace_tasks.context import Workspace
from workspace_tasks.errors import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, UsageError


def _overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--include-overrides",
        action="store_true",
        help="add config/local-overrides.toml and PROVISIONING__SECTION__KEY "
        "variables above every layer",
    )


def _secrets(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--show-secrets",
        action="store_true",
        help="show the values of tokens, passwords, webhooks and keys",
    )


def register(commands: argparse._SubParsersAction, common) -> None:
    """Add ``config show|validate|hierarchy|merge|edit``."""
    config = commands.add_parser(
        "config",
        help="show, check and edit the configuration cascade",
        description="The configuration of a user is the cascade, lowest first: "
        "core config.defaults.toml, config/dev-defaults.toml, "
        "config/<env>-defaults.toml, config/<user>.toml.",
    )
    verbs = config.add_subparsers(title="action", metavar="ACTION", required=True)
    shared = [common.root, common.user, common.fmt]

    show_cmd = verbs.add_parser(
        "show", parents=shared, help="the merged configuration (TOML or JSON)"
    )
    _overrides(show_cmd)
    _secrets(show_cmd)
    show_cmd.set_defaults(handler=run_show)

    validate = verbs.add_parser(
        "validate",
        parents=shared,
        help="check syntax, types and references of every layer (exit 1 on errors)",
    )
    _overrides(validate)
    validate.set_defaults(handler=run_validate)

    hierarchy = verbs.add_parser(
        "hierarchy",
        parents=shared,
        help="every key with the layer it came from and what it overrode",
    )
    _overrides(hierarchy)
    _secrets(hierarchy)
    hierarchy.set_defaults(handler=run_hierarchy)

    merge = verbs.add_parser(
        "merge",
        parents=shared,
        help="write the merged configuration with the layers' comments",
    )
    merge.add_argument(
        "--output",
        metavar="FILE",
        required=True,
        help="a new or regular file (replaced atomically), a fifo or character "
        "device (written into), or - for standard output",
    )
    _overrides(merge)
    merge.set_defaults(handler=run_merge)

    edit = verbs.add_parser(
        "edit",
        parents=shared,
        help="edit a copy of config/<user>.toml in $VISUAL or $EDITOR; it replaces "
        "the file only when valid",
    )
    edit.set_defaults(handler=run_edit)


def register_resolve(verbs: argparse._SubParsersAction, common) -> None:
    """Add ``resolve config NAME`` to the ``resolve`` family."""
    resolve = verbs.add_parser(
        "config",
        parents=[common.root, common.user, common.fmt],
        help="a configuration with what it inherits: user, development, "
        "testing, production or merged",
    )
    resolve.add_argument(
        "name",
        metavar="NAME",
        choices=("user", "development", "testing", "production", "merged"),
    )
    _overrides(resolve)
    _secrets(resolve)
    resolve.set_defaults(handler=run_resolve)


def _print_toml(view) -> None:
    output.print_block(view.to_toml().rstrip("\n"))


def _workspace(args: argparse.Namespace) -> Workspace:
    """Open the workspace for the flags' user, areas or not.

    A user's configuration is merged from the shared layers whether or not
    the user has areas yet; ``config edit``, which writes the user's file
    (and its copy in the user's runtime), takes a user of the workspace only.
    """
    return open_workspace(args, existing_user=False)


def run_show(args: argparse.Namespace) -> int:
    from workspace_tasks.config_ops import show_config

    view = show_config(
        _workspace(args),
        include_overrides=args.include_overrides,
        show_secrets=args.show_secrets,
    )
    show(args, view, _print_toml)
    return EXIT_OK


def run_resolve(args: argparse.Namespace) -> int:
    from workspace_tasks.config_ops import show_config

    view = show_config(
        _workspace(args),
        args.name,
        include_overrides=args.include_overrides,
        show_secrets=args.show_secrets,
    )
    show(args, view, _print_toml)
    return EXIT_OK


def run_validate(args: argparse.Namespace) -> int:
    from workspace_tasks.config_validation import (
        has_errors,
        unmerged_layers,
        validate_config,
    )

    ws = _workspace(args)
    problems = validate_config(ws, include_overrides=args.include_overrides)
    unmerged = unmerged_layers(ws, args.include_overrides)
    errors = has_errors(problems)
    if args.format == "json":
        output.print_json(
            {
                "user": ws.user,
                "valid": not errors,
                "problems": problems,
                "checked_not_merged": unmerged,
            }
        )
    else:
        output.print_lines(str(problem) for problem in problems)
        for layer in unmerged:
            output.note(f"checked, not merged: {layer['file']} ({layer['why']})")
        if not errors:
            output.note(f"configuration of {ws.user} is valid")
    return EXIT_PROBLEMS if errors else EXIT_OK


def run_hierarchy(args: argparse.Namespace) -> int:
    from workspace_tasks.config_ops import config_hierarchy

    report = config_hierarchy(
        _workspace(args),
        include_overrides=args.include_overrides,
        show_secrets=args.show_secrets,
    )
    show(args, report, _print_hierarchy)
    return EXIT_OK


def _print_hierarchy(report) -> None:
    rows = []
    for row in report.keys:
        overridden = "; ".join(
            f"{older['origin']} = {_shown(older['value'])}"
            for older in row["overrides"]
        )
        rows.append([row["key"], _shown(row["value"]), row["origin"], overridden])
    output.print_table(["key", "value", "origin", "overrides"], rows)


def _shown(value: object) -> str:
    from workspace_tasks.tomlfile import inline_value

    return inline_value(value)


def run_merge(args: argparse.Namespace) -> int:
    from workspace_tasks.config_ops import write_merged

    to_stdout = args.output == "-" or output.is_standard_output(args.output)
    if to_stdout and args.format == "json":
        raise UsageError(
            f"--output {args.output}: the merged TOML goes to standard output; "
            "drop --format json or give a file"
        )
    result = write_merged(
        _workspace(args),
        None if to_stdout else Path(args.output),
        include_overrides=args.include_overrides,
    )
    if result.text is not None:
        output.print_text(result.text)
        output.note(f"merged {len(result.layers)} layers into standard output")
        return EXIT_OK
    show(
        args,
        result,
        lambda r: output.print_line(f"merged {len(r.layers)} layers into {r.path}"),
    )
    return EXIT_OK


def run_edit(args: argparse.Namespace) -> int:
    from workspace_tasks.config_ops import edit_user_config

    result = edit_user_config(_workspace(args))
    if args.format == "json":
        output.print_json(result)
    else:
        for problem in result.problems:
            output.note(str(problem))
        if result.reason is not None:
            output.error(result.reason)
        elif not result.kept:
            output.error(f"{result.path} was not changed: the edit was invalid")
        elif result.created:
            output.print_line(f"created {result.path}")
        elif result.changed:
            output.print_line(f"saved {result.path}")
        else:
            output.print_line(f"{result.path}: no changes")
    return EXIT_OK if result.kept else EXIT_USAGE
