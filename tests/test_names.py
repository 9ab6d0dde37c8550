"""Names become paths: only safe ones pass, on every command that takes one."""

from __future__ import annotations

import pytest

from workspace_tasks.errors import InvalidName
from workspace_tasks.names import RESERVED_USER_NAMES, check_name, check_user_name

REFUSED = {
    "dotdot-slash": "../elsewhere",
    "dotdot": "..",
    "slash": "a/b",
    "backslash": "\\",
    "space": " ",
    "empty": "",
    "too-long": "a" * 65,
    "upper": "Dev",
    "leading-dot": ".hidden",
    "leading-dash": "-x",
}
ACCEPTED = ["dev", "dev-2", "ci_runner", "a.b", "a" * 64]


@pytest.mark.parametrize("name", REFUSED.values(), ids=REFUSED.keys())
def test_check_name_refuses_unsafe_names_naming_the_flag(name):
    with pytest.raises(InvalidName) as caught:
        check_name(name, "--user-name")
    assert str(caught.value).startswith("--user-name: ")


@pytest.mark.parametrize("name", ACCEPTED)
def test_check_name_accepts_plain_names(name):
    assert check_name(name, "--user-name") == name


@pytest.mark.parametrize("name", REFUSED.values(), ids=REFUSED.keys())
def test_init_refuses_bad_user_name_and_creates_nothing(cli, tmp_path, name):
    root = tmp_path / "ws"
    result = cli("init", "--root", root, "--user-name", name)
    assert result.code == 2
    assert result.err.count("\n") == 1
    assert "--user-name" in result.err
    assert not root.exists()


@pytest.mark.parametrize("name", REFUSED.values(), ids=REFUSED.keys())
def test_init_refuses_bad_infra_name_and_creates_nothing(cli, tmp_path, name):
    root = tmp_path / "ws"
    result = cli("init", "--root", root, "--infra-name", name)
    assert result.code == 2
    assert "--infra-name" in result.err
    assert not root.exists()


def test_bad_user_from_environment_names_the_variable(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("PROVISIONING_WORKSPACE_USER", "../x")
    result = cli("init", "--root", tmp_path / "ws")
    assert result.code == 2
    assert "PROVISIONING_WORKSPACE_USER" in result.err


def test_leading_dash_in_equals_form_is_refused(cli, tmp_path):
    result = cli("init", "--root", tmp_path / "ws", "--user-name=-x")
    assert result.code == 2
    assert "--user-name" in result.err
    assert not (tmp_path / "ws").exists()


def test_longest_user_name_still_gets_a_valid_default_infra(cli, tmp_path):
    user = "u" * 64
    root = tmp_path / "ws"
    assert cli("init", "--root", root, "--user-name", user).code == 0
    (infra,) = (root / "infra" / user).iterdir()
    assert len(infra.name) == 64
    assert infra.name.endswith("-dev")
    found = cli(
        "resolve", "path", "infra", infra.name, "--root", root, "--workspace-user", user
    )
    assert found.code == 0, found.err


RESERVED = sorted(RESERVED_USER_NAMES)


@pytest.mark.parametrize("name", RESERVED)
def test_reserved_names_are_refused_as_users_only(name):
    with pytest.raises(InvalidName) as caught:
        check_user_name(name, "--user-name")
    assert str(caught.value).startswith(f"--user-name: {name!r} is reserved (")
    assert check_name(name, "--infra-name") == name


@pytest.mark.parametrize("name", ["template", "examples", "local", "dev-defaults"])
def test_init_refuses_a_reserved_user_name_and_creates_nothing(cli, tmp_path, name):
    root = tmp_path / "ws"
    result = cli("init", "--root", root, "--user-name", name)
    assert result.code == 2
    assert result.err.count("\n") == 1
    assert "--user-name" in result.err and "reserved" in result.err
    assert not root.exists()


@pytest.mark.parametrize("variable", ["PROVISIONING_WORKSPACE_USER", "USER"])
def test_reserved_user_from_the_environment_names_the_variable(
    cli, make_workspace, monkeypatch, variable
):
    ws = make_workspace("dev", "--template", "full")
    monkeypatch.setenv(variable, "template")

    listing = cli("resolve", "list-extensions", "providers", "--root", ws.root)
    reset = cli("reset", "--force", "--no-backup", "--dry-run", "--root", ws.root)

    for result in (listing, reset):
        assert result.code == 2
        assert result.err.startswith(f"workspace: error: {variable}: 'template'")
    assert (ws.root / "extensions/providers/template/extension.toml.jinja").is_file()


def test_reserved_user_flag_is_refused_on_every_command(cli, make_workspace):
    ws = make_workspace()
    result = cli(
        "resolve", "list-extensions", "providers", "--root", ws.root,
        "--workspace-user", "local",
    )  # fmt: skip
    assert result.code == 2
    assert result.err.startswith("workspace: error: --workspace-user: 'local'")


def test_user_named_after_a_shared_extension_is_refused(cli, make_workspace):
    ws = make_workspace()
    shared = cli(
        "tools", "create-extension", "clusters/newguy", "--shared", "--root", ws.root
    )
    assert shared.code == 0, shared.err
    extension = ws.extension_kind_dir("clusters") / "newguy"
    before = sorted(p.relative_to(ws.root) for p in ws.root.rglob("*"))

    result = cli("init", "--root", ws.root, "--user-name", "newguy")

    assert result.code == 2
    assert result.err.count("\n") == 1
    assert "--user-name: 'newguy' is the name of extensions/clusters/newguy" in (
        result.err
    )
    assert sorted(p.relative_to(ws.root) for p in ws.root.rglob("*")) == before
    assert (extension / "extension.toml").is_file()


def test_user_named_after_a_shared_infrastructure_is_refused(cli, make_workspace):
    ws = make_workspace()
    (ws.infra_dir / "lab").mkdir()

    result = cli("init", "--root", ws.root, "--user-name", "lab")

    assert result.code == 2
    assert "'lab' is the name of infra/lab, a shared infrastructure" in result.err
    assert not (ws.config_dir / "lab.toml").exists()


@pytest.mark.parametrize("name", ["template", "tester"])
def test_shared_extension_named_after_a_user_or_the_template_is_refused(
    cli, make_workspace, name
):
    ws = make_workspace()
    make_workspace("tester")
    (ws.extension_kind_dir("clusters") / "tester").rmdir()  # the area, not the user
    before = sorted(p.name for p in ws.extension_kind_dir("clusters").iterdir())

    result = cli(
        "tools", "create-extension", f"clusters/{name}", "--shared", "--root", ws.root
    )

    assert result.code == 2
    assert result.err.count("\n") == 1
    assert f"KIND/NAME: {name!r}" in result.err
    assert sorted(p.name for p in ws.extension_kind_dir("clusters").iterdir()) == (
        before
    )
