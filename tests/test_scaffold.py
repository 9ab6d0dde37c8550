"""Creating extensions: from the kind's template, a given template, or in place."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from workspace_tasks.manifest import package_of
from workspace_tasks.templating import template_path

DATA = Path(__file__).parent / "data"
KINDS = ["providers", "taskservs", "clusters"]
CASE_MANIFEST = """\
[extension]
kind = "providers"
name = "{{ name }}"

[jinja]
filters = ["comment", "mandatory"]
tests = ["version"]

[defaults]
hostname = "h-01"
ansible_managed = "managed by the workspace"
version = "2.1"
zone = "zone-1"
provider = "case"
network_name = "case-private"
network_cidr = "10.10.0.0/24"
"""


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("kind", KINDS, ids=KINDS)
def test_created_extension_is_valid(cli, workspace, kind):
    created = cli(
        "tools", "create-extension", f"{kind}/my-ext", "--root", workspace.root
    )
    checked = cli(
        "tools", "validate-extension", f"{kind}/my-ext", "--root", workspace.root
    )

    assert created.code == 0, created.err
    folder = workspace.user_extensions_dir(kind) / "my-ext"
    manifest = tomllib.loads((folder / "extension.toml").read_text())
    assert manifest["extension"] == {**manifest["extension"], "name": "my-ext"}
    assert manifest["extension"]["author"] == "dev"
    assert (folder / "my_ext" / "__init__.py").is_file()
    assert not list(folder.rglob("*.jinja"))
    assert checked.code == 0, checked.out
    assert checked.out == ""


def test_provider_has_the_spec_layout(cli, workspace):
    cli("tools", "create-extension", "providers/my-aws", "--root", workspace.root)

    folder = workspace.user_extensions_dir("providers") / "my-aws"
    assert sorted(_tree(folder)) == [
        "README.md",
        "extension.toml",
        "kcl/kcl.mod",
        "kcl/provider.k",
        "kcl/server.k",
        "kcl/version.k",
        "my_aws/__init__.py",
        "my_aws/auth.py",
        "my_aws/provider.py",
        "my_aws/servers.py",
        "templates/network.j2",
        "templates/server.j2",
        "tests/integration/test_render.py",
        "tests/unit/test_servers.py",
    ]
    assert "MY_AWS_API_TOKEN" in (folder / "my_aws" / "auth.py").read_text()


def test_flags_reach_the_manifest(cli, workspace):
    result = cli(
        "tools",
        "create-extension",
        "taskservs/pg",
        "--service-type",
        "database",
        "--author",
        'Ann "A" Lee',
        "--shared",
        "--root",
        workspace.root,
    )

    assert result.code == 0, result.err
    manifest = workspace.extension_kind_dir("taskservs") / "pg" / "extension.toml"
    data = tomllib.loads(manifest.read_text())
    assert data["extension"]["service_type"] == "database"
    assert data["extension"]["author"] == 'Ann "A" Lee'
    assert data["defaults"]["service_type"] == "database"


def test_cluster_type_reaches_the_manifest(cli, workspace):
    cli(
        "tools",
        "create-extension",
        "clusters/web",
        "--cluster-type",
        "web-stack",
        "--root",
        workspace.root,
    )

    manifest = workspace.user_extensions_dir("clusters") / "web" / "extension.toml"
    assert tomllib.loads(manifest.read_text())["extension"]["cluster_type"] == (
        "web-stack"
    )


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["providers/x", "--service-type", "db"], "--service-type"),
        (["taskservs/x", "--cluster-type", "web"], "--cluster-type"),
        (["widgets/x"], "KIND/NAME"),
    ],
    ids=["service-type-on-provider", "cluster-type-on-taskserv", "unknown-kind"],
)
def test_misplaced_flag_is_refused(cli, workspace, argv, flag):
    result = cli("tools", "create-extension", *argv, "--root", workspace.root)

    assert result.code == 2
    assert flag in result.err
    assert not (workspace.user_extensions_dir("providers") / "x").exists()
    assert not (workspace.user_extensions_dir("taskservs") / "x").exists()


BAD_NAMES = ["../elsewhere", "..", "a/b", "\\", " ", "", "a" * 65]


@pytest.mark.parametrize("name", BAD_NAMES, ids=lambda n: repr(n)[:12])
def test_bad_name_is_refused_and_nothing_created(cli, workspace, name):
    before = _tree(workspace.extensions_dir)

    result = cli(
        "tools", "create-extension", f"providers/{name}", "--root", workspace.root
    )

    assert result.code == 2
    assert result.err.count("\n") == 1
    assert "KIND/NAME" in result.err
    assert _tree(workspace.extensions_dir) == before
    assert not (workspace.root.parent / "elsewhere").exists()


@pytest.mark.parametrize("name", ["dev", "dev-2", "ci_runner", "a.b"])
def test_good_name_is_accepted(cli, workspace, name):
    result = cli(
        "tools", "create-extension", f"clusters/{name}", "--root", workspace.root
    )

    assert result.code == 0, result.err
    assert (workspace.user_extensions_dir("clusters") / name / "README.md").is_file()


def test_existing_extension_is_not_overwritten(cli, workspace):
    cli("tools", "create-extension", "providers/p", "--root", workspace.root)
    readme = workspace.user_extensions_dir("providers") / "p" / "README.md"
    readme.write_text("mine\n")

    result = cli("tools", "create-extension", "providers/p", "--root", workspace.root)

    assert result.code == 2
    assert "already exists" in result.err
    assert readme.read_text() == "mine\n"


def test_dry_run_lists_files_and_writes_nothing(cli, workspace):
    result = cli(
        "tools",
        "create-extension",
        "providers/p",
        "--dry-run",
        "--format",
        "json",
        "--root",
        workspace.root,
    )

    assert result.code == 0
    assert '"p/provider.py"' in result.out
    assert not (workspace.user_extensions_dir("providers") / "p").exists()


def test_copy_then_init_renders_in_place(cli, workspace):
    template = workspace.extension_kind_dir("providers") / "template"
    copy = workspace.extension_kind_dir("providers") / "my-x"
    shutil.copytree(template, copy)

    result = cli(
        "tools",
        "init-extension",
        "providers/my-x",
        "--provider-name",
        "my-x",
        "--author",
        "A",
        cwd=copy,
    )
    checked = cli("tools", "validate-extension", "providers/my-x", cwd=copy)

    assert result.code == 0, result.err
    assert not list(copy.rglob("*.jinja"))
    assert not any("{{" in p.name for p in copy.rglob("*"))
    assert (copy / "my_x" / "provider.py").is_file()
    manifest = tomllib.loads((copy / "extension.toml").read_text())
    assert manifest["extension"]["author"] == "A"
    assert checked.code == 0, checked.out
    assert (template / "extension.toml.jinja").is_file()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--provider-name", "other"], "differs from the name"),
        (["--service-name", "my-x"], "goes with taskservs"),
    ],
    ids=["other-name", "wrong-kind-flag"],
)
def test_init_flags_must_agree(cli, workspace, argv, message):
    copy = workspace.extension_kind_dir("providers") / "my-x"
    shutil.copytree(workspace.extension_kind_dir("providers") / "template", copy)
    before = _tree(copy)

    result = cli("tools", "init-extension", "providers/my-x", *argv, cwd=copy)

    assert result.code == 2
    assert message in result.err
    assert _tree(copy) == before


def test_init_refuses_an_initialised_extension(cli, workspace):
    cli(
        "tools", "create-extension", "providers/p", "--shared", "--root", workspace.root
    )
    folder = workspace.extension_kind_dir("providers") / "p"

    result = cli("tools", "init-extension", "providers/p", cwd=folder)

    assert result.code == 2
    assert "not a copied template" in result.err


def _case_template(tmp_path: Path) -> Path:
    """Return the shipped provider template with the case files over it."""
    template = tmp_path / "provider-template"
    shutil.copytree(template_path("extensions", "providers"), template)
    shutil.copytree(DATA / "provider-template", template, dirs_exist_ok=True)
    (template / "extension.toml.jinja").write_text(CASE_MANIFEST)
    return template


def test_template_with_undeclared_variable_leaves_nothing(cli, workspace, tmp_path):
    template = _case_template(tmp_path)
    kind_dir = workspace.user_extensions_dir("providers")
    before = sorted(p.name for p in kind_dir.iterdir())

    result = cli(
        "tools",
        "create-extension",
        "providers/case",
        "--template",
        template,
        "--root",
        workspace.root,
    )

    assert result.code == 2
    assert "'ext_version'" in result.err
    assert str(template / "templates" / "undefined.j2") + ":1" in result.err
    assert sorted(p.name for p in kind_dir.iterdir()) == before


def test_ci_file_and_binary_are_copied_byte_for_byte(cli, workspace, tmp_path):
    template = _case_template(tmp_path)
    (template / "templates" / "undefined.j2").unlink()

    result = cli(
        "tools",
        "create-extension",
        "providers/case",
        "--template",
        template,
        "--root",
        workspace.root,
    )

    assert result.code == 0, result.err
    created = workspace.user_extensions_dir("providers") / "case"
    for relpath in (
        ".github/workflows/ci.yml",
        "assets/icon.bin",
        "templates/server.j2",
    ):
        assert (created / relpath).read_bytes() == (template / relpath).read_bytes()
    assert "${{ matrix.py }}" in (created / ".github/workflows/ci.yml").read_text()


@pytest.mark.parametrize("name", ["class", "import", "1abc"])
def test_names_that_are_not_python_modules_still_validate(make_workspace, cli, name):
    ws = make_workspace("dev")
    created = cli("tools", "create-extension", f"providers/{name}", "--root", ws.root)
    assert created.code == 0, created.err
    checked = cli("tools", "validate-extension", f"providers/{name}", "--root", ws.root)
    assert checked.code == 0, checked.out + checked.err
    assert (ws.user_extensions_dir("providers") / name / f"ext_{name}").is_dir()


SHADOWING = ["os", "sys", "json", "re", "typing", "abc", "io", "collections"]
SHADOWING += ["jinja2", "tomllib", "pytest", "tests", "kcl"]


@pytest.mark.parametrize("name", SHADOWING)
def test_names_python_already_has_get_a_package_of_their_own(make_workspace, cli, name):
    ws = make_workspace("dev")
    created = cli("tools", "create-extension", f"providers/{name}", "--root", ws.root)
    checked = cli("tools", "validate-extension", f"providers/{name}", "--root", ws.root)

    assert created.code == 0, created.err
    assert checked.code == 0, checked.out + checked.err
    folder = ws.user_extensions_dir("providers") / name
    assert (folder / f"ext_{name}" / "auth.py").is_file()
    manifest = tomllib.loads((folder / "extension.toml").read_text())
    assert manifest["extension"]["module"] == f"ext_{name}"


@pytest.mark.parametrize("name", ["os", "pytest"])
def test_extension_named_like_a_module_passes_its_own_tests(make_workspace, cli, name):
    ws = make_workspace("dev")
    cli("tools", "create-extension", f"providers/{name}", "--root", ws.root)

    tested = cli("tools", "test-extension", f"providers/{name}", "--root", ws.root)

    assert tested.code == 0, tested.out + tested.err
    assert "passed" in tested.out


def test_package_without_a_recorded_module_is_the_one_the_folder_holds(tmp_path):
    (tmp_path / "jinja2").mkdir()
    (tmp_path / "ext_json").mkdir()

    assert package_of(tmp_path, "jinja2", None) == "jinja2"
    assert package_of(tmp_path, "json", None) == "ext_json"
    assert package_of(tmp_path, "missing", None) == "missing"
    assert package_of(tmp_path / "none", "os", None) == "ext_os"


def test_recorded_module_that_is_no_package_name_is_a_problem(make_workspace, cli):
    ws = make_workspace("dev")
    cli("tools", "create-extension", "providers/os", "--root", ws.root)
    manifest = ws.user_extensions_dir("providers") / "os" / "extension.toml"
    manifest.write_text(
        manifest.read_text().replace('module = "ext_os"', 'module = "../../x"')
    )

    checked = cli("tools", "validate-extension", "providers/os", "--root", ws.root)

    assert checked.code == 1
    assert "[extension] module must be a Python package name" in checked.out


# A user's area is for users; a template must give a valid extension.


def test_creating_in_the_area_of_a_name_that_is_no_user_is_refused(cli, workspace):
    kind_dir = workspace.extension_kind_dir("providers")
    before = sorted(p.name for p in kind_dir.iterdir())

    result = cli(
        "tools", "create-extension", "providers/gp", "--workspace-user", "ghoost",
        "--root", workspace.root,
    )  # fmt: skip

    assert result.code == 2
    assert result.err.count("\n") == 1
    assert "--workspace-user: 'ghoost' is not a user of" in result.err
    assert "run 'workspace init --user-name ghoost'" in result.err
    assert sorted(p.name for p in kind_dir.iterdir()) == before
    assert cli("init", "--root", workspace.root, "--user-name", "ghoost").code == 0


def test_a_name_that_is_no_user_may_still_create_a_shared_extension(cli, workspace):
    result = cli(
        "tools", "create-extension", "providers/gp", "--shared",
        "--workspace-user", "ghoost", "--root", workspace.root,
    )  # fmt: skip

    assert result.code == 0, result.err
    assert (workspace.extension_kind_dir("providers") / "gp").is_dir()


def test_init_extension_in_the_area_of_no_user_is_refused(cli, workspace):
    template = workspace.extension_kind_dir("providers") / "template"
    copy = workspace.extension_kind_dir("providers") / "ghoost" / "x"
    shutil.copytree(template, copy)
    before = _tree(copy)

    result = cli(
        "tools", "init-extension", "providers/x", "--workspace-user", "ghoost",
        cwd=copy,
    )  # fmt: skip

    assert result.code == 2
    assert "'ghoost' is not a user of" in result.err
    assert _tree(copy) == before


def test_copy_then_init_replaces_the_minimal_placeholder(cli, tmp_path):
    root = tmp_path / "ws"
    cli("init", "--root", root)
    kind_dir = root / "extensions" / "providers"
    placeholder = (kind_dir / "template" / "README.md").read_bytes()
    cli("init", "--root", root, "--overwrite", "--template", "full")
    copy = kind_dir / "cp1"
    shutil.copytree(kind_dir / "template", copy)
    (copy / "README.md").write_bytes(placeholder)  # as copied before the switch

    result = cli("tools", "init-extension", "providers/cp1", "--path", copy, cwd=root)

    assert result.code == 0, result.err
    assert (copy / "README.md").read_text().startswith("# Provider cp1")
    assert not (copy / "README.md.jinja").exists()


def test_copy_then_init_keeps_a_readme_of_the_users_own(cli, workspace):
    kind_dir = workspace.extension_kind_dir("providers")
    copy = kind_dir / "cp2"
    shutil.copytree(kind_dir / "template", copy)
    (copy / "README.md").write_text("mine\n")
    before = _tree(copy)

    result = cli("tools", "init-extension", "providers/cp2", cwd=copy)

    assert result.code == 2
    assert "README.md.jinja and" in result.err
    assert "both render to README.md" in result.err
    assert _tree(copy) == before


def test_an_empty_template_is_refused_and_nothing_created(cli, workspace, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    kind_dir = workspace.user_extensions_dir("providers")
    before = sorted(p.name for p in kind_dir.iterdir())

    result = cli(
        "tools", "create-extension", "providers/e1", "--template", empty,
        "--root", workspace.root,
    )  # fmt: skip

    assert result.code == 2
    assert result.err.count("\n") == 1
    assert "it lacks what a provider requires: extension.toml, README.md" in result.err
    assert sorted(p.name for p in kind_dir.iterdir()) == before


def test_a_template_giving_an_invalid_extension_leaves_nothing(
    cli, workspace, tmp_path
):
    template = tmp_path / "tpl"
    shutil.copytree(template_path("extensions", "providers"), template)
    (template / "{{ module }}" / "servers.py").write_text("def broken(:\n")
    kind_dir = workspace.user_extensions_dir("providers")
    before = sorted(p.name for p in kind_dir.iterdir())

    result = cli(
        "tools", "create-extension", "providers/bad", "--template", template,
        "--root", workspace.root,
    )  # fmt: skip

    assert result.code == 2
    assert result.err.count("\n") == 1
    assert "the result would not be a valid extension: bad/servers.py:1" in result.err
    assert sorted(p.name for p in kind_dir.iterdir()) == before
    listed = cli("health", "check-extensions", "--root", workspace.root)
    assert listed.code == 0, listed.out


def test_a_template_holding_the_workspace_is_refused(cli, workspace):
    before = sorted(
        p.name for p in workspace.user_extensions_dir("taskservs").iterdir()
    )

    result = cli(
        "tools", "create-extension", "taskservs/t", "--template",
        workspace.root.parent, "--root", workspace.root,
    )  # fmt: skip

    assert result.code == 2
    assert "--template: " in result.err
    assert "holds the workspace" in result.err
    after = sorted(p.name for p in workspace.user_extensions_dir("taskservs").iterdir())
    assert after == before
