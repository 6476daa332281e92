"""The propagator's compact state (issue #18, 10,000 objects × 10 members): member objects split into
content shared by the members that hold the same and each member's own fields, and decisions kept packed.

Tests: what a cache gives back equals what it was given (less managedFields), for any JSON-like object
(hypothesis); every reader's decision is the same with the cached copy as with the object itself (the
dispatch plan with its field retention, the version reported, the observed status); equal content is
held once for a fleet and dropped with its last referrer; the memory a fleet's caches take per member
object; packed decisions read back equal.
"""

from __future__ import annotations

import copy
import gc
import tracemalloc
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from services.propagator._apply import object_version
from services.propagator._compact import (
    OWN_FIELDS,
    CompactObjects,
    PackedDecisions,
    SharedContents,
    interned_key,
)
from services.propagator._members import TypeCache
from services.propagator._plan import plan, render
from shared.k8s import Resource
from shared.messages import ObjectKey, PlacementDecision, TargetType
from shared.planning import MANAGED_LABEL

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)
metadata = st.fixed_dictionaries(
    {"name": st.text(min_size=1, max_size=8)},
    optional={
        **{f: json_values for f in OWN_FIELDS},
        "namespace": st.text(max_size=8),
        "labels": st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=3),
        "annotations": st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=3),
        "finalizers": st.lists(st.text(max_size=6), max_size=2),
    },
)
member_objects = st.fixed_dictionaries(
    {"metadata": metadata},
    optional={
        "apiVersion": st.text(max_size=4),
        "spec": json_values,
        "data": json_values,
        "status": json_values,
    },
)


@settings(max_examples=300, deadline=None)
@given(member_objects)
def test_a_cached_object_reads_back_equal_and_the_given_object_is_left_as_it_was(obj: dict[str, Any]) -> None:
    given_copy = copy.deepcopy(obj)
    store = CompactObjects(contents=SharedContents())
    store[("ns", "o")] = obj
    assert obj == given_copy  # split, not taken apart: a caller may read it afterwards
    assert store[("ns", "o")] == given_copy


def test_objects_without_metadata_or_with_a_malformed_one_are_kept_whole() -> None:
    store = CompactObjects(contents=SharedContents())
    for obj in ({"data": {"k": "v"}}, {"metadata": "odd", "status": {"x": 1}}, {"metadata": {}}):
        store[("ns", "o")] = copy.deepcopy(obj)
        assert store[("ns", "o")] == obj


def _service(cluster_ip: str, node_port: int, rv: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "web",
            "namespace": "fed",
            "uid": f"uid-{cluster_ip}",
            "resourceVersion": rv,
            "creationTimestamp": "2026-11-30T12:00:00Z",
            "labels": {MANAGED_LABEL: "true"},
            "annotations": {"member-controller": "owned"},
            "finalizers": ["member/cleanup"],
            "managedFields": [{"manager": "kube-controller-manager"}],
        },
        "spec": {
            "clusterIP": cluster_ip,
            "clusterIPs": [cluster_ip],
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": node_port}],
            "type": "NodePort",
        },
        "status": {"loadBalancer": {"ingress": [{"ip": cluster_ip}]}},
    }


def _deployment(replicas: int, rv: str, *, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": "web",
        "namespace": "fed",
        "uid": f"uid-{rv}",
        "resourceVersion": rv,
        "generation": 3,
        "labels": {MANAGED_LABEL: "true"},
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-11-30T12:00:00Z"
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}},
        "status": {"replicas": replicas, "readyReplicas": 1, "observedGeneration": 3},
    }


def _decision(kind: str, group: str, plural: str, template: dict[str, Any], **kw: Any) -> PlacementDecision:
    return PlacementDecision(
        key=ObjectKey(resource=f"federated{plural}.types.kubefed.io", namespace="fed", name="web"),
        target=TargetType(group=group, version="v1", kind=kind, plural=plural, namespaced=True),
        template=template,
        clusters=["c1", "c2"],
        **kw,
    )


