"""Encrypted backups interoperate with the real ``age`` command."""

from __future__ import annotations

import dataclasses
import io
import os
import pty
import select
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
from backup_helpers import empty_place
from external_tools import needs

from workspace_tasks import crypto
from workspace_tasks.backup import BackupOptions, backup_from_file, create_backup
from workspace_tasks.restore import RestoreOptions, restore_backup


@pytest.fixture
def age_key(tmp_path) -> tuple[Path, str]:
    """An identity file as age-keygen writes it, and its public key."""
    from pyrage import x25519

    secret = x25519.Identity.generate()
    public = str(secret.to_public())
    identity = tmp_path / "keys" / "identity.txt"
    identity.parent.mkdir()
    identity.write_text(f"# public key: {public}\n{secret}\n")
    identity.chmod(0o600)
    return identity, public


def _configure(ws, public: str | None, identity: Path | None) -> None:
    lines = ["", "[backup]"]
    if public:
        lines.append(f'recipients = ["{public}"]')
    if identity:
        lines.append(f'identity_file = "{identity}"')
    with ws.user_config.open("a") as handle:
        handle.write("\n".join(lines) + "\n")


@needs("age", "tar", "zstd")
def test_age_command_decrypts_our_backup(workspace, age_key, cli):
    identity, public = age_key
    _configure(workspace, public, None)

    result = cli(
        "backup",
        "--root",
        workspace.root,
        "--name",
        "secret",
        "--compress",
        "--encrypt",
    )

    assert result.code == 0, result.err
    files = sorted(p.name for p in workspace.backups_dir.iterdir())
    assert files == ["secret.tar.zst.age"]
    path = workspace.backups_dir / files[0]
    assert path.read_bytes().startswith(b"age-encryption.org/v1")
    plain = subprocess.run(
        ["age", "-d", "-i", identity, path], check=True, capture_output=True
    ).stdout
    untarred = subprocess.run(
        ["tar", "--zstd", "-tf", "-"], input=plain, check=True, capture_output=True
    ).stdout.decode()
    assert untarred.splitlines()[0] == "backup-manifest.json"
    assert "config/dev.toml" in untarred


@needs("age")
def test_plain_tar_encrypted_by_age_restores(workspace, age_key, tmp_path):
    identity, public = age_key
    made = create_backup(workspace, BackupOptions(name="plain"))
    encrypted = tmp_path / "by-age.tar.age"
    subprocess.run(["age", "-r", public, "-o", encrypted, made.path], check=True)
    target = empty_place(tmp_path, workspace)
    _configure(workspace, None, identity)
    target.config_dir.mkdir()
    shutil.copy(workspace.user_config, target.user_config)

    result = restore_backup(
        target, backup_from_file(encrypted), RestoreOptions(overwrite=True, verify=True)
    )

    assert result.written > 0
    assert (target.root / "infra/dev/dev-dev/settings.toml").read_bytes() == (
        workspace.root / "infra/dev/dev-dev/settings.toml"
    ).read_bytes()


def _age_on_a_terminal(argv: list, passphrase: str, prompts: int = 1) -> int:
    """Run the ``age`` command, typing ``passphrase`` at each prompt."""
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child becomes age
        os.execvp(argv[0], [str(a) for a in argv])
    seen, typed = b"", 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
        if typed < prompts and seen.rstrip().endswith(b":"):
            os.write(fd, passphrase.encode() + b"\n")
            typed += 1
            seen = b""
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_age_command_decrypts_our_passphrase_backup(workspace, cli, monkeypatch):
    monkeypatch.setenv("PROVISIONING_BACKUP_PASSPHRASE", "correct horse")
    made = cli("backup", "--root", workspace.root, "--name", "pw", "--encrypt")
    path = workspace.backups_dir / "pw.tar.age"
    plain = workspace.root.parent / "plain.tar"

    code = _age_on_a_terminal(["age", "-d", "-o", plain, path], "correct horse")

    assert made.code == 0, made.err
    assert code == 0
    with tarfile.open(plain) as tar:
        assert tar.getnames()[0] == "backup-manifest.json"


def test_plain_tar_sealed_by_age_with_a_passphrase_restores(workspace, tmp_path):
    made = create_backup(workspace, BackupOptions(name="plain"))
    sealed = tmp_path / "by-age.tar.age"
    code = _age_on_a_terminal(
        ["age", "-p", "-o", sealed, made.path], "pw by age", prompts=2
    )
    target = dataclasses.replace(
        empty_place(tmp_path, workspace),
        environ={"PROVISIONING_BACKUP_PASSPHRASE": "pw by age"},
    )

    result = restore_backup(target, backup_from_file(sealed), RestoreOptions())

    assert code == 0
    assert result.written > 0
    assert (target.root / f"config/{workspace.user}.toml").read_bytes() == (
        workspace.root / f"config/{workspace.user}.toml"
    ).read_bytes()


