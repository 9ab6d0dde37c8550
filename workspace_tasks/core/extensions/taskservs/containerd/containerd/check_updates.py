"""Find newer releases of the service on GitHub."""

from __future__ import annotations

import json
import re
import tomllib
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any

from . import EXTENSION_DIR

_NUMBERS = re.compile(r"\d+")


def version_key(text: str) -> tuple[int, ...]:
    """Return a sortable key of a dotted version such as ``v1.7.2``."""
    return tuple(int(n) for n in _NUMBERS.findall(text))


def newer_releases(current: str, releases: Iterable[Mapping[str, Any]]) -> list[str]:
    """Return the stable release tags newer than ``current``, newest first."""
    tags = [
        str(release["tag_name"])
        for release in releases
        if not release.get("draft") and not release.get("prerelease")
    ]
    newer = [tag for tag in tags if version_key(tag) > version_key(current)]
    return sorted(newer, key=version_key, reverse=True)


def fetch_releases(site: str | None = None, timeout: float = 10) -> list[dict]:
    """Ask GitHub for the releases of ``site`` (owner/repo; default: the manifest's)."""
    if site is None:
        with (EXTENSION_DIR / "extension.toml").open("rb") as handle:
            site = tomllib.load(handle)["release"]["site"]
    url = f"https://api.github.com/repos/{site}/releases"
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)
