"""The propagator's member cache keeps objects without managedFields (issue #18, memory per object)."""

from __future__ import annotations

import copy
from typing import Any

from services.propagator._members import TypeCache
from shared.k8s import Resource

CONFIGMAPS = Resource("", "v1", "configmaps", namespaced=True, kind="ConfigMap")


def _obj(name: str, rv: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "resourceVersion": rv,
            "labels": {"kubefed.io/managed": "true"},
            "managedFields": [
                {"manager": "kubefed-controller", "operation": "Update", "fieldsV1": {"f:data": {}}}
            ],
        },
        "data": {"k": "v"},
    }


async def test_listed_and_watched_objects_are_cached_without_managed_fields() -> None:
    changed: list[tuple[str, str]] = []
    cache = TypeCache("c1", CONFIGMAPS, lambda _c, _r, ns, name: changed.append((ns, name)))
    await cache.on_list([_obj("a", "1")], "1")
    await cache.on_event("ADDED", _obj("b", "2"))
    await cache.on_event("MODIFIED", _obj("a", "3"))
    expected = _obj("a", "3")
    del expected["metadata"]["managedFields"]
    assert cache.objects[("ns", "a")] == expected
    assert "managedFields" not in cache.objects[("ns", "b")]["metadata"]
    assert changed == [("ns", "a"), ("ns", "b"), ("ns", "a")]


async def test_the_echo_of_a_cached_object_is_still_recognised_after_compaction() -> None:
    changed: list[tuple[str, str]] = []
    cache = TypeCache("c1", CONFIGMAPS, lambda _c, _r, ns, name: changed.append((ns, name)))
    await cache.on_list([_obj("a", "1")], "1")
    await cache.on_event("MODIFIED", copy.deepcopy(_obj("a", "1")))  # same resourceVersion: our own write
    await cache.on_event("MODIFIED", _obj("a", "2"))
    assert changed == [("ns", "a"), ("ns", "a")]
