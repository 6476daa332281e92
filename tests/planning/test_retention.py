"""Field retention on update (``shared.planning._retention``), contract §2.5.5.

Covers: resourceVersion/finalizers/annotations copied from live (and removed when live has
none); Service clusterIP, clusterIPs, healthCheckNodePort (>0 only) and per-port nodePort
matched on name+protocol+port (missing protocol = TCP); ServiceAccount secrets kept unless
the template sets a non-empty list; spec.replicas only with retain_replicas and never for
Service/ServiceAccount; inputs are not mutated.
"""

import copy
from typing import Any

import pytest

from shared.planning import retain_cluster_fields


def _live(kind_extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "x",
            "resourceVersion": "42",
            "finalizers": ["member/finalizer"],
            "annotations": {"member": "owned"},
        },
        **kind_extra,
    }


def test_metadata_retained_for_every_kind() -> None:
    desired = {"metadata": {"name": "x", "labels": {"a": "b"}}, "data": {"k": "v"}}
    out = retain_cluster_fields("ConfigMap", desired, _live({}), retain_replicas=False)
    assert out["metadata"] == {
        "name": "x",
        "labels": {"a": "b"},
        "resourceVersion": "42",
        "finalizers": ["member/finalizer"],
        "annotations": {"member": "owned"},
    }
    assert out["data"] == {"k": "v"}


def test_metadata_removed_when_live_has_none() -> None:
    desired = {"metadata": {"name": "x", "annotations": {"from": "template"}, "finalizers": ["f"]}}
    out = retain_cluster_fields("ConfigMap", desired, {"metadata": {"name": "x"}}, retain_replicas=False)
    assert out["metadata"] == {"name": "x"}


def test_service_fields() -> None:
    desired = {
        "metadata": {"name": "s"},
        "spec": {
            "type": "NodePort",
            "ports": [
                {"name": "http", "port": 80, "protocol": "TCP"},
                {"name": "dns", "port": 53, "protocol": "UDP"},
                {"name": "other", "port": 81},
                {"name": "noprotocol", "port": 82},
            ],
        },
    }
    live = _live(
        {
            "spec": {
                "clusterIP": "10.0.0.5",
                "clusterIPs": ["10.0.0.5"],
                "healthCheckNodePort": 31000,
                "ports": [
                    {"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080},
                    {"name": "dns", "port": 53, "protocol": "TCP", "nodePort": 30053},
                    {"name": "other", "port": 9999, "protocol": "TCP", "nodePort": 30081},
                    {"name": "noprotocol", "port": 82, "protocol": "TCP", "nodePort": 30082},
                ],
                "replicas": 7,
            }
        }
    )
    original = copy.deepcopy(desired)
    out = retain_cluster_fields("Service", desired, live, retain_replicas=True)
    assert desired == original
    spec = out["spec"]
    assert spec["clusterIP"] == "10.0.0.5"
    assert spec["clusterIPs"] == ["10.0.0.5"]
    assert spec["healthCheckNodePort"] == 31000
    assert [p.get("nodePort") for p in spec["ports"]] == [30080, None, None, 30082]
    assert "replicas" not in spec


def test_service_zero_health_check_port_and_empty_cluster_ip_not_retained() -> None:
    desired = {"metadata": {"name": "s"}, "spec": {"clusterIP": "None"}}
    live = _live({"spec": {"clusterIP": "", "healthCheckNodePort": 0}})
    out = retain_cluster_fields("Service", desired, live, retain_replicas=False)
    assert out["spec"] == {"clusterIP": "None"}


def test_service_account_secrets() -> None:
    live = _live({"secrets": [{"name": "token-abc"}]})
    kept = retain_cluster_fields("ServiceAccount", {"metadata": {"name": "sa"}}, live, retain_replicas=False)
    assert kept["secrets"] == [{"name": "token-abc"}]
    empty = retain_cluster_fields(
        "ServiceAccount", {"metadata": {"name": "sa"}, "secrets": []}, live, retain_replicas=False
    )
    assert empty["secrets"] == [{"name": "token-abc"}]
    own = retain_cluster_fields(
        "ServiceAccount",
        {"metadata": {"name": "sa"}, "secrets": [{"name": "mine"}]},
        live,
        retain_replicas=False,
    )
    assert own["secrets"] == [{"name": "mine"}]


def test_replicas_only_when_asked() -> None:
    desired = {"metadata": {"name": "d"}, "spec": {"replicas": 3}}
    live = _live({"spec": {"replicas": 9}})
    assert retain_cluster_fields("Deployment", desired, live, retain_replicas=True)["spec"]["replicas"] == 9
    assert retain_cluster_fields("Deployment", desired, live, retain_replicas=False)["spec"]["replicas"] == 3
    no_live_replicas = retain_cluster_fields("Deployment", desired, _live({"spec": {}}), retain_replicas=True)
    assert no_live_replicas["spec"]["replicas"] == 3


def test_malformed_objects_raise_value_error() -> None:
    with pytest.raises(ValueError, match="Service"):
        retain_cluster_fields("Service", {"metadata": {}, "spec": "oops"}, _live({}), retain_replicas=False)
    with pytest.raises(ValueError):
        retain_cluster_fields("ConfigMap", {"metadata": []}, _live({}), retain_replicas=False)
