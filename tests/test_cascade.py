"""The cascade: which layer wins, environment overrides, origins."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from workspace_tasks.cascade import load_cascade, resolve_config
from workspace_tasks.errors import FileSyntaxError, UsageError

SPEC = Path(__file__).parent / "data" / "spec"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def spec_workspace(make_workspace):
    """A testing workspace holding the spec's three example files."""
    ws = make_workspace("dev", "--workspace-type", "testing")
    shutil.copy(SPEC / "dev-defaults.toml", ws.workspace_defaults)
    shutil.copy(SPEC / "test-defaults.toml", ws.env_defaults)
    shutil.copy(SPEC / "user.toml", ws.user_config)
    return ws


@pytest.mark.parametrize(
    ("key", "value", "layer"),
    [
        (("core", "name"), "provisioning-dev", "user"),
        (("core", "version"), "1.0.0-dev", "user"),
        (("http", "timeout"), 10, "environment"),
        (("http", "use_curl"), True, "environment"),
        (("cache", "enabled"), False, "environment"),
        (("cache", "ttl"), 300, "workspace"),
        (("cache", "max_size"), "500MB", "core"),
        (("logging", "level"), "info", "environment"),
        (("logging", "max_size"), "10MB", "workspace"),
        (("development", "auto_reload"), True, "workspace"),
        (("development", "backup_interval"), "1h", "user"),
        (("testing", "mock_providers"), True, "environment"),
        (("infra", "current"), "dev-development", "user"),
        (("paths", "templates"), "~/custom-templates", "user"),
        (("notifications", "email"), "developer@company.com", "user"),
        (
            ("git", "commit_message_template"),
            "[dev] ${change.type}: ${change.description}",
            "user",
        ),
    ],
    ids=lambda part: ".".join(part) if isinstance(part, tuple) else None,
)
def test_spec_examples_merge_as_the_cascade_says(spec_workspace, key, value, layer):
    cascade = load_cascade(spec_workspace)
    node = cascade.values
    for part in key:
        node = node[part]
    assert node == value
    assert cascade.settings[key].layer.name == layer
    assert cascade.problems() == []


def test_origins_name_file_and_line_and_what_was_overridden(spec_workspace):
    setting = load_cascade(spec_workspace).settings[("core", "version")]
    assert setting.to_dict() == {
        "key": "core.version",
        "value": "1.0.0-dev",
        "layer": "user",
        "origin": "config/dev.toml:3",
        "overrides": [
            {
                "layer": "environment",
                "origin": "config/test-defaults.toml:3",
                "value": "test-${build.timestamp}",
            },
            {
                "layer": "workspace",
                "origin": "config/dev-defaults.toml:3",
                "value": "dev-${git.branch}",
            },
            {
                "layer": "core",
                "origin": f"{spec_workspace.core_defaults}:6",
                "value": "1.0.0",
            },
        ],
    }


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({}, "core"),
        ({"dev-defaults.toml": "[http]\ntimeout = 1\n"}, "workspace"),
        ({"test-defaults.toml": "[http]\ntimeout = 2\n"}, "environment"),
        ({"dev.toml": "[http]\ntimeout = 3\n"}, "user"),
    ],
    ids=["core", "workspace", "environment", "user"],
)
def test_each_layer_wins_over_those_below(make_workspace, files, expected):
    ws = make_workspace("dev", "--workspace-type", "testing")
    for name in ("dev-defaults.toml", "test-defaults.toml", "dev.toml"):
        _write(ws.config_dir / name, files.get(name, "[core]\n"))
    setting = load_cascade(ws).settings[("http", "timeout")]
    assert setting.layer.name == expected
    assert setting.value == {"core": 30, "workspace": 1, "environment": 2}.get(
        expected, 3
    )


def test_overrides_sit_above_all_only_when_asked(make_workspace):
    ws = make_workspace("dev")
    _write(ws.local_overrides, "[http]\ntimeout = 50\nretry_count = 9\n")
    ws = dataclasses.replace(ws, environ={"PROVISIONING__HTTP__TIMEOUT": "45"})
    assert resolve_config(ws)["http"]["timeout"] == 30
    merged = resolve_config(ws, "merged", include_overrides=True)
    assert merged["http"]["timeout"] == 45
    assert merged["http"]["retry_count"] == 9
    cascade = load_cascade(ws, include_overrides=True)
    assert cascade.settings[("http", "timeout")].to_dict()["origin"] == (
        "PROVISIONING__HTTP__TIMEOUT"
    )
    assert cascade.settings[("http", "retry_count")].layer.name == "local-overrides"


