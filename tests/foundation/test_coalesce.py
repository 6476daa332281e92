"""Coalesced: every caller sees a run that started after its call; callers that ask during a run share
the next one; a failed run raises in its own caller and the others run again."""

from __future__ import annotations

import asyncio

import pytest

from shared.runtime import Coalesced

pytestmark = pytest.mark.timeout(10)


class _Source:
    """A value that changes while a run reads it; each run records the value it read."""

    def __init__(self) -> None:
        self.value = 0
        self.reads: list[int] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_next = False

    async def read(self) -> None:
        seen = self.value
        await self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("read failed")
        self.reads.append(seen)


async def test_a_lone_call_runs_once_and_sequential_calls_each_run() -> None:
    src = _Source()
    run = Coalesced(src.read)
    await run()
    src.value = 1
    await run()
    assert src.reads == [0, 1] and run.runs == 2


async def test_calls_during_a_run_share_one_later_run_that_sees_their_change() -> None:
    src = _Source()
    run = Coalesced(src.read)
    src.gate.clear()
    first = asyncio.create_task(run())
    await asyncio.sleep(0)  # the first run has read value 0 and waits at the gate
    src.value = 1  # changes made while it runs...
    waiters = [asyncio.create_task(run()) for _ in range(50)]  # ...each ask for a re-read
    await asyncio.sleep(0)
    src.gate.set()
    await asyncio.gather(first, *waiters)
    # two runs for 51 calls, and the second read the value every waiter asked after
    assert run.runs == 2
    assert src.reads == [0, 1]


async def test_a_call_made_before_a_run_started_is_never_served_by_an_older_run() -> None:
    src = _Source()
    run = Coalesced(src.read)
    src.gate.clear()
    first = asyncio.create_task(run())
    await asyncio.sleep(0)
    src.value = 7
    late = asyncio.create_task(run())
    await asyncio.sleep(0)
    assert not late.done()
    src.gate.set()
    await first
    await late
    assert src.reads == [0, 7] and run.runs == 2


async def test_a_failed_run_raises_in_its_caller_and_the_waiters_run_again() -> None:
    src = _Source()
    run = Coalesced(src.read)
    src.gate.clear()
    src.fail_next = True
    first = asyncio.create_task(run())
    await asyncio.sleep(0)
    waiters = [asyncio.create_task(run()) for _ in range(3)]
    await asyncio.sleep(0)
    src.gate.set()
    with pytest.raises(RuntimeError, match="read failed"):
        await first
    await asyncio.gather(*waiters)
    assert run.runs == 2 and len(src.reads) == 1
