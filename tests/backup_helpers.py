"""Helpers for the backup and restore tests: tree snapshots, workspaces."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from workspace_tasks.context import Workspace


def snapshot(root: Path, skip: tuple[str, ...] = ()) -> dict[str, tuple]:
    """Return path -> (type, mode, mtime_ns, content or link target)."""
    found: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if rel.startswith(skip):
                continue
            info = path.lstat()
            mode = stat.S_IMODE(info.st_mode)
            if stat.S_ISLNK(info.st_mode):
                found[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                found[rel] = ("dir", mode, info.st_mtime_ns)
            else:
                found[rel] = ("file", mode, info.st_mtime_ns, path.read_bytes())
    return found


def empty_place(tmp_path: Path, ws: Workspace, name: str = "elsewhere") -> Workspace:
    """Return the same user's workspace at a new, empty folder."""
    root = tmp_path / name
    root.mkdir()
    return Workspace(root=root.resolve(), user=ws.user, core_root=ws.core_root)
