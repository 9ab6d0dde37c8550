"""Resetting a user's areas: backed up first or explicitly forced."""

from __future__ import annotations

import os
import tarfile

import pytest
from backup_helpers import snapshot
from terminal import run_on_terminal

from workspace_tasks import safefs
from workspace_tasks.backup import (
    BackupOptions,
    create_backup,
    list_backups,
    verify_backup,
)


def test_reset_needs_backup_first_or_force_no_backup(workspace, cli):
    bare = cli("reset", "--root", workspace.root)
    unforced = cli("reset", "--root", workspace.root, "--no-backup")

    assert bare.code == 2 and "--backup-first" in bare.err
    assert unforced.code == 2 and "--force" in unforced.err
    assert workspace.user_config.is_file()


def test_reset_backs_up_first_and_leaves_other_users_alone(make_workspace, cli):
    ws = make_workspace("dev", "--template", "full")
    other = make_workspace("alice")
    mine = ws.infra_dir / "dev" / "mine.txt"
    mine.write_text("precious\n")
    (ws.data_dir / "database.db").write_text("rows\n")
    alice_file = other.infra_dir / "alice" / "hers.txt"
    alice_file.write_text("hers\n")

    result = cli("reset", "--root", ws.root, "--backup-first", "--force")

    assert result.code == 0, result.err
    assert not mine.exists()
    assert (ws.data_dir / "database.db").read_text() == ""
    assert alice_file.read_text() == "hers\n"
    assert ws.user_config.is_file()
    backups = list_backups(ws)
    assert len(backups) == 1 and verify_backup(ws, backups[0]).ok
    restored = cli("restore", "--root", ws.root, "--latest", "--overwrite")
    assert restored.code == 0, restored.err
    assert mine.read_text() == "precious\n"


def test_reset_keep_config_keeps_the_user_config(workspace, cli):
    workspace.user_config.write_text(workspace.user_config.read_text() + "# mine\n")

    result = cli(
        "reset", "--root", workspace.root, "--force", "--no-backup", "--keep-config"
    )

    assert result.code == 0, result.err
    assert workspace.user_config.read_text().endswith("# mine\n")
    assert list_backups(workspace) == []


def test_reset_dry_run_lists_and_removes_nothing(workspace, cli):
    result = cli("reset", "--root", workspace.root, "--backup-first", "--dry-run")

    assert result.code == 0
    assert "Would remove" in result.out and "config/dev.toml" in result.out
    assert workspace.user_config.is_file()
    assert list_backups(workspace) == []


def test_reset_then_restore_latest_known_good_needs_no_flags(workspace, cli):
    (workspace.infra_dir / "dev" / "mine.k").write_text("mine\n")
    workspace.user_config.write_text(workspace.user_config.read_text() + "# edit\n")
    os.utime(workspace.user_config, ns=(1_000_000_000_000_000_000,) * 2)
    root = ["--root", workspace.root]

    reset = cli("reset", *root, "--backup-first", "--force")
    restored = cli("restore", *root, "--latest-known-good")

    assert reset.code == 0, reset.err
    assert restored.code == 0, restored.err
    assert (workspace.infra_dir / "dev" / "mine.k").read_text() == "mine\n"
    assert workspace.user_config.read_text().endswith("# edit\n")


def test_edited_regenerated_file_still_stops_the_restore(workspace, cli):
    workspace.user_config.write_text(workspace.user_config.read_text() + "# old\n")
    os.utime(workspace.user_config, ns=(1_000_000_000_000_000_000,) * 2)
    root = ["--root", workspace.root]
    assert cli("reset", *root, "--backup-first", "--force").code == 0
    workspace.user_config.write_text(workspace.user_config.read_text() + "# new\n")

    restored = cli("restore", *root, "--latest")

    assert restored.code == 2
    assert "config/dev.toml" in restored.err
    assert workspace.user_config.read_text().endswith("# new\n")


def test_reset_through_a_link_out_of_the_workspace_removes_nothing(
    workspace, cli, tmp_path
):
    outside = tmp_path / "outside"
    os.rename(workspace.infra_dir, outside)
    (outside / "dev" / "kept.txt").write_text("kept\n")
    workspace.infra_dir.symlink_to(outside)

    result = cli("reset", "--root", workspace.root, "--force", "--no-backup")

    assert result.code == 2
    assert "outside" in result.err
    assert (outside / "dev" / "kept.txt").read_text() == "kept\n"
    assert workspace.user_config.is_file()


