"""Unit tests of task service kubernetes: install, removal and update plans."""

from kubernetes.check_updates import newer_releases
from kubernetes.install import install_plan
from kubernetes.uninstall import uninstall_plan


def test_install_writes_config_and_unit_then_enables():
    steps = install_plan({"port": 9090})
    assert [s.action for s in steps] == ["write", "write", "run", "run"]
    assert steps[0].path == "/etc/kubernetes/config.toml"
    assert "port = 9090" in steps[0].content
    assert steps[-1].command == ("systemctl", "enable", "--now", "kubernetes")


def test_uninstall_keeps_data_unless_purged():
    kept = [s.path for s in uninstall_plan() if s.action == "remove"]
    purged = [s.path for s in uninstall_plan(purge=True) if s.action == "remove"]
    assert "/var/lib/kubernetes" not in kept
    assert purged[-1] == "/var/lib/kubernetes"


def test_newer_releases_skip_drafts_and_prereleases():
    releases = [
        {"tag_name": "v1.2.0"},
        {"tag_name": "v1.10.0"},
        {"tag_name": "v2.0.0-rc1", "prerelease": True},
        {"tag_name": "v0.9.0"},
        {"tag_name": "v3.0.0", "draft": True},
    ]
    assert newer_releases("1.1.0", releases) == ["v1.10.0", "v1.2.0"]