@pytest.mark.parametrize(
    ("variable", "raw", "key", "value"),
    [
        ("PROVISIONING__HTTP__TIMEOUT", "45", ("http", "timeout"), 45),
        ("PROVISIONING__HTTP__TIMEOUT", "-1", ("http", "timeout"), -1),
        ("PROVISIONING__CACHE__ENABLED", "false", ("cache", "enabled"), False),
        ("PROVISIONING__CORE__VERSION", "00123", ("core", "version"), "00123"),
        ("PROVISIONING__CORE__VERSION", "2", ("core", "version"), "2"),
        ("PROVISIONING__NEW__RATIO", "0.5", ("new", "ratio"), 0.5),
        ("PROVISIONING__NEW__WORDS", "two words", ("new", "words"), "two words"),
    ],
    ids=["int", "negative", "bool", "zeros-string", "string-below", "float", "text"],
)
def test_environment_overrides_are_typed(make_workspace, variable, raw, key, value):
    ws = dataclasses.replace(make_workspace("dev"), environ={variable: raw})
    node = resolve_config(ws, include_overrides=True)
    for part in key:
        node = node[part]
    assert node == value
    assert type(node) is type(value)


def test_tables_merge_deeply_and_arrays_replace(make_workspace):
    ws = make_workspace("dev")
    _write(ws.workspace_defaults, "[a.b]\nx = 1\nlist = [1, 2]\n[a.b.c]\nd = 1\n")
    _write(ws.user_config, "[a.b]\ny = 2\nlist = [3]\n[a.b.c]\ne = 2\n")
    values = resolve_config(ws)
    assert values["a"] == {"b": {"x": 1, "list": [3], "c": {"d": 1, "e": 2}, "y": 2}}


def test_interpolation_happens_after_merging(make_workspace):
    ws = make_workspace("dev")
    _write(ws.workspace_defaults, 'root = "${root}"\n[core]\n')
    _write(ws.user_config, 'root = "/srv/ws"\n[core]\n')
    assert resolve_config(ws)["root"] == "/srv/ws"


def test_a_cycle_left_in_the_merged_result_is_an_error(make_workspace):
    ws = make_workspace("dev")
    _write(ws.user_config, 'root = "${root}"\n')
    with pytest.raises(UsageError) as caught:
        resolve_config(ws)
    assert (
        str(caught.value)
        == "config/dev.toml:1:1: root: interpolation cycle: root -> root"
    )


def test_environment_names_choose_their_defaults(make_workspace):
    ws = make_workspace("dev")
    assert resolve_config(ws, "development")["http"]["timeout"] == 30
    assert resolve_config(ws, "testing")["http"]["timeout"] == 10
    assert resolve_config(ws, "production")["http"]["timeout"] == 60
    assert "infra" not in resolve_config(ws, "production")
    assert resolve_config(ws, "user")["infra"]["default_provider"] == "upcloud"


def test_unknown_config_name_is_a_usage_error(make_workspace):
    with pytest.raises(UsageError, match="'staging' is not one of"):
        resolve_config(make_workspace("dev"), "staging")


def test_invalid_layer_raises_with_its_position(make_workspace):
    ws = make_workspace("dev")
    shutil.copy(
        Path(__file__).parent / "data" / "toml" / "duplicate-key.toml", ws.user_config
    )
    with pytest.raises(FileSyntaxError) as caught:
        load_cascade(ws)
    assert str(caught.value).startswith("config/dev.toml:3:11: invalid TOML")


def test_bom_layer_is_read(make_workspace):
    ws = make_workspace("dev")
    shutil.copy(Path(__file__).parent / "data" / "toml" / "bom.toml", ws.user_config)
    assert resolve_config(ws)["core"]["name"] == "bom"


def test_a_layer_overriding_many_keys_keeps_each_keys_history(make_workspace):
    ws = make_workspace("dev")
    _write(
        ws.workspace_defaults, "[big]\n" + "".join(f"k{i} = {i}\n" for i in range(50))
    )
    _write(
        ws.user_config, "[big]\n" + "".join(f"k{i} = {i + 100}\n" for i in range(50))
    )
    cascade = load_cascade(ws)
    setting = cascade.settings[("big", "k7")]
    assert (setting.value, setting.layer.name) == (107, "user")
    assert [(layer.name, value) for layer, value in setting.overridden] == [
        ("workspace", 7)
    ]
