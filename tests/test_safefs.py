"""Safe file operations: nothing written, moved or changed through a link out."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from workspace_tasks import safefs
from workspace_tasks.errors import UnreadableFile, UnsafeOperation


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A folder standing for the allowed root, with a file outside it."""
    (tmp_path / "root").mkdir()
    (tmp_path / "outside.txt").write_text("outside\n")
    return tmp_path / "root"


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_atomic_copy_keeps_data_mode_and_time(root):
    source = root / "a.txt"
    source.write_text("data\n")
    os.chmod(source, 0o640)
    os.utime(source, ns=(1_000_000_000, 2_000_000_000))

    safefs.atomic_copy(source, root / "copies" / "a.txt", root)

    copy = root / "copies" / "a.txt"
    assert copy.read_text() == "data\n"
    assert mode_of(copy) == 0o640
    assert copy.stat().st_mtime_ns == 2_000_000_000
    assert [p.name for p in copy.parent.iterdir()] == ["a.txt"]


def test_atomic_copy_refuses_a_link_as_its_source(root):
    (root / "link.txt").symlink_to(root.parent / "outside.txt")

    with pytest.raises(UnsafeOperation, match="symbolic link"):
        safefs.atomic_copy(root / "link.txt", root / "copy.txt", root)

    assert not (root / "copy.txt").exists()


def test_atomic_copy_replaces_a_link_at_its_target(root):
    (root / "a.txt").write_text("mine\n")
    (root / "copy.txt").symlink_to(root.parent / "outside.txt")

    safefs.atomic_copy(root / "a.txt", root / "copy.txt", root)

    assert (root.parent / "outside.txt").read_text() == "outside\n"
    assert not (root / "copy.txt").is_symlink()
    assert (root / "copy.txt").read_text() == "mine\n"


def test_rename_refuses_a_target_through_a_link_out(root):
    (root / "a.txt").write_text("mine\n")
    (root / "out").symlink_to(root.parent)

    with pytest.raises(UnsafeOperation):
        safefs.rename(root / "a.txt", root / "out" / "a.txt", root)

    assert (root / "a.txt").exists() and not (root.parent / "a.txt").exists()


def test_create_file_never_opens_an_existing_link(root):
    (root / "new").symlink_to(root.parent / "outside.txt")

    with pytest.raises(FileExistsError):
        safefs.create_file(root / "new", root)

    assert (root.parent / "outside.txt").read_text() == "outside\n"


def test_create_file_gets_exactly_its_mode(root):
    old = os.umask(0o077)
    try:
        os.close(safefs.create_file(root / "new", root, 0o644))
    finally:
        os.umask(old)

    assert mode_of(root / "new") == 0o644


def test_make_dirs_gives_new_folders_the_mode_and_keeps_old_ones(root):
    (root / "old").mkdir(mode=0o755)

    created = safefs.make_dirs(root / "old" / "a" / "b", 0o700, root)

    assert created
    assert mode_of(root / "old") == 0o755
    assert mode_of(root / "old" / "a") == mode_of(root / "old" / "a" / "b") == 0o700
    assert not safefs.make_dirs(root / "old" / "a", 0o700, root)


def test_make_dirs_refuses_a_path_through_a_link_out(root):
    (root / "out").symlink_to(root.parent)

    with pytest.raises(UnsafeOperation):
        safefs.make_dirs(root / "out" / "made", root=root)

    assert not (root.parent / "made").exists()


def test_set_mode_refuses_a_link_and_a_link_on_the_way(root):
    outside = root.parent / "outside.txt"
    os.chmod(outside, 0o644)
    (root / "link").symlink_to(outside)
    (root / "way").symlink_to(root.parent)

    with pytest.raises(UnsafeOperation):
        safefs.set_mode(root / "link", 0o600, root)
    with pytest.raises(UnsafeOperation):
        safefs.set_mode(root / "way" / "outside.txt", 0o600, root)

    assert mode_of(outside) == 0o644


def test_set_mode_changes_mode_and_time_inside(root):
    (root / "a" / "b").mkdir(parents=True)

    safefs.set_mode(root / "a" / "b", 0o750, root, mtime_ns=3_000_000_000)

    assert mode_of(root / "a" / "b") == 0o750
    assert (root / "a" / "b").stat().st_mtime_ns == 3_000_000_000


