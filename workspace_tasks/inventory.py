"""What a workspace holds: ``workspace status`` and ``workspace list``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from workspace_tasks.context import EXTENSION_KINDS, RUNTIME_AREAS, Workspace
from workspace_tasks.health.model import health_summary
from workspace_tasks.measure import tree_size
from workspace_tasks.resolver import (
    ORIGINS,
    list_extensions,
    scan_extensions,
    shown_path,
    unusable_folder,
)


@dataclass
class StatusReport:
    """The state of one user's workspace."""

    user: str
    type: str
    infra: str
    root: str
    core_root: str
    initialised: bool
    extensions: dict[str, dict[str, int]]
    runtime: dict[str, dict[str, int]] | None = None
    health: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Listing:
    """Everything in a workspace: users, extensions, infras, config files."""

    root: str
    users: list[str]
    extensions: list[dict[str, str]] = field(default_factory=list)
    infrastructures: list[dict[str, str]] = field(default_factory=list)
    config_files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def extension_counts(ws: Workspace) -> dict[str, dict[str, int]]:
    """Count extensions per kind and origin (user, shared, core)."""
    counts: dict[str, dict[str, int]] = {}
    for kind in EXTENSION_KINDS:
        per_origin = dict.fromkeys(ORIGINS, 0)
        for extension in list_extensions(ws, kind, include_core=True):
            per_origin[extension.origin] += 1
        counts[kind] = per_origin
    return counts


def runtime_sizes(ws: Workspace) -> dict[str, dict[str, int]]:
    """Measure each of the user's runtime areas."""
    return {area: tree_size(ws.runtime(area)).to_dict() for area in RUNTIME_AREAS}


def workspace_status(ws: Workspace, *, detailed: bool = False) -> StatusReport:
    """Return the status of ``ws`` for its user (sizes when ``detailed``)."""
    report = StatusReport(
        user=ws.user,
        type=ws.type,
        infra=ws.infra,
        root=str(ws.root),
        core_root=str(ws.core_root),
        initialised=ws.user_initialised,
        extensions=extension_counts(ws),
        health=health_summary(ws),
    )
    if detailed:
        report.runtime = runtime_sizes(ws)
    return report


def _infrastructures(ws: Workspace, warnings: list[str]) -> list[dict[str, str]]:
    """List the infrastructures resolution finds, each with its origin.

    The users' (``infra/<user>/<name>``), the shared ones (``infra/<name>``
    holding a ``settings.toml``, neither a user's area nor a group below),
    the examples, the local ones, the template's and the core's, as ``resolve
    path infra`` and ``deploy-test`` look them up.
    """
    users = ws.known_users()
    not_shared = {"examples", "local", "template", ws.user, *users}
    groups: list[tuple[str, Path, set[str], bool]] = [
        (f"user:{user}", ws.infra_dir / user, set(), False) for user in users
    ]
    groups += [
        ("shared", ws.infra_dir, not_shared, True),
        ("example", ws.infra_dir / "examples", set(), True),
        ("local", ws.infra_dir / "local", set(), False),
        ("template", ws.infra_dir / "template", set(), True),
        ("core", ws.core_root / "infra", set(), True),
    ]
    found = []
    for origin, folder, skip, needs_settings in groups:
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir()):
            if entry.name in skip:
                continue
            why = unusable_folder(entry)
            has_settings = (entry / "settings.toml").is_file()
            if why is None and origin == "shared" and not has_settings:
                why = "holds no settings.toml and is no user's area"
            if why:
                warnings.append(f"{shown_path(ws, entry)}: {why}; not listed")
            if why is not None:
                continue
            if has_settings or not needs_settings:
                found.append({"name": entry.name, "origin": origin, "path": str(entry)})
    return found


def _config_files(ws: Workspace) -> list[str]:
    if not ws.config_dir.is_dir():
        return []
    return sorted(
        str(Path("config") / p.name)
        for p in ws.config_dir.iterdir()
        if p.is_file() and not p.name.startswith(".")
    )


def workspace_listing(ws: Workspace) -> Listing:
    """List the users, extensions, infrastructures and config files of ``ws``.

    Only what the other commands accept is listed: a folder whose name is no
    valid name, or a link that loops, is left out and named in ``warnings``.
    """
    listing = Listing(root=str(ws.root), users=ws.known_users())
    listing.warnings += ws.foreign_user_folders()
    for kind in EXTENSION_KINDS:
        found, ignored = scan_extensions(ws, kind, include_core=True)
        listing.extensions += [e.to_dict() for e in found]
        listing.warnings += ignored
    listing.infrastructures = _infrastructures(ws, listing.warnings)
    listing.config_files = _config_files(ws)
    return listing
