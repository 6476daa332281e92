"""Overrides (``shared.planning._overrides``), contract §2.5.4.

Covers: grouping by clusterName, each validation failure (duplicate cluster, duplicate path,
forbidden paths, invalid op, missing path/clusterName) with the cluster and path in the
message; json-patch v4 application: op default replace, replace of a missing object key,
replace into a missing parent fails, replace of an array index, add into objects and arrays
(index and '-'), add out of range fails, remove of a missing key fails, value ignored for
remove, apiVersion override, negative index rejected; the input is never mutated.
"""

import copy
from typing import Any

import pytest

from shared.planning import OverridesError, apply_overrides, parse_overrides

OBJ = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "d", "labels": {"a": "1"}},
    "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "c", "image": "i:1"}]}}},
}


def test_parse_overrides_groups_by_cluster() -> None:
    overrides: list[dict[str, Any]] = [
        {"clusterName": "c1", "clusterOverrides": [{"path": "/spec/replicas", "value": 3}]},
        {"clusterName": "c2", "clusterOverrides": [{"op": "remove", "path": "/metadata/labels"}]},
        {"clusterName": "c3"},
    ]
    assert parse_overrides(overrides) == {
        "c1": [{"path": "/spec/replicas", "value": 3}],
        "c2": [{"op": "remove", "path": "/metadata/labels"}],
        "c3": [],
    }
    assert parse_overrides(None) == {}
    assert parse_overrides([]) == {}


@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        (
            [{"clusterName": "c1", "clusterOverrides": []}, {"clusterName": "c1", "clusterOverrides": []}],
            ["c1", "more than once"],
        ),
        (
            [
                {
                    "clusterName": "c1",
                    "clusterOverrides": [{"path": "/spec/x", "value": 1}, {"path": "/spec/x"}],
                }
            ],
            ["c1", "/spec/x", "more than once"],
        ),
        (
            [{"clusterName": "c2", "clusterOverrides": [{"path": "/metadata/name", "value": "x"}]}],
            ["c2", "/metadata/name"],
        ),
        (
            [{"clusterName": "c2", "clusterOverrides": [{"path": "/metadata/namespace"}]}],
            ["c2", "/metadata/namespace"],
        ),
        (
            [{"clusterName": "c2", "clusterOverrides": [{"path": "/metadata/generateName"}]}],
            ["/metadata/generateName"],
        ),
        ([{"clusterName": "c2", "clusterOverrides": [{"path": "/kind", "value": "X"}]}], ["/kind"]),
        (
            [{"clusterName": "c3", "clusterOverrides": [{"op": "move", "path": "/spec/x"}]}],
            ["c3", "/spec/x", "move"],
        ),
        ([{"clusterName": "c3", "clusterOverrides": [{"op": "add"}]}], ["c3", "without a path"]),
        ([{"clusterOverrides": []}], ["clusterName"]),
    ],
)
def test_parse_overrides_rejects(overrides: list[dict[str, Any]], fragments: list[str]) -> None:
    with pytest.raises(OverridesError) as info:
        parse_overrides(overrides)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_apply_overrides_v4_semantics() -> None:
    original = copy.deepcopy(OBJ)
    result = apply_overrides(
        OBJ,
        [
            {"path": "/spec/replicas", "value": 5},  # op missing => replace
            {"op": "replace", "path": "/spec/paused", "value": True},  # missing key, parent exists
            {"op": "add", "path": "/metadata/labels/b", "value": "2"},
            {"op": "add", "path": "/spec/template/spec/containers/-", "value": {"name": "side"}},
            {"op": "add", "path": "/spec/template/spec/containers/0", "value": {"name": "first"}},
            {"op": "replace", "path": "/spec/template/spec/containers/1/image", "value": "i:2"},
            {"op": "remove", "path": "/metadata/labels/a", "value": "ignored"},
            {"op": "", "path": "/apiVersion", "value": "apps/v2"},
        ],
    )
    assert OBJ == original
    assert result["spec"]["replicas"] == 5
    assert result["spec"]["paused"] is True
    assert result["metadata"]["labels"] == {"b": "2"}
    assert [c["name"] for c in result["spec"]["template"]["spec"]["containers"]] == ["first", "c", "side"]
    assert result["spec"]["template"]["spec"]["containers"][1]["image"] == "i:2"
    assert result["apiVersion"] == "apps/v2"


def test_value_is_copied_not_shared() -> None:
    value = {"k": ["v"]}
    result = apply_overrides(OBJ, [{"path": "/spec/extra", "value": value}])
    value["k"].append("mutated")
    assert result["spec"]["extra"] == {"k": ["v"]}


@pytest.mark.parametrize(
    "op",
    [
        {"op": "remove", "path": "/spec/nonexistent"},
        {"op": "replace", "path": "/spec/missing/child", "value": 1},
        {"op": "add", "path": "/missing/child", "value": 1},
        {"op": "add", "path": "/spec/template/spec/containers/5", "value": {}},
        {"op": "replace", "path": "/spec/template/spec/containers/3", "value": {}},
        {"op": "replace", "path": "/spec/template/spec/containers/-", "value": {}},
        {"op": "add", "path": "/spec/template/spec/containers/-1", "value": {}},
        {"op": "replace", "path": "/spec/template/spec/containers/-1/image", "value": "x"},
        {"op": "remove", "path": "/spec/template/spec/containers/-1"},
        {"op": "replace", "path": "/spec/replicas/x", "value": 1},
        {"op": "copy", "path": "/spec/x"},
        {"op": "replace", "path": "spec/replicas", "value": 1},
    ],
)
def test_apply_overrides_failures(op: dict[str, Any]) -> None:
    with pytest.raises(OverridesError):
        apply_overrides(OBJ, [op])


def test_escaped_pointer_tokens() -> None:
    result = apply_overrides(OBJ, [{"path": "/metadata/labels/example.com~1team", "value": "x"}])
    assert result["metadata"]["labels"]["example.com/team"] == "x"
