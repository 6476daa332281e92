"""The policy.karmada.io/v1alpha1 subset: Karmada's own samples verbatim, and every rejection.

Covers: each sample in tests/data/karmada-samples parses and validates unchanged; every Karmada field
outside the subset is rejected with the "unsupported" message by our validator and carries the
always-failing CEL rule in the generated CRD (the same set of fields on both sides); narrowed enums
(Aggregated, provider) and unknown fields are rejected; malformed selectors and overriders are named
with their path.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubefedctl._crds import render_files
from shared import karmada_api as karmada

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "karmada-samples"


def _load(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((SAMPLES / name).read_text()) if d]


def _validate(obj: dict[str, Any]) -> list[str]:
    if obj["kind"] in ("PropagationPolicy", "ClusterPropagationPolicy"):
        return karmada.validate_propagation_policy(obj)
    return karmada.validate_override_policy(obj)


POLICY_SAMPLES = sorted(
    p.name
    for p in SAMPLES.glob("*.yaml")
    if all(d["apiVersion"] == karmada.API_VERSION for d in _load(p.name))
)


def test_the_samples_are_there() -> None:
    assert len(POLICY_SAMPLES) == 9, POLICY_SAMPLES


@pytest.mark.parametrize("name", POLICY_SAMPLES)
def test_karmada_sample_validates_unchanged(name: str) -> None:
    for doc in _load(name):
        assert _validate(doc) == [], name
        if doc["kind"].endswith("PropagationPolicy"):
            spec = karmada.decode_propagation_spec(doc)
            assert spec.resourceSelectors[0].kind
        else:
            assert karmada.decode_override_spec(doc).overrideRules


def _pp(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "apiVersion": karmada.API_VERSION,
        "kind": "PropagationPolicy",
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment"}]},
    }
    base["spec"].update(spec)
    return base


UNSUPPORTED_PP = [
    ("spec.placement.spreadConstraints", {"placement": {"spreadConstraints": [{"spreadByField": "region"}]}}),
    ("spec.placement.clusterAffinities", {"placement": {"clusterAffinities": [{"affinityName": "a"}]}}),
    ("spec.placement.clusterTolerations", {"placement": {"clusterTolerations": [{"key": "k"}]}}),
    ("spec.failover", {"failover": {"application": {}}}),
    ("spec.dependentOverrides", {"dependentOverrides": ["op"]}),
    ("spec.association", {"association": True}),
    ("spec.activationPreference", {"activationPreference": "Lazy"}),
    ("spec.suspension", {"suspension": {"dispatching": True}}),
    ("spec.preserveResourcesOnDeletion", {"preserveResourcesOnDeletion": True}),
    ("spec.schedulePriority", {"schedulePriority": {"priorityClassSource": "KubePriorityClass"}}),
]


@pytest.mark.parametrize(("path", "spec"), UNSUPPORTED_PP, ids=[p for p, _ in UNSUPPORTED_PP])
def test_unsupported_karmada_fields_are_rejected_not_ignored(path: str, spec: dict[str, Any]) -> None:
    errors = karmada.validate_propagation_policy(_pp(**spec))
    assert errors == [f"{path}: Unsupported value: {karmada.UNSUPPORTED_MESSAGE}"]
    with pytest.raises(ValueError, match="does not support this Karmada field"):
        karmada.decode_propagation_spec(_pp(**spec))


def test_unsupported_overrider_is_rejected() -> None:
    op = {
        "apiVersion": karmada.API_VERSION,
        "kind": "OverridePolicy",
        "metadata": {"name": "o"},
        "spec": {"overrideRules": [{"overriders": {"fieldOverrider": [{"fieldPath": "/data/x"}]}}]},
    }
    assert karmada.validate_override_policy(op) == [
        f"spec.overrideRules[0].overriders.fieldOverrider: Unsupported value: {karmada.UNSUPPORTED_MESSAGE}"
    ]


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        (
            {"placement": {"replicaScheduling": {"replicaDivisionPreference": "Aggregated"}}},
            "replicaDivisionPreference: Unsupported value: 'Aggregated'",
        ),
        (
            {
                "placement": {
                    "clusterAffinity": {
                        "fieldSelector": {
                            "matchExpressions": [{"key": "provider", "operator": "In", "values": ["x"]}]
                        }
                    }
                }
            },
            "key: Unsupported value: 'provider'",
        ),
        ({"placement": {"clusterAfinity": {}}}, "spec.placement.clusterAfinity: Unknown field"),
        ({"priority": 2**31}, "priority"),
        ({"preemption": "Sometimes"}, "Sometimes"),
        ({"conflictResolution": "Merge"}, "Merge"),
        ({"resourceSelectors": []}, "resourceSelectors"),
    ],
)
def test_bad_values_are_rejected_with_their_path(spec: dict[str, Any], fragment: str) -> None:
    errors = karmada.validate_propagation_policy(_pp(**spec))
    assert len(errors) == 1 and errors[0].startswith("spec") and fragment in errors[0], errors


def test_selector_and_overrider_rules_the_schema_cannot_express() -> None:
    bad_selector = {"matchExpressions": [{"key": "env", "operator": "In"}]}
    errors = karmada.validate_propagation_policy(
        _pp(
            resourceSelectors=[{"apiVersion": "v1", "kind": "ConfigMap", "labelSelector": bad_selector}],
            placement={"clusterAffinity": {"labelSelector": bad_selector}},
        )
    )
    assert errors == [
        "spec.resourceSelectors[0].labelSelector.matchExpressions[0].values: Required value: "
        "must be specified "
        "when `operator` is 'In' or 'NotIn'",
        "spec.placement.clusterAffinity.labelSelector.matchExpressions[0].values: Required value: must be "
        "specified when `operator` is 'In' or 'NotIn'",
    ]
    op = {
        "spec": {
            "overrideRules": [
                {
                    "overriders": {
                        "plaintext": [{"path": "spec/replicas", "operator": "remove", "value": 1}],
                        "imageOverrider": [{"component": "Tag", "operator": "replace"}],
                    }
                }
            ]
        }
    }
    assert karmada.validate_override_policy(op) == [
        "spec.overrideRules[0].overriders.plaintext[0].path: Invalid value: 'spec/replicas': must be a JSON "
        "pointer starting with '/'",
        "spec.overrideRules[0].overriders.plaintext[0].value: Invalid value: "
        "must be empty when operator is 'remove'",
        "spec.overrideRules[0].overriders.imageOverrider[0].value: Required value: must not be empty when "
        "operator is 'add' or 'replace'",
    ]


def _cel_paths(node: Any, path: str) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        if node.get("x-kubernetes-validations") == [
            {"rule": "false", "message": karmada.UNSUPPORTED_MESSAGE}
        ]:
            assert node.get("type") in ("object", "array", "string", "boolean"), path  # CEL needs a type
            items = node.get("items") or {}
            assert node["type"] != "object" or node.get("x-kubernetes-preserve-unknown-fields") is True, path
            assert (
                items.get("type") != "object" or items.get("x-kubernetes-preserve-unknown-fields") is True
            ), path
            found.add(path)
        for key, child in (node.get("properties") or {}).items():
            found |= _cel_paths(child, f"{path}.{key}")
        if "items" in node:
            found |= _cel_paths(node["items"], f"{path}[]")
    return found


def test_crd_rejects_exactly_the_fields_the_validator_rejects() -> None:
    crds = {
        d["spec"]["names"]["kind"]: d
        for d in yaml.safe_load_all(render_files()["crds/policy.karmada.io.yaml"])
        if d
    }
    assert set(crds) == {
        "PropagationPolicy",
        "ClusterPropagationPolicy",
        "OverridePolicy",
        "ClusterOverridePolicy",
    }
    assert crds["ClusterPropagationPolicy"]["spec"]["scope"] == "Cluster"
    assert crds["PropagationPolicy"]["spec"]["names"]["shortNames"] == ["pp"]
    schema = crds["PropagationPolicy"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert _cel_paths(schema, "") == {f".{p}" for p, _ in UNSUPPORTED_PP}
    placement = schema["properties"]["spec"]["properties"]["placement"]["properties"]
    assert placement["replicaScheduling"]["properties"]["replicaDivisionPreference"]["enum"] == ["Weighted"]
    op_schema = crds["OverridePolicy"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert _cel_paths(op_schema, "") == {
        ".spec.overrideRules[].overriders.fieldOverrider",
        ".spec.overriders.fieldOverrider",
    }
    # no structural-schema violation: properties and additionalProperties never together
    text = render_files()["crds/policy.karmada.io.yaml"]
    assert "additionalProperties: false" not in text


def test_validators_never_mutate_their_input() -> None:
    obj = _pp(placement={"spreadConstraints": [{"spreadByField": "zone"}]})
    before = copy.deepcopy(obj)
    karmada.validate_propagation_policy(obj)
    assert obj == before
