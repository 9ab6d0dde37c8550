"""Log rotation, tail, follow and archive; the tool's own log settings."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from tests.conftest import build_tree
from workspace_tasks.logfiles import LogFollower, rotate_log

WRITER = """
import sys
path, count, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
print("ready", flush=True)
handle = open(path, "a") if mode == "held" else None
for number in range(count):
    line = f"line {number:06d}\\n"
    if handle is None:
        with open(path, "a") as once:
            once.write(line)
    else:
        handle.write(line)
        handle.flush()
if handle is not None:
    handle.close()
"""


def all_lines(folder: Path, name: str) -> list[str]:
    """Return every line of a log and of its rotations, plain or gzipped."""
    lines = []
    for path in folder.iterdir():
        if not path.name.startswith(name):
            continue
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt") as handle:
            lines += handle.read().splitlines()
    return lines


@pytest.mark.parametrize("mode", ["reopen", "held"], ids=["reopen", "held-open"])
def test_rotation_under_a_concurrent_writer_keeps_every_line(tmp_path, mode):
    log_file = tmp_path / "app.log"
    log_file.write_text("")
    count = 4000
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(log_file), str(count), mode],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout.readline().strip() == "ready"
    rotations = 0
    while writer.poll() is None:
        if rotate_log(log_file, None, keep=1000, drain_timeout=0.05):
            rotations += 1
    writer.wait()
    rotate_log(log_file, None, keep=1000, drain_timeout=0.05)

    lines = all_lines(tmp_path, "app.log")
    assert len(lines) == count
    assert sorted(lines) == [f"line {n:06d}" for n in range(count)]
    assert rotations >= 1


def test_rotation_numbers_and_compresses_and_keeps_max_files(tmp_path):
    log_file = tmp_path / "app.log"
    for round_number in range(4):
        log_file.write_text(f"round {round_number}\n")
        rotate_log(log_file, None, keep=2)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["app.log", "app.log.1.gz", "app.log.2.gz"]
    assert gzip.decompress((tmp_path / "app.log.1.gz").read_bytes()) == b"round 3\n"
    assert gzip.decompress((tmp_path / "app.log.2.gz").read_bytes()) == b"round 2\n"
    assert log_file.read_text() == ""


def test_rotation_waits_for_the_size_threshold(tmp_path):
    log_file = tmp_path / "app.log"
    log_file.write_text("x" * 99)
    assert rotate_log(log_file, 100) is None
    log_file.write_text("x" * 100)
    rotation = rotate_log(log_file, 100)
    assert rotation is not None
    assert rotation.rotated_to == tmp_path / "app.log.1.gz"


def test_follow_keeps_following_across_a_rotation(workspace):
    log_file = workspace.logs_dir / "orchestrator.log"
    follower = LogFollower(workspace)
    try:
        with open(log_file, "a") as handle:
            handle.write("before 1\nbefore 2\n")
        first = follower.poll()
        rotate_log(log_file, None)
        with open(log_file, "a") as handle:
            handle.write("after 1\n")
        second = follower.poll()
    finally:
        follower.close()
    assert first == [("orchestrator.log", "before 1"), ("orchestrator.log", "before 2")]
    assert second == [("orchestrator.log", "after 1")]


def test_follow_reads_what_a_held_writer_adds_after_the_rotation(workspace):
    log_file = workspace.logs_dir / "orchestrator.log"
    follower = LogFollower(workspace)
    try:
        with open(log_file, "a") as held:
            held.write("one\n")
            held.flush()
            rotation = rotate_log(log_file, None, drain_timeout=0.01)
            held.write("two\n")
            held.flush()
            lines = follower.poll()
    finally:
        follower.close()
    assert rotation.rotated_to.name == "orchestrator.log.1"
    assert [line for _, line in lines] == ["one", "two"]


def test_tail_shows_the_last_lines_of_each_log(workspace, cli):
    build_tree(
        workspace.logs_dir,
        {
            "orchestrator.log": "".join(f"o{n}\n" for n in range(10)),
            "extensions/my-provider.log": "p1\np2\n",
        },
    )
    result = cli(
        "runtime", "logs", "--root", workspace.root, "--lines", "3", "--format", "json"
    )
    assert result.code == 0, result.err
    import json

    files = json.loads(result.out)["files"]
    assert files["orchestrator.log"] == ["o7", "o8", "o9"]
    assert files["extensions/my-provider.log"] == ["p1", "p2"]


def test_rotate_action_uses_the_configured_size(workspace, cli):
    workspace.user_config.write_text(
        workspace.user_config.read_text() + '\n[logging]\nmax_size = "1KB"\n'
    )
    build_tree(workspace.logs_dir, {"orchestrator.log": "x" * 2000})
    result = cli("runtime", "logs", "--root", workspace.root, "--action", "rotate")
    assert result.code == 0, result.err
    rotated = workspace.logs_dir / "orchestrator.log.1.gz"
    assert gzip.decompress(rotated.read_bytes()) == b"x" * 2000
    assert "below 1.0KB" in result.out


def test_archive_moves_old_rotated_logs_into_one_archive(workspace, cli):
    build_tree(
        workspace.logs_dir,
        {"orchestrator.log.1.gz": b"old", "orchestrator.log.2.gz": b"older"},
    )
    build_tree(workspace.logs_dir, {"orchestrator.log.3.gz": b"recent"})
    old = time.time() - 10 * 86400
    for name in ("orchestrator.log.1.gz", "orchestrator.log.2.gz"):
        os.utime(workspace.logs_dir / name, (old, old))
    result = cli(
        "runtime",
        "logs",
        "--root",
        workspace.root,
        "--action",
        "archive",
        "--older-than",
        "7d",
    )
    assert result.code == 0, result.err
    archives = list((workspace.backups_dir / "logs").glob("logs-*.tar.gz"))
    assert len(archives) == 1
    with tarfile.open(archives[0]) as tar:
        assert sorted(tar.getnames()) == [
            "orchestrator.log.1.gz",
            "orchestrator.log.2.gz",
        ]
    left = sorted(p.name for p in workspace.logs_dir.glob("orchestrator.log.*"))
    assert left == ["orchestrator.log.3.gz"]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--action", "shred"], "--action: 'shred' is not one of tail"),
        (["--action", "rotate", "--follow"], "--follow goes with --action tail"),
        (["--action", "archive", "--older-than", "7x"], "--older-than: '7x'"),
        (["--older-than", "7d"], "--older-than goes with --action archive"),
    ],
    ids=["action", "follow-rotate", "bad-age", "older-than-tail"],
)
def test_bad_logs_flags_are_one_line_exit_2(workspace, cli, flags, message):
    result = cli("runtime", "logs", "--root", workspace.root, *flags)
    assert result.code == 2
    assert message in result.err


def test_tool_log_rotates_at_the_configured_size(workspace, cli):
    workspace.user_config.write_text(
        workspace.user_config.read_text()
        + '\n[logging]\nmax_size = "8KB"\nmax_files = 2\n'
    )
    workspace.log_file.write_text("filler\n" * 1200)
    result = cli("runtime", "cleanup", "--root", workspace.root, "--dry-run")
    assert result.code == 0, result.err
    rotated = workspace.logs_dir / "provisioning.log.1.gz"
    assert gzip.decompress(rotated.read_bytes()).startswith(b"filler\nfiller\n")
    assert workspace.log_file.stat().st_size < 8192


@pytest.mark.parametrize(
    ("name", "rotated"),
    [("app.log", False), ("app.log.1.gz", True), ("app.log.3", True)],
    ids=["live", "gzip-copy", "plain-copy"],
)
def test_rotated_copies_are_recognised(tmp_path, name, rotated):
    from workspace_tasks.logfiles import is_rotated

    assert is_rotated(tmp_path / name) is rotated
