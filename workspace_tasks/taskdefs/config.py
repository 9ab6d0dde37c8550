"""``doit config``: write the user's merged configuration to ``runtime/state``."""

from __future__ import annotations

from collections.abc import Callable

from workspace_tasks import output
from workspace_tasks.context import Workspace
from workspace_tasks.taskdefs import reported


@reported
def write_merged_config(ws: Workspace) -> dict:
    """Write ``runtime/state/<user>/merged-config.toml``; say where."""
    from workspace_tasks.config_ops import write_cache

    result = write_cache(ws)
    output.print_line(f"merged configuration of {ws.user} written to {result.path}")
    return {"layers": ", ".join(result.layers)}


def creators(ws: Workspace) -> dict[str, Callable[[], dict]]:
    """Return the config task bound to ``ws``."""

    def task_config() -> dict:
        """Merge the layers into runtime/state/<user>/merged-config.toml."""
        from workspace_tasks.cascade import cache_is_fresh, layer_sources

        files = [source.path for source in layer_sources(ws) if source.path]
        return {
            "actions": [(write_merged_config, [ws])],
            "file_dep": [path for path in files if path.is_file()],
            "targets": [ws.merged_config],
            # The cache records its layers' signature: a layer touched,
            # created or removed makes it stale even when no content changed.
            "uptodate": [(cache_is_fresh, [ws])],
            "clean": True,
        }

    return {"task_config": task_config}
