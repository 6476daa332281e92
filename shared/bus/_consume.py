"""Consuming: durable pull consumers (work shared by replicas) and ordered replays (state rebuild).

:class:`PullConsumer` is for work: several replicas bind the same durable consumer and JetStream hands
each message to one of them. The handler's outcome decides the settlement, mirroring kopf and
controller-runtime:

- return normally → ``ack``;
- :class:`~shared.errors.TemporaryError` (or any unexpected exception) → ``nak(delay)`` with per-message
  exponential backoff from ``num_delivered`` (5 ms doubling, capped), at least the error's own delay;
- :class:`~shared.errors.PermanentError` → ``term``: retrying cannot help; the handler has already
  recorded a status condition, and the counter ``controller_runtime_terminal_reconcile_errors_total``
  goes up;
- a message that does not decode, has a schema we do not read or a type its subject does not carry
  never reaches the handler (:mod:`shared.bus._inbound`): ``term``, one error line, a counter.

Messages of one subject are handled one at a time, in order; different subjects run concurrently (up to
twice the fetch batch in flight), and fetching never waits for a slow message to finish.

:class:`Replayer` rebuilds state: an ordered consumer that starts with the last message of every
subject in a last-per-subject stream (the current decision for every object) and then follows live
updates. It reports when it has caught up, which is when a propagator has re-verified everything.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from shared.bus._connection import Bus
from shared.bus._inbound import RejectedMessage, decode_inbound
from shared.errors import BusError, PermanentError, TemporaryError
from shared.messages import Message
from shared.telemetry import consume_span, get_logger, metrics
from shared.telemetry._nats import record_error

__all__ = ["Delivery", "PullConsumer", "Replayer", "backoff_delay"]

log = get_logger(__name__)

REPLAY_HEARTBEAT = 1.0  # seconds between idle heartbeats of a replay's ordered consumer


@dataclass(frozen=True)
class Delivery:
    """One decoded message as a handler sees it."""

    subject: str
    message: Message
    headers: dict[str, str]
    num_delivered: int
    stream_seq: int


Handler = Callable[[Delivery], Awaitable[None]]


def backoff_delay(num_delivered: int, *, base: float = 0.005, cap: float = 60.0) -> float:
    """client-go's per-item exponential backoff (5 ms doubling), capped."""
    return float(min(cap, base * (2 ** max(0, num_delivered - 1))))


def _num_delivered(msg: Msg) -> int:
    try:
        return int(msg.metadata.num_delivered or 1)
    except (nats.errors.NotJSMessageError, AttributeError, TypeError, ValueError):
        return 1


def _queued_seconds(msg: Msg) -> float:
    """Time since JetStream stored the message (its wait in the queue, redelivery backoff included)."""
    try:
        stored = msg.metadata.timestamp
    except (nats.errors.NotJSMessageError, AttributeError, TypeError, ValueError):
        return 0.0
    return max(0.0, time.time() - stored.timestamp()) if stored is not None else 0.0


def _stream_seq(msg: Msg) -> int:
    try:
        return int(msg.metadata.sequence.stream)
    except (nats.errors.NotJSMessageError, AttributeError, TypeError, ValueError):
        return 0


