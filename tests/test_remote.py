"""Backups copied to S3 (a server on loopback) and to file:// folders."""

from __future__ import annotations

import socket
import stat

import pytest

from workspace_tasks.backup import list_backups


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def s3_endpoint(monkeypatch):
    """An S3 server on 127.0.0.1 with a bucket 'backups'; return its URL."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    import s3fs

    fs = s3fs.S3FileSystem(
        key="testing", secret="testing", client_kwargs={"endpoint_url": endpoint}
    )
    fs.mkdir("backups")
    yield endpoint
    server.stop()


@pytest.mark.slow
def test_s3_upload_is_verified_listed_and_restored(workspace, cli, s3_endpoint):
    made = cli(
        "backup",
        "--root",
        workspace.root,
        "--name",
        "up",
        "--compress",
        "--remote",
        "s3://backups/team",
    )
    listed = cli(
        "restore",
        "--root",
        workspace.root,
        "--list-backups",
        "--remote",
        "s3://backups/team",
    )
    (workspace.infra_dir / "dev" / "dev-dev" / "settings.toml").unlink()
    restored = cli(
        "restore",
        "--root",
        workspace.root,
        "--latest",
        "--verify",
        "--remote",
        "s3://backups/team",
    )

    assert made.code == 0, made.err
    assert "uploaded and verified: s3://backups/team/up.tar.zst" in made.out
    assert "up" in listed.out.split()
    assert restored.code == 0, restored.err
    assert (workspace.infra_dir / "dev" / "dev-dev" / "settings.toml").is_file()


def test_file_url_remote_round_trip(workspace, cli, tmp_path):
    url = f"file://{tmp_path / 'remote'}"

    made = cli("backup", "--root", workspace.root, "--name", "copy", "--remote", url)
    remote = list_backups(workspace, url)

    assert made.code == 0, made.err
    assert [(b.name, b.remote) for b in remote] == [("copy", True)]
    assert (tmp_path / "remote" / "copy.tar").read_bytes() == (
        workspace.backups_dir / "copy.tar"
    ).read_bytes()
    assert stat.S_IMODE((tmp_path / "remote" / "copy.tar").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "remote").stat().st_mode) == 0o700


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("bucket/prefix", id="not-a-url"),
        pytest.param("file://relative/dir", id="relative-file"),
        pytest.param("http://example.com/x", id="http"),
    ],
)
def test_unusable_remote_fails_before_any_work_naming_the_flag(workspace, cli, url):
    result = cli("backup", "--root", workspace.root, "--remote", url)

    assert result.code == 2
    assert "--remote" in result.err
    assert list_backups(workspace) == []


def test_listing_a_missing_file_remote_is_an_error(workspace, cli, tmp_path):
    url = f"file://{tmp_path / 'nowhere'}"

    result = cli("restore", "--root", workspace.root, "--list-backups", "--remote", url)

    assert result.code == 2
    assert "--remote" in result.err
    assert "does not exist" in result.err
