"""Desired member objects (``shared.planning._desired``), contract §2.5.3, §2.5.4, §1.1.

Covers: object_for_cluster (template copy, annotations/finalizers dropped, name/namespace,
Namespace targets without namespace, apiVersion from template else given, empty template,
no mutation); managed label; delete-options filtering and errors; orphan/unmanaged
helpers; render_for_cluster order (retention before overrides, overrides may touch
retained annotations, managed label wins over an override).
"""

import copy
from typing import Any

import pytest

from shared.planning import (
    DELETE_OPTIONS_ANNOTATION,
    MANAGED_LABEL,
    ORPHAN_ANNOTATION,
    SYNC_FINALIZER,
    OverridesError,
    add_managed_label,
    is_explicitly_unmanaged,
    is_orphaning,
    object_for_cluster,
    parse_delete_options,
    render_for_cluster,
)

TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"app": "web"}, "annotations": {"a": "b"}, "finalizers": ["x"], "name": "ignored"},
    "spec": {"replicas": 2},
}


def test_constants() -> None:
    assert MANAGED_LABEL == "kubefed.io/managed"
    assert ORPHAN_ANNOTATION == "kubefed.io/orphan"
    assert DELETE_OPTIONS_ANNOTATION == "kubefed.io/deleteoption"
    assert SYNC_FINALIZER == "kubefed.io/sync-controller"


def test_object_for_cluster() -> None:
    original = copy.deepcopy(TEMPLATE)
    obj = object_for_cluster(TEMPLATE, api_version="apps/v1", kind="Deployment", name="web", namespace="ns")
    assert TEMPLATE == original
    assert obj == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"labels": {"app": "web"}, "name": "web", "namespace": "ns"},
        "spec": {"replicas": 2},
    }
    obj["spec"]["replicas"] = 99
    assert TEMPLATE["spec"]["replicas"] == 2


def test_template_api_version_wins_and_empty_template() -> None:
    obj = object_for_cluster(
        {"apiVersion": "apps/v1beta2"}, api_version="apps/v1", kind="D", name="n", namespace="s"
    )
    assert obj["apiVersion"] == "apps/v1beta2"
    empty = object_for_cluster(None, api_version="v1", kind="ConfigMap", name="n", namespace="s")
    assert empty == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "n", "namespace": "s"}}


def test_namespace_target_has_no_namespace() -> None:
    obj = object_for_cluster(
        {"metadata": {"namespace": "x", "labels": {"l": "v"}}},
        api_version="v1",
        kind="Namespace",
        name="team",
        namespace="team",
    )
    assert obj["metadata"] == {"name": "team", "labels": {"l": "v"}}


def test_add_managed_label_copies() -> None:
    obj = {"metadata": {"labels": {"a": "b"}}}
    out = add_managed_label(obj)
    assert out["metadata"]["labels"] == {"a": "b", MANAGED_LABEL: "true"}
    assert obj == {"metadata": {"labels": {"a": "b"}}}
    assert add_managed_label({})["metadata"]["labels"] == {MANAGED_LABEL: "true"}


def test_label_and_annotation_helpers() -> None:
    assert is_explicitly_unmanaged({"metadata": {"labels": {MANAGED_LABEL: "false"}}})
    assert not is_explicitly_unmanaged({"metadata": {"labels": {MANAGED_LABEL: "true"}}})
    assert not is_explicitly_unmanaged({})
    assert is_orphaning({"metadata": {"annotations": {ORPHAN_ANNOTATION: "true"}}})
    assert not is_orphaning({"metadata": {"annotations": {ORPHAN_ANNOTATION: "false"}}})


def test_parse_delete_options() -> None:
    raw = (
        '{"gracePeriodSeconds": 5, "propagationPolicy": "Orphan", "dryRun": ["All"], '
        '"preconditions": {"uid": "u"}}'
    )
    assert parse_delete_options(raw) == {
        "gracePeriodSeconds": 5,
        "propagationPolicy": "Orphan",
        "preconditions": {"uid": "u"},
    }
    assert parse_delete_options(None) == {}
    assert parse_delete_options("") == {}
    for bad in ("{not json", "[1]", '"s"'):
        with pytest.raises(ValueError):
            parse_delete_options(bad)


def test_render_order() -> None:
    live = {
        "metadata": {"name": "web", "resourceVersion": "7", "annotations": {"member": "x"}},
        "spec": {"replicas": 10},
    }
    out = render_for_cluster(
        TEMPLATE,
        [
            {"op": "add", "path": "/metadata/annotations/extra", "value": "y"},
            {"path": "/metadata/labels/kubefed.io~1managed", "value": "false"},
            {"path": "/spec/replicas", "value": 4},
        ],
        api_version="apps/v1",
        kind="Deployment",
        name="web",
        namespace="ns",
        live=live,
        retain_replicas=True,
    )
    assert out["metadata"]["annotations"] == {"member": "x", "extra": "y"}
    assert out["metadata"]["resourceVersion"] == "7"
    assert out["metadata"]["labels"][MANAGED_LABEL] == "true"
    assert out["spec"]["replicas"] == 4  # override applied after retention


def test_render_create_without_live() -> None:
    out = render_for_cluster(
        TEMPLATE,
        [],
        api_version="apps/v1",
        kind="Deployment",
        name="web",
        namespace="ns",
        live=None,
        retain_replicas=True,
    )
    assert "resourceVersion" not in out["metadata"]
    assert "annotations" not in out["metadata"]
    assert out["metadata"]["labels"] == {"app": "web", MANAGED_LABEL: "true"}


def test_render_override_failure() -> None:
    with pytest.raises(OverridesError):
        render_for_cluster(
            TEMPLATE,
            [{"op": "remove", "path": "/spec/nothing"}],
            api_version="apps/v1",
            kind="Deployment",
            name="web",
            namespace="ns",
            live=None,
            retain_replicas=False,
        )
