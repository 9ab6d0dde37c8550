"""``workspace cleanup``: old backups by retention, caches and logs by age."""

from __future__ import annotations

import json
import os
import time

import pytest

DAY = 86400


def _set_age(path, days: float) -> None:
    stamp = time.time() - days * DAY
    os.utime(path, (stamp, stamp), follow_symlinks=False)


def _retention(ws, keep_last: int, keep_within: str) -> None:
    text = ws.user_config.read_text()
    ws.user_config.write_text(
        f'{text}\n[backup]\nkeep_last = {keep_last}\nkeep_within = "{keep_within}"\n'
    )


@pytest.fixture
def backed_up(make_workspace, cli):
    """A workspace with backups b1..b4 made 20, 15, 10 and 1 days ago."""
    ws = make_workspace("dev")
    ages = {"b1": 20, "b2": 15, "b3": 10, "b4": 1}
    for name, days in ages.items():
        result = cli("backup", "--root", ws.root, "--name", name)
        assert result.code == 0, result.err
        (archive,) = ws.backups_dir.glob(f"{name}.tar*")
        _set_age(archive, days)
    return ws


def _backups(ws) -> list[str]:
    return sorted(p.name.split(".")[0] for p in ws.backups_dir.glob("b*.tar*"))


def test_old_removes_backups_past_retention_and_keeps_the_newest(backed_up, cli):
    _retention(backed_up, keep_last=2, keep_within="7d")
    result = cli("cleanup", "--root", backed_up.root, "--type", "old", "--force")
    assert result.code == 0, result.err
    assert _backups(backed_up) == ["b3", "b4"]
    assert "2 files removed" in result.out


def test_age_replaces_keep_within(backed_up, cli):
    _retention(backed_up, keep_last=1, keep_within="30d")
    result = cli(
        "cleanup", "--root", backed_up.root, "--type", "old", "--age", "12d", "--force"
    )
    assert result.code == 0, result.err
    assert _backups(backed_up) == ["b3", "b4"]


def test_dry_run_lists_bytes_and_changes_nothing(backed_up, cli):
    _retention(backed_up, keep_last=1, keep_within="5d")
    before = _backups(backed_up)
    expected = sum(
        p.stat().st_size
        for p in backed_up.backups_dir.glob("b*.tar*")
        if not p.name.startswith("b4")
    )
    result = cli(
        "cleanup", "--root", backed_up.root, "--type", "old", "--dry-run",
        "--format", "json",
    )  # fmt: skip
    plan = json.loads(result.out)
    assert _backups(backed_up) == before
    assert plan["bytes_to_free"] == expected
    assert sorted(r["path"].rsplit("/", 1)[1][:2] for r in plan["removals"]) == [
        "b1", "b2", "b3",
    ]  # fmt: skip


def test_cache_cleanup_removes_links_never_their_targets(make_workspace, cli, tmp_path):
    ws = make_workspace("dev")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me")
    (ws.cache_dir / "downloads" / "old.bin").write_bytes(b"x" * 100)
    (ws.cache_dir / "providers" / "escape").symlink_to(outside)
    result = cli("cleanup", "--root", ws.root, "--type", "cache", "--force")
    assert result.code == 0, result.err
    assert not (ws.cache_dir / "downloads" / "old.bin").exists()
    assert not (ws.cache_dir / "providers" / "escape").is_symlink()
    assert (outside / "precious.txt").read_text() == "keep me"


def test_logs_cleanup_keeps_recent_and_future_logs(make_workspace, cli):
    ws = make_workspace("dev")
    old = ws.logs_dir / "extensions" / "old.log"
    new = ws.logs_dir / "extensions" / "new.log"
    future = ws.logs_dir / "extensions" / "future.log"
    for path in (old, new, future):
        path.write_text("line\n")
    _set_age(old, 10)
    _set_age(future, -5)
    result = cli(
        "cleanup", "--root", ws.root, "--type", "logs", "--age", "7d", "--force"
    )
    assert result.code == 0, result.err
    assert (old.exists(), new.exists(), future.exists()) == (False, True, True)


def test_other_users_data_is_untouched(make_workspace, cli):
    ws = make_workspace("dev")
    make_workspace("old-user")
    mine = ws.cache_dir / "images" / "mine.img"
    mine.write_bytes(b"1")
    theirs = ws.root / "runtime" / "cache" / "old-user" / "images" / "theirs.img"
    theirs.write_bytes(b"2")
    result = cli(
        "cleanup", "--root", ws.root, "--user-name", "old-user", "--type", "all",
        "--force",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert mine.exists()
    assert not theirs.exists()


def test_without_force_off_a_terminal_it_refuses(make_workspace, cli):
    ws = make_workspace("dev")
    (ws.cache_dir / "images" / "a.img").write_bytes(b"1")
    result = cli("cleanup", "--root", ws.root, "--type", "cache")
    assert result.code == 2
    assert "--force" in result.err
    assert (ws.cache_dir / "images" / "a.img").exists()


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--type", "everything"), ("--age", "30x"), ("--age", "-1d")],
    ids=["type", "age-unit", "age-negative"],
)
def test_bad_values_name_the_flag(make_workspace, cli, flag, value):
    ws = make_workspace("dev")
    result = cli("cleanup", "--root", ws.root, f"{flag}={value}", "--force")
    assert result.code == 2
    assert result.err.count("\n") == 1
    assert flag in result.err


@pytest.mark.parametrize(
    ("kind", "lines", "key"),
    [
        ("old", '[backup]\nkeep_last = "abc"', "[backup] keep_last: 'abc'"),
        ("old", "[backup]\nkeep_last = -1", "[backup] keep_last: -1"),
        ("old", '[backup]\nkeep_within = "soon"', "[backup] keep_within: 'soon'"),
        ("old", "[backup]\nkeep_within = 7", "[backup] keep_within: 7"),
        ("all", "[runtime]\ntemp_max_age = 7", "[runtime] temp_max_age: 7"),
    ],
    ids=[
        "keep-last-text",
        "keep-last-negative",
        "keep-within-text",
        "keep-within-int",
        "temp-max-age-int",
    ],
)
def test_bad_cleanup_settings_name_the_key_and_file(
    make_workspace, cli, kind, lines, key
):
    ws = make_workspace("dev")
    text = ws.user_config.read_text()
    ws.user_config.write_text(f"{text}\n{lines}\n")
    number = len(ws.user_config.read_text().splitlines())

    result = cli("cleanup", "--root", ws.root, "--type", kind, "--dry-run")

    assert result.code == 2
    assert result.err.count("\n") == 1
    assert f"config/dev.toml:{number}:" in result.err
    assert key in result.err
