"""Round trips through our archive format, and reading it with plain tar."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from datetime import UTC, datetime

import pytest
from backup_helpers import empty_place, snapshot
from external_tools import needs

from workspace_tasks import archive
from workspace_tasks.backup import BackupOptions, backup_from_file, create_backup
from workspace_tasks.restore import RestoreOptions, restore_backup

ODD_NAMES = ("with space.txt", "ünïcödé-файл.txt", "new\nline.txt")


def _odd_tree(ws) -> None:
    base = ws.infra_dir / ws.user / "odd"
    (base / "empty folder").mkdir(parents=True)
    for index, name in enumerate(ODD_NAMES):
        (base / name).write_bytes(f"content {index}\n".encode())
    (base / "with space.txt").chmod(0o640)
    (base / "script.sh").write_text("#!/bin/sh\n")
    (base / "script.sh").chmod(0o750)
    os.symlink("with space.txt", base / "link to file")
    os.symlink("../odd", base / "dir link")
    os.link(base / "script.sh", base / "hard link")
    sparse = ws.data_dir / "disk.img"
    with sparse.open("wb") as handle:
        handle.seek(8 * 1024 * 1024)
        handle.write(b"end")
    os.utime(base / "script.sh", ns=(1_600_000_000_123_456_789,) * 2)
    os.chmod(base / "empty folder", 0o700)
    os.utime(base / "empty folder", ns=(1_500_000_000_000_000_001,) * 2)


@pytest.mark.parametrize("compression", ["none", "zstd", "gzip"])
def test_round_trip_keeps_bytes_modes_mtimes_links_and_empty_folders(
    workspace, tmp_path, compression
):
    _odd_tree(workspace)
    made = create_backup(workspace, BackupOptions(name="trip", compression=compression))
    target = empty_place(tmp_path, workspace)

    restore_backup(target, backup_from_file(made.path), RestoreOptions())

    kinds = sorted(p.name for p in workspace.extensions_dir.iterdir())
    own = [f"extensions/{kind}/dev" for kind in kinds]
    for top in ("infra/dev", "runtime/data/dev", *own):
        before = snapshot(workspace.root / top, skip=("backups",))
        after = snapshot(target.root / top, skip=("backups",))
        assert after == before, top
    user_config = "config/dev.toml"
    restored = (target.root / user_config).read_bytes()
    assert restored == (workspace.root / user_config).read_bytes()
    assert not (target.root / "config" / "dev-defaults.toml").exists()
    odd = target.root / "infra/dev/odd"
    assert os.readlink(odd / "dir link") == "../odd"
    assert (odd / "hard link").stat().st_ino == (odd / "script.sh").stat().st_ino
    sparse = target.data_dir / "disk.img"
    assert sparse.stat().st_size == 8 * 1024 * 1024 + 3
    assert sparse.stat().st_blocks * 512 < 1024 * 1024


def test_manifest_is_first_and_lists_every_entry_with_its_checksum(workspace):
    _odd_tree(workspace)
    made = create_backup(workspace, BackupOptions(name="plain"))

    with tarfile.open(made.path) as tar:
        names = tar.getnames()
        manifest = archive.Manifest.from_bytes(tar.extractfile(names[0]).read())
    assert names[0] == archive.MANIFEST_NAME
    assert manifest.user == "dev"
    assert manifest.components == ["config", "extensions", "infra", "runtime"]
    entries = {e.path: e for e in manifest.entries}
    newline = entries["infra/dev/odd/new\nline.txt"]
    assert newline.size == len(b"content 2\n")
    assert newline.sha256 == archive.hashlib.sha256(b"content 2\n").hexdigest()
    assert entries["infra/dev/odd/link to file"].target == "with space.txt"
    assert entries["infra/dev/odd/script.sh"].type == "hardlink"
    assert entries["infra/dev/odd/script.sh"].target == "infra/dev/odd/hard link"
    assert not any(p.startswith("runtime/data/dev/backups") for p in entries)


@needs("tar", "zstd")
def test_plain_tar_unpacks_a_compressed_backup(workspace, tmp_path):
    _odd_tree(workspace)
    made = create_backup(workspace, BackupOptions(name="z", compression="zstd"))
    out = tmp_path / "untarred"
    out.mkdir()

    subprocess.run(["tar", "--zstd", "-xf", made.path, "-C", out], check=True)

    assert (out / "infra/dev/odd/new\nline.txt").read_bytes() == b"content 2\n"
    assert os.readlink(out / "infra/dev/odd/link to file") == "with space.txt"
    assert (out / "infra/dev/odd/empty folder").is_dir()


def test_backup_is_private_and_named_after_user_and_time(workspace):
    now = datetime(2025, 9, 25, 14, 30, 22, tzinfo=UTC)
    made = create_backup(workspace, BackupOptions(), now=now)

    stamp = now.astimezone().strftime("%Y%m%d_%H%M%S")
    assert made.name == f"workspace-dev-{stamp}"
    assert oct(os.stat(made.path).st_mode & 0o777) == "0o600"
    assert oct(workspace.backups_dir.stat().st_mode & 0o777) == "0o700"


@pytest.fixture
def split_spool(monkeypatch):
    """Spool the members of even a small tree in two processes."""
    monkeypatch.setattr(archive, "SPLIT_FILES", 2)


def _many_files(ws, count: int = 40):
    base = ws.infra_dir / ws.user / "many"
    for index in range(count):
        folder = base / f"d{index:02d}"
        folder.mkdir(parents=True)
        (folder / "file.txt").write_bytes(f"file {index}\n".encode() * (index + 1))
    # A second name, in the second half, of a file in the first half.
    os.link(base / "d00" / "file.txt", base / f"d{count - 1:02d}" / "again.txt")
    return base


@pytest.mark.parametrize("compression", ["none", "zstd", "gzip"])
def test_archive_spooled_in_two_parts_round_trips(
    workspace, tmp_path, split_spool, compression
):
    _odd_tree(workspace)
    _many_files(workspace)
    made = create_backup(workspace, BackupOptions(name="two", compression=compression))
    target = empty_place(tmp_path, workspace)

    restore_backup(target, backup_from_file(made.path), RestoreOptions())

    for top in ("infra/dev", "runtime/data/dev"):
        before = snapshot(workspace.root / top, skip=("backups",))
        assert snapshot(target.root / top, skip=("backups",)) == before, top
    mode = {"none": "r:", "zstd": None, "gzip": "r:gz"}[compression]
    if mode is not None:
        with tarfile.open(made.path, mode) as tar:
            assert tar.getnames()[0] == archive.MANIFEST_NAME


def test_hard_link_to_a_file_gone_from_the_first_part_is_left_out(
    workspace, tmp_path, split_spool
):
    base = _many_files(workspace)
    tops = [f"infra/{workspace.user}"]
    entries, _ = archive.scan_tree(workspace.root, tops)
    manifest = archive.Manifest("gone", "dev", "dev", [], "", "none", "0", entries)
    (base / "d00" / "file.txt").unlink()
    (base / "d39" / "again.txt").unlink()
    os.link(base / "d01" / "file.txt", base / "d39" / "again.txt")
    vanished: list[str] = []

    archive.write_spooled(
        tmp_path / "out.tar", workspace.root, manifest, "none", None, vanished
    )

    with tarfile.open(tmp_path / "out.tar") as tar:
        names = tar.getnames()
    assert vanished == [f"infra/{workspace.user}/many/d00/file.txt"]
    assert f"infra/{workspace.user}/many/d39/again.txt" not in names
    assert f"infra/{workspace.user}/many/d01/file.txt" in names


def test_manifest_text_is_what_json_gives_for_odd_names():
    entries = [
        archive.Entry(name, kind, 0o644, 1_700_000_000_123_456_789, 3, "ab", target)
        for name, kind, target in (
            ("plain.txt", "file", ""),
            ('new\nline "quoted" \\ ünï.txt', "file", ""),
            ("link", "symlink", "../tö\tthere"),
            ("dir", "dir", ""),
        )
    ]
    manifest = archive.Manifest(
        "n", "dev", "dev", ["infra"], "now", "zstd", "1", entries
    )

    text = manifest.to_bytes()

    assert text == json.dumps(manifest.to_dict(), ensure_ascii=True).encode()
    assert archive.Manifest.from_bytes(text) == manifest
