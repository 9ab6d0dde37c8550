"""Isolated, healthy, backed-up per-user workspaces for infrastructure as code.

The public Python API is re-exported here lazily, so that importing the
package (and running ``workspace --help``) stays cheap.
"""

from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "Workspace": "workspace_tasks.context",
    "load_workspace": "workspace_tasks.context",
    "resolve_path": "workspace_tasks.resolver",
    "resolve_extension": "workspace_tasks.resolver",
    "list_extensions": "workspace_tasks.resolver",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'workspace_tasks' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
