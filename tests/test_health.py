"""``workspace health``: break a fresh workspace one way at a time, then repair."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import pytest

from workspace_tasks import init
from workspace_tasks.cli.health_cmds import CHECK_COMMANDS
from workspace_tasks.context import PACKAGE_DIR, Workspace
from workspace_tasks.health import (
    check_runtime_health,
    check_workspace_health,
    validate_paths,
)

SCHEMA = json.loads(
    (PACKAGE_DIR / "core" / "config" / "health-report.schema.json").read_text()
)
OLD = 1_000_000_000  # an mtime long past: the entry is settled, not being written


def health(cli, ws: Workspace, *args: str) -> tuple[int, dict]:
    result = cli(
        "health", "--root", ws.root, "--workspace-user", ws.user,
        "--report-format", "json", *args,
    )  # fmt: skip
    assert result.code in (0, 1), result.err
    data = json.loads(result.out)
    jsonschema.validate(data, SCHEMA)
    return result.code, data["workspace_health"]


def component(text: str, name: str) -> dict:
    """Return the one component of a component check's JSON report."""
    data = json.loads(text)
    jsonschema.validate(data, SCHEMA)
    assert list(data["workspace_health"]["checks"]) == [name]
    return data["workspace_health"]["checks"][name]


def all_issues(body: dict) -> dict[str, list[str]]:
    return {name: c["issues"] for name, c in body["checks"].items() if c["issues"]}


def all_fixed(body: dict) -> dict[str, list[str]]:
    return {n: c["auto_fixed"] for n, c in body["checks"].items() if c["auto_fixed"]}


def test_a_fresh_workspace_is_healthy_and_its_report_fits_the_schema(workspace, cli):
    code, body = health(cli, workspace, "--detailed")

    assert code == 0
    assert body["user"] == "dev"
    assert body["overall_status"] == "healthy"
    assert all_issues(body) == {}
    assert body["recommendations"] == []
    assert set(body["checks"]) == {
        "directories", "configuration", "runtime", "extensions", "resources",
        "integration",
    }  # fmt: skip
    assert body["checks"]["extensions"]["providers"] == 0
    assert body["checks"]["integration"]["workspace_version"] == "0.1.0"
    saved = json.loads((workspace.state_dir / "health.json").read_text())
    assert saved["workspace_health"]["overall_status"] == "healthy"


def test_a_minimal_workspace_is_healthy_in_text(make_workspace, cli):
    ws = make_workspace("dev")
    result = cli("health", "--root", ws.root)
    assert result.code == 0, result.out
    assert result.out.startswith("Health of dev's workspace: healthy")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _old(path: Path) -> None:
    os.utime(path, (OLD, OLD))


@dataclass
class Breakage:
    """One way to break a workspace, what health says, what the fix does."""

    damage: Callable[[Workspace], None]
    component: str
    issues: list[str]
    fixed: list[str]
    after: Callable[[Workspace], bool] = lambda ws: True
    status: str = "warning"
    extra: dict[str, list[str]] = field(default_factory=dict)


def _delete_examples(ws: Workspace) -> None:
    (ws.root / "infra" / "examples" / "minimal" / "settings.toml").unlink()
    (ws.root / "infra" / "examples" / "minimal").rmdir()


def _open_logs(ws: Workspace) -> None:
    ws.logs_dir.chmod(0o777)


def _dangling(ws: Workspace) -> None:
    (ws.root / "infra" / "dev" / "old").symlink_to("/nowhere/at/all")


def _moved(ws: Workspace) -> None:
    old_place = "/srv/old-project/workspace/infra/examples/testing"
    (ws.root / "infra" / "dev" / "testing").symlink_to(old_place)


def _loop(ws: Workspace) -> None:
    folder = ws.user_extensions_dir("providers")
    (folder / "a").symlink_to("b")
    (folder / "b").symlink_to("a")


def _big_log(ws: Workspace) -> None:
    with (ws.logs_dir / "orchestrator.log").open("r+b") as handle:
        handle.write(b"started\n")
        handle.truncate(200 * 1024 * 1024)