class PullConsumer:
    """A durable pull consumer shared by every replica of a service."""

    def __init__(
        self,
        bus: Bus,
        *,
        stream: str,
        durable: str,
        filter_subjects: Sequence[str],
        controller: str,
        batch: int = 256,
        ack_wait: float = 30.0,
        max_backoff: float = 60.0,
        records_reconciles: bool = True,
    ) -> None:
        """``records_reconciles=False`` for a consumer whose handler hands its keys to a
        :class:`shared.runtime.Controller` of the same name, which counts the reconciles itself."""
        self._bus = bus
        self._records_reconciles = records_reconciles
        self._stream = stream
        self._durable = durable
        self._filters = list(filter_subjects)
        self._controller = controller
        self._batch = batch
        self._ack_wait = ack_wait
        self._max_backoff = max_backoff
        self._sub: Any = None

    async def _subscribe(self) -> Any:
        config = ConsumerConfig(
            durable_name=self._durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self._ack_wait,
            max_ack_pending=max(1000, self._batch * 4),
            filter_subjects=self._filters if len(self._filters) > 1 else None,
            filter_subject=self._filters[0] if len(self._filters) == 1 else None,
            deliver_policy=DeliverPolicy.ALL,
        )
        try:
            return await self._bus.js.pull_subscribe(
                self._filters[0], durable=self._durable, stream=self._stream, config=config
            )
        except nats.errors.Error as exc:
            raise BusError(f"cannot bind consumer {self._durable}: {exc}") from exc

    async def run(self, handler: Handler, stop: asyncio.Event) -> None:
        """Fetch and handle until ``stop`` is set; in-flight messages finish before returning."""
        while not stop.is_set():
            try:
                self._sub = await self._subscribe()
                break
            except BusError as exc:
                log.warning("Consumer bind failed, retrying", consumer=self._durable, err=str(exc))
                await _sleep_or_stop(stop, 1.0)
        try:
            await self._fetch_loop(handler, stop)
        finally:
            if self._sub is not None:
                try:
                    await self._sub.unsubscribe()
                except (nats.errors.Error, nats.js.errors.Error):
                    pass

    async def _fetch_loop(self, handler: Handler, stop: asyncio.Event) -> None:
        """Fetch while handlers run: up to ``2 × batch`` messages in flight, one subject's in order.

        The loop never waits for a whole batch to finish, so one slow message (a handler that waits for
        other messages, a slow API call) does not hold up the messages behind it on other subjects.
        """
        limit = self._batch * 2
        running: set[asyncio.Task[None]] = set()
        tails: dict[str, asyncio.Task[None]] = {}
        try:
            while not stop.is_set():
                free = limit - len(running)
                if free <= 0:
                    await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                    continue
                try:
                    msgs = await self._sub.fetch(min(self._batch, free), timeout=1.0)
                except (TimeoutError, nats.errors.TimeoutError):
                    continue
                except (nats.errors.Error, nats.js.errors.Error) as exc:
                    log.info("Fetch failed, retrying", consumer=self._durable, err=str(exc))
                    await _sleep_or_stop(stop, 0.5)
                    continue
                for msg in msgs:
                    task = asyncio.create_task(self._handle_after(tails.get(msg.subject), msg, handler))
                    tails[msg.subject] = task
                    running.add(task)
                    task.add_done_callback(running.discard)
                    task.add_done_callback(functools.partial(_drop_tail, tails, msg.subject))
                metrics.series(metrics.workqueue_depth, self._durable, self._controller).set(len(running))
            if running:
                await asyncio.wait(running)  # in-flight messages finish and are settled
        finally:
            for task in running:
                task.cancel()
            metrics.series(metrics.workqueue_depth, self._durable, self._controller).set(0)

    async def _handle_after(self, previous: asyncio.Task[None] | None, msg: Msg, handler: Handler) -> None:
        if previous is not None:
            await asyncio.wait({previous})  # per-subject order; its outcome is its own business
        await self._handle(msg, handler)

    async def _handle(self, msg: Msg, handler: Handler) -> None:
        delivered = _num_delivered(msg)
        headers = dict(msg.headers or {})
        metrics.series(metrics.workqueue_adds, self._durable, self._controller).inc()
        metrics.series(metrics.workqueue_queue_duration, self._durable, self._controller).observe(
            _queued_seconds(msg)
        )
        started = time.perf_counter()
        with consume_span(
            msg.subject,
            headers,
            consumer_group=self._durable,
            num_delivered=delivered,
            msg_id=headers.get("Nats-Msg-Id", ""),
        ) as span:
            try:
                message = decode_inbound(msg.subject, msg.data)
            except RejectedMessage as exc:
                record_error(span, exc)
                log.error(
                    "Terminated bad message",
                    consumer=self._durable,
                    subject=msg.subject,
                    reason=exc.reason,
                    err=exc.detail,
                )
                metrics.series(metrics.messages_consumed, self._stream, exc.reason).inc()
                await _settle(msg.term())
                return
            delivery = Delivery(msg.subject, message, headers, delivered, _stream_seq(msg))
            try:
                await handler(delivery)
            except PermanentError as exc:
                record_error(span, exc)
                if self._records_reconciles:
                    metrics.series(metrics.terminal_errors, self._controller).inc()
                    metrics.series(metrics.reconcile_total, self._controller, "error").inc()
                metrics.series(metrics.messages_consumed, self._stream, "term").inc()
                log.info("Terminated message after permanent error", subject=msg.subject, err=str(exc))
                await _settle(msg.term())
            except asyncio.CancelledError:
                await _settle(msg.nak(delay=0.5))
                raise
            except Exception as exc:
                record_error(span, exc)
                delay = backoff_delay(delivered, cap=self._max_backoff)
                if isinstance(exc, TemporaryError):
                    delay = max(delay, min(exc.delay, self._max_backoff))
                else:
                    log.error("Handler failed unexpectedly", subject=msg.subject, err=repr(exc))
                if self._records_reconciles:
                    metrics.series(metrics.reconcile_errors, self._controller).inc()
                    metrics.series(metrics.reconcile_total, self._controller, "requeue_after").inc()
                metrics.series(metrics.workqueue_retries, self._durable, self._controller).inc()
                metrics.series(metrics.messages_consumed, self._stream, "nak").inc()
                await _settle(msg.nak(delay=delay))
            else:
                if self._records_reconciles:
                    metrics.series(metrics.reconcile_total, self._controller, "success").inc()
                metrics.series(metrics.messages_consumed, self._stream, "ack").inc()
                await _settle(msg.ack())
            finally:
                elapsed = time.perf_counter() - started
                metrics.series(metrics.workqueue_work_duration, self._durable, self._controller).observe(
                    elapsed
                )
                if self._records_reconciles:
                    metrics.series(metrics.reconcile_time, self._controller).observe(elapsed)


