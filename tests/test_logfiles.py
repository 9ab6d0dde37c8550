"""Log rotation, tail, follow and archive; the tool's own log settings."""

from __future__ import annotations

import gzip
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from tests.conftest import build_tree
from workspace_tasks import logfiles
from workspace_tasks.logfiles import MAX_LINE, LogFollower, last_lines, rotate_log
from workspace_tasks.output import human_size

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
        (["--action", "rotate", "--lines", "5"], "--lines goes with --action tail"),
        (["--action", "archive", "--older-than", ""], "--older-than: '' is not an"),
        (["--lines", "١"], "--lines: '١' is not a count"),
        (["--lines", "-1"], "--lines: '-1' is not a count"),
    ],
    ids=[
        "action",
        "follow-rotate",
        "bad-age",
        "older-than-tail",
        "lines-rotate",
        "empty-age",
        "arabic-indic-lines",
        "negative-lines",
    ],
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


@pytest.fixture
def logs_outside(workspace, tmp_path):
    """``runtime/logs/evil`` linked to a folder outside with a big, old log."""
    outside = tmp_path / "outside" / "dir"
    build_tree(outside, {"big.log": "x" * 5000, "big.log.1.gz": b"old"})
    old = time.time() - 30 * 86400
    os.utime(outside / "big.log.1.gz", (old, old))
    (workspace.runtime_root / "logs" / "evil").symlink_to(outside)
    return outside


def listing(folder: Path) -> dict[str, int]:
    return {p.name: p.lstat().st_size for p in folder.iterdir()}


@pytest.mark.parametrize(
    "flags",
    [
        ["--action", "tail"],
        ["--action", "tail", "--follow"],
        ["--action", "rotate"],
        ["--action", "archive", "--older-than", "7d"],
    ],
    ids=["tail", "follow", "rotate", "archive"],
)
def test_logs_actions_refuse_a_log_folder_leading_outside(
    workspace, cli, logs_outside, flags
):
    before = listing(logs_outside)
    result = cli("runtime", "logs", "--root", workspace.root, "--user-name", "evil",
                 *flags)  # fmt: skip
    assert result.code == 2
    assert result.err.startswith("workspace: error: refusing to use runtime/logs/evil")
    assert "leads outside the workspace" in result.err
    assert len(result.err.splitlines()) == 1
    assert listing(logs_outside) == before
    assert not (workspace.runtime_root / "data" / "evil").exists()


def test_logs_refuse_when_the_shared_logs_folder_leads_outside(workspace, cli,
                                                               tmp_path):  # fmt: skip
    shared = tmp_path / "shared-logs"
    build_tree(shared, {"dev/app.log": "y" * 3000})
    (workspace.runtime_root / "logs").rename(tmp_path / "old-logs")
    (workspace.runtime_root / "logs").symlink_to(shared)
    for command in (["runtime", "logs", "--action", "rotate"],
                    ["runtime", "cleanup", "--type", "logs", "--age", "0s",
                     "--force"]):  # fmt: skip
        result = cli(*command, "--root", workspace.root)
        assert result.code == 2, command
        assert "leads outside the workspace" in result.err
    assert listing(shared / "dev") == {"app.log": 3000}


@pytest.mark.parametrize(
    "command",
    [["status"], ["config", "show"], ["runtime", "init", "--force"]],
    ids=["status", "config-show", "runtime-init"],
)
def test_the_debug_log_is_never_opened_through_a_link_leading_outside(
    workspace, cli, logs_outside, command
):
    before = listing(logs_outside)
    cli(*command, "--root", workspace.root, "--user-name", "evil")
    assert listing(logs_outside) == before


def test_a_log_file_leading_outside_is_not_written(workspace, cli, tmp_path):
    outside = tmp_path / "elsewhere.log"
    outside.write_text("theirs\n")
    workspace.log_file.unlink(missing_ok=True)
    workspace.log_file.symlink_to(outside)
    result = cli("status", "--root", workspace.root)
    assert result.code == 0, result.err
    assert outside.read_text() == "theirs\n"


@pytest.mark.parametrize(
    "command", [["status"], ["config", "show"]], ids=["status", "config-show"]
)
def test_a_log_file_that_cannot_be_opened_does_not_fail_commands(
    workspace, cli, command
):
    workspace.log_file.unlink(missing_ok=True)
    workspace.log_file.mkdir()  # opening it for writing fails
    result = cli(*command, "--root", workspace.root)
    assert result.code == 0, result.err
    assert "unexpected" not in result.err
    warnings = [line for line in result.err.splitlines() if "log file" in line]
    assert len(warnings) == 1
    assert "going on without it" in warnings[0]