SERVICE = _decision(
    "Service", "", "services", {"spec": {"ports": [{"name": "http", "port": 80}], "type": "NodePort"}}
)
DEPLOYMENT = _decision(
    "Deployment",
    "apps",
    "deployments",
    {"spec": {"replicas": 5, "selector": {"matchLabels": {"app": "web"}}}},
    retain_replicas=True,
)


def test_every_decision_reads_the_same_from_the_cached_copy_as_from_the_object() -> None:
    """The dispatch plan (create/update/unchanged, field retention of clusterIP, nodePorts, finalizers,
    annotations, resourceVersion and retained replicas, waiting for a deletion), the version reported
    and the status collected, for members whose content is equal and members whose content differs."""
    contents = SharedContents()
    cases = [
        (SERVICE, [_service("10.0.0.1", 30001, "11"), _service("10.0.0.2", 30002, "12")]),
        (DEPLOYMENT, [_deployment(2, "21"), _deployment(2, "22"), _deployment(7, "23", deleting=True)]),
        (
            msgspec.structs.replace(DEPLOYMENT, clusters=["c1"], orphan=True),
            [_deployment(2, "31"), _deployment(2, "32")],
        ),
    ]
    for decision, objects in cases:
        for i, obj in enumerate(objects):
            store = CompactObjects(contents=contents)
            store[("fed", "web")] = copy.deepcopy(obj)
            cached = store[("fed", "web")]
            obj["metadata"].pop("managedFields", None)
            for cluster in ("c1", "c2"):
                assert plan(decision, cluster, cached, cluster_ready=True) == plan(
                    decision, cluster, obj, cluster_ready=True
                ), (decision.target.kind, i, cluster)
            assert object_version(cached) == object_version(obj)
            assert cached.get("status") == obj["status"]
    # what an update would write keeps the member's own fields, read from the cached copy
    cached_service = CompactObjects({("fed", "web"): _service("10.0.0.9", 30009, "9")})[("fed", "web")]
    desired = render(
        msgspec.structs.replace(SERVICE, template={"spec": {"ports": [{"name": "http", "port": 80}]}}),
        "c1",
        cached_service,
    )
    assert desired["spec"]["clusterIP"] == "10.0.0.9" and desired["spec"]["clusterIPs"] == ["10.0.0.9"]
    assert desired["spec"]["ports"][0]["nodePort"] == 30009
    assert desired["metadata"]["resourceVersion"] == "9"
    assert desired["metadata"]["finalizers"] == ["member/cleanup"]


def _configmap(name: str, rv: str, uid: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": uid,
            "resourceVersion": rv,
            "creationTimestamp": "2026-11-30T12:00:00Z",
            "labels": {MANAGED_LABEL: "true"},
        },
        "data": {"payload": "x" * 200},
    }


def test_equal_content_is_held_once_for_the_fleet_and_dropped_with_its_last_referrer() -> None:
    contents = SharedContents()
    fleet = [CompactObjects(contents=contents) for _ in range(10)]
    for m, store in enumerate(fleet):
        for i in range(3):
            store[("ns", f"o{i}")] = _configmap(f"o{i}", f"{m}{i}", f"uid-{m}-{i}")
    assert len(contents) == 3  # one per object, not per member
    for m, store in enumerate(fleet):  # each member still reads its own fields
        assert store[("ns", "o1")]["metadata"]["resourceVersion"] == f"{m}1"
        assert store[("ns", "o1")]["metadata"]["uid"] == f"uid-{m}-1"
    drifted = _configmap("o1", "99", "uid-0-1")
    drifted["data"] = {"payload": "edited"}
    fleet[0][("ns", "o1")] = drifted
    assert len(contents) == 4 and fleet[1][("ns", "o1")]["data"] == {"payload": "x" * 200}
    del fleet[0][("ns", "o1")]
    gc.collect()
    assert len(contents) == 3  # the drifted content had one referrer
    del store
    fleet.clear()
    gc.collect()
    assert len(contents) == 0


