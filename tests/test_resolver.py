"""Path and extension resolution: user, shared, template, then core."""

from __future__ import annotations

import json
import shutil
import stat

import pytest

from tests.conftest import build_tree
from workspace_tasks.context import default_core_root, load_workspace
from workspace_tasks.errors import InvalidName, NotFoundError, UnsafeOperation
from workspace_tasks.resolver import list_extensions, resolve_extension, resolve_path


@pytest.fixture
def ws(make_workspace, tmp_path):
    workspace = make_workspace("dev")
    core = tmp_path / "core"
    (core / "infra" / "shared-name").mkdir(parents=True)
    (core / "infra" / "core-only").mkdir(parents=True)
    return load_workspace(workspace.root, "dev", core, {})


LEVELS = {
    "user": "infra/dev/{n}",
    "shared": "infra/{n}",
    "template": "infra/template/{n}",
}


@pytest.mark.parametrize(
    ("present", "winner"),
    [
        (["user", "shared", "template"], "user"),
        (["shared", "template"], "shared"),
        (["template"], "template"),
        (["user", "template"], "user"),
    ],
    ids=["all-levels", "shared-over-template", "template-only", "user-over-template"],
)
def test_resolve_path_takes_the_first_existing_level(ws, present, winner):
    for level in present:
        (ws.root / LEVELS[level].format(n="shared-name")).mkdir(parents=True)
    found = resolve_path(ws, "infra", "shared-name", fallback_to_core=True)
    assert found == ws.root / LEVELS[winner].format(n="shared-name")


def test_core_is_used_only_with_fallback(ws):
    assert resolve_path(ws, "infra", "core-only", fallback_to_core=True) == (
        ws.core_root / "infra" / "core-only"
    )
    with pytest.raises(NotFoundError):
        resolve_path(ws, "infra", "core-only")


def test_not_found_names_every_place_looked_at(ws):
    with pytest.raises(NotFoundError) as caught:
        resolve_path(ws, "infra", "nowhere", fallback_to_core=True)
    message = str(caught.value)
    for place in (
        ws.root / "infra/dev/nowhere",
        ws.root / "infra/nowhere",
        ws.root / "infra/template/nowhere",
        ws.core_root / "infra/nowhere",
    ):
        assert str(place) in message


def test_create_missing_creates_the_user_path(ws):
    found = resolve_path(ws, "infra", "my-infra", create_missing=True)
    assert found == ws.root / "infra" / "dev" / "my-infra"
    assert found.is_dir()