def test_a_log_file_that_fails_while_writing_is_given_up_once(tmp_path):
    import io
    import logging

    from workspace_tasks import logsetup

    logger = logging.getLogger(logsetup.LOGGER)
    saved, logger.handlers = logger.handlers, []
    err = io.StringIO()
    stderr = logging.StreamHandler(err)
    stderr._workspace_stderr = True
    logger.addHandler(stderr)
    try:
        handler = logsetup.attach_user_log(tmp_path / "tool.log", root=tmp_path)
        os.close(handler.stream.fileno())  # every later write fails
        for number in range(3):
            logger.warning("message %d", number)
            logging.getLogger("workspace_tasks.test").debug("more")
    finally:
        logsetup.detach_user_logs()
        logger.handlers = saved
    assert err.getvalue().count("cannot write the log file") == 1
    assert "Traceback" not in err.getvalue()


def test_archive_creates_the_user_data_folders_private(workspace, cli):
    import shutil
    import stat

    shutil.rmtree(workspace.data_dir)
    build_tree(workspace.logs_dir, {"orchestrator.log.1.gz": b"old"})
    old = time.time() - 10 * 86400
    os.utime(workspace.logs_dir / "orchestrator.log.1.gz", (old, old))
    result = cli("runtime", "logs", "--root", workspace.root, "--action", "archive")
    assert result.code == 0, result.err
    for folder in (workspace.data_dir, workspace.backups_dir,
                   workspace.backups_dir / "logs"):  # fmt: skip
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert stat.S_IMODE(workspace.runtime_root.joinpath("data").stat().st_mode) == 0o755


def test_workspace_cleanup_refuses_a_cache_leading_outside(workspace, cli, tmp_path):
    outside = tmp_path / "outside"
    build_tree(outside, {"providers/old.json": "o"})
    old = time.time() - 90 * 86400
    os.utime(outside / "providers/old.json", (old, old))
    shared = workspace.runtime_root / "cache"
    shared.rename(tmp_path / "old-cache")
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "dev").symlink_to(outside)
    shared.symlink_to(tmp_path / "linked")
    result = cli("cleanup", "--root", workspace.root, "--type", "cache", "--force")
    assert result.code == 2
    assert "leads outside the workspace" in result.err
    assert (outside / "providers/old.json").read_text() == "o"


TAIL_CASES = {
    "empty": (b"", 3, []),
    "one-newline": (b"\n", 3, [""]),
    "no-final-newline": (b"a\nb", 1, ["b"]),
    "final-newline": (b"a\nb\n", 5, ["a", "b"]),
    "blank-first-line": (b"\nb\n", 2, ["", "b"]),
    "crlf": (b"a\r\nb\r\n", 2, ["a", "b"]),
    "zero-lines": (b"a\n", 0, []),
}


@pytest.mark.parametrize(
    ("data", "count", "expected"), TAIL_CASES.values(), ids=TAIL_CASES.keys()
)
def test_last_lines_reads_as_tail_does(tmp_path, data, count, expected):
    path = tmp_path / "a.log"
    path.write_bytes(data)
    for block in (1, 2, 65536):
        assert last_lines(path, count, block) == expected


def _count_reads(monkeypatch) -> list[int]:
    """Record the size of every positioned read the tail makes."""
    sizes: list[int] = []
    real = os.pread

    def pread(fd: int, size: int, offset: int) -> bytes:
        sizes.append(size)
        return real(fd, size, offset)

    monkeypatch.setattr(os, "pread", pread)
    return sizes


def test_tail_of_a_sparse_log_reads_only_its_end(workspace, cli, monkeypatch):
    log_file = workspace.logs_dir / "s.log"
    with open(log_file, "wb") as handle:
        handle.truncate(200 * 1024 * 1024)
    with open(log_file, "ab") as handle:
        handle.write(b"\nlast\n")
    reads = _count_reads(monkeypatch)

    result = cli("runtime", "logs", "--root", workspace.root, "--lines", "1")

    assert result.code == 0, result.err
    assert "==> s.log <==\nlast\n" in result.out
    assert sum(reads) < 1024 * 1024


def test_an_overlong_line_shows_its_end_after_a_marker(tmp_path):
    log_file = tmp_path / "long.log"
    log_file.write_bytes(b"first\n" + b"x" * (MAX_LINE + 1000) + b"end\nlast\n")

    tail = last_lines(log_file, 3)

    assert tail[0] == "first"
    assert tail[1] == f"[{human_size(1003)} cut] " + "x" * (MAX_LINE - 3) + "end"
    assert tail[2] == "last"


def test_a_hole_in_a_sparse_log_is_skipped_not_read(tmp_path, monkeypatch):
    log_file = tmp_path / "sparse.log"
    with open(log_file, "wb") as handle:
        handle.write(b"first\n")
        handle.truncate(50 * 1024 * 1024)
        handle.seek(0, os.SEEK_END)
        handle.write(b"\n" + b"y" * 100 + b"\nlast\n")
    reads = _count_reads(monkeypatch)

    tail = last_lines(log_file, 4)

    hole = 50 * 1024 * 1024 - len(b"first\n")
    assert tail == [
        "first",
        f"[{human_size(hole - MAX_LINE)} cut] " + "\0" * MAX_LINE,
        "y" * 100,
        "last",
    ]
    assert sum(reads) < 1024 * 1024


