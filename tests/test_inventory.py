"""``workspace status`` and ``workspace list``."""

from __future__ import annotations

import json

from tests.conftest import build_tree


def test_status_json_reports_user_type_infra_and_counts(cli, make_workspace):
    ws = make_workspace("dev", "--infra-name", "lab", "--workspace-type", "testing")
    (ws.root / "extensions" / "providers" / "dev" / "mine").mkdir()
    (ws.root / "extensions" / "providers" / "team").mkdir()

    result = cli("status", "--root", ws.root, "--format", "json")

    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert (report["user"], report["type"], report["infra"]) == (
        "dev",
        "testing",
        "lab",
    )
    assert report["root"] == str(ws.root)
    assert report["extensions"]["providers"]["user"] == 1
    assert report["extensions"]["providers"]["shared"] == 1
    assert report["runtime"] is None


def test_status_detailed_measures_runtime_areas(cli, make_workspace):
    ws = make_workspace("dev")
    (ws.cache_dir / "downloads" / "blob").write_bytes(b"x" * 5000)
    result = cli("status", "--root", ws.root, "--detailed", "--format", "json")
    runtime = json.loads(result.out)["runtime"]
    assert runtime["cache"] == {"files": 1, "folders": 3, "bytes": 5000}


def test_status_text_shows_the_essentials(cli, make_workspace):
    ws = make_workspace("dev", "--infra-name", "lab")
    result = cli("status", "--root", ws.root, "--detailed")
    assert "User:      dev" in result.out
    assert "Infra:     lab" in result.out
    assert "cache" in result.out


def test_status_for_a_user_without_areas_says_how_to_add_them(cli, make_workspace):
    ws = make_workspace("dev")
    result = cli("status", "--root", ws.root, "--workspace-user", "newbie")
    assert result.code == 0
    assert "workspace init --user-name newbie" in result.out


def test_status_outside_any_workspace_is_a_clear_error(cli, tmp_path):
    result = cli("status", cwd=tmp_path)
    assert result.code == 2
    assert "no workspace found" in result.err
    assert "workspace init" in result.err


def test_status_finds_the_workspace_from_a_subfolder(cli, make_workspace):
    ws = make_workspace("dev")
    result = cli("status", "--format", "json", cwd=ws.root / "infra" / "local")
    assert json.loads(result.out)["root"] == str(ws.root)
    from_project = cli("status", "--format", "json", cwd=ws.root.parent)
    assert json.loads(from_project.out)["root"] == str(ws.root)


def test_environment_variable_chooses_the_workspace(
    cli, make_workspace, tmp_path, monkeypatch
):
    ws = make_workspace("dev")
    monkeypatch.setenv("PROVISIONING_WORKSPACE_ROOT", str(ws.root))
    result = cli("status", "--format", "json", cwd=tmp_path)
    assert json.loads(result.out)["root"] == str(ws.root)


def test_list_json_has_users_extensions_infras_and_configs(cli, make_workspace):
    ws = make_workspace("dev", "--create-examples")
    make_workspace("tester")
    (ws.root / "extensions" / "clusters" / "dev" / "web").mkdir()

    result = cli("list", "--root", ws.root, "--format", "json")

    listing = json.loads(result.out)
    assert listing["users"] == ["dev", "tester"]
    assert {"kind": "clusters", "name": "web", "origin": "user"}.items() <= next(
        e for e in listing["extensions"] if e["name"] == "web"
    ).items()
    infras = {(i["name"], i["origin"]) for i in listing["infrastructures"]}
    assert {("minimal", "example"), ("dev-dev", "user:dev")} <= infras
    assert ("tester-dev", "user:tester") in infras
    assert "config/dev.toml" in listing["config_files"]
    assert "config/tester.toml" in listing["config_files"]


def test_list_shows_example_infrastructures_only_when_created(cli, make_workspace):
    ws = make_workspace("dev")
    listing = json.loads(cli("list", "--root", ws.root, "--format", "json").out)
    assert [i for i in listing["infrastructures"] if i["origin"] == "example"] == []


def test_list_leaves_out_invalid_names_and_loops_and_warns(cli, make_workspace):
    ws = make_workspace("dev")
    (ws.runtime_root / "workspaces" / "Bad Name").mkdir()
    (ws.extension_kind_dir("providers") / "café").mkdir()
    (ws.extension_kind_dir("clusters") / "loop").symlink_to(".")
    (ws.extension_kind_dir("taskservs") / "self").symlink_to("self")
    (ws.infra_dir / "dev" / "Lab").mkdir()

    text = cli("list", "--root", ws.root)
    data = json.loads(cli("list", "--root", ws.root, "--format", "json").out)

    assert text.code == 0, text.err
    assert data["users"] == ["dev"]
    names = {e["name"] for e in data["extensions"]}
    assert names.isdisjoint({"café", "loop", "self"})
    assert "Lab" not in {i["name"] for i in data["infrastructures"]}
    for shown in (
        "runtime/workspaces/Bad Name: not a valid name",
        "extensions/providers/café: not a valid name",
        "extensions/clusters/loop: a link back to a folder holding it",
        "extensions/taskservs/self: a link that loops",
        "infra/dev/Lab: not a valid name",
    ):
        assert f"workspace: warning: {shown}" in text.err
        assert any(w.startswith(shown) for w in data["warnings"])


def test_resolve_treats_those_folders_as_list_does(cli, make_workspace):
    ws = make_workspace("dev")
    (ws.extension_kind_dir("clusters") / "loop").symlink_to(".")

    listed = cli("resolve", "list-extensions", "clusters", "--root", ws.root)
    found = cli("resolve", "extension", "clusters", "loop", "--root", ws.root)

    assert "loop" not in listed.out
    assert "extensions/clusters/loop: a link back" in listed.err
    assert found.code == 2
    assert "not found" in found.err


def test_another_users_area_is_no_shared_extension(cli, make_workspace):
    ws = make_workspace("dev")
    make_workspace("tester")

    found = cli("resolve", "extension", "providers", "tester", "--root", ws.root)

    assert found.code == 2
    assert "extensions/providers/tester," not in found.err


def test_list_shows_the_infrastructures_resolution_finds(cli, make_workspace):
    ws = make_workspace("dev", "--create-examples")
    make_workspace("tester")
    build_tree(
        ws.root,
        {
            "infra/team/settings.toml": "[infra]\n",
            "infra/Bad Shared/settings.toml": "[infra]\n",
            "infra/typo/i1/": None,
            "infra/local/lab/": None,
        },
    )

    text = cli("list", "--root", ws.root)
    data = json.loads(cli("list", "--root", ws.root, "--format", "json").out)
    deploy_finds = cli(
        "resolve", "path", "infra", "team", "--root", ws.root, "--format", "json"
    )

    origins = {(i["name"], i["origin"]) for i in data["infrastructures"]}
    assert origins >= {
        ("dev-dev", "user:dev"),
        ("tester-dev", "user:tester"),
        ("team", "shared"),
        ("development", "example"),
        ("lab", "local"),
    }
    assert json.loads(deploy_finds.out)["path"] == str(ws.infra_dir / "team")
    assert "workspace: warning: infra/Bad Shared: not a valid name" in text.err
    assert "infra/typo: holds no settings.toml and is no user's area" in text.err
    assert "tester" not in {name for name, _ in origins}
