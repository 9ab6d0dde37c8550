"""``workspace runtime cache``: stats, clear, optimize and refresh."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import build_tree


def set_age(path: Path, seconds: float) -> None:
    moment = time.time() - seconds
    os.utime(path, (moment, moment), follow_symlinks=False)


@pytest.fixture
def cache_ws(workspace):
    """A cache with TTL 1h and refresh interval 5m (set in the user's config)."""
    workspace.user_config.write_text(
        workspace.user_config.read_text()
        + '\n[cache]\nttl = "1h"\nrefresh_interval = 300\n'
    )
    build_tree(
        workspace.cache_dir,
        {
            "providers/expired.json": "e" * 10,
            "providers/stale.json": "s" * 20,
            "providers/fresh.json": "f" * 30,
            "images/a.img": "same",
            "images/copy/b.img": "same",
            "images/empty/": None,
            "downloads/tool.tar": "t" * 40,
        },
    )
    set_age(workspace.cache_dir / "providers/expired.json", 2 * 3600)
    set_age(workspace.cache_dir / "providers/stale.json", 600)
    set_age(workspace.cache_dir / "images/a.img", 100)
    set_age(workspace.cache_dir / "images/copy/b.img", 50)
    return workspace


def remaining(ws) -> list[str]:
    return sorted(
        str(p.relative_to(ws.cache_dir)) for p in ws.cache_dir.rglob("*") if p.is_file()
    )


def run_cache(cli, ws, *flags):
    result = cli("runtime", "cache", "--root", ws.root, "--format", "json", *flags)
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_stats_count_files_bytes_and_expired_per_type(cache_ws, cli):
    data = run_cache(cli, cache_ws, "--action", "stats")
    by_type = {row["type"]: row for row in data["types"]}
    assert (by_type["providers"]["files"], by_type["providers"]["bytes"]) == (3, 60)
    assert by_type["providers"]["expired"] == 1
    assert by_type["providers"]["oldest_age_seconds"] >= 7200
    assert (by_type["images"]["files"], by_type["images"]["bytes"]) == (2, 8)
    assert data["ttl_seconds"] == 3600
    assert data["total_bytes"] == 108


def test_clear_one_type_leaves_the_others(cache_ws, cli):
    run_cache(cli, cache_ws, "--action", "clear", "--type", "providers", "--force")
    assert remaining(cache_ws) == [
        "downloads/tool.tar",
        "images/a.img",
        "images/copy/b.img",
    ]
    assert (cache_ws.cache_dir / "providers").is_dir()


def test_optimize_removes_expired_duplicates_and_empty_folders(cache_ws, cli):
    data = run_cache(cli, cache_ws, "--action", "optimize", "--force")
    assert remaining(cache_ws) == [
        "downloads/tool.tar",
        "images/a.img",
        "providers/fresh.json",
        "providers/stale.json",
    ]
    reasons = {Path(r["path"]).name: r["reason"] for r in data["removed"]}
    assert reasons == {
        "expired.json": "past the cache TTL",
        "b.img": "duplicate of images/a.img",
        "copy": "empty folder",
        "empty": "empty folder",
    }


@pytest.mark.parametrize(
    ("flags", "left"),
    [
        ([], ["downloads/tool.tar", "images/a.img", "images/copy/b.img",
              "providers/fresh.json"]),
        (["--selective"], ["downloads/tool.tar", "images/a.img",
                           "images/copy/b.img", "providers/fresh.json",
                           "providers/stale.json"]),
    ],
    ids=["stale", "selective-ttl"],
)  # fmt: skip
def test_refresh_drops_stale_or_only_expired_entries(cache_ws, cli, flags, left):
    run_cache(cli, cache_ws, "--action", "refresh", "--force", *flags)
    assert remaining(cache_ws) == left


def test_cache_dry_run_changes_nothing(cache_ws, cli):
    data = run_cache(cli, cache_ws, "--action", "clear", "--dry-run")
    assert data["files"] == 6
    assert data["bytes_to_free"] == 108
    assert len(remaining(cache_ws)) == 6


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--action", "purge"], "--action: 'purge' is not one of"),
        (["--action", "clear", "--type", "fonts"], "--type: 'fonts' is not one of"),
        (["--action", "clear", "--selective"], "--selective goes with"),
    ],
    ids=["action", "type", "selective"],
)
def test_bad_cache_flags_are_one_line_exit_2(workspace, cli, flags, message):
    result = cli("runtime", "cache", "--root", workspace.root, *flags)
    assert result.code == 2
    assert message in result.err