def test_set_folder_modes_sets_every_folder_even_ones_it_closes(root):
    for path in ("a/b/c", "a/bc", "d"):
        (root / path).mkdir(parents=True)
    wanted = {
        "a": (0o500, 1_000_000_000),
        "a/b": (0o000, 2_000_000_000),
        "a/b/c": (0o750, 3_000_000_000),
        "a/bc": (0o700, 4_000_000_000),
        "d": (0o755, 5_000_000_000),
    }

    safefs.set_folder_modes(root, [(p, m, t) for p, (m, t) in wanted.items()])

    got = {p: (mode_of(root / p), (root / p).lstat().st_mtime_ns) for p in wanted}
    os.chmod(root / "a", 0o700)
    os.chmod(root / "a" / "b", 0o700)
    assert got == wanted


@pytest.mark.parametrize(
    "relative", ["way/inside", "link", "../root", ""], ids=["via", "at", "up", "empty"]
)
def test_set_folder_modes_refuses_links_and_paths_leaving_root(root, relative):
    outside = root.parent / "elsewhere"
    (outside / "inside").mkdir(parents=True)
    os.chmod(outside / "inside", 0o755)
    (root / "way").symlink_to(outside)
    (root / "link").symlink_to(outside)
    before = mode_of(outside)

    with pytest.raises(UnsafeOperation):
        safefs.set_folder_modes(root, [(relative, 0o700, 1_000_000_000)])

    assert (mode_of(outside), mode_of(outside / "inside")) == (before, 0o755)


def test_new_tree_checks_what_it_did_not_make(root):
    tree = safefs.NewTree(root)
    tree.make_dir(f"{root}/stage", safefs.PRIVATE_DIR)
    (root / "out").symlink_to(root.parent)

    os.close(tree.create_file(f"{root}/stage/file"))
    tree.make_symlink(f"{root}/stage/link", "file")
    with pytest.raises(UnsafeOperation):
        tree.create_file(f"{root}/out/escaped")
    with pytest.raises(UnsafeOperation):
        tree.make_hardlink(f"{root}/out/outside.txt", f"{root}/stage/hard")

    assert mode_of(root / "stage") == safefs.PRIVATE_DIR
    assert sorted(p.name for p in (root / "stage").iterdir()) == ["file", "link"]
    assert not (root.parent / "escaped").exists()


def test_remove_empty_dir_keeps_a_full_folder_and_a_link(root):
    (root / "full").mkdir()
    (root / "full" / "f").write_text("x")
    (root / "empty").mkdir()
    (root / "link").symlink_to(root / "empty")

    assert not safefs.remove_empty_dir(root / "full", root)
    assert not safefs.remove_empty_dir(root / "link", root)
    assert safefs.remove_empty_dir(root / "empty", root)
    assert (root / "full" / "f").exists() and (root / "link").is_symlink()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a/b", "a/b"),
        ("a/../b", "b"),
        (".", "."),
        ("../outside.txt", None),
        ("out/outside.txt", None),
        ("out", "out"),
        ("a\0b", None),
    ],
    ids=["plain", "dotdot-inside", "root", "dotdot-out", "through-link", "link", "nul"],
)
def test_relative_inside_resolves_all_but_the_last_part(root, name, expected):
    (root / "out").symlink_to(root.parent)

    assert safefs.relative_inside(Path(f"{root}/{name}"), root) == expected


def test_why_untrusted_names_links_and_folders_others_may_write(root):
    (root / "mine").mkdir(mode=0o700)
    (root / "open").mkdir()
    os.chmod(root / "open", 0o777)
    (root / "link").symlink_to(root / "mine")

    assert safefs.why_untrusted(root / "mine") == ""
    assert "mode 0777" in safefs.why_untrusted(root / "open")
    assert "symbolic link" in safefs.why_untrusted(root / "link")
    assert "cannot be examined" in safefs.why_untrusted(root / "missing")