def test_reset_never_follows_a_runtime_area_linked_elsewhere(workspace, cli, tmp_path):
    outside = tmp_path / "data"
    (outside / "backups").mkdir(parents=True)
    (outside / "precious.db").write_text("rows\n")
    safefs.remove_path(workspace.data_dir, workspace.root)
    workspace.data_dir.symlink_to(outside)

    result = cli("reset", "--root", workspace.root, "--force", "--no-backup")

    assert result.code == 2
    assert "runtime init" in result.err
    assert (outside / "precious.db").read_text() == "rows\n"
    assert workspace.user_config.is_file()


@pytest.mark.parametrize(
    "flags", [["--backup-first"], ["--backup-first", "--keep-config"]]
)
def test_reset_off_a_terminal_refuses_without_force(workspace, cli, flags):
    before = snapshot(workspace.root, ("runtime/logs", "runtime/state"))

    result = cli("reset", "--root", workspace.root, *flags)

    assert result.code == 2
    assert result.err.count("\n") == 1
    assert "reset asks before removing" in result.err
    assert "--force" in result.err
    assert snapshot(workspace.root, ("runtime/logs", "runtime/state")) == before
    assert list_backups(workspace) == []


@pytest.mark.parametrize(("answer", "done"), [("n", False), ("y", True)])
def test_reset_on_a_terminal_shows_the_plan_and_asks(workspace, answer, done):
    mine = workspace.infra_dir / "dev" / "mine.k"
    mine.write_text("mine\n")

    result = run_on_terminal(
        ["reset", "--root", workspace.root, "--backup-first"],
        answers=[("create them again?", answer)],
    )

    assert result.code == 0, result.text
    assert "Would remove" in result.text and "infra/dev" in result.text
    assert mine.exists() is not done
    assert ("Nothing removed." in result.text) is not done
    assert len(list_backups(workspace)) == (1 if done else 0)


BROKEN = "[core\nname=1\n"


def _break(path) -> str:
    """Append a duplicate table to ``path``; return ``file:line:column`` of it."""
    lines = len(path.read_text().splitlines())
    with path.open("a") as handle:
        handle.write(BROKEN)
    return f"config/{path.name}:{lines + 1}:6"


def test_corrupted_workspace_procedure_works_with_a_broken_user_config(workspace, cli):
    mine = workspace.infra_dir / "dev" / "mine.txt"
    mine.write_text("keep me\n")
    good = cli("backup", "--root", workspace.root, "--name", "good")
    os.utime(workspace.backups_dir / "good.tar", (1_000_000_000, 1_000_000_000))
    where = _break(workspace.user_config)
    broken = workspace.user_config.read_bytes()
    root = ("--root", workspace.root)

    saved = cli("backup", *root, "--name", "corrupted-backup", "--force")
    reset = cli("reset", *root, "--backup-first", "--force")
    restored = cli("restore", *root, "--latest-known-good")

    assert good.code == 0, good.err
    for result in (saved, reset):
        assert result.code == 0, result.err
        assert result.err.count("\n") == 1
        assert result.err.startswith(f"workspace: warning: {where}: invalid TOML")
    with tarfile.open(workspace.backups_dir / "corrupted-backup.tar") as tar:
        member = tar.extractfile("config/dev.toml")
        assert member is not None and member.read() == broken
    assert restored.code == 0, restored.err
    assert "Restored good" in restored.out
    assert "corrupted-backup does not verify: " + where in restored.err
    assert workspace.user_config.read_bytes() != broken
    assert mine.read_text() == "keep me\n"


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["reset", "--force", "--no-backup"], id="reset-no-backup"),
        pytest.param(["reset", "--force", "--no-backup", "--keep-config"], id="keep"),
        pytest.param(["restore", "--list-backups"], id="list"),
        pytest.param(["restore", "--latest", "--overwrite"], id="restore"),
    ],
)
@pytest.mark.parametrize("layer", ["dev.toml", "dev-defaults.toml"])
def test_a_broken_layer_is_left_out_with_one_warning(workspace, cli, command, layer):
    create_backup(workspace, BackupOptions(name="base"))
    where = _break(workspace.config_dir / layer)

    result = cli(*command, "--root", workspace.root)

    assert result.code == 0, result.err
    assert result.err.count("\n") == 1
    assert result.err.startswith(f"workspace: warning: {where}: invalid TOML")


def test_settings_of_the_other_layers_still_apply(workspace, cli):
    with workspace.workspace_defaults.open("a") as handle:
        handle.write('\n[backup]\ncompress = "gzip"\n')
    _break(workspace.user_config)

    result = cli("backup", "--root", workspace.root, "--name", "b", "--compress")

    assert result.code == 0, result.err
    assert (workspace.backups_dir / "b.tar.gz").is_file()
