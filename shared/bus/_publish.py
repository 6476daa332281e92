"""Publishing typed messages with de-duplication, trace context and bounded in-flight acks.

Awaiting each JetStream publish is round-trip bound (about 2,000 msg/s with nats-py on our machines);
:meth:`Publisher.send` keeps up to ``max_in_flight`` publishes outstanding and :meth:`Publisher.flush`
waits for their acks (about 4,500 msg/s). ``Nats-Msg-Id`` makes a retried publish a no-op inside the
stream's duplicate window; callers derive it from (key, version) so two watcher replicas publishing the
same change store it once.

**Failover.** While a clustered stream elects a new leader (a killed or frozen nats-server, a rolling
restart) a publish gets "no responders" (503) at once, or no ack at all. Both are retried here, with
the same ``Nats-Msg-Id``, so a publish that was stored after all is stored once: every attempt waits at
most :data:`ATTEMPT_TIMEOUT` for its ack, and attempts back off (0.25 s doubling, capped at 2 s) for up
to :data:`RETRY_BUDGET` seconds before the publish counts as failed. nats.go's ``js.Publish`` retries
"no responders" the same way. A failover then costs a stall, not an error the caller has to handle
(``tests/bus_cluster/test_cluster.py``).
"""

from __future__ import annotations

import asyncio

import nats.errors
import nats.js.errors
from nats.js.api import PubAck

from shared.bus._connection import Bus
from shared.errors import BusError, ConflictError, MessageTooLargeError
from shared.messages import Message, encode
from shared.telemetry import inject_headers, metrics, publish_span

__all__ = ["Publisher"]

MSG_ID = "Nats-Msg-Id"
EXPECTED_LAST_SUBJECT_SEQ = "Nats-Expected-Last-Subject-Sequence"
ATTEMPT_TIMEOUT = 5.0
RETRY_BUDGET = 20.0
_RETRYABLE = (
    nats.js.errors.NoStreamResponseError,
    nats.errors.NoRespondersError,
    nats.errors.TimeoutError,
    TimeoutError,
    nats.js.errors.ServiceUnavailableError,
)


def _retry_delay(attempt: int) -> float:
    return float(min(2.0, 0.25 * 2 ** (attempt - 1)))


