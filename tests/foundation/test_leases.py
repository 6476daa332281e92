"""Leader election on the NATS KV lease, timed like KubeFedConfig ``spec.leaderElect``.

Real nats-server; short timings so that the expiry rules are observable in seconds.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import msgspec
import pytest

from kubefed.natsd import NatsServer
from shared.bus import Bus, BusSettings, LeaseElector, LeaseTimings, may_take_lease
from shared.messages import LeaseRecord
from shared.subjects import BUCKET_LEASES, kv_key

FAST = LeaseTimings(lease_duration=2.0, renew_deadline=1.5, retry_period=0.25)


@pytest.fixture
async def two_buses(nats_server: NatsServer) -> AsyncIterator[tuple[Bus, Bus]]:
    a = await Bus.connect(BusSettings(url=nats_server.url, name="lease-a"))
    b = await Bus.connect(BusSettings(url=nats_server.url, name="lease-b"))
    await a.ensure_topology()
    yield a, b
    await a.close()
    await b.close()


async def _record(bus: Bus, name: str) -> LeaseRecord | None:
    raw = await bus.kv_get(BUCKET_LEASES, kv_key(name))
    return msgspec.json.decode(raw, type=LeaseRecord) if raw else None


def test_may_take_lease_follows_the_holders_lease_duration() -> None:
    held = LeaseRecord(holder_identity="a", lease_duration_seconds=15.0)
    assert may_take_lease(None, "b", 0.0)
    assert may_take_lease(LeaseRecord(holder_identity="", lease_duration_seconds=15.0), "b", 0.0)
    assert may_take_lease(held, "a", 0.0)  # renewing our own
    assert not may_take_lease(held, "b", 14.9)
    assert may_take_lease(held, "b", 15.0)


async def test_one_holder_and_a_clean_handover(two_buses: tuple[Bus, Bus]) -> None:
    bus_a, bus_b = two_buses
    name = f"lease-{uuid.uuid4().hex[:8]}"
    a = LeaseElector(bus_a, name=name, identity="a", timings=FAST)
    b = LeaseElector(bus_b, name=name, identity="b", timings=FAST)
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    ta = asyncio.create_task(a.run(stop_a))
    await asyncio.wait_for(a.leading.wait(), 5)
    tb = asyncio.create_task(b.run(stop_b))
    await asyncio.sleep(3 * FAST.lease_duration)  # renewals keep the lease with a for longer than a lease
    assert a.leading.is_set() and not b.leading.is_set()
    record = await _record(bus_a, name)
    assert record is not None and record.holder_identity == "a" and record.lease_duration_seconds == 2.0
    assert b.holder == "a"
    stop_a.set()
    await ta
    released = time.monotonic()
    await asyncio.wait_for(b.leading.wait(), 5)
    # a released its key: b does not wait out a lease duration
    assert time.monotonic() - released < FAST.lease_duration
    record = await _record(bus_b, name)
    assert record is not None and record.holder_identity == "b"
    stop_b.set()
    await tb
    assert await _record(bus_b, name) is None


async def _a_leads_b_waits(
    bus_a: Bus, bus_b: Bus, stop: asyncio.Event
) -> tuple[str, LeaseElector, LeaseElector, asyncio.Task[None], asyncio.Task[None]]:
    """Elector a campaigns first and leads; b then campaigns for the same lease."""
    name = f"lease-{uuid.uuid4().hex[:8]}"
    a = LeaseElector(bus_a, name=name, identity="a", timings=FAST)
    b = LeaseElector(bus_b, name=name, identity="b", timings=FAST)
    ta = asyncio.create_task(a.run(stop))
    await asyncio.wait_for(a.leading.wait(), 5)
    tb = asyncio.create_task(b.run(stop))
    return name, a, b, ta, tb


async def test_standby_waits_a_lease_duration_after_a_crash(two_buses: tuple[Bus, Bus]) -> None:
    bus_a, bus_b = two_buses
    stop = asyncio.Event()
    name, _a, b, ta, tb = await _a_leads_b_waits(bus_a, bus_b, stop)
    await asyncio.sleep(1.0)
    ta.cancel()  # a crash: no release, the record stays as a last wrote it
    crashed = time.monotonic()
    await asyncio.gather(ta, return_exceptions=True)
    await asyncio.wait_for(b.leading.wait(), 10)
    waited = time.monotonic() - crashed
    # b saw a's last renewal at most one retry period before the crash
    assert (
        FAST.lease_duration - 2 * FAST.retry_period <= waited <= FAST.lease_duration + 3 * FAST.retry_period
    )
    record = await _record(bus_b, name)
    assert record is not None and record.holder_identity == "b" and record.leader_transitions == 1
    stop.set()
    await tb


async def test_leader_that_cannot_renew_steps_down_within_renew_deadline(two_buses: tuple[Bus, Bus]) -> None:
    bus_a, bus_b = two_buses
    stop = asyncio.Event()
    _name, a, b, ta, tb = await _a_leads_b_waits(bus_a, bus_b, stop)
    await asyncio.sleep(0.5)
    await bus_a.close()  # a is cut off from NATS: every renewal fails from now on
    cut = time.monotonic()
    while a.leading.is_set():
        await asyncio.sleep(0.05)
    stepped_down = time.monotonic() - cut
    assert (
        FAST.renew_deadline - 2 * FAST.retry_period
        <= stepped_down
        <= FAST.renew_deadline + 2 * FAST.retry_period
    )
    # ... before anyone else may take over: never two leaders
    assert not b.leading.is_set()
    await asyncio.wait_for(b.leading.wait(), 10)
    stop.set()
    await asyncio.gather(ta, tb)


class _BlackHole:
    """A TCP relay to nats-server that can stop forwarding while keeping both connections open: the
    way a network partition looks to a client (requests hang instead of failing)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cut = False
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return f"nats://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                if not self.cut:
                    dst.write(data)
                    await dst.drain()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer), return_exceptions=True)

    def close(self) -> None:
        """Drop every relayed connection (the client then sees a disconnect) and stop listening."""
        for writer in self.writers:
            writer.close()
        if self.server is not None:
            self.server.close()


