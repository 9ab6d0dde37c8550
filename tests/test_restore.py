"""Restoring: hostile archives refused whole, corrupt ones caught, plans kept."""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
from pathlib import Path

import pytest
from backup_helpers import empty_place, snapshot
from terminal import run_on_terminal

from workspace_tasks import restore
from workspace_tasks.backup import BackupOptions, backup_from_file, create_backup
from workspace_tasks.restore import RestoreOptions, restore_backup

CASES = Path(__file__).parent / "data" / "archives"
OUTSIDE = ("/tmp/evil.txt", "/tmp/evil-absolute.txt", "/tmp/case-escape", "/tmp/Temp")
# Logs are written by every command; the rest of the tree must stay as it was.
SKIP = ("runtime/logs",)

HOSTILE = [
    pytest.param("dotdot-chain.tar", "tmp/evil.txt", id="dotdot-chain"),
    pytest.param("absolute.tar", "/tmp/evil-absolute.txt", id="absolute"),
    pytest.param("backslash-chain.tar", "Temp", id="backslash-chain"),
    pytest.param("symlink-out.tar", "extensions/out", id="symlink-out"),
    pytest.param("symlink-then-file.tar", "extensions/link", id="symlink-then-file"),
    pytest.param("dirlink-then-child.tar", "infra/dir", id="dirlink-then-child"),
    pytest.param("hardlink-out.tar", "cache/dup", id="hardlink-out"),
    pytest.param("device.tar", "runtime/null", id="device"),
]


@pytest.mark.parametrize(("case", "member"), HOSTILE)
def test_hostile_archive_is_refused_whole_naming_the_member(
    make_workspace, cli, case, member
):
    ws = make_workspace()
    before = snapshot(ws.root, SKIP)

    result = cli("restore", "--root", ws.root, "--backup-file", CASES / case)

    assert result.code != 0
    assert member in result.err
    assert "nothing was restored" in result.err
    assert snapshot(ws.root, SKIP) == before
    assert not (ws.root / "config" / "good.toml").exists()
    assert not any(os.path.lexists(p) for p in OUTSIDE)


def make_tar(path: Path, members: list[tuple[str, str, str]]) -> Path:
    """Write a plain tar of (name, kind, data or link target) members."""
    with tarfile.open(path, "w") as tar:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            info.mtime = 1_000_000_000
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, data
                tar.addfile(info)
            elif kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, data
                tar.addfile(info)
            else:
                body = data.encode()
                info.size, info.mode = len(body), 0o644
                tar.addfile(info, io.BytesIO(body))
    return path


def test_harmless_dots_restore_fully_inside_the_users_area(make_workspace, cli):
    ws = make_workspace()
    notes = "infra/dev/notes"
    case = make_tar(
        ws.root.parent / "dots.tar",
        [
            (f"{notes}/..foo.txt", "file", "x" * 40),
            (f"{notes}/a..b/c.txt", "file", "y" * 30),
            (f"{notes}/inner", "symlink", "..foo.txt"),
            (f"{notes}/hard", "hardlink", f"{notes}/..foo.txt"),
        ],
    )

    result = cli("restore", "--root", ws.root, "--backup-file", case)

    assert result.code == 0, result.err
    folder = ws.root / notes
    assert (folder / "..foo.txt").stat().st_size == 40
    assert (folder / "a..b" / "c.txt").stat().st_size == 30
    assert os.readlink(folder / "inner") == "..foo.txt"
    assert (folder / "hard").stat().st_ino == (folder / "..foo.txt").stat().st_ino


def test_harmless_dots_case_restores_fully(make_workspace, cli):
    ws = make_workspace()

    result = cli(
        "restore", "--root", ws.root, "--backup-file", CASES / "harmless-dots.tar"
    )

    assert result.code == 0, result.err
    assert (ws.root / "config" / "good.toml").is_file()
    notes = ws.root / "notes"
    assert (notes / "..foo.txt").stat().st_size == 40
    assert (notes / "a..b" / "c.txt").stat().st_size == 30
    assert os.readlink(notes / "inner") == "..foo.txt"
    hard = notes / "hard"
    assert hard.stat().st_ino == (notes / "..foo.txt").stat().st_ino


def test_backup_of_ours_is_confined_to_the_users_areas(make_workspace, cli, tmp_path):
    ws = make_workspace()
    make_workspace("tester")
    (ws.root / "config" / "extra.toml").write_text("[x]\n")
    assert cli("backup", "--root", ws.root, "--name", "mine").code == 0
    listing = cli(
        "restore", "--root", ws.root, "--show-contents", "--backup-name", "mine"
    )
    assert "config/dev.toml" in listing.out
    assert "config/extra.toml" not in listing.out
    assert "tester" not in listing.out


OUTSIDE_AREAS = [
    pytest.param("lib/path_resolver.py", "file", id="lib"),
    pytest.param(".provisioning-workspace.toml", "file", id="marker"),
    pytest.param("tools/x.sh", "file", id="tools"),
    pytest.param("config/dev-defaults.toml", "file", id="shared-config"),
    pytest.param("config/tester.toml", "file", id="other-config"),
    pytest.param("infra/tester/main.k", "file", id="other-infra"),
    pytest.param("extensions/providers/tester/p.k", "file", id="other-extension"),
    pytest.param("runtime/data/dev/backups/old.tar", "file", id="backups-folder"),
    pytest.param("runtime/state/dev/health.json", "file", id="health"),
    pytest.param("runtime/state/dev/health/disk.json", "file", id="health-part"),
    pytest.param("runtime/state/dev/workspace.lock", "file", id="lock"),
    pytest.param("runtime/state/dev/doit-state.json", "file", id="doit"),
    pytest.param("extensions/providers", "symlink", id="shared-folder-as-link"),
]