def test_follow_keeps_only_the_end_of_an_overlong_line(workspace, monkeypatch):
    monkeypatch.setattr(logfiles, "FOLLOW_CHUNK", 64 * 1024)
    follower = LogFollower(workspace)
    try:
        (workspace.logs_dir / "new.log").write_bytes(b"z" * 300_000 + b"!\nok\n")
        lines = follower.poll()
        while follower.behind:
            lines += follower.poll()
    finally:
        follower.close()
    assert lines == [
        (
            "new.log",
            f"[{human_size(300_001 - MAX_LINE)} cut] " + "z" * (MAX_LINE - 1) + "!",
        ),
        ("new.log", "ok"),
    ]


@pytest.mark.parametrize(
    "command",
    [
        ["runtime", "cache", "--action", "stats"],
        ["runtime", "logs", "--lines", "1"],
        ["runtime", "init"],
        ["status"],
    ],
    ids=["cache-stats", "logs-tail", "runtime-init", "status"],
)
def test_every_command_leaves_a_line_in_the_users_log(workspace, cli, command):
    workspace.log_file.unlink(missing_ok=True)
    argv = [*command, "--root", str(workspace.root)]

    result = cli(*argv)

    assert result.code == 0, result.err
    assert f"workspace {shlex.join(argv)}: exit code 0\n" in (
        workspace.log_file.read_text()
    )


@pytest.mark.parametrize("blocked", ["runtime/logs", "runtime/logs/dev"])
def test_a_file_in_the_log_folders_place_is_said_once(workspace, cli, blocked):
    folder = workspace.root / blocked
    shutil.rmtree(folder)
    folder.write_text("not a folder")

    result = cli("status", "--root", workspace.root)

    assert result.code == 0, result.err
    assert result.err == (
        f"workspace: WARNING: cannot write the log file {workspace.log_file} "
        f"({folder} is not a folder); going on without it\n"
    )


def test_a_tiny_rotation_size_rotates_without_end(workspace, cli):
    with workspace.user_config.open("a") as handle:
        handle.write('\n[logging]\nmax_size = "1B"\nmax_files = 2\n')
    workspace.log_file.write_text("filler\n")

    result = cli("runtime", "cleanup", "--root", workspace.root, "--dry-run")

    assert result.code == 0, result.err
    assert result.err == ""
    assert (workspace.logs_dir / "provisioning.log.1.gz").is_file()
    assert not (workspace.logs_dir / "provisioning.log.3.gz").exists()


def test_follow_in_json_prints_json_lines_only(workspace, cli, monkeypatch):
    from workspace_tasks import logfiles

    (workspace.logs_dir / "orchestrator.log").write_text("one\ntwo\n")

    def new_lines(ws):
        yield "orchestrator.log", "three"
        raise KeyboardInterrupt

    monkeypatch.setattr(logfiles, "follow_logs", new_lines)
    result = cli(
        "runtime", "logs", "--root", workspace.root, "--follow", "--format", "json",
        "--lines", "2",
    )  # fmt: skip
    assert result.code == 0, result.err
    records = [json.loads(line) for line in result.out.splitlines()]
    ours = [r["line"] for r in records if r["file"] == "orchestrator.log"]
    assert ours == ["one", "two", "three"]
    assert all(set(r) == {"file", "line"} for r in records)


SETTINGS_READERS = {
    "logs-rotate": ("runtime", "logs", "--action", "rotate"),
    "cache-stats": ("runtime", "cache", "--action", "stats"),
    "runtime-cleanup": ("runtime", "cleanup", "--dry-run"),
}


@pytest.mark.parametrize("argv", SETTINGS_READERS.values(), ids=SETTINGS_READERS)
def test_invalid_toml_stops_every_command_reading_settings(workspace, cli, argv):
    with workspace.user_config.open("a") as handle:
        handle.write("[http]\ntimeout = \n")
    lines = workspace.user_config.read_text().count("\n")
    result = cli(*argv, "--root", workspace.root)
    assert result.code == 2
    assert result.err == (
        f"workspace: error: config/dev.toml:{lines}:11: invalid TOML: invalid value\n"
    )


def test_a_logging_value_that_is_not_a_count_stops_a_rotation(workspace, cli):
    with workspace.user_config.open("a") as handle:
        handle.write('[logging]\nmax_files = "٣"\n')
    result = cli("runtime", "logs", "--action", "rotate", "--root", workspace.root)
    assert result.code == 2
    assert result.err == (
        "workspace: error: [logging] max_files: '٣' is not a count; "
        "use 0 or more in the digits 0-9\n"
    )