def test_create_missing_in_a_runtime_area_is_private_all_the_way(ws):
    found = resolve_path(ws, "runtime/state", "notes", create_missing=True)

    assert found == ws.root / "runtime" / "state" / "dev" / "notes"
    for folder in (found, found.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_create_missing_through_a_link_out_of_the_workspace_is_refused(ws, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.rmtree(ws.root / "infra" / "dev")
    (ws.root / "infra" / "dev").symlink_to(outside)

    with pytest.raises(UnsafeOperation):
        resolve_path(ws, "infra", "escape", create_missing=True)

    assert list(outside.iterdir()) == []


def test_other_users_paths_are_not_seen(ws):
    (ws.root / "infra" / "tester" / "theirs").mkdir(parents=True)
    with pytest.raises(NotFoundError):
        resolve_path(ws, "infra", "theirs")
    tester = ws.for_user("tester")
    assert resolve_path(tester, "infra", "theirs").parent.name == "tester"


@pytest.mark.parametrize("name", ["..", "../x", "a/b", ""])
def test_names_cannot_leave_the_workspace(ws, name):
    with pytest.raises(InvalidName):
        resolve_path(ws, "infra", name, create_missing=True)


def test_type_may_be_nested(ws):
    target = ws.root / "extensions" / "providers" / "dev" / "aws"
    target.mkdir(parents=True)
    assert resolve_path(ws, "extensions/providers", "aws") == target


def test_cli_resolve_path_exit_codes(cli, ws):
    (ws.root / "infra" / "dev" / "mine").mkdir(parents=True)
    found = cli("resolve", "path", "infra", "mine", "--root", ws.root)
    assert (found.code, found.out.strip()) == (0, str(ws.root / "infra/dev/mine"))
    missing = cli("resolve", "path", "infra", "nope", "--root", ws.root)
    assert missing.code == 2
    assert "infra/template/nope" in missing.err
    created = cli(
        "resolve", "path", "infra", "new", "--root", ws.root, "--create-missing",
        "--format", "json",
    )  # fmt: skip
    assert json.loads(created.out) == {"path": str(ws.root / "infra/dev/new")}


def test_cli_workspace_user_selects_the_user(cli, ws):
    (ws.root / "infra" / "tester" / "t1").mkdir(parents=True)
    result = cli(
        "resolve", "path", "infra", "t1", "--root", ws.root,
        "--workspace-user", "tester",
    )  # fmt: skip
    assert result.out.strip() == str(ws.root / "infra/tester/t1")


def test_extensions_resolve_user_then_shared_then_core(ws):
    kind_dir = ws.root / "extensions" / "providers"
    (ws.core_root / "extensions" / "providers" / "aws").mkdir(parents=True)
    assert resolve_extension(ws, "providers", "aws").origin == "core"
    (kind_dir / "aws").mkdir()
    assert resolve_extension(ws, "providers", "aws").origin == "shared"
    (kind_dir / "dev" / "aws").mkdir()
    found = resolve_extension(ws, "providers", "aws")
    assert (found.origin, found.path) == ("user", kind_dir / "dev" / "aws")


def test_list_extensions_gives_origins_and_skips_templates_and_users(ws):
    kind_dir = ws.root / "extensions" / "taskservs"
    (kind_dir / "dev" / "mine").mkdir(parents=True)
    (kind_dir / "team").mkdir()
    build_tree(ws.root, {"runtime/workspaces/tester/settings.toml": ""})
    (kind_dir / "tester" / "theirs").mkdir(parents=True)
    (ws.core_root / "extensions" / "taskservs" / "containerd").mkdir(parents=True)

    without_core = [(e.name, e.origin) for e in list_extensions(ws, "taskservs")]
    with_core = list_extensions(ws, "taskservs", include_core=True)

    assert without_core == [("mine", "user"), ("team", "shared")]
    assert [(e.name, e.origin) for e in with_core][-1] == ("containerd", "core")


def test_unknown_extension_kind_is_bad_input(cli, ws):
    result = cli("resolve", "list-extensions", "plugins", "--root", ws.root)
    assert result.code == 2
    assert "plugins" in result.err


def test_core_root_defaults_to_the_package_and_honours_the_variable(tmp_path):
    shipped = default_core_root({})
    assert (shipped / "config" / "config.defaults.toml").is_file()
    assert default_core_root({"PROVISIONING_CORE_ROOT": str(tmp_path)}) == tmp_path


def test_fallback_to_core_finds_shipped_core_defaults(cli, make_workspace):
    ws = make_workspace("dev")
    result = cli(
        "resolve", "path", "config", "config.defaults.toml", "--root", ws.root,
        "--fallback-to-core",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert result.out.strip().endswith("core/config/config.defaults.toml")


def _paths(root):
    return sorted(p for p in root.rglob("*") if p.name != "provisioning.log")


@pytest.mark.parametrize(
    ("type_", "name", "message"),
    [
        ("config", "newthing", "config/newthing is not a file of the configuration"),
        ("extensions/providers", "x", "create-extension providers/x"),
        ("lib", "x", "TYPE 'lib' has no folders of each user's own"),
    ],
    ids=["config-name", "extension", "shared-only-type"],
)
def test_create_missing_makes_no_folder_where_none_belongs(
    cli, ws, type_, name, message
):
    before = _paths(ws.root)

    result = cli("resolve", "path", type_, name, "--create-missing", "--root", ws.root)

    assert result.code == 2
    assert result.err.count("\n") == 1
    assert message in result.err
    assert _paths(ws.root) == before


@pytest.mark.parametrize(
    "type_", ["runtime", "runtime/bogus", "runtime/state/deployments"]
)
def test_runtime_types_are_one_area(cli, ws, type_):
    result = cli("resolve", "path", type_, "x", "--create-missing", "--root", ws.root)

    assert result.code == 2
    assert f"TYPE: {type_!r} is not one runtime area" in result.err
    assert not (ws.root / "runtime" / "dev" / "x").exists()


def test_config_names_resolve_to_files(ws):
    (ws.root / "config" / "team.toml").write_text("[team]\n")
    assert resolve_path(ws, "config", "team.toml") == ws.root / "config" / "team.toml"
    assert resolve_path(ws, "config", "user", create_missing=True) == ws.user_config


def test_another_users_area_is_not_a_shared_path(make_workspace, ws):
    make_workspace("tester")
    with pytest.raises(NotFoundError):
        resolve_path(ws, "infra", "tester")
    with pytest.raises(NotFoundError):
        resolve_path(ws, "infra", "dev")