@pytest.mark.parametrize(("member", "kind"), OUTSIDE_AREAS)
def test_member_outside_the_users_areas_refuses_the_whole_archive(
    make_workspace, cli, member, kind
):
    ws = make_workspace()
    make_workspace("tester")
    before = snapshot(ws.root, SKIP)
    case = make_tar(
        ws.root.parent / "case.tar",
        [("infra/dev/good.k", "file", "good\n"), (member, kind, "infra")],
    )

    result = cli("restore", "--root", ws.root, "--backup-file", case)

    assert result.code == 2
    assert f"member {member!r}" in result.err
    assert "nothing was restored" in result.err
    assert snapshot(ws.root, SKIP) == before


def test_link_chain_inside_the_workspace_restores_in_any_order(
    make_workspace, tmp_path
):
    ws = make_workspace()
    area = ws.root / "infra" / "dev"
    (area / "f").write_text("data\n")
    (area / "w").mkdir()
    (area / "w" / "rel").symlink_to("../f")
    (area / "a-chain").symlink_to("w/rel")
    (area / "z-chain").symlink_to("w/rel")
    made = create_backup(ws, BackupOptions(name="chain"))
    place = empty_place(tmp_path, ws)

    restore_backup(place, backup_from_file(Path(made.path)), RestoreOptions())
    assert made.warnings == []
    assert (place.root / "infra/dev/z-chain").read_text() == "data\n"
    assert (place.root / "infra/dev/a-chain").read_text() == "data\n"


@pytest.mark.parametrize(
    ("links", "bad"),
    [
        pytest.param(
            [("infra/dev/w", "../../.."), ("infra/dev/x", "w/..")],
            "w",
            id="out-directly",
        ),
        pytest.param(
            [("infra/dev/w", "../.."), ("infra/dev/x", "w/../..")],
            "x",
            id="out-through-a-link",
        ),
        pytest.param([("infra/dev/a", "b"), ("infra/dev/b", "a")], "a", id="loop"),
    ],
)
def test_links_leaving_the_workspace_warn_at_backup_and_refuse_at_restore(
    make_workspace, cli, links, bad
):
    ws = make_workspace()
    for path, target in links:
        (ws.root / path).symlink_to(target)

    made = create_backup(ws, BackupOptions(name="links"))
    result = cli("restore", "--root", ws.root, "--backup-file", made.path)

    assert any(w.startswith(f"infra/dev/{bad} ") for w in made.warnings)
    assert result.code == 2
    assert "nothing was restored" in result.err


def _flip_byte_in(path: Path, marker: bytes) -> None:
    data = bytearray(path.read_bytes())
    offset = data.index(marker)
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_flipped_byte_fails_verify_and_restores_nothing(workspace, tmp_path, cli):
    (workspace.infra_dir / "dev" / "notes.txt").write_text("UNIQUE-CONTENT-4711\n")
    made = create_backup(workspace, BackupOptions(name="flip"))
    _flip_byte_in(Path(made.path), b"UNIQUE-CONTENT-4711")
    target = empty_place(tmp_path, workspace)
    target.marker.write_text("")

    result = cli(
        "restore", "--root", target.root, "--backup-file", made.path, "--verify"
    )

    assert result.code == 2
    assert "infra/dev/notes.txt: checksum does not match" in result.err
    assert sorted(p.name for p in target.root.iterdir()) == [
        ".provisioning-workspace.toml"
    ]


def test_damaged_member_without_verify_still_changes_nothing(workspace, tmp_path):
    (workspace.infra_dir / "dev" / "notes.txt").write_text("UNIQUE-CONTENT-4712\n")
    made = create_backup(workspace, BackupOptions(name="flip"))
    _flip_byte_in(Path(made.path), b"UNIQUE-CONTENT-4712")
    target = empty_place(tmp_path, workspace)

    with pytest.raises(restore.ArchiveError, match="checksum does not match"):
        restore_backup(target, backup_from_file(made.path), RestoreOptions())

    assert not (target.root / "config").exists()
    assert not list(target.root.glob(".workspace-restore-*"))


def test_newer_local_file_stops_restore_unless_merge_or_overwrite(workspace, cli):
    create_backup(workspace, BackupOptions(name="base"))
    config = workspace.user_config
    config.write_text("# changed after the backup\n")
    os.utime(config, (4_000_000_000, 4_000_000_000))
    args = ("restore", "--root", workspace.root, "--backup-name", "base")

    refused = cli(*args)
    merged = cli(*args, "--merge")
    kept = config.read_text()
    overwritten = cli(*args, "--overwrite")

    assert refused.code == 2
    assert "--merge" in refused.err and "config/dev.toml" in refused.err
    assert merged.code == 0
    assert "kept your newer config/dev.toml" in merged.out
    assert kept == "# changed after the backup\n"
    assert overwritten.code == 0
    assert config.read_text().startswith("# Configuration of dev")