def _drop_tail(tails: dict[str, asyncio.Task[None]], subject: str, task: asyncio.Task[None]) -> None:
    if tails.get(subject) is task:
        del tails[subject]


class Replayer:
    """Replays the latest message of every subject matching a filter, then follows live updates."""

    def __init__(self, bus: Bus, *, stream: str, filter_subject: str, name: str) -> None:
        self._bus = bus
        self.stream = self._stream = stream
        self._filter = filter_subject
        self._name = name
        self.caught_up = asyncio.Event()
        self._sub: Any = None
        self.replayed = 0

    async def run(self, handler: Handler, stop: asyncio.Event) -> None:
        """Deliver messages to ``handler`` in stream order until ``stop``; handler errors are logged."""
        queue: asyncio.Queue[Msg] = asyncio.Queue(maxsize=10000)

        async def on_msg(msg: Msg) -> None:
            await queue.put(msg)

        while not stop.is_set():
            try:
                info = await self._bus.js.stream_info(self._stream, subjects_filter=self._filter)
                initial = (
                    len(info.state.subjects or {})
                    if info.state.subjects is not None
                    else int(info.state.messages)
                )
                self._sub = await self._bus.js.subscribe(
                    self._filter,
                    stream=self._stream,
                    ordered_consumer=True,
                    cb=on_msg,
                    # the ordered consumer lives on the stream leader; two missed heartbeats make nats-py
                    # recreate it from the next sequence, so a leader failover costs seconds, not 10–20 s
                    idle_heartbeat=REPLAY_HEARTBEAT,
                    config=ConsumerConfig(deliver_policy=DeliverPolicy.LAST_PER_SUBJECT),
                )
                break
            except (nats.errors.Error, nats.js.errors.Error) as exc:
                log.warning("Replay subscribe failed, retrying", replay=self._name, err=str(exc))
                await _sleep_or_stop(stop, 1.0)
        else:
            return
        if initial == 0:
            self.caught_up.set()
        stop_task = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                get_task = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({get_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
                if get_task not in done:
                    get_task.cancel()
                    break
                msg = get_task.result()
                await self._deliver(msg, handler)
        finally:
            stop_task.cancel()
            try:
                await self._sub.unsubscribe()
            except (nats.errors.Error, nats.js.errors.Error):
                pass

    async def _deliver(self, msg: Msg, handler: Handler) -> None:
        headers = dict(msg.headers or {})
        pending = 0
        try:
            pending = int(msg.metadata.num_pending or 0)
        except (nats.errors.NotJSMessageError, AttributeError, TypeError, ValueError):
            pass
        with consume_span(msg.subject, headers, consumer_group=self._name) as span:
            try:
                message = decode_inbound(msg.subject, msg.data)
                await handler(Delivery(msg.subject, message, headers, 1, _stream_seq(msg)))
            except RejectedMessage as exc:
                record_error(span, exc)
                log.error(
                    "Skipped bad message",
                    replay=self._name,
                    subject=msg.subject,
                    reason=exc.reason,
                    err=exc.detail,
                )
                metrics.series(metrics.messages_consumed, self._stream, exc.reason).inc()
            except Exception as exc:
                record_error(span, exc)
                log.error("Replay handler failed", replay=self._name, subject=msg.subject, err=repr(exc))
        self.replayed += 1
        if pending == 0:
            self.caught_up.set()


async def _settle(awaitable: Awaitable[None]) -> None:
    try:
        await awaitable
    except (nats.errors.Error, nats.js.errors.Error) as exc:
        log.info("Settling message failed; it will be redelivered", err=str(exc))


async def _sleep_or_stop(stop: asyncio.Event, delay: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=delay)
    except TimeoutError:
        pass
