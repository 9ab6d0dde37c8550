"""``workspace runtime init``: create and repair the user's runtime tree."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tomllib

import pytest

from workspace_tasks.runtime import runtime_folders


def mode(path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_init_creates_a_private_tree_for_another_user(workspace, cli):
    result = cli("runtime", "init", "--root", workspace.root, "--user-name", "tester")
    assert result.code == 0, result.err
    tester = workspace.for_user("tester")
    for folder in runtime_folders(tester):
        assert folder.is_dir()
        assert mode(folder) == 0o700
    assert (tester.cache_dir / "providers").is_dir()


def test_broken_tree_needs_force_and_force_keeps_the_data(workspace, cli, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "keep.txt").write_text("theirs")
    state = workspace.state_dir
    (state / "deployments" / "d.json").write_text("{}")
    state.chmod(0o755)
    images = workspace.cache_dir / "images"
    images.rmdir()
    images.symlink_to(outside)
    workflows = state / "workflows"
    workflows.rmdir()
    workflows.write_text("a file where a folder belongs")

    left = cli("runtime", "init", "--root", workspace.root)
    assert left.code == 1
    assert "--force" in left.err
    assert mode(state) == 0o755
    assert images.is_symlink() and workflows.is_file()

    result = cli("runtime", "init", "--root", workspace.root, "--force")
    assert result.code == 0, result.err
    assert mode(state) == 0o700
    assert (state / "deployments" / "d.json").read_text() == "{}"
    assert images.is_dir() and not images.is_symlink()
    assert (outside / "keep.txt").read_text() == "theirs"
    aside = [p for p in state.iterdir() if p.name.startswith("workflows.broken-")]
    assert aside[0].read_text() == "a file where a folder belongs"
    assert workflows.is_dir()


def test_force_puts_back_the_seeded_files_without_overwriting(workspace, cli):
    settings = workspace.settings_file
    # The time and the template name of the first init are not kept elsewhere.
    expected = [line for line in settings.read_text().splitlines()
                if not line.startswith(("created", "template"))]  # fmt: skip
    settings.unlink()
    (workspace.data_dir / "database.db").unlink()
    infra = workspace.workspace_data_dir / "current-infra"
    infra.write_text("mine\n")
    result = cli("runtime", "init", "--root", workspace.root, "--force")
    assert result.code == 0, result.err
    assert "2 files created, 0 repaired" in result.out
    assert [line for line in settings.read_text().splitlines()
            if not line.startswith(("created", "template"))] == expected  # fmt: skip
    assert 'infra_name = "dev-dev"' in expected
    assert (workspace.data_dir / "database.db").exists()
    assert infra.read_text() == "mine\n"


def test_force_moves_aside_a_file_where_the_log_folder_belongs(workspace, cli):
    logs = workspace.logs_dir
    for child in logs.iterdir():
        if child.is_dir():
            child.rmdir()
        else:
            child.unlink()
    logs.rmdir()
    logs.write_text("not a folder")
    result = cli("runtime", "init", "--root", workspace.root, "--force")
    assert result.code == 0, result.err
    assert logs.is_dir() and mode(logs) == 0o700
    assert (logs / "extensions").is_dir()
    assert (logs / "orchestrator.log").is_file()
    aside = [p for p in logs.parent.iterdir() if p.name.startswith("dev.broken-")]
    assert aside[0].read_text() == "not a folder"


def test_force_moves_a_link_leading_outside_aside_without_writing_there(
    workspace, cli, tmp_path
):
    outside = tmp_path / "outside"
    outside.mkdir()
    ann = workspace.for_user("ann")
    ann.logs_dir.symlink_to(outside)
    result = cli("runtime", "init", "--root", workspace.root, "--user-name", "ann",
                 "--force")  # fmt: skip
    assert result.code == 0, result.err
    assert list(outside.iterdir()) == []
    assert ann.logs_dir.is_dir() and not ann.logs_dir.is_symlink()
    assert (ann.logs_dir / "orchestrator.log").is_file()


def test_force_moves_aside_a_shared_area_that_is_a_link(workspace, cli, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    shared = workspace.runtime_root / "cache"
    shared.rename(tmp_path / "old-cache")
    shared.symlink_to(outside)
    left = cli("runtime", "init", "--root", workspace.root)
    assert left.code == 1
    assert "  not repaired: runtime/cache is a symbolic link" in left.out
    assert list(outside.iterdir()) == []
    result = cli("runtime", "init", "--root", workspace.root, "--force")
    assert result.code == 0, result.err
    assert shared.is_dir() and not shared.is_symlink()
    assert mode(workspace.cache_dir) == 0o700
    assert list(outside.iterdir()) == []


def test_user_runtime_folders_made_on_demand_are_private(workspace):
    from workspace_tasks.runtime import ensure_user_dir

    tester = workspace.for_user("tester")
    deep = tester.state_dir / "health" / "parts"
    assert ensure_user_dir(tester, deep) is True
    for folder in (tester.state_dir, tester.state_dir / "health", deep):
        assert mode(folder) == 0o700
    assert mode(workspace.runtime_root / "state") == 0o755


def test_runtime_init_after_init_has_nothing_to_create(make_workspace, cli):
    ws = make_workspace("dev")
    result = cli("runtime", "init", "--root", ws.root, "--format", "json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["created"] == []


def test_settings_put_back_record_a_template_init_accepts(cli, make_workspace):
    ws = make_workspace()
    ws.settings_file.unlink()

    repaired = cli("runtime", "init", "--root", ws.root)
    again = cli("init", "--root", ws.root, "--overwrite")

    assert repaired.code == 0, repaired.err
    assert 'template = "minimal"' in ws.settings_file.read_text()
    assert again.code == 0, again.err


def _link_out(folder, outside):
    """Move ``folder`` to ``outside`` and leave a link to it in its place."""
    folder.rename(outside)
    folder.symlink_to(outside)


def _snapshot(folder):
    return {p: (p.lstat().st_mtime_ns, p.lstat().st_size) for p in folder.rglob("*")}


LINKED = {"state": "runtime/state/dev", "runtime": "runtime"}
WRITERS = [
    ["health"],
    ["health", "--fix-issues"],
    ["backup"],
    ["cleanup", "--type", "all", "--force"],
    ["runtime", "cleanup", "--force", "--age", "0s"],
    ["runtime", "logs", "--action", "rotate"],
    ["runtime", "logs", "--action", "archive"],
    ["runtime", "cache", "--action", "clear", "--force"],
    ["runtime", "monitor"],
    ["init", "--user-name", "newcomer"],
    ["restore", "--list-backups"],
]


@pytest.mark.parametrize("linked", LINKED.values(), ids=LINKED.keys())
@pytest.mark.parametrize("command", WRITERS, ids=[" ".join(c) for c in WRITERS])
def test_nothing_is_written_through_a_runtime_link_leading_out(
    workspace, cli, tmp_path, linked, command
):
    outside = tmp_path / "outside"
    if command[0] != "health":  # something to write: a log, a cache entry
        (workspace.cache_dir / "images" / "old.img").write_text("x")
        (workspace.logs_dir / "app.log").write_text("line\n" * 10)
    _link_out(workspace.root / linked, outside)
    before = _snapshot(outside)

    result = cli(*command, "--root", workspace.root)

    assert _snapshot(outside) == before
    assert "Traceback" not in result.err
    if command[0] == "health":
        assert result.code == 1
        assert "critical" in result.out
        assert result.err.startswith(
            "workspace: warning: the report was not saved: refusing to use "
        )
    elif result.code != 0 or linked == "runtime":  # it needed the linked area
        assert result.code == 2
        assert "outside the workspace" in result.err
        assert len(result.err.splitlines()) == 1


def test_the_refusal_names_the_link_on_the_way(workspace, cli, tmp_path):
    _link_out(workspace.runtime_root, tmp_path / "outside")

    result = cli("runtime", "logs", "--root", workspace.root)

    assert result.code == 2
    assert result.err.startswith(
        "workspace: error: refusing to use runtime/logs/dev: runtime on its way "
        "leads outside the workspace"
    )


def test_the_latest_report_and_config_cache_are_not_read_through_a_link(
    workspace, cli, tmp_path
):
    from workspace_tasks.cascade import read_cached
    from workspace_tasks.config_ops import write_cache
    from workspace_tasks.health import latest_report

    assert cli("health", "--root", workspace.root).code == 0
    write_cache(workspace)
    assert latest_report(workspace) is not None
    assert read_cached(workspace) is not None
    _link_out(workspace.state_dir, tmp_path / "outside")

    assert latest_report(workspace) is None
    assert read_cached(workspace) is None


@pytest.mark.parametrize(
    "blocker", ["file", "loop"], ids=["file-in-place", "link-to-itself"]
)
def test_a_folder_made_on_demand_refuses_what_stands_in_its_place(workspace, blocker):
    from workspace_tasks.errors import UsageError
    from workspace_tasks.runtime import ensure_user_dir

    state = workspace.state_dir
    shutil.rmtree(state)
    if blocker == "file":
        state.write_text("mine")
    else:
        state.symlink_to(state.name)

    with pytest.raises(UsageError, match="run 'workspace runtime init"):
        ensure_user_dir(workspace, state / "health")

    if blocker == "file":
        assert state.read_text() == "mine"
        assert mode(state) == 0o644


def test_without_force_what_is_missing_is_created_and_the_rest_reported(workspace, cli):
    workspace.state_dir.chmod(0o777)
    workspace.settings_file.unlink()
    shutil.rmtree(workspace.cache_dir / "images")

    result = cli("runtime", "init", "--root", workspace.root)

    assert result.code == 1
    assert result.out == (
        "Runtime of dev: 1 folders created, 1 files created, 0 repaired\n"
        "  created runtime/workspaces/dev/settings.toml\n"
        "  not repaired: runtime/state/dev has mode 0777, not 0700\n"
    )
    assert result.err == (
        "Repair it, keeping your data: run 'workspace runtime init "
        "--user-name dev --force'\n"
    )
    assert workspace.settings_file.is_file()
    assert mode(workspace.cache_dir / "images") == 0o700
    assert mode(workspace.state_dir) == 0o777


def test_without_force_nothing_is_made_beneath_a_file_in_a_folders_place(
    workspace, cli
):
    shutil.rmtree(workspace.workspace_data_dir)
    workspace.workspace_data_dir.write_text("mine")

    result = cli("runtime", "init", "--root", workspace.root)

    assert result.code == 1
    assert "  not repaired: runtime/workspaces/dev is a file, not a folder" in (
        result.out
    )
    assert workspace.workspace_data_dir.read_text() == "mine"


@pytest.fixture
def foreign_cache(workspace):
    """The user's cache folder given to another account (needs root to chown)."""
    if os.geteuid() != 0:
        pytest.skip("giving a folder to another account needs root")
    os.chown(workspace.cache_dir, 4242, -1)
    workspace.cache_dir.chmod(0o755)
    yield workspace.cache_dir
    os.chown(workspace.cache_dir, os.getuid(), -1)