async def test_partitioned_leader_steps_down_while_its_requests_hang(
    nats_server: NatsServer, two_buses: tuple[Bus, Bus]
) -> None:
    _, bus_b = two_buses
    hole = _BlackHole(int(nats_server.url.rsplit(":", 1)[1]))
    bus_a = await Bus.connect(BusSettings(url=await hole.start(), name="lease-partitioned"))
    try:
        stop = asyncio.Event()
        _name, a, b, ta, tb = await _a_leads_b_waits(bus_a, bus_b, stop)
        await asyncio.sleep(0.5)
        hole.cut = True  # a's renewals now hang until nats-py's own 5 s request timeout
        cut = time.monotonic()
        while a.leading.is_set():
            await asyncio.sleep(0.02)
        assert time.monotonic() - cut <= FAST.renew_deadline + 0.2
        assert not b.leading.is_set()  # never two leaders
        await asyncio.wait_for(b.leading.wait(), 10)
        stop.set()
        await asyncio.wait({ta, tb}, timeout=10)
    finally:
        hole.close()
        await asyncio.wait_for(bus_a.close(), 10)


async def test_timings_are_read_again_before_every_attempt(two_buses: tuple[Bus, Bus]) -> None:
    bus_a, _ = two_buses
    name = f"lease-{uuid.uuid4().hex[:8]}"
    current = {"t": FAST}
    reads = 0

    async def timings() -> LeaseTimings:
        nonlocal reads
        reads += 1
        return current["t"]

    a = LeaseElector(bus_a, name=name, identity="a", timings=timings)
    stop = asyncio.Event()
    task = asyncio.create_task(a.run(stop))
    await asyncio.wait_for(a.leading.wait(), 5)
    reads_before = reads
    current["t"] = LeaseTimings(lease_duration=7.0, renew_deadline=5.0, retry_period=0.25)
    record = await _record(bus_a, name)
    for _ in range(50):  # the next renewal (every 0.25 s) writes the new duration
        if record is not None and record.lease_duration_seconds == 7.0:
            break
        await asyncio.sleep(0.1)
        record = await _record(bus_a, name)
    assert record is not None and record.lease_duration_seconds == 7.0
    assert reads > reads_before
    for _ in range(20):  # and every later attempt reads them again
        if reads >= reads_before + 3:
            break
        await asyncio.sleep(0.1)
    assert reads >= 3 and reads >= reads_before + 3
    stop.set()
    await task
