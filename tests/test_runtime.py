"""``workspace runtime init``: create and repair the user's runtime tree."""

from __future__ import annotations

import stat

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

    refused = cli("runtime", "init", "--root", workspace.root)
    assert refused.code == 2
    assert "--force" in refused.err

    result = cli("runtime", "init", "--root", workspace.root, "--force")
    assert result.code == 0, result.err
    assert mode(state) == 0o700
    assert (state / "deployments" / "d.json").read_text() == "{}"
    assert images.is_dir() and not images.is_symlink()
    assert (outside / "keep.txt").read_text() == "theirs"
    aside = [p for p in state.iterdir() if p.name.startswith("workflows.broken-")]
    assert aside[0].read_text() == "a file where a folder belongs"
    assert workflows.is_dir()
