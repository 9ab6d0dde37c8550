"""Expansion of ${...}: nesting, cycles, escapes, unknown namespaces, built-ins."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from external_tools import needs

from workspace_tasks import tomlfile
from workspace_tasks.interpolation import Builtins, interpolate

DATA = Path(__file__).parent / "data" / "toml"


def _builtins(root: Path, **environ: str) -> Builtins:
    return Builtins(user="dev", type="development", root=root, environ=environ)


def test_nested_references_resolve(tmp_path):
    data = {"a": {"x": "${a.y}/x", "y": "${a.z}/y", "z": "${workspace.user}"}}
    result = interpolate(data, _builtins(tmp_path))
    assert result.data["a"]["x"] == "dev/y/x"
    assert result.problems == []


def test_cycle_is_reported_with_its_chain(tmp_path):
    result = interpolate(tomlfile.load(DATA / "cycle.toml"), _builtins(tmp_path))
    messages = [p.message for p in result.problems]
    assert messages == ["interpolation cycle: a.b -> a.c -> a.d -> a.b"]
    assert result.problems[0].key == ("a", "b")
    assert result.data["a"]["b"] == "${a.c}"


def test_escape_writes_a_literal_reference(tmp_path):
    result = interpolate(tomlfile.load(DATA / "escape.toml"), _builtins(tmp_path))
    assert result.data["shell"]["prompt"] == "${HOME} is literal"


def test_unknown_namespace_is_kept_verbatim(tmp_path):
    data = tomlfile.load(DATA / "unknown-namespace.toml")
    result = interpolate(data, _builtins(tmp_path))
    assert result.data["git"]["msg"] == "[dev] ${change.type}"
    assert result.problems == []


def test_escaped_text_of_a_referenced_key_is_not_expanded_again(tmp_path):
    data = {"a": {"lit": "$${workspace.user}", "use": "<${a.lit}>"}}
    result = interpolate(data, _builtins(tmp_path))
    assert result.data["a"]["use"] == "<${workspace.user}>"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"a": {"x": "${a.missing}"}},
            "${a.missing}: no such key in the configuration",
        ),
        (
            {"a": {"x": "${env.NOPE}"}},
            "${env.NOPE}: environment variable NOPE is not set",
        ),
        ({"a": {"x": "${a}"}}, "${a}: refers to a table, not a value"),
        ({"a": {"x": "${git.tag}"}}, "${git.tag}: no such built-in value or key"),
    ],
    ids=["missing-key", "unset-env", "table", "unknown-builtin"],
)
def test_unresolved_references_are_problems_and_stay_as_written(
    tmp_path, data, message
):
    result = interpolate(data, _builtins(tmp_path))
    assert [p.message for p in result.problems] == [message]
    assert result.data["a"]["x"] == data["a"]["x"]


def test_builtins_and_scalars(tmp_path):
    data = {
        "a": {
            "who": "${workspace.user}@${workspace.type}:${workspace.root}",
            "home": "${env.HOME_DIR}",
            "n": 3,
            "flag": True,
            "text": "${a.n} ${a.flag}",
            "list": ["${a.n}", 1],
        }
    }
    result = interpolate(data, _builtins(tmp_path, HOME_DIR="/home/dev"))
    assert result.data["a"]["who"] == f"dev@development:{tmp_path}"
    assert result.data["a"]["home"] == "/home/dev"
    assert result.data["a"]["text"] == "3 true"
    assert result.data["a"]["list"] == ["3", 1]
    assert result.data["a"]["n"] == 3


def test_build_timestamp_is_utc_iso8601(tmp_path):
    result = interpolate({"b": {"t": "${build.timestamp}"}}, _builtins(tmp_path))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", result.data["b"]["t"])


def test_git_values_are_unknown_outside_a_repository(tmp_path):
    data = {"v": {"b": "${git.branch}", "c": "${git.commit}"}}
    result = interpolate(data, _builtins(tmp_path, PATH="/usr/bin:/bin"))
    assert result.data["v"] == {"b": "unknown", "c": "unknown"}


@needs("git")
def test_git_values_come_from_the_repository_holding_the_workspace(tmp_path):
    repo = tmp_path / "project"
    root = repo / "workspace"
    root.mkdir(parents=True)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@x"]
    subprocess.run([*git, "init", "-q", "-b", "trunk"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    head = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    data = {"v": {"b": "dev-${git.branch}", "c": "${git.commit}"}}
    result = interpolate(data, _builtins(root, PATH="/usr/bin:/bin"))
    assert result.data["v"] == {"b": "dev-trunk", "c": head}


def test_sources_name_every_reference_a_value_drew_on(tmp_path):
    data = {
        "s": {"token": "T", "x": "${s.token}", "y": "<${s.x}>", "z": "plain"},
        "e": {"list": ["${env.API_KEY}", "b"], "user": "${workspace.user}"},
    }
    result = interpolate(data, _builtins(tmp_path, API_KEY="k"))
    assert result.sources == {
        ("s", "x"): {("s", "token")},
        ("s", "y"): {("s", "x"), ("s", "token")},
        ("e", "list"): {("env", "API_KEY")},
        ("e", "user"): {("workspace", "user")},
    }


def test_strings_in_arrays_of_tables_are_expanded(tmp_path):
    data = tomlfile.loads('[[srv]]\nname = "${workspace.user}-1"\n', "t.toml")
    result = interpolate(data, _builtins(tmp_path))
    assert result.data == {"srv": [{"name": "dev-1"}]}
    assert result.sources == {("srv",): {("workspace", "user")}}


def _doubling(count: int) -> dict:
    """Keys ``k0`` … each twice the next: ``k0`` would be 2**count long."""
    keys = {f"k{i}": f"${{l.k{i + 1}}}${{l.k{i + 1}}}" for i in range(count)}
    return {"l": {**keys, f"k{count}": "x"}}


def test_a_value_may_not_expand_past_one_mebibyte(tmp_path):
    result = interpolate(_doubling(40), _builtins(tmp_path))
    assert [(p.key, p.message) for p in result.problems] == [
        (
            ("l", "k19"),
            "expands to more than 1048576 characters (1 MiB), "
            "the limit of an interpolated value",
        )
    ]
    assert result.data["l"]["k0"] == "${l.k1}${l.k1}"
    assert len(result.data["l"]["k20"]) == 1 << 20


def test_all_expansions_together_may_not_grow_past_sixteen_mebibytes(tmp_path):
    data = _doubling(19)
    data["l"].update({f"copy{i}": "${l.k0}${l.k0}" for i in range(40)})
    result = interpolate(data, _builtins(tmp_path))
    assert len(result.problems) == 1
    assert result.problems[0].message.startswith(
        "the expanded configuration grows by more than 16777216 characters"
    )
    assert result.data["l"]["copy39"] == "${l.k0}${l.k0}"
