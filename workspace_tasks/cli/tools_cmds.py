"""``workspace tools``: create, validate, test and deploy-test extensions."""

from __future__ import annotations

import argparse
from pathlib import Path

from workspace_tasks import output
from workspace_tasks.cli.common import open_workspace, show
from workspace_tasks.context import Workspace
from workspace_tasks.errors import ChecksFailed, UsageError
from workspace_tasks.text import quoted


def register(commands: argparse._SubParsersAction, common) -> None:
    """Add the ``tools`` commands."""
    tools = commands.add_parser("tools", help="develop extensions")
    verbs = tools.add_subparsers(title="tools", metavar="TOOL", required=True)
    parents = [common.root, common.user, common.fmt]

    create = verbs.add_parser(
        "create-extension",
        parents=parents,
        help="create an extension from its kind's template",
        description="Render the template of KIND into extensions/KIND/USER/NAME "
        "(or extensions/KIND/NAME with --shared). Nothing is written unless "
        "the whole extension can be.",
    )
    create.add_argument("extension", metavar="KIND/NAME", help="e.g. providers/my-aws")
    _scaffold_flags(create)
    create.add_argument(
        "--shared", action="store_true", help="create it in the shared area"
    )
    create.add_argument(
        "--template",
        dest="template_dir",
        metavar="DIR",
        type=Path,
        help="render this template folder instead of the kind's own",
    )
    create.set_defaults(handler=run_create)

    init = verbs.add_parser(
        "init-extension",
        parents=parents,
        help="initialise a copied template folder in place",
        description="Inside a copy of extensions/KIND/template, render it as "
        "extension NAME: 'cp -r extensions/providers/template "
        "extensions/providers/my-x && cd extensions/providers/my-x && "
        "workspace tools init-extension providers/my-x --author A'.",
    )
    init.add_argument("extension", metavar="KIND/NAME")
    for flag in ("--provider-name", "--service-name", "--cluster-name"):
        init.add_argument(flag, dest=flag[2:].replace("-", "_"), metavar="NAME")
    init.add_argument(
        "--path",
        metavar="DIR",
        type=Path,
        help="the copied template folder (default: the current folder)",
    )
    _scaffold_flags(init)
    init.set_defaults(handler=run_init)

    validate = verbs.add_parser(
        "validate-extension",
        parents=parents,
        help="check an extension's files (exit 1 with one line per problem)",
    )
    validate.add_argument("extension", metavar="KIND/NAME")
    validate.set_defaults(handler=run_validate)

    test = verbs.add_parser(
        "test-extension",
        parents=parents,
        help="run an extension's unit and integration tests",
    )
    test.add_argument("extension", metavar="KIND/NAME")
    test.add_argument(
        "--dry-run",
        action="store_true",
        help="render the templates (a provider's server and network) instead, "
        "touching nothing",
    )
    test.set_defaults(handler=run_test)

    deploy = verbs.add_parser(
        "deploy-test",
        parents=parents,
        help="render a cluster against an infrastructure; deploy nothing",
    )
    deploy.add_argument("extension", metavar="clusters/NAME")
    deploy.add_argument("--infra", required=True, metavar="NAME")
    deploy.set_defaults(handler=run_deploy_test)


def _scaffold_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--author", metavar="NAME", help="default: the user")
    parser.add_argument("--description", metavar="TEXT")
    parser.add_argument(
        "--service-type", metavar="TYPE", help="task services: e.g. database"
    )
    parser.add_argument(
        "--cluster-type", metavar="TYPE", help="clusters: e.g. web-stack"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="show the files, write nothing"
    )


def _options(args: argparse.Namespace):
    from workspace_tasks.scaffold import ExtensionOptions

    return ExtensionOptions(
        author=args.author,
        description=args.description,
        service_type=args.service_type,
        cluster_type=args.cluster_type,
        shared=getattr(args, "shared", False),
        template_dir=getattr(args, "template_dir", None),
        dry_run=args.dry_run,
    )


def _show_scaffold(result) -> None:
    verb = "would write" if result.dry_run else "wrote"
    output.print_line(f"{result.kind}/{result.name}: {result.path}")
    output.print_lines(f"  {verb} {relpath}" for relpath in result.written)
    gone = "would remove" if result.dry_run else "removed"
    output.print_lines(f"  {gone} {relpath}" for relpath in result.removed)


