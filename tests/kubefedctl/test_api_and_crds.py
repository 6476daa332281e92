"""Pure tests of the KubeFed API definitions and the generated deploy/ files.

Covers: deploy/ equals what ``kubefedctl._crds`` generates from ``shared.kubefed_api`` (no drift);
CRD names, short names, printer columns, status subresources and enums; the shipped KubeFedConfig and
FederatedTypeConfigs pass our validators; KubeFedConfig defaulting (sections, gates completed and
sorted) and validation messages; FTC defaulting and validation; KubeFedCluster validation; Go
duration parsing; decoding API objects into the Structs.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
import yaml

from kubefedctl._crds import CRD_DEFS, render_files
from shared import kubefed_api as api

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "kubefed-examples"


def _docs(rel: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((DEPLOY / rel).read_text()) if d]


def test_deploy_files_match_the_generator() -> None:
    for rel, text in render_files().items():
        assert (DEPLOY / rel).read_text() == text, f"deploy/{rel} is stale: run python -m kubefedctl._crds"


def test_crds_carry_kubefed_names_columns_and_subresources() -> None:
    crds = {
        d["metadata"]["name"]: d
        for f in ("core.kubefed.io", "scheduling.kubefed.io", "multiclusterdns.kubefed.io")
        for d in _docs(f"crds/{f}.yaml")
    }
    assert set(crds) == {d.name for d in CRD_DEFS}
    kfc = crds["kubefedclusters.core.kubefed.io"]["spec"]
    assert kfc["names"]["shortNames"] == ["kfc"]
    version = kfc["versions"][0]
    assert [c["name"] for c in version["additionalPrinterColumns"]] == ["age", "ready", "kubernetes-version"]
    assert version["subresources"] == {"status": {}}
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["required"] == ["apiEndpoint", "secretRef"]
    assert spec["properties"]["caBundle"] == {"type": "string", "format": "byte"}
    assert crds["federatedtypeconfigs.core.kubefed.io"]["spec"]["names"]["shortNames"] == ["ftc"]
    assert crds["replicaschedulingpreferences.scheduling.kubefed.io"]["spec"]["names"]["shortNames"] == [
        "rsp"
    ]
    config = crds["kubefedconfigs.core.kubefed.io"]["spec"]["versions"][0]
    assert "subresources" not in config
    scope = config["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["scope"]
    assert scope == {"enum": ["Cluster", "Namespaced"], "type": "string"}
    domain = crds["domains.multiclusterdns.kubefed.io"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert domain["required"] == ["domain"] and "spec" not in domain["properties"]


def test_propagated_version_crds_have_kubefeds_names_scopes_and_status() -> None:
    ours = {
        d["metadata"]["name"]: d
        for f in (DEPLOY / "crds").glob("*.yaml")
        for d in yaml.safe_load_all(f.read_text())
        if d
    }
    theirs = {
        d["metadata"]["name"]: d
        for d in yaml.safe_load_all((EXAMPLES / "crds/kubefed-crds-v0.8.1.yaml").read_text())
        if d and "propagatedversion" in d["metadata"]["name"]
    }
    assert set(theirs) == {"propagatedversions.core.kubefed.io", "clusterpropagatedversions.core.kubefed.io"}
    for name, crd in theirs.items():
        mine = ours[name]
        assert mine["spec"]["scope"] == crd["spec"]["scope"]
        assert mine["spec"]["names"]["kind"] == crd["spec"]["names"]["kind"]
        version = mine["spec"]["versions"][0]
        assert version["name"] == "v1alpha1" and version["subresources"] == {"status": {}}
        status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
        kubefed_status = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
        assert set(status["properties"]) == set(kubefed_status["properties"])
        assert set(status["required"]) == set(kubefed_status["required"])


def test_federated_type_crds_match_kubefeds_shape() -> None:
    ours = {d["metadata"]["name"]: d for d in _docs("crds/types.kubefed.io.yaml")}
    theirs = {
        d["metadata"]["name"]: d
        for d in yaml.safe_load_all((EXAMPLES / "crds/federated-types-crds-v0.8.1.yaml").read_text())
        if d
    }
    for name, crd in theirs.items():
        if "ingress" in name:
            continue
        mine = ours[name]
        assert mine["spec"]["scope"] == crd["spec"]["scope"]
        assert mine["spec"]["names"].get("shortNames") == crd["spec"]["names"].get("shortNames")
        a = mine["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        b = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        assert set(a) == set(b), name
        assert a["overrides"] == b["overrides"] and a["placement"] == b["placement"]


def test_shipped_config_and_ftcs_are_valid() -> None:
    (config,) = _docs("config/10-kubefedconfig.yaml")
    assert config["metadata"] == {"name": "kubefed", "namespace": "kube-federation-system"}
    assert api.validate_kubefed_config(config) == []
    ftcs = _docs("config/20-federatedtypeconfigs.yaml")
    assert len(ftcs) == 10
    for ftc in ftcs:
        assert api.validate_federated_type_config(api.default_federated_type_config(ftc)) == []
        msgspec.convert({"spec": ftc["spec"]}, api.FederatedTypeConfig)
    ns_ftc = next(f for f in ftcs if f["metadata"]["name"] == "namespaces")
    assert ns_ftc["spec"]["federatedType"]["scope"] == "Namespaced"


def test_kubefedconfig_defaulting_fills_sections_and_sorts_gates() -> None:
    example = yaml.safe_load((EXAMPLES / "config/kubefedconfig.yaml").read_text())
    out = api.default_kubefed_config(example)
    spec = out["spec"]
    assert spec["controllerDuration"]["availableDelay"] == "20s"
    assert spec["controllerDuration"]["cacheSyncTimeout"] == "5m0s"
    assert spec["clusterHealthCheck"] == {
        "period": "10s",
        "failureThreshold": 3,
        "successThreshold": 1,
        "timeout": "3s",
    }
    assert spec["syncController"] == {"maxConcurrentReconciles": 1, "adoptResources": "Enabled"}
    names = [g["name"] for g in spec["featureGates"]]
    assert names == sorted(names) and "FederatedIngress" in names
    assert {g["name"]: g["configuration"] for g in spec["featureGates"]}[
        "RawResourceStatusCollection"
    ] == "Enabled"
    assert "clusterHealthCheck" not in example["spec"]  # input untouched
    assert api.validate_kubefed_config(out) == []


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"scope": None}, "spec.scope: Required value"),
        (
            {"scope": "Galaxy"},
            'spec.scope: Unsupported value: "Galaxy": supported values: "Cluster", "Namespaced"',
        ),
        (
            {"leaderElect": {"leaseDuration": "5s", "renewDeadline": "10s"}},
            'spec.leaderElect.leaseDuration: Invalid value: "5s": leaseDuration must be greater than '
            "renewDeadline",
        ),
        (
            {"leaderElect": {"renewDeadline": "5s", "retryPeriod": "5s", "leaseDuration": "15s"}},
            'spec.leaderElect.renewDeadline: Invalid value: "5s": renewDeadline must be greater than '
            "retryPeriod*JitterFactor(1.2)",
        ),
        (
            {"leaderElect": {"resourceLock": "leases"}},
            'spec.leaderElect.resourceLock: Unsupported value: "leases"',
        ),
        (
            {"featureGates": [{"name": "Teleport", "configuration": "Enabled"}]},
            'spec.featureGates[0].name: Unsupported value: "Teleport"',
        ),
        (
            {
                "featureGates": [
                    {"name": "PushReconciler", "configuration": "Enabled"},
                    {"name": "PushReconciler", "configuration": "Disabled"},
                ]
            },
            'Duplicate value: "PushReconciler"',
        ),
        (
            {"clusterHealthCheck": {"failureThreshold": 0}},
            'spec.clusterHealthCheck.failureThreshold: Invalid value: "0": should be greater than 0',
        ),
        (
            {"controllerDuration": {"availableDelay": "0s"}},
            'spec.controllerDuration.availableDelay: Invalid value: "0s": duration must be greater than 0',
        ),
        ({"controllerDuration": {"availableDelay": "soon"}}, 'time: invalid duration "soon"'),
        (
            {"syncController": {"adoptResources": "Maybe"}},
            'spec.syncController.adoptResources: Unsupported value: "Maybe"',
        ),
    ],
)
def test_kubefedconfig_validation_messages(patch: dict, message: str) -> None:
    config = api.default_kubefed_config({"spec": {"scope": "Cluster"}})
    for key, value in patch.items():
        if isinstance(value, dict):
            config["spec"][key].update(value)
        elif key == "featureGates":
            config["spec"][key] = value
        else:
            config["spec"][key] = value
    errors = api.validate_kubefed_config(config)
    assert any(message in e for e in errors), errors


def test_kubefedconfig_scope_is_immutable_and_errors_aggregate() -> None:
    old = api.default_kubefed_config({"spec": {"scope": "Cluster"}})
    new = api.default_kubefed_config({"spec": {"scope": "Namespaced"}})
    assert api.validate_kubefed_config(new, old) == [
        'spec.scope: Invalid value: "Namespaced": cannot modify scope'
    ]
    assert api.aggregate(["a", "b"]) == "[a, b]" and api.aggregate(["a"]) == "a"


def test_ftc_defaulting_and_validation() -> None:
    ftc = {
        "metadata": {"name": "deployments.apps"},
        "spec": {
            "targetType": {"kind": "Deployment", "version": "v1", "scope": "Namespaced"},
            "federatedType": {
                "group": "types.kubefed.io",
                "kind": "FederatedDeployment",
                "version": "v1beta1",
                "pluralName": "federateddeployments",
                "scope": "Namespaced",
            },
            "statusType": {"kind": "FederatedDeploymentStatus", "scope": "Namespaced"},
            "propagation": "Enabled",
        },
    }
    out = api.default_federated_type_config(ftc)
    assert out["spec"]["targetType"]["pluralName"] == "deployments"
    assert out["spec"]["targetType"]["group"] == "apps"
    assert out["spec"]["statusType"]["group"] == "types.kubefed.io"
    assert out["spec"]["statusType"]["pluralName"] == "federateddeploymentstatuss"
    assert api.validate_federated_type_config(out) == []
    bad = api.default_federated_type_config(ftc)
    bad["metadata"]["name"] = "deploys"
    bad["spec"]["federatedType"]["group"] = "typeskubefed"
    bad["spec"]["propagation"] = "Sometimes"
    bad["status"] = {"observedGeneration": -1, "propagationController": "Walking"}
    errors = api.validate_federated_type_config(bad)
    assert 'name: Invalid value: "deploys": name must be deployments.apps' in errors
    assert (
        'spec.federatedType.group: Invalid value: "typeskubefed": should be a domain with at least one dot'
        in errors
    )
    assert any(e.startswith('spec.propagation: Unsupported value: "Sometimes"') for e in errors)
    assert any(e.startswith("status.observedGeneration") for e in errors)
    assert any(e.startswith('status.propagationController: Unsupported value: "Walking"') for e in errors)


def test_kubefedcluster_validation() -> None:
    good = {"spec": {"apiEndpoint": "10.0.0.1:6443", "secretRef": {"name": "c1-abcde"}}}
    assert api.validate_kubefed_cluster(good) == []
    bad = {
        "spec": {
            "apiEndpoint": "ftp://x",
            "secretRef": {"name": "Not_A_Name"},
            "disabledTLSValidations": ["*", "SubjectName"],
            "proxyURL": "gopher://p",
        },
        "status": {"conditions": [{"type": "Happy", "status": "Yes"}]},
    }
    errors = api.validate_kubefed_cluster(bad)
    assert any("spec.apiEndpoint" in e and "scheme" in e for e in errors)
    assert any(e.startswith('spec.secretRef.name: Invalid value: "Not_A_Name"') for e in errors)
    assert any("* must be the only field" in e for e in errors)
    assert any(e.startswith("spec.proxyURL") for e in errors)
    assert "status.conditions[0].lastProbeTime: Required value" in errors
    assert any(e.startswith('status.conditions[0].type: Unsupported value: "Happy"') for e in errors)
    assert api.validate_kubefed_cluster(
        {"spec": {"apiEndpoint": "https://h:99999", "secretRef": {"name": "s"}}}
    )


def test_parse_duration() -> None:
    assert api.parse_duration("1m30s") == 90
    assert api.parse_duration("500ms") == 0.5
    assert api.parse_duration("1h") == 3600
    with pytest.raises(ValueError):
        api.parse_duration("10")


def test_structs_decode_kubefed_objects() -> None:
    cluster = msgspec.convert(
        {
            "spec": {"apiEndpoint": "https://x", "secretRef": {"name": "s"}, "caBundle": "aGVsbG8="},
            "status": {
                "conditions": [{"type": "Ready", "status": "True", "lastProbeTime": "2024-01-01T00:00:00Z"}]
            },
        },
        api.KubeFedCluster,
    )
    assert cluster.spec.caBundle == b"hello"
    rsp = yaml.safe_load((EXAMPLES / "scheduling/federateddeployment-rsp.yaml").read_text())
    decoded = msgspec.convert({"spec": rsp["spec"]}, api.ReplicaSchedulingPreference)
    assert decoded.spec.clusters is not None and decoded.spec.clusters["cluster2"].weight == 3


def _walk(node: dict, path: str) -> list[str]:
    bad = [] if ("type" in node or node.get("x-kubernetes-preserve-unknown-fields")) else [path]
    if "properties" in node and "additionalProperties" in node:
        bad.append(path + " (properties and additionalProperties)")
    for key, sub in (node.get("properties") or {}).items():
        bad += _walk(sub, f"{path}.{key}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            bad += _walk(node[key], f"{path}[{key}]")
    return bad


def test_every_crd_schema_is_structural() -> None:
    for path in sorted((DEPLOY / "crds").glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            for version in crd["spec"]["versions"]:
                root = version["schema"]["openAPIV3Schema"]
                assert _walk(root, crd["metadata"]["name"]) == []


def test_config_durations_read_with_kubefeds_defaults() -> None:
    spec = api.decode_kubefed_config_spec(
        api.default_kubefed_config(
            {"spec": {"scope": "Cluster", "controllerDuration": {"availableDelay": "1m30s"}}}
        )["spec"]
    )
    assert spec.available_delay == 90.0
    assert spec.unavailable_delay == 60.0
    bare = api.decode_kubefed_config_spec({"scope": "Cluster"})  # every section missing altogether
    assert (bare.renew_deadline, bare.lease_duration, bare.retry_period) == (10.0, 15.0, 5.0)
    assert (bare.failure_threshold, bare.success_threshold, bare.sync_concurrency) == (3, 1, 1)
    assert bare.adopt_resources and not bare.namespaced
    assert bare.feature_enabled("PushReconciler") and not bare.feature_enabled("FederatedIngress")
    half = api.decode_kubefed_config_spec({"scope": "Namespaced", "clusterHealthCheck": {"period": "500ms"}})
    assert (half.health_check_period, half.health_check_timeout, half.namespaced) == (0.5, 3.0, True)


def test_kubefed_config_decoding_names_the_offending_field() -> None:
    with pytest.raises(ValueError, match=r"^spec\.leaderElect\.leaseDuration: Expected `str` matching"):
        api.decode_kubefed_config_spec({"scope": "Cluster", "leaderElect": {"leaseDuration": "soon"}})
    with pytest.raises(ValueError, match=r"^spec\.featureGates\[0\]\.configuration: Invalid enum value 'On'"):
        api.decode_kubefed_config_spec(
            {"scope": "Cluster", "featureGates": [{"name": "PushReconciler", "configuration": "On"}]}
        )
    with pytest.raises(ValueError, match=r"^spec: Expected `object`, got `array`"):
        api.decode_kubefed_config_spec([])  # type: ignore[arg-type]


def test_effective_config_keeps_the_previous_spec_when_the_new_one_is_invalid() -> None:
    previous, errors = api.effective_config_spec(
        {"spec": {"scope": "Namespaced", "syncController": {"maxConcurrentReconciles": 4}}}
    )
    assert errors == [] and previous.sync_concurrency == 4 and previous.namespaced
    typed, errors = api.effective_config_spec(
        {"spec": {"scope": "Cluster", "syncController": {"maxConcurrentReconciles": "4"}}}, previous
    )
    assert typed is previous
    assert errors == [
        'spec.syncController.maxConcurrentReconciles: Invalid value: "4": should be greater than 0'
    ]
    typed, errors = api.effective_config_spec(
        {"spec": {"scope": "Cluster", "leaderElect": {"leaseDuration": 1}}}
    )
    assert typed == api.DEFAULT_KUBEFED_CONFIG_SPEC
    assert errors and errors[0].startswith("spec.leaderElect.leaseDuration:")
    assert api.effective_config_spec(None) == (api.DEFAULT_KUBEFED_CONFIG_SPEC, [])
