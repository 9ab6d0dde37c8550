"""Workspace-aware path resolution for scripts kept in this workspace.

    from path_resolver import resolve_path, resolve_extension, list_extensions
    from path_resolver import resolve_config

The functions are those of the installed ``workspace_tasks`` package; this
module only binds them to the workspace that holds it.
"""

from pathlib import Path

from workspace_tasks import cascade as _cascade
from workspace_tasks import resolver as _resolver
from workspace_tasks.edge import workspace_at

WORKSPACE_ROOT = Path(__file__).resolve().parent.parent


def _workspace(user=None):
    return workspace_at(WORKSPACE_ROOT, user)


def resolve_path(kind, name, workspace_user=None, **options):
    """Resolve ``kind``/``name`` along user, shared, template and core paths."""
    return _resolver.resolve_path(_workspace(workspace_user), kind, name, **options)


def resolve_extension(kind, name, workspace_user=None):
    """Find extension ``name`` of ``kind``: the user's, the shared, the core one."""
    return _resolver.resolve_extension(_workspace(workspace_user), kind, name)


def list_extensions(kind, include_core=False, workspace_user=None):
    """List the extensions of ``kind`` with their origin."""
    return _resolver.list_extensions(
        _workspace(workspace_user), kind, include_core=include_core
    )


def resolve_config(name, workspace_user=None, include_overrides=False):
    """Return configuration ``name`` (user, development, testing, production,
    merged) merged and interpolated, as a dict."""
    return _cascade.resolve_config(
        _workspace(workspace_user), name, include_overrides=include_overrides
    )