class Publisher:
    """Publishes messages for one service; not shared across event loops."""

    def __init__(self, bus: Bus, *, max_in_flight: int | None = None) -> None:
        self._bus = bus
        self._limit = asyncio.Semaphore(max_in_flight or bus.settings.max_in_flight)
        self._pending: set[asyncio.Future[None]] = set()
        self._errors: list[BaseException] = []

    def _prepare(
        self, subject: str, message: Message, msg_id: str, extra: dict[str, str] | None
    ) -> tuple[bytes, dict[str, str]]:
        data = encode(message)
        if len(data) > self._bus.max_payload - 4096:
            raise MessageTooLargeError(
                f"message for {subject} is {len(data)} bytes; the NATS server accepts {self._bus.max_payload}"
            )
        headers = dict(extra or {})
        if msg_id:
            headers[MSG_ID] = msg_id
        inject_headers(headers)
        return data, headers

    async def publish(
        self,
        subject: str,
        message: Message,
        *,
        msg_id: str = "",
        expected_last_seq: int | None = None,
        stream: str = "",
    ) -> int:
        """Publish and wait for the stream's ack; returns the stream sequence.

        ``expected_last_seq`` makes the publish conditional (compare-and-set on the subject): a
        concurrent writer turns it into :class:`ConflictError`.
        """
        extra = {EXPECTED_LAST_SUBJECT_SEQ: str(expected_last_seq)} if expected_last_seq is not None else None
        with publish_span(subject, msg_id=msg_id):
            data, headers = self._prepare(subject, message, msg_id, extra)
            try:
                ack = await self._publish_retrying(subject, data, headers)
            except nats.js.errors.APIError as exc:
                if getattr(exc, "err_code", None) == 10071:
                    raise ConflictError(f"{subject} changed concurrently") from exc
                raise BusError(f"publish to {subject} failed: {exc}") from exc
            except nats.errors.MaxPayloadError as exc:
                raise MessageTooLargeError(f"message for {subject} exceeds max_payload") from exc
            except (TimeoutError, nats.errors.Error) as exc:
                raise BusError(f"publish to {subject} failed: {exc}") from exc
        if stream:
            metrics.messages_published.labels(stream).inc()
        return int(ack.seq)

    async def _publish_retrying(self, subject: str, data: bytes, headers: dict[str, str]) -> PubAck:
        """One awaited publish, retried through a stream leader failover (see the module docstring)."""
        deadline = asyncio.get_running_loop().time() + RETRY_BUDGET
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._bus.guard(
                    subject, self._bus.js.publish(subject, data, headers=headers, timeout=ATTEMPT_TIMEOUT)
                )
            except _RETRYABLE:
                if asyncio.get_running_loop().time() + _retry_delay(attempt) > deadline:
                    raise
                await asyncio.sleep(_retry_delay(attempt))

    async def send(self, subject: str, message: Message, *, msg_id: str = "", stream: str = "") -> None:
        """Publish without waiting for the ack (bounded); call :meth:`flush` to confirm delivery."""
        with publish_span(subject, msg_id=msg_id):
            data, headers = self._prepare(subject, message, msg_id, None)
            await self._limit.acquire()
            try:
                future = await self._bus.js.publish_async(subject, data, headers=headers)
            except nats.errors.MaxPayloadError as exc:
                self._limit.release()
                raise MessageTooLargeError(f"message for {subject} exceeds max_payload") from exc
            except (nats.errors.Error, nats.js.errors.Error) as exc:
                self._limit.release()
                raise BusError(f"publish to {subject} failed: {exc}") from exc
        tracker = asyncio.ensure_future(self._confirm(future, subject, data, headers))
        self._pending.add(tracker)
        tracker.add_done_callback(self._done)
        if stream:
            metrics.messages_published.labels(stream).inc()

    async def _confirm(
        self, future: asyncio.Future[PubAck], subject: str, data: bytes, headers: dict[str, str]
    ) -> None:
        """The ack of a :meth:`send`; on a failover, the same message again until the retry budget ends."""
        deadline = asyncio.get_running_loop().time() + RETRY_BUDGET
        attempt = 1
        while True:
            try:
                await asyncio.wait_for(future, ATTEMPT_TIMEOUT)
                return
            except _RETRYABLE:
                if asyncio.get_running_loop().time() + _retry_delay(attempt) > deadline:
                    raise
            await asyncio.sleep(_retry_delay(attempt))
            attempt += 1
            future = await self._bus.js.publish_async(subject, data, headers=headers)

    def _done(self, tracker: asyncio.Future[None]) -> None:
        self._pending.discard(tracker)
        self._limit.release()
        if not tracker.cancelled() and tracker.exception() is not None:
            self._errors.append(tracker.exception())  # type: ignore[arg-type]

    async def flush(self, timeout: float = RETRY_BUDGET + ATTEMPT_TIMEOUT + 5.0) -> None:
        """Wait for every outstanding ack; raise BusError if any publish was not stored."""
        if self._pending:
            _done, not_done = await asyncio.wait(set(self._pending), timeout=timeout)
            if not_done:
                raise BusError(f"{len(not_done)} publishes not acknowledged within {timeout}s")
        if self._errors:
            first = self._errors[0]
            self._errors.clear()
            raise BusError(f"publish not stored: {first}") from first

    def take_errors(self) -> list[BaseException]:
        """The failures of earlier :meth:`send` calls since the last flush or take (then forgotten), for
        callers that send best effort and only report."""
        errors, self._errors = self._errors, []
        return errors

    @property
    def in_flight(self) -> int:
        return len(self._pending)
