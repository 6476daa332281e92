"""Request/reply on core NATS (no stream): the scheduler answers ``kubefed.query.*``, kubefedctl asks.

Nothing of a query is stored: the subjects are outside every stream (``shared.subjects``), replies go
to the asker's inbox. The answering side is a queue group, so any one scheduler replica answers. Also
here: reading the last messages of one subject of a stream with per-subject history (the decision
history that ``kubefedctl explain --history`` prints).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg

from shared.bus._connection import Bus
from shared.errors import BusError
from shared.telemetry import get_logger

__all__ = ["ask", "read_subject_history", "serve_queries"]

log = get_logger(__name__)

QueryHandler = Callable[[bytes], Awaitable[bytes]]


async def serve_queries(
    bus: Bus, subject: str, queue: str, handler: QueryHandler, stop: asyncio.Event
) -> None:
    """Answer requests on ``subject`` (queue group ``queue``) with ``handler`` until ``stop`` is set."""

    async def on_request(msg: Msg) -> None:
        if not msg.reply:
            return
        try:
            answer = await handler(msg.data or b"")
        except Exception as exc:  # a failing query must not end the subscription
            log.error("Query failed", subject=subject, err=f"{type(exc).__name__}: {exc}")
            return
        try:
            await msg.respond(answer)
        except nats.errors.Error as exc:
            log.info("Answering query failed", subject=subject, err=str(exc))

    sub = await bus.nc.subscribe(subject, queue=queue, cb=on_request)
    try:
        await stop.wait()
    finally:
        try:
            await sub.unsubscribe()
        except nats.errors.Error:
            pass


async def ask(bus: Bus, subject: str, data: bytes, *, timeout: float = 30.0) -> bytes:
    """Send one request and return the reply; :class:`BusError` when nobody answers in time."""
    try:
        reply = await bus.nc.request(subject, data, timeout=timeout)
    except nats.errors.NoRespondersError as exc:
        raise BusError(f"no scheduler answers on {subject} (is the scheduler running?)") from exc
    except (nats.errors.TimeoutError, TimeoutError) as exc:
        raise BusError(f"no answer on {subject} within {timeout:g}s") from exc
    except nats.errors.Error as exc:
        raise BusError(f"request on {subject} failed: {exc}") from exc
    return reply.data or b""


async def read_subject_history(bus: Bus, stream: str, subject: str, *, limit: int) -> list[bytes]:
    """The last ``limit`` messages of ``subject`` in ``stream``, oldest first."""
    out: list[bytes] = []
    seq = 1
    while True:
        try:
            raw = await bus.retrying(
                functools.partial(bus.js.get_msg, stream, seq=seq, subject=subject, next=True)
            )
        except nats.js.errors.NotFoundError:
            break
        except nats.errors.Error as exc:
            raise BusError(f"cannot read {subject}: {exc}") from exc
        out.append(raw.data or b"")
        seq = int(raw.seq or 0) + 1
    return out[-limit:] if limit > 0 else []
