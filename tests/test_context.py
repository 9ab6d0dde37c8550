"""The context object: paths taken from its environment, never the process's."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from workspace_tasks.context import MARKER, expand_home, locate

ACCOUNT_HOME = pwd.getpwuid(os.getuid()).pw_dir


@pytest.mark.parametrize(
    ("text", "environ", "expected"),
    [
        ("~", {"HOME": "/ctx"}, "/ctx"),
        ("~/a/b", {"HOME": "/ctx"}, "/ctx/a/b"),
        ("~/a", {"HOME": "/ctx/"}, "/ctx/a"),
        ("a/~/b", {"HOME": "/ctx"}, "a/~/b"),
        ("/abs/path", {"HOME": "/ctx"}, "/abs/path"),
        ("~/a", {}, f"{ACCOUNT_HOME}/a"),
    ],
    ids=["home", "below-home", "trailing-slash", "not-leading", "absolute", "no-home"],
)
def test_expand_home_uses_the_given_environment(text, environ, expected):
    assert expand_home(text, environ) == Path(expected)


def test_root_under_home_is_found_in_the_contexts_home(cli, tmp_path):
    home = tmp_path / "context-home"
    created = cli("init", "--root", home / "ws", "--user-name", "dev")
    assert created.code == 0, created.err
    assert Path(os.environ["HOME"]) != home

    ws = locate(
        root="~/ws",
        user="dev",
        environ={"HOME": str(home)},
        cwd=tmp_path,
    )

    assert ws.root == (home / "ws").resolve()
    assert (ws.root / MARKER).is_file()


USER_COMMANDS = [
    ["backup"],
    ["reset", "--force", "--no-backup"],
    ["cleanup", "--dry-run"],
    ["health"],
    ["health", "check-runtime"],
    ["runtime", "logs"],
    ["runtime", "logs", "--action", "rotate"],
    ["runtime", "cache", "--action", "stats"],
    ["runtime", "cache", "--action", "clear", "--dry-run"],
    ["runtime", "cleanup", "--dry-run"],
    ["runtime", "monitor"],
    ["tools", "deploy-test", "clusters/development-cluster", "--infra", "development"],
]


@pytest.mark.parametrize(
    "command", USER_COMMANDS, ids=["-".join(c[:2]) for c in USER_COMMANDS]
)
def test_a_user_without_areas_is_refused_and_nothing_is_created(
    cli, workspace, command
):
    before = sorted(p.relative_to(workspace.root) for p in workspace.root.rglob("*"))

    flag = "--user-name" if command[0] == "cleanup" else "--workspace-user"
    result = cli(*command, "--root", workspace.root, flag, "typo")

    assert result.code == 2
    assert result.err == (
        f"workspace: error: {flag}: user 'typo' has no areas in "
        f"{workspace.root} (users: dev); run 'workspace init --user-name typo' "
        "to create them\n"
    )
    after = sorted(p.relative_to(workspace.root) for p in workspace.root.rglob("*"))
    assert after == before


def test_the_refusal_names_the_variable_that_chose_the_user(
    cli, workspace, monkeypatch
):
    monkeypatch.setenv("PROVISIONING_WORKSPACE_USER", "typo")

    result = cli("runtime", "logs", "--root", workspace.root)

    assert result.code == 2
    assert result.err.startswith(
        "workspace: error: PROVISIONING_WORKSPACE_USER: user 'typo' has no areas"
    )


@pytest.mark.parametrize(
    "command",
    [["runtime", "init"], ["init"], ["status"], ["config", "show"]],
    ids=["runtime-init", "init", "status", "config-show"],
)
def test_creating_and_shared_commands_take_a_new_user(cli, workspace, command):
    result = cli(*command, "--root", workspace.root, "--user-name", "newcomer")

    assert result.code == 0, result.err


def test_any_single_area_makes_a_user_known(workspace):
    other = workspace.for_user("solo")
    assert not other.has_areas()

    (workspace.infra_dir / "solo").mkdir()

    assert other.has_areas()
