"""Server specifications: taken from infra settings, checked, ready to render."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

_HOSTNAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
SPEC_KEYS = ("hostname", "plan", "zone", "storage_gb", "image", "image_version")


class ServerError(ValueError):
    """A server of the settings that this provider cannot create."""


@dataclass(frozen=True)
class ServerSpec:
    """One server: the variables its template receives."""

    hostname: str
    plan: str
    zone: str
    storage_gb: int
    image: str
    image_version: str
    labels: dict[str, str] = field(default_factory=dict)

    def variables(self) -> dict[str, Any]:
        """Return the spec as template variables."""
        return asdict(self)


def server_from_settings(
    entry: Mapping[str, Any],
    defaults: Mapping[str, Any],
    *,
    zones: Collection[str],
    plans: Collection[str],
) -> ServerSpec:
    """Build the spec of one ``[[servers]]`` entry over the defaults.

    Raises:
        ServerError: the hostname, zone, plan or storage is not acceptable.
    """
    merged = {key: entry.get(key, defaults.get(key)) for key in SPEC_KEYS}
    hostname = str(merged["hostname"] or "")
    if not _HOSTNAME.fullmatch(hostname):
        raise ServerError(f"hostname {hostname!r} is not a DNS label")
    if merged["zone"] not in zones:
        raise ServerError(
            f"{hostname}: zone {merged['zone']!r} is not one of {sorted(zones)}"
        )
    if merged["plan"] not in plans:
        raise ServerError(
            f"{hostname}: plan {merged['plan']!r} is not one of {sorted(plans)}"
        )
    storage = int(merged["storage_gb"])
    if storage < 10:
        raise ServerError(f"{hostname}: storage_gb must be at least 10, not {storage}")
    labels = {**defaults.get("labels", {}), **entry.get("labels", {})}
    return ServerSpec(
        hostname=hostname,
        plan=str(merged["plan"]),
        zone=str(merged["zone"]),
        storage_gb=storage,
        image=str(merged["image"]),
        image_version=str(merged["image_version"]),
        labels={str(k): str(v) for k, v in labels.items()},
    )