async def test_a_relist_drops_the_contents_of_objects_that_are_gone() -> None:
    from services.propagator import _compact

    before = len(_compact.FLEET_CONTENTS)
    cache = TypeCache("c1", Resource("", "v1", "configmaps", namespaced=True, kind="ConfigMap"))
    await cache.on_list([_configmap("only-here", "1", "u1"), _configmap("stays", "1", "u2")], "1")
    assert len(_compact.FLEET_CONTENTS) == before + 2
    await cache.on_list([_configmap("stays", "2", "u2")], "2")
    gc.collect()
    assert len(_compact.FLEET_CONTENTS) == before + 1
    assert cache.objects[("ns", "stays")]["metadata"]["resourceVersion"] == "2"


def _traced(build: Any) -> tuple[Any, int]:
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        built = build()
        gc.collect()
        return built, tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_a_fleet_holds_a_member_object_in_under_a_third_of_a_decoded_copy() -> None:
    """Ten members holding the same 2,000 ConfigMaps (200 bytes of data each): a member object costs
    under a third of one decoded object, where one packed copy per member cost about 0.55 of it."""
    members, n = 10, 2000

    def fleet() -> list[CompactObjects]:
        contents = SharedContents()
        stores = [CompactObjects(contents=contents) for _ in range(members)]
        for m, store in enumerate(stores):
            for i in range(n):
                store[("ns", f"object-{i}")] = _configmap(
                    f"object-{i}", str(10_000 * m + i), f"{m:04d}-{i:032d}"
                )
        return stores

    stores, fleet_bytes = _traced(fleet)
    decoded, decoded_bytes = _traced(lambda: [stores[0][k] for k in stores[0]])
    assert len(decoded) == n
    per_member_object, per_decoded = fleet_bytes / (members * n), decoded_bytes / n
    assert per_member_object < per_decoded / 3, (per_member_object, per_decoded)


def test_packed_decisions_read_back_equal_and_take_under_half_of_decoded_ones() -> None:
    decisions = [
        msgspec.structs.replace(
            DEPLOYMENT,
            key=ObjectKey(resource="federateddeployments.types.kubefed.io", namespace="fed", name=f"web-{i}"),
            template={"spec": {"replicas": i, "template": {"metadata": {"labels": {"app": f"web-{i}"}}}}},
            clusters=[f"member-{c}" for c in range(10)],
            trace={"traceparent": f"00-{i:032x}-{i:016x}-01"},
        )
        for i in range(1000)
    ]
    encoded = [msgspec.msgpack.encode(d) for d in decisions]
    decoder = msgspec.msgpack.Decoder(PlacementDecision)
    _, decoded_bytes = _traced(lambda: [decoder.decode(raw) for raw in encoded])

    def packed_store() -> PackedDecisions:
        store = PackedDecisions(recent=10)
        for d in decisions:
            store[interned_key(d.key)] = d
        return store

    store, packed_bytes = _traced(packed_store)
    assert packed_bytes < decoded_bytes / 2, (packed_bytes, decoded_bytes)
    assert [store[d.key] for d in decisions] == decisions and len(store) == 1000
    # the decisions used last are handed out decoded, the older ones decoded afresh from their packing
    assert store[decisions[-1].key] is store[decisions[-1].key]
    oldest = store[decisions[0].key]
    for d in decisions[1:11]:
        store[d.key]
    assert store[decisions[0].key] == oldest and store[decisions[0].key] is not oldest
    changed = msgspec.structs.replace(decisions[5], generation=99)
    store[changed.key] = changed
    assert store[decisions[5].key].generation == 99
    del store[decisions[0].key]
    assert decisions[0].key not in store and store.get(decisions[0].key) is None


def test_interned_keys_share_their_names() -> None:
    a = interned_key(
        ObjectKey(resource="".join(["config", "maps"]), namespace="ns", name="".join(["o", "1"]))
    )
    b = interned_key(ObjectKey(resource="configmaps", namespace="ns", name="o1"))
    assert a == b and a.name is b.name and a.resource is b.resource