def _no_user_config(ws: Workspace) -> None:
    ws.user_config.unlink()


def _bad_cache(ws: Workspace) -> None:
    cache = ws.cache_dir
    _write(cache / "images" / "good.img", "fine")
    _write(cache / "images" / "empty.img", "")
    _old(cache / "images" / "empty.img")
    _write(cache / "downloads" / "tool.tar.part", "half")
    _old(cache / "downloads" / "tool.tar.part")
    _write(cache / "providers" / "aws.json", '{"v": 2}')
    _write(cache / "providers" / "aws.json.sha256", "0" * 64 + "  aws.json\n")
    digest = hashlib.sha256(b"fine").hexdigest()
    _write(cache / "images" / "good.img.sha256", digest + "\n")


def _no_other_defaults(ws: Workspace) -> None:
    (ws.config_dir / "test-defaults.toml").unlink()
    (ws.config_dir / "prod-defaults.toml").unlink()


def _orphan_checksum(ws: Workspace) -> None:
    _write(ws.cache_dir / "providers" / "orphan.sha256", "0" * 64 + "\n")


def _missing_runtime_folder(ws: Workspace) -> None:
    (ws.state_dir / "workflows").rmdir()


def _missing_tools(ws: Workspace) -> None:
    (ws.tools_dir / "dodo.py").unlink()


