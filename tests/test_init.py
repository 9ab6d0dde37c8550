"""``workspace init``: the tree, every flag, second users and --overwrite."""

from __future__ import annotations

import errno
import json
import os
import stat
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.backup_helpers import snapshot
from tests.conftest import build_tree
from workspace_tasks import __version__, safefs
from workspace_tasks.context import MARKER
from workspace_tasks.init import InitOptions, init_workspace

RUNTIME_TREE = [
    "runtime/workspaces/{u}/current-infra",
    "runtime/workspaces/{u}/settings.toml",
    "runtime/workspaces/{u}/extensions",
    "runtime/cache/{u}/providers",
    "runtime/cache/{u}/images",
    "runtime/cache/{u}/downloads",
    "runtime/state/{u}/deployments",
    "runtime/state/{u}/workflows",
    "runtime/logs/{u}/orchestrator.log",
    "runtime/logs/{u}/extensions",
    "runtime/data/{u}/database.db",
    "runtime/data/{u}/backups",
]
SHARED_TREE = [
    MARKER,
    "config/dev-defaults.toml",
    "config/test-defaults.toml",
    "config/prod-defaults.toml",
    "config/local-overrides.toml.example",
    "extensions/providers/template",
    "extensions/taskservs/template",
    "extensions/clusters/template",
    "infra/examples/minimal",
    "infra/examples/development",
    "infra/examples/testing",
    "infra/local",
    "lib/path_resolver.py",
    "tools/tasks.py",
    "tools/dodo.py",
]


def _settings(root: Path, user: str) -> dict:
    path = root / "runtime" / "workspaces" / user / "settings.toml"
    return tomllib.loads(path.read_text())["workspace"]


def custom_init(cli, root, folder, *flags):
    """Run ``init --template custom`` with ``folder`` on the workspace at ``root``."""
    return cli(
        "init", "--root", root, *flags, "--template", "custom", "--template-dir", folder
    )


def test_init_creates_the_whole_tree_for_the_user(cli, tmp_path):
    root = tmp_path / "ws"
    result = cli("init", "--root", root, "--user-name", "developer")
    assert result.code == 0, result.err
    for relpath in SHARED_TREE:
        assert (root / relpath).exists(), relpath
    for relpath in RUNTIME_TREE:
        assert (root / relpath.format(u="developer")).exists(), relpath
    for kind in ("providers", "taskservs", "clusters"):
        assert (root / "extensions" / kind / "developer").is_dir()
    assert (root / "config" / "developer.toml").is_file()
    assert (root / "infra" / "developer" / "developer-dev" / "settings.toml").is_file()


def test_init_without_root_creates_workspace_in_current_folder(cli, tmp_path):
    result = cli("init", cwd=tmp_path)
    assert result.code == 0, result.err
    assert (tmp_path / "workspace" / MARKER).is_file()
    assert (tmp_path / "workspace" / "config" / "dev.toml").is_file()


