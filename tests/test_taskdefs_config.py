"""``doit config``: the merged cache is rebuilt only when a layer changes."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import tomllib

import pytest
from doit.cmd_base import ModuleTaskLoader
from doit.doit_cmd import DoitMain
from external_tools import needs

from workspace_tasks.cascade import cache_is_fresh, read_cached
from workspace_tasks.settings import setting
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


def _with_env(ws, **environ: str):
    return dataclasses.replace(ws, environ=environ)


def _built(ws) -> int:
    """Run ``doit config``; return the cache's inode (a new one: it was rebuilt)."""
    assert _doit(ws, "config") == 0
    return os.stat(ws.merged_config).st_ino


def test_a_changed_variable_the_config_reads_rebuilds_the_cache(make_workspace):
    ws = make_workspace("dev")
    with ws.user_config.open("a") as handle:
        handle.write('[x]\nfoo = "${env.NC1FOO}"\n')
    first = _built(_with_env(ws, NC1FOO="one", OTHER="a"))
    assert _built(_with_env(ws, NC1FOO="one", OTHER="b")) == first
    second = _built(_with_env(ws, NC1FOO="two"))
    assert second != first
    assert setting(_with_env(ws, NC1FOO="two"), "x.foo") == "two"
    assert _built(_with_env(ws)) != second
    assert setting(_with_env(ws), "x.foo") == "${env.NC1FOO}"
    assert setting(_with_env(ws, NC1FOO="three"), "x.foo") == "three"


def test_a_config_reading_the_build_timestamp_is_never_up_to_date(make_workspace):
    ws = make_workspace("dev")
    with ws.user_config.open("a") as handle:
        handle.write('[x]\nwhen = "${build.timestamp}"\n')
    first = _built(ws)
    assert _built(ws) != first
    assert not cache_is_fresh(ws)
    assert read_cached(ws) is None


@needs("git")
def test_a_new_commit_or_branch_rebuilds_a_config_reading_git(make_workspace):
    ws = make_workspace("dev")
    with ws.user_config.open("a") as handle:
        handle.write('[x]\nbranch = "${git.branch}"\n')

    def git(*argv: str) -> None:
        subprocess.run(
            ["git", "-c", "user.email=t@t", "-c", "user.name=t", *argv],
            cwd=ws.root,
            check=True,
            capture_output=True,
        )

    git("init", "-q", "-b", "main")
    git("commit", "-q", "--allow-empty", "-m", "one")
    first = _built(ws)
    assert _built(ws) == first
    git("checkout", "-q", "-b", "feature")
    second = _built(ws)
    assert second != first
    assert setting(ws, "x.branch") == "feature"
    git("commit", "-q", "--allow-empty", "-m", "two")
    assert _built(ws) != second