def test_passphrase_backup_round_trips_and_wrong_one_is_refused(
    workspace, cli, monkeypatch
):
    monkeypatch.setenv("PROVISIONING_BACKUP_PASSPHRASE", "correct horse")
    made = cli("backup", "--root", workspace.root, "--name", "pw", "--encrypt")
    verified = cli(
        "restore",
        "--root",
        workspace.root,
        "--backup-name",
        "pw",
        "--verify",
        "--dry-run",
    )
    monkeypatch.setenv("PROVISIONING_BACKUP_PASSPHRASE", "wrong")
    refused = cli(
        "restore", "--root", workspace.root, "--backup-name", "pw", "--dry-run"
    )

    assert made.code == 0, made.err
    assert verified.code == 0, verified.err
    assert refused.code == 2
    assert refused.err.count("\n") == 1
    assert f"{workspace.backups_dir / 'pw.tar.age'}: cannot decrypt" in refused.err


def test_machine_with_only_recipients_cannot_read_its_backup(workspace, age_key, cli):
    _configure(workspace, age_key[1], None)
    cli("backup", "--root", workspace.root, "--name", "sealed", "--encrypt")

    result = cli(
        "restore", "--root", workspace.root, "--backup-name", "sealed", "--dry-run"
    )

    assert result.code == 2
    assert result.err.count("\n") == 1
    assert str(workspace.backups_dir / "sealed.tar.age") in result.err
    assert "identity_file" in result.err


def test_encrypt_without_any_key_names_what_to_configure(workspace, cli):
    result = cli("backup", "--root", workspace.root, "--encrypt")

    assert result.code == 2
    assert "[backup] recipients" in result.err
    assert "PROVISIONING_BACKUP_PASSPHRASE" in result.err


def test_manifest_of_encrypted_backup_reads_with_identity(workspace, age_key, cli):
    identity, public = age_key
    _configure(workspace, public, identity)
    cli("backup", "--root", workspace.root, "--name", "sealed", "--encrypt")

    result = cli(
        "restore",
        "--root",
        workspace.root,
        "--show-contents",
        "--backup-name",
        "sealed",
    )

    assert result.code == 0, result.err
    assert "Backup sealed of dev" in result.out
    assert tarfile is not None and io is not None


def test_identity_file_under_home_is_the_contexts_home(workspace, tmp_path):
    home = tmp_path / "context-home"
    (home / "keys").mkdir(parents=True)
    (home / "keys" / "id.txt").write_text("# made by hand\nAGE-SECRET-KEY-1X\n")
    _configure(workspace, None, Path("~/keys/id.txt"))
    ws = dataclasses.replace(workspace, environ={"HOME": str(home)})
    assert Path(os.environ["HOME"]) != home

    keys = crypto.decryption_keys(ws)

    assert keys.identities == ("AGE-SECRET-KEY-1X",)


def test_passphrase_backup_without_the_passphrase_exits_2_naming_it(
    workspace, cli, monkeypatch
):
    monkeypatch.setenv("PROVISIONING_BACKUP_PASSPHRASE", "correct horse")
    made = cli("backup", "--root", workspace.root, "--name", "pw", "--encrypt")
    monkeypatch.delenv("PROVISIONING_BACKUP_PASSPHRASE")

    result = cli("restore", "--root", workspace.root, "--backup-name", "pw")

    assert made.code == 0, made.err
    assert result.code == 2
    assert result.err.count("\n") == 1
    assert str(workspace.backups_dir / "pw.tar.age") in result.err
    assert "PROVISIONING_BACKUP_PASSPHRASE" in result.err


def test_corrupt_encrypted_backup_exits_2_naming_it(workspace, age_key, cli):
    _configure(workspace, age_key[1], age_key[0])
    made = cli("backup", "--root", workspace.root, "--name", "sealed", "--encrypt")
    path = workspace.backups_dir / "sealed.tar.age"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))

    result = cli(
        "restore", "--root", workspace.root, "--backup-name", "sealed", "--dry-run"
    )

    assert made.code == 0, made.err
    assert result.code == 2
    assert result.err.count("\n") == 1
    assert f"{path}: cannot decrypt the backup" in result.err