def test_dry_run_prints_the_plan_and_changes_nothing(workspace, cli):
    create_backup(workspace, BackupOptions(name="base"))
    (workspace.infra_dir / "dev" / "dev-dev" / "settings.toml").unlink()
    before = snapshot(workspace.root, SKIP)

    result = cli("restore", "--root", workspace.root, "--latest", "--dry-run")

    assert result.code == 0
    assert "create    infra/dev/dev-dev/settings.toml" in result.out
    assert "unchanged config/dev.toml" in result.out
    assert snapshot(workspace.root, SKIP) == before


def test_restore_to_another_user_rewrites_paths_and_names(workspace, cli):
    create_backup(workspace, BackupOptions(name="base"))

    result = cli(
        "restore",
        "--root",
        workspace.root,
        "--backup-name",
        "base",
        "--restore-to",
        "alice",
        "--components",
        "config,runtime,infra",
    )

    assert result.code == 0, result.err
    alice_config = (workspace.config_dir / "alice.toml").read_text()
    assert 'user = "alice"' in alice_config
    assert (workspace.root / "runtime/workspaces/alice/settings.toml").is_file()
    assert (workspace.root / "infra/alice/dev-dev/settings.toml").is_file()
    assert 'user = "dev"' in workspace.user_config.read_text()


def test_components_limit_what_is_restored(workspace, tmp_path):
    made = create_backup(workspace, BackupOptions(name="base"))
    target = empty_place(tmp_path, workspace)

    result = restore_backup(
        target, backup_from_file(made.path), RestoreOptions(components=("config",))
    )

    assert {s.path.split("/")[0] for s in result.plan.steps} == {"config"}
    assert sorted(
        p.name for p in target.root.iterdir() if not p.name.startswith(".")
    ) == ["config", "runtime"]


def test_interrupted_swap_is_undone_by_the_next_restore(workspace, tmp_path):
    made = create_backup(workspace, BackupOptions(name="base"))
    target = empty_place(tmp_path, workspace)
    (target.root / "config").mkdir()
    (target.root / "config" / "dev.toml").write_text("mine\n")
    staging = target.root / ".workspace-restore-dev-killed"
    (staging / "old").mkdir(parents=True)
    os.rename(target.root / "config" / "dev.toml", staging / "old" / "0")
    (target.root / "config" / "dev.toml").write_text("half-restored\n")
    (staging / "journal").write_text(
        f'{{"action": "save", "path": "{target.root}/config/dev.toml", '
        f'"saved": "{staging}/old/0"}}\n'
        f'{{"action": "place", "path": "{target.root}/config/dev.toml", "saved": ""}}\n'
    )

    recovered = restore.recover_interrupted(target)

    assert recovered == [".workspace-restore-dev-killed"]
    assert (target.root / "config" / "dev.toml").read_text() == "mine\n"
    assert not staging.exists()
    assert made.name == "base"


def test_restore_needs_a_source(workspace, cli):
    result = cli("restore", "--root", workspace.root)

    assert result.code == 2
    assert "--backup-name" in result.err


def test_restore_to_an_existing_user_plans_each_path_once(make_workspace, cli):
    ws = make_workspace()
    make_workspace("tester")
    (ws.root / "infra/dev/mine.k").write_text("mine\n")
    create_backup(ws, BackupOptions(name="base"))
    source = ["--root", ws.root, "--backup-name", "base", "--restore-to", "tester"]

    planned = cli("restore", *source, "--overwrite", "--dry-run", "--format", "json")
    done = cli("restore", *source, "--overwrite")

    assert planned.code == 0, planned.err
    paths = [s["path"] for s in json.loads(planned.out)["steps"]]
    assert len(paths) == len(set(paths))
    assert all("dev" not in p.split("/") for p in paths)
    assert done.code == 0, done.err
    assert (ws.root / "infra/tester/mine.k").read_text() == "mine\n"
    assert restore.STAGING_PREFIX not in done.err


def _truncated(tmp_path: Path, ws) -> Path:
    made = create_backup(ws, BackupOptions(name="whole"))
    cut = tmp_path / "cut.tar"
    cut.write_bytes(Path(made.path).read_bytes()[:700])
    return cut


@pytest.mark.parametrize(
    ("make", "named"),
    [
        pytest.param(lambda tmp, ws: Path("/etc/passwd"), "/etc/passwd", id="not-tar"),
        pytest.param(lambda tmp, ws: tmp, "--backup-file", id="directory"),
        pytest.param(
            lambda tmp, ws: (tmp / "empty.tar", (tmp / "empty.tar").touch())[0],
            "empty.tar",
            id="empty",
        ),
        pytest.param(_truncated, "cut.tar", id="truncated"),
    ],
)
def test_bad_backup_file_exits_2_naming_it(workspace, tmp_path, cli, make, named):
    source = make(tmp_path, workspace)
    before = snapshot(workspace.root, SKIP)

    result = cli("restore", "--root", workspace.root, "--backup-file", source)

    assert result.code == 2
    assert named in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert snapshot(workspace.root, SKIP) == before