BREAKAGES = {
    "deleted-folder": Breakage(
        _delete_examples,
        "directories",
        ["Missing folder infra/examples/minimal"],
        ["Created folder infra/examples/minimal"],
        lambda ws: (ws.root / "infra/examples/minimal").is_dir(),
    ),
    "runtime-folder-0777": Breakage(
        _open_logs,
        "runtime",
        [
            "Runtime folder runtime/logs/dev has mode 0777; it should be 0700 "
            "(private to dev)"
        ],
        ["Set mode 0700 on runtime/logs/dev (was 0777)"],
        lambda ws: stat.S_IMODE(ws.logs_dir.stat().st_mode) == 0o700,
    ),
    "missing-runtime-folder": Breakage(
        _missing_runtime_folder,
        "runtime",
        ["Missing runtime folder runtime/state/dev/workflows"],
        ["Created runtime folder runtime/state/dev/workflows (mode 0700)"],
        lambda ws: stat.S_IMODE((ws.state_dir / "workflows").stat().st_mode) == 0o700,
    ),
    "dangling-symlink": Breakage(
        _dangling,
        "directories",
        ["Broken symlink infra/dev/old -> /nowhere/at/all"],
        ["Removed broken symlink infra/dev/old (-> /nowhere/at/all, not found)"],
        lambda ws: not (ws.root / "infra/dev/old").is_symlink(),
    ),
    "symlink-after-a-move": Breakage(
        _moved,
        "directories",
        [
            "Broken symlink infra/dev/testing -> "
            "/srv/old-project/workspace/infra/examples/testing"
        ],
        [
            "Relinked infra/dev/testing -> ../examples/testing (was -> "
            "/srv/old-project/workspace/infra/examples/testing)"
        ],
        lambda ws: os.readlink(ws.root / "infra/dev/testing") == "../examples/testing",
    ),
    "symlink-loop": Breakage(
        _loop,
        "directories",
        [
            "Symlink loop at extensions/providers/dev/a -> b",
            "Symlink loop at extensions/providers/dev/b -> a",
        ],
        [
            "Removed looping symlink extensions/providers/dev/a (-> b)",
            "Removed looping symlink extensions/providers/dev/b (-> a)",
        ],
        lambda ws: list(ws.user_extensions_dir("providers").iterdir()) == [],
    ),
    "sparse-200mb-log": Breakage(
        _big_log,
        "resources",
        [
            "Log file runtime/logs/dev/orchestrator.log is 200.0MB, over the "
            "100.0MB warning size"
        ],
        [
            "Rotated runtime/logs/dev/orchestrator.log (200.0MB) to "
            "orchestrator.log.1.gz"
        ],
        lambda ws: (
            (ws.logs_dir / "orchestrator.log").stat().st_size == 0
            and (ws.logs_dir / "orchestrator.log.1.gz").is_file()
        ),
    ),
    "missing-user-config": Breakage(
        _no_user_config,
        "configuration",
        [
            "Missing user configuration config/dev.toml",
            "User configuration missing default provider",
        ],
        [
            "Created missing user configuration config/dev.toml from "
            "config/local-overrides.toml.example"
        ],
        lambda ws: (
            ws.user_config.read_text()
            == (ws.config_dir / "local-overrides.toml.example").read_text()
        ),
    ),
    "corrupted-cache": Breakage(
        _bad_cache,
        "runtime",
        [
            "Corrupted cache entry runtime/cache/dev/downloads/tool.tar.part: "
            "a leftover partial download",
            "Corrupted cache entry runtime/cache/dev/images/empty.img: empty",
            "Corrupted cache entry runtime/cache/dev/providers/aws.json: "
            "checksum does not match",
        ],
        [
            "Cleared cache entry runtime/cache/dev/downloads/tool.tar.part "
            "(a leftover partial download)",
            "Cleared cache entry runtime/cache/dev/images/empty.img (empty)",
            "Cleared cache entry runtime/cache/dev/providers/aws.json "
            "(checksum does not match)",
        ],
        lambda ws: (
            sorted(p.name for p in ws.cache_dir.rglob("*") if p.is_file())
            == ["good.img", "good.img.sha256"]
        ),
    ),
    "missing-test-and-prod-defaults": Breakage(
        _no_other_defaults,
        "configuration",
        [
            "Missing defaults file config/prod-defaults.toml",
            "Missing defaults file config/test-defaults.toml",
        ],
        [
            "Created missing defaults file config/prod-defaults.toml from the "
            "shipped template",
            "Created missing defaults file config/test-defaults.toml from the "
            "shipped template",
        ],
        lambda ws: (
            (ws.config_dir / "prod-defaults.toml").read_bytes()
            == init.generated_file(ws, "config/prod-defaults.toml").data
        ),
    ),
    "orphan-checksum": Breakage(
        _orphan_checksum,
        "runtime",
        [
            "Corrupted cache entry runtime/cache/dev/providers/orphan.sha256: "
            "a checksum file without its entry orphan"
        ],
        [
            "Cleared cache entry runtime/cache/dev/providers/orphan.sha256 "
            "(a checksum file without its entry orphan)"
        ],
        lambda ws: not (ws.cache_dir / "providers" / "orphan.sha256").exists(),
    ),
    "missing-generated-tool": Breakage(
        _missing_tools,
        "integration",
        ["Missing generated file tools/dodo.py"],
        ["Restored tools/dodo.py from the shipped template"],
        lambda ws: (
            "from workspace_tasks.taskdefs import load"
            in (ws.tools_dir / "dodo.py").read_text()
        ),
    ),
}


@pytest.mark.parametrize("case", BREAKAGES.values(), ids=BREAKAGES.keys())
def test_each_breakage_is_reported_repaired_and_gone_on_a_second_run(
    case: Breakage, workspace, cli
):
    case.damage(workspace)

    code, before = health(cli, workspace)
    fix_code, fixed = health(cli, workspace, "--fix-issues")
    again_code, again = health(cli, workspace, "--fix-issues")

    assert code == 1
    assert before["overall_status"] == case.status
    assert sorted(before["checks"][case.component]["issues"]) == case.issues
    assert all_issues(before) == {case.component: case.issues}
    assert (
        "Repair what can be repaired: run 'workspace health --fix-issues'"
        in (before["recommendations"])
    )
    assert fix_code == 0, fixed
    assert all_fixed(fixed) == {case.component: case.fixed}
    assert all_issues(fixed) == {}
    assert case.after(workspace)
    assert (again_code, all_fixed(again), all_issues(again)) == (0, {}, {})


