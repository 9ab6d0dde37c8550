"""Measure folder trees quickly without following symbolic links."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TreeSize:
    """Files, folders and bytes under a folder (links counted, not followed)."""

    files: int = 0
    folders: int = 0
    bytes: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"files": self.files, "folders": self.folders, "bytes": self.bytes}


def tree_size(top: Path) -> TreeSize:
    """Return the apparent size of everything under ``top``."""
    files = folders = total = 0
    stack = [os.fspath(top)]
    while stack:
        folder = stack.pop()
        try:
            entries = os.scandir(folder)
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        folders += 1
                        stack.append(entry.path)
                    else:
                        files += 1
                        total += entry.stat(follow_symlinks=False).st_size
                except OSError:
                    continue
    return TreeSize(files, folders, total)