def test_identical_hard_link_is_unchanged_on_dry_run(workspace, cli):
    area = workspace.infra_dir / "dev"
    (area / "one.txt").write_text("same\n")
    os.link(area / "one.txt", area / "two.txt")
    create_backup(workspace, BackupOptions(name="links"))

    result = cli(
        "restore",
        "--root",
        workspace.root,
        "--backup-name",
        "links",
        "--dry-run",
        "--format",
        "json",
    )

    assert result.code == 0, result.err
    steps = {s["path"]: s["action"] for s in json.loads(result.out)["steps"]}
    assert steps["infra/dev/two.txt"] == "unchanged"


def test_restored_folders_keep_their_recorded_mtimes(workspace, tmp_path):
    deep = workspace.infra_dir / "dev" / "sub" / "deep"
    deep.mkdir(parents=True)
    (deep / "f.txt").write_text("x\n")
    for folder in (deep, deep.parent):
        os.utime(folder, ns=(1_500_000_000_000_000_000,) * 2)
    made = create_backup(workspace, BackupOptions(name="times"))
    target = empty_place(tmp_path, workspace)
    (target.root / "infra/dev/sub").mkdir(parents=True)
    os.chmod(target.root / "infra/dev/sub", deep.parent.stat().st_mode & 0o7777)

    restore_backup(target, backup_from_file(Path(made.path)), RestoreOptions())

    for rel in ("infra/dev/sub", "infra/dev/sub/deep"):
        assert (target.root / rel).stat().st_mtime_ns == 1_500_000_000_000_000_000


def test_show_contents_of_a_non_archive_exits_2_naming_it(workspace, cli):
    result = cli(
        "restore",
        "--root",
        workspace.root,
        "--show-contents",
        "--backup-file",
        "/etc/passwd",
    )

    assert result.code == 2
    assert "/etc/passwd: not a readable backup archive" in result.err


def plant_staging(ws, entries: list[dict], name: str = "planted", mode=0o700) -> Path:
    """Make a staging folder of ``ws``'s user holding a journal of ``entries``."""
    staging = ws.root / f"{restore.staging_prefix(ws)}{name}"
    staging.mkdir()
    lines = [json.dumps(e) if isinstance(e, dict) else e for e in entries]
    (staging / "journal").write_text("".join(f"{line}\n" for line in lines))
    os.chmod(staging / "journal", 0o600)
    os.chmod(staging, mode)
    return staging


def test_planted_journal_touches_nothing_outside_the_users_areas(
    make_workspace, cli, tmp_path
):
    ws = make_workspace()
    alice = make_workspace("alice")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep\n")
    hers = alice.infra_dir / "alice"
    (hers / "hers.txt").write_text("hers\n")
    staging = plant_staging(
        ws,
        [
            {"action": "place", "path": str(outside), "saved": ""},
            {"action": "place", "path": str(hers), "saved": ""},
        ],
    )

    result = cli("backup", "--root", ws.root, "--name", "next")

    assert result.code == 0, result.err
    assert (outside / "keep.txt").read_text() == "keep\n"
    assert (hers / "hers.txt").read_text() == "hers\n"
    assert staging.is_dir()
    assert f"left {staging.name} alone" in result.err
    assert str(outside) in result.err and "infra/alice" in result.err


def _link_out_of_area(ws, outside: Path) -> str:
    (ws.infra_dir / "dev" / "link").symlink_to("../../config")
    return f"{ws.root}/infra/dev/link/dev-defaults.toml"


ESCAPES = [
    pytest.param(lambda ws, out: str(out / "keep.txt"), id="outside"),
    pytest.param(lambda ws, out: f"{ws.root}/config/other.toml", id="other-config"),
    pytest.param(lambda ws, out: f"{ws.root}/lib/path_resolver.py", id="tool-code"),
    pytest.param(
        lambda ws, out: f"{ws.root}/.provisioning-workspace.toml", id="marker"
    ),
    pytest.param(lambda ws, out: f"{ws.root}/infra/dev/../../config", id="dotdot"),
    pytest.param(_link_out_of_area, id="through-link"),
    pytest.param(lambda ws, out: f"{ws.root}/runtime/data/dev/backups", id="state"),
    pytest.param(lambda ws, out: "infra/dev", id="relative"),
    pytest.param(lambda ws, out: str(ws.root), id="root"),
]


@pytest.mark.parametrize("target", ESCAPES)
def test_journal_entry_outside_the_users_areas_undoes_nothing(
    workspace, tmp_path, target
):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep\n")
    mine = workspace.infra_dir / "dev" / "mine.txt"
    mine.write_text("mine\n")
    path = target(workspace, outside)
    staging = plant_staging(
        workspace,
        [
            {"action": "place", "path": str(mine), "saved": ""},
            {"action": "place", "path": path, "saved": ""},
        ],
    )
    before = snapshot(workspace.root, SKIP)

    recovered = restore.recover_interrupted(workspace)

    assert recovered == []
    assert (outside / "keep.txt").read_text() == "keep\n"
    assert snapshot(workspace.root, SKIP) == before
    assert staging.is_dir()


