"""The cleanup engine and ``workspace runtime cleanup``."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import build_tree
from workspace_tasks.cleanup import (
    KEPT_ASIDE,
    CleanupTarget,
    aside_path,
    execute_plan,
    is_kept_aside,
    plan_cleanup,
)
from workspace_tasks.errors import UnsafeOperation
from workspace_tasks.runtime import plan_runtime_cleanup

DAY = 86400


def age(path: Path, days: float) -> None:
    """Set the modification time of ``path`` (not of a link's target)."""
    moment = time.time() - days * DAY
    os.utime(path, (moment, moment), follow_symlinks=False)


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.lstat().st_mtime_ns, p.lstat().st_size)
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture
def cache_tree(workspace, tmp_path):
    """A cache with old, new, future and linked-out entries."""
    cache = workspace.cache_dir
    outside = tmp_path / "outside"
    build_tree(outside, {"precious.txt": "keep me"})
    age(outside / "precious.txt", 100)
    build_tree(
        cache,
        {
            "providers/old.json": "o" * 100,
            "providers/new.json": "n" * 10,
            "images/future.img": "f" * 5,
            "downloads/deep/old.tar": "t" * 50,
        },
    )
    age(cache / "providers/old.json", 40)
    age(cache / "downloads/deep/old.tar", 40)
    age(cache / "downloads/deep", 40)
    future = time.time() + 10 * DAY
    os.utime(cache / "images/future.img", (future, future))
    (cache / "providers/out-link").symlink_to(outside)
    age(cache / "providers/out-link", 40)
    return workspace, outside


def test_plan_lists_old_files_links_and_emptied_folders(cache_tree):
    ws, _ = cache_tree
    plan = plan_runtime_cleanup(ws, "cache", 30 * DAY)
    names = {str(r.path.relative_to(ws.cache_dir)): r.kind for r in plan.removals}
    assert names == {
        "providers/old.json": "file",
        "providers/out-link": "link",
        "downloads/deep/old.tar": "file",
        "downloads/deep": "folder",
    }
    assert plan.bytes_to_free == 150
    skipped = {str(s.path.relative_to(ws.cache_dir)): s.reason for s in plan.skipped}
    assert skipped == {
        "images/future.img": "modification time in the future: treated as new"
    }


def test_cleanup_removes_a_link_but_never_its_target(cache_tree, cli):
    ws, outside = cache_tree
    result = cli(
        "runtime",
        "cleanup",
        "--root",
        ws.root,
        "--type",
        "cache",
        "--age",
        "30d",
        "--force",
    )
    assert result.code == 0, result.err
    left = sorted(str(p.relative_to(ws.cache_dir)) for p in ws.cache_dir.rglob("*"))
    assert left == [
        "downloads",
        "images",
        "images/future.img",
        "providers",
        "providers/new.json",
    ]
    assert (outside / "precious.txt").read_text() == "keep me"
    assert "3 files removed, 150B freed" in result.out


def test_dry_run_changes_nothing_and_reports_bytes(cache_tree, cli):
    ws, _ = cache_tree
    before = snapshot(ws.root / "runtime")
    result = cli(
        "runtime",
        "cleanup",
        "--root",
        ws.root,
        "--type",
        "cache",
        "--age",
        "30d",
        "--dry-run",
        "--format",
        "json",
    )
    assert result.code == 0, result.err
    import json

    data = json.loads(result.out)
    assert data["bytes_to_free"] == 150
    assert data["files"] == 3
    cache_after = {
        k: v for k, v in snapshot(ws.root / "runtime").items() if "logs" not in k
    }
    assert cache_after == {k: v for k, v in before.items() if "logs" not in k}


def test_file_held_open_for_writing_is_skipped_and_named(workspace, cli):
    held = workspace.cache_dir / "downloads" / "partial.bin"
    build_tree(workspace.cache_dir, {"downloads/partial.bin": "x" * 10})
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; f = open(sys.argv[1], 'a'); print('ready', flush=True); "
            "sys.stdin.read()",
            str(held),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout.readline().strip() == "ready"
        age(held, 40)
        result = cli(
            "runtime",
            "cleanup",
            "--root",
            workspace.root,
            "--type",
            "cache",
            "--age",
            "30d",
            "--force",
        )
    finally:
        writer.communicate("")
    assert result.code == 0, result.err
    assert held.exists()
    assert f"skipped {held}: held open for writing by pid {writer.pid}" in result.out


def test_temp_cleanup_takes_temp_names_and_the_tmp_folder(workspace):
    build_tree(
        workspace.root / "runtime",
        {
            "workspaces/dev/tmp/scratch.txt": "s",
            "state/dev/deployments/x.json.tmp": "t",
            "state/dev/deployments/x.json": "keep",
            "data/dev/download.partial": "p",
        },
    )
    for path in (workspace.root / "runtime").rglob("*"):
        if path.is_file():
            age(path, 10)
    plan = plan_runtime_cleanup(workspace, "temp")
    removed = sorted(str(r.path.relative_to(workspace.root)) for r in plan.removals)
    assert removed == [
        "runtime/data/dev/download.partial",
        "runtime/state/dev/deployments/x.json.tmp",
        "runtime/workspaces/dev/tmp/scratch.txt",
    ]


