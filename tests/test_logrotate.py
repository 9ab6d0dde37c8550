"""``rotate_log``: numbered gzip copies, copy-truncate, a bounded history."""

from __future__ import annotations

import gzip

import pytest

from workspace_tasks.errors import UsageError
from workspace_tasks.logrotate import is_rotated, rotate_log


def test_rotation_compresses_the_content_and_empties_the_log(tmp_path):
    log = tmp_path / "app.log"
    log.write_bytes(b"first line\nsecond line\n")
    log.chmod(0o640)

    rotated = rotate_log(log, keep=3)

    assert rotated == tmp_path / "app.log.1.gz"
    assert gzip.decompress(rotated.read_bytes()) == b"first line\nsecond line\n"
    assert log.read_bytes() == b""
    assert oct(rotated.stat().st_mode & 0o777) == "0o640"


def test_a_writer_keeps_appending_to_the_same_file(tmp_path):
    log = tmp_path / "app.log"
    log.write_bytes(b"before\n")
    with log.open("ab") as writer:
        rotate_log(log, keep=2)
        writer.write(b"after\n")
    assert log.read_bytes() == b"after\n"


def test_older_copies_shift_and_the_oldest_goes(tmp_path):
    log = tmp_path / "app.log"
    for text in (b"one\n", b"two\n", b"three\n"):
        log.write_bytes(text)
        rotate_log(log, keep=2)

    names = sorted(p.name for p in tmp_path.iterdir())

    assert names == ["app.log", "app.log.1.gz", "app.log.2.gz"]
    assert gzip.decompress((tmp_path / "app.log.1.gz").read_bytes()) == b"three\n"
    assert gzip.decompress((tmp_path / "app.log.2.gz").read_bytes()) == b"two\n"


def test_a_sparse_log_keeps_its_data_after_the_hole(tmp_path):
    log = tmp_path / "sparse.log"
    with log.open("wb") as handle:
        handle.seek(8 * 1024 * 1024)
        handle.write(b"tail\n")

    rotated = rotate_log(log, keep=1)

    data = gzip.decompress(rotated.read_bytes())
    assert len(data) == 8 * 1024 * 1024 + 5
    assert data.endswith(b"\x00tail\n")
    assert data.count(b"\x00") == 8 * 1024 * 1024


@pytest.mark.parametrize(
    ("keep", "make_link"), [(0, False), (2, True)], ids=["keep-zero", "symlink"]
)
def test_bad_requests_are_refused(tmp_path, keep, make_link):
    target = tmp_path / "real.log"
    target.write_text("data\n")
    log = tmp_path / "app.log"
    if make_link:
        log.symlink_to(target)
    else:
        log.write_text("data\n")
    with pytest.raises(UsageError):
        rotate_log(log, keep)
    assert target.read_text() == "data\n"


@pytest.mark.parametrize(
    ("name", "rotated"),
    [("app.log", False), ("app.log.1.gz", True), ("app.log.3", True)],
    ids=["live", "gzip-copy", "plain-copy"],
)
def test_rotated_copies_are_recognised(tmp_path, name, rotated):
    assert is_rotated(tmp_path / name) is rotated
