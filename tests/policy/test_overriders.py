"""Overriders applied to a template for one cluster (pure), with Karmada's documented examples.

Covers: imageOverrider (add registry, replace repository, remove tag, digest tags, registries with ports,
predicate path, unknown kind without predicate is an error), command/args add and remove, labels and
annotations add/replace/remove (Karmada's nginx sample, per target cluster), plaintext (alpine sample,
KubeFed's JSON-patch code), order of policies (cluster-wide first, less precise first) and of overriders,
deprecated top-level rule, targetCluster by region, failures named with their policy, input untouched.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from shared.karmada_api import OverrideSpec, decode_override_spec
from shared.policy import (
    CLUSTER_OVERRIDE_POLICY,
    OVERRIDE_POLICY,
    Override,
    OverriderError,
    PolicyCluster,
    ResourceTemplate,
    apply_overriders,
    matching_overrides,
    parse_image,
)

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "karmada-samples"
MEMBER1 = PolicyCluster("member1", {"location": "us"}, "cn-north-1")
MEMBER2 = PolicyCluster("member2", {"location": "eu"}, "eu-central-1")


def _deployment(**extra: Any) -> dict[str, Any]:
    container = {
        "name": "myapp",
        "image": "myapp:1.0.0",
        "command": ["./myapp", "--parameter1=foo", "--parameter2=bar"],
    }
    container.update(extra)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "myapp", "namespace": "default"},
        "spec": {"template": {"spec": {"containers": [container]}}},
    }


def _op(name: str, rules: list[dict[str, Any]], *, cluster: bool = False, **spec: Any) -> Override:
    decoded = msgspec.convert({"overrideRules": rules, **spec}, OverrideSpec)
    if cluster:
        return Override(CLUSTER_OVERRIDE_POLICY, name, decoded)
    return Override(OVERRIDE_POLICY, name, decoded, "default")


def _image(obj: dict[str, Any]) -> str:
    return str(obj["spec"]["template"]["spec"]["containers"][0]["image"])


@pytest.mark.parametrize(
    ("rule", "image"),
    [
        ({"component": "Registry", "operator": "add", "value": "test-repo"}, "test-repo/myapp:1.0.0"),
        ({"component": "Repository", "operator": "replace", "value": "myapp2"}, "myapp2:1.0.0"),
        ({"component": "Tag", "operator": "remove"}, "myapp"),
        ({"component": "Tag", "operator": "replace", "value": "2.0"}, "myapp:2.0"),
        ({"component": "Tag", "operator": "add", "value": "@sha256:abc"}, "myapp@sha256:abc"),
    ],
)
def test_image_overrider_documented_examples(rule: dict[str, Any], image: str) -> None:
    out = apply_overriders(
        _deployment(), MEMBER1, [_op("example", [{"overriders": {"imageOverrider": [rule]}}])]
    )
    assert _image(out) == image


def test_image_parsing() -> None:
    assert parse_image("fictional.registry.example:10443/fictional/nginx:latest") == (
        "fictional.registry.example:10443",
        "fictional/nginx",
        ":latest",
    )
    assert parse_image("localhost/app") == ("localhost", "app", "")
    assert parse_image("library/nginx") == ("", "library/nginx", "")
    assert parse_image("k8s.gcr.io/kube-apiserver@sha256:dbcc") == (
        "k8s.gcr.io",
        "kube-apiserver",
        "@sha256:dbcc",
    )


def test_image_overrider_predicate_and_unknown_kind() -> None:
    rule = {
        "component": "Registry",
        "operator": "replace",
        "value": "mirror.io",
        "predicate": {"path": "/spec/image"},
    }
    custom = {
        "apiVersion": "x/v1",
        "kind": "Thing",
        "metadata": {"name": "t", "namespace": "default"},
        "spec": {"image": "a.io/b:1"},
    }
    out = apply_overriders(custom, MEMBER1, [_op("o", [{"overriders": {"imageOverrider": [rule]}}])])
    assert out["spec"]["image"] == "mirror.io/b:1"
    no_predicate = {k: v for k, v in rule.items() if k != "predicate"}
    with pytest.raises(OverriderError, match=r"OverridePolicy default/o: .*give predicate\.path"):
        apply_overriders(custom, MEMBER1, [_op("o", [{"overriders": {"imageOverrider": [no_predicate]}}])])


def test_command_and_args_overriders() -> None:
    rules = [
        {
            "overriders": {
                "commandOverrider": [
                    {"containerName": "myapp", "operator": "add", "value": ["--cluster=member1"]},
                    {"containerName": "myapp", "operator": "remove", "value": ["--parameter1=foo"]},
                    {"containerName": "other", "operator": "add", "value": ["--never"]},
                ],
                "argsOverrider": [{"containerName": "myapp", "operator": "add", "value": ["-v"]}],
            }
        }
    ]
    out = apply_overriders(_deployment(), MEMBER1, [_op("o", rules)])
    container = out["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["./myapp", "--parameter2=bar", "--cluster=member1"]
    assert container["args"] == ["-v"]


def test_nginx_sample_labels_and_annotations_per_cluster() -> None:
    sample = yaml.safe_load((SAMPLES / "samples-nginx-overridepolicy.yaml").read_text())
    override = Override(OVERRIDE_POLICY, "nginx-op", decode_override_spec(sample), "default")
    deployment = yaml.safe_load((SAMPLES / "samples-nginx-deployment.yaml").read_text())
    deployment["metadata"]["namespace"] = "default"
    deployment["metadata"]["labels"].update({"for": "for", "bar": "old"})
    deployment["metadata"]["annotations"] = {"bom": "bom", "emma": "old"}
    before = copy.deepcopy(deployment)
    on2 = apply_overriders(deployment, MEMBER2, [override])
    assert on2["metadata"]["labels"] == {
        "app": "nginx",
        "env": "skoala-dev",
        "env-stat": "skoala-stage",
        "bar": "test",
    }
    assert on2["metadata"]["annotations"] == {"bom": "bom", "emma": "old"}
    on1 = apply_overriders(deployment, MEMBER1, [override])
    assert on1["metadata"]["labels"] == before["metadata"]["labels"]
    assert on1["metadata"]["annotations"] == {"env": "skoala-stage", "emma": "sophia"}
    assert deployment == before


def test_alpine_sample_plaintext_only_on_its_target() -> None:
    sample = yaml.safe_load((SAMPLES / "samples-alpine-overridepolicy.yaml").read_text())
    override = Override(OVERRIDE_POLICY, "echo-op", decode_override_spec(sample), "default")
    echo = _deployment(env=[{"name": "A", "value": "a"}, {"name": "B", "value": "b"}])
    echo["metadata"]["name"] = "echo"
    eu = PolicyCluster("eu-central-1")
    out = apply_overriders(echo, eu, [override])
    assert out["spec"]["template"]["spec"]["containers"][0]["env"][1] == {"name": "B", "value": "override"}
    assert apply_overriders(echo, MEMBER1, [override]) == echo
    other = dict(echo, metadata={"name": "other", "namespace": "default"})
    assert apply_overriders(other, eu, [override]) == other  # the selector names echo


def test_policy_order_cluster_wide_first_then_less_precise_first() -> None:
    obj = _deployment()

    def replicas(v: int) -> list[dict[str, Any]]:
        return [{"overriders": {"plaintext": [{"path": "/spec/replicas", "operator": "add", "value": v}]}}]

    by_name = _op(
        "a-by-name",
        replicas(3),
        resourceSelectors=[{"apiVersion": "apps/v1", "kind": "Deployment", "name": "myapp"}],
    )
    by_kind = _op(
        "z-by-kind", replicas(2), resourceSelectors=[{"apiVersion": "apps/v1", "kind": "Deployment"}]
    )
    cluster_wide = _op("cop", replicas(1), cluster=True)
    template = ResourceTemplate.of(obj)
    assert [o.name for o in matching_overrides(template, [by_name, cluster_wide, by_kind])] == [
        "cop",
        "z-by-kind",
        "a-by-name",
    ]
    assert apply_overriders(obj, MEMBER1, [by_name, cluster_wide, by_kind])["spec"]["replicas"] == 3
    elsewhere = Override(OVERRIDE_POLICY, "x", by_name.spec, "other")
    assert matching_overrides(template, [elsewhere]) == []


def test_order_within_a_rule_plaintext_last_and_deprecated_rule() -> None:
    rules = [
        {
            "targetCluster": {
                "fieldSelector": {
                    "matchExpressions": [{"key": "region", "operator": "In", "values": ["cn-north-1"]}]
                }
            },
            "overriders": {
                "plaintext": [{"path": "/metadata/labels/env", "operator": "replace", "value": "plain"}],
                "labelsOverrider": [{"operator": "add", "value": {"env": "label"}}],
            },
        }
    ]
    deprecated = {
        "targetCluster": {"clusterNames": ["member1"]},
        "overriders": {"labelsOverrider": [{"operator": "add", "value": {"old": "style"}}]},
    }
    override = _op("o", rules, **deprecated)
    out = apply_overriders(_deployment(), MEMBER1, [override])
    assert out["metadata"]["labels"] == {"env": "plain", "old": "style"}
    assert "labels" not in apply_overriders(_deployment(), MEMBER2, [override])["metadata"]


def test_failing_plaintext_names_the_policy() -> None:
    bad = _op(
        "broken",
        [{"overriders": {"plaintext": [{"path": "/spec/nothing/here", "operator": "remove"}]}}],
        cluster=True,
    )
    with pytest.raises(OverriderError, match=r"ClusterOverridePolicy broken: .*/spec/nothing/here"):
        apply_overriders(_deployment(), MEMBER1, [bad])