@pytest.mark.parametrize("action", ["clear", "optimize", "refresh"])
def test_removing_actions_refuse_off_a_terminal_without_force(cache_ws, cli, action):
    result = cli("runtime", "cache", "--root", cache_ws.root, "--action", action)
    assert result.code == 2
    assert "pass --force" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert len(remaining(cache_ws)) == 6


def test_stats_show_future_times_as_in_the_future(cache_ws, cli):
    future = cache_ws.cache_dir / "downloads/tool.tar"
    set_age(future, -10 * 86400)
    text = cli("runtime", "cache", "--root", cache_ws.root, "--type", "downloads")
    assert text.code == 0, text.err
    row = next(line for line in text.out.splitlines() if "downloads" in line)
    assert row.count("in the future") == 3
    assert "e+" not in text.out
    data = run_cache(cli, cache_ws, "--type", "downloads")
    assert data["types"][0]["newest_age_seconds"] < -9 * 86400


def test_optimize_from_inside_an_empty_folder_keeps_it(cache_ws, cli):
    inside = cache_ws.cache_dir / "images/empty"
    result = cli("runtime", "cache", "--action", "optimize", "--force",
                 "--format", "json", cwd=inside)  # fmt: skip
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert inside.is_dir()
    assert not (cache_ws.cache_dir / "images/copy").exists()
    skipped = {Path(s["path"]).name: s["reason"] for s in data["skipped"]}
    assert skipped == {"empty": "the current folder is in it"}
    after = cli("runtime", "cache", "--format", "json", cwd=inside)
    assert after.code == 0, after.err


def test_a_command_run_from_a_removed_folder_says_so(workspace, cli, tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    os.chdir(gone)
    gone.rmdir()
    try:
        result = cli("runtime", "cache")
    finally:
        os.chdir(tmp_path)
    assert result.code == 2
    assert result.err == (
        "workspace: error: the current folder no longer exists (it was removed); "
        "change to an existing folder and run the command again\n"
    )


@pytest.mark.parametrize("how", ["flag", "variable"])
def test_an_absolute_root_works_from_a_removed_folder(
    workspace, cli, tmp_path, monkeypatch, how
):
    gone = tmp_path / "gone"
    gone.mkdir()
    os.chdir(gone)
    gone.rmdir()
    flags = ["--root", str(workspace.root)] if how == "flag" else []
    if how == "variable":
        monkeypatch.setenv("PROVISIONING_WORKSPACE_ROOT", str(workspace.root))
    try:
        result = cli("status", *flags)
    finally:
        os.chdir(tmp_path)
    assert result.code == 0, result.err
    assert str(workspace.root) in result.out


def test_cache_leading_outside_the_workspace_is_refused(workspace, cli, tmp_path):
    outside = tmp_path / "outside"
    build_tree(outside, {"providers/keep.json": "k"})
    cache = workspace.cache_dir
    shutil.rmtree(cache)
    cache.symlink_to(outside)
    for flags in (["clear", "--force"], ["optimize", "--force"],
                  ["refresh", "--dry-run"], ["stats"]):  # fmt: skip
        action = flags[0]
        result = cli("runtime", "cache", "--root", workspace.root, "--action", *flags)
        assert result.code == 2, action
        assert "leads outside the workspace" in result.err
    assert (outside / "providers/keep.json").read_text() == "k"
