"""The workspace's tools/ folder: ``invoke`` names and the ``doit`` engine."""

from __future__ import annotations

import json
import os
import shutil
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


def _break_state(ws, how, outside):
    state = ws.state_dir
    shutil.rmtree(state)
    if how == "link-out":
        outside.mkdir()
        state.symlink_to(outside)
    elif how == "file":
        state.write_text("mine")
    else:
        state.symlink_to(state.name)


BROKEN_STATE = {
    "link-out": "runtime/state/dev: it leads outside the workspace",
    "file": "runtime/state/dev is a file, not a folder",
    "loop": "runtime/state/dev is a link to no folder, not a folder",
}


@pytest.mark.parametrize("task", ["health", "backup"])
@pytest.mark.parametrize("how", BROKEN_STATE, ids=BROKEN_STATE.keys())
def test_doit_with_a_broken_state_folder_fails_in_one_line(
    make_workspace, tmp_path, how, task
):
    ws = make_workspace("dev")
    outside = tmp_path / "outside"
    _break_state(ws, how, outside)

    result = _run([BIN / "doit", task], ws.tools_dir)

    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("workspace: error: ")
    assert BROKEN_STATE[how] in result.stderr
    assert not outside.exists() or list(outside.iterdir()) == []


def test_a_corrupt_doit_state_is_set_aside_and_rebuilt(make_workspace):
    ws = make_workspace("dev")
    ws.doit_dep_file.write_text("{bad")

    result = _run([BIN / "doit", "status"], ws.tools_dir)

    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith(
        "workspace: warning: runtime/state/dev/doit-state.json was not valid doit "
        "state (Expecting property name enclosed in double quotes: line 1 column 2 "
        "(char 1)); moved it aside as doit-state.json.corrupt-"
    )
    aside = list(ws.state_dir.glob("doit-state.json.corrupt-*"))
    assert [p.read_text() for p in aside] == ["{bad"]
    assert isinstance(json.loads(ws.doit_dep_file.read_text()), dict)
    again = _run([BIN / "doit", "status"], ws.tools_dir)
    assert (again.returncode, again.stderr) == (0, "")


def test_doit_with_a_state_folder_it_cannot_write_fails_in_one_line(
    make_workspace, immutable
):
    ws = make_workspace("dev")
    immutable(ws.state_dir)

    result = _run([BIN / "doit", "health"], ws.tools_dir)

    assert result.returncode == 2
    assert result.stderr == (
        "workspace: error: runtime/state/dev/doit-state.json: cannot be written "
        "(Operation not permitted); doit keeps its state there\n"
    )


def test_a_part_that_cannot_be_recorded_fails_its_task_in_one_line(
    make_workspace, immutable
):
    ws = make_workspace("dev")
    assert _run([BIN / "doit", "health"], ws.tools_dir).returncode == 0
    immutable(ws.state_dir / "health")

    result = _run([BIN / "doit", "health:runtime"], ws.tools_dir)

    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr == (
        f"workspace: error: {ws.state_dir / 'health' / 'runtime.json'}: "
        "Operation not permitted\n"
    )
