"""The namespaces' placements the scheduler follows on the bus instead of reading them per object.

Covers: nothing is known (the reconcile reads the bus) until the replay of the namespace decisions caught
up, nor for another namespace type; after it, each namespace's latest decision is known, a namespace
without a decision, one being removed and one decided for another host cluster read as no placement; a
decision published later arrives live; a decision this replica recorded on publishing is not replaced
by an older one the replay delivers after it.
"""

from __future__ import annotations

import asyncio

from services.scheduler._namespaces import UNKNOWN, NamespacePlacements
from shared import subjects
from shared.bus import Bus, Publisher
from shared.messages import ObjectKey, PlacementDecision, TargetType
from shared.runtime import HostBinding
from tests.support.waiting import eventually

NAMESPACES = "federatednamespaces.types.kubefed.io"
HOST = "host-uid-1"


def _decision(namespace: str, *clusters: str, deleting: bool = False, host: str = HOST) -> PlacementDecision:
    return PlacementDecision(
        key=ObjectKey(resource=NAMESPACES, namespace=namespace, name=namespace),
        target=TargetType(group="", version="v1", kind="Namespace", plural="namespaces", namespaced=False),
        clusters=list(clusters),
        deleting=deleting,
        host_uid=host,
    )


async def _publish(publisher: Publisher, decision: PlacementDecision) -> int:
    key = decision.key
    return await publisher.publish(
        subjects.desired_subject(key.resource, key.namespace, key.name),
        decision,
        stream=subjects.STREAM_DESIRED,
    )


async def test_follows_the_namespace_decisions_on_the_bus(bus: Bus) -> None:
    await bus.ensure_topology()
    await bus.js.purge_stream(subjects.STREAM_DESIRED)
    publisher = Publisher(bus)
    await _publish(publisher, _decision("apps", "c1"))
    await _publish(publisher, _decision("apps", "c1", "c2"))  # the latest counts
    await _publish(publisher, _decision("leaving", "c1", deleting=True))
    await _publish(publisher, _decision("elsewhere", "c1", host="another-host"))
    binding = HostBinding(HOST, state="decisions", action="ignored")
    placements = NamespacePlacements(bus, binding, NAMESPACES)
    assert placements.get(NAMESPACES, "apps") is UNKNOWN  # not replayed yet

    stop = asyncio.Event()
    task = asyncio.create_task(placements.run(stop))
    try:
        await asyncio.wait_for(placements.caught_up.wait(), timeout=10)
        assert placements.get(NAMESPACES, "apps") == frozenset({"c1", "c2"})
        assert placements.get(NAMESPACES, "leaving") is None
        assert placements.get(NAMESPACES, "elsewhere") is None
        assert placements.get(NAMESPACES, "never-federated") is None
        assert placements.get("federatednamespaces.other.example.com", "apps") is UNKNOWN

        await _publish(publisher, _decision("apps", "c3"))
        await eventually(lambda: placements.get(NAMESPACES, "apps") == frozenset({"c3"}), timeout=10)

        # a decision this replica published is recorded at once; the replay's older copy does not undo it
        delivered = placements.replayed
        newer = await _publish(publisher, _decision("apps", "c4"))
        placements.record(_decision("apps", "c4"), newer)
        placements.record(_decision("apps", "c3"), newer - 1)
        assert placements.get(NAMESPACES, "apps") == frozenset({"c4"})
        await eventually(lambda: placements.replayed > delivered, timeout=10)  # the replay delivered c4
        assert placements.get(NAMESPACES, "apps") == frozenset({"c4"})
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)