def test_invalid_toml_is_reported_with_file_line_and_column_and_left_alone(
    workspace, cli
):
    text = workspace.user_config.read_text() + "broken = \n"
    workspace.user_config.write_text(text)
    line = text.count("\n")

    code, body = health(cli, workspace, "--fix-issues")

    assert code == 1
    assert body["overall_status"] == "critical"
    assert body["checks"]["configuration"]["status"] == "critical"
    syntax = f"config/dev.toml:{line}:10: invalid TOML: invalid value"
    assert all_issues(body) == {
        "configuration": [syntax],
        "resources": [
            f"The configuration does not load ({syntax}); the default thresholds "
            "are used"
        ],
    }
    assert all_fixed(body) == {}
    assert workspace.user_config.read_text() == text
    assert (
        "Fix the configuration syntax in config/dev.toml, then run "
        "'workspace health check-config'" in body["recommendations"]
    )


def test_a_broken_extension_template_names_file_and_line(workspace, cli):
    created = cli(
        "tools", "create-extension", "providers/my-cloud", "--root", workspace.root
    )
    assert created.code == 0, created.err
    extension = workspace.user_extensions_dir("providers") / "my-cloud"
    template = extension / "templates" / "server.j2"
    _write(template, "name: {{ name }}\n{% if zone %}\nzone: {{ zone }}\n")

    code, body = health(cli, workspace, "--fix-issues")

    assert code == 1
    extensions = body["checks"]["extensions"]
    assert extensions["status"] == "critical"
    assert extensions["providers"] == 1
    assert extensions["issues"] == [
        "extensions/providers/dev/my-cloud/templates/server.j2:3: template syntax: "
        "Unexpected end of template. Jinja was looking for the following tags: "
        "'elif' or 'else' or 'endif'. The innermost block that needs to be "
        "closed is 'if'."
    ]
    assert template.read_text().startswith("name:")


def test_a_link_to_its_own_folder_and_a_deep_tree_do_not_hang(workspace, cli):
    folder = workspace.user_extensions_dir("taskservs")
    (folder / "up").symlink_to("..")
    deep = folder / "deep"
    for _ in range(80):
        deep = deep / "d"
    deep.mkdir(parents=True)

    code, body = health(cli, workspace, "--fix-issues")

    assert code == 1
    issues = body["checks"]["directories"]["issues"]
    assert len(issues) == 1
    assert issues[0].startswith("Folder tree deeper than 64 levels at ")
    assert issues[0].endswith("; not inspected below")
    assert (folder / "up").is_symlink()


def test_a_file_where_a_folder_belongs_is_reported_never_removed(workspace, cli):
    examples = workspace.root / "infra" / "examples"
    for child in (examples / "testing").iterdir():
        child.unlink()
    (examples / "testing").rmdir()
    (examples / "testing").write_text("my notes\n")

    code, body = health(cli, workspace, "--fix-issues")

    assert code == 1
    assert body["checks"]["directories"]["status"] == "critical"
    assert all_issues(body) == {
        "directories": ["infra/examples/testing should be a folder but is a file"]
    }
    assert (examples / "testing").read_text() == "my notes\n"


def test_links_out_of_the_workspace_are_not_followed(workspace, cli, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "dangling").symlink_to("/nowhere")
    (workspace.infra_dir / "dev" / "shared-disk").symlink_to(outside)

    code, body = health(cli, workspace, "--fix-issues")

    assert (code, all_issues(body), all_fixed(body)) == (0, {}, {})
    assert (outside / "dangling").is_symlink()


def test_thresholds_come_from_the_configuration(workspace, cli):
    config = workspace.user_config
    config.write_text(
        config.read_text()
        + '\n[health]\ncache_warning_size = "1KB"\nmin_free_disk = "1000TB"\n'
        + 'log_warning_size = "lots"\n'
    )
    _write(workspace.cache_dir / "images" / "disk.img", "x" * 2048)

    code, body = health(cli, workspace)

    assert code == 1
    issues = body["checks"]["resources"]["issues"]
    assert issues[0] == (
        "health.log_warning_size: 'lots' is not a size; use e.g. 400MB or 1GB; "
        "using 100MB"
    )
    assert issues[1].startswith("Only ")
    assert issues[1].endswith("free on the workspace's file system (below 1000.0TB)")
    assert body["checks"]["runtime"]["cache_size"] == "2.0KB"
    assert (
        "Consider cleaning cache (>1.0KB): run 'workspace cleanup --type cache'"
        in body["recommendations"]
    )