@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
def test_a_folder_of_another_account_is_reported_never_changed(
    workspace, cli, foreign_cache, force
):
    flags = ["--force"] if force else []
    result = cli("runtime", "init", "--root", workspace.root, *flags)

    assert result.code == 1
    assert (
        "  not repaired: runtime/cache/dev belongs to uid 4242, not to you "
        f"(uid {os.getuid()}); only its owner or an administrator can give it "
        "back (chown)\n"
    ) in result.out
    assert "give it back to you (chown)" in result.err
    assert foreign_cache.stat().st_uid == 4242 and mode(foreign_cache) == 0o755
    health = cli("health", "check-runtime", "--root", workspace.root)
    assert health.code == 1
    assert "runtime/cache/dev belongs to uid 4242" in health.out


def test_force_counts_the_folders_it_puts_back(workspace, cli):
    providers = workspace.cache_dir / "providers"
    providers.rmdir()
    providers.write_text("a file where the folder belongs")
    shutil.rmtree(workspace.runtime_root / "logs")

    result = cli("runtime", "init", "--root", workspace.root, "--force")

    assert result.code == 0, result.err
    # providers put back, runtime/logs, logs/dev and logs/dev/extensions made.
    assert result.out.startswith(
        "Runtime of dev: 4 folders created, 1 files created, 1 repaired\n"
    )


def test_runtime_init_puts_lost_settings_back_as_they_were(cli, make_workspace):
    make_workspace("first")
    pu = make_workspace(
        "pu", "--workspace-type", "production", "--infra-name", "prod1",
        "--template", "full",
    )  # fmt: skip
    before = pu.settings_file.read_text()
    pu.settings_file.unlink()

    result = cli("runtime", "init", "--root", pu.root, "--user-name", "pu")

    assert result.code == 0, result.err
    assert pu.settings_file.read_text() == before


def test_lost_settings_without_a_record_come_from_what_else_is_known(
    cli, make_workspace
):
    ws = make_workspace("dev", "--workspace-type", "testing", "--infra-name", "lab")
    ws.settings_file.unlink()
    record = ws.root / ".provisioning-generated.json"
    files = json.loads(record.read_text())["files"]
    record.write_text(json.dumps(files))  # as written before users were recorded

    result = cli("runtime", "init", "--root", ws.root)

    assert result.code == 0, result.err
    settings = tomllib.loads(ws.settings_file.read_text())["workspace"]
    assert (settings["type"], settings["infra_name"]) == ("testing", "lab")
