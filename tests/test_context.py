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