def test_missing_default_provider_is_a_warning(workspace, cli):
    text = workspace.user_config.read_text().replace('default_provider = "upcloud"', "")
    workspace.user_config.write_text(text)

    code, body = health(cli, workspace)

    assert code == 1
    assert body["checks"]["configuration"] == {
        **body["checks"]["configuration"],
        "status": "warning",
        "issues": ["User configuration missing default provider"],
    }
    assert body["recommendations"] == [
        "Set [infra] default_provider in config/dev.toml"
    ]


def test_a_version_mismatch_is_reported(workspace, cli):
    marker = workspace.marker
    marker.write_text(marker.read_text().replace('"0.1.0"', '"0.0.9"'))

    code, body = health(cli, workspace)

    assert code == 1
    assert body["checks"]["integration"]["issues"] == [
        ".provisioning-workspace.toml: Workspace made by workspace_tasks 0.0.9; "
        "this is 0.1.0"
    ]


def test_component_checks_run_alone(workspace, cli):
    workspace.logs_dir.chmod(0o755)

    runtime = cli("health", "check-runtime", "--root", workspace.root,
                  "--workspace-user", "dev", "--report-format", "json")  # fmt: skip
    config = cli("health", "check-config", "--root", workspace.root)
    fixed = cli("health", "--root", workspace.root, "check-runtime", "--fix-issues")

    assert runtime.code == 1
    assert component(runtime.out, "runtime")["issues"] == [
        "Runtime folder runtime/logs/dev has mode 0755; it should be 0700 "
        "(private to dev)"
    ]
    assert (config.code, config.out) == (0, "configuration: healthy\n")
    assert fixed.code == 0
    assert "Set mode 0700 on runtime/logs/dev (was 0755)" in fixed.out


@pytest.mark.parametrize(
    ("command", "name"), CHECK_COMMANDS.items(), ids=CHECK_COMMANDS.keys()
)
def test_a_component_check_in_json_is_a_report_with_that_component(
    workspace, cli, command, name
):
    result = cli("health", command, "--root", workspace.root, "--format", "json")

    assert result.code == 0, result.err
    assert component(result.out, name)["status"] == "healthy"
    body = json.loads(result.out)["workspace_health"]
    assert (body["user"], body["overall_status"]) == ("dev", "healthy")


def test_resolve_names_of_the_checks(workspace, cli):
    (workspace.infra_dir / "dev" / "gone").symlink_to("missing")
    root = ("--root", workspace.root)

    validate = cli("resolve", "validate-paths", *root, "--format", "json")
    repaired = cli("resolve", "validate-paths", *root, "--repair-broken")
    runtime = cli("resolve", "check-runtime", *root)
    whole = cli("resolve", "check-health", *root, "--format", "json")

    assert validate.code == 1
    assert component(validate.out, "directories")["issues"] == [
        "Broken symlink infra/dev/gone -> missing"
    ]
    assert repaired.code == 0
    assert (runtime.code, whole.code) == (0, 0)
    assert json.loads(whole.out)["workspace_health"]["overall_status"] == "healthy"


