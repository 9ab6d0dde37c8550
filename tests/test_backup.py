"""Making, listing, expiring and automatically making backups."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from backup_helpers import snapshot
from terminal import run_on_terminal

from tests.conftest import build_tree
from workspace_tasks import safefs
from workspace_tasks.backup import (
    BackupOptions,
    auto_backup,
    backup_from_file,
    backups_dir,
    create_backup,
    expired_backups,
    list_backups,
    lock_file,
    read_manifest,
    remove_stale_temporaries,
    verify_backup,
)
from workspace_tasks.taskdefs.backup import creators

NOW = datetime(2025, 9, 25, 12, 0, tzinfo=UTC)

KILLER = """
import sys, time
from pathlib import Path
from workspace_tasks.context import load_workspace, default_core_root
from workspace_tasks.backup import BackupOptions, create_backup

ws = load_workspace(Path(sys.argv[1]), "dev", default_core_root({}))
marker = Path(sys.argv[2])

def progress(done, total):
    if done == 3:
        marker.write_text("half-way")
        time.sleep(60)

create_backup(ws, BackupOptions(name="killed"), progress=progress)
"""


def test_existing_name_needs_force(workspace, cli):
    first = cli("backup", "--root", workspace.root, "--name", "mine")
    again = cli("backup", "--root", workspace.root, "--name", "mine")
    forced = cli(
        "backup",
        "--root",
        workspace.root,
        "--name",
        "mine",
        "--force",
        "--compress",
        "gzip",
    )

    assert first.code == 0
    assert again.code == 2 and "--force" in again.err
    assert forced.code == 0
    assert [(b.name, b.compression) for b in list_backups(workspace)] == [
        ("mine", "gzip")
    ]


@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
def test_a_link_at_the_backups_name_is_never_replaced(workspace, cli, tmp_path, force):
    outside = tmp_path / "outside.tar"
    outside.write_text("not a backup")
    workspace.backups_dir.mkdir(parents=True, exist_ok=True)
    link = workspace.backups_dir / "mine.tar"
    link.symlink_to(outside)
    extra = ["--force"] if force else []
    result = cli("backup", "--root", workspace.root, "--name", "mine", *extra)

    assert result.code == 2
    assert result.err.startswith(f"workspace: error: --name: {link} is a symbolic")
    assert link.is_symlink() and outside.read_text() == "not a backup"


def test_listing_shows_backups_newest_first_as_json(workspace, cli):
    create_backup(workspace, BackupOptions(name="older"))
    os.utime(workspace.backups_dir / "older.tar", (1_000_000_000, 1_000_000_000))
    create_backup(workspace, BackupOptions(name="newer", compression="zstd"))

    result = cli(
        "restore",
        "--root",
        workspace.root,
        "--list-backups",
        "--detailed",
        "--format",
        "json",
    )

    rows = json.loads(result.out)
    assert [r["name"] for r in rows] == ["newer", "older"]
    assert rows[0]["compression"] == "zstd" and rows[0]["user"] == "dev"


def test_sigkilled_backup_is_never_listed_and_earlier_ones_verify(workspace, tmp_path):
    create_backup(workspace, BackupOptions(name="earlier", compression="zstd"))
    marker = tmp_path / "half-way"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLER, str(workspace.root), str(marker)]
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and child.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()

    listed = list_backups(workspace)
    assert [b.name for b in listed] == ["earlier"]
    assert verify_backup(workspace, listed[0]).ok


def test_second_backup_while_locked_stops_with_a_clear_message(workspace, cli):
    with safefs.user_lock(lock_file(workspace), "test"):
        result = cli("backup", "--root", workspace.root, "--name", "second")

    assert result.code == 2
    assert "another backup, restore, reset or cleanup holds" in result.err
    assert list_backups(workspace) == []


@pytest.mark.parametrize(
    ("command", "what"),
    [
        pytest.param(["restore", "--backup-name", "base"], "restore", id="restore"),
        pytest.param(["reset", "--force", "--no-backup"], "reset", id="reset"),
        pytest.param(["cleanup", "--type", "all", "--force"], "cleanup", id="cleanup"),
    ],
)
def test_restore_reset_and_cleanup_while_locked_stop_and_change_nothing(
    workspace, cli, command, what
):
    create_backup(workspace, BackupOptions(name="base"))
    (workspace.infra_dir / "dev" / "dev-dev" / "settings.toml").unlink()
    build_tree(workspace.cache_dir, {"providers/aws.json": "{}\n"})
    before = snapshot(workspace.root, ("runtime/logs", "runtime/state"))

    with safefs.user_lock(lock_file(workspace), "test"):
        result = cli(*command, "--root", workspace.root)

    assert result.code == 2
    assert result.err.count("\n") == 1
    assert (
        f"another backup, restore, reset or cleanup holds {lock_file(workspace)}; "
        f"wait for it to finish before running {what}"
    ) in result.err
    assert snapshot(workspace.root, ("runtime/logs", "runtime/state")) == before


def _set_retention(ws, keep_last: int, keep_within: str) -> None:
    with ws.user_config.open("a") as handle:
        handle.write(
            f'\n[backup]\nkeep_last = {keep_last}\nkeep_within = "{keep_within}"\n'
        )


def test_expired_backups_keep_the_newest_and_the_recent(workspace):
    _set_retention(workspace, 1, "2d")
    ages = {"a": 10, "b": 5, "c": 1, "d": 0.5}
    for name, days in ages.items():
        create_backup(workspace, BackupOptions(name=name))
        stamp = (NOW - timedelta(days=days)).timestamp()
        os.utime(workspace.backups_dir / f"{name}.tar", (stamp, stamp))
    os.utime(
        workspace.backups_dir / "a.tar", ((NOW - timedelta(days=10)).timestamp(),) * 2
    )

    expired = expired_backups(workspace, NOW)

    assert [b.name for b in expired] == ["b", "a"]


def test_keep_last_protects_old_backups(workspace):
    _set_retention(workspace, 3, "1d")
    for index, name in enumerate(("a", "b", "c", "d")):
        create_backup(workspace, BackupOptions(name=name))
        stamp = (NOW - timedelta(days=30 - index)).timestamp()
        os.utime(workspace.backups_dir / f"{name}.tar", (stamp, stamp))

    assert [b.name for b in expired_backups(workspace, NOW)] == ["a"]


def test_auto_backup_waits_for_interval_and_changes(workspace):
    first = auto_backup(workspace, NOW)
    unchanged = auto_backup(workspace, NOW + timedelta(hours=2))
    (workspace.infra_dir / "dev" / "new.txt").write_text("changed\n")
    too_soon = auto_backup(workspace, NOW + timedelta(minutes=30))
    second = auto_backup(workspace, NOW + timedelta(hours=3))

    assert first.made
    assert (
        not unchanged.made
        and unchanged.reason == "nothing changed since the last backup"
    )
    assert not too_soon.made and "within the interval" in too_soon.reason
    assert second.made
    assert len(list_backups(workspace)) == 2


def test_auto_backup_is_off_without_interval(workspace):
    text = workspace.user_config.read_text().replace('backup_interval = "1h"\n', "")
    workspace.user_config.write_text(text)

    result = auto_backup(workspace, NOW)

    assert not result.made and "off" in result.reason


def test_doit_backup_task_runs_the_automatic_backup(workspace, capsys):
    task = creators(workspace)["task_backup"]()
    action, arguments = task["actions"][0]

    first = action(*arguments)
    second = action(*arguments)

    assert first == {"made": True, "reason": "made a new backup"}
    assert second["made"] is False
    assert "no backup made" in capsys.readouterr().out


@pytest.mark.parametrize("flag", ["--components", "--compress"])
def test_bad_values_name_the_flag(workspace, cli, flag):
    result = cli("backup", "--root", workspace.root, flag, "bogus")

    assert result.code == 2
    assert flag in result.err


def test_backup_holds_only_the_users_own_areas(make_workspace):
    ws = make_workspace()
    tester = make_workspace("tester")
    assert tester.root == ws.root
    (ws.root / "infra" / "tester" / "secret.k").write_text("theirs\n")
    (ws.state_dir / "health.json").write_text("{}\n")
    (ws.state_dir / "health").mkdir(exist_ok=True)
    (ws.state_dir / "health" / "disk.json").write_text("{}\n")

    made = create_backup(ws, BackupOptions(name="own"))

    paths = {e.path for e in read_manifest(ws, backup_from_file(made.path)).entries}
    assert "config/dev.toml" in paths
    assert not {p for p in paths if "tester" in p}
    assert "config/dev-defaults.toml" not in paths
    assert not {p for p in paths if "health" in p or p.endswith(".lock")}
    assert not {p for p in paths if "/backups" in p or "doit-state" in p}
    assert all(
        p.startswith(("config/dev.toml", "infra/dev", "runtime/"))
        or p.split("/")[2] == "dev"
        for p in paths
    )


def test_next_backup_removes_the_users_stale_temporaries(make_workspace, cli):
    ws = make_workspace()
    other = make_workspace("tester")
    folder = ws.backups_dir
    folder.mkdir(parents=True, exist_ok=True)
    spool = folder / "..b.tar.zst.x1.tmp.y2.members"
    partial = folder / ".b.tar.zst.x1.tmp"
    spool.write_bytes(b"plaintext")
    partial.write_bytes(b"half")
    mine = ws.root / ".workspace-restore-dev-abc"
    theirs = other.root / ".workspace-restore-tester-abc"
    mine.mkdir()
    theirs.mkdir()

    result = cli("backup", "--root", ws.root, "--name", "next")

    assert result.code == 0, result.err
    assert not spool.exists() and not partial.exists() and not mine.exists()
    assert theirs.is_dir()
    assert f"removed {spool.name}" in result.err
    assert f"removed {mine.name}" in result.err


def test_temporaries_in_a_folder_others_may_write_are_left_alone(workspace, cli):
    folder = workspace.backups_dir
    partial = folder / ".b.tar.zst.x1.tmp"
    partial.write_bytes(b"half")
    os.chmod(folder, 0o777)

    result = cli("backup", "--root", workspace.root, "--name", "next")

    assert result.code == 0, result.err
    assert partial.read_bytes() == b"half"
    assert f"temporary files in {folder} alone" in result.err
    assert "writable by other users (mode 0777)" in result.err


def test_temporaries_through_a_link_out_of_the_workspace_are_left_alone(
    workspace, tmp_path
):
    outside = tmp_path / "data"
    (outside / "backups").mkdir(parents=True)
    partial = outside / "backups" / ".b.tar.x1.tmp"
    partial.write_bytes(b"someone's")
    safefs.remove_path(workspace.data_dir, workspace.root)
    workspace.data_dir.symlink_to(outside)
    warnings: list[str] = []

    removed = remove_stale_temporaries(workspace, warnings)

    assert removed == []
    assert partial.read_bytes() == b"someone's"
    assert "leads outside the workspace" in warnings[0]


def test_backup_dir_under_home_is_the_contexts_home(workspace, tmp_path):
    home = tmp_path / "context-home"
    with workspace.user_config.open("a") as handle:
        handle.write('\n[backup]\ndir = "~/kept/${workspace.user}"\n')
    ws = dataclasses.replace(workspace, environ={"HOME": str(home)})
    assert Path(os.environ["HOME"]) != home

    made = create_backup(ws, BackupOptions(name="homed"))

    assert backups_dir(ws) == home / "kept" / "dev"
    assert Path(made.path).parent == home / "kept" / "dev"
    assert not (Path(os.environ["HOME"]) / "kept").exists()


def test_file_vanishing_during_backup_is_skipped_with_a_warning(workspace):
    area = workspace.infra_dir / "dev"
    (area / "aaa.txt").write_text("first\n")
    (area / "zzz.txt").write_text("goes away\n")

    def remove_later_file(done: int, total: int) -> None:
        (area / "zzz.txt").unlink(missing_ok=True)

    made = create_backup(
        workspace, BackupOptions(name="gone"), progress=remove_later_file
    )

    assert made.warnings == [
        "skipped infra/dev/zzz.txt: it vanished while being backed up"
    ]
    listed = list_backups(workspace)
    assert verify_backup(workspace, listed[0]).ok
    paths = {e.path for e in read_manifest(workspace, listed[0]).entries}
    assert "infra/dev/aaa.txt" in paths and "infra/dev/zzz.txt" not in paths


def _archive_names(path: str) -> set[str]:
    with tarfile.open(path) as tar:
        return set(tar.getnames())


@pytest.mark.parametrize(
    ("flags", "with_logs", "with_cache"),
    [
        pytest.param([], False, False, id="neither"),
        pytest.param(["--include-logs"], True, False, id="logs"),
        pytest.param(["--include-cache"], False, True, id="cache"),
        pytest.param(["--include-logs", "--include-cache"], True, True, id="both"),
    ],
)
def test_include_flags_add_the_users_logs_and_cache(
    make_workspace, cli, flags, with_logs, with_cache
):
    ws = make_workspace()
    make_workspace("tester")
    for user in ("dev", "tester"):
        build_tree(
            ws.root / "runtime",
            {
                f"logs/{user}/deploy.log": "deployed\n",
                f"cache/{user}/providers/aws.json": "{}\n",
            },
        )

    result = cli("backup", "--root", ws.root, "--name", "b", "--format", "json", *flags)

    assert result.code == 0, result.err
    made = json.loads(result.out)
    names = _archive_names(made["path"])
    assert ("runtime/logs/dev/deploy.log" in names) is with_logs
    assert ("runtime/cache/dev/providers/aws.json" in names) is with_cache
    assert ("logs" in made["components"]) is with_logs
    assert ("cache" in made["components"]) is with_cache
    assert "config/dev.toml" in names
    assert not [n for n in names if "tester" in n]


def test_auto_name_is_the_user_and_the_local_time(workspace, cli):
    before = datetime.now().replace(microsecond=0)
    result = cli("backup", "--root", workspace.root, "--auto-name", "--format", "json")
    after = datetime.now()

    assert result.code == 0, result.err
    made = json.loads(result.out)
    found = re.fullmatch(r"workspace-dev-(\d{8}_\d{6})", made["name"])
    assert found, made["name"]
    assert before <= datetime.strptime(found[1], "%Y%m%d_%H%M%S") <= after
    assert Path(made["path"]).name == f"{made['name']}.tar"
    assert [b.name for b in list_backups(workspace)] == [made["name"]]


def test_backup_shows_progress_on_a_terminal_and_only_its_result_on_stdout(
    workspace,
):
    shown = run_on_terminal(
        ["backup", "--root", workspace.root, "--name", "shown", "--format", "json"],
        on_terminal=("stdin", "stderr"),
    )

    assert shown.code == 0, shown.text
    assert "backing up" in shown.text
    assert json.loads(shown.out)["name"] == "shown"


def test_backup_is_quiet_when_stderr_is_not_a_terminal(workspace):
    quiet = run_on_terminal(
        ["backup", "--root", workspace.root, "--name", "quiet"],
        on_terminal=("stdin", "stdout"),
    )

    assert quiet.code == 0, quiet.err
    assert quiet.err == ""
    assert "\x1b" not in quiet.screen
    lines = quiet.text.splitlines()
    assert lines[0].startswith("Backup quiet: ")
    assert lines[1].strip() == str(workspace.backups_dir / "quiet.tar")
    assert len(lines) == 2


@pytest.mark.parametrize(
    ("line", "command", "key"),
    [
        ('compress = "rar"', ["backup", "--compress"], "[backup] compress: 'rar'"),
        ("dir = 7", ["backup"], "[backup] dir: 7"),
        (
            'recipients = "age1x"',
            ["backup", "--encrypt"],
            "[backup] recipients: 'age1x'",
        ),
        (
            'encrypt = "yes"',
            ["reset", "--backup-first", "--force"],
            "[backup] encrypt: 'yes'",
        ),
    ],
    ids=["compress", "dir", "recipients", "encrypt"],
)
def test_bad_backup_settings_name_the_key_and_file(workspace, cli, line, command, key):
    with workspace.user_config.open("a") as handle:
        handle.write(f"\n[backup]\n{line}\n")
    number = len(workspace.user_config.read_text().splitlines())
    before = snapshot(workspace.root, ("runtime/logs", "runtime/state"))

    result = cli(*command, "--root", workspace.root)

    assert result.code == 2
    assert result.err.count("\n") == 1
    assert f"config/dev.toml:{number}:" in result.err
    assert key in result.err
    assert snapshot(workspace.root, ("runtime/logs", "runtime/state")) == before


def test_fifo_and_socket_are_each_named_once(workspace, cli, monkeypatch):
    import socket

    area = workspace.infra_dir / "dev"
    os.mkfifo(area / "fifo")
    monkeypatch.chdir(area)
    with socket.socket(socket.AF_UNIX) as server:
        server.bind("sock")
        result = cli("backup", "--root", workspace.root, "--name", "b")

    assert result.code == 0, result.err
    assert result.err.count("infra/dev/fifo") == 1
    assert result.err.count("infra/dev/sock") == 1


@pytest.mark.parametrize("value", ["", ",", " , "], ids=["empty", "comma", "blank"])
@pytest.mark.parametrize("command", ["backup", "restore"])
def test_an_empty_component_list_is_refused_alike(workspace, cli, command, value):
    create_backup(workspace, BackupOptions(name="base"))
    extra = ["--backup-name", "base", "--dry-run"] if command == "restore" else []

    result = cli(command, "--root", workspace.root, *extra, f"--components={value}")

    assert result.code == 2
    assert result.err == (
        "workspace: error: --components: the list is empty; choose from "
        "config,extensions,infra,runtime,logs,cache,shared\n"
    )


# Whose backups: a folder several users share, another user's file in ours.

DAY = 86400


def _age(path: Path, days: float) -> None:
    stamp = time.time() - days * DAY
    os.utime(path, (stamp, stamp))


def _configure_backups(ws, lines: str) -> None:
    with ws.user_config.open("a") as handle:
        handle.write(f"\n[backup]\n{lines}\n")


def test_a_shared_backup_dir_keeps_each_users_backups_apart(
    make_workspace, cli, tmp_path
):
    shared = tmp_path / "shared"
    shared.mkdir()
    with tarfile.open(shared / "important-project.tar", "w") as tar:
        tar.add(__file__, "project.py")
    (shared / "photos.tar.gz").write_text("x\n")
    for path in shared.iterdir():
        _age(path, 100)
    dev, other = make_workspace("dev"), make_workspace("other")
    for ws in (dev, other):
        _configure_backups(ws, f'dir = "{shared}"\nkeep_last = 1')
    (other.infra_dir / "other" / "secret.txt").write_text("secret\n")
    root = ("--root", dev.root)
    as_other = (*root, "--workspace-user", "other")
    assert cli("backup", *root, "--name", "mine").code == 0
    assert cli("backup", *as_other, "--name", "other-1").code == 0
    _age(backups_dir(other) / "other-1.tar", 60)
    assert cli("backup", *as_other, "--name", "other-2").code == 0

    cleaned = cli("cleanup", *root, "--type", "old", "--force")
    listed = cli("restore", *root, "--list-backups", "--format", "json")
    restored = cli("restore", *root, "--latest", "--overwrite")

    assert (backups_dir(dev), backups_dir(other)) == (shared / "dev", shared / "other")
    assert cleaned.code == 0, cleaned.err
    assert sorted(os.listdir(shared)) == [
        "dev", "important-project.tar", "other", "photos.tar.gz",
    ]  # fmt: skip
    assert sorted(os.listdir(shared / "other")) == ["other-1.tar", "other-2.tar"]
    assert [row["name"] for row in json.loads(listed.out)] == ["mine"]
    assert restored.code == 0, restored.err
    assert "Restored mine" in restored.out
    assert not (dev.infra_dir / "dev" / "secret.txt").exists()


def test_another_users_backup_in_our_folder_is_never_ours_unless_named(
    make_workspace, cli
):
    dev, other = make_workspace("dev"), make_workspace("other")
    _configure_backups(dev, "keep_last = 1")
    (other.infra_dir / "other" / "secret.txt").write_text("secret\n")
    mine = create_backup(dev, BackupOptions(name="mine"))
    _age(Path(mine.path), 30)
    theirs = create_backup(other, BackupOptions(name="theirs"))
    copy = dev.backups_dir / "theirs.tar"
    copy.write_bytes(Path(theirs.path).read_bytes())
    _age(copy, 60)
    root = ("--root", dev.root)

    listed = [b.name for b in list_backups(dev)]
    cleaned = cli("cleanup", *root, "--type", "old", "--force")
    replaced = cli("backup", *root, "--name", "theirs", "--force")
    named = cli("restore", *root, "--backup-name", "theirs", "--overwrite")

    assert listed == ["mine"]
    assert cleaned.code == 0, cleaned.err
    assert copy.read_bytes() == Path(theirs.path).read_bytes()
    assert replaced.code == 2
    assert f"--name: {copy} is a backup of user 'other'" in replaced.err
    assert named.code == 0, named.err
    assert "backup theirs belongs to user 'other', not to 'dev'" in named.err
    assert (dev.infra_dir / "dev" / "secret.txt").read_text() == "secret\n"


def test_a_file_of_another_account_is_never_listed(workspace, monkeypatch):
    create_backup(workspace, BackupOptions(name="mine"))
    owner = os.getuid()

    monkeypatch.setattr(os, "getuid", lambda: owner + 1)
    listed = list_backups(workspace)
    monkeypatch.undo()

    assert listed == []
    assert [b.name for b in list_backups(workspace)] == ["mine"]


def test_without_a_manifest_the_path_must_name_the_user(workspace, cli, tmp_path):
    team = tmp_path / "team"
    team.mkdir()
    (team / "photos.tar.gz").write_text("x\n")
    (team / "notes.tar.age").write_text("age-encryption.org/v1\n")
    (team / "workspace-dev-20250925_120000.tar.age").write_text("sealed\n")
    (team / "workspace-dev-ops-20250925_120000.tar.age").write_text("sealed\n")
    (team / "dev").mkdir()
    (team / "dev" / "notes.tar.age").write_text("sealed\n")

    shared = list_backups(workspace, f"file://{team}")
    own = list_backups(workspace, f"file://{team}/dev")

    assert [b.name for b in shared] == ["workspace-dev-20250925_120000"]
    assert [b.name for b in own] == ["notes"]
