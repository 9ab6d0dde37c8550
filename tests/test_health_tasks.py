"""``doit health`` runs the file-bound parts only when their files change."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import invoke
import pytest

from workspace_tasks.invoke_tasks import collection_for
from workspace_tasks.taskdefs.health import measured_ago

BIN = Path(sys.executable).parent
PART = re.compile(r"^(\.|--)\s+health:(\w+)$", re.MULTILINE)


def doit_health(ws) -> tuple[int, dict[str, bool], str]:
    env = {**os.environ, "USER": ws.user}
    result = subprocess.run(
        [BIN / "doit", "health"], cwd=ws.tools_dir, env=env,
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    ran = {name: mark == "." for mark, name in PART.findall(result.stdout)}
    return result.returncode, ran, result.stdout + result.stderr


ALWAYS = {"directories", "runtime", "resources", "integration", "report"}


def test_second_run_skips_configuration_and_extensions(workspace):
    first_code, first, _ = doit_health(workspace)
    second_code, second, out = doit_health(workspace)

    assert (first_code, second_code) == (0, 0), out
    assert all(first.values()) and len(first) == 7
    assert {name for name, ran in second.items() if ran} == ALWAYS
    report = json.loads((workspace.state_dir / "health.json").read_text())
    assert report["workspace_health"]["overall_status"] == "healthy"
    assert "overall: healthy" in out


def test_a_changed_layer_or_template_reruns_its_part_only(workspace, cli):
    doit_health(workspace)
    workspace.user_config.write_text(workspace.user_config.read_text() + "# edit\n")
    _, after_config, _ = doit_health(workspace)

    created = cli("tools", "create-extension", "clusters/k8s", "--root", workspace.root)
    assert created.code == 0, created.err
    doit_health(workspace)
    template = workspace.user_extensions_dir("clusters") / "k8s" / "main.j2"
    template.write_text("{{ nodes }\n")
    code, after_template, out = doit_health(workspace)

    assert after_config["configuration"] and not after_config["extensions"]
    assert after_template["extensions"] and not after_template["configuration"]
    assert code != 0
    assert "extensions/clusters/dev/k8s/main.j2:1: template syntax" in out
    report = json.loads((workspace.state_dir / "health.json").read_text())
    assert report["workspace_health"]["checks"]["extensions"]["clusters"] == 1


MEASURED = re.compile(r"^(\w+): \w+ \(measured (\S+), (\w+) ago\)$", re.MULTILINE)


def test_report_says_how_fresh_each_part_is(workspace):
    doit_health(workspace)
    parts = workspace.state_dir / "health"
    for name in ("configuration", "runtime", "resources"):
        data = json.loads((parts / f"{name}.json").read_text())
        data["checked_at"] = "2000-01-01T00:00:00Z"
        (parts / f"{name}.json").write_text(json.dumps(data))

    _, ran, out = doit_health(workspace)

    shown = {name: (at, age) for name, at, age in MEASURED.findall(out)}
    assert set(shown) == set(ALWAYS - {"report"}) | {"configuration", "extensions"}
    assert not ran["configuration"]
    assert shown["configuration"][0] == "2000-01-01T00:00:00Z"
    assert shown["configuration"][1].endswith("d")
    for name in ("runtime", "resources"):
        assert ran[name]
        fresh = json.loads((parts / f"{name}.json").read_text())["checked_at"]
        assert shown[name][0] == fresh != "2000-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("checked_at", "shown"),
    [
        ("2025-09-25T12:00:00Z", "0s ago"),
        ("2025-09-25T11:59:15Z", "45s ago"),
        ("2025-09-25T11:47:30Z", "12m ago"),
        ("2025-09-25T08:59:59Z", "3h ago"),
        ("2025-09-11T12:00:00Z", "14d ago"),
        ("2025-09-25T12:00:01Z", "in the future"),
        ("yesterday", "age unknown"),
    ],
    ids=["now", "seconds", "minutes", "hours", "days", "future", "unreadable"],
)
def test_measured_age_is_given_in_its_largest_whole_unit(checked_at, shown):
    now = datetime(2025, 9, 25, 12, 0, tzinfo=UTC)
    assert measured_ago(checked_at, now) == shown


@pytest.mark.parametrize(
    ("relpath", "message"),
    [
        ("config/dev.toml", "Missing user configuration config/dev.toml"),
        (
            "config/prod-defaults.toml",
            "Missing defaults file config/prod-defaults.toml",
        ),
    ],
    ids=["user-config", "prod-defaults"],
)
def test_a_deleted_config_file_reruns_the_configuration_part(
    workspace, relpath, message
):
    doit_health(workspace)
    (workspace.root / relpath).unlink()
    code, ran, out = doit_health(workspace)
    assert ran["configuration"]
    assert code != 0
    assert message in out


def test_invoke_health_runs_the_same_check(workspace, capsys):
    workspace.logs_dir.chmod(0o711)
    tasks = collection_for(workspace.root)
    program = invoke.Program(namespace=tasks, binary="invoke")
    try:
        program.run(["invoke", "health", "--check", "runtime", "--fix-issues"])
    except SystemExit as exc:
        assert exc.code in (0, None)
    assert "Set mode 0700 on runtime/logs/dev (was 0711)" in capsys.readouterr().out


def test_a_changed_variable_the_configuration_reads_reruns_its_part(
    workspace, cli, monkeypatch
):
    with workspace.user_config.open("a") as handle:
        handle.write('[x]\nsite = "${env.WORKSPACE_TESTS_SITE}"\n')
    monkeypatch.setenv("WORKSPACE_TESTS_SITE", "one")
    doit_health(workspace)
    _, unchanged, _ = doit_health(workspace)

    monkeypatch.delenv("WORKSPACE_TESTS_SITE")
    code, unset, out = doit_health(workspace)
    direct = cli("health", "check-config", "--root", workspace.root)

    assert not unchanged["configuration"]
    assert unset["configuration"]
    assert code == direct.code == 1, out
    assert "WORKSPACE_TESTS_SITE is not set" in out
    assert "WORKSPACE_TESTS_SITE is not set" in direct.out