def test_python_functions_of_the_spec(workspace):
    workspace.data_dir.chmod(0o750)
    (workspace.infra_dir / "dev" / "gone").symlink_to("missing")

    runtime = check_runtime_health(workspace)
    paths = validate_paths(workspace, repair_broken=True)
    report = check_workspace_health(workspace, fix_issues=True)

    assert runtime.status == "warning"
    assert paths.auto_fixed == [
        "Removed broken symlink infra/dev/gone (-> missing, not found)"
    ]
    assert report.overall_status == "healthy"
    assert report.auto_fixed == ["Set mode 0700 on runtime/data/dev (was 0750)"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--workspace-user", "ghost"], "user 'ghost' has no areas"),
        (["--report-format", "xml"], "argument --report-format/--format"),
        (["check-everything"], "invalid choice: 'check-everything'"),
        (["--workspace-user", "../x"], "--workspace-user"),
    ],
    ids=["unknown-user", "bad-format", "bad-check", "bad-user-name"],
)
def test_bad_input_exits_2_with_one_line(workspace, cli, argv, message):
    result = cli("health", "--root", workspace.root, *argv)
    assert result.code == 2
    assert message in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert result.out == ""


def test_status_shows_the_latest_report(workspace, cli):
    (workspace.infra_dir / "dev" / "gone").symlink_to("missing")
    health(cli, workspace)

    result = cli("status", "--root", workspace.root)
    data = json.loads(cli("status", "--root", workspace.root, "--format", "json").out)

    assert "Health:    warning (checked " in result.out
    assert "  Repair what can be repaired: run 'workspace health --fix-issues'" in (
        result.out
    )
    assert data["health"]["issues"] == [
        "[directories] Broken symlink infra/dev/gone -> missing"
    ]


def test_text_report_lists_issues_fixes_and_figures(workspace, cli):
    workspace.cache_dir.chmod(0o777)
    result = cli("health", "--root", workspace.root, "--detailed", "--fix-issues")
    assert result.code == 0
    assert "[runtime] Set mode 0700 on runtime/cache/dev (was 0777)" in result.out
    assert "runtime: disk_usage " in result.out


def test_rotated_log_keeps_its_content(workspace, cli):
    log = workspace.logs_dir / "big.log"
    log.write_bytes(b"line\n" * 30)
    log.parent.joinpath("big.log").open("ab").truncate(150 * 1024 * 1024)
    health(cli, workspace, "--fix-issues")
    with gzip.open(workspace.logs_dir / "big.log.1.gz") as handle:
        assert handle.read(150) == b"line\n" * 30


@pytest.mark.parametrize("area", ["cache", "workspaces", "data"])
def test_a_file_where_a_runtime_folder_belongs_is_critical_and_kept(
    workspace, cli, area
):
    folder = workspace.runtime_root / area / "dev"
    _remove_tree(folder)
    folder.write_text("f\n")

    code, body = health(cli, workspace)
    fixed_code, fixed = health(cli, workspace, "--fix-issues")

    expected = f"A file stands where a folder belongs: runtime/{area}/dev"
    assert code == 1
    assert body["checks"]["runtime"]["status"] == "critical"
    assert body["checks"]["runtime"]["issues"] == [expected]
    assert fixed_code == 1
    assert fixed["checks"]["runtime"]["issues"] == [expected]
    assert folder.read_text() == "f\n"


def test_a_file_where_a_shared_runtime_folder_belongs_gives_a_full_report(
    workspace, cli
):
    shared = workspace.runtime_root / "data"
    _remove_tree(shared)
    shared.write_text("f\n")

    code, body = health(cli, workspace, "--fix-issues")

    assert code == 1
    assert body["checks"]["directories"]["issues"] == [
        "runtime/data should be a folder but is a file"
    ]
    assert shared.read_text() == "f\n"


def test_a_runtime_folder_linked_outside_is_reported_never_followed(
    workspace, cli, tmp_path
):
    outside = tmp_path / "elsewhere"
    workspace.data_dir.rename(outside)
    _remove_tree(outside / "backups")
    workspace.data_dir.symlink_to(outside)

    code, body = health(cli, workspace)
    fixed_code, fixed = health(cli, workspace, "--fix-issues")

    expected = (
        f"Runtime folder runtime/data/dev leads outside the workspace "
        f"(to {os.path.realpath(outside)}); not followed"
    )
    assert (code, fixed_code) == (1, 1)
    assert body["checks"]["runtime"]["issues"] == [expected]
    assert fixed["checks"]["runtime"]["issues"] == [expected]
    assert all_fixed(fixed) == {}
    assert not (outside / "backups").exists()
    assert workspace.data_dir.is_symlink()