def test_plan_refuses_a_folder_outside_the_allowed_roots(tmp_path):
    inside, outside = tmp_path / "in", tmp_path / "out"
    inside.mkdir()
    outside.mkdir()
    with pytest.raises(UnsafeOperation, match="outside the allowed folders"):
        plan_cleanup([CleanupTarget(outside, "x")], [inside], 0)


def test_linked_target_folder_is_not_followed(tmp_path):
    real, root = tmp_path / "real", tmp_path / "root"
    build_tree(real, {"a.txt": "a"})
    root.mkdir()
    (root / "cache").symlink_to(real)
    plan = plan_cleanup([CleanupTarget(root / "cache", "cache")], [root], None)
    assert plan.removals == []
    assert plan.skipped[0].reason == "is a symbolic link; links are not followed"
    assert (real / "a.txt").exists()


def test_file_changed_after_planning_is_kept(tmp_path):
    build_tree(tmp_path, {"c/a.txt": "a", "c/b.txt": "b"})
    for name in ("a.txt", "b.txt"):
        age(tmp_path / "c" / name, 5)
    plan = plan_cleanup([CleanupTarget(tmp_path / "c", "cache")], [tmp_path], DAY)
    (tmp_path / "c" / "b.txt").write_text("rewritten")
    result = execute_plan(plan)
    assert [r.name for r in result.removed] == ["a.txt"]
    assert result.skipped[0].reason == "modified since the plan was made"
    assert (tmp_path / "c" / "b.txt").read_text() == "rewritten"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--age", "30x"], "--age: '30x' is not an age"),
        (["--age=-1d"], "--age: '-1d' is not an age"),
        (["--type", "everything"], "--type: 'everything' is not one of"),
        (["--type", "cache", "--rotate"], "--rotate goes with --type logs or all"),
    ],
    ids=["unit", "negative", "type", "rotate-type"],
)
def test_bad_cleanup_flags_are_one_line_exit_2(workspace, cli, flags, message):
    result = cli("runtime", "cleanup", "--root", workspace.root, "--dry-run", *flags)
    assert result.code == 2
    assert message in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_cleanup_without_force_refuses_when_not_on_a_terminal(cache_tree, cli):
    ws, _ = cache_tree
    result = cli("runtime", "cleanup", "--root", ws.root, "--age", "30d")
    assert result.code == 2
    assert "standard input is not a terminal; pass --force" in result.err
    assert (ws.cache_dir / "providers/old.json").exists()


def test_cleanup_for_a_user_without_areas_exits_2_and_creates_nothing(workspace, cli):
    result = cli(
        "cleanup", "--root", workspace.root, "--user-name", "ghost", "--dry-run"
    )

    assert result.code == 2
    assert "--user-name" in result.err
    assert not list(workspace.root.glob("runtime/*/ghost"))


def test_cleanup_rotate_compresses_large_logs_keeping_every_line(workspace, cli):
    workspace.user_config.write_text(
        workspace.user_config.read_text() + '\n[logging]\nmax_size = "1KB"\n'
    )
    log = workspace.logs_dir / "orchestrator.log"
    batches = [[f"batch {b} step {n:04d}\n" for n in range(300)] for b in (1, 2)]
    rotated = []
    for lines in batches:
        log.write_text("".join(lines))
        result = cli(
            "runtime", "cleanup", "--root", workspace.root, "--type", "logs",
            "--rotate", "--force", "--format", "json",
        )  # fmt: skip
        assert result.code == 0, result.err
        rotated.append(json.loads(result.out)["rotated"])

    def unpacked(number: int) -> list[str]:
        path = workspace.logs_dir / f"orchestrator.log.{number}.gz"
        return gzip.decompress(path.read_bytes()).decode().splitlines(keepends=True)

    assert {r["path"]: r["rotated_to"] for r in rotated[0]}[str(log)] == str(
        workspace.logs_dir / "orchestrator.log.1.gz"
    )
    assert unpacked(2) == batches[0]
    assert unpacked(1) == batches[1]
    assert log.read_text() == ""


DEFAULT_AGE_COMMANDS = {
    "runtime-all": ["runtime", "cleanup", "--type", "all"],
    "runtime-temp": ["runtime", "cleanup", "--type", "temp"],
    "runtime-logs": ["runtime", "cleanup", "--type", "logs"],
    "workspace-all": ["cleanup", "--type", "all"],
    "workspace-logs": ["cleanup", "--type", "logs"],
}


