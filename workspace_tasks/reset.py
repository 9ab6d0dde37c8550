"""Reset one user's part of the workspace to a fresh one.

A reset removes the user's areas (their config file unless kept, their
extensions and infrastructure folders, their runtime areas) and creates
them again from the templates, as ``init`` would. Other users' areas, the
shared files and the user's backups are never touched. Resetting needs a
backup first (verified before anything is removed) or an explicit
``--force --no-backup``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from workspace_tasks import safefs, settings
from workspace_tasks.backup import (
    BackupOptions,
    BackupResult,
    backup_from_file,
    backups_dir,
    configured_compression,
    lock_file,
    locked,
    make_backup,
    verify_backup,
)
from workspace_tasks.context import (
    EXTENSION_KINDS,
    RUNTIME_AREAS,
    Workspace,
    require_areas,
)
from workspace_tasks.errors import ChecksFailed, UsageError
from workspace_tasks.measure import tree_size

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResetOptions:
    """The flags of ``workspace reset``."""

    backup_first: bool = False
    keep_config: bool = False
    force: bool = False
    no_backup: bool = False
    dry_run: bool = False


@dataclass
class Removal:
    """One path the reset removes, and its size."""

    path: str
    bytes: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ResetResult:
    """What a reset removed (or would remove), and the backup made first."""

    user: str
    dry_run: bool
    removals: list[Removal] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    backup: BackupResult | None = None
    reinitialised: bool = False
    cancelled: bool = False

    @property
    def bytes(self) -> int:
        return sum(r.bytes for r in self.removals)

    def to_dict(self) -> dict:
        return {
            "user": self.user,
            "dry_run": self.dry_run,
            "removals": [r.to_dict() for r in self.removals],
            "bytes": self.bytes,
            "kept": self.kept,
            "backup": self.backup.to_dict() if self.backup else None,
            "reinitialised": self.reinitialised,
            "cancelled": self.cancelled,
        }


def check_options(options: ResetOptions) -> None:
    """Refuse a reset that is neither backed up first nor explicitly forced."""
    if options.backup_first and options.no_backup:
        raise UsageError("--backup-first and --no-backup contradict each other")
    if options.no_backup and not options.force:
        raise UsageError(
            "--no-backup removes your areas with no way back; "
            "add --force if you mean it"
        )
    if not options.backup_first and not options.no_backup:
        raise UsageError(
            "reset needs --backup-first (recommended) or --force --no-backup"
        )


def _user_areas(ws: Workspace, keep_config: bool) -> list[Path]:
    areas = [] if keep_config else [ws.user_config]
    areas += [ws.user_extensions_dir(kind) for kind in EXTENSION_KINDS]
    areas.append(ws.infra_dir / ws.user)
    areas += [ws.runtime(area) for area in RUNTIME_AREAS]
    return areas


def plan_reset(ws: Workspace, keep_config: bool) -> ResetResult:
    """List what a reset removes; the backups and the lock are kept.

    Raises:
        UnsafeOperation: a removal, or a runtime area ``init`` re-creates,
            is reached through a link leading out of the workspace; the
            whole reset is refused before anything is removed.
    """
    from workspace_tasks.runtime import check_inside

    for area in RUNTIME_AREAS:
        check_inside(ws, ws.runtime(area))
    protected = [backups_dir(ws), lock_file(ws)]
    result = ResetResult(ws.user, dry_run=True)
    if keep_config:
        result.kept.append(_rel(ws, ws.user_config))
    for area in _user_areas(ws, keep_config):
        _plan_path(ws, area, protected, result)
    for removal in result.removals:
        safefs.check_within(ws.root / removal.path, ws.root)
    return result


def _plan_path(
    ws: Workspace, path: Path, protected: list[Path], result: ResetResult
) -> None:
    if not os.path.lexists(path):
        return
    holds = [p for p in protected if p == path or path in p.parents]
    if holds and path.is_symlink():
        # What it holds is elsewhere: the link is neither followed nor removed.
        result.kept.append(_rel(ws, path))
        return
    if not holds:
        size = (
            path.lstat().st_size
            if path.is_symlink() or not path.is_dir()
            else (tree_size(path).bytes)
        )
        result.removals.append(Removal(_rel(ws, path), size))
        return
    if path in protected:
        result.kept.append(_rel(ws, path))
        return
    for child in sorted(path.iterdir()):
        _plan_path(ws, child, protected, result)


def _rel(ws: Workspace, path: Path) -> str:
    try:
        return path.relative_to(ws.root).as_posix()
    except ValueError:
        return str(path)


def reset_workspace(
    ws: Workspace,
    options: ResetOptions,
    now: datetime | None = None,
    confirm: Callable[[ResetResult], bool] | None = None,
) -> ResetResult:
    """Back up (and verify) if asked, remove the user's areas, re-create them.

    ``confirm`` is shown the plan (holding the lock, before the backup) and
    says whether to go on; when it says no, nothing is done and the result,
    still a plan, is marked ``cancelled``.

    Raises:
        UsageError: neither ``backup_first`` nor ``force`` with ``no_backup``.
        NotFoundError: the user has no areas to reset.
        ChecksFailed: the backup made first does not verify (nothing removed).
    """
    check_options(options)
    require_areas(ws)
    now = now or datetime.now(UTC)
    with locked(ws, "reset"):
        result = plan_reset(ws, options.keep_config)
        if options.dry_run:
            return result
        if confirm is not None and not confirm(result):
            result.cancelled = True
            return result
        if options.backup_first:
            result.backup = _backup_and_verify(ws, now)
        for removal in result.removals:
            safefs.remove_path(ws.root / removal.path, ws.root)
            log.info("reset removed %s", removal.path)
        _reinitialise(ws)
    result.dry_run = False
    result.reinitialised = True
    return result


def _backup_and_verify(ws: Workspace, now: datetime) -> BackupResult:
    options = BackupOptions(
        include_logs=True,
        compression=configured_compression(ws, "none"),
        encrypt=settings.bool_setting(ws, "backup.encrypt"),
    )
    made = make_backup(ws, options, now)
    check = verify_backup(ws, backup_from_file(Path(made.path)))
    if not check.ok:
        raise ChecksFailed(
            f"the backup made before the reset ({made.path}) does not verify: "
            f"{check.problems[0]}; nothing was removed"
        )
    return made


def _reinitialise(ws: Workspace) -> None:
    from workspace_tasks.init import InitOptions, init_workspace

    options = InitOptions(infra_name=ws.infra or None, workspace_type=ws.type)
    init_workspace(ws, options)