def test_missing_runtime_settings_advise_the_repair_that_puts_them_back(workspace, cli):
    workspace.settings_file.unlink()

    _, body = health(cli, workspace)
    _, fixed = health(cli, workspace, "--fix-issues")

    assert body["checks"]["runtime"]["issues"] == [
        "Missing runtime settings runtime/workspaces/dev/settings.toml"
    ]
    assert body["recommendations"] == [
        "Repair what can be repaired: run 'workspace health --fix-issues'"
    ]
    assert fixed["checks"]["runtime"]["auto_fixed"] == [
        "Created missing runtime settings runtime/workspaces/dev/settings.toml "
        "from the shipped template"
    ]
    assert workspace.settings_file.is_file()


def test_leftovers_of_interrupted_backups_and_restores_are_warned_and_kept(
    workspace, cli
):
    spool = workspace.backups_dir / ".daily.tar.zst.k3j2.tmp"
    _write(spool, "x" * 2048)
    staging = workspace.root / ".workspace-restore-abc123"
    _write(staging / "config" / "dev.toml", "y" * 1024)

    code, body = health(cli, workspace, "--fix-issues")

    assert code == 1
    assert body["checks"]["runtime"]["status"] == "warning"
    assert body["checks"]["runtime"]["issues"] == [
        "Leftover of an interrupted restore .workspace-restore-abc123 (1.0KB); "
        "the next restore clears it, or remove it",
        "Leftover of an interrupted backup "
        "runtime/data/dev/backups/.daily.tar.zst.k3j2.tmp (2.0KB); "
        "the next backup clears it, or remove it",
    ]
    assert body["recommendations"] == [
        "Clear leftovers of interrupted backups and restores: run the next "
        "'workspace backup' or 'workspace restore', or remove them"
    ]
    assert spool.read_text() == "x" * 2048
    assert (staging / "config" / "dev.toml").is_file()


def test_leftover_others_may_write_is_not_promised_to_the_next_restore(workspace, cli):
    staging = workspace.root / ".workspace-restore-dev-open"
    _write(staging / "journal", "")
    os.chmod(staging, 0o777)

    code, body = health(cli, workspace)

    assert code == 1
    assert body["checks"]["runtime"]["issues"] == [
        "Leftover of an interrupted restore .workspace-restore-dev-open (0B); "
        "it is writable by other users (mode 0777): check it and remove it"
    ]


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path)


def test_a_link_whose_target_moved_within_the_workspace_is_removed(workspace, cli):
    infra = workspace.root / "infra" / "dev"
    _write(infra / "notes" / "plan.txt", "plan\n")
    link = infra / "current-plan"
    link.symlink_to("notes/plan.txt")
    (infra / "notes").rename(infra / "archive")

    code, body = health(cli, workspace, "--fix-issues")

    assert code == 0
    assert body["checks"]["directories"]["auto_fixed"] == [
        "Removed broken symlink infra/dev/current-plan (-> notes/plan.txt, not found)"
    ]
    assert not link.is_symlink()
    assert (infra / "archive" / "plan.txt").read_text() == "plan\n"


@pytest.mark.parametrize(
    ("folder", "missing", "component", "issue"),
    [
        ("config", "dev.toml", "configuration",
         "Missing user configuration config/dev.toml"),
        ("infra/examples", "testing", "directories",
         "Missing folder infra/examples/testing"),
    ],
    ids=["config", "infra-examples"],
)  # fmt: skip
def test_a_repair_through_a_link_out_of_the_workspace_is_left_undone(
    workspace, cli, tmp_path, folder, missing, component, issue
):
    outside = tmp_path / "elsewhere"
    (workspace.root / folder).rename(outside)
    (workspace.root / folder).symlink_to(outside)
    gone = outside / missing
    _remove_tree(gone) if gone.is_dir() else gone.unlink()

    code, body = health(cli, workspace, "--fix-issues")

    assert code == 1
    assert (
        f"{issue} (not repaired: it leads outside the workspace)"
        in body["checks"][component]["issues"]
    )
    assert not gone.exists()


