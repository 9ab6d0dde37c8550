"""``doit validate`` and ``doit test``: one sub-task per extension, incrementally."""

from __future__ import annotations

import dataclasses
import shutil

import pytest
from doit.cmd_base import ModuleTaskLoader
from doit.doit_cmd import DoitMain

from workspace_tasks.context import Workspace
from workspace_tasks.taskdefs import doit_config, task_creators


@pytest.fixture
def small(cli, workspace, tmp_path) -> Workspace:
    """A workspace with three extensions of its own and an empty core."""
    for ref in ("providers/p", "taskservs/containerd", "clusters/c"):
        assert cli("tools", "create-extension", ref, "--root", workspace.root).code == 0
    (tmp_path / "core").mkdir()
    return dataclasses.replace(workspace, core_root=tmp_path / "core")


def run_doit(ws: Workspace, *argv: str) -> tuple[int, list[str]]:
    """Run doit in-process on the workspace; return its code and the tasks run."""
    namespace = {"DOIT_CONFIG": doit_config(ws), **task_creators(ws)}
    report = ws.root.parent / "doit-output.txt"
    code = DoitMain(ModuleTaskLoader(namespace)).run(["-o", str(report), *argv])
    out = report.read_text()
    ran = sorted(line[1:].strip() for line in out.splitlines() if line.startswith("."))
    return code, ran


def test_validate_runs_only_what_changed(small):
    p = small.user_extensions_dir("providers") / "p"

    first = run_doit(small, "validate")
    again = run_doit(small, "validate")
    (p / "templates" / "network.j2").write_text("cidr = {{ network_cidr }}\n")
    changed = run_doit(small, "validate")

    assert first == (
        0,
        [
            "validate:clusters/c",
            "validate:providers/p",
            "validate:taskservs/containerd",
        ],
    )
    assert again == (0, [])
    assert changed == (0, ["validate:providers/p"])


def test_new_file_and_new_extension_are_noticed(small, cli):
    run_doit(small, "validate")
    p = small.user_extensions_dir("providers") / "p"
    (p / "tests" / "unit" / "test_more.py").write_text("def test_more():\n    pass\n")
    cli("tools", "create-extension", "providers/q", "--root", small.root)

    assert run_doit(small, "validate") == (
        0,
        ["validate:providers/p", "validate:providers/q"],
    )


def test_removed_file_and_deleted_taskserv_are_noticed(small):
    run_doit(small, "validate")
    (small.user_extensions_dir("providers") / "p" / "README.md").unlink()
    shutil.rmtree(small.user_extensions_dir("taskservs") / "containerd")

    code, ran = run_doit(small, "--continue", "validate")

    assert code != 0
    assert ran == ["validate:clusters/c", "validate:providers/p"]


def test_failed_validation_runs_again(small):
    broken = (
        small.user_extensions_dir("clusters") / "c" / "manifests" / "namespace.yaml"
    )
    broken.write_text("kind: [\n")

    first = run_doit(small, "validate")
    second = run_doit(small, "validate")

    assert first == (
        1,
        [
            "validate:clusters/c",
            "validate:providers/p",
            "validate:taskservs/containerd",
        ],
    )
    assert second == (1, ["validate:clusters/c"])


def test_a_failing_sub_task_says_why_at_the_default_verbosity(small, capsys):
    p = small.user_extensions_dir("providers") / "p"
    (p / "templates" / "network.j2").write_text("{% if %}\n")
    capsys.readouterr()

    validated = run_doit(small, "validate:providers/p")
    validate_err = capsys.readouterr().err
    tested = run_doit(small, "test:providers/p")
    test_err = capsys.readouterr().err

    assert validated == (1, ["validate:providers/p"])
    assert validate_err == (
        "workspace: error: extensions/providers/dev/p/templates/network.j2:1: "
        "template syntax: Expected an expression, got 'end of statement block'\n"
    )
    assert tested == (1, ["test:providers/p"])
    assert "FAILED tests/" in test_err
    assert "\\n" not in test_err  # pytest's report keeps its lines
    assert sum(line.startswith("FAILED tests/") for line in test_err.splitlines())
    assert test_err.splitlines()[-1].startswith(
        "workspace: error: providers/p: 1 failed"
    )


def test_test_task_reruns_only_the_changed_extension(small):
    first = run_doit(small, "test")
    unit = small.user_extensions_dir("clusters") / "c" / "tests" / "unit"
    (unit / "test_more.py").write_text("def test_more():\n    assert True\n")
    second = run_doit(small, "test")

    assert first == (
        0,
        ["test:clusters/c", "test:providers/p", "test:taskservs/containerd"],
    )
    assert second == (0, ["test:clusters/c"])
