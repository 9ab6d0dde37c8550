"""effective_config / setting: the merged cascade, through the fresh cache."""

from __future__ import annotations

import dataclasses

from workspace_tasks.config_ops import write_cache
from workspace_tasks.settings import effective_config, setting


def test_setting_reads_the_merged_interpolated_cascade(make_workspace):
    ws = make_workspace("dev")
    assert setting(ws, "cache.ttl") == 300
    assert setting(ws, "health.min_free_disk") == "1GB"
    assert setting(ws, "core.name") == "provisioning-dev"
    assert setting(ws, "paths.extensions") == f"{ws.root}/extensions"
    assert setting(ws, "no.such.key", "fallback") == "fallback"


def test_a_changed_layer_is_seen_at_once(make_workspace):
    ws = make_workspace("dev")
    assert setting(ws, "cache.ttl") == 300
    ws.user_config.write_text("[cache]\nttl = 7\n")
    assert setting(ws, "cache.ttl") == 7


def test_fresh_cache_is_read_and_stale_cache_ignored(make_workspace):
    ws = make_workspace("dev")
    write_cache(ws)
    # Mark the cache's values so reading it is visible.
    text = ws.merged_config.read_text().replace("ttl = 300", "ttl = 301")
    ws.merged_config.write_text(text)
    assert setting(ws, "cache.ttl") == 301
    ws.workspace_defaults.write_text(ws.workspace_defaults.read_text() + "\n")
    assert setting(ws, "cache.ttl") == 300


def test_callers_cannot_change_the_remembered_values(make_workspace):
    ws = make_workspace("dev")
    effective_config(ws)["cache"]["ttl"] = 0
    assert setting(ws, "cache.ttl") == 300


def test_environment_of_the_workspace_feeds_env_references(make_workspace):
    ws = make_workspace("dev")
    ws.user_config.write_text('[paths]\nhome = "${env.HOME_DIR}"\n')
    one = dataclasses.replace(ws, environ={"HOME_DIR": "/a"})
    two = dataclasses.replace(ws, environ={"HOME_DIR": "/b"})
    assert setting(one, "paths.home") == "/a"
    assert setting(two, "paths.home") == "/b"


def test_a_value_read_is_the_callers_own_copy(make_workspace):
    ws = make_workspace("dev")
    section = setting(ws, "cache")
    section["ttl"] = -1
    section.clear()
    assert setting(ws, "cache.ttl") == 300
    assert setting(ws, "cache")["enabled"] is True
