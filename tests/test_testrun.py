"""Running an extension's tests, and the provider's dry run."""

from __future__ import annotations

import json
from pathlib import Path


def _snapshot(root: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime_ns for p in root.rglob("*")}


def test_created_provider_tests_pass(cli, workspace):
    cli("tools", "create-extension", "providers/p", "--root", workspace.root)

    result = cli(
        "tools",
        "test-extension",
        "providers/p",
        "--format",
        "json",
        "--root",
        workspace.root,
    )

    report = json.loads(result.out)
    assert result.code == 0, report["output"]
    assert report["counts"] == {"passed": 9}
    folder = workspace.user_extensions_dir("providers") / "p"
    assert not list(folder.rglob("__pycache__"))


def test_tests_run_in_a_workspace_whose_path_holds_a_variable(cli, tmp_path):
    root = tmp_path / "x $HOME" / "ws"
    assert cli("init", "--root", root).code == 0
    cli("tools", "create-extension", "providers/p", "--root", root)

    result = cli("tools", "test-extension", "providers/p", "--root", root)

    assert result.code == 0, result.out + result.err
    assert result.out == "providers/p: 9 passed\n"


def test_failing_test_fails_the_command(cli, workspace):
    cli("tools", "create-extension", "clusters/c", "--root", workspace.root)
    unit = workspace.user_extensions_dir("clusters") / "c" / "tests" / "unit"
    (unit / "test_broken.py").write_text("def test_fails():\n    assert 1 == 2\n")

    result = cli("tools", "test-extension", "clusters/c", "--root", workspace.root)

    assert result.code == 1
    assert "test_broken.py" in result.out
    assert "clusters/c: 1 failed, 3 passed" in result.out


def test_provider_dry_run_renders_and_touches_nothing(cli, workspace):
    before = _snapshot(workspace.root)

    result = cli(
        "tools",
        "test-extension",
        "providers/upcloud",
        "--dry-run",
        "--format",
        "json",
        "--root",
        workspace.root,
    )

    rendered = json.loads(result.out)["rendered"]
    assert result.code == 0
    assert sorted(rendered) == ["templates/network.j2", "templates/server.j2"]
    assert 'zone = "de-fra1"' in rendered["templates/server.j2"]
    assert 'name = "upcloud-private"' in rendered["templates/network.j2"]
    after = _snapshot(workspace.root)
    changed = {p for p in after if after[p] != before.get(p)}
    assert all("/runtime/logs/" in p for p in changed), changed


def test_extension_linked_out_of_the_workspace_is_not_run(cli, workspace, tmp_path):
    outside = tmp_path / "outside" / "evil"
    (outside / "tests").mkdir(parents=True)
    marker = tmp_path / "ran"
    (outside / "tests" / "test_x.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n\ndef test_x():\n    pass\n"
    )
    (workspace.user_extensions_dir("providers") / "evil").symlink_to(outside)

    result = cli("tools", "test-extension", "providers/evil", "--root", workspace.root)

    assert result.code == 2
    assert "outside the workspace" in result.err
    assert not marker.exists()
