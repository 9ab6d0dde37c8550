"""Names become paths: only safe ones pass, on every command that takes one."""

from __future__ import annotations

import pytest

from workspace_tasks.errors import InvalidName
from workspace_tasks.names import check_name

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
