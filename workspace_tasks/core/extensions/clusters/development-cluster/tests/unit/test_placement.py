"""Unit tests of cluster development-cluster: task services placed on servers."""

import pytest
from development_cluster.cluster import PlacementError, placement, taskservs


def test_each_taskserv_gets_the_servers_that_run_it():
    servers = [
        {"hostname": "a", "taskservs": list(taskservs())},
        {"hostname": "b", "taskservs": []},
    ]
    assert placement(servers) == {name: ["a"] for name in taskservs()}


def test_a_taskserv_without_server_is_refused():
    with pytest.raises(PlacementError, match="no server runs"):
        placement([{"hostname": "a", "taskservs": []}])
