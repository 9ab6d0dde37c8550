"""Integration tests of cluster development-cluster: the description renders."""

import tomllib

from development_cluster.cluster import render


def test_cluster_renders_with_its_servers():
    servers = [{"hostname": "node-01", "taskservs": ["containerd"]}]
    text = render({"infra": {"name": "lab"}, "servers": servers})
    cluster = tomllib.loads(text)["cluster"]
    assert cluster["name"] == "development-cluster"
    assert cluster["infra"] == "lab"
    assert cluster["servers"] == servers
