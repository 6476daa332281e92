"""The status writer holds batches that can only confirm what the host says.

Covers: a batch of ``unchanged`` outcomes (members re-verified after a restart or a resync) is held for
the hold period without reading the object or its decision, so the clusters' outcomes of one object
are merged in one read instead of one read per flush; a batch with a failure, a write, or member status
to collect is not held; once the hold is over (or while draining) the batch is written as before.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from services.scheduler._status_writer import StatusWriter, _Received, only_verifications
from shared.messages import ClusterOutcome, ObjectKey

KEY = ObjectKey(resource="federatedconfigmaps.types.kubefed.io", namespace="fed", name="web")


def _received(cluster: str, op: str = "unchanged", status: str = "", remote: Any = None) -> _Received:
    outcome = ClusterOutcome(key=KEY, cluster=cluster, status=status, op=op, remote_status=remote)
    return _Received("kubefed.status." + cluster, 1, outcome)


def test_only_verifications() -> None:
    assert only_verifications([_received("c1"), _received("c2")])
    assert not only_verifications([_received("c1"), _received("c2", op="updated")])
    assert not only_verifications([_received("c1"), _received("c2", status="UpdateFailed", op="failed")])
    assert not only_verifications([_received("c1", remote={"readyReplicas": 1})])


class _NoIO:
    """Any read of the host state or the bus fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"read {name} while holding")


async def test_verifications_are_held_without_reading_anything() -> None:
    writer = StatusWriter.__new__(StatusWriter)  # only _write's hold is exercised
    writer.state = cast(Any, _NoIO())
    writer.bus = cast(Any, _NoIO())
    assert await writer._write(KEY, [_received("c1"), _received("c2")], may_hold=True) is True


async def test_a_batch_that_may_change_status_or_is_due_is_not_held() -> None:
    reads: list[str] = []

    async def get_last(stream: str, subject: str) -> None:
        reads.append(subject)
        return None  # no decision: nothing to write

    writer = StatusWriter.__new__(StatusWriter)
    fed_type = SimpleNamespace(target=SimpleNamespace(kind="ConfigMap", group=""), resource=None)
    writer.state = cast(
        Any, SimpleNamespace(types={KEY.resource: fed_type}, native_type=lambda resource: None)
    )
    writer.bus = cast(Any, SimpleNamespace(get_last=get_last))
    assert await writer._write(KEY, [_received("c1"), _received("c2", op="updated")], may_hold=True) is False
    assert await writer._write(KEY, [_received("c1")], may_hold=False) is False  # the hold is over
    assert len(reads) == 2