def _user_workspace(args: argparse.Namespace) -> Workspace:
    """Open the workspace for the flags' user, areas or not.

    Extensions are validated and tested for any user. Creating one in the
    user's area (not ``--shared``) refuses a name that is no user there
    (see :func:`~workspace_tasks.context.require_user`); only deploy-test
    writes into the user's runtime.
    """
    return open_workspace(args, existing_user=False)


def run_create(args: argparse.Namespace) -> int:
    from workspace_tasks.scaffold import create_extension, parse_reference

    kind, name = parse_reference(args.extension)
    result = create_extension(_user_workspace(args), kind, name, _options(args))
    show(args, result, _show_scaffold)
    return 0


def run_init(args: argparse.Namespace) -> int:
    from workspace_tasks.scaffold import KIND_FLAGS, init_extension, parse_reference

    kind, name = parse_reference(args.extension)
    for other_kind, flag in KIND_FLAGS.items():
        given = getattr(args, flag[2:].replace("-", "_"))
        if given is None:
            continue
        if other_kind != kind:
            raise UsageError(f"{flag} goes with {other_kind}/<name>, not {kind}")
        if given != name:
            raise UsageError(
                f"{flag}: {quoted(given)} differs from the name in {args.extension}"
            )
    from workspace_tasks.edge import current_folder

    folder = args.path or current_folder()
    ws = _user_workspace(args)
    result = init_extension(ws, kind, name, folder, _options(args))
    show(args, result, _show_scaffold)
    return 0


def _problem_lines(problems) -> None:
    output.print_lines(str(problem) for problem in problems)


def run_validate(args: argparse.Namespace) -> int:
    from workspace_tasks.scaffold import parse_reference
    from workspace_tasks.validation import validate_extension

    kind, name = parse_reference(args.extension)
    problems = validate_extension(_user_workspace(args), kind, name)
    report = {
        "extension": f"{kind}/{name}",
        "valid": not any(p.severity == "error" for p in problems),
        "problems": [p.to_dict() for p in problems],
    }
    show(args, report, lambda _: _problem_lines(problems))
    if not report["valid"]:
        count = sum(p.severity == "error" for p in problems)
        raise ChecksFailed(f"{kind}/{name}: {count} problem(s)")
    if args.format != "json":
        output.note(f"{kind}/{name} is valid")
    return 0


def run_test(args: argparse.Namespace) -> int:
    from workspace_tasks import testrun
    from workspace_tasks.scaffold import parse_reference

    kind, name = parse_reference(args.extension)
    ws = _user_workspace(args)
    if args.dry_run:
        rendered = testrun.render_dry(ws, kind, name)
        show(args, rendered, _show_rendered)
        return 0
    run = testrun.run_extension_tests(ws, kind, name)
    show(args, run, _show_test_run)
    if not run.ok:
        raise ChecksFailed(f"{kind}/{name}: tests failed ({run.summary()})")
    return 0


def _show_rendered(result) -> None:
    for relpath, text in result.rendered.items():
        output.print_line(f"--- {relpath} (rendered, nothing written)")
        output.print_block(text.rstrip("\n"))


def _show_test_run(run) -> None:
    if not run.ok:
        output.print_block(run.output.rstrip("\n"))
    output.print_line(f"{run.kind}/{run.name}: {run.summary()}")


def run_deploy_test(args: argparse.Namespace) -> int:
    from workspace_tasks.deployment import deploy_test
    from workspace_tasks.scaffold import parse_reference

    kind, name = parse_reference(args.extension)
    if kind != "clusters":
        raise UsageError(f"deploy-test takes clusters/<name>, not {args.extension}")
    result = deploy_test(open_workspace(args), name, args.infra)
    show(args, result, _show_deployment)
    if not result.ok:
        raise ChecksFailed(f"deploy-test of {name} on {args.infra} found problems")
    return 0


def _show_deployment(result) -> None:
    _problem_lines(result.problems)
    if result.files:
        output.print_line(f"rendered into {result.path} (nothing deployed):")
        output.print_lines(f"  {relpath}" for relpath in result.files)
    for taskserv, hosts in result.placement.items():
        output.print_line(f"  {taskserv}: {', '.join(hosts) or 'no server'}")
