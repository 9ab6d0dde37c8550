"""The output module: names and paths printed as text never carry controls."""

from __future__ import annotations

import json

import pytest

from workspace_tasks import output
from workspace_tasks.output import shown
from workspace_tasks.text import quoted

SHOWN = {
    "plain": ("infra/dev/my infra", "infra/dev/my infra"),
    "newline": ("a\nb", "a\\nb"),
    "carriage-return": ("a\rb", "a\\rb"),
    "escape": ("\x1b[31mred", "\\033[31mred"),
    "nul": ("a\0b", "a\\000b"),
    "delete": ("a\x7fb", "a\\177b"),
    "c1-csi": ("a\x9bb", "a\\302\\233b"),
    "raw-byte": (b"a\xffb".decode("utf-8", "surrogateescape"), "a\\377b"),
    "lone-surrogate": ("a\ud800b", "a\\ud800b"),
    "tab-kept": ("a\tb", "a\tb"),
    "unicode-kept": ("café ✓", "café ✓"),
}


@pytest.mark.parametrize(("text", "expected"), SHOWN.values(), ids=SHOWN.keys())
def test_control_characters_are_escaped(text, expected):
    assert shown(text) == expected


def test_lines_tables_and_messages_are_escaped(capsys):
    output.print_line("one\ntwo")
    output.print_table(["name"], [["x\x1b[2Jy"]], title="t\n")
    output.warn("bad\rname")
    captured = capsys.readouterr()
    assert captured.out == "one\\ntwo\nt\\n\nname     \nx\\033[2Jy\n"
    assert captured.err == "workspace: warning: bad\\rname\n"


def test_json_is_left_to_json(capsys):
    output.print_json({"path": "a\nb\x9b"})
    output.print_json_line({"path": "a\nb\x9b"})
    out = capsys.readouterr().out
    documents = [
        json.loads(out[: out.index("}") + 1]),
        json.loads(out.splitlines()[-1]),
    ]
    assert documents == [{"path": "a\nb\x9b"}] * 2


def test_a_block_keeps_its_line_breaks_only(capsys):
    output.print_block("[a]\nb = 1\x1b\n")
    assert capsys.readouterr().out == "[a]\nb = 1\\033\n"


def test_a_block_on_standard_error_keeps_its_line_breaks_only(capsys):
    output.note_block("E   assert 1 == 2\nFAILED x\x1b[31m\n")
    assert capsys.readouterr().err == "E   assert 1 == 2\nFAILED x\\033[31m\n"


def test_a_forged_line_in_a_link_target_stays_on_its_line(workspace, cli):
    forged = "/x\n[directories] Fixed: everything fine"
    (workspace.infra_dir / "dev" / "evil").symlink_to(forged)
    (workspace.infra_dir / "dev" / "\x1b[31mred").symlink_to("\x1b[31mred")

    text = cli("health", "check-directories", "--root", workspace.root)
    data = cli(
        "health", "check-directories", "--root", workspace.root, "--format", "json"
    )

    assert text.code == 1
    assert "\x1b" not in text.out
    assert "\n[directories]" not in text.out
    assert (
        "  Broken symlink infra/dev/evil -> /x\\n[directories] Fixed: everything fine\n"
        in text.out
    )
    issues = json.loads(data.out)["workspace_health"]["checks"]["directories"]
    assert f"Broken symlink infra/dev/evil -> {forged}" in issues["issues"]


def test_backup_contents_and_restore_plan_show_names_escaped(workspace, cli):
    names = ["a\nb", "\x1b[31mx", b"\xff".decode("utf-8", "surrogateescape")]
    for name in names:
        (workspace.infra_dir / "dev" / name).write_text("x")
    assert cli("backup", "--root", workspace.root, "--name", "esc").code == 0

    contents = cli("restore", "--root", workspace.root, "--show-contents",
                   "--backup-name", "esc")  # fmt: skip
    plan = cli("restore", "--root", workspace.root, "--backup-name", "esc",
               "--dry-run")  # fmt: skip

    for result in (contents, plan):
        assert result.code == 0, result.err
        assert "\x1b" not in result.out
        for escaped in ("infra/dev/a\\nb", "infra/dev/\\033[31mx", "infra/dev/\\377"):
            assert escaped in result.out


@pytest.mark.parametrize(("text", "expected"), SHOWN.values(), ids=SHOWN.keys())
def test_quoted_values_escape_as_shown_text_does(text, expected):
    assert quoted(text) == f"'{expected}'"


def test_a_value_in_an_error_and_a_path_in_a_warning_read_alike(cli, make_workspace):
    ws = make_workspace("dev")
    (ws.extension_kind_dir("providers") / "a\x1bb").mkdir()

    refused = cli("init", "--root", ws.root, "--user-name", "a\x1bb")
    listed = cli("list", "--root", ws.root)

    assert refused.err == (
        "workspace: error: --user-name: 'a\\033b' is not a valid name; use "
        "lowercase letters, digits, '-', '_' and '.' ('-' and '.' not first)\n"
    )
    assert "extensions/providers/a\\033b: not a valid name" in listed.err
    assert "\\x1b" not in refused.err + listed.err