def test_journal_keeping_a_copy_outside_its_folder_undoes_nothing(workspace, tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("secret\n")
    mine = workspace.infra_dir / "dev" / "mine.txt"
    mine.write_text("mine\n")
    staging = plant_staging(
        workspace, [{"action": "save", "path": str(mine), "saved": str(outside)}]
    )

    assert restore.recover_interrupted(workspace) == []

    assert outside.read_text() == "secret\n" and mine.read_text() == "mine\n"
    assert staging.is_dir()


def test_staging_folder_others_may_write_is_ignored(workspace, cli):
    mine = workspace.infra_dir / "dev" / "mine.txt"
    mine.write_text("mine\n")
    staging = plant_staging(
        workspace, [{"action": "place", "path": str(mine), "saved": ""}], mode=0o777
    )

    result = cli("backup", "--root", workspace.root, "--name", "next")

    assert result.code == 0, result.err
    assert mine.read_text() == "mine\n"
    assert staging.is_dir() and (staging / "journal").is_file()
    assert "writable by other users (mode 0777)" in result.err


def test_journal_others_may_write_is_ignored(workspace):
    mine = workspace.infra_dir / "dev" / "mine.txt"
    mine.write_text("mine\n")
    staging = plant_staging(
        workspace, [{"action": "place", "path": str(mine), "saved": ""}]
    )
    os.chmod(staging / "journal", 0o666)

    assert restore.recover_interrupted(workspace) == []

    assert mine.read_text() == "mine\n" and staging.is_dir()


@pytest.mark.skipif(os.getuid() != 0, reason="giving a folder away needs root")
def test_staging_folder_of_another_account_is_ignored(workspace):
    mine = workspace.infra_dir / "dev" / "mine.txt"
    mine.write_text("mine\n")
    staging = plant_staging(
        workspace, [{"action": "place", "path": str(mine), "saved": ""}]
    )
    os.chown(staging, 4321, 4321)

    assert restore.recover_interrupted(workspace) == []

    assert mine.read_text() == "mine\n" and staging.is_dir()


def test_malformed_journal_is_reported_without_a_traceback(workspace, cli):
    mine = workspace.infra_dir / "dev" / "mine.txt"
    mine.write_text("mine\n")
    staging = plant_staging(
        workspace,
        [
            "not json",
            "[1, 2]",
            {"action": "place"},
            {"action": "explode", "path": str(mine)},
            {"action": "save", "path": str(mine), "saved": 7},
            {"action": "place", "path": f"{mine}\u0000", "saved": ""},
            {"action": "place", "path": str(mine), "saved": ""},
        ],
    )

    result = cli("backup", "--root", workspace.root, "--name", "next")

    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    assert mine.read_text() == "mine\n" and staging.is_dir()
    for number in range(1, 7):
        assert f"journal line {number} " in result.err


def test_journal_cut_short_by_a_kill_is_undone(workspace, tmp_path):
    target = empty_place(tmp_path, workspace)
    placed = target.root / "infra" / "dev"
    placed.mkdir(parents=True)
    (placed / "new.txt").write_text("restored\n")
    staging = plant_staging(
        target,
        [
            {"action": "mkdir", "path": f"{target.root}/infra", "saved": ""},
            {"action": "place", "path": str(placed), "saved": ""},
            '{"action": "place", "pa',
        ],
        name="killed",
    )

    recovered = restore.recover_interrupted(target)

    assert recovered == [staging.name]
    assert not (target.root / "infra").exists() and not staging.exists()


def test_recovery_cut_short_can_run_again(workspace, tmp_path):
    target = empty_place(tmp_path, workspace)
    mine = target.root / "config" / "dev.toml"
    mine.parent.mkdir()
    mine.write_text("mine\n")
    # The first recovery put the saved file back, then was killed.
    staging = plant_staging(
        target,
        [
            {"action": "save", "path": str(mine), "saved": "SAVED"},
            {"action": "place", "path": str(mine), "saved": ""},
        ],
        name="again",
    )
    journal = staging / "journal"
    journal.write_text(journal.read_text().replace("SAVED", f"{staging}/old/0"))

    assert restore.recover_interrupted(target) == [staging.name]

    assert mine.read_text() == "mine\n"


def test_staging_folder_of_a_user_with_a_longer_name_is_left_alone(make_workspace, cli):
    ws = make_workspace()
    make_workspace("dev-ops")
    theirs = ws.root / ".workspace-restore-dev-ops-x1y2"
    theirs.mkdir(mode=0o700)

    result = cli("backup", "--root", ws.root, "--name", "next")

    assert result.code == 0, result.err
    assert theirs.is_dir()
    assert theirs.name not in result.err


def test_failed_swap_is_undone_at_once(workspace, tmp_path, monkeypatch):
    made = create_backup(workspace, BackupOptions(name="base"))
    target = empty_place(tmp_path, workspace)
    (target.root / "config").mkdir()
    (target.root / "config" / "dev.toml").write_text("# mine\n")
    os.utime(target.root / "config" / "dev.toml", ns=(1, 1))
    rename = os.rename

    def failing(source, dest, *args, **kwargs):
        if str(dest).endswith("/infra/dev"):
            raise OSError(28, "No space left on device")
        return rename(source, dest, *args, **kwargs)

    monkeypatch.setattr(os, "rename", failing)

    with pytest.raises(restore.WorkspaceError, match="the restore was undone"):
        restore_backup(target, backup_from_file(made.path), RestoreOptions())

    assert (target.root / "config" / "dev.toml").read_text() == "# mine\n"
    assert sorted(p.name for p in target.root.iterdir()) == ["config", "runtime"]


def _mark_each_component(ws) -> dict[str, Path]:
    """Write one file of the user in each component; return them by component."""
    marks = {
        "config": ws.user_config,
        "extensions": ws.user_extensions_dir("providers") / "mark.txt",
        "infra": ws.infra_dir / "dev" / "mark.txt",
        "runtime": ws.runtime("workspaces") / "mark.txt",
    }
    for component, path in marks.items():
        path.write_text(f"# {component} as backed up\n")
    return marks


def test_selective_restore_asks_per_component_and_restores_only_those(workspace):
    marks = _mark_each_component(workspace)
    create_backup(workspace, BackupOptions(name="base"))
    for path in marks.values():
        path.write_text("# changed since\n")

    result = run_on_terminal(
        ["restore", "--root", workspace.root, "--backup-name", "base",
         "--selective", "--overwrite"],
        answers=[("Restore config?", "y"), ("Restore extensions?", "n"),
                 ("Restore infra?", "yes"), ("Restore runtime?", "")],
    )  # fmt: skip

    assert result.code == 0, result.text
    assert "Restored base" in result.text
    restored = {c for c, path in marks.items() if "as backed up" in path.read_text()}
    assert restored == {"config", "infra"}


def test_selective_restore_off_a_terminal_refuses_and_changes_nothing(workspace, cli):
    marks = _mark_each_component(workspace)
    create_backup(workspace, BackupOptions(name="base"))
    for path in marks.values():
        path.write_text("# changed since\n")
    before = snapshot(workspace.root, SKIP)

    result = cli(
        "restore", "--root", workspace.root, "--backup-name", "base", "--selective"
    )

    assert result.code == 2
    assert result.err.count("\n") == 1
    assert "--selective asks on a terminal" in result.err
    assert "--components" in result.err
    assert snapshot(workspace.root, SKIP) == before


def test_latest_known_good_skips_a_corrupt_newer_backup(workspace, cli):
    notes = workspace.infra_dir / "dev" / "notes.txt"
    notes.write_text("OLDER-CONTENT-0001\n")
    older = create_backup(workspace, BackupOptions(name="older"))
    os.utime(older.path, (1_000_000_000, 1_000_000_000))
    notes.write_text("NEWER-CONTENT-0002\n")
    newer = create_backup(workspace, BackupOptions(name="newer"))
    _flip_byte_in(Path(newer.path), b"NEWER-CONTENT-0002")
    notes.write_text("local edit\n")
    os.utime(notes, (1_000_000_000, 1_000_000_000))
    source = ("restore", "--root", workspace.root)

    latest = cli(*source, "--latest", "--verify")
    untouched = notes.read_text()
    good = cli(*source, "--latest-known-good")

    assert latest.code == 2
    assert "newer.tar" in latest.err
    assert "infra/dev/notes.txt: checksum does not match" in latest.err
    assert untouched == "local edit\n"
    assert good.code == 0, good.err
    assert "Restored older" in good.out
    assert "newer does not verify" in good.err
    assert notes.read_text() == "OLDER-CONTENT-0001\n"


REFUSED_USERS = {
    "dotdot-slash": "../elsewhere",
    "dotdot": "..",
    "slash": "a/b",
    "backslash": "\\",
    "space": " ",
    "empty": "",
    "too-long": "a" * 65,
    "reserved-template": "template",
    "reserved-examples": "examples",
    "reserved-local": "local",
}
ACCEPTED_USERS = ["dev", "dev-2", "ci_runner", "a.b"]


@pytest.mark.parametrize("user", REFUSED_USERS.values(), ids=REFUSED_USERS.keys())
def test_restore_to_refuses_unsafe_names_and_creates_nothing(workspace, cli, user):
    create_backup(workspace, BackupOptions(name="base"))
    project = workspace.root.parent
    before = snapshot(project, ("workspace/runtime/logs",))

    result = cli(
        "restore", "--root", workspace.root, "--backup-name", "base",
        "--restore-to", user,
    )  # fmt: skip

    assert result.code == 2
    assert result.err.count("\n") == 1
    assert result.err.startswith("workspace: error: --restore-to: ")
    assert snapshot(project, ("workspace/runtime/logs",)) == before


@pytest.mark.parametrize("user", ACCEPTED_USERS, ids=ACCEPTED_USERS)
def test_restore_to_accepts_plain_names(workspace, cli, user):
    create_backup(workspace, BackupOptions(name="base"))

    result = cli(
        "restore", "--root", workspace.root, "--backup-name", "base",
        "--restore-to", user, "--components", "config,infra",
    )  # fmt: skip

    assert result.code == 0, result.err
    assert f"into {workspace.root} for {user}:" in result.out
    config = (workspace.config_dir / f"{user}.toml").read_text()
    assert f'user = "{user}"' in config
    assert (workspace.infra_dir / user).is_dir()


def test_restore_to_a_shared_extensions_name_is_refused(workspace, cli):
    create_backup(workspace, BackupOptions(name="base"))
    shared = cli(
        "tools", "create-extension", "clusters/newguy", "--shared",
        "--root", workspace.root,
    )  # fmt: skip
    assert shared.code == 0, shared.err
    project = workspace.root.parent
    before = snapshot(project, ("workspace/runtime/logs",))

    result = cli(
        "restore", "--root", workspace.root, "--backup-name", "base",
        "--restore-to", "newguy",
    )  # fmt: skip

    assert result.code == 2
    assert result.err.count("\n") == 1
    assert "--restore-to: 'newguy' is the name of extensions/clusters/newguy" in (
        result.err
    )
    assert snapshot(project, ("workspace/runtime/logs",)) == before


def _flip_middle_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("compression", ["zstd", "gzip"])
def test_corrupt_compressed_backup_is_skipped_and_named(workspace, cli, compression):
    older = create_backup(workspace, BackupOptions(name="good"))
    os.utime(older.path, (1_000_000_000, 1_000_000_000))
    bad = create_backup(workspace, BackupOptions(name="bad", compression=compression))
    _flip_middle_byte(Path(bad.path))
    source = ("restore", "--root", workspace.root)

    good = cli(*source, "--latest-known-good", "--dry-run")
    direct = cli(*source, "--backup-name", "bad", "--dry-run")

    assert good.code == 0, good.err
    assert "Would restore good" in good.out
    assert "bad does not verify" in good.err
    assert direct.code == 2
    assert direct.err.count("\n") == 1
    assert direct.err.startswith(f"workspace: error: {bad.path}: ")
    assert "unexpected" not in direct.err


@pytest.mark.parametrize("compression", ["zstd", "gzip"])
def test_truncated_compressed_backup_is_said_truncated(workspace, cli, compression):
    made = create_backup(workspace, BackupOptions(name="cut", compression=compression))
    os.truncate(made.path, 500)

    result = cli("restore", "--root", workspace.root, "--backup-name", "cut")

    assert result.code == 2
    assert result.err.count("\n") == 1
    assert f"{made.path}: " in result.err
    assert "truncated or corrupt" in result.err


def test_dry_run_of_a_damaged_backup_fails_as_the_real_run_does(workspace, cli):
    data = workspace.infra_dir / "dev" / "data.txt"
    data.write_text("UNIQUE-CONTENT-4713\n")
    made = create_backup(workspace, BackupOptions(name="bad"))
    _flip_byte_in(Path(made.path), b"UNIQUE-CONTENT-4713")
    data.write_text("changed\n")
    os.utime(data, (1_000_000_000, 1_000_000_000))
    source = ("restore", "--root", workspace.root, "--backup-name", "bad")

    planned = cli(*source, "--dry-run")
    done = cli(*source)

    assert planned.code == done.code == 2
    assert "infra/dev/data.txt: checksum does not match" in planned.err
    assert "infra/dev/data.txt: checksum does not match" in done.err
    assert "replace" not in planned.out
    assert data.read_text() == "changed\n"


def test_restore_to_a_new_user_leaves_a_whole_runtime_tree(workspace, cli):
    from workspace_tasks.runtime import runtime_folders

    create_backup(workspace, BackupOptions(name="base"))
    args = ("restore", "--root", workspace.root, "--backup-name", "base")

    planned = cli(*args, "--restore-to", "newuser", "--dry-run")
    done = cli(*args, "--restore-to", "newuser")
    health = cli("health", "--root", workspace.root, "--workspace-user", "newuser")

    assert planned.code == 0, planned.err
    assert "create    runtime/cache/newuser (runtime tree of newuser)" in planned.out
    assert done.code == 0, done.err
    assert "completed the runtime tree of newuser" in done.out
    for folder in runtime_folders(workspace.for_user("newuser")):
        assert folder.is_dir(), folder
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert "Missing runtime folder" not in health.out
    assert "runtime        healthy" in health.out


def test_components_the_backup_lacks_are_named(workspace, cli):
    create_backup(workspace, BackupOptions(name="base"))
    args = ("restore", "--root", workspace.root, "--backup-name", "base")

    none = cli(*args, "--components", "logs,cache", "--dry-run")
    some = cli(*args, "--components", "logs,config", "--dry-run")

    assert none.code == 2
    assert none.err.count("\n") == 1
    assert "--components: backup base holds none of logs,cache" in none.err
    assert "(it holds config,extensions,infra,runtime)" in none.err
    assert some.code == 0, some.err
    assert "--components: backup base holds no logs; restoring the rest" in some.err
    assert "config/dev.toml" in some.out


# Component shared: the team's files, restored only when asked and never
# over newer local work.


def _entries(path: str) -> set[str]:
    with tarfile.open(path) as tar:
        return set(tar.getnames())


def test_shared_holds_the_team_files_and_no_users_areas(make_workspace):
    ws = make_workspace("dev", "--create-examples")
    make_workspace("other")
    (ws.extension_kind_dir("providers") / "aws").mkdir()
    (ws.extension_kind_dir("providers") / "aws" / "main.k").write_text("aws\n")

    plain = create_backup(ws, BackupOptions(name="plain"))
    team = create_backup(ws, BackupOptions(name="team", components=("shared",)))

    held = _entries(team.path)
    assert {
        "config/dev-defaults.toml",
        "config/test-defaults.toml",
        "config/prod-defaults.toml",
        "config/local-overrides.toml.example",
        "extensions/providers/template/README.md",
        "extensions/providers/aws/main.k",
        "infra/local/README.md",
        "infra/examples/minimal/settings.toml",
    } <= held
    assert not {p for p in held if p.split("/")[0] in ("lib", "tools")}
    assert not {p for p in held if "other" in p.split("/") or "dev" in p.split("/")}
    assert "config/dev.toml" not in held and "config/other.toml" not in held
    assert not {p for p in _entries(plain.path) if "defaults" in p or "template" in p}


def test_shared_files_are_restored_only_with_their_component(workspace, cli):
    defaults = workspace.workspace_defaults
    local = workspace.infra_dir / "local" / "README.md"
    create_backup(
        workspace, BackupOptions(name="team", components=("config", "shared"))
    )
    backed_up = defaults.read_text()
    defaults.write_text("# lost\n")
    os.utime(defaults, (1_000_000_000, 1_000_000_000))
    local.unlink()
    args = ("restore", "--root", workspace.root, "--backup-name", "team")

    config_only = cli(*args, "--components", "config")
    untouched = (defaults.read_text(), local.exists())
    everything = cli(*args)

    assert config_only.code == 0, config_only.err
    assert untouched == ("# lost\n", False)
    assert everything.code == 0, everything.err
    assert defaults.read_text() == backed_up
    assert local.is_file()


def test_a_newer_shared_file_is_replaced_only_with_overwrite(workspace, cli):
    defaults = workspace.workspace_defaults
    create_backup(workspace, BackupOptions(name="team", components=("shared",)))
    backed_up = defaults.read_text()
    defaults.write_text(backed_up + "# the team's newer edit\n")
    os.utime(defaults, (4_000_000_000, 4_000_000_000))
    args = ("restore", "--root", workspace.root, "--backup-name", "team")

    refused = cli(*args)
    merged = cli(*args, "--merge")
    kept = defaults.read_text()
    overwritten = cli(*args, "--overwrite")

    assert refused.code == 2
    assert "config/dev-defaults.toml" in refused.err and "--merge" in refused.err
    assert merged.code == 0, merged.err
    assert "kept your newer config/dev-defaults.toml" in merged.out
    assert kept.endswith("# the team's newer edit\n")
    assert overwritten.code == 0, overwritten.err
    assert defaults.read_text() == backed_up


def test_restore_to_never_writes_shared_files(workspace, cli):
    defaults = workspace.workspace_defaults
    create_backup(
        workspace, BackupOptions(name="team", components=("config", "shared"))
    )
    defaults.write_text("# the team's own\n")
    os.utime(defaults, (1_000_000_000, 1_000_000_000))
    args = ("restore", "--root", workspace.root, "--backup-name", "team")

    asked = cli(*args, "--restore-to", "alice", "--components", "config,shared")
    done = cli(*args, "--restore-to", "alice")

    assert asked.code == 2
    assert asked.err.count("\n") == 1
    assert "--restore-to never writes shared files" in asked.err
    assert done.code == 0, done.err
    assert "shared files of backup team alone" in done.err
    assert (workspace.config_dir / "alice.toml").is_file()
    assert defaults.read_text() == "# the team's own\n"


def test_shared_member_in_a_users_areas_refuses_the_archive(make_workspace, cli):
    ws = make_workspace("dev")
    make_workspace("other")
    theirs = ws.extension_kind_dir("providers") / "other" / "theirs.k"
    theirs.write_text("theirs\n")
    hidden = ws.root / "hidden"
    hidden.mkdir()
    # While the backup is made, nothing says 'other' is a user.
    record = ws.root / ".provisioning-generated.json"
    kept = record.read_text()
    data = json.loads(kept)
    del data["users"]["other"]
    record.write_text(json.dumps(data))
    for path in (ws.config_dir / "other.toml", ws.runtime_root / "workspaces/other"):
        path.rename(hidden / path.name)
    made = create_backup(ws, BackupOptions(name="team", components=("shared",)))
    for path in (ws.config_dir / "other.toml", ws.runtime_root / "workspaces/other"):
        (hidden / path.name).rename(path)
    record.write_text(kept)
    theirs.write_text("changed by other\n")
    os.utime(theirs, (1_000_000_000, 1_000_000_000))

    result = cli("restore", "--root", ws.root, "--backup-file", made.path)

    assert "extensions/providers/other/theirs.k" in _entries(made.path)
    assert result.code == 2
    assert "is in the areas of user 'other'" in result.err
    assert theirs.read_text() == "changed by other\n"


@pytest.mark.parametrize("marked", [True, False], ids=["marked", "unmarked"])
def test_interrupted_restore_of_a_shared_file_is_undone_when_marked(workspace, marked):
    defaults = workspace.workspace_defaults
    staging = workspace.root / f"{restore.staging_prefix(workspace)}killed"
    (staging / "old").mkdir(parents=True)
    os.rename(defaults, staging / "old" / "0")
    defaults.write_text("half-restored\n")
    saved = (staging / "old" / "0").read_text()
    lines = [{"action": "shared"}] if marked else []
    lines += [
        {"action": "save", "path": str(defaults), "saved": f"{staging}/old/0"},
        {"action": "place", "path": str(defaults), "saved": ""},
    ]
    (staging / "journal").write_text("".join(json.dumps(x) + "\n" for x in lines))

    recovered = restore.recover_interrupted(workspace)

    if marked:
        assert recovered == [staging.name]
        assert defaults.read_text() == saved
    else:
        assert recovered == []
        assert defaults.read_text() == "half-restored\n"
