"""The propagator's member cache keeps objects without managedFields (issue #18, memory per object)."""

from __future__ import annotations

import copy
import sys
from typing import Any

from services.propagator._compact import SharedContents
from services.propagator._members import CompactObjects, TypeCache
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


def test_compact_objects_round_trip_share_names_and_hand_out_copies() -> None:
    a, b = CompactObjects(), CompactObjects()  # two members' caches of one type
    for store in (a, b):
        store[("ns", "".join(["o", "1"]))] = _obj("o1", "7")  # names decoded separately per member
    expected = _obj("o1", "7")
    del expected["metadata"]["managedFields"]
    assert a[("ns", "o1")] == expected and a.get(("ns", "missing")) is None
    assert ("ns", "o1") in a and list(a) == [("ns", "o1")] and len(a) == 1
    key_a, key_b = next(iter(a)), next(iter(b))
    assert key_a[1] is key_b[1]  # one copy of the name for the whole fleet
    copy_1 = a[("ns", "o1")]
    copy_1["data"]["k"] = "changed by a caller"
    assert a[("ns", "o1")]["data"] == {"k": "v"}  # the cache is not changed through a copy
    assert a.pop(("ns", "o1"))["metadata"]["resourceVersion"] == "7" and len(a) == 0
    assert a.pop(("ns", "o1"), None) is None


def test_a_cached_object_with_its_key_takes_under_60_percent_of_the_decoded_object() -> None:
    import tracemalloc

    objs = [_obj(f"object-{i}", str(1000 + i)) for i in range(2000)]
    for o in objs:
        o["data"] = {"payload": "x" * 200}
        # the cache interns names; interning them first keeps a resize of the interpreter's table of
        # interned strings (a one-off of up to megabytes, depending on what else the process loaded,
        # e.g. the other test modules) out of the per-object measurement
        o["metadata"]["name"] = sys.intern(o["metadata"]["name"])
    # tracemalloc counts every thread's allocations: a thread an earlier test left running (an exporter,
    # a client's resolver) adds to whichever measurement it overlaps, never subtracts, so each side is
    # the smallest of three identical builds (each with a table of shared contents of its own, so each
    # pays for the table's growth as the first did)
    compact_sizes: list[int] = []
    decoded_sizes: list[int] = []
    items = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objs}
    tracemalloc.start()
    try:
        for _ in range(3):
            contents = SharedContents()
            before = tracemalloc.get_traced_memory()[0]
            store = CompactObjects(items, contents=contents)
            compact_sizes.append(tracemalloc.get_traced_memory()[0] - before)
            before = tracemalloc.get_traced_memory()[0]
            decoded = {k: store[k] for k in store}
            decoded_sizes.append(tracemalloc.get_traced_memory()[0] - before)
            assert len(decoded) == 2000 and len(contents) == 2000
            del store, decoded, contents
    finally:
        tracemalloc.stop()
    compact_bytes, decoded_bytes = min(compact_sizes), min(decoded_sizes)
    assert compact_bytes < 0.6 * decoded_bytes, (compact_sizes, decoded_sizes)


def test_packed_objects_give_back_what_json_gave_and_fall_back_beyond_64_bits() -> None:
    import msgspec

    from shared.k8s import pack_object, unpack_object

    raw = b'{"a": 1, "b": 1.5, "c": [true, null, "x"], "d": {"e": -9223372036854775808}, "f": 1e300}'
    obj = msgspec.json.decode(raw)
    packed = pack_object(obj)
    assert packed[:1] != b"{" and len(packed) < len(raw)
    assert unpack_object(packed) == obj and isinstance(unpack_object(packed)["b"], float)
    huge = {"spec": {"n": 2**70}}  # JSON allows it, MessagePack does not: kept as JSON
    assert pack_object(huge)[:1] == b"{" and unpack_object(pack_object(huge)) == huge
