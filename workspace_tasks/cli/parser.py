"""Build the argument parser from the command families.

Each family module registers its sub-commands and imports the library only
inside its handlers, so ``workspace --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass

from workspace_tasks import __version__
from workspace_tasks.errors import UsageError

FAMILIES = (
    "workspace_tasks.cli.workspace_cmds",
    "workspace_tasks.cli.resolve_cmds",
    "workspace_tasks.cli.config_cmds",
    "workspace_tasks.cli.runtime_cmds",
    "workspace_tasks.cli.tools_cmds",
    "workspace_tasks.cli.backup_cmds",
    "workspace_tasks.cli.cleanup_cmds",
    "workspace_tasks.cli.health_cmds",
)
# The commands each family registers (a test keeps this in step), so that
# running one command builds the parser of its family only.
COMMANDS = {
    "init": "workspace_tasks.cli.workspace_cmds",
    "status": "workspace_tasks.cli.workspace_cmds",
    "list": "workspace_tasks.cli.workspace_cmds",
    "resolve": "workspace_tasks.cli.resolve_cmds",
    "config": "workspace_tasks.cli.config_cmds",
    "runtime": "workspace_tasks.cli.runtime_cmds",
    "tools": "workspace_tasks.cli.tools_cmds",
    "backup": "workspace_tasks.cli.backup_cmds",
    "restore": "workspace_tasks.cli.backup_cmds",
    "reset": "workspace_tasks.cli.backup_cmds",
    "cleanup": "workspace_tasks.cli.cleanup_cmds",
    "health": "workspace_tasks.cli.health_cmds",
}


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        command = self.prog.partition(" ")[2]
        where = f"{command}: " if command else ""
        raise UsageError(f"{where}{message} (see '{self.prog} --help')")


@dataclass(frozen=True)
class Common:
    """Parent parsers shared by the commands."""

    root: argparse.ArgumentParser
    user: argparse.ArgumentParser
    fmt: argparse.ArgumentParser


def _common() -> Common:
    root = argparse.ArgumentParser(add_help=False)
    root.add_argument(
        "--root",
        metavar="DIR",
        help="the workspace folder (default: PROVISIONING_WORKSPACE_ROOT, "
        "else the nearest workspace upwards)",
    )
    user = argparse.ArgumentParser(add_help=False)
    user.add_argument(
        "--workspace-user",
        "--user-name",
        dest="user",
        metavar="USER",
        help="the workspace user (default: PROVISIONING_WORKSPACE_USER, USER, then "
        "the login name)",
    )
    fmt = argparse.ArgumentParser(add_help=False)
    fmt.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="output format (json: only JSON on standard output)",
    )
    return Common(root, user, fmt)


def build_parser(argv: list[str] | None = None) -> Parser:
    """Return the parser of the ``workspace`` command.

    When ``argv`` names a known command first, only that command's family
    is registered (its parsing and help are the same); otherwise, for
    ``--help`` or a mistyped command, every family is.
    """
    parser = Parser(
        prog="workspace",
        description="Isolated, healthy, backed-up per-user workspaces.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    common = _common()
    first = argv[0] if argv else None
    families = (COMMANDS[first],) if first in COMMANDS else FAMILIES
    for name in families:
        importlib.import_module(name).register(commands, common)
    return parser
