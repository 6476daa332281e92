"""Aggregated status from member statuses, and propagateDeps dependencies with their garbage rule (pure).

Covers: a Deployment over three clusters (sums, observedGeneration only when every member caught up,
breakdown per cluster, a member not yet reported), StatefulSet/DaemonSet counters, Job completion and
failure, Service and Ingress load-balancer ingress merged without duplicates, unsupported kinds refused;
dependencies of Karmada's propagate-deps sample and of every reference form, the default ServiceAccount
skipped, placement as the union of referencing workloads, removal when the last referencing workload
leaves a cluster.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.policy import (
    Dependency,
    aggregate_status,
    breakdown_annotation,
    dependencies_of,
    dependency_removals,
    plan_dependencies,
)

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "karmada-samples"


def _member(generation: int, observed: int, **status: Any) -> dict[str, Any]:
    return {"metadata": {"generation": generation}, "status": {"observedGeneration": observed, **status}}


def test_deployment_over_three_clusters() -> None:
    members = {
        "c1": _member(2, 2, replicas=2, readyReplicas=2, availableReplicas=2, updatedReplicas=2),
        "c2": _member(
            1, 1, replicas=3, readyReplicas=1, availableReplicas=1, updatedReplicas=3, unavailableReplicas=2
        ),
        "c3": _member(4, 4, replicas=1, readyReplicas=1, availableReplicas=1, updatedReplicas=1),
    }
    status, breakdown = aggregate_status("Deployment", members, template_generation=7)
    assert status == {
        "replicas": 6,
        "updatedReplicas": 6,
        "readyReplicas": 4,
        "availableReplicas": 4,
        "unavailableReplicas": 2,
        "observedGeneration": 7,
    }
    assert breakdown["c2"] == {
        "replicas": 3,
        "updatedReplicas": 3,
        "readyReplicas": 1,
        "availableReplicas": 1,
        "unavailableReplicas": 2,
    }
    assert json.loads(breakdown_annotation(breakdown))["c1"]["readyReplicas"] == 2
    lagging = dict(members, c3=_member(5, 4, replicas=1))
    assert "observedGeneration" not in aggregate_status("Deployment", lagging, template_generation=7)[0]
    missing = dict(members, c3=None)
    status, breakdown = aggregate_status("Deployment", missing, template_generation=7)
    assert status["replicas"] == 5 and "observedGeneration" not in status and breakdown["c3"] == {}


def test_statefulset_and_daemonset_counters() -> None:
    sts = aggregate_status(
        "StatefulSet",
        {"a": {"status": {"replicas": 2, "currentReplicas": 2}}, "b": {"status": {"replicas": 1}}},
    )
    assert sts[0]["replicas"] == 3 and sts[0]["currentReplicas"] == 2
    ds = aggregate_status(
        "DaemonSet",
        {
            "a": {"status": {"desiredNumberScheduled": 3, "numberReady": 2}},
            "b": {"status": {"desiredNumberScheduled": 2, "numberReady": 2}},
        },
    )
    assert (ds[0]["desiredNumberScheduled"], ds[0]["numberReady"]) == (5, 4)


def _job(complete: bool = False, failed: bool = False, **status: Any) -> dict[str, Any]:
    conditions = [{"type": "Complete", "status": "True"}] if complete else []
    conditions += [{"type": "Failed", "status": "True"}] if failed else []
    return {"status": {"conditions": conditions, **status}}


def test_job_completion_and_failure() -> None:
    done = {
        "a": _job(True, succeeded=2, startTime="2026-01-01T00:00:05Z", completionTime="2026-01-01T00:01:00Z"),
        "b": _job(True, succeeded=1, startTime="2026-01-01T00:00:01Z", completionTime="2026-01-01T00:02:00Z"),
    }
    status, _ = aggregate_status("Job", done)
    assert status["succeeded"] == 3 and status["startTime"] == "2026-01-01T00:00:01Z"
    assert status["completionTime"] == "2026-01-01T00:02:00Z"
    assert [c["type"] for c in status["conditions"]] == ["Complete"]
    running = dict(done, c=_job(active=1))
    assert "conditions" not in aggregate_status("Job", running)[0]
    failing = dict(running, d=_job(failed=True))
    condition = aggregate_status("Job", failing)[0]["conditions"][0]
    assert condition["type"] == "Failed" and condition["message"].endswith("member cluster d")


def test_service_and_ingress_load_balancers() -> None:
    members = {
        "b": {"status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.2"}, {"ip": "10.0.0.1"}]}}},
        "a": {"status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}}},
        "c": None,
    }
    for kind in ("Service", "Ingress"):
        status, breakdown = aggregate_status(kind, members)
        assert status == {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}]}}
        assert breakdown["c"] == {} and breakdown["a"] == {"ingress": [{"ip": "10.0.0.1"}]}
    with pytest.raises(ValueError, match="ConfigMap"):
        aggregate_status("ConfigMap", {})


def test_dependencies_of_karmadas_sample() -> None:
    workload = next(
        d
        for d in yaml.safe_load_all((SAMPLES / "docs-propagate-deps-workload.yaml").read_text())
        if d["kind"] == "Deployment"
    )
    workload["metadata"]["namespace"] = "default"
    assert dependencies_of(workload) == {Dependency("ConfigMap", "default", "my-nginx-config")}


def test_every_reference_form() -> None:
    pod_spec = {
        "serviceAccountName": "runner",
        "imagePullSecrets": [{"name": "pull"}],
        "volumes": [
            {"name": "a", "configMap": {"name": "cm-vol"}},
            {"name": "b", "secret": {"secretName": "sec-vol"}},
            {"name": "c", "persistentVolumeClaim": {"claimName": "data"}},
            {
                "name": "d",
                "projected": {
                    "sources": [{"configMap": {"name": "cm-proj"}}, {"secret": {"name": "sec-proj"}}]
                },
            },
            {"name": "e", "emptyDir": {}},
        ],
        "initContainers": [
            {
                "name": "i",
                "envFrom": [{"configMapRef": {"name": "cm-from"}}, {"secretRef": {"name": "sec-from"}}],
            }
        ],
        "containers": [
            {
                "name": "m",
                "env": [
                    {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm-env", "key": "k"}}},
                    {"name": "Y", "valueFrom": {"secretKeyRef": {"name": "sec-env", "key": "k"}}},
                    {"name": "Z", "value": "plain"},
                ],
            }
        ],
    }
    cronjob = {
        "kind": "CronJob",
        "metadata": {"namespace": "ns"},
        "spec": {"jobTemplate": {"spec": {"template": {"spec": pod_spec}}}},
    }
    found = dependencies_of(cronjob)
    assert {(d.kind, d.name) for d in found} == {
        ("ServiceAccount", "runner"),
        ("Secret", "pull"),
        ("ConfigMap", "cm-vol"),
        ("Secret", "sec-vol"),
        ("PersistentVolumeClaim", "data"),
        ("ConfigMap", "cm-proj"),
        ("Secret", "sec-proj"),
        ("ConfigMap", "cm-from"),
        ("Secret", "sec-from"),
        ("ConfigMap", "cm-env"),
        ("Secret", "sec-env"),
    }
    assert {d.namespace for d in found} == {"ns"}
    default_sa = {"kind": "Pod", "metadata": {"namespace": "ns"}, "spec": {"serviceAccountName": "default"}}
    assert dependencies_of(default_sa) == frozenset()
    assert dependencies_of({"kind": "ConfigMap", "data": {}}) == frozenset()


def test_dependencies_follow_workloads_and_are_collected() -> None:
    cm = Dependency("ConfigMap", "default", "shared")
    secret = Dependency("Secret", "default", "only-web")
    plan = plan_dependencies(
        {
            "Deployment/default/web": (frozenset({cm, secret}), frozenset({"c1", "c2"})),
            "Deployment/default/api": (frozenset({cm}), frozenset({"c2", "c3"})),
        }
    )
    assert plan[cm].clusters == {"c1", "c2", "c3"}
    assert plan[cm].required_by == ("Deployment/default/api", "Deployment/default/web")
    assert plan[secret].clusters == {"c1", "c2"}
    previous = {dep: p.clusters for dep, p in plan.items()}
    # web leaves c1 and api is deleted: cm stays only where web still runs, the secret leaves c1
    after = plan_dependencies({"Deployment/default/web": (frozenset({cm, secret}), frozenset({"c2"}))})
    assert dependency_removals(previous, after) == {cm: {"c1", "c3"}, secret: {"c1"}}
    # web stops referencing the secret: it is collected everywhere
    final = plan_dependencies({"Deployment/default/web": (frozenset({cm}), frozenset({"c2"}))})
    assert dependency_removals({dep: p.clusters for dep, p in after.items()}, final) == {secret: {"c2"}}
