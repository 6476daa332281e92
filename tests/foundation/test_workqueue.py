"""The work queue: de-duplication, per-key exclusivity with dirty re-queue, delays, backoff growth and
reset, one wake-up per add, and no lost wake-up when a worker is cancelled.
"""

from __future__ import annotations

import asyncio

import pytest

from shared.runtime import WorkQueue

pytestmark = pytest.mark.timeout(10)


async def test_adds_coalesce_and_keep_order() -> None:
    q: WorkQueue[str] = WorkQueue()
    for k in ("a", "b", "a", "c", "b"):
        q.add(k)
    assert len(q) == 3
    assert [await q.get() for _ in range(3)] == ["a", "b", "c"]


async def test_key_in_progress_is_requeued_once_after_done() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    assert await q.get() == "a"
    q.add("a")
    q.add("a")
    assert len(q) == 0  # not handed to a second worker while in progress
    q.done("a")
    assert len(q) == 1 and await q.get() == "a"


async def test_delayed_keys_arrive_in_due_order() -> None:
    q: WorkQueue[str] = WorkQueue()
    loop = asyncio.get_running_loop()
    start = loop.time()
    q.add("late", 0.2)
    q.add("soon", 0.05)
    assert await q.get() == "soon"
    assert await q.get() == "late"
    assert loop.time() - start >= 0.19


async def test_backoff_grows_and_resets() -> None:
    q: WorkQueue[str] = WorkQueue(base_delay=0.01, max_delay=0.05)
    delays = [q.add_rate_limited("a") for _ in range(5)]
    assert delays == [0.01, 0.02, 0.04, 0.05, 0.05]
    assert q.failures("a") == 5
    q.forget("a")
    assert q.failures("a") == 0 and q.add_rate_limited("a", minimum=0.03) == 0.03


async def test_a_cancelled_waiter_loses_no_key_and_every_key_is_handed_out_once() -> None:
    q: WorkQueue[str] = WorkQueue()
    got: list[str] = []

    async def worker() -> None:
        while True:
            key = await q.get()
            got.append(key)
            q.done(key)

    workers = [asyncio.create_task(worker()) for _ in range(8)]
    await asyncio.sleep(0)
    workers[0].cancel()  # a cancelled waiter must not swallow the next wake-up
    q.add("x")
    await asyncio.sleep(0.01)
    assert got == ["x"]
    for i in range(50):
        q.add(f"k{i}")
    await asyncio.sleep(0.05)
    assert sorted(got[1:]) == sorted(f"k{i}" for i in range(50))
    for w in workers:
        w.cancel()
    await asyncio.gather(*workers, return_exceptions=True)


async def test_normal_keys_are_handed_out_before_a_low_priority_backlog() -> None:
    q: WorkQueue[str] = WorkQueue()
    for k in ("r1", "r2", "r3"):
        q.add(k, low_priority=True)  # a periodic re-verification
    q.add("live")
    q.add("r2")  # a live change of a key the backlog holds raises it, and it is stored once
    assert len(q) == 4 and q.ready == 4
    assert [await q.get() for _ in range(4)] == ["live", "r2", "r1", "r3"]
    assert len(q) == 0
    for k in ("live", "r1", "r2", "r3"):
        q.done(k)
    q.add("r2", low_priority=True)  # the raised key's place in the low backlog is not a second entry
    q.add("r4", low_priority=True)
    assert [await q.get() for _ in range(2)] == ["r2", "r4"] and len(q) == 0


async def test_a_low_priority_add_does_not_lower_a_queued_key() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    q.add("b", low_priority=True)
    q.add("a", low_priority=True)
    q.add("c")
    assert [await q.get() for _ in range(3)] == ["a", "c", "b"]


async def test_a_key_added_while_in_progress_keeps_the_highest_priority_of_its_adds() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    q.add("b")
    assert await q.get() == "a" and await q.get() == "b"
    q.add("a", low_priority=True)
    q.add("b", low_priority=True)
    q.add("b")
    q.add("x", low_priority=True)
    q.done("a")  # only low-priority adds meanwhile: back at low priority, after x
    q.done("b")  # one normal add meanwhile: normal
    assert [await q.get() for _ in range(3)] == ["b", "x", "a"]


async def test_a_delayed_low_priority_key_arrives_at_low_priority() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("r", 0.05, low_priority=True)
    await asyncio.sleep(0.1)
    q.add("live")
    assert [await q.get() for _ in range(2)] == ["live", "r"]
