"""``workspace config`` and ``resolve config``: every action of the family."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


def _root(ws) -> list[str]:
    return ["--root", str(ws.root), "--workspace-user", ws.user]


def test_show_prints_merged_toml(cli, make_workspace):
    ws = make_workspace("dev")
    result = cli("config", "show", *_root(ws))
    assert result.code == 0, result.err
    values = tomllib.loads(result.out)
    assert values["core"]["name"] == "provisioning-dev"
    assert values["http"]["timeout"] == 30


def test_show_redacts_secrets_unless_asked(cli, make_workspace):
    ws = make_workspace("dev")
    shutil.copy(DATA / "spec" / "user.toml", ws.user_config)
    with ws.user_config.open("a") as handle:
        handle.write('[api]\ntoken = "t0k"\naccess_key_id = "AK"\nkeep_last = 3\n')
    shown = json.loads(cli("config", "show", *_root(ws), "--format", "json").out)
    assert shown["notifications"]["slack_webhook"] == "********"
    assert shown["api"] == {
        "token": "********",
        "access_key_id": "********",
        "keep_last": 3,
    }
    assert shown["notifications"]["email"] == "developer@company.com"
    secret = cli("config", "show", *_root(ws), "--format", "json", "--show-secrets")
    assert json.loads(secret.out)["api"]["token"] == "t0k"


SECRET_COPIES = (
    '[notifications]\napi_token = "S2"\n'
    '[aws]\nmsg = "${notifications.api_token}"\nagain = "<${aws.msg}>"\n'
    'list = ["a", "${notifications.api_token}"]\n'
    'from_env = "${env.SOME_SECRET}"\nhome = "${env.NOT_HIDDEN}"\n'
)


@pytest.mark.parametrize(
    "argv",
    [
        ("config", "show"),
        ("config", "show", "--format", "json"),
        ("config", "hierarchy"),
        ("config", "hierarchy", "--format", "json"),
        ("resolve", "config", "merged"),
        ("resolve", "config", "merged", "--format", "json"),
    ],
    ids=["show", "show-json", "hierarchy", "hierarchy-json", "resolve", "resolve-json"],
)
def test_values_interpolated_from_secrets_are_redacted(
    cli, make_workspace, monkeypatch, argv
):
    ws = make_workspace("dev")
    ws.user_config.write_text(SECRET_COPIES)
    monkeypatch.setenv("SOME_SECRET", "E5")
    monkeypatch.setenv("NOT_HIDDEN", "plain")
    result = cli(*argv, *_root(ws))
    assert result.code == 0, result.err
    assert "S2" not in result.out and "E5" not in result.out
    assert "plain" in result.out
    shown = cli(*argv, *_root(ws), "--show-secrets")
    assert "S2" in shown.out and "<S2>" in shown.out and "E5" in shown.out


def test_redaction_hides_each_value_built_from_a_secret(
    cli, make_workspace, monkeypatch
):
    ws = make_workspace("dev")
    ws.user_config.write_text(SECRET_COPIES)
    monkeypatch.setenv("SOME_SECRET", "E5")
    monkeypatch.setenv("NOT_HIDDEN", "plain")
    shown = json.loads(cli("config", "show", *_root(ws), "--format", "json").out)
    assert shown["aws"] == {
        "msg": "********",
        "again": "********",
        "list": "********",
        "from_env": "********",
        "home": "plain",
    }


CASES = [
    ("arabic-digit.toml", "config/dev.toml:2:9: invalid TOML"),
    ("vertical-tab.toml", "config/dev.toml:2:10: invalid TOML"),
    ("duplicate-key.toml", "config/dev.toml:3:11: invalid TOML"),
    ("wrong-type.toml", "config/dev.toml:2:1: http.timeout: 'thirty' is not of type"),
    (
        "cycle.toml",
        "config/dev.toml:2:1: a.b: interpolation cycle: a.b -> a.c -> a.d -> a.b",
    ),
]


@pytest.mark.parametrize(("name", "line"), CASES, ids=[c[0] for c in CASES])
def test_validate_reports_each_bad_case_with_its_position(
    cli, make_workspace, name, line
):
    ws = make_workspace("dev")
    shutil.copy(DATA / "toml" / name, ws.user_config)
    result = cli("config", "validate", *_root(ws))
    assert result.code == 1
    errors = [x for x in result.out.splitlines() if "warning:" not in x]
    assert len(errors) == 1
    assert errors[0].startswith(line)


@pytest.mark.parametrize(
    "name", ["arabic-digit.toml", "vertical-tab.toml", "duplicate-key.toml"]
)
def test_other_commands_refuse_invalid_toml_with_one_line_and_exit_2(
    cli, make_workspace, name
):
    ws = make_workspace("dev")
    shutil.copy(DATA / "toml" / name, ws.user_config)
    before = ws.user_config.read_bytes()
    for argv in (
        ["config", "show"],
        ["config", "hierarchy"],
        ["config", "merge", "--output", "-"],
        ["resolve", "config", "user"],
        ["resolve", "config", "merged"],
    ):
        result = cli(*argv, *_root(ws))
        assert result.code == 2
        assert result.err.count("\n") == 1
        assert "config/dev.toml:" in result.err and "Traceback" not in result.err
    assert ws.user_config.read_bytes() == before


@pytest.mark.parametrize(
    ("name", "key", "value"),
    [
        ("escape.toml", ("shell", "prompt"), "${HOME} is literal"),
        ("unknown-namespace.toml", ("git", "msg"), "[dev] ${change.type}"),
        ("bom.toml", ("core", "name"), "bom"),
    ],
    ids=["escape", "unknown-namespace", "bom"],
)
def test_valid_cases_resolve_as_written(cli, make_workspace, name, key, value):
    ws = make_workspace("dev")
    shutil.copy(DATA / "toml" / name, ws.user_config)
    result = cli("resolve", "config", "user", *_root(ws), "--format", "json")
    assert result.code == 0, result.err
    assert json.loads(result.out)[key[0]][key[1]] == value
    assert cli("config", "validate", *_root(ws)).code == 0


def test_an_interpolation_growing_without_bound_is_one_line(cli, make_workspace):
    ws = make_workspace("dev")
    ws.user_config.write_text(
        "[l]\n"
        + "".join(f'k{i} = "${{l.k{i + 1}}}${{l.k{i + 1}}}"\n' for i in range(40))
        + 'k40 = "x"\n'
    )
    result = cli("config", "show", *_root(ws))
    assert result.code == 2
    assert result.err == (
        "workspace: error: config/dev.toml:21:1: l.k19: expands to more than "
        "1048576 characters (1 MiB), the limit of an interpolated value\n"
    )


def test_validate_warns_about_unknown_sections_without_failing(cli, make_workspace):
    ws = make_workspace("dev")
    shutil.copy(DATA / "toml" / "escape.toml", ws.user_config)
    result = cli("config", "validate", *_root(ws), "--format", "json")
    assert result.code == 0
    report = json.loads(result.out)
    assert report["valid"] is True
    assert report["problems"] == [
        {
            "message": "unknown section [shell]",
            "file": "config/dev.toml",
            "line": 1,
            "column": 1,
            "severity": "warning",
        }
    ]


def test_validate_checks_environment_variables_against_the_schema(
    cli, make_workspace, monkeypatch
):
    ws = make_workspace("dev")
    monkeypatch.setenv("PROVISIONING__HTTP__TIMEOUT", "soon")
    plain = cli("config", "validate", *_root(ws))
    assert plain.code == 0
    result = cli("config", "validate", *_root(ws), "--include-overrides")
    assert result.code == 1
    assert result.out.strip() == (
        "PROVISIONING__HTTP__TIMEOUT: http.timeout: 'soon' is not of type 'integer'"
    )


def test_validate_reads_the_other_environments_defaults_too(cli, make_workspace):
    ws = make_workspace("dev")
    (ws.config_dir / "prod-defaults.toml").write_text("[http]\ntimeout = [\n")
    result = cli("config", "validate", *_root(ws))
    assert result.code == 1
    assert result.out.startswith("config/prod-defaults.toml:3:1: invalid TOML")


def test_hierarchy_shows_origin_and_overridden_values(cli, make_workspace):
    ws = make_workspace("dev")
    result = cli("config", "hierarchy", *_root(ws), "--format", "json")
    keys = {row["key"]: row for row in json.loads(result.out)["keys"]}
    ttl = keys["cache.ttl"]
    assert ttl["value"] == 300
    assert ttl["origin"] == "config/dev-defaults.toml:21"
    assert [o["value"] for o in ttl["overrides"]] == [3600]
    text = cli("config", "hierarchy", *_root(ws)).out
    line = next(x for x in text.splitlines() if x.startswith("cache.ttl "))
    assert "config/dev-defaults.toml:21" in line and "= 3600" in line


def test_hierarchy_gives_the_line_of_a_key_in_an_inline_table(cli, make_workspace):
    ws = make_workspace("dev")
    ws.user_config.write_text("[z]\nt = {x = 1, y = {w = 2}}\n")
    report = json.loads(cli("config", "hierarchy", *_root(ws), "--format", "json").out)
    origins = {row["key"]: row["origin"] for row in report["keys"]}
    assert origins["z.t.x"] == "config/dev.toml:2"
    assert origins["z.t.y.w"] == "config/dev.toml:2"


def test_merge_keeps_comments_and_writes_privately(cli, make_workspace, tmp_path):
    ws = make_workspace("dev")
    ws.workspace_defaults.write_text(
        "# opening block of the file\n\n"
        "[http]\n"
        "# seconds before giving up\n"
        "timeout = 30  # the default\n"
        "retry_count = 3\n"
    )
    ws.user_config.write_text(
        "[http]\n# mine is slower\ntimeout = 90  # slow network\n"
        '[paths]\n# Custom paths for this user\ntemplates = "~/t"\n'
    )
    target = tmp_path / "out" / "merged.toml"
    target.parent.mkdir()
    result = cli("config", "merge", *_root(ws), "--output", target)
    assert result.code == 0, result.err
    text = target.read_text()
    assert "# mine is slower\ntimeout = 90  # slow network\nretry_count = 3" in text
    assert '# Custom paths for this user\ntemplates = "~/t"' in text
    assert "opening block" not in text
    assert "#   user: config/dev.toml" in text
    assert tomllib.loads(text)["http"] == {
        "use_curl": False,
        "timeout": 90,
        "retry_count": 3,
    }
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["merged.toml"]


def test_merge_writes_expanded_values(cli, make_workspace, tmp_path):
    ws = make_workspace("dev")
    target = tmp_path / "merged.toml"
    cli("config", "merge", *_root(ws), "--output", target)
    values = tomllib.loads(target.read_text())
    assert values["paths"]["templates"] == f"{ws.root}/extensions"


@pytest.mark.parametrize("kind", ["link-to-file", "link-to-nothing", "link-to-folder"])
def test_merge_never_replaces_a_link(cli, make_workspace, tmp_path, kind):
    ws = make_workspace("dev")
    pointed = tmp_path / "real.toml"
    if kind == "link-to-file":
        pointed.write_text("kept = true\n")
    elif kind == "link-to-folder":
        pointed.mkdir()
    link = tmp_path / "link.toml"
    link.symlink_to(pointed)
    result = cli("config", "merge", *_root(ws), "--output", link)
    assert result.code == 2
    assert result.err == (
        f"workspace: error: --output: {link} is a symbolic link (to {pointed}) "
        "and is never replaced; give the file it leads to, or a new name\n"
    )
    assert link.is_symlink() and os.readlink(link) == str(pointed)
    if kind == "link-to-file":
        assert pointed.read_text() == "kept = true\n"


def _fifo_reader(path: Path) -> tuple[threading.Thread, list[bytes]]:
    """Read the fifo ``path`` in a thread; the list holds what it read."""
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(path.read_bytes()))
    reader.start()
    return reader, got


@pytest.mark.parametrize("through_link", [False, True], ids=["fifo", "link-to-fifo"])
def test_merge_writes_into_a_fifo_in_place(cli, make_workspace, tmp_path, through_link):
    ws = make_workspace("dev")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    target = fifo
    if through_link:
        target = tmp_path / "to-pipe"
        target.symlink_to(fifo)
    reader, got = _fifo_reader(fifo)
    result = cli("config", "merge", *_root(ws), "--output", target)
    reader.join(timeout=30)
    assert result.code == 0, result.err
    assert tomllib.loads(got[0].decode())["http"]["timeout"] == 30
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert target.is_symlink() == through_link


def test_merge_writes_into_a_character_device_and_keeps_it(cli, make_workspace):
    ws = make_workspace("dev")
    result = cli("config", "merge", *_root(ws), "--output", os.devnull)
    assert result.code == 0, result.err
    assert result.out == f"merged 3 layers into {os.devnull}\n"
    assert stat.S_ISCHR(os.lstat(os.devnull).st_mode)


def test_merge_dash_prints_the_toml_on_standard_output(cli, make_workspace, tmp_path):
    ws = make_workspace("dev")
    result = cli("config", "merge", *_root(ws), "--output", "-", cwd=tmp_path)
    assert result.code == 0, result.err
    assert tomllib.loads(result.out)["http"]["timeout"] == 30
    assert result.err == "merged 3 layers into standard output\n"
    assert not (tmp_path / "-").exists()
    refused = cli("config", "merge", *_root(ws), "--output", "-", "--format", "json")
    assert refused.code == 2
    assert refused.err.startswith("workspace: error: --output -:")
    assert refused.out == ""


def test_merge_to_the_file_standard_output_goes_to_prints_there(
    make_workspace, tmp_path
):
    ws = make_workspace("dev")
    target = tmp_path / "out.toml"
    script = Path(sys.executable).parent / "workspace"
    with target.open("wb") as stdout:
        done = subprocess.run(
            [script, "config", "merge", *_root(ws), "--output", target],
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
        )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "merged 3 layers into standard output\n"
    assert tomllib.loads(target.read_text())["http"]["timeout"] == 30


def test_resolve_path_create_missing_keeps_a_link_to_nothing(
    cli, make_workspace, tmp_path
):
    ws = make_workspace("dev")
    ws.user_config.unlink()
    ws.user_config.symlink_to(tmp_path / "gone.toml")
    result = cli("resolve", "path", "config", "user", *_root(ws), "--create-missing")
    assert result.code == 2
    assert result.err.startswith(
        f"workspace: error: --create-missing: {ws.user_config}"
    )
    assert ws.user_config.is_symlink()
    assert not (tmp_path / "gone.toml").exists()


def _editor(tmp_path: Path, body: str) -> str:
    script = tmp_path / "editor.py"
    script.write_text(
        f"import sys\nopen(sys.argv[1], 'w', encoding='utf-8').write({body!r})\n"
    )
    return f"{sys.executable} {script}"


def test_edit_keeps_a_valid_result(cli, make_workspace, tmp_path, monkeypatch):
    ws = make_workspace("dev")
    monkeypatch.setenv("EDITOR", _editor(tmp_path, "[http]\ntimeout = 5\n"))
    result = cli("config", "edit", *_root(ws))
    assert result.code == 0, result.err
    assert ws.user_config.read_text() == "[http]\ntimeout = 5\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[http]\ntimeout = 5\ntimeout = 6\n", "config/dev.toml:3:12: invalid TOML"),
        ('[http]\ntimeout = "thirty"\n', "config/dev.toml:2:1: http.timeout:"),
        ('[a]\nb = "${a.b}"\n', "config/dev.toml:2:1: a.b: interpolation cycle"),
    ],
    ids=["syntax", "type", "cycle"],
)
def test_edit_restores_the_previous_file_when_invalid(
    cli, make_workspace, tmp_path, monkeypatch, body, message
):
    ws = make_workspace("dev")
    before = ws.user_config.read_bytes()
    monkeypatch.setenv("VISUAL", _editor(tmp_path, body))
    monkeypatch.setenv("EDITOR", "false")
    result = cli("config", "edit", *_root(ws))
    assert result.code == 2
    assert message in result.err
    assert "was not changed" in result.err
    assert ws.user_config.read_bytes() == before


def _script_editor(tmp_path: Path, body: str) -> str:
    """Return an editor command running the Python ``body`` (argv[1]: the file)."""
    script = tmp_path / "editor.py"
    script.write_text("import os, sys, time\npath = sys.argv[1]\n" + body)
    return f"{sys.executable} {script}"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            "open(path, 'w').write('x = 1\\n')\nsys.exit(3)\n",
            "the editor exited with status 3",
        ),
        ("os.remove(path)\n", "the edited copy was deleted"),
        ("open(path, 'w').write(' \\n')\n", "the edited copy is empty"),
    ],
    ids=["editor-fails", "deleted", "emptied"],
)
def test_edit_dropped_without_validating_keeps_the_file(
    cli, make_workspace, tmp_path, monkeypatch, body, reason
):
    ws = make_workspace("dev")
    before = ws.user_config.read_bytes()
    monkeypatch.setenv("EDITOR", _script_editor(tmp_path, body))
    result = cli("config", "edit", *_root(ws))
    assert result.code == 2
    assert result.err == f"workspace: error: {reason}; nothing changed\n"
    assert ws.user_config.read_bytes() == before
    assert list((ws.workspace_data_dir / "tmp").iterdir()) == []


def test_edit_gives_the_editor_a_copy_never_the_file(
    cli, make_workspace, tmp_path, monkeypatch
):
    ws = make_workspace("dev")
    before = ws.user_config.read_bytes()
    seen, info = tmp_path / "seen", tmp_path / "info"
    body = (
        "open(path, 'w').write('[http]\\ntimeout = 5\\n')\n"
        f"real = open({str(ws.user_config)!r}, 'rb').read()\n"
        f"open({str(seen)!r}, 'wb').write(real)\n"
        "mode = oct(os.stat(path).st_mode & 0o777)\n"
        f"open({str(info)!r}, 'w').write(mode + ' ' + path)\n"
    )
    monkeypatch.setenv("EDITOR", _script_editor(tmp_path, body))
    result = cli("config", "edit", *_root(ws))
    assert result.code == 0, result.err
    assert seen.read_bytes() == before
    mode, copy = info.read_text().split()
    assert mode == "0o600" and Path(copy).name == "dev.toml"
    assert Path(copy).parent.parent == ws.workspace_data_dir / "tmp"
    assert ws.user_config.read_text() == "[http]\ntimeout = 5\n"
    assert result.out == f"saved {ws.user_config}\n"
    assert list((ws.workspace_data_dir / "tmp").iterdir()) == []


def test_edit_without_changes_leaves_the_file_alone(
    cli, make_workspace, tmp_path, monkeypatch
):
    ws = make_workspace("dev")
    os.utime(ws.user_config, ns=(1, 1))
    monkeypatch.setenv("EDITOR", _script_editor(tmp_path, ""))
    result = cli("config", "edit", *_root(ws))
    assert result.code == 0, result.err
    assert result.out == f"{ws.user_config}: no changes\n"
    assert ws.user_config.stat().st_mtime_ns == 1


def test_edit_refuses_a_link_and_keeps_it(cli, make_workspace, tmp_path, monkeypatch):
    ws = make_workspace("dev")
    real = tmp_path / "mine.toml"
    real.write_bytes(ws.user_config.read_bytes())
    ws.user_config.unlink()
    ws.user_config.symlink_to(real)
    monkeypatch.setenv("EDITOR", _editor(tmp_path, "[http]\ntimeout = 5\n"))
    result = cli("config", "edit", *_root(ws))
    assert result.code == 2
    assert "is a symbolic link, not a regular file" in result.err
    assert ws.user_config.is_symlink()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["TERM", "HUP"])
def test_a_signal_during_the_edit_leaves_the_file_untouched(
    make_workspace, tmp_path, signum
):
    ws = make_workspace("dev")
    before = ws.user_config.read_bytes()
    ready = tmp_path / "ready"
    body = (
        "open(path, 'w').write('broken = \\n')\n"
        f"open({str(ready)!r}, 'w').close()\n"
        "time.sleep(60)\n"
    )
    env = {**os.environ, "EDITOR": _script_editor(tmp_path, body)}
    script = Path(sys.executable).parent / "workspace"
    process = subprocess.Popen(
        [script, "config", "edit", *_root(ws)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for _ in range(1000):
        if ready.exists():
            break
        time.sleep(0.01)
    process.send_signal(signum)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 128 + signum
    name = signal.Signals(signum).name
    assert err == (
        f"workspace: error: stopped by {name} while the editor ran; "
        "nothing was changed\n"
    )
    assert ws.user_config.read_bytes() == before
    assert list((ws.workspace_data_dir / "tmp").iterdir()) == []


def test_edit_creates_the_file_from_the_example_first(
    cli, make_workspace, tmp_path, monkeypatch
):
    ws = make_workspace("dev")
    ws.user_config.unlink()
    seen = tmp_path / "seen.toml"
    script = tmp_path / "editor.py"
    # The editor copies what it was given aside, so the test can see it.
    script.write_text(f"import shutil, sys\nshutil.copy(sys.argv[1], {str(seen)!r})\n")
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    result = cli("config", "edit", *_root(ws))
    assert result.code == 0, result.err
    example = (ws.config_dir / "local-overrides.toml.example").read_bytes()
    assert seen.read_bytes() == example
    assert ws.user_config.read_bytes() == example


def test_edit_removes_a_created_file_when_invalid(
    cli, make_workspace, tmp_path, monkeypatch
):
    ws = make_workspace("dev")
    ws.user_config.unlink()
    monkeypatch.setenv("EDITOR", _editor(tmp_path, "broken = \n"))
    result = cli("config", "edit", *_root(ws))
    assert result.code == 2
    assert not ws.user_config.exists()


def test_edit_without_an_editor_is_a_usage_error(cli, make_workspace):
    ws = make_workspace("dev")
    result = cli("config", "edit", *_root(ws))
    assert result.code == 2
    assert "set VISUAL or EDITOR" in result.err


def test_resolve_config_names(cli, make_workspace):
    ws = make_workspace("dev")
    testing = json.loads(
        cli("resolve", "config", "testing", *_root(ws), "--format", "json").out
    )
    assert testing["http"]["timeout"] == 10
    bad = cli("resolve", "config", "staging", *_root(ws))
    assert bad.code == 2
    assert "invalid choice: 'staging'" in bad.err


@pytest.mark.parametrize(
    ("name", "relpath"),
    [
        ("user", "config/dev.toml"),
        ("development", "config/dev-defaults.toml"),
        ("testing", "config/test-defaults.toml"),
        ("production", "config/prod-defaults.toml"),
    ],
    ids=["user", "development", "testing", "production"],
)
def test_resolve_path_knows_config_names(cli, make_workspace, name, relpath):
    ws = make_workspace("dev")
    result = cli("resolve", "path", "config", name, *_root(ws))
    assert result.code == 0, result.err
    assert result.out.strip() == str(ws.root / relpath)


def test_resolve_path_config_creates_missing_files(cli, make_workspace):
    ws = make_workspace("dev")
    ws.user_config.unlink()
    missing = cli("resolve", "path", "config", "user", *_root(ws))
    assert missing.code == 2
    assert "--create-missing" in missing.err
    created = cli("resolve", "path", "config", "user", *_root(ws), "--create-missing")
    assert created.code == 0
    assert (
        ws.user_config.read_bytes()
        == (ws.config_dir / "local-overrides.toml.example").read_bytes()
    )
    merged = cli("resolve", "path", "config", "merged", *_root(ws), "--create-missing")
    assert merged.out.strip() == str(ws.merged_config)
    assert tomllib.loads(ws.merged_config.read_text())["http"]["timeout"] == 30
    assert os.path.isfile(ws.merged_config)


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("config", "--output: config is a folder; give a file name"),
        ("no/such/dir/m.toml", "--output: the folder no/such/dir does not exist"),
    ],
    ids=["folder", "missing-folder"],
)
def test_merge_refuses_an_output_it_cannot_write(cli, make_workspace, where, message):
    ws = make_workspace("dev")
    result = cli("config", "merge", *_root(ws), "--output", where, cwd=ws.root)
    assert result.code == 2
    assert result.err == f"workspace: error: {message}\n"
    assert not (ws.root / "no").exists()


@pytest.mark.parametrize(
    ("action", "code", "line"),
    [
        ("show", 2, "error: config/dev.toml: is a folder, not a regular file"),
        ("validate", 1, "config/dev.toml: is a folder, not a regular file"),
        ("edit", 2, "is a folder, not a regular file; nothing was changed"),
    ],
    ids=["show", "validate", "edit"],
)
def test_a_user_file_that_is_a_folder_is_one_line(
    cli, make_workspace, monkeypatch, action, code, line
):
    ws = make_workspace("dev")
    ws.user_config.unlink()
    ws.user_config.mkdir()
    monkeypatch.setenv("EDITOR", "true")
    result = cli("config", action, *_root(ws))
    assert result.code == code
    assert line in result.out + result.err
    assert "unexpected" not in result.err
    assert ws.user_config.is_dir()


@pytest.mark.parametrize(
    "argv",
    [("config", "show"), ("config", "validate"), ("status",), ("list",)],
    ids=["show", "validate", "status", "list"],
)
def test_a_missing_core_root_is_a_usage_error(
    cli, make_workspace, monkeypatch, tmp_path, argv
):
    ws = make_workspace("dev")
    monkeypatch.setenv("PROVISIONING_CORE_ROOT", str(tmp_path / "no-core"))
    result = cli(*argv, cwd=ws.root)
    assert result.code == 2
    assert result.err == (
        f"workspace: error: PROVISIONING_CORE_ROOT: {tmp_path / 'no-core'} "
        "is not a folder\n"
    )


def test_a_core_root_without_defaults_is_a_usage_error(
    cli, make_workspace, monkeypatch, tmp_path
):
    ws = make_workspace("dev")
    (tmp_path / "core" / "config").mkdir(parents=True)
    monkeypatch.setenv("PROVISIONING_CORE_ROOT", str(tmp_path / "core"))
    result = cli("config", "show", cwd=ws.root)
    assert result.code == 2
    assert "PROVISIONING_CORE_ROOT" in result.err
    assert "has no config/config.defaults.toml" in result.err


def _copied_core(tmp_path: Path) -> Path:
    from workspace_tasks.context import default_core_root

    core = tmp_path / "core"
    shutil.copytree(default_core_root({}) / "config", core / "config")
    return core


def test_a_broken_schema_is_reported_at_its_line_and_column(
    cli, make_workspace, monkeypatch, tmp_path
):
    ws = make_workspace("dev")
    core = _copied_core(tmp_path)
    (core / "config" / "config.schema.json").write_text('{\n  "type": ,\n}\n')
    monkeypatch.setenv("PROVISIONING_CORE_ROOT", str(core))
    result = cli("config", "validate", cwd=ws.root)
    assert result.code == 2
    schema = core / "config" / "config.schema.json"
    assert result.err == (
        f"workspace: error: {schema}:2:11: invalid JSON: Expecting value\n"
    )


def test_values_nested_too_deep_are_a_problem_of_the_file(cli, make_workspace):
    ws = make_workspace("dev")
    ws.user_config.write_text("[http]\na = " + "[" * 5000 + "]" * 5000 + "\n")
    shown = cli("config", "show", *_root(ws))
    assert shown.code == 2
    # http.a is level 2, so its 100th bracket opens level 101.
    message = "config/dev.toml:2:104: nesting too deep (more than 100 levels)"
    assert shown.err == f"workspace: error: {message}\n"
    checked = cli("config", "validate", *_root(ws))
    assert (checked.code, checked.out) == (1, f"{message}\n")


def test_edit_of_an_unwritable_file_changes_nothing(
    cli, make_workspace, tmp_path, monkeypatch, immutable
):
    ws = make_workspace("dev")
    before = ws.user_config.read_bytes()
    immutable(ws.user_config)
    monkeypatch.setenv("EDITOR", _editor(tmp_path, "[http]\ntimeout = 5\n"))
    result = cli("config", "edit", *_root(ws))
    assert result.code == 2
    assert result.err == (
        f"workspace: error: {ws.user_config}: cannot be written; nothing was changed\n"
    )
    assert ws.user_config.read_bytes() == before


@pytest.mark.parametrize(
    ("raw", "shown"),
    [("nan", "nan"), ("inf", "inf"), ("-inf", "-inf"), ("1e400", "inf")],
    ids=["nan", "inf", "minus-inf", "overflow"],
)
def test_json_output_is_strict_for_non_finite_numbers(
    cli, make_workspace, monkeypatch, raw, shown
):
    ws = make_workspace("dev")
    monkeypatch.setenv("PROVISIONING__CACHE__TTL", raw)
    flags = (*_root(ws), "--include-overrides", "--format", "json")
    values = json.loads(cli("config", "show", *flags).out, parse_constant=_refuse)
    assert values["cache"]["ttl"] == shown
    report = json.loads(cli("config", "hierarchy", *flags).out, parse_constant=_refuse)
    row = next(row for row in report["keys"] if row["key"] == "cache.ttl")
    assert (row["value"], row["origin"]) == (shown, "PROVISIONING__CACHE__TTL")


DATES = {
    "x": ("1979-05-27", "1979-05-27"),
    "t": ("07:32:00", "07:32:00"),
    "local": ("1979-05-27T07:32:00", "1979-05-27T07:32:00"),
    "offset": ("1979-05-27T07:32:00-08:00", "1979-05-27T07:32:00-08:00"),
}


@pytest.mark.parametrize(
    "argv",
    [("config", "show"), ("config", "hierarchy"), ("resolve", "config", "merged")],
    ids=["show", "hierarchy", "resolve"],
)
def test_json_output_writes_dates_and_times_as_iso_8601(
    cli, make_workspace, monkeypatch, argv
):
    ws = make_workspace("dev")
    ws.user_config.write_text(
        "[d]\n" + "".join(f"{k} = {raw}\n" for k, (raw, _) in DATES.items())
    )
    monkeypatch.setenv("PROVISIONING__A__B", "1979-05-27")
    flags = (*_root(ws), "--include-overrides", "--format", "json")
    result = cli(*argv, *flags)
    assert result.code == 0, result.err
    data = json.loads(result.out)
    if argv[1] == "hierarchy":
        data = {row["key"]: row["value"] for row in data["keys"]}
        assert data["a.b"] == "1979-05-27"
        assert all(data[f"d.{k}"] == iso for k, (_, iso) in DATES.items())
    else:
        assert data["a"]["b"] == "1979-05-27"
        assert data["d"] == {k: iso for k, (_, iso) in DATES.items()}


def test_hierarchy_text_writes_keys_and_values_as_toml_does(cli, make_workspace):
    ws = make_workspace("dev")
    ws.user_config.write_text(
        '[z]\n"a b" = nan\n"c.d" = 1979-05-27\ns = "q\\"uote"\nt = {x = [1, {y = 2}]}\n'
    )
    text = cli("config", "hierarchy", *_root(ws)).out
    rows = dict(re.split(r"\s{2,}", line)[:2] for line in text.splitlines()[1:])
    assert rows['z."a b"'] == "nan"
    assert rows['z."c.d"'] == "1979-05-27"
    assert rows["z.s"] == '"q\\"uote"'
    assert rows["z.t.x"] == "[1, {y = 2}]"


def _refuse(name: str) -> None:
    raise AssertionError(f"{name} is not JSON")


def test_validate_checks_local_overrides_even_when_not_merged(cli, make_workspace):
    ws = make_workspace("dev")
    ws.local_overrides.write_text("[[\n")
    result = cli("config", "validate", *_root(ws))
    assert result.code == 1
    assert result.out == (
        "config/local-overrides.toml:1:3: invalid TOML: "
        "invalid initial character for a key part\n"
    )
    assert (
        "checked, not merged: config/local-overrides.toml "
        "(merged only with --include-overrides)" in result.err
    )
    report = json.loads(cli("config", "validate", *_root(ws), "--format", "json").out)
    assert {
        "file": "config/local-overrides.toml",
        "why": "merged only with --include-overrides",
    } in report["checked_not_merged"]


def test_the_shipped_schema_is_a_valid_json_schema():
    # Validation trusts the shipped schema without checking it each time.
    from jsonschema import Draft202012Validator

    from workspace_tasks.config_validation import SHIPPED_SCHEMA

    Draft202012Validator.check_schema(json.loads(SHIPPED_SCHEMA.read_text()))


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('encrypt = "yes"', "backup.encrypt"),
        ("dir = 7", "backup.dir"),
        ("identity_file = []", "backup.identity_file"),
    ],
    ids=["encrypt", "dir", "identity-file"],
)
def test_validate_knows_the_types_of_the_backup_settings(
    cli, make_workspace, line, key
):
    ws = make_workspace("dev")
    with ws.user_config.open("a") as handle:
        handle.write(f"\n[backup]\n{line}\n")
    number = len(ws.user_config.read_text().splitlines())

    result = cli("config", "validate", *_root(ws))

    assert result.code == 1
    assert f"config/dev.toml:{number}:1: {key}: " in result.out


FIFO_READERS = {
    "show": (("config", "show"), 2),
    "hierarchy": (("config", "hierarchy"), 2),
    "merge": (("config", "merge", "--output", "-"), 2),
    "resolve": (("resolve", "config", "user"), 2),
    "edit": (("config", "edit"), 2),
    "validate": (("config", "validate"), 1),
    "check-config": (("health", "check-config"), 1),
}


@pytest.mark.parametrize(
    ("argv", "code"), FIFO_READERS.values(), ids=FIFO_READERS.keys()
)
def test_a_fifo_at_the_user_file_is_named_not_waited_on(
    cli, make_workspace, monkeypatch, argv, code
):
    ws = make_workspace("dev")
    ws.user_config.unlink()
    os.mkfifo(ws.user_config)
    monkeypatch.setenv("EDITOR", "true")
    result = cli(*argv, *_root(ws))
    assert result.code == code
    assert "config/dev.toml: is a fifo, not a regular file" in result.out + result.err
    assert "unexpected" not in result.err
    assert stat.S_ISFIFO(os.lstat(ws.user_config).st_mode)


def test_a_link_to_dev_zero_is_refused_not_read(cli, make_workspace):
    ws = make_workspace("dev")
    ws.user_config.unlink()
    ws.user_config.symlink_to("/dev/zero")
    result = cli("config", "show", *_root(ws))
    assert result.code == 2
    assert result.err == (
        "workspace: error: config/dev.toml: is a character device, not a regular file\n"
    )
    assert cli("status", *_root(ws)).code == 0


def test_a_layer_past_the_size_limit_is_refused(cli, make_workspace):
    ws = make_workspace("dev")
    with ws.user_config.open("a") as handle:
        handle.write("#" * (16 * 1024 * 1024) + "\n")
    result = cli("config", "show", *_root(ws))
    assert result.code == 2
    assert "config/dev.toml: is larger than 16 MiB" in result.err


def _odd_root_workspace(cli, tmp_path):
    """Initialise a workspace whose path holds a newline, ESC and the byte 0xff."""
    root = tmp_path / os.fsdecode(b"w\nx\x1b[31my\xffz")
    assert cli("init", "--root", root, "--user-name", "u").code == 0
    return root


def test_a_root_that_is_not_utf8_shows_as_valid_toml_and_json(cli, tmp_path):
    root = _odd_root_workspace(cli, tmp_path)
    argv = ("--root", root, "--workspace-user", "u")
    extensions = f"{root}/extensions"

    shown = cli("config", "show", *argv)
    assert shown.code == 0, shown.err
    assert shown.err == ""
    visible = extensions.replace("\udcff", "\\377")
    assert tomllib.loads(shown.out)["paths"]["extensions"] == visible

    as_json = cli("config", "show", *argv, "--format", "json")
    assert "\\udcff" in as_json.out
    assert json.loads(as_json.out)["paths"]["extensions"] == extensions

    target = tmp_path / "merged.toml"
    merged = cli("config", "merge", *argv, "--output", target)
    assert merged.code == 0, merged.err
    assert tomllib.loads(target.read_text())["paths"]["extensions"] == visible


def test_a_root_that_is_not_utf8_keeps_its_log_and_an_exact_reading(cli, tmp_path):
    from workspace_tasks.cascade import cache_is_fresh
    from workspace_tasks.config_ops import write_cache
    from workspace_tasks.context import default_core_root, load_workspace
    from workspace_tasks.settings import setting

    root = _odd_root_workspace(cli, tmp_path)
    assert cli("status", "--root", root, "--workspace-user", "u").err == ""
    log_file = root / "runtime" / "logs" / "u" / "provisioning.log"
    assert os.fsencode(root) in log_file.read_bytes()

    ws = load_workspace(root, "u", default_core_root({}), {})
    write_cache(ws)
    assert not cache_is_fresh(ws)  # the cache cannot hold the byte: merge anew
    assert setting(ws, "paths.extensions") == f"{root}/extensions"


def test_a_table_header_nested_too_deep_is_placed_at_its_line(cli, make_workspace):
    ws = make_workspace("dev")
    before = ws.user_config.read_text()
    lines = before.count("\n")
    header = "[" + ".".join(["a"] * 150) + "]"
    ws.user_config.write_text(f"{before}{header}\n")
    shown = cli("config", "show", *_root(ws))
    assert shown.code == 2
    # The 101st part of the header, at column 2 + 100 * 2.
    message = (
        f"config/dev.toml:{lines + 1}:202: nesting too deep (more than 100 levels)"
    )
    assert shown.err == f"workspace: error: {message}\n"


DEEP_VALUE = "[" * 1000 + "]" * 1000
DEEP_MESSAGE = "PROVISIONING__A:1:101: nesting too deep (more than 100 levels)"


@pytest.mark.parametrize("action", ["show", "hierarchy", "merge"])
def test_an_override_variable_nested_too_deep_is_one_line(
    cli, make_workspace, monkeypatch, action
):
    ws = make_workspace("dev")
    monkeypatch.setenv("PROVISIONING__A", DEEP_VALUE)
    extra = ["--output", "-"] if action == "merge" else []
    result = cli("config", action, *_root(ws), "--include-overrides", *extra)
    assert result.code == 2
    assert result.err == f"workspace: error: {DEEP_MESSAGE}\n"


def test_validate_lists_an_override_variable_nested_too_deep(
    cli, make_workspace, monkeypatch
):
    ws = make_workspace("dev")
    monkeypatch.setenv("PROVISIONING__A", DEEP_VALUE)
    result = cli("config", "validate", *_root(ws), "--include-overrides")
    assert (result.code, result.out) == (1, f"{DEEP_MESSAGE}\n")
    assert cli("config", "show", *_root(ws)).code == 0  # not merged without the flag


BROKEN_REFERENCES = {
    "cycle": '[x]\na = "${x.b}"\nb = "${x.a}"\n',
    "missing-key": '[x]\na = "${x.nothing}"\n',
    "unset-variable": '[x]\na = "${env.WORKSPACE_TESTS_UNSET}"\n',
    "doubling": '[x]\nv0 = "aaaaaaaa"\n'
    + "".join(f'v{n} = "${{x.v{n - 1}}}${{x.v{n - 1}}}"\n' for n in range(1, 21)),
}


@pytest.mark.parametrize("text", BROKEN_REFERENCES.values(), ids=BROKEN_REFERENCES)
def test_hierarchy_stops_on_a_broken_reference_as_show_does(cli, make_workspace, text):
    ws = make_workspace("dev")
    with ws.user_config.open("a") as handle:
        handle.write(text)
    shown = cli("config", "show", *_root(ws))
    hierarchy = cli("config", "hierarchy", *_root(ws))
    assert shown.code == hierarchy.code == 2
    assert hierarchy.err == shown.err
    assert hierarchy.err.startswith("workspace: error: config/dev.toml:")
    assert ": x." in hierarchy.err
    assert hierarchy.out == ""


@pytest.fixture
def config_linked_out(make_workspace, tmp_path):
    """A workspace whose config/ is a link to a folder outside it, minus dev.toml."""
    ws = make_workspace("dev")
    outside = tmp_path / "out" / "config"
    outside.parent.mkdir()
    ws.config_dir.rename(outside)
    ws.config_dir.symlink_to(outside)
    (outside / "dev.toml").unlink()
    return ws, outside


@pytest.mark.parametrize(
    ("name", "file"),
    [("user", "dev.toml"), ("development", "dev-defaults.toml")],
    ids=["user", "development"],
)
def test_create_missing_never_writes_through_a_config_link_leading_out(
    cli, config_linked_out, name, file
):
    ws, outside = config_linked_out
    if name == "development":
        (outside / file).unlink()
    result = cli("resolve", "path", "config", name, *_root(ws), "--create-missing")
    assert result.code == 2
    assert result.err == (
        f"workspace: error: refusing to write {ws.config_dir / file}: a link on "
        f"the way leads outside {ws.root} (to {outside / file})\n"
    )
    assert not (outside / file).exists()


def test_edit_never_writes_through_a_config_link_leading_out(
    cli, config_linked_out, tmp_path, monkeypatch
):
    ws, outside = config_linked_out
    monkeypatch.setenv("EDITOR", _editor(tmp_path, "[http]\ntimeout = 5\n"))
    result = cli("config", "edit", *_root(ws))
    assert result.code == 2
    assert "a link on the way leads outside" in result.err
    assert result.err.endswith("; nothing was changed\n")
    assert not (outside / "dev.toml").exists()


@pytest.mark.parametrize("variable", ["VISUAL", "EDITOR"])
def test_an_editor_variable_that_does_not_split_is_one_line(
    cli, make_workspace, monkeypatch, variable
):
    ws = make_workspace("dev")
    before = ws.user_config.read_bytes()
    monkeypatch.setenv(variable, '"x')
    result = cli("config", "edit", *_root(ws))
    assert result.code == 2
    assert result.err == (
        f"workspace: error: {variable}: '\"x' is not a command line (no closing "
        "quotation); nothing was changed\n"
    )
    assert ws.user_config.read_bytes() == before


SECRET_LOOKING = [
    "passphrase", "pwd", "bearer", "session_cookie", "cookie", "credentials",
    "private_key", "api_key", "apiKey", "auth", "dsn", "access_key", "db_pass",
]  # fmt: skip
NOT_SECRET = ["passphrase_env", "identity_file", "author", "keep_last", "monkey"]


def test_every_secret_looking_key_is_redacted_and_no_other(cli, make_workspace):
    ws = make_workspace("dev")
    keys = SECRET_LOOKING + NOT_SECRET
    with ws.user_config.open("a") as handle:
        handle.write("[x]\n" + "".join(f'{key} = "v-{key}"\n' for key in keys))
    shown = json.loads(cli("config", "show", *_root(ws), "--format", "json").out)
    assert shown["x"] == {
        **{key: "********" for key in SECRET_LOOKING},
        **{key: f"v-{key}" for key in NOT_SECRET},
    }


def test_validate_warns_of_workspace_keys_that_disagree_with_the_workspace(
    cli, make_workspace
):
    ws = make_workspace("dev")
    text = ws.user_config.read_text()
    text = text.replace('user = "dev"', 'user = "mallory"')
    text = text.replace('type = "development"', 'type = "production"')
    ws.user_config.write_text(text)
    lines = text.split("\n")
    user_line = lines.index('user = "mallory"') + 1
    type_line = lines.index('type = "production"') + 1

    result = cli("config", "validate", *_root(ws))
    shown = cli("config", "show", *_root(ws), "--format", "json")

    assert result.code == 0
    assert result.out == (
        f"config/dev.toml:{user_line}:1: warning: workspace.user = 'mallory' "
        "disagrees with the user these settings are read for ('dev'), which "
        "every command uses and ${workspace.user} expands to\n"
        f"config/dev.toml:{type_line}:1: warning: workspace.type = 'production' "
        "disagrees with the workspace's type (runtime settings or marker) "
        "('development'), which every command uses and ${workspace.type} "
        "expands to\n"
    )
    assert json.loads(shown.out)["core"]["name"] == "provisioning-dev"
