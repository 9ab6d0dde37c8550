"""``workspace cleanup``: old backups, caches and logs of one user.

Built on the cleanup engine (:mod:`workspace_tasks.cleanup`), so it has the
same safety: a plan first, removal inside the user's areas only, links never
followed, future and held-open files kept.

- ``old``: backups past retention (``[backup] keep_last`` newest always kept;
  the rest when older than ``[backup] keep_within``, or than ``--age``);
- ``cache``: cache files older than ``--age`` (without it, every cache file);
- ``logs``: log files older than ``--age`` (without it, 30 days);
- ``all``: the three, and temporary files past ``[runtime] temp_max_age``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from workspace_tasks import backup, runtime
from workspace_tasks.cleanup import (
    CleanupPlan,
    merge_plans,
    plan_cleanup,
    plan_named_files,
)
from workspace_tasks.context import Workspace
from workspace_tasks.errors import UsageError
from workspace_tasks.text import quoted

log = logging.getLogger(__name__)

CLEANUP_KINDS = ("old", "cache", "logs", "all")


def check_kind(kind: str) -> str:
    """Return ``kind`` when it is a ``--type`` of ``workspace cleanup``."""
    if kind not in CLEANUP_KINDS:
        raise UsageError(
            f"--type: {quoted(kind)} is not one of {', '.join(CLEANUP_KINDS)}"
        )
    return kind


def plan_old_backups(ws: Workspace, age: float | None, now: datetime) -> CleanupPlan:
    """Plan the removal of ``ws``'s local backups past retention."""
    expired = [
        Path(info.location)
        for info in backup.expired_backups(ws, now, keep_within=age)
        if not info.remote
    ]
    log.debug("%d backups of %s past retention", len(expired), ws.user)
    return plan_named_files(expired, backup.backups_dir(ws), "backup past retention")


def _plan_area(ws: Workspace, kind: str, age: float | None, now: float) -> CleanupPlan:
    targets = runtime.cleanup_targets(ws, kind)
    return plan_cleanup(targets, runtime.allowed_roots(ws), age, now=now)


def plan_workspace_cleanup(
    ws: Workspace, kind: str, age: float | None, now: datetime
) -> CleanupPlan:
    """Plan ``workspace cleanup --type kind [--age]`` for ``ws``'s user.

    Raises:
        UsageError: an unknown ``kind``.
    """
    check_kind(kind)
    stamp = now.timestamp()
    plans = []
    if kind in ("old", "all"):
        plans.append(plan_old_backups(ws, age, now))
    if kind in ("cache", "all"):
        plans.append(_plan_area(ws, "cache", age, stamp))
    if kind in ("logs", "all"):
        logs_age = age if age is not None else runtime.default_age(ws, "logs")
        plans.append(_plan_area(ws, "logs", logs_age, stamp))
    if kind == "all":
        temp_age = age if age is not None else runtime.default_age(ws, "temp")
        plans.append(_plan_area(ws, "temp", temp_age, stamp))
    return merge_plans(plans)