def test_atomic_write_error_names_the_target_not_its_temporary(root):
    (root / "marker").mkdir()

    with pytest.raises(IsADirectoryError) as caught:
        safefs.atomic_write(root / "marker", "text\n")

    assert caught.value.filename == str(root / "marker")
    assert sorted(p.name for p in root.iterdir()) == ["marker"]


def test_make_unique_dir_never_reuses_a_taken_name(root):
    (root / "copy").mkdir()
    (root / "copy-2").symlink_to(root.parent)

    made = safefs.make_unique_dir(root, "copy", root, safefs.PRIVATE_DIR)

    assert made == root / "copy-3"
    assert mode_of(made) == safefs.PRIVATE_DIR
    assert safefs.make_unique_dir(root, "copy", root) == root / "copy-4"


def test_undo_takes_back_folders_files_renames_and_trees(root):
    (root / "old").mkdir()
    (root / "old" / "kept.txt").write_text("before\n")
    os.chmod(root / "old" / "kept.txt", 0o640)
    os.utime(root / "old" / "kept.txt", ns=(1_000_000_000, 2_000_000_000))
    (root / "moved").write_text("moved\n")

    with pytest.raises(RuntimeError), safefs.Undo(root) as undo:
        undo.make_dirs(root / "old" / "new" / "deep")
        undo.write(root / "old" / "new" / "deep" / "f.txt", "new\n")
        undo.write(root / "old" / "kept.txt", "after\n", 0o600)
        tree = undo.make_unique_dir(root, "copies")
        (tree / "inside.txt").write_text("copy\n")
        undo.rename(root / "moved", root / "old" / "moved")
        raise RuntimeError("stop half-way")

    assert sorted(p.name for p in root.iterdir()) == ["moved", "old"]
    assert [p.name for p in (root / "old").iterdir()] == ["kept.txt"]
    assert (root / "old" / "kept.txt").read_text() == "before\n"
    assert mode_of(root / "old" / "kept.txt") == 0o640
    assert (root / "old" / "kept.txt").stat().st_mtime_ns == 2_000_000_000


def test_undo_keeps_a_new_folder_something_else_filled(root):
    undo = safefs.Undo(root)
    undo.make_dirs(root / "made")
    (root / "made" / "theirs.txt").write_text("not ours\n")

    assert undo.undo()
    assert (root / "made" / "theirs.txt").is_file()


def test_undo_write_refuses_to_replace_what_is_not_a_file(root):
    (root / "link").symlink_to(root.parent / "outside.txt")

    with pytest.raises(UnsafeOperation):
        safefs.Undo(root).write(root / "link", "x")

    assert (root.parent / "outside.txt").read_text() == "outside\n"


def test_atomic_symlink_error_names_the_link(root):
    (root / "here").mkdir()
    (root / "here" / "inside").write_text("x")

    with pytest.raises(IsADirectoryError) as caught:
        safefs.atomic_symlink(root / "here", "elsewhere")

    assert caught.value.filename == str(root / "here")
    assert sorted(p.name for p in root.iterdir()) == ["here"]


def test_read_regular_reads_a_file(root):
    (root / "a.toml").write_bytes(b"x = 1\n")
    assert safefs.read_regular(root / "a.toml") == b"x = 1\n"


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda path: os.mkfifo(path), "fifo"),
        (lambda path: os.symlink("/dev/zero", path), "character device"),
        (lambda path: path.mkdir(), "folder"),
    ],
    ids=["fifo", "dev-zero", "folder"],
)
def test_read_regular_refuses_what_is_not_a_file_without_waiting(root, make, kind):
    make(root / "a.toml")
    with pytest.raises(UnreadableFile) as caught:
        safefs.read_regular(root / "a.toml", shown="config/a.toml")
    assert str(caught.value) == f"config/a.toml: is a {kind}, not a regular file"


def test_read_regular_refuses_a_file_past_its_limit(root):
    (root / "big.toml").write_bytes(b"#" * 1025)
    assert safefs.read_regular(root / "big.toml", limit=1025) == b"#" * 1025
    with pytest.raises(UnreadableFile, match="is larger than 1 KiB"):
        safefs.read_regular(root / "big.toml", limit=1024)
