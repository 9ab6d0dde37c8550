"""Strict TOML reading: positions of syntax errors, the BOM, key positions."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from workspace_tasks import tomlfile
from workspace_tasks.errors import FileSyntaxError

DATA = Path(__file__).parent / "data" / "toml"


@pytest.mark.parametrize(
    ("name", "line", "column"),
    [
        ("arabic-digit.toml", 2, 9),
        ("vertical-tab.toml", 2, 10),
        ("duplicate-key.toml", 3, 11),
    ],
    ids=["arabic-digit", "vertical-tab", "duplicate-key"],
)
def test_invalid_toml_names_file_line_and_column(name, line, column):
    with pytest.raises(FileSyntaxError) as caught:
        tomlfile.load(DATA / name, f"config/{name}")
    assert (caught.value.line, caught.value.column) == (line, column)
    assert str(caught.value).startswith(f"config/{name}:{line}:{column}: invalid TOML")


def test_tomlkit_alone_would_accept_what_we_refuse(tmp_path):
    import tomlkit

    # The reason for the strict parse: tomlkit lets this through.
    tomlkit.parse((DATA / "vertical-tab.toml").read_text())
    with pytest.raises(FileSyntaxError):
        tomlfile.load_document(DATA / "vertical-tab.toml")


def test_byte_order_mark_is_accepted():
    assert tomlfile.load(DATA / "bom.toml") == {"core": {"name": "bom"}}


def test_non_utf8_bytes_are_a_syntax_error_with_position(tmp_path):
    bad = tmp_path / "latin.toml"
    bad.write_bytes(b'[core]\nname = "caf\xe9"\n')
    with pytest.raises(FileSyntaxError) as caught:
        tomlfile.load(bad, "latin.toml")
    assert str(caught.value) == "latin.toml:2:12: not valid UTF-8 text"


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("45", 45),
        ("-1", -1),
        ("true", True),
        ("2.5", 2.5),
        ('"quoted"', "quoted"),
        ("00123", "00123"),
        ("plain words", "plain words"),
        ('["a", "b"]', ["a", "b"]),
    ],
    ids=[
        "int",
        "negative",
        "bool",
        "float",
        "string",
        "leading-zeros",
        "text",
        "array",
    ],
)
def test_parse_value_reads_toml_values_and_keeps_other_text(raw, value):
    assert tomlfile.parse_value(raw) == value


def test_key_positions_follow_tables_dotted_keys_and_multiline_values():
    text = (
        "top = 1\n"
        "[http]\n"
        "  timeout = 30 # seconds\n"
        'list = [\n  "x = 1",\n]\n'
        'doc = """\nfake = 2\n"""\n'
        "[a.b]\n"
        'c.d = "e"\n'
        '"quoted key" = 1\n'
    )
    positions = tomlfile.key_positions(text)
    assert positions[("top",)] == (1, 1)
    assert positions[("http", "timeout")] == (3, 3)
    assert positions[("http", "list")] == (4, 1)
    assert ("http", "fake") not in positions
    assert ("x",) not in positions
    assert positions[("a", "b", "c", "d")] == (11, 1)
    assert positions[("a", "b", "quoted key")] == (12, 1)


def test_cases_copied_unchanged(tmp_path):
    copy = tmp_path / "cycle.toml"
    shutil.copy(DATA / "cycle.toml", copy)
    assert tomlfile.load(copy)["a"]["b"] == "${a.c}"


def test_dumps_puts_each_tables_values_before_its_sub_tables():
    values = {"a": {"x": 1}, "top": "t", "b": [{"n": 1}], "c": [1, 2]}
    text = tomlfile.dumps(values)
    assert text == ('top = "t"\nc = [1, 2]\n\n[a]\nx = 1\n\n[[b]]\nn = 1\n')
    assert tomllib.loads(text) == values


def test_add_entries_keeps_a_last_line_without_newline_apart():
    import tomlkit

    first = tomlkit.parse("a = 1")
    document = tomlkit.document()
    tomlfile.add_entries(document, [("a", first["a"]), ("b", 2)], [])
    assert document.as_string() == "a = 1\nb = 2\n"


def test_key_positions_reach_into_inline_tables():
    text = (
        "[z]\n"
        't = {x = 1979-05-27, "a b".c = [1, {q = 2}], s = "}{,", n = {m = 1}}\n'
        "u = 3\n"
    )
    positions = tomlfile.key_positions(text)
    assert positions[("z", "t")] == (2, 1)
    assert positions[("z", "t", "x")] == (2, 6)
    assert positions[("z", "t", "a b", "c")] == (2, 22)
    assert positions[("z", "t", "s")] == (2, 46)
    assert positions[("z", "t", "n", "m")] == (2, 62)
    assert positions[("z", "u")] == (3, 1)


DEEP = "nesting too deep (more than 100 levels)"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("\n" * 24 + "[" + ".".join(["a"] * 150) + "]\n", (25, 202)),
        ("[[" + ".".join(["a"] * 100) + "]]\n", (1, 201)),
        ("\n\n" + ".".join(["k"] * 120) + " = 1\n", (3, 201)),
        ("[" + ".".join(["a"] * 99) + "]\nx = [[1]]\n", (2, 6)),
        ("x = " + "[" * 100 + "1" + "]" * 100, (1, 105)),
        ("x = " + "{a=" * 101 + "1" + "}" * 101, (1, 303)),
        ('x = [\n  """\n[[[[\n""",\n' + "[" * 100 + "]" * 101, (5, 100)),
    ],
    ids=[
        "table-header",
        "array-of-tables",
        "dotted-key",
        "table-then-value",
        "brackets",
        "inline-tables",
        "multi-line-string",
    ],
)
def test_nesting_too_deep_is_placed_where_it_goes_too_deep(text, where):
    with pytest.raises(FileSyntaxError) as caught:
        tomlfile.loads(text, "f.toml")
    assert str(caught.value) == f"f.toml:{where[0]}:{where[1]}: {DEEP}"


def test_nesting_of_exactly_the_limit_is_accepted():
    assert tomlfile.loads("x = " + "[" * 99 + "1" + "]" * 99, "f.toml")
    assert tomlfile.loads("[" + ".".join(["a"] * 99) + "]\nx = 1\n", "f.toml")


def test_a_value_read_from_a_variable_has_the_same_limit():
    with pytest.raises(FileSyntaxError) as caught:
        tomlfile.parse_value("[" * 1000 + "]" * 1000, "PROVISIONING__A", 1)
    assert str(caught.value) == f"PROVISIONING__A:1:101: {DEEP}"
    assert tomlfile.parse_value("[[1]]", "PROVISIONING__A", 98) == [[1]]