@pytest.mark.parametrize(
    "command", DEFAULT_AGE_COMMANDS.values(), ids=DEFAULT_AGE_COMMANDS.keys()
)
def test_without_age_each_type_keeps_its_own_default(workspace, cli, command):
    files = {
        "workspaces/dev/tmp/week-old.txt": 8,
        "workspaces/dev/tmp/days-old.txt": 5,
        "logs/dev/month-old.log": 31,
        "logs/dev/weeks-old.log": 20,
    }
    build_tree(workspace.runtime_root, dict.fromkeys(files, "x"))
    for relpath, days in files.items():
        age(workspace.runtime_root / relpath, days)

    result = cli(*command, "--root", workspace.root, "--dry-run", "--format", "json")

    assert result.code == 0, result.err
    planned = sorted(Path(r["path"]).name for r in json.loads(result.out)["removals"])
    wanted = []
    if command[-1] in ("all", "logs"):
        wanted.append("month-old.log")
    if command[-1] in ("all", "temp"):
        wanted.append("week-old.txt")
    assert planned == sorted(wanted)


def test_rotate_dry_run_plans_what_the_real_run_does(workspace, cli):
    with workspace.user_config.open("a") as handle:
        handle.write('\n[logging]\nmax_size = "1KB"\n')
    build_tree(
        workspace.logs_dir,
        {"orchestrator.log": "o\n" * 1000, "big.log": "b\n" * 1000},
    )
    age(workspace.logs_dir / "orchestrator.log", 2)
    flags = ["--type", "logs", "--rotate", "--age", "1d", "--format", "json"]
    root = ["--root", workspace.root]

    planned = json.loads(cli("runtime", "cleanup", *root, *flags, "--dry-run").out)
    done = json.loads(cli("runtime", "cleanup", *root, *flags, "--force").out)

    removed = [r["path"] for r in planned["removals"]]
    assert removed == [str(workspace.logs_dir / "orchestrator.log")]
    assert [r["path"] for r in done["removed"]] == removed
    assert [r["path"] for r in planned["would_rotate"]] == [
        str(workspace.logs_dir / "big.log")
    ]
    assert [r["path"] for r in done["rotated"]] == [
        r["path"] for r in planned["would_rotate"]
    ]


def test_temp_cleanup_leaves_a_backups_temporaries_to_the_backup(workspace, cli):
    writing = workspace.backups_dir / ".workspace-dev-1.tar.x1y2.tmp"
    build_tree(workspace.root, {str(writing.relative_to(workspace.root)): "partial"})
    build_tree(workspace.data_dir, {"scratch.tmp": "old"})

    result = cli("runtime", "cleanup", "--root", workspace.root, "--type", "temp",
                 "--age", "0s", "--force")  # fmt: skip

    assert result.code == 0, result.err
    assert writing.read_text() == "partial"
    assert not (workspace.data_dir / "scratch.tmp").exists()


LOCKED_COMMANDS = {
    "runtime-cleanup": ["runtime", "cleanup", "--type", "temp", "--age", "0s"],
    "cache-clear": ["runtime", "cache", "--action", "clear"],
    "cache-optimize": ["runtime", "cache", "--action", "optimize"],
    "cache-refresh": ["runtime", "cache", "--action", "refresh"],
    "logs-archive": ["runtime", "logs", "--action", "archive", "--older-than", "0s"],
}


@pytest.mark.parametrize(
    "command", LOCKED_COMMANDS.values(), ids=LOCKED_COMMANDS.keys()
)
def test_removals_wait_for_the_users_lock(workspace, cli, command):
    from workspace_tasks import safefs
    from workspace_tasks.backup import lock_file

    files = {
        "data/dev/scratch.tmp": "t",
        "cache/dev/providers/old.json": "",
        "logs/dev/orchestrator.log.1.gz": "old",
    }
    build_tree(workspace.runtime_root, files)
    for relpath in files:
        age(workspace.runtime_root / relpath, 400)
    force = [] if "archive" in command else ["--force"]

    with safefs.user_lock(lock_file(workspace), "backup"):
        result = cli(*command, *force, "--root", workspace.root)

    assert result.code == 2
    assert "another backup, restore, reset or cleanup holds" in result.err
    for relpath, text in files.items():
        assert (workspace.runtime_root / relpath).read_text() == text


def test_what_runtime_init_kept_aside_is_never_cleaned(workspace, cli):
    extensions = workspace.logs_dir / "extensions"
    for child in extensions.iterdir():
        child.unlink()
    extensions.rmdir()
    extensions.write_text("a file where the folder belongs")
    assert cli("runtime", "init", "--root", workspace.root, "--force").code == 0
    (aside,) = workspace.logs_dir.glob("extensions.broken-*")
    age(aside, 400)
    (workspace.logs_dir / "old.log").write_text("old\n")
    age(workspace.logs_dir / "old.log", 400)

    result = cli(
        "runtime", "cleanup", "--root", workspace.root, "--type", "logs",
        "--force", "--format", "json",
    )  # fmt: skip

    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert aside.read_text() == "a file where the folder belongs"
    assert not (workspace.logs_dir / "old.log").exists()
    assert {"path": str(aside), "reason": KEPT_ASIDE} in data["skipped"]


def test_keeping_aside_twice_in_one_second_replaces_nothing(tmp_path):
    (tmp_path / "x.broken-20250101000000").write_text("first")
    second = aside_path(tmp_path / "x", "20250101000000")
    assert second.name == "x.broken-20250101000000-2"
    assert is_kept_aside(second.name) and not is_kept_aside("x.broken-2025")
