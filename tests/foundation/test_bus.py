"""The bus against a real nats-server: round trip with trace context, de-duplication, nak with delay,
term on permanent errors, durability across a server restart, bounded async publishing, leases, a
subject purge bounded by a sequence that keeps a message published after it.

Each test uses its own stream-free subjects through the project topology (streams are idempotent).
"""

from __future__ import annotations

import asyncio
import uuid

import nats.js.errors
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from kubefed.natsd import NatsServer
from shared import subjects
from shared.bus import Bus, BusSettings, Delivery, Publisher, PullConsumer, Replayer
from shared.errors import PermanentError, TemporaryError
from shared.messages import HostChange, ObjectKey
from tests.support.waiting import eventually

pytestmark = pytest.mark.timeout(60)

_exporter = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def _tracing() -> None:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(_exporter))


def _change(name: str, rv: str = "1", namespace: str = "ns") -> tuple[str, HostChange]:
    key = ObjectKey(resource="tests.example.io", namespace=namespace, name=name)
    return subjects.host_subject(key.resource, key.namespace, key.name), HostChange(
        key=key, resource_version=rv
    )


async def _consume(
    bus: Bus, durable: str, handler, stop: asyncio.Event, *, filter_subject: str
) -> asyncio.Task[None]:
    consumer = PullConsumer(
        bus,
        stream=subjects.STREAM_HOST,
        durable=durable,
        filter_subjects=[filter_subject],
        controller="test",
        batch=10,
    )
    return asyncio.create_task(consumer.run(handler, stop))


async def test_round_trip_keeps_trace_context(bus: Bus) -> None:
    await bus.ensure_topology()
    name = f"rt-{uuid.uuid4().hex[:8]}"
    subject, change = _change(name)
    _exporter.clear()
    got: list[Delivery] = []
    done = asyncio.Event()

    async def handler(d: Delivery) -> None:
        got.append(d)
        done.set()

    stop = asyncio.Event()
    task = await _consume(bus, f"rt-{name}", handler, stop, filter_subject=subject)
    await Publisher(bus).publish(subject, change, msg_id=f"{name}@1")
    await asyncio.wait_for(done.wait(), 10)
    stop.set()
    await task
    assert got[0].message == change
    spans = _exporter.get_finished_spans()
    producer = next(
        s
        for s in spans
        if s.kind == SpanKind.PRODUCER and s.attributes["messaging.destination.name"] == subject
    )
    consumer = next(
        s
        for s in spans
        if s.kind == SpanKind.CONSUMER and s.attributes["messaging.destination.name"] == subject
    )
    assert consumer.context.trace_id == producer.context.trace_id
    assert consumer.parent is not None and consumer.parent.span_id == producer.context.span_id
    assert producer.name == "send kubefed.host.{resource}.{namespace}.{name}"
    assert consumer.name == "process kubefed.host.{resource}.{namespace}.{name}"
    assert producer.attributes["messaging.system"] == "nats"
    assert "traceparent" in got[0].headers


async def test_duplicate_message_id_is_dropped(bus: Bus) -> None:
    await bus.ensure_topology()
    name = f"dup-{uuid.uuid4().hex[:8]}"
    subject, change = _change(name)
    pub = Publisher(bus)
    seq1 = await pub.publish(subject, change, msg_id=f"{name}@1")
    seq2 = await pub.publish(subject, change, msg_id=f"{name}@1")
    assert seq1 == seq2  # the stream stored it once
    info = await bus.js.stream_info(subjects.STREAM_HOST, subjects_filter=subject)
    assert info.state.subjects == {subject: 1}
    seq3 = await pub.publish(subject, change, msg_id=f"{name}@2")
    assert seq3 > seq1


async def test_purge_through_a_sequence_keeps_what_was_published_since(bus: Bus) -> None:
    """The status writer purges a finished removal; a decision for a recreated object must survive it."""
    await bus.ensure_topology()
    name = f"purge-{uuid.uuid4().hex[:8]}"
    subject, change = _change(name)
    pub = Publisher(bus)
    removal = await pub.publish(subject, change, msg_id=f"{name}@1")
    newer = await pub.publish(subject, _change(name, rv="2")[1], msg_id=f"{name}@2")
    await bus.purge_subject(subjects.STREAM_HOST, subject, through_seq=removal)
    last = await bus.get_last(subjects.STREAM_HOST, subject)
    assert last is not None and last[2] == newer
    await bus.purge_subject(subjects.STREAM_HOST, subject, through_seq=newer)
    assert await bus.get_last(subjects.STREAM_HOST, subject) is None


