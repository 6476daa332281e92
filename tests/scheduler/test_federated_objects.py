"""The scheduler's copies of federated objects: what is read back is what was remembered, a fresh copy
each time, and the copy is kept encoded (a federated object's status grows with its clusters)."""

from __future__ import annotations

import tracemalloc
from typing import Any

from services.scheduler._objects import FederatedObjects
from shared.messages import ObjectKey


def _fed(name: str, clusters: int) -> dict[str, Any]:
    return {
        "apiVersion": "types.kubefed.io/v1beta1",
        "kind": "FederatedConfigMap",
        "metadata": {
            "name": name,
            "namespace": "objs",
            "uid": f"0b7c6d5e-{name}",
            "resourceVersion": "4711",
            "generation": 1,
            "finalizers": ["kubefed.io/sync-controller"],
        },
        "spec": {"template": {"data": {"payload": "x" * 200}}, "placement": {"clusterSelector": {}}},
        "status": {
            "conditions": [
                {"type": "Propagation", "status": "True", "lastTransitionTime": "2026-11-30T11:00:00Z"}
            ],
            "clusters": [{"name": f"member-{i}"} for i in range(clusters)],
            "observedGeneration": 1,
        },
    }


def _key(name: str) -> ObjectKey:
    return ObjectKey(resource="federatedconfigmaps.types.kubefed.io", namespace="objs", name=name)


def test_remember_get_forget_and_fresh_copies() -> None:
    objects = FederatedObjects()
    assert objects.get(_key("a")) is None
    objects.remember(_key("a"), _fed("a", 3))
    got = objects.get(_key("a"))
    assert got == _fed("a", 3) and len(objects) == 1
    assert got is not None
    got["status"]["clusters"].clear()  # a caller's change does not reach the kept copy
    assert objects.get(_key("a")) == _fed("a", 3)
    objects.remember(_key("a"), _fed("a", 5))  # the last copy remembered wins
    assert len((objects.get(_key("a")) or {})["status"]["clusters"]) == 5
    objects.remember(_key("a"), None)
    assert objects.get(_key("a")) is None and len(objects) == 0
    objects.remember(_key("b"), _fed("b", 1))
    objects.forget(_key("b"))
    assert objects.get(_key("b")) is None


def test_kept_copies_take_under_half_of_the_decoded_objects() -> None:
    feds = [_fed(f"o{i}", 10) for i in range(1000)]
    objects = FederatedObjects()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for f in feds:
            objects.remember(_key(f["metadata"]["name"]), f)
        kept = tracemalloc.get_traced_memory()[0] - before
        before = tracemalloc.get_traced_memory()[0]
        decoded = [objects.get(_key(f"o{i}")) for i in range(1000)]
        decoded_size = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(decoded) == 1000
    assert kept < decoded_size / 2, (kept, decoded_size)
