"""Template folders from users: refused in one line, never run, never hang."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import build_tree

# Each hostile folder: a builder (given the folder, the marker file a
# command would touch, and the variable holding the user's name) and what
# the one-line error must name.
Builder = Callable[[Path, Path, str], None]


def _files(spec: dict[str, object]) -> Builder:
    def build(folder: Path, _marker: Path, var: str) -> None:
        build_tree(folder, {k.replace("VAR", var): v for k, v in spec.items()})

    return build


def _fifo(folder: Path, _marker: Path, _var: str) -> None:
    folder.mkdir()
    os.mkfifo(folder / "pipe")


def _dir_link(folder: Path, _marker: Path, _var: str) -> None:
    build_tree(folder, {"real/a.txt": "a\n"})
    (folder / "linked").symlink_to("real")


def _file_link(folder: Path, _marker: Path, _var: str) -> None:
    build_tree(folder, {"real.txt": "a\n"})
    (folder / "linked.txt").symlink_to("real.txt")


def _sandbox(folder: Path, marker: Path, _var: str) -> None:
    command = f"touch {marker}"
    build_tree(
        folder,
        {
            "x.txt.jinja": "{{ cycler.__init__.__globals__.os.popen("
            f"'{command}').read() }}}}\n"
        },
    )


def _name_across_folders(folder: Path, _marker: Path, _var: str) -> None:
    build_tree(folder, {"{{ '/tmp' }}": "x\n"})


HOSTILE = {
    "not-utf8": (
        _files({"a.txt.jinja": b"\xff\xfe{{ VAR }}\n"}),
        ["a.txt.jinja", "UTF-8"],
    ),
    "include": (
        _files({"a.txt.jinja": "x\n{% include 'x' %}\n"}),
        ["a.txt.jinja:2", "include"],
    ),
    "import": (
        _files({"a.txt.jinja": "{% import 'x' as y %}\n"}),
        ["a.txt.jinja:1", "import"],
    ),
    "extends": (
        _files({"a.txt.jinja": "{% extends 'x' %}\n"}),
        ["a.txt.jinja:1", "extends"],
    ),
    "fifo": (_fifo, ["pipe", "FIFO"]),
    "same-path": (_files({"{{ VAR }}": "a\n", "dev": "b\n"}), ["both render to dev"]),
    "file-over-folder": (
        _files({"{{ VAR }}": "a\n", "dev/b.txt": "b\n"}),
        ["needs a folder"],
    ),
    "folder-link": (_dir_link, ["linked", "symbolic link"]),
    "file-link": (_file_link, ["linked.txt", "symbolic link"]),
    "sandbox": (_sandbox, ["x.txt.jinja:1", "unsafe"]),
    "name-across-folders": (_name_across_folders, ["{{ '", "does not render"]),
    "runtime-error": (
        _files({"z.txt.jinja": "a\n{{ 1 / 0 }}\n"}),
        ["z.txt.jinja:2", "division"],
    ),
}


@pytest.mark.parametrize(("build", "expected"), HOSTILE.values(), ids=HOSTILE.keys())
def test_create_extension_refuses_a_hostile_template(
    cli, make_workspace, tmp_path, build, expected
):
    ws = make_workspace()
    template, marker = tmp_path / "template", tmp_path / "pwned"
    build(template, marker, "author")
    kind_dir = ws.user_extensions_dir("providers")

    result = cli(
        "tools", "create-extension", "providers/case", "--template", template,
        "--root", ws.root,
    )  # fmt: skip

    assert result.code == 2, result.err
    assert result.err.count("\n") == 1
    for fragment in expected:
        assert fragment in result.err
    assert "PROVISIONING_DEBUG" not in result.err  # not an unexpected error
    assert list(kind_dir.iterdir()) == []
    assert not marker.exists()


@pytest.mark.parametrize(("build", "expected"), HOSTILE.values(), ids=HOSTILE.keys())
def test_init_refuses_a_hostile_custom_template(cli, tmp_path, build, expected):
    template, marker = tmp_path / "template", tmp_path / "pwned"
    build(template, marker, "user")
    root = tmp_path / "ws"

    result = cli(
        "init", "--root", root, "--template", "custom", "--template-dir", template
    )

    assert result.code == 2, result.err
    assert result.err.count("\n") == 1
    for fragment in expected:
        assert fragment in result.err
    assert not root.exists()
    assert not marker.exists()


def test_custom_file_where_the_shipped_plan_has_a_folder_is_refused(cli, tmp_path):
    template = tmp_path / "template"
    build_tree(template, {"lib": "a file where lib/ goes\n"})
    root = tmp_path / "ws"

    result = cli(
        "init", "--root", root, "--template", "custom", "--template-dir", template
    )

    assert result.code == 2
    assert "renders to the file lib," in result.err
    assert "path_resolver.py needs a folder" in result.err
    assert not root.exists()