async def test_temporary_error_naks_with_delay_and_redelivers(bus: Bus) -> None:
    await bus.ensure_topology()
    name = f"nak-{uuid.uuid4().hex[:8]}"
    subject, change = _change(name)
    attempts: list[tuple[int, float]] = []
    done = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def handler(d: Delivery) -> None:
        attempts.append((d.num_delivered, loop.time()))
        if len(attempts) == 1:
            raise TemporaryError("not yet", delay=0.5)
        done.set()

    stop = asyncio.Event()
    task = await _consume(bus, f"nak-{name}", handler, stop, filter_subject=subject)
    await Publisher(bus).publish(subject, change)
    await asyncio.wait_for(done.wait(), 10)
    stop.set()
    await task
    assert [a[0] for a in attempts] == [1, 2]
    assert attempts[1][1] - attempts[0][1] >= 0.45


async def test_permanent_error_terminates(bus: Bus) -> None:
    await bus.ensure_topology()
    name = f"term-{uuid.uuid4().hex[:8]}"
    subject, change = _change(name)
    calls = 0

    async def handler(d: Delivery) -> None:
        nonlocal calls
        calls += 1
        raise PermanentError("bad input")

    stop = asyncio.Event()
    durable = f"term-{name}"
    task = await _consume(bus, durable, handler, stop, filter_subject=subject)
    await Publisher(bus).publish(subject, change)

    async def settled() -> bool:
        # delivered, and no longer pending an ack: terminated (a nak would keep it pending until redelivery)
        try:
            info = await bus.js.consumer_info(subjects.STREAM_HOST, durable)
        except nats.js.errors.NotFoundError:  # the consumer is not bound yet
            return False
        return bool(info.delivered and info.delivered.stream_seq) and not info.num_ack_pending

    await eventually(settled, timeout=10)
    stop.set()
    await task
    assert calls == 1
    info = await bus.js.consumer_info(subjects.STREAM_HOST, durable)
    assert info.num_ack_pending == 0 and info.num_pending == 0 and not info.num_redelivered


async def test_restart_loses_no_acknowledged_message(fresh_nats: NatsServer) -> None:
    b = await Bus.connect(BusSettings(url=fresh_nats.url))
    await b.ensure_topology()
    pub = Publisher(b, max_in_flight=64)
    sent = []
    for i in range(300):
        subject, change = _change(f"obj-{i}")
        await pub.send(subject, change, msg_id=f"obj-{i}")
        sent.append(subject)
    await pub.flush()
    fresh_nats.restart()
    received: set[str] = set()
    done = asyncio.Event()

    async def handler(d: Delivery) -> None:
        received.add(d.subject)
        if len(received) == len(sent):
            done.set()

    stop = asyncio.Event()
    task = await _consume(b, "after-restart", handler, stop, filter_subject="kubefed.host.>")
    await asyncio.wait_for(done.wait(), 20)
    stop.set()
    await task
    assert received == set(sent)
    await b.close()


async def test_replayer_delivers_latest_per_subject_and_catches_up(bus: Bus) -> None:
    await bus.ensure_topology()
    tag = uuid.uuid4().hex[:8]
    pub = Publisher(bus)
    for i in range(3):
        for rv in ("1", "2"):
            subject, change = _change(f"rp-{i}", rv, namespace=tag)
            await pub.publish(subject, change)
    got: dict[str, str] = {}

    async def handler(d: Delivery) -> None:
        got[d.subject] = d.message.resource_version  # type: ignore[union-attr]

    stop = asyncio.Event()
    prefix = subjects.host_subject("tests.example.io", tag, "x").rsplit(".", 1)[0]
    replay = Replayer(bus, stream=subjects.STREAM_HOST, filter_subject=f"{prefix}.>", name="t")
    task = asyncio.create_task(replay.run(handler, stop))
    await asyncio.wait_for(replay.caught_up.wait(), 10)
    assert len(got) == 3 and set(got.values()) == {"2"}
    stop.set()
    await task
