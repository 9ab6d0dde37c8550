"""The command line's contract: exit codes, JSON, logging and start-up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from workspace_tasks import logsetup

WORKSPACE = Path(sys.executable).parent / "workspace"


def test_help_lists_the_commands(cli):
    with pytest.raises(SystemExit) as caught:
        cli("--help")
    assert caught.value.code == 0


def test_each_command_is_registered_by_the_family_the_parser_names():
    import importlib

    from workspace_tasks.cli import parser

    registered = {}
    for family in parser.FAMILIES:
        commands = parser.Parser(prog="workspace").add_subparsers()
        importlib.import_module(family).register(commands, parser._common())
        registered.update(dict.fromkeys(commands.choices, family))
    assert registered == parser.COMMANDS


def test_one_command_builds_only_its_family():
    from workspace_tasks.cli.parser import build_parser

    choices = build_parser(["backup", "--help"])._subparsers._group_actions[0].choices
    assert set(choices) == {"backup", "restore", "reset"}


def test_unknown_command_is_exit_2_in_one_line(cli):
    result = cli("frobnicate")
    assert result.code == 2
    assert result.err.count("\n") == 1
    assert "frobnicate" in result.err


def test_missing_command_prints_help_and_exits_2(cli):
    assert cli().code == 2


BACKUP_ROW = {"name", "created", "size", "compression", "encrypted", "location"}
PLAN = {"removals", "skipped", "files", "bytes_to_free", "would_rotate"}
HEALTH = ("--format", "json")
JSON_COMMANDS = [
    pytest.param(
        ["status"],
        dict,
        {"root", "user", "type", "initialised", "infra", "health", "runtime"},
        id="status",
    ),
    pytest.param(
        ["list"], dict, {"root", "users", "infrastructures", "extensions"}, id="list"
    ),
    pytest.param(["resolve", "path", "infra", "dev-dev"], dict, {"path"}, id="path"),
    pytest.param(
        ["resolve", "extension", "providers", "aws"],
        dict,
        {"kind", "name", "origin", "path"},
        id="extension",
    ),
    pytest.param(
        ["resolve", "list-extensions", "taskservs", "--include-core"],
        list,
        {"kind", "name", "origin", "path"},
        id="list-extensions",
    ),
    pytest.param(
        ["resolve", "config", "merged"], dict, {"core", "backup"}, id="resolve-config"
    ),
    pytest.param(
        ["config", "show"], dict, {"core", "backup", "logging"}, id="config-show"
    ),
    pytest.param(
        ["config", "validate"],
        dict,
        {"user", "valid", "problems", "checked_not_merged"},
        id="config-validate",
    ),
    pytest.param(
        ["config", "hierarchy"], dict, {"user", "layers", "keys"}, id="hierarchy"
    ),
    pytest.param(["health", *HEALTH], dict, {"workspace_health"}, id="health"),
    pytest.param(
        ["health", "--report-format", "json", "--detailed"],
        dict,
        {"workspace_health"},
        id="health-detailed",
    ),
    pytest.param(
        ["health", "check-runtime", *HEALTH],
        dict,
        {"workspace_health"},
        id="check-runtime",
    ),
    pytest.param(
        ["resolve", "check-health", *HEALTH],
        dict,
        {"workspace_health"},
        id="resolve-check-health",
    ),
    pytest.param(
        ["resolve", "validate-paths", *HEALTH],
        dict,
        {"workspace_health"},
        id="validate-paths",
    ),
    pytest.param(
        ["runtime", "cache", "--action", "stats"],
        dict,
        {"types", "total_files", "total_bytes", "ttl_seconds"},
        id="cache-stats",
    ),
    pytest.param(["runtime", "logs", "--action", "tail"], dict, {"files"}, id="tail"),
    pytest.param(
        ["runtime", "monitor", "--type", "disk"],
        dict,
        {"time", "elapsed", "disk"},
        id="monitor-once",
    ),
    pytest.param(["runtime", "cleanup", "--dry-run"], dict, PLAN, id="runtime-cleanup"),
    pytest.param(["cleanup", "--type", "all", "--dry-run"], dict, PLAN, id="cleanup"),
    pytest.param(["restore", "--list-backups"], list, BACKUP_ROW, id="list-backups"),
    pytest.param(
        ["restore", "--list-backups", "--detailed"],
        list,
        BACKUP_ROW | {"user", "components", "files", "bytes"},
        id="list-backups-detailed",
    ),
    pytest.param(
        ["restore", "--show-contents", "--backup-name", "base"],
        dict,
        {"name", "user", "components", "entries"},
        id="show-contents",
    ),
    pytest.param(
        ["restore", "--backup-name", "base", "--dry-run"],
        dict,
        {"backup", "user", "dry_run", "steps"},
        id="restore-dry-run",
    ),
    pytest.param(
        ["reset", "--backup-first", "--dry-run"],
        dict,
        {"user", "dry_run", "removals", "bytes"},
        id="reset-dry-run",
    ),
    pytest.param(
        ["tools", "validate-extension", "providers/aws"],
        dict,
        {"extension", "valid", "problems"},
        id="validate-extension",
    ),
]


@pytest.mark.parametrize(("command", "shape", "keys"), JSON_COMMANDS)
def test_json_output_is_only_json(cli, workspace, command, shape, keys):
    from workspace_tasks.backup import BackupOptions, create_backup

    create_backup(workspace, BackupOptions(name="base"))
    if "--format" not in command and "--report-format" not in command:
        command = [*command, "--format", "json"]

    result = cli(*command, "--root", workspace.root)

    # Health exits 1 on a warning of the machine (low disk); JSON all the same.
    assert result.code in ((0, 1) if "workspace_health" in keys else (0,)), result.err
    data = json.loads(result.out)
    assert isinstance(data, shape)
    rows = data if shape is list else [data]
    assert rows
    for row in rows:
        assert keys <= set(row), sorted(row)


def test_user_log_file_receives_debug_messages(cli, make_workspace):
    ws = make_workspace("dev")
    cli("resolve", "path", "infra", "x", "--root", ws.root, "--create-missing")
    text = ws.log_file.read_text()
    assert "DEBUG" in text or "INFO" in text
    assert "created" in text


@pytest.mark.parametrize(
    ("variables", "level"),
    [
        ({}, "WARNING"),
        ({"PROVISIONING_DEBUG": "true"}, "DEBUG"),
        ({"PROVISIONING_LOG_LEVEL": "debug"}, "DEBUG"),
        ({"PROVISIONING_LOG_LEVEL": "info"}, "INFO"),
    ],
    ids=["default", "debug-flag", "debug-level", "info-level"],
)
def test_stderr_level_follows_the_environment(variables, level):
    import logging

    assert logging.getLevelName(logsetup.stderr_level(variables)) == level


def test_each_command_warns_on_the_standard_error_it_runs_with():
    import contextlib
    import io
    import logging

    first, second = io.StringIO(), io.StringIO()
    for stream, text in ((first, "one"), (second, "two")):
        with contextlib.redirect_stderr(stream):
            logsetup.setup_stderr({})
            logging.getLogger("workspace_tasks.cli").warning("warning %s", text)

    assert first.getvalue() == "workspace: WARNING: warning one\n"
    assert second.getvalue() == "workspace: WARNING: warning two\n"


def test_debug_environment_shows_debug_lines_on_stderr(make_workspace, tmp_path):
    ws = make_workspace("dev")
    env = {"PATH": "/usr/bin:/bin", "USER": "dev", "HOME": str(tmp_path),
           "PROVISIONING_DEBUG": "true"}  # fmt: skip
    result = subprocess.run(
        [WORKSPACE, "resolve", "path", "infra", "y", "--root", ws.root,
         "--create-missing"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert result.returncode == 0
    assert "DEBUG" in result.stderr


def test_no_traceback_for_bad_input_in_a_real_process(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "USER": "dev", "HOME": str(tmp_path)}
    result = subprocess.run(
        [WORKSPACE, "init", "--root", tmp_path / "w", "--user-name", "../x"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "workspace: error: --user-name: '../x' is not a valid name; use lowercase "
        "letters, digits, '-', '_' and '.' ('-' and '.' not first)"
    ]


def test_help_does_not_import_heavy_libraries():
    code = (
        "import sys\n"
        "from workspace_tasks.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('doit', 'jinja2', 'tomlkit', 'kcl_lib', 'rich',"
        " 'invoke') if m in sys.modules]\n"
        "print('heavy:' + ','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "heavy:"


def test_output_cut_short_by_a_closed_pipe_is_not_an_error(make_workspace, tmp_path):
    ws = make_workspace("dev", "--create-examples")
    env = {"PATH": "/usr/bin:/bin", "USER": "dev", "HOME": str(tmp_path)}
    # Far more than a pipe's buffer, so the writer meets the closed pipe.
    for number in range(1500):
        (ws.root / "infra" / "local" / f"lab-{number:04d}-{'x' * 50}").mkdir()
    result = subprocess.run(
        f"'{WORKSPACE}' list --root '{ws.root}' --format json | head -c 10",
        shell=True, capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert len(result.stdout) == 10
    assert "BrokenPipe" not in result.stderr
    assert "Traceback" not in result.stderr


def test_workspace_root_that_is_a_file_is_one_line(cli, tmp_path, monkeypatch):
    canary = tmp_path / "canary.txt"
    canary.write_text("untouched")
    monkeypatch.setenv("PROVISIONING_WORKSPACE_ROOT", str(canary))
    result = cli("init", cwd=tmp_path)
    assert result.code == 2
    assert result.err.count("\n") == 1
    assert "PROVISIONING_WORKSPACE_ROOT" in result.err
    assert canary.read_text() == "untouched"


def test_file_errors_name_the_file_in_one_line(cli, make_workspace, tmp_path):
    ws = make_workspace("dev")
    result = cli("resolve", "path", "infra", "x", "--root", ws.root, "--create-missing")
    assert result.code == 0
    (ws.root / "infra" / "dev").rename(tmp_path / "moved")
    (ws.root / "infra" / "dev").write_text("not a folder")
    broken = cli("resolve", "path", "infra", "y", "--root", ws.root, "--create-missing")
    assert broken.code == 2
    assert broken.err.count("\n") == 1
    assert "infra/dev" in broken.err
    assert "Traceback" not in broken.err


def test_an_error_of_the_tool_itself_is_exit_70_not_1(cli, make_workspace, monkeypatch):
    from workspace_tasks.cli import workspace_cmds

    ws = make_workspace("dev")

    def broken(args):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(workspace_cmds, "run_status", broken)
    result = cli("status", "--root", ws.root)
    assert result.code == 70
    assert result.err == (
        "workspace: error: unexpected ZeroDivisionError: division by zero "
        "(set PROVISIONING_DEBUG=true to see where)\n"
    )
