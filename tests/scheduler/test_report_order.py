"""The order of a cluster's status reports, as the status writer reads it from the stream.

Covers: a failure outcome is superseded only by a later report of the same cluster that names the same
object (reports of other objects and of other clusters do not count); a replica that was handed none of
the newer reports finds them in the stream, older and newer ranges alike; an outcome not from a stream
(sequence 0) is never superseded.
"""

from __future__ import annotations

from services.scheduler._report_order import ReportOrder
from shared import subjects
from shared.bus import Bus, Publisher
from shared.messages import ClusterOutcome, ObjectKey, StatusReport
from shared.planning import UPDATE_FAILED


def _key(name: str) -> ObjectKey:
    return ObjectKey(resource="federatedconfigmaps.types.kubefed.io", namespace="ns", name=name)


async def _report(publisher: Publisher, cluster: str, *outcomes: tuple[str, str]) -> int:
    report = StatusReport(
        cluster=cluster,
        outcomes=[ClusterOutcome(key=_key(n), cluster=cluster, status=s) for n, s in outcomes],
    )
    return await publisher.publish(subjects.status_subject(cluster), report, stream=subjects.STREAM_STATUS)


async def test_a_failure_is_superseded_by_a_newer_report_of_its_cluster_naming_it(bus: Bus) -> None:
    await bus.ensure_topology()
    await bus.js.purge_stream(subjects.STREAM_STATUS)
    p = Publisher(bus)
    c1, c2 = subjects.status_subject("c1"), subjects.status_subject("c2")
    fail_a = await _report(p, "c1", ("a", UPDATE_FAILED), ("b", UPDATE_FAILED))
    other_cluster = await _report(p, "c2", ("b", ""))
    only_c = await _report(p, "c1", ("c", ""))
    ok_a = await _report(p, "c1", ("a", ""))
    fail_c = await _report(p, "c1", ("c", UPDATE_FAILED))
    assert other_cluster and only_c

    order = ReportOrder(bus)  # handed none of these: it reads them from the stream
    assert await order.superseded(c1, _key("a"), fail_a)
    assert not await order.superseded(c1, _key("b"), fail_a)  # c2's report of b does not count
    assert not await order.superseded(c1, _key("a"), ok_a)
    assert not await order.superseded(c1, _key("c"), fail_c)
    assert not await order.superseded(c2, _key("b"), other_cluster)
    assert not await order.superseded(c1, _key("a"), 0)

    late = ReportOrder(bus)  # asked about the newest first, then about an older range
    assert not await late.superseded(c1, _key("c"), fail_c)
    assert await late.superseded(c1, _key("c"), only_c)
    assert await late.superseded(c1, _key("a"), fail_a)

    newer_b = await _report(p, "c1", ("b", ""))  # published after the questions: found as well
    assert await order.superseded(c1, _key("b"), fail_a)
    assert not await order.superseded(c1, _key("b"), newer_b)


async def test_noted_reports_of_a_fleet_keep_one_key_per_object_and_answer_without_the_bus() -> None:
    class NoBus:
        def __getattr__(self, name: str) -> object:
            raise AssertionError(f"the bus was used ({name}) although the notes answer")

    order = ReportOrder(NoBus())  # type: ignore[arg-type]
    for seq, cluster in enumerate((f"m{i}" for i in range(50)), start=1):
        # every report decodes its own copies of the keys
        report = StatusReport(
            cluster=cluster,
            outcomes=[ClusterOutcome(key=_key(f"o{j}"), cluster=cluster) for j in range(20)],
        )
        order.note(subjects.status_subject(cluster), seq, report)
        order.note(subjects.status_subject(cluster), seq + 100, report)
    assert await order.superseded(subjects.status_subject("m7"), _key("o3"), 8)
    assert len(order._keys) == 20  # one copy of each object's key, not one per cluster
    kept = {id(k) for per_subject in order._newest.values() for k in per_subject}
    assert len(kept) == 20
