"""``workspace config`` and ``resolve config``: every action of the family."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


def _root(ws) -> list[str]:
    return ["--root", str(ws.root), "--workspace-user", ws.user]


def test_show_prints_merged_toml(cli, make_workspace):
    ws = make_workspace("dev")
    result = cli("config", "show", *_root(ws))
    assert result.code == 0, result.err
    values = tomllib.loads(result.out)
    assert values["core"]["name"] == "provisioning-dev"
    assert values["http"]["timeout"] == 30


def test_show_redacts_secrets_unless_asked(cli, make_workspace):
    ws = make_workspace("dev")
    shutil.copy(DATA / "spec" / "user.toml", ws.user_config)
    with ws.user_config.open("a") as handle:
        handle.write('[api]\ntoken = "t0k"\naccess_key_id = "AK"\nkeep_last = 3\n')
    shown = json.loads(cli("config", "show", *_root(ws), "--format", "json").out)
    assert shown["notifications"]["slack_webhook"] == "********"
    assert shown["api"] == {
        "token": "********",
        "access_key_id": "********",
        "keep_last": 3,
    }
    assert shown["notifications"]["email"] == "developer@company.com"
    secret = cli("config", "show", *_root(ws), "--format", "json", "--show-secrets")
    assert json.loads(secret.out)["api"]["token"] == "t0k"


CASES = [
    ("arabic-digit.toml", "config/dev.toml:2:9: invalid TOML"),
    ("vertical-tab.toml", "config/dev.toml:2:10: invalid TOML"),
    ("duplicate-key.toml", "config/dev.toml:3:11: invalid TOML"),
    ("wrong-type.toml", "config/dev.toml:2:1: http.timeout: 'thirty' is not of type"),
    (
        "cycle.toml",
        "config/dev.toml:2:1: a.b: interpolation cycle: a.b -> a.c -> a.d -> a.b",
    ),
]


@pytest.mark.parametrize(("name", "line"), CASES, ids=[c[0] for c in CASES])
def test_validate_reports_each_bad_case_with_its_position(
    cli, make_workspace, name, line
):
    ws = make_workspace("dev")
    shutil.copy(DATA / "toml" / name, ws.user_config)
    result = cli("config", "validate", *_root(ws))
    assert result.code == 1
    errors = [x for x in result.out.splitlines() if "warning:" not in x]
    assert len(errors) == 1
    assert errors[0].startswith(line)


@pytest.mark.parametrize(
    "name", ["arabic-digit.toml", "vertical-tab.toml", "duplicate-key.toml"]
)
def test_other_commands_refuse_invalid_toml_with_one_line_and_exit_2(
    cli, make_workspace, name
):
    ws = make_workspace("dev")
    shutil.copy(DATA / "toml" / name, ws.user_config)
    before = ws.user_config.read_bytes()
    for argv in (
        ["config", "show"],
        ["config", "hierarchy"],
        ["resolve", "config", "user"],
    ):
        result = cli(*argv, *_root(ws))
        assert result.code == 2
        assert result.err.count("\n") == 1
        assert "config/dev.toml:" in result.err and "Traceback" not in result.err
    assert ws.user_config.read_bytes() == before


@pytest.mark.parametrize(
    ("name", "key", "value"),
    [
        ("escape.toml", ("shell", "prompt"), "${HOME} is literal"),
        ("unknown-namespace.toml", ("git", "msg"), "[dev] ${change.type}"),
        ("bom.toml", ("core", "name"), "bom"),
    ],
    ids=["escape", "unknown-namespace", "bom"],
)
def test_valid_cases_resolve_as_written(cli, make_workspace, name, key, value):
    ws = make_workspace("dev")
    shutil.copy(DATA / "toml" / name, ws.user_config)
    result = cli("resolve", "config", "user", *_root(ws), "--format", "json")
    assert result.code == 0, result.err
    assert json.loads(result.out)[key[0]][key[1]] == value
    assert cli("config", "validate", *_root(ws)).code == 0


def test_validate_warns_about_unknown_sections_without_failing(cli, make_workspace):
    ws = make_workspace("dev")
    shutil.copy(DATA / "toml" / "escape.toml", ws.user_config)
    result = cli("config", "validate", *_root(ws), "--format", "json")
    assert result.code == 0
    report = json.loads(result.out)
    assert report["valid"] is True
    assert report["problems"] == [
        {
            "message": "unknown section [shell]",
            "file": "config/dev.toml",
            "line": 1,
            "column": 1,
            "severity": "warning",
        }
    ]


def test_validate_checks_environment_variables_against_the_schema(
    cli, make_workspace, monkeypatch
):
    ws = make_workspace("dev")
    monkeypatch.setenv("PROVISIONING__HTTP__TIMEOUT", "soon")
    plain = cli("config", "validate", *_root(ws))
    assert plain.code == 0
    result = cli("config", "validate", *_root(ws), "--include-overrides")
    assert result.code == 1
    assert result.out.strip() == (
        "PROVISIONING__HTTP__TIMEOUT: http.timeout: 'soon' is not of type 'integer'"
    )


def test_validate_reads_the_other_environments_defaults_too(cli, make_workspace):
    ws = make_workspace("dev")
    (ws.config_dir / "prod-defaults.toml").write_text("[http]\ntimeout = [\n")
    result = cli("config", "validate", *_root(ws))
    assert result.code == 1
    assert result.out.startswith("config/prod-defaults.toml:3:1: invalid TOML")


def test_hierarchy_shows_origin_and_overridden_values(cli, make_workspace):
    ws = make_workspace("dev")
    result = cli("config", "hierarchy", *_root(ws), "--format", "json")
    keys = {row["key"]: row for row in json.loads(result.out)["keys"]}
    ttl = keys["cache.ttl"]
    assert ttl["value"] == 300
    assert ttl["origin"] == "config/dev-defaults.toml:21"
    assert [o["value"] for o in ttl["overrides"]] == [3600]
    text = cli("config", "hierarchy", *_root(ws)).out
    line = next(x for x in text.splitlines() if x.startswith("cache.ttl "))
    assert "config/dev-defaults.toml:21" in line and "= 3600" in line


def test_merge_keeps_comments_and_writes_privately(cli, make_workspace, tmp_path):
    ws = make_workspace("dev")
    ws.workspace_defaults.write_text(
        "# opening block of the file\n\n"
        "[http]\n"
        "# seconds before giving up\n"
        "timeout = 30  # the default\n"
        "retry_count = 3\n"
    )
    ws.user_config.write_text(
        "[http]\n# mine is slower\ntimeout = 90  # slow network\n"
        '[paths]\n# Custom paths for this user\ntemplates = "~/t"\n'
    )
    target = tmp_path / "out" / "merged.toml"
    target.parent.mkdir()
    result = cli("config", "merge", *_root(ws), "--output", target)
    assert result.code == 0, result.err
    text = target.read_text()
    assert "# mine is slower\ntimeout = 90  # slow network\nretry_count = 3" in text
    assert '# Custom paths for this user\ntemplates = "~/t"' in text
    assert "opening block" not in text
    assert "#   user: config/dev.toml" in text
    assert tomllib.loads(text)["http"] == {
        "use_curl": False,
        "timeout": 90,
        "retry_count": 3,
    }
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["merged.toml"]


def test_merge_writes_expanded_values(cli, make_workspace, tmp_path):
    ws = make_workspace("dev")
    target = tmp_path / "merged.toml"
    cli("config", "merge", *_root(ws), "--output", target)
    values = tomllib.loads(target.read_text())
    assert values["paths"]["templates"] == f"{ws.root}/extensions"


def _editor(tmp_path: Path, body: str) -> str:
    script = tmp_path / "editor.py"
    script.write_text(
        f"import sys\nopen(sys.argv[1], 'w', encoding='utf-8').write({body!r})\n"
    )
    return f"{sys.executable} {script}"


def test_edit_keeps_a_valid_result(cli, make_workspace, tmp_path, monkeypatch):
    ws = make_workspace("dev")
    monkeypatch.setenv("EDITOR", _editor(tmp_path, "[http]\ntimeout = 5\n"))
    result = cli("config", "edit", *_root(ws))
    assert result.code == 0, result.err
    assert ws.user_config.read_text() == "[http]\ntimeout = 5\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[http]\ntimeout = 5\ntimeout = 6\n", "config/dev.toml:3:12: invalid TOML"),
        ('[http]\ntimeout = "thirty"\n', "config/dev.toml:2:1: http.timeout:"),
        ('[a]\nb = "${a.b}"\n', "config/dev.toml:2:1: a.b: interpolation cycle"),
    ],
    ids=["syntax", "type", "cycle"],
)
def test_edit_restores_the_previous_file_when_invalid(
    cli, make_workspace, tmp_path, monkeypatch, body, message
):
    ws = make_workspace("dev")
    before = ws.user_config.read_bytes()
    monkeypatch.setenv("VISUAL", _editor(tmp_path, body))
    monkeypatch.setenv("EDITOR", "false")
    result = cli("config", "edit", *_root(ws))
    assert result.code == 2
    assert message in result.err
    assert "was not changed" in result.err
    assert ws.user_config.read_bytes() == before


def test_edit_creates_the_file_from_the_example_first(
    cli, make_workspace, tmp_path, monkeypatch
):
    ws = make_workspace("dev")
    ws.user_config.unlink()
    seen = tmp_path / "seen.toml"
    script = tmp_path / "editor.py"
    # The editor copies what it was given aside, so the test can see it.
    script.write_text(f"import shutil, sys\nshutil.copy(sys.argv[1], {str(seen)!r})\n")
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    result = cli("config", "edit", *_root(ws))
    assert result.code == 0, result.err
    example = (ws.config_dir / "local-overrides.toml.example").read_bytes()
    assert seen.read_bytes() == example
    assert ws.user_config.read_bytes() == example


def test_edit_removes_a_created_file_when_invalid(
    cli, make_workspace, tmp_path, monkeypatch
):
    ws = make_workspace("dev")
    ws.user_config.unlink()
    monkeypatch.setenv("EDITOR", _editor(tmp_path, "broken = \n"))
    result = cli("config", "edit", *_root(ws))
    assert result.code == 2
    assert not ws.user_config.exists()


def test_edit_without_an_editor_is_a_usage_error(cli, make_workspace):
    ws = make_workspace("dev")
    result = cli("config", "edit", *_root(ws))
    assert result.code == 2
    assert "set VISUAL or EDITOR" in result.err


def test_resolve_config_names(cli, make_workspace):
    ws = make_workspace("dev")
    testing = json.loads(
        cli("resolve", "config", "testing", *_root(ws), "--format", "json").out
    )
    assert testing["http"]["timeout"] == 10
    bad = cli("resolve", "config", "staging", *_root(ws))
    assert bad.code == 2
    assert "invalid choice: 'staging'" in bad.err


@pytest.mark.parametrize(
    ("name", "relpath"),
    [
        ("user", "config/dev.toml"),
        ("development", "config/dev-defaults.toml"),
        ("testing", "config/test-defaults.toml"),
        ("production", "config/prod-defaults.toml"),
    ],
    ids=["user", "development", "testing", "production"],
)
def test_resolve_path_knows_config_names(cli, make_workspace, name, relpath):
    ws = make_workspace("dev")
    result = cli("resolve", "path", "config", name, *_root(ws))
    assert result.code == 0, result.err
    assert result.out.strip() == str(ws.root / relpath)


def test_resolve_path_config_creates_missing_files(cli, make_workspace):
    ws = make_workspace("dev")
    ws.user_config.unlink()
    missing = cli("resolve", "path", "config", "user", *_root(ws))
    assert missing.code == 2
    assert "--create-missing" in missing.err
    created = cli("resolve", "path", "config", "user", *_root(ws), "--create-missing")
    assert created.code == 0
    assert (
        ws.user_config.read_bytes()
        == (ws.config_dir / "local-overrides.toml.example").read_bytes()
    )
    merged = cli("resolve", "path", "config", "merged", *_root(ws), "--create-missing")
    assert merged.out.strip() == str(ws.merged_config)
    assert tomllib.loads(ws.merged_config.read_text())["http"]["timeout"] == 30
    assert os.path.isfile(ws.merged_config)


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("config", "--output: config is a folder; give a file name"),
        ("no/such/dir/m.toml", "--output: the folder no/such/dir does not exist"),
    ],
    ids=["folder", "missing-folder"],
)
def test_merge_refuses_an_output_it_cannot_write(cli, make_workspace, where, message):
    ws = make_workspace("dev")
    result = cli("config", "merge", *_root(ws), "--output", where, cwd=ws.root)
    assert result.code == 2
    assert result.err == f"workspace: error: {message}\n"
    assert not (ws.root / "no").exists()


@pytest.mark.parametrize(
    ("action", "code", "line"),
    [
        ("show", 2, "workspace: error: config/dev.toml: is a folder, not a file"),
        ("validate", 1, "config/dev.toml: is a folder, not a file"),
        ("edit", 2, "is a folder, not a file; nothing was changed"),
    ],
    ids=["show", "validate", "edit"],
)
def test_a_user_file_that_is_a_folder_is_one_line(
    cli, make_workspace, monkeypatch, action, code, line
):
    ws = make_workspace("dev")
    ws.user_config.unlink()
    ws.user_config.mkdir()
    monkeypatch.setenv("EDITOR", "true")
    result = cli("config", action, *_root(ws))
    assert result.code == code
    assert line in result.out + result.err
    assert "unexpected" not in result.err
    assert ws.user_config.is_dir()


@pytest.mark.parametrize(
    "argv",
    [("config", "show"), ("config", "validate"), ("status",), ("list",)],
    ids=["show", "validate", "status", "list"],
)
def test_a_missing_core_root_is_a_usage_error(
    cli, make_workspace, monkeypatch, tmp_path, argv
):
    ws = make_workspace("dev")
    monkeypatch.setenv("PROVISIONING_CORE_ROOT", str(tmp_path / "no-core"))
    result = cli(*argv, cwd=ws.root)
    assert result.code == 2
    assert result.err == (
        f"workspace: error: PROVISIONING_CORE_ROOT: {tmp_path / 'no-core'} "
        "is not a folder\n"
    )


def test_a_core_root_without_defaults_is_a_usage_error(
    cli, make_workspace, monkeypatch, tmp_path
):
    ws = make_workspace("dev")
    (tmp_path / "core" / "config").mkdir(parents=True)
    monkeypatch.setenv("PROVISIONING_CORE_ROOT", str(tmp_path / "core"))
    result = cli("config", "show", cwd=ws.root)
    assert result.code == 2
    assert "PROVISIONING_CORE_ROOT" in result.err
    assert "has no config/config.defaults.toml" in result.err


def _copied_core(tmp_path: Path) -> Path:
    from workspace_tasks.context import default_core_root

    core = tmp_path / "core"
    shutil.copytree(default_core_root({}) / "config", core / "config")
    return core


def test_a_broken_schema_is_reported_at_its_line_and_column(
    cli, make_workspace, monkeypatch, tmp_path
):
    ws = make_workspace("dev")
    core = _copied_core(tmp_path)
    (core / "config" / "config.schema.json").write_text('{\n  "type": ,\n}\n')
    monkeypatch.setenv("PROVISIONING_CORE_ROOT", str(core))
    result = cli("config", "validate", cwd=ws.root)
    assert result.code == 2
    schema = core / "config" / "config.schema.json"
    assert result.err == (
        f"workspace: error: {schema}:2:11: invalid JSON: Expecting value\n"
    )


def test_values_nested_too_deep_are_a_problem_of_the_file(cli, make_workspace):
    ws = make_workspace("dev")
    ws.user_config.write_text("[http]\na = " + "[" * 5000 + "]" * 5000 + "\n")
    shown = cli("config", "show", *_root(ws))
    assert shown.code == 2
    message = "config/dev.toml:2:105: nesting too deep (more than 100 levels)"
    assert shown.err == f"workspace: error: {message}\n"
    checked = cli("config", "validate", *_root(ws))
    assert (checked.code, checked.out) == (1, f"{message}\n")


@pytest.fixture
def immutable(tmp_path):
    """Make files immutable with chattr +i (undone afterwards); skip without it."""
    made: list[Path] = []

    def make(path: Path) -> None:
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
        if done.returncode != 0:
            pytest.skip("chattr +i is not available here")
        made.append(path)

    yield make
    for path in made:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_edit_of_an_unwritable_file_changes_nothing(
    cli, make_workspace, tmp_path, monkeypatch, immutable
):
    ws = make_workspace("dev")
    before = ws.user_config.read_bytes()
    immutable(ws.user_config)
    monkeypatch.setenv("EDITOR", _editor(tmp_path, "[http]\ntimeout = 5\n"))
    result = cli("config", "edit", *_root(ws))
    assert result.code == 2
    assert result.err == (
        f"workspace: error: {ws.user_config}: cannot be written; nothing was changed\n"
    )
    assert ws.user_config.read_bytes() == before


@pytest.mark.parametrize(
    ("raw", "shown"),
    [("nan", "nan"), ("inf", "inf"), ("-inf", "-inf"), ("1e400", "inf")],
    ids=["nan", "inf", "minus-inf", "overflow"],
)
def test_json_output_is_strict_for_non_finite_numbers(
    cli, make_workspace, monkeypatch, raw, shown
):
    ws = make_workspace("dev")
    monkeypatch.setenv("PROVISIONING__CACHE__TTL", raw)
    flags = (*_root(ws), "--include-overrides", "--format", "json")
    values = json.loads(cli("config", "show", *flags).out, parse_constant=_refuse)
    assert values["cache"]["ttl"] == shown
    report = json.loads(cli("config", "hierarchy", *flags).out, parse_constant=_refuse)
    row = next(row for row in report["keys"] if row["key"] == "cache.ttl")
    assert (row["value"], row["origin"]) == (shown, "PROVISIONING__CACHE__TTL")


def _refuse(name: str) -> None:
    raise AssertionError(f"{name} is not JSON")


def test_validate_checks_local_overrides_even_when_not_merged(cli, make_workspace):
    ws = make_workspace("dev")
    ws.local_overrides.write_text("[[\n")
    result = cli("config", "validate", *_root(ws))
    assert result.code == 1
    assert result.out == (
        "config/local-overrides.toml:1:3: invalid TOML: "
        "invalid initial character for a key part\n"
    )
    assert (
        "checked, not merged: config/local-overrides.toml "
        "(merged only with --include-overrides)" in result.err
    )
    report = json.loads(cli("config", "validate", *_root(ws), "--format", "json").out)
    assert {
        "file": "config/local-overrides.toml",
        "why": "merged only with --include-overrides",
    } in report["checked_not_merged"]


def test_the_shipped_schema_is_a_valid_json_schema():
    # Validation trusts the shipped schema without checking it each time.
    from jsonschema import Draft202012Validator

    from workspace_tasks.config_validation import SHIPPED_SCHEMA

    Draft202012Validator.check_schema(json.loads(SHIPPED_SCHEMA.read_text()))
