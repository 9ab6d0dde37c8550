"""Validating extensions: each kind of broken file is reported with file and line."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from workspace_tasks.validation import validate_extension

DATA = Path(__file__).parent / "data"


def _create(cli, ws, ref: str) -> Path:
    result = cli("tools", "create-extension", ref, "--root", ws.root)
    assert result.code == 0, result.err
    kind, name = ref.split("/")
    return ws.user_extensions_dir(kind) / name


def _validate(cli, ws, ref: str):
    return cli("tools", "validate-extension", ref, "--root", ws.root)


BREAKAGES = [
    (
        "providers/p",
        "templates/server.j2",
        "[server]\nname = {{ hostname }\n",
        2,
        "template syntax",
    ),
    (
        "providers/p",
        "templates/network.j2",
        "cidr = {{ network_cidr }}\nmtu = {{ mtu }}\n",
        2,
        "variable 'mtu' is not declared in [defaults] of "
        "extensions/providers/dev/p/extension.toml",
    ),
    (
        "providers/p",
        "kcl/server.k",
        'schema Server:\n    hostname: str\n    port: int = "abc"\n',
        3,
        "expected int, got str",
    ),
    (
        "taskservs/t",
        "manifests/service.yaml",
        "apiVersion: v1\nkind: Service\nspec: [unclosed\n",
        4,
        "YAML",
    ),
    (
        "taskservs/t",
        "t/install.py",
        '"""Install."""\n\ndef broken(:\n    pass\n',
        3,
        "Python",
    ),
    (
        "clusters/c",
        "extension.toml",
        '[extension]\nkind = "clusters"\nname = = "c"\n',
        3,
        "Invalid value",
    ),
    (
        "clusters/c",
        "kcl/cluster.k",
        "schema Cluster:\n    name: str =\n",
        2,
        "InvalidSyntax",
    ),
]


@pytest.mark.parametrize(
    "ref, relpath, content, line, message",
    BREAKAGES,
    ids=[
        "j2-syntax",
        "j2-undeclared",
        "kcl-type",
        "yaml",
        "python",
        "toml",
        "kcl-syntax",
    ],
)
def test_broken_file_is_reported_with_file_and_line(
    cli, workspace, ref, relpath, content, line, message
):
    folder = _create(cli, workspace, ref)
    (folder / relpath).write_text(content)

    result = _validate(cli, workspace, ref)

    assert result.code == 1
    shown = f"{folder.relative_to(workspace.root)}/{relpath}:{line}:"
    matching = [ln for ln in result.out.splitlines() if ln.startswith(shown)]
    assert matching, result.out
    assert any(message in ln for ln in matching), matching
    assert "Traceback" not in result.err


def test_kcl_error_has_a_column(cli, workspace):
    folder = _create(cli, workspace, "providers/p")
    (folder / "kcl" / "server.k").write_text('schema S:\n    port: int = "abc"\n')

    problems = validate_extension(workspace, "providers", "p")

    (problem,) = [p for p in problems if p.file.endswith("server.k")]
    assert (problem.line, problem.column) == (2, 5)


def test_manifest_without_kind_is_reported(cli, workspace):
    folder = _create(cli, workspace, "taskservs/t")
    (folder / "manifests" / "service.yaml").write_text("apiVersion: v1\nspec: {}\n")

    result = _validate(cli, workspace, "taskservs/t")

    assert result.code == 1
    assert "manifests/service.yaml: document 1 has no 'kind'" in result.out


@pytest.mark.parametrize(
    "text", ["", "# nothing yet\n", "---\n...\n"], ids=["empty", "comment", "dashes"]
)
def test_manifest_without_a_document_is_reported(cli, workspace, text):
    folder = _create(cli, workspace, "taskservs/t")
    (folder / "manifests" / "service.yaml").write_text(text)

    result = _validate(cli, workspace, "taskservs/t")

    assert result.code == 1
    assert (
        "manifests/service.yaml: no document: a manifest needs apiVersion and kind"
        in result.out
    )


def test_missing_required_file_is_reported(cli, workspace):
    folder = _create(cli, workspace, "providers/p")
    (folder / "p" / "auth.py").unlink()
    shutil.rmtree(folder / "tests" / "integration")

    result = _validate(cli, workspace, "providers/p")

    assert result.code == 1
    assert "providers/dev/p/p/auth.py: required file is missing" in result.out
    assert "p/tests/integration: required folder is missing" in result.out


def test_case_template_filters_and_test_reported_by_name_and_line(cli, workspace):
    folder = _create(cli, workspace, "providers/p")
    server = (DATA / "provider-template" / "templates" / "server.j2").read_text()
    (folder / "templates" / "server.j2").write_text(server)
    manifest = folder / "extension.toml"
    text = manifest.read_text()
    text = text.replace('filters = ["comment", "mandatory"]', "filters = []")
    manifest.write_text(text.replace('tests = ["version"]', "tests = []"))

    problems = validate_extension(workspace, "providers", "p")

    found = {(p.line, p.message.split(":")[0]) for p in problems}
    assert (2, "unknown filter 'comment'") in found
    assert (3, "unknown test 'version'") in found
    assert (4, "unknown filter 'mandatory'") in found


def test_case_template_is_accepted_where_declared(cli, workspace):
    folder = _create(cli, workspace, "providers/p")
    server = (DATA / "provider-template" / "templates" / "server.j2").read_text()
    (folder / "templates" / "server.j2").write_text(server)
    manifest = folder / "extension.toml"
    manifest.write_text(
        manifest.read_text().replace(
            "[defaults]\n", '[defaults]\nansible_managed = "by us"\nversion = "2"\n'
        )
    )

    result = _validate(cli, workspace, "providers/p")

    assert result.code == 0, result.out


def test_declared_filter_defined_nowhere_is_reported(cli, workspace):
    folder = _create(cli, workspace, "providers/p")
    manifest = folder / "extension.toml"
    manifest.write_text(
        manifest.read_text().replace('"mandatory"', '"mandatory", "shout"')
    )

    problems = validate_extension(workspace, "providers", "p")

    assert any(
        "filter 'shout' is declared but defined neither" in p.message
        and p.file.endswith("extension.toml")
        for p in problems
    )


def test_plugins_file_provides_a_declared_filter(cli, workspace):
    folder = _create(cli, workspace, "providers/p")
    (folder / "p" / "plugins.py").write_text(
        "def shout(text):\n    return text.upper()\n"
    )
    manifest = folder / "extension.toml"
    text = manifest.read_text().replace('"mandatory"', '"mandatory", "shout"')
    manifest.write_text(
        text.replace("tests = [", 'plugins = "p/plugins.py"\ntests = [')
    )
    network = folder / "templates" / "network.j2"
    network.write_text(network.read_text() + '# {{ "loud" | shout }}\n')

    checked = _validate(cli, workspace, "providers/p")
    rendered = cli(
        "tools", "test-extension", "providers/p", "--dry-run", "--root", workspace.root
    )

    assert checked.code == 0, checked.out
    assert "# LOUD" in rendered.out


def test_cluster_with_unknown_taskserv_is_reported(cli, workspace):
    folder = _create(cli, workspace, "clusters/c")
    manifest = folder / "extension.toml"
    manifest.write_text(
        manifest.read_text().replace(
            'taskservs = ["containerd"]\n', 'taskservs = ["nosuch"]\n'
        )
    )

    result = _validate(cli, workspace, "clusters/c")

    assert result.code == 1
    assert "extension.toml:11:" in result.out
    assert "task service 'nosuch' is not found" in result.out


def test_extension_linked_out_of_the_workspace_is_not_read(cli, workspace, tmp_path):
    outside = tmp_path / "outside" / "evil"
    outside.mkdir(parents=True)
    (outside / "extension.toml").write_text("not = [toml\n")
    link = workspace.user_extensions_dir("providers") / "evil"
    link.symlink_to(outside)

    result = _validate(cli, workspace, "providers/evil")

    assert result.code == 1
    assert "outside the workspace" in result.out
    assert result.out.count("\n") == 1
    assert sorted(p.name for p in outside.iterdir()) == ["extension.toml"]


def test_json_report_lists_problems(cli, workspace):
    folder = _create(cli, workspace, "providers/p")
    (folder / "README.md").unlink()

    result = cli(
        "tools",
        "validate-extension",
        "providers/p",
        "--format",
        "json",
        "--root",
        workspace.root,
    )

    report = json.loads(result.out)
    assert result.code == 1
    assert report["valid"] is False
    assert report["problems"][0]["file"].endswith("providers/dev/p/README.md")


@pytest.mark.parametrize(
    "ref",
    [
        "providers/aws",
        "providers/upcloud",
        "taskservs/containerd",
        "taskservs/kubernetes",
        "clusters/development-cluster",
        "clusters/ci-runners",
    ],
)
def test_core_extension_is_valid(workspace, ref):
    kind, name = ref.split("/")

    assert validate_extension(workspace, kind, name) == []


def test_unknown_extension_is_a_usage_error(cli, workspace):
    result = _validate(cli, workspace, "providers/nosuch")

    assert result.code == 2
    assert "extension 'providers/nosuch' not found" in result.err


def test_a_fifo_among_the_templates_is_a_problem_not_a_hang(cli, workspace):
    folder = _create(cli, workspace, "providers/p")
    os.mkfifo(folder / "templates" / "x.j2")
    result = _validate(cli, workspace, "providers/p")
    assert result.code == 1
    assert (
        "extensions/providers/dev/p/templates/x.j2: is a fifo, not a regular file"
        in result.out
    )
    health = cli("health", "check-extensions", "--root", workspace.root)
    assert health.code == 1
    assert "templates/x.j2: is a fifo, not a regular file" in health.out


def test_a_fifo_at_the_manifest_stops_test_extension_in_one_line(cli, workspace):
    folder = _create(cli, workspace, "providers/p")
    (folder / "extension.toml").unlink()
    os.mkfifo(folder / "extension.toml")
    result = cli("tools", "test-extension", "providers/p", "--root", workspace.root)
    assert result.code == 2
    assert result.err.endswith("extension.toml: is a fifo, not a regular file\n")
    assert len(result.err.splitlines()) == 1


def test_a_manifest_cut_short_is_placed_at_its_end(cli, workspace):
    folder = _create(cli, workspace, "providers/p")
    manifest = folder / "extension.toml"
    text = manifest.read_text().rstrip("\n") + "\nbroken = ["
    manifest.write_text(text)
    result = _validate(cli, workspace, "providers/p")
    assert result.code == 1
    where = f"{text.count(chr(10)) + 1}:11"
    assert f"extensions/providers/dev/p/extension.toml:{where}: " in result.out
