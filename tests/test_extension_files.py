"""One rule for reading an extension's files: nothing leading out is read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from workspace_tasks.extension_files import OutsideExtension, read_bytes


def _provider(cli, workspace, name: str = "my-aws") -> Path:
    ref = f"providers/{name}"
    assert cli("tools", "create-extension", ref, "--root", workspace.root).code == 0
    return workspace.user_extensions_dir("providers") / name


def _outside(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / "outside" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def test_dry_run_refuses_a_template_linked_out_of_the_extension(
    cli, workspace, tmp_path
):
    folder = _provider(cli, workspace)
    outside = _outside(tmp_path, "net.j2", "leaked {{ 6 * 7 }}\n")
    network = folder / "templates" / "network.j2"
    network.unlink()
    network.symlink_to(outside)

    validated = cli("tools", "validate-extension", "providers/my-aws", "--root",
                    workspace.root)  # fmt: skip
    rendered = cli("tools", "test-extension", "providers/my-aws", "--dry-run",
                   "--root", workspace.root)  # fmt: skip

    assert validated.code == 1
    assert "templates/network.j2: symbolic link to" in validated.out
    assert rendered.code == 2
    assert rendered.err == (
        f"workspace: error: {network} leads to {outside}, outside the extension; "
        "it is not read\n"
    )
    assert "leaked" not in rendered.out and "42" not in rendered.out


def test_an_include_linked_out_of_the_extension_is_refused(cli, workspace, tmp_path):
    folder = _provider(cli, workspace)
    outside = _outside(tmp_path, "part.j2", "leaked\n")
    (folder / "templates" / "part.j2").symlink_to(outside)
    server = folder / "templates" / "server.j2"
    server.write_text(server.read_text() + '{% include "part.j2" %}\n')

    rendered = cli("tools", "test-extension", "providers/my-aws", "--dry-run",
                   "--root", workspace.root)  # fmt: skip

    assert rendered.code == 2
    assert "part.j2 leads to" in rendered.err
    assert "leaked" not in rendered.out


def test_a_link_inside_the_extension_is_read(cli, workspace):
    folder = _provider(cli, workspace)
    (folder / "templates" / "shared.j2").write_text("# shared part\n")
    (folder / "templates" / "part.j2").symlink_to("shared.j2")
    server = folder / "templates" / "server.j2"
    server.write_text(server.read_text() + '{% include "part.j2" %}\n')

    rendered = cli("tools", "test-extension", "providers/my-aws", "--dry-run",
                   "--root", workspace.root)  # fmt: skip

    assert rendered.code == 0, rendered.err
    assert "# shared part" in rendered.out


def test_a_plugins_file_outside_the_extension_is_never_run(cli, workspace, tmp_path):
    folder = _provider(cli, workspace)
    marker = tmp_path / "ran"
    plugins = _outside(tmp_path, "plugins.py", f"open({str(marker)!r}, 'w').close()\n")
    manifest = folder / "extension.toml"
    relative = os.path.relpath(plugins, folder)
    declared = f"plugins = {relative!r}\ntests = ["
    manifest.write_text(manifest.read_text().replace("tests = [", declared))

    validated = cli("tools", "validate-extension", "providers/my-aws", "--root",
                    workspace.root)  # fmt: skip
    rendered = cli("tools", "test-extension", "providers/my-aws", "--dry-run",
                   "--root", workspace.root)  # fmt: skip

    assert validated.code == 1
    assert "outside the extension; it is not read" in validated.out
    assert rendered.code == 2
    assert "outside the extension; it is not read" in rendered.err
    assert not marker.exists()


def test_deploy_test_never_reads_a_manifest_linked_out(cli, workspace, tmp_path):
    ref = "clusters/ci-runners"
    assert cli("tools", "create-extension", ref, "--root", workspace.root).code == 0
    folder = workspace.user_extensions_dir("clusters") / "ci-runners"
    outside = _outside(tmp_path, "secret.yaml", "apiVersion: v1\nkind: Secret\n")
    (folder / "manifests" / "extra.yaml").symlink_to(outside)

    result = cli("tools", "deploy-test", ref, "--infra", "minimal",
                 "--root", workspace.root)  # fmt: skip

    assert result.code == 1
    assert "manifests/extra.yaml: symbolic link to" in result.out
    assert not (workspace.state_dir / "deployments" / "ci-runners-minimal").exists()


def test_reading_checks_every_link_on_the_way(tmp_path):
    folder = tmp_path / "ext"
    (folder / "templates").mkdir(parents=True)
    _outside(tmp_path, "x.j2", "x")
    (folder / "templates" / "out").symlink_to(tmp_path / "outside")
    (folder / "templates" / "in.j2").write_text("in")

    assert read_bytes(folder, folder / "templates" / "in.j2") == b"in"
    with pytest.raises(OutsideExtension):
        read_bytes(folder, folder / "templates" / "out" / "x.j2")