def test_user_defaults_to_provisioning_variable_then_user(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("PROVISIONING_WORKSPACE_USER", "alice")
    assert cli("init", "--root", tmp_path / "a").code == 0
    assert (tmp_path / "a" / "config" / "alice.toml").is_file()
    monkeypatch.delenv("PROVISIONING_WORKSPACE_USER")
    monkeypatch.setenv("USER", "bob")
    assert cli("init", "--root", tmp_path / "b").code == 0
    assert (tmp_path / "b" / "config" / "bob.toml").is_file()


def test_infra_name_and_type_are_recorded(cli, tmp_path):
    root = tmp_path / "ws"
    result = cli(
        "init", "--root", root, "--infra-name", "my-dev-infra",
        "--workspace-type", "testing",
    )  # fmt: skip
    assert result.code == 0, result.err
    settings = _settings(root, "dev")
    assert settings["infra_name"] == "my-dev-infra"
    assert settings["type"] == "testing"
    current = root / "runtime" / "workspaces" / "dev" / "current-infra"
    assert current.read_text() == "my-dev-infra\n"
    user_config = tomllib.loads((root / "config" / "dev.toml").read_text())
    assert user_config["workspace"]["type"] == "testing"
    assert (root / "infra" / "dev" / "my-dev-infra" / "settings.toml").is_file()


def test_default_infra_name_follows_user_and_environment(cli, tmp_path):
    root = tmp_path / "ws"
    cli("init", "--root", root, "--workspace-type", "production")
    assert _settings(root, "dev")["infra_name"] == "dev-prod"


def test_bad_workspace_type_is_one_line_naming_the_flag(cli, tmp_path):
    result = cli("init", "--root", tmp_path / "ws", "--workspace-type", "staging")
    assert result.code == 2
    assert "--workspace-type" in result.err
    assert result.err.count("\n") == 1
    assert not (tmp_path / "ws").exists()


def test_minimal_template_has_no_examples_unless_asked(cli, tmp_path):
    root = tmp_path / "ws"
    cli("init", "--root", root, "--template", "minimal")
    assert not (root / "infra/examples/minimal/settings.toml").exists()
    readme = root / "extensions/providers/template/README.md"
    assert "create-extension providers/<name>" in readme.read_text()


def test_create_examples_writes_the_three_example_infrastructures(cli, tmp_path):
    root = tmp_path / "ws"
    cli("init", "--root", root, "--create-examples")
    for name in ("minimal", "development", "testing"):
        settings = tomllib.loads(
            (root / "infra" / "examples" / name / "settings.toml").read_text()
        )
        assert settings["infra"]["name"] == name


def test_full_template_copies_extension_templates_verbatim(cli, tmp_path):
    root = tmp_path / "ws"
    assert cli("init", "--root", root, "--template", "full").code == 0
    shipped = Path(__import__("workspace_tasks").__file__).parent / "templates"
    for kind in ("providers", "taskservs", "clusters"):
        source = shipped / "extensions" / kind
        for path in source.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                copy = (
                    root / "extensions" / kind / "template" / path.relative_to(source)
                )
                assert copy.read_bytes() == path.read_bytes()
    assert (root / "infra/examples/testing/settings.toml").is_file()


def test_custom_template_overlays_the_users_folder(cli, tmp_path):
    custom = tmp_path / "mine"
    (custom / "shared" / "infra" / "local" / "lab").mkdir(parents=True)
    (custom / "shared" / "infra" / "local" / "lab" / "notes.txt.jinja").write_text(
        "lab of {{ user }}\n"
    )
    (custom / "user" / "config").mkdir(parents=True)
    (custom / "user" / "config" / "{{ user }}.toml.jinja").write_text(
        '[core]\nname = "custom-{{ user }}"\n'
    )
    root = tmp_path / "ws"
    result = cli(
        "init", "--root", root, "--template", "custom", "--template-dir", custom
    )
    assert result.code == 0, result.err
    assert (root / "infra/local/lab/notes.txt").read_text() == "lab of dev\n"
    assert 'name = "custom-dev"' in (root / "config/dev.toml").read_text()


def test_custom_template_needs_a_folder(cli, tmp_path):
    result = cli("init", "--root", tmp_path / "ws", "--template", "custom")
    assert result.code == 2
    assert "--template-dir" in result.err
    assert not (tmp_path / "ws").exists()


def test_custom_template_with_undefined_variable_writes_nothing(cli, tmp_path):
    custom = tmp_path / "mine"
    custom.mkdir()
    (custom / "broken.txt.jinja").write_text("line one\n{{ nowhere }}\n")
    root = tmp_path / "ws"
    result = cli(
        "init", "--root", root, "--template", "custom", "--template-dir", custom
    )
    assert result.code == 2
    assert "broken.txt.jinja:2" in result.err
    assert "nowhere" in result.err
    assert not root.exists()


def test_runtime_folders_are_private_to_the_user(cli, tmp_path):
    root = tmp_path / "ws"
    cli("init", "--root", root)
    for area in ("workspaces", "cache", "state", "logs", "data"):
        mode = stat.S_IMODE((root / "runtime" / area / "dev").stat().st_mode)
        assert mode == 0o700, area


def test_second_user_gets_own_areas_and_touches_nothing_of_the_first(cli, tmp_path):
    root = tmp_path / "ws"
    cli("init", "--root", root, "--user-name", "developer", "--create-examples")
    first_config = root / "config" / "developer.toml"
    first_config.write_text(first_config.read_text() + "# mine\n")
    shared = root / "config" / "dev-defaults.toml"
    shared.write_text(shared.read_text() + "# team change\n")
    # The record of generated files gains the new user's entries; the rest
    # of the workspace stays byte for byte and time for time as it was.
    before = {
        p: (p.read_bytes(), p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file() and p.name != ".provisioning-generated.json"
    }

    result = cli("init", "--root", root, "--user-name", "tester")

    assert result.code == 0, result.err
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in before}
    assert after == before
    assert (root / "config" / "tester.toml").is_file()
    for area in ("workspaces", "cache", "state", "logs", "data"):
        assert (root / "runtime" / area / "tester").is_dir()
    assert _settings(root, "tester")["user"] == "tester"


def test_rerun_without_overwrite_refuses_clearly(cli, tmp_path):
    root = tmp_path / "ws"
    cli("init", "--root", root)
    config = root / "config" / "dev.toml"
    config.write_text("# my own\n")
    result = cli("init", "--root", root)
    assert result.code == 2
    assert "already has a workspace" in result.err
    assert "--overwrite" in result.err
    assert config.read_text() == "# my own\n"


def test_overwrite_regenerates_and_keeps_copies_of_changed_files(cli, tmp_path):
    root = tmp_path / "ws"
    cli("init", "--root", root)
    changed = root / "config" / "dev-defaults.toml"
    changed.write_text(changed.read_text() + "[mine]\nkeep = true\n")
    untouched = root / "config" / "test-defaults.toml"
    pristine = untouched.read_text()

    result = cli("init", "--root", root, "--overwrite", "--format", "json")

    assert result.code == 0, result.err
    report = json.loads(result.out)
    copy = Path(report["preserved"]["config/dev-defaults.toml"])
    assert "[mine]" in copy.read_text()
    assert copy.is_relative_to(root / "runtime" / "data" / "dev" / "backups")
    assert "[mine]" not in changed.read_text()
    assert untouched.read_text() == pristine
    assert "config/test-defaults.toml" in report["unchanged"]
    assert list(report["preserved"]) == ["config/dev-defaults.toml"]


def test_overwrite_never_writes_the_kept_copy_through_a_link(make_workspace, tmp_path):
    ws = make_workspace()
    changed = ws.config_dir / "dev-defaults.toml"
    changed.write_text(changed.read_text() + "[mine]\nkeep = true\n")
    outside = tmp_path / "outside.toml"
    outside.write_text("theirs\n")
    now = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    planted = ws.backups_dir / "overwritten-20250102_030405" / "config"
    planted.mkdir(parents=True)
    (planted / "dev-defaults.toml").symlink_to(outside)

    result = init_workspace(ws, InitOptions(overwrite=True), now=now)

    copy = Path(result.preserved["config/dev-defaults.toml"])
    assert outside.read_text() == "theirs\n"
    assert not copy.is_symlink() and "[mine]" in copy.read_text()


def test_overwrite_reports_where_the_copy_went_in_text(cli, tmp_path):
    root = tmp_path / "ws"
    cli("init", "--root", root)
    (root / "config" / "dev.toml").write_text("# hand written\n")
    result = cli("init", "--root", root, "--overwrite")
    assert result.code == 0
    assert "your changed config/dev.toml was kept as" in result.out


def test_overwrite_never_replaces_logs_or_database(cli, tmp_path):
    root = tmp_path / "ws"
    cli("init", "--root", root)
    log = root / "runtime/logs/dev/orchestrator.log"
    log.write_text("line 1\n")
    database = root / "runtime/data/dev/database.db"
    database.write_bytes(b"SQLite data")
    cli("init", "--root", root, "--overwrite")
    assert log.read_text() == "line 1\n"
    assert database.read_bytes() == b"SQLite data"


def test_init_inside_an_existing_project_finds_its_workspace(cli, tmp_path):
    project = tmp_path / "project"
    cli("init", cwd=project if project.mkdir() is None else project)
    result = cli("init", "--user-name", "tester", cwd=project / "workspace" / "tools")
    assert result.code == 0, result.err
    assert (project / "workspace" / "config" / "tester.toml").is_file()
    assert not (project / "workspace" / "tools" / "workspace").exists()


@pytest.mark.parametrize("flag", ["--format", "--workspace-type", "--template"])
def test_flag_values_are_checked(cli, tmp_path, flag):
    result = cli("init", "--root", tmp_path / "ws", flag, "bogus")
    assert result.code == 2
    assert flag in result.err


def test_overwrite_keeps_the_recorded_type_infra_and_template(cli, tmp_path):
    root = tmp_path / "ws"
    cli(
        "init", "--root", root, "--template", "full", "--workspace-type",
        "production", "--infra-name", "prod1",
    )  # fmt: skip
    result = cli("init", "--root", root, "--overwrite")
    assert result.code == 0, result.err
    settings = _settings(root, "dev")
    assert (settings["type"], settings["infra_name"]) == ("production", "prod1")
    assert settings["template"] == "full"
    assert not (root / "extensions/providers/template/README.md").exists()
    assert 'type = "production"' in (root / "config" / "dev.toml").read_text()


def test_overwrite_with_a_new_type_takes_that_types_default_infra(cli, tmp_path):
    root = tmp_path / "ws"
    cli("init", "--root", root)
    cli("init", "--root", root, "--overwrite", "--workspace-type", "testing")
    settings = _settings(root, "dev")
    assert (settings["type"], settings["infra_name"]) == ("testing", "dev-test")


def _contents(root: Path) -> dict[str, tuple]:
    """Return what lies under ``root``: each path, its type, mode and data."""
    return {
        rel: entry[:2] if entry[0] == "dir" else entry
        for rel, entry in snapshot(root, ("runtime/logs/dev/provisioning",)).items()
    }


def test_overwrites_in_the_same_second_keep_every_copy(make_workspace):
    ws = make_workspace()
    config = ws.user_config
    now = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    copies = []
    for text in ("# FIRST\n", "# SECOND\n"):
        config.write_text(config.read_text() + text)
        result = init_workspace(ws, InitOptions(overwrite=True), now=now)
        copies.append(Path(result.preserved["config/dev.toml"]))

    assert copies[0] != copies[1]
    assert copies[0].parent.parent.name == "overwritten-20250102_030405"
    assert copies[1].parent.parent.name == "overwritten-20250102_030405-2"
    assert "# FIRST" in copies[0].read_text()
    assert "# SECOND" in copies[1].read_text()


def test_file_where_a_user_folder_goes_stops_init_before_anything(cli, make_workspace):
    ws = make_workspace()
    (ws.runtime_root / "workspaces" / "newu").touch()
    before = _contents(ws.root)

    result = cli("init", "--root", ws.root, "--user-name", "newu")

    assert result.code == 2
    assert result.err.count("\n") == 1
    assert "runtime/workspaces/newu is a file where init makes a folder" in result.err
    assert _contents(ws.root) == before


def test_folder_in_place_of_the_marker_stops_init_before_anything(cli, tmp_path):
    root = tmp_path / "ws"
    (root / MARKER).mkdir(parents=True)

    result = cli("init", "--root", root)

    assert result.code == 2
    assert result.err.count("\n") == 1
    assert f"{MARKER} is a folder, where init keeps a file" in result.err
    assert ".tmp" not in result.err
    assert [p.name for p in root.iterdir()] == [MARKER]
    assert list((root / MARKER).iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in read-only folders")
def test_folder_init_cannot_write_in_stops_it_before_anything(cli, make_workspace):
    ws = make_workspace()
    os.chmod(ws.config_dir, 0o555)
    before = _contents(ws.root)
    try:
        result = cli("init", "--root", ws.root, "--user-name", "tester")
    finally:
        os.chmod(ws.config_dir, 0o755)

    assert result.code == 2
    assert result.err.count("\n") == 1
    assert "config: permission denied; init must create config/tester.toml" in (
        result.err
    )
    assert ".tmp" not in result.err
    assert _contents(ws.root) == before


def _failing_on(monkeypatch, name: str) -> None:
    """Make every atomic write of a file called ``name`` fail."""
    real = safefs.atomic_write

    def write(path, data, mode=None):
        if Path(path).name == name:
            raise OSError(errno.EIO, "Input/output error", str(path))
        real(path, data, mode)

    monkeypatch.setattr(safefs, "atomic_write", write)


def test_a_failure_half_way_takes_back_what_init_created(
    cli, make_workspace, monkeypatch
):
    ws = make_workspace()
    before = _contents(ws.root)
    _failing_on(monkeypatch, "settings.toml")

    result = cli("init", "--root", ws.root, "--user-name", "tester")

    assert result.code == 2
    assert result.err.endswith("/settings.toml: Input/output error\n")
    assert _contents(ws.root) == before


def test_a_failed_overwrite_puts_back_what_it_replaced(
    cli, make_workspace, monkeypatch
):
    ws = make_workspace()
    shared = ws.config_dir / "dev-defaults.toml"
    shared.write_text(shared.read_text() + "[mine]\nkeep = true\n")
    before = _contents(ws.root)
    _failing_on(monkeypatch, ".provisioning-generated.json")  # the last write

    result = cli("init", "--root", ws.root, "--overwrite")

    assert result.code == 2
    assert _contents(ws.root) == before
    assert not list(ws.backups_dir.glob("overwritten-*"))


def test_init_keeps_the_modes_of_existing_shared_folders(cli, make_workspace):
    ws = make_workspace()
    os.chmod(ws.runtime_root / "logs", 0o750)

    result = cli("init", "--root", ws.root, "--user-name", "tester3")

    assert result.code == 0, result.err
    assert stat.S_IMODE((ws.runtime_root / "logs").stat().st_mode) == 0o750
    assert stat.S_IMODE((ws.runtime_root / "state").stat().st_mode) == 0o755


def test_overwrite_moves_a_link_aside_and_reports_a_folder(
    cli, make_workspace, tmp_path
):
    ws = make_workspace()
    outside = tmp_path / "outside.py"
    outside.write_text("not ours\n")
    resolver = ws.lib_dir / "path_resolver.py"
    resolver.unlink()
    resolver.symlink_to(outside)
    ws.user_config.unlink()
    ws.user_config.mkdir()

    text = cli("init", "--root", ws.root, "--overwrite")
    again = cli("init", "--root", ws.root, "--overwrite", "--format", "json")

    assert text.code == 0, text.err
    assert outside.read_text() == "not ours\n"
    assert resolver.is_file() and not resolver.is_symlink()
    assert "def resolve_path" in resolver.read_text()
    assert "your changed lib/path_resolver.py was kept as" in text.out
    kept = next(ws.backups_dir.glob("overwritten-*")) / "lib" / "path_resolver.py"
    assert kept.is_symlink() and kept.readlink() == outside
    assert "config/dev.toml was not regenerated: it is a folder" in text.out
    report = json.loads(again.out)
    assert list(report["not_regenerated"]) == ["config/dev.toml"]
    assert ws.user_config.is_dir()


def test_overwrite_reuses_the_recorded_custom_template_folder(cli, tmp_path):
    custom = tmp_path / "mine"
    build_tree(custom, {"user/config/{{ user }}.toml.jinja": 'name = "c-{{ user }}"\n'})
    root = tmp_path / "ws"
    first = cli(
        "init", "--root", root, "--template", "custom", "--template-dir", custom
    )
    (root / "config" / "dev.toml").write_text("# mine\n")

    result = cli("init", "--root", root, "--overwrite")

    assert first.code == 0, first.err
    assert result.code == 0, result.err
    assert (root / "config" / "dev.toml").read_text() == 'name = "c-dev"\n'
    assert _settings(root, "dev")["template_dir"] == str(custom)


def test_relative_template_folder_is_recorded_whole(cli, tmp_path):
    build_tree(tmp_path / "mine", {"notes.txt": "notes\n"})
    result = cli(
        "init", "--root", "ws", "--template", "custom", "--template-dir", "mine",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.code == 0, result.err
    assert _settings(tmp_path / "ws", "dev")["template_dir"] == str(tmp_path / "mine")


def test_overwrite_with_the_recorded_template_folder_gone_says_so(cli, tmp_path):
    custom = tmp_path / "mine"
    build_tree(custom, {"notes.txt": "notes\n"})
    root = tmp_path / "ws"
    cli("init", "--root", root, "--template", "custom", "--template-dir", custom)
    (custom / "notes.txt").unlink()
    custom.rmdir()

    result = cli("init", "--root", root, "--overwrite")

    assert result.code == 2
    assert result.err.count("\n") == 1
    assert f"--template-dir: the template folder {custom} recorded in" in result.err


def test_minimal_adds_nothing_to_template_folders_full_filled(cli, tmp_path):
    root = tmp_path / "ws"
    cli("init", "--root", root, "--template", "full")
    template = root / "extensions" / "providers" / "template"
    before = sorted(p.name for p in template.iterdir())

    result = cli("init", "--root", root, "--user-name", "tester")

    assert result.code == 0, result.err
    assert sorted(p.name for p in template.iterdir()) == before
    assert not (template / "README.md").exists()
    assert "extensions/providers/template already holds a template" in result.out


def test_full_fills_a_minimal_template_folder_only_with_overwrite(cli, tmp_path):
    root = tmp_path / "ws"
    cli("init", "--root", root)
    template = root / "extensions" / "providers" / "template"

    second = cli("init", "--root", root, "--user-name", "tester", "--template", "full")
    assert sorted(p.name for p in template.iterdir()) == ["README.md"]
    assert "(--overwrite adds the full templates)" in second.out

    again = cli("init", "--root", root, "--overwrite", "--template", "full")
    assert again.code == 0, again.err
    assert (template / "extension.toml.jinja").is_file()
    assert not (template / "README.md").exists()
    assert "extensions/providers/template/README.md was removed" in again.out


def test_overwrite_keeps_when_the_user_was_created(cli, tmp_path):
    root = tmp_path / "ws"
    cli("init", "--root", root)
    created = _settings(root, "dev")["created"]
    settings = root / "runtime/workspaces/dev/settings.toml"
    settings.write_text(settings.read_text().replace(created, "2001-01-01T00:00:00Z"))

    result = cli("init", "--root", root, "--overwrite")

    assert result.code == 0, result.err
    assert _settings(root, "dev")["created"] == "2001-01-01T00:00:00Z"


def test_overwrite_after_settings_are_lost_keeps_type_infra_and_template(cli, tmp_path):
    root = tmp_path / "ws"
    cli("init", "--root", root, "--user-name", "first")
    cli(
        "init", "--root", root, "--user-name", "pu", "--workspace-type",
        "production", "--infra-name", "prod1", "--template", "full",
    )  # fmt: skip
    before = _settings(root, "pu")
    (root / "runtime/workspaces/pu/settings.toml").unlink()

    result = cli("init", "--root", root, "--user-name", "pu", "--overwrite")

    assert result.code == 0, result.err
    assert _settings(root, "pu") == before
    assert sorted(p.name for p in (root / "infra" / "pu").iterdir()) == ["prod1"]


def test_a_bad_recorded_infra_name_names_its_file(cli, tmp_path):
    root = tmp_path / "ws"
    cli("init", "--root", root)
    settings = root / "runtime/workspaces/dev/settings.toml"
    settings.write_text(settings.read_text().replace("dev-dev", "Bad Infra"))

    result = cli("init", "--root", root, "--overwrite")

    assert result.code == 2
    assert result.err.count("\n") == 1
    assert "runtime/workspaces/dev/settings.toml [workspace] infra_name" in result.err
    assert "'Bad Infra' is not a valid name" in result.err
    assert not result.err.startswith("workspace: error: --infra-name")


def test_first_init_of_a_workspace_and_of_a_user_is_logged(cli, tmp_path):
    root = tmp_path / "ws"
    for user in ("dev", "tester"):
        result = cli("init", "--root", root, "--user-name", user)
        assert result.code == 0, result.err
        log = (root / "runtime/logs" / user / "provisioning.log").read_text()
        assert f"initialised {root} for {user}" in log
        assert log.rstrip().endswith(": exit code 0")


# Custom templates: where they lie and where their files go.


def test_a_template_folder_holding_the_workspace_is_refused(cli, tmp_path):
    project = tmp_path / "proj"
    build_tree(project, {"NOTES.md.jinja": "notes {{ user }}\n"})

    result = cli(
        "init", "--user-name", "alice", "--template", "custom", "--template-dir",
        ".", cwd=project,
    )  # fmt: skip

    assert result.code == 2
    assert result.err.count("\n") == 1
    assert f"--template-dir: {project} holds the workspace" in result.err
    assert not (project / "workspace").exists()


def test_a_template_folder_inside_the_workspace_is_refused(cli, tmp_path):
    root = tmp_path / "ws"
    cli("init", "--root", root)
    inside = root / "infra" / "local" / "tpl"
    build_tree(inside, {"notes.txt": "x\n"})
    before = snapshot(root)

    result = custom_init(cli, root, inside, "--user-name", "bob")

    assert result.code == 2
    assert "lies inside the workspace" in result.err
    assert snapshot(root) == before


def test_a_template_folder_holding_a_workspace_marker_is_refused(cli, tmp_path):
    custom = tmp_path / "tpl"
    build_tree(custom, {"notes.txt": "x\n", "old/workspace/" + MARKER: ""})

    result = custom_init(cli, tmp_path / "ws", custom)

    assert result.code == 2
    assert f"{custom}/old/workspace/{MARKER}: a workspace marker" in result.err
    assert not (tmp_path / "ws").exists()


TOOL_OWNED = {
    "marker": MARKER,
    "record": ".provisioning-generated.json",
    "health-report": "runtime/state/{{ user }}/health.json",
    "settings": "runtime/workspaces/{{ user }}/settings.toml.jinja",
    "log": "runtime/logs/{{ user }}/provisioning.log",
    "backups": "runtime/data/{{ user }}/backups/b.tar",
    "tool-code": "tools/dodo.py",
    "restore-staging": ".workspace-restore-x/f",
}


@pytest.mark.parametrize("relpath", TOOL_OWNED.values(), ids=TOOL_OWNED.keys())
def test_template_files_at_the_tools_own_paths_are_refused(cli, tmp_path, relpath):
    custom = tmp_path / "tpl"
    part = "" if relpath.startswith((".", "tools")) else "user/"
    build_tree(custom, {part + relpath: "x\n", "notes.txt": "n\n"})

    result = custom_init(cli, tmp_path / "ws", custom)

    assert result.code == 2
    assert result.err.count("\n") == 1
    assert str(custom / part / relpath) in result.err
    assert not (tmp_path / "ws").exists()


@pytest.mark.parametrize(
    "name", ["a{{ '\\x01' }}b", "a\x1bb"], ids=["rendered", "written"]
)
def test_template_names_with_control_characters_are_refused(cli, tmp_path, name):
    custom = tmp_path / "tpl"
    build_tree(custom, {name: "x\n"})

    result = custom_init(cli, tmp_path / "ws", custom)

    assert result.code == 2
    assert result.err.count("\n") == 1
    assert "holds a control character" in result.err
    assert not (tmp_path / "ws").exists()


@pytest.mark.parametrize(
    "relpath",
    ["who.txt.jinja", "infra/shared.txt", "config/other.toml", "extensions/x.txt"],
)
def test_a_per_user_template_file_outside_the_users_areas_is_refused(
    cli, tmp_path, relpath
):
    custom = tmp_path / "tpl"
    build_tree(custom, {f"user/{relpath}": "who {{ user }}\n"})

    result = custom_init(cli, tmp_path / "ws", custom)

    assert result.code == 2
    assert result.err.count("\n") == 1
    assert f"{custom}/user/{relpath}: renders to" in result.err
    assert "outside the areas of 'dev'" in result.err


def test_per_user_template_files_land_in_each_users_area(cli, tmp_path):
    custom = tmp_path / "tpl"
    build_tree(custom, {"user/infra/{{ user }}/who.txt.jinja": "who {{ user }}\n"})
    root = tmp_path / "ws"
    args = ("--template", "custom", "--template-dir", custom)

    for user in ("alice", "bob"):
        assert cli("init", "--root", root, "--user-name", user, *args).code == 0
    again = cli("init", "--root", root, "--user-name", "alice", "--overwrite")

    assert again.code == 0, again.err
    for user in ("alice", "bob"):
        assert (root / "infra" / user / "who.txt").read_text() == f"who {user}\n"


def test_a_shared_template_file_in_a_users_area_is_refused(cli, tmp_path):
    root = tmp_path / "ws"
    cli("init", "--root", root, "--user-name", "alice")
    custom = tmp_path / "tpl"
    build_tree(custom, {"shared/infra/alice/x.txt": "x\n"})
    before = snapshot(root)

    result = custom_init(cli, root, custom, "--user-name", "bob")

    assert result.code == 2
    assert "renders to infra/alice/x.txt, in a user's area" in result.err
    assert snapshot(root) == before


def test_overwrite_brings_the_marker_to_this_version(cli, tmp_path):
    root = tmp_path / "ws"
    cli("init", "--root", root, "--workspace-type", "testing")
    marker = root / MARKER
    marker.write_text(marker.read_text().replace(__version__, "0.0.1"))

    cli("init", "--root", root, "--user-name", "tester")
    assert 'tool_version = "0.0.1"' in marker.read_text()
    result = cli("init", "--root", root, "--overwrite")

    assert result.code == 0, result.err
    table = tomllib.loads(marker.read_text())["workspace"]
    assert (table["tool_version"], table["type"]) == (__version__, "testing")
    checked = cli("health", "check-integration", "--root", root)
    assert checked.code == 0, checked.out


def test_full_over_minimal_keeps_a_changed_placeholder_aside(cli, tmp_path):
    root = tmp_path / "ws"
    cli("init", "--root", root)
    readme = root / "extensions" / "providers" / "template" / "README.md"
    readme.write_text("my notes\n")

    result = cli("init", "--root", root, "--overwrite", "--template", "full")

    assert result.code == 0, result.err
    assert not readme.exists()
    kept = list((root / "runtime/data/dev/backups").glob("overwritten-*"))
    copy = kept[0] / "extensions/providers/template/README.md"
    assert copy.read_text() == "my notes\n"


def test_minimal_placeholder_says_what_the_folder_holds(cli, tmp_path):
    root = tmp_path / "ws"
    cli("init", "--root", root)
    text = (root / "extensions/taskservs/template/README.md").read_text()
    assert "holds\nthis README only" in text
    assert "empty" not in text
