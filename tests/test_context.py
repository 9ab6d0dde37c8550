"""The context object: paths taken from its environment, never the process's."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from tests.conftest import build_tree
from workspace_tasks import context
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


TYPE_LINE = "[workspace] type: 'staging' is not one of development, testing, production"


@pytest.mark.parametrize(
    "argv",
    [
        ("config", "show"),
        ("config", "hierarchy"),
        ("config", "merge", "--output", "-"),
        ("config", "validate"),
        ("resolve", "config", "merged"),
        ("status",),
    ],
    ids=["show", "hierarchy", "merge", "validate", "resolve", "status"],
)
def test_an_unknown_type_in_the_settings_is_one_line_naming_its_place(
    cli, make_workspace, argv
):
    ws = make_workspace("dev")
    text = ws.settings_file.read_text()
    ws.settings_file.write_text(text.replace('"development"', '"staging"'))
    line = text.splitlines().index('type = "development"') + 1
    result = cli(*argv, "--root", ws.root)
    assert result.code == 2
    assert result.err == (
        f"workspace: error: runtime/workspaces/dev/settings.toml:{line}:1: "
        f"{TYPE_LINE}\n"
    )
    assert result.out == ""


def test_init_refuses_a_marker_with_an_unknown_type(cli, make_workspace):
    ws = make_workspace("dev")
    marker = ws.root / MARKER
    marker.write_text(marker.read_text().replace('"development"', '"staging"'))
    result = cli("init", "--root", ws.root, "--user-name", "second")
    assert result.code == 2
    assert result.err.startswith(f"workspace: error: {MARKER}:5:1: {TYPE_LINE}")
    assert not (ws.root / "config" / "second.toml").exists()


def test_doit_with_an_unknown_type_says_so_in_one_line(make_workspace):
    import subprocess
    import sys

    ws = make_workspace("dev")
    text = ws.settings_file.read_text()
    ws.settings_file.write_text(text.replace('"development"', '"staging"'))
    doit = Path(sys.executable).parent / "doit"
    for argv in (["list"], ["config"]):
        done = subprocess.run(
            [doit, *argv], cwd=ws.tools_dir, capture_output=True, text=True
        )
        assert done.returncode == 2
        assert done.stderr.startswith("workspace: error: runtime/workspaces/dev/")
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_user_falls_back_to_the_login_name(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("USER")
    monkeypatch.delenv("LOGNAME", raising=False)
    monkeypatch.setattr(context, "login_name", lambda: "ann")

    result = cli("init", "--root", tmp_path / "ws")

    assert result.code == 0, result.err
    assert (tmp_path / "ws" / "config" / "ann.toml").is_file()


def test_login_name_is_the_accounts():
    assert context.login_name() == pwd.getpwuid(os.getuid()).pw_name


def test_no_user_anywhere_names_every_way_to_give_one(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("USER")
    monkeypatch.delenv("LOGNAME", raising=False)
    monkeypatch.setattr(context, "login_name", lambda: None)

    result = cli("init", "--root", tmp_path / "ws")

    assert result.code == 2
    assert result.err.count("\n") == 1
    for way in ("--user-name", "PROVISIONING_WORKSPACE_USER", "USER"):
        assert way in result.err
    assert not (tmp_path / "ws").exists()


def test_a_login_name_that_is_no_valid_user_says_where_it_came_from(
    cli, tmp_path, monkeypatch
):
    monkeypatch.delenv("USER")
    monkeypatch.delenv("LOGNAME", raising=False)
    monkeypatch.setattr(context, "login_name", lambda: "Ann Smith")

    result = cli("init", "--root", tmp_path / "ws")

    assert result.code == 2
    assert f"the login name of uid {os.getuid()}: 'Ann Smith'" in result.err


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


CREATING_COMMANDS = {
    "create-extension": ["tools", "create-extension", "providers/gp"],
    "create-infra": ["resolve", "path", "infra", "i1", "--create-missing"],
    "create-runtime": ["resolve", "path", "runtime/cache", "x", "--create-missing"],
    "create-config": ["resolve", "path", "config", "user", "--create-missing"],
    "create-merged": ["resolve", "path", "config", "merged", "--create-missing"],
    "config-edit": ["config", "edit"],
}


# With a user file left under the name, resolving "config user" finds it.
CREATING_CASES = [
    pytest.param(command, leftover, id=f"{name}-{leftover or 'nothing'}-left")
    for name, command in CREATING_COMMANDS.items()
    for leftover in (None, "config/ghost.toml")
    if not (leftover and name == "create-config")
]


@pytest.mark.parametrize(("command", "leftover"), CREATING_CASES)
def test_commands_creating_in_a_users_area_refuse_a_name_that_is_no_user(
    cli, workspace, monkeypatch, command, leftover
):
    monkeypatch.setenv("EDITOR", "true")
    if leftover:
        build_tree(workspace.root, {leftover: "[workspace]\n"})
    before = sorted(p.relative_to(workspace.root) for p in workspace.root.rglob("*"))

    result = cli(*command, "--root", workspace.root, "--workspace-user", "ghost")

    assert result.code == 2
    assert result.err == (
        f"workspace: error: --workspace-user: 'ghost' is not a user of "
        f"{workspace.root} (users: dev); run 'workspace init --user-name ghost' "
        "to create the user\n"
    )
    after = sorted(p.relative_to(workspace.root) for p in workspace.root.rglob("*"))
    assert after == before


def test_users_are_the_recorded_ones_not_names_areas_were_left_under(workspace):
    build_tree(
        workspace.root,
        {
            "config/ghost.toml": "",
            "infra/typo/i1/": None,
            "runtime/workspaces/x/": None,
        },
    )
    (workspace.root / "runtime/workspaces/dev/settings.toml").unlink()

    assert workspace.known_users() == ["dev"]  # recorded by its init
    assert not workspace.is_known_user("ghost")
    assert not workspace.is_known_user("typo")
    assert workspace.foreign_user_folders() == [
        "runtime/workspaces/x: no settings.toml and no recorded init; "
        "not listed as a user"
    ]


def test_an_empty_root_is_refused(cli, tmp_path):
    result = cli("init", "--root", "", cwd=tmp_path)

    assert result.code == 2
    assert result.err == (
        "workspace: error: --root: the folder name is empty; pass a folder, e.g. ./ws\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_folder_inside_a_workspace_is_no_workspace(cli, workspace):
    inside = workspace.root / "infra"

    result = cli("status", "--root", inside)

    assert result.code == 2
    assert result.err == (
        f"workspace: error: --root: {inside} lies inside the workspace "
        f"{workspace.root} and is not one; pass --root {workspace.root}\n"
    )


@pytest.mark.parametrize("how", ["--root", "PROVISIONING_WORKSPACE_ROOT"])
def test_no_workspace_is_made_inside_another(cli, workspace, monkeypatch, how):
    nested = workspace.root / "infra" / "nested"
    args = ["--root", nested] if how == "--root" else []
    if how != "--root":
        monkeypatch.setenv(how, str(nested))
    before = sorted(p.relative_to(workspace.root) for p in workspace.root.rglob("*"))

    result = cli("init", "--user-name", "other", *args)

    assert result.code == 2
    assert result.err == (
        f"workspace: error: {how}: {nested} lies inside the workspace "
        f"{workspace.root}; a workspace cannot hold another: choose a folder "
        "outside it\n"
    )
    after = sorted(p.relative_to(workspace.root) for p in workspace.root.rglob("*"))
    assert after == before
