"""Restoring: hostile archives refused whole, corrupt ones caught, plans kept."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from backup_helpers import empty_place, snapshot

from workspace_tasks import restore
from workspace_tasks.backup import BackupOptions, backup_from_file, create_backup
from workspace_tasks.restore import RestoreOptions, restore_backup

CASES = Path(__file__).parent / "data" / "archives"
OUTSIDE = ("/tmp/evil.txt", "/tmp/evil-absolute.txt", "/tmp/case-escape", "/tmp/Temp")
# Logs are written by every command; the rest of the tree must stay as it was.
SKIP = ("runtime/logs",)

HOSTILE = [
    pytest.param("dotdot-chain.tar", "tmp/evil.txt", id="dotdot-chain"),
    pytest.param("absolute.tar", "/tmp/evil-absolute.txt", id="absolute"),
    pytest.param("backslash-chain.tar", "Temp", id="backslash-chain"),
    pytest.param("symlink-out.tar", "extensions/out", id="symlink-out"),
    pytest.param("symlink-then-file.tar", "extensions/link", id="symlink-then-file"),
    pytest.param("dirlink-then-child.tar", "infra/dir", id="dirlink-then-child"),
    pytest.param("hardlink-out.tar", "cache/dup", id="hardlink-out"),
    pytest.param("device.tar", "runtime/null", id="device"),
]


@pytest.mark.parametrize(("case", "member"), HOSTILE)
def test_hostile_archive_is_refused_whole_naming_the_member(
    make_workspace, cli, case, member
):
    ws = make_workspace()
    before = snapshot(ws.root, SKIP)

    result = cli("restore", "--root", ws.root, "--backup-file", CASES / case)

    assert result.code != 0
    assert member in result.err
    assert "nothing was restored" in result.err
    assert snapshot(ws.root, SKIP) == before
    assert not (ws.root / "config" / "good.toml").exists()
    assert not any(os.path.lexists(p) for p in OUTSIDE)


def test_harmless_dots_restore_fully(make_workspace, cli):
    ws = make_workspace()

    result = cli(
        "restore", "--root", ws.root, "--backup-file", CASES / "harmless-dots.tar"
    )

    assert result.code == 0, result.err
    notes = ws.root / "notes"
    assert (ws.root / "config" / "good.toml").read_text().startswith("[")
    assert (notes / "..foo.txt").stat().st_size == 40
    assert (notes / "a..b" / "c.txt").stat().st_size == 30
    assert os.readlink(notes / "inner") == "..foo.txt"
    assert (notes / "hard").stat().st_ino == (notes / "..foo.txt").stat().st_ino


def _flip_byte_in(path: Path, marker: bytes) -> None:
    data = bytearray(path.read_bytes())
    offset = data.index(marker)
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_flipped_byte_fails_verify_and_restores_nothing(workspace, tmp_path, cli):
    (workspace.infra_dir / "dev" / "notes.txt").write_text("UNIQUE-CONTENT-4711\n")
    made = create_backup(workspace, BackupOptions(name="flip"))
    _flip_byte_in(Path(made.path), b"UNIQUE-CONTENT-4711")
    target = empty_place(tmp_path, workspace)
    target.marker.write_text("")

    result = cli(
        "restore", "--root", target.root, "--backup-file", made.path, "--verify"
    )

    assert result.code == 1
    assert "infra/dev/notes.txt: checksum does not match" in result.err
    assert sorted(p.name for p in target.root.iterdir()) == [
        ".provisioning-workspace.toml"
    ]


def test_damaged_member_without_verify_still_changes_nothing(workspace, tmp_path):
    (workspace.infra_dir / "dev" / "notes.txt").write_text("UNIQUE-CONTENT-4712\n")
    made = create_backup(workspace, BackupOptions(name="flip"))
    _flip_byte_in(Path(made.path), b"UNIQUE-CONTENT-4712")
    target = empty_place(tmp_path, workspace)

    with pytest.raises(restore.ArchiveError, match="checksum does not match"):
        restore_backup(target, backup_from_file(made.path), RestoreOptions())

    assert not (target.root / "config").exists()
    assert not list(target.root.glob(".workspace-restore-*"))


def test_newer_local_file_stops_restore_unless_merge_or_overwrite(workspace, cli):
    create_backup(workspace, BackupOptions(name="base"))
    config = workspace.user_config
    config.write_text("# changed after the backup\n")
    os.utime(config, (4_000_000_000, 4_000_000_000))
    args = ("restore", "--root", workspace.root, "--backup-name", "base")

    refused = cli(*args)
    merged = cli(*args, "--merge")
    kept = config.read_text()
    overwritten = cli(*args, "--overwrite")

    assert refused.code == 2
    assert "--merge" in refused.err and "config/dev.toml" in refused.err
    assert merged.code == 0
    assert "kept your newer config/dev.toml" in merged.out
    assert kept == "# changed after the backup\n"
    assert overwritten.code == 0
    assert config.read_text().startswith("# Configuration of dev")


def test_dry_run_prints_the_plan_and_changes_nothing(workspace, cli):
    create_backup(workspace, BackupOptions(name="base"))
    (workspace.infra_dir / "dev" / "dev-dev" / "settings.toml").unlink()
    before = snapshot(workspace.root, SKIP)

    result = cli("restore", "--root", workspace.root, "--latest", "--dry-run")

    assert result.code == 0
    assert "create    infra/dev/dev-dev/settings.toml" in result.out
    assert "unchanged config/dev.toml" in result.out
    assert snapshot(workspace.root, SKIP) == before


def test_restore_to_another_user_rewrites_paths_and_names(workspace, cli):
    create_backup(workspace, BackupOptions(name="base"))

    result = cli(
        "restore",
        "--root",
        workspace.root,
        "--backup-name",
        "base",
        "--restore-to",
        "alice",
        "--components",
        "config,runtime,infra",
    )

    assert result.code == 0, result.err
    alice_config = (workspace.config_dir / "alice.toml").read_text()
    assert 'user = "alice"' in alice_config
    assert (workspace.root / "runtime/workspaces/alice/settings.toml").is_file()
    assert (workspace.root / "infra/alice/dev-dev/settings.toml").is_file()
    assert 'user = "dev"' in workspace.user_config.read_text()


def test_components_limit_what_is_restored(workspace, tmp_path):
    made = create_backup(workspace, BackupOptions(name="base"))
    target = empty_place(tmp_path, workspace)

    result = restore_backup(
        target, backup_from_file(made.path), RestoreOptions(components=("config",))
    )

    assert {s.path.split("/")[0] for s in result.plan.steps} == {"config"}
    assert sorted(
        p.name for p in target.root.iterdir() if not p.name.startswith(".")
    ) == ["config", "runtime"]


def test_interrupted_swap_is_undone_by_the_next_restore(workspace, tmp_path):
    made = create_backup(workspace, BackupOptions(name="base"))
    target = empty_place(tmp_path, workspace)
    (target.root / "config").mkdir()
    (target.root / "config" / "dev.toml").write_text("mine\n")
    staging = target.root / ".workspace-restore-killed"
    (staging / "old").mkdir(parents=True)
    os.rename(target.root / "config" / "dev.toml", staging / "old" / "0")
    (target.root / "config" / "dev.toml").write_text("half-restored\n")
    (staging / "journal").write_text(
        f'{{"action": "save", "path": "{target.root}/config/dev.toml", '
        f'"saved": "{staging}/old/0"}}\n'
        f'{{"action": "place", "path": "{target.root}/config/dev.toml", "saved": ""}}\n'
    )

    recovered = restore.recover_interrupted(target)

    assert recovered == [".workspace-restore-killed"]
    assert (target.root / "config" / "dev.toml").read_text() == "mine\n"
    assert not staging.exists()
    assert made.name == "base"


def test_restore_needs_a_source(workspace, cli):
    result = cli("restore", "--root", workspace.root)

    assert result.code == 2
    assert "--backup-name" in result.err
