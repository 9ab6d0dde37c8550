"""Reading tars made by other tools, and archives that are cut short."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from backup_helpers import empty_place
from external_tools import needs

from workspace_tasks import tarstream
from workspace_tasks.backup import BackupOptions, backup_from_file, create_backup
from workspace_tasks.restore import RestoreOptions, restore_backup

LONG = "infra/dev/" + "/".join(f"folder-{i:02d}-with-a-long-name" for i in range(6))


def _foreign_tar(path: Path, fmt: int) -> None:
    with tarfile.open(path, "w", format=fmt) as tar:
        for name in ("infra", "infra/dev", LONG):
            folder = tarfile.TarInfo(name)
            folder.type, folder.mode, folder.mtime = tarfile.DIRTYPE, 0o755, 1_000
            tar.addfile(folder)
        data = b"deep content\n"
        info = tarfile.TarInfo(f"{LONG}/ünïcödé notes.txt")
        info.size, info.mode, info.mtime = len(data), 0o640, 1_234_567_890
        tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("infra/dev/shortcut")
        link.type, link.linkname = tarfile.SYMTYPE, LONG[len("infra/dev/") :]
        tar.addfile(link)


@pytest.mark.parametrize(
    "fmt",
    [
        pytest.param(tarfile.GNU_FORMAT, id="gnu-long-names"),
        pytest.param(tarfile.PAX_FORMAT, id="pax-headers"),
    ],
)
def test_foreign_tar_with_long_names_restores(workspace, tmp_path, fmt):
    archive_path = tmp_path / "foreign.tar"
    _foreign_tar(archive_path, fmt)
    target = empty_place(tmp_path, workspace)

    restore_backup(target, backup_from_file(archive_path), RestoreOptions())

    restored = target.root / LONG / "ünïcödé notes.txt"
    assert restored.read_bytes() == b"deep content\n"
    assert oct(restored.stat().st_mode & 0o777) == "0o640"
    assert restored.stat().st_mtime_ns == 1_234_567_890_000_000_000
    shortcut = target.root / "infra/dev/shortcut"
    assert os.readlink(shortcut) == LONG[len("infra/dev/") :]


def test_sparse_member_is_refused_by_name(tmp_path):
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo("disk.img")
        info.type = tarfile.GNUTYPE_SPARSE
        tar.addfile(info)
    data.seek(0)

    with pytest.raises(tarstream.TarError, match="'disk.img' is a sparse member"):
        list(tarstream.TarReader(data))


def test_archive_cut_short_restores_nothing(workspace, tmp_path):
    made = create_backup(workspace, BackupOptions(name="cut"))
    whole = Path(made.path).read_bytes()
    cut = tmp_path / "cut.tar"
    cut.write_bytes(whole[: len(whole) // 2 + 100])
    target = empty_place(tmp_path, workspace)

    with pytest.raises(Exception, match="damaged|does not verify"):
        restore_backup(target, backup_from_file(cut), RestoreOptions())

    assert sorted(p.name for p in target.root.iterdir()) == []


@needs("tar", "gzip")
def test_gzip_backup_unpacks_with_plain_tar(workspace, tmp_path):
    (workspace.infra_dir / "dev" / "notes.txt").write_text("gzip me\n")
    made = create_backup(workspace, BackupOptions(name="gz", compression="gzip"))
    out = tmp_path / "untarred"
    out.mkdir()

    subprocess.run(["tar", "-xzf", made.path, "-C", out], check=True)

    assert (out / "infra/dev/notes.txt").read_text() == "gzip me\n"
    assert (out / "backup-manifest.json").read_bytes().startswith(b"{")


def test_backup_leaves_no_spool_file_behind(workspace):
    create_backup(workspace, BackupOptions(name="tidy", compression="zstd"))

    assert sorted(p.name for p in workspace.backups_dir.iterdir()) == ["tidy.tar.zst"]
