"""The policy.karmada.io CRDs on a real kube-apiserver: Karmada's samples pass, unsupported fields fail.

Covers (real kube-apiserver v1.37, its CEL and enum checks, not ours): every Karmada sample policy in
tests/data/karmada-samples is created unchanged (201); each unsupported Karmada field is refused with
422 naming the field and saying it is unsupported (the always-failing CEL rule of the generated CRD);
``replicaDivisionPreference: Aggregated`` and field-selector key ``provider`` are refused as
``Unsupported value``; the stored objects keep their content (nothing pruned).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubefedctl._crds import render_files
from shared import karmada_api
from sim.real import RealFleet
from tests.policy.test_api import UNSUPPORTED_PP
from tests.support.real import require_programs

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "karmada-samples"
PLURALS = {
    "PropagationPolicy": "propagationpolicies",
    "ClusterPropagationPolicy": "clusterpropagationpolicies",
    "OverridePolicy": "overridepolicies",
    "ClusterOverridePolicy": "clusteroverridepolicies",
}


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    require_programs()
    tmp = tmp_path_factory.mktemp("policy-real")
    fleet = RealFleet(["host"], kubeconfig_path=tmp / "kubeconfig", workdir=tmp / "fleet")
    fleet.start()
    try:
        cluster = fleet["host"]
        for crd in yaml.safe_load_all(render_files()["crds/policy.karmada.io.yaml"]):
            if crd:
                status, body = cluster.request(
                    "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd
                )
                assert status == 201, body["message"]
        deadline = time.monotonic() + 30
        while cluster.request("GET", "/apis/policy.karmada.io/v1alpha1/propagationpolicies")[0] != 200:
            assert time.monotonic() < deadline, "policy CRDs not served"
            time.sleep(0.2)
        yield cluster
    finally:
        fleet.close()


def _path(obj: dict[str, Any]) -> str:
    plural = PLURALS[obj["kind"]]
    if obj["kind"].startswith("Cluster"):
        return f"/apis/policy.karmada.io/v1alpha1/{plural}"
    return f"/apis/policy.karmada.io/v1alpha1/namespaces/default/{plural}"


def _create(host: Any, obj: dict[str, Any]) -> tuple[int, Any]:
    status, body = host.request("POST", _path(obj), obj)
    return int(status), body


def test_karmada_samples_are_accepted_unchanged(host: Any) -> None:
    created = 0
    for path in sorted(SAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc["apiVersion"] != karmada_api.API_VERSION:
                continue
            doc["metadata"]["name"] = f"{doc['metadata']['name']}-{created}"
            status, body = _create(host, doc)
            assert status == 201, (path.name, body)
            assert body["spec"] == doc["spec"], path.name  # nothing pruned
            created += 1
    assert created == 9


@pytest.mark.parametrize(("path", "spec"), UNSUPPORTED_PP, ids=[p for p, _ in UNSUPPORTED_PP])
def test_unsupported_fields_are_refused_by_the_api_server(host: Any, path: str, spec: dict[str, Any]) -> None:
    obj = {
        "apiVersion": karmada_api.API_VERSION,
        "kind": "PropagationPolicy",
        "metadata": {"name": "unsupported"},
        "spec": {"resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment"}], **spec},
    }
    status, body = _create(host, obj)
    assert status == 422, body
    assert path in body["message"] and karmada_api.UNSUPPORTED_MESSAGE in body["message"], body["message"]


def test_narrowed_enums_and_fieldoverrider_are_refused(host: Any) -> None:
    base = {"resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment"}]}
    aggregated = {
        "apiVersion": karmada_api.API_VERSION,
        "kind": "PropagationPolicy",
        "metadata": {"name": "aggregated"},
        "spec": {**base, "placement": {"replicaScheduling": {"replicaDivisionPreference": "Aggregated"}}},
    }
    status, body = _create(host, aggregated)
    assert status == 422 and 'Unsupported value: "Aggregated"' in body["message"], body
    provider = {
        "apiVersion": karmada_api.API_VERSION,
        "kind": "ClusterPropagationPolicy",
        "metadata": {"name": "provider"},
        "spec": {
            **base,
            "placement": {
                "clusterAffinity": {
                    "fieldSelector": {
                        "matchExpressions": [{"key": "provider", "operator": "In", "values": ["x"]}]
                    }
                }
            },
        },
    }
    status, body = _create(host, provider)
    assert status == 422 and 'Unsupported value: "provider"' in body["message"], body
    field_overrider = {
        "apiVersion": karmada_api.API_VERSION,
        "kind": "ClusterOverridePolicy",
        "metadata": {"name": "field"},
        "spec": {"overrideRules": [{"overriders": {"fieldOverrider": [{"fieldPath": "/data/x"}]}}]},
    }
    status, body = _create(host, field_overrider)
    assert (
        status == 422
        and "fieldOverrider" in body["message"]
        and karmada_api.UNSUPPORTED_MESSAGE in body["message"]
    ), body
