"""Integration tests of cluster ci-runners: the description renders."""

import tomllib

from ci_runners.cluster import render


def test_cluster_renders_with_its_servers():
    servers = [{"hostname": "node-01", "taskservs": ["containerd"]}]
    text = render({"infra": {"name": "lab"}, "servers": servers})
    cluster = tomllib.loads(text)["cluster"]
    assert cluster["name"] == "ci-runners"
    assert cluster["infra"] == "lab"
    assert cluster["servers"] == servers
