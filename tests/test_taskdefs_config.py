"""``doit config``: the merged cache is rebuilt only when a layer changes."""

from __future__ import annotations

import os
import tomllib

import pytest
from doit.cmd_base import ModuleTaskLoader
from doit.doit_cmd import DoitMain

from workspace_tasks.taskdefs import doit_config, task_creators


def _doit(ws, *argv: str) -> int:
    tasks = {"DOIT_CONFIG": doit_config(ws), **task_creators(ws)}
    return DoitMain(ModuleTaskLoader(tasks)).run(list(argv))


def test_doit_config_writes_the_merged_cache(make_workspace):
    ws = make_workspace("dev")
    assert _doit(ws, "config") == 0
    values = tomllib.loads(ws.merged_config.read_text())
    assert values["core"]["name"] == "provisioning-dev"
    assert values["cache"]["ttl"] == 300


def test_second_run_does_no_work_and_a_touched_layer_rebuilds(make_workspace):
    ws = make_workspace("dev")
    assert _doit(ws, "config") == 0
    first = os.stat(ws.merged_config).st_ino
    assert _doit(ws, "config") == 0
    assert os.stat(ws.merged_config).st_ino == first
    stamp = os.stat(ws.user_config).st_mtime_ns + 10_000_000
    os.utime(ws.user_config, ns=(stamp, stamp))
    assert _doit(ws, "config") == 0
    assert os.stat(ws.merged_config).st_ino != first


def test_a_created_or_removed_layer_rebuilds(make_workspace):
    ws = make_workspace("dev")
    ws.user_config.unlink()
    assert _doit(ws, "config") == 0
    assert "infra" not in tomllib.loads(ws.merged_config.read_text())
    ws.user_config.write_text('[infra]\ncurrent = "x"\n')
    assert _doit(ws, "config") == 0
    assert tomllib.loads(ws.merged_config.read_text())["infra"]["current"] == "x"
    ws.user_config.unlink()
    assert _doit(ws, "config") == 0
    assert "infra" not in tomllib.loads(ws.merged_config.read_text())


def test_invalid_layer_fails_the_task_and_keeps_the_cache(make_workspace):
    ws = make_workspace("dev")
    assert _doit(ws, "config") == 0
    before = ws.merged_config.read_bytes()
    ws.user_config.write_text("[http\n")
    assert _doit(ws, "config") != 0
    assert ws.merged_config.read_bytes() == before


@pytest.mark.parametrize("task", ["config", "backup"], ids=["config", "backup"])
def test_an_invalid_layer_fails_a_task_in_one_line(make_workspace, capsys, task):
    ws = make_workspace("dev")
    lines = ws.user_config.read_text().count("\n")
    with ws.user_config.open("a") as handle:
        handle.write("bad = = \n")
    capsys.readouterr()
    assert _doit(ws, task) != 0
    err = capsys.readouterr().err
    assert err == (
        f"workspace: error: config/dev.toml:{lines + 1}:7: invalid TOML: "
        "invalid value\n"
    )


def test_a_task_that_prints_its_verdict_fails_without_doits_noise(
    make_workspace, capsys
):
    ws = make_workspace("dev")
    ws.user_config.write_text("[http\n")
    capsys.readouterr()
    assert _doit(ws, "health") != 0
    captured = capsys.readouterr()
    assert "overall: critical" in captured.out
    assert "Traceback" not in captured.out + captured.err
    assert "returned False" not in captured.out + captured.err
