"""Backups copied to S3 (a server on loopback) and to file:// folders."""

from __future__ import annotations

import socket
import stat
from collections.abc import Callable
from pathlib import Path

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

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


def test_a_link_in_a_file_remote_is_never_replaced(workspace, cli, tmp_path):
    folder = tmp_path / "remote"
    folder.mkdir()
    (folder / "copy.tar").symlink_to(tmp_path / "elsewhere.tar")
    url = f"file://{folder}"

    made = cli("backup", "--root", workspace.root, "--name", "copy", "--remote", url)

    assert made.code == 2
    assert made.err.startswith(f"workspace: error: --remote: {folder / 'copy.tar'}")
    assert (folder / "copy.tar").is_symlink()
    assert list_backups(workspace) == []


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


class DamagingFileSystem(MemoryFileSystem):
    """A bucket in memory that damages every file written to it."""

    store: dict = {}
    pseudo_dirs = [""]
    damage: Callable[[bytes], bytes] = staticmethod(lambda data: data)

    def __init__(self, *args, **storage_options) -> None:
        super().__init__()  # the S3 options of the workspace do not apply

    def put_file(self, lpath, rpath, *args, **kwargs) -> None:
        self.pipe_file(rpath, self.damage(Path(lpath).read_bytes()))


def _drop_last_byte(data: bytes) -> bytes:
    return data[:-1]


def _flip_middle_byte(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :]


@pytest.fixture
def damaging_s3(monkeypatch):
    """Make s3:// URLs reach a DamagingFileSystem for one test."""
    original = fsspec.get_filesystem_class("s3")
    monkeypatch.setattr(DamagingFileSystem, "store", {})
    monkeypatch.setattr(DamagingFileSystem, "pseudo_dirs", [""])
    fsspec.register_implementation("s3", DamagingFileSystem, clobber=True)
    yield DamagingFileSystem
    fsspec.register_implementation("s3", original, clobber=True)


@pytest.mark.parametrize(
    ("damage", "lost"),
    [
        pytest.param(_drop_last_byte, 1, id="size"),
        pytest.param(_flip_middle_byte, 0, id="checksum"),
    ],
)
def test_upload_that_does_not_verify_fails_and_leaves_no_remote_backup(
    workspace, cli, damaging_s3, monkeypatch, damage, lost
):
    monkeypatch.setattr(damaging_s3, "damage", staticmethod(damage))
    url = "s3://backups/team"

    result = cli("backup", "--root", workspace.root, "--name", "b", "--remote", url)

    local = workspace.backups_dir / "b.tar"
    size = local.stat().st_size
    assert result.code == 1
    assert result.err.count("\n") == 1
    assert f"upload of b.tar to {url} did not verify" in result.err
    assert f"({size - lost} bytes, expected {size}; checksum differs)" in result.err
    assert f"the local backup {local} is kept" in result.err
    assert list_backups(workspace, url) == []
    assert not [p for p in damaging_s3.store if "b.tar" in p]
    assert [b.name for b in list_backups(workspace)] == ["b"]


def test_upload_keeps_the_earlier_remote_copy_when_a_new_one_fails(
    workspace, cli, damaging_s3, monkeypatch
):
    url = "s3://backups/team"
    first = cli("backup", "--root", workspace.root, "--name", "b", "--remote", url)
    sent = (workspace.backups_dir / "b.tar").read_bytes()
    (workspace.infra_dir / "dev" / "new.txt").write_text("after the first\n")
    monkeypatch.setattr(damaging_s3, "damage", staticmethod(_flip_middle_byte))

    again = cli(
        "backup", "--root", workspace.root, "--name", "b", "--force", "--remote", url
    )

    assert first.code == 0, first.err
    assert again.code == 1
    remote = list_backups(workspace, url)
    assert [b.name for b in remote] == ["b"]
    assert damaging_s3().cat_file(remote[0].location) == sent


def test_upload_to_a_folder_that_cannot_be_made_exits_2_naming_the_flag(workspace, cli):
    url = "file:///proc/nope"

    result = cli("backup", "--root", workspace.root, "--name", "b", "--remote", url)

    assert result.code == 2
    assert result.err.count("\n") == 1
    assert f"--remote: upload of b.tar to {url} failed" in result.err
    assert [b.name for b in list_backups(workspace)] == ["b"]


class UnreachableFileSystem(MemoryFileSystem):
    """A bucket whose endpoint never answers, as botocore says it."""

    def __init__(self, *args, **storage_options) -> None:
        super().__init__()

    def _refuse(self, *args, **kwargs):
        from botocore.exceptions import EndpointConnectionError

        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:9/backups")

    exists = ls = put_file = open = _refuse


@pytest.fixture
def unreachable_s3():
    """Make s3:// URLs reach an UnreachableFileSystem for one test."""
    original = fsspec.get_filesystem_class("s3")
    fsspec.register_implementation("s3", UnreachableFileSystem, clobber=True)
    yield
    fsspec.register_implementation("s3", original, clobber=True)


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["backup", "--name", "b"], id="backup"),
        pytest.param(["restore", "--list-backups"], id="list"),
        pytest.param(["restore", "--latest"], id="latest"),
    ],
)
def test_unreachable_s3_exits_2_naming_the_flag(
    workspace, cli, unreachable_s3, command
):
    url = "s3://backups/team"

    result = cli(*command, "--root", workspace.root, "--remote", url)

    assert result.code == 2
    assert result.err.count("\n") == 1
    assert "--remote: " in result.err and url in result.err
    assert "Could not connect to the endpoint URL" in result.err
    assert "unexpected" not in result.err


def test_a_remote_copy_of_the_same_name_is_replaced_only_with_force(
    workspace, cli, tmp_path
):
    folder = tmp_path / "remote"
    folder.mkdir()
    (folder / "same.tar").write_text("an earlier copy\n")
    url = f"file://{folder}"
    args = ("backup", "--root", workspace.root, "--name", "same", "--remote", url)

    refused = cli(*args)
    kept = (folder / "same.tar").read_text()
    made_locally = (workspace.backups_dir / "same.tar").exists()
    forced = cli(*args, "--force")

    assert refused.code == 2
    assert refused.err.count("\n") == 1
    assert f"--remote: {url}/same.tar already exists" in refused.err
    assert "--force" in refused.err
    assert kept == "an earlier copy\n"
    assert not made_locally
    assert forced.code == 0, forced.err
    assert (folder / "same.tar").read_bytes() == (
        workspace.backups_dir / "same.tar"
    ).read_bytes()


def test_file_url_is_decoded_and_every_folder_it_makes_is_private(
    workspace, cli, tmp_path
):
    base = tmp_path / "mounted"
    base.mkdir()
    base.chmod(0o755)
    url = f"file://{base}/x/sub%20dir/deep"

    made = cli("backup", "--root", workspace.root, "--name", "b", "--remote", url)
    listed = list_backups(workspace, url)

    assert made.code == 0, made.err
    copy = base / "x" / "sub dir" / "deep" / "b.tar"
    assert copy.read_bytes() == (workspace.backups_dir / "b.tar").read_bytes()
    for folder in (copy.parent, copy.parent.parent, base / "x"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert stat.S_IMODE(base.stat().st_mode) == 0o755
    assert [(b.name, b.location) for b in listed] == [("b", f"{url}/b.tar")]