def test_a_report_that_cannot_be_saved_is_still_shown(workspace, cli, immutable):
    immutable(workspace.state_dir)

    result = cli("health", "--root", workspace.root)

    assert result.code == 0
    assert result.out.startswith("Health of dev's workspace: healthy")
    assert result.err == (
        "workspace: warning: the report was not saved to "
        "runtime/state/dev/health.json: Operation not permitted\n"
    )


def test_a_root_that_is_not_utf8_is_checked_and_reported(cli, tmp_path):
    root = tmp_path / os.fsdecode(b"w\nx\x1b[31my\xffz")
    assert cli("init", "--root", root, "--user-name", "u").code == 0
    result = cli(
        "health", "--root", root, "--workspace-user", "u", "--report-format", "json"
    )
    assert result.code in (0, 1), result.err
    assert result.err == ""
    jsonschema.validate(json.loads(result.out), SCHEMA)


def test_resources_run_on_default_thresholds_when_the_configuration_is_broken(
    workspace, cli
):
    with workspace.user_config.open("a") as handle:
        handle.write("[http]\ntimeout = \n")
    lines = workspace.user_config.read_text().count("\n")
    result = cli(
        "health", "check-resources", "--root", workspace.root,
        "--report-format", "json",
    )  # fmt: skip
    assert result.code == 1, result.err
    resources = component(result.out, "resources")
    assert resources["issues"] == [
        f"The configuration does not load (config/dev.toml:{lines}:11: invalid "
        "TOML: invalid value); the default thresholds are used"
    ]
    assert "free_disk" in resources


CONFIG_ADVICE = {
    "syntax": ("broken = \n", "Fix the configuration syntax in config/dev.toml"),
    "cycle": (
        '[http]\nproxy = "${http.via}"\nvia = "${http.proxy}"\n',
        "Fix the ${...} references in config/dev.toml",
    ),
    "unknown-section": (
        "[zzz]\nq = 1\n",
        "Check the unknown sections in config/dev.toml",
    ),
    "type": ('[http]\ntimeout = "thirty"\n', "Give the values the schema refuses"),
}


@pytest.mark.parametrize(
    ("text", "advised"), CONFIG_ADVICE.values(), ids=CONFIG_ADVICE.keys()
)
def test_configuration_advice_matches_the_problem(workspace, cli, text, advised):
    with workspace.user_config.open("a") as handle:
        handle.write(text)
    result = cli(
        "health", "check-config", "--root", workspace.root, "--report-format", "json"
    )
    advice = json.loads(result.out)["workspace_health"]["recommendations"]
    assert len(advice) == 1
    assert advice[0].startswith(advised)
    assert advice[0].endswith(", then run 'workspace health check-config'")


def test_repairs_leave_another_users_links_alone(make_workspace, cli):
    developer = make_workspace("developer")
    tester = make_workspace("tester")
    link = developer.infra_dir / "tester" / "usbdata"
    link.symlink_to("/mnt/none")

    _, fixed = health(cli, developer, "--fix-issues")
    _, theirs = health(cli, tester)

    assert link.is_symlink()
    assert "usbdata" not in json.dumps(fixed)
    assert theirs["checks"]["directories"]["issues"] == [
        "Broken symlink infra/tester/usbdata -> /mnt/none"
    ]


def test_lost_settings_come_back_with_the_users_type_infra_and_template(
    make_workspace, cli
):
    make_workspace("first")
    pu = make_workspace(
        "pu", "--workspace-type", "production", "--infra-name", "prod1",
        "--template", "full",
    )  # fmt: skip
    before = pu.settings_file.read_text()
    pu.settings_file.unlink()

    _, fixed = health(cli, pu, "--fix-issues")

    assert pu.settings_file.read_text() == before
    assert sorted(p.name for p in (pu.infra_dir / "pu").iterdir()) == ["prod1"]
    assert "Created folder" not in json.dumps(fixed)
