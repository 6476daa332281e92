"""Pins the simulator's public surface (``sim.__all__`` and the cluster-handle methods others use)."""

import sim
from sim import ClusterServer


def test_exported_names() -> None:
    assert sorted(sim.__all__) == [
        "ApiError",
        "ClusterServer",
        "Fleet",
        "Store",
        "default_node_labels",
        "run_fleet",
    ]


def test_cluster_handle_surface() -> None:
    for attr in (
        "get_object",
        "list_objects",
        "go_offline",
        "go_online",
        "set_unhealthy",
        "set_latency",
        "set_error_rate",
        "drop_watches",
        "compact_history",
        "set_capacity",
        "set_node_labels",
        "admin_token",
        "url",
        "mint_token",
    ):
        assert hasattr(ClusterServer, attr), attr
