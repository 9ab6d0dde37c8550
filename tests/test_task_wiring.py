"""The workspace's tools/ folder: ``invoke`` names and the ``doit`` engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workspace_tasks.errors import UsageError
from workspace_tasks.taskdefs import guarded

BIN = Path(sys.executable).parent


def _run(argv, cwd, user="dev"):
    env = {**os.environ, "USER": user}
    return subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True,
        check=False,
    )  # fmt: skip


def test_invoke_status_works_from_the_tools_folder(make_workspace):
    ws = make_workspace("dev", "--infra-name", "lab")
    result = _run([BIN / "invoke", "status", "--format", "json"], ws.tools_dir)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["infra"] == "lab"


def test_invoke_failure_keeps_the_exit_code(make_workspace):
    ws = make_workspace("dev")
    result = _run([BIN / "invoke", "resolve", "infra", "missing"], ws.tools_dir)
    assert result.returncode == 2
    assert "infra/template/missing" in result.stderr


def test_doit_status_keeps_state_per_user_and_is_incremental(make_workspace):
    ws = make_workspace("dev")
    tester = make_workspace("tester")

    first = _run([BIN / "doit", "status"], ws.tools_dir)
    second = _run([BIN / "doit", "status"], ws.tools_dir)
    other_user = _run([BIN / "doit", "status"], ws.tools_dir, user="tester")

    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(".  status")
    assert second.stdout.startswith("-- status")
    assert other_user.stdout.startswith(".  status")
    assert ws.doit_dep_file.is_file()
    assert tester.doit_dep_file.is_file()
    report = json.loads((ws.state_dir / "status.json").read_text())
    assert report["user"] == "dev"


def test_doit_status_reruns_when_a_dependency_changes(make_workspace):
    ws = make_workspace("dev")
    _run([BIN / "doit", "status"], ws.tools_dir)
    ws.settings_file.write_text(ws.settings_file.read_text() + "# touched\n")
    again = _run([BIN / "doit", "status"], ws.tools_dir)
    assert again.stdout.startswith(".  status")


def test_path_resolver_library_of_the_workspace(make_workspace):
    ws = make_workspace("dev")
    (ws.root / "infra" / "dev" / "mine").mkdir()
    code = (
        "import sys; sys.path.insert(0, 'lib')\n"
        "from path_resolver import resolve_path\n"
        "print(resolve_path('infra', 'mine'))\n"
    )
    result = _run([sys.executable, "-c", code], ws.root)
    assert result.stdout.strip() == str(ws.root / "infra" / "dev" / "mine")


def _broken_at_once():
    raise UsageError("config/dev.toml:1:2: invalid TOML: no")


def _broken_on_the_second_task():
    yield {"name": "a", "actions": None}
    raise UsageError("config/dev.toml:1:2: invalid TOML: no")


@pytest.mark.parametrize(
    "creator",
    [_broken_at_once, _broken_on_the_second_task],
    ids=["returning", "yielding"],
)
def test_a_users_error_while_doit_creates_tasks_is_one_line(capsys, creator):
    with pytest.raises(SystemExit) as stopped:
        list(guarded(creator)())
    assert stopped.value.code == 2
    assert capsys.readouterr().err == (
        "workspace: error: config/dev.toml:1:2: invalid TOML: no\n"
    )
