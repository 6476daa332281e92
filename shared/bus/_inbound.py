"""Checking a consumed message before any handler sees it: it decodes, its schema is ours, and its
type is the one its subject carries.

Anyone allowed to publish on a subject can publish anything there (NATS checks subjects, not payloads),
and a newer producer may speak a schema this consumer does not know. Such a message is rejected once:
a durable consumer terminates it (``term``: never redelivered), a replay skips it; either way one
error log line and ``kubefed_messages_consumed_total{stream, outcome}`` with the reason as outcome
(``undecodable``, ``unknown_schema``, ``unexpected_type``). A handler never runs on it, so it cannot
crash a service or loop through redeliveries.
"""

from __future__ import annotations

import msgspec

from shared import subjects
from shared.messages import (
    SCHEMA_VERSION,
    ClusterHealthReport,
    HostChange,
    MemberObservation,
    Message,
    PlacementDecision,
    ResourceRelisted,
    StatusReport,
    WorkloadObservation,
    decode,
)

__all__ = ["EXPECTED_TYPES", "RejectedMessage", "decode_inbound"]

# subject prefix → the message types that subject family carries
EXPECTED_TYPES: dict[str, tuple[type, ...]] = {
    subjects.HOST_PREFIX: (HostChange,),
    subjects.RELIST_PREFIX: (ResourceRelisted,),
    subjects.DESIRED_PREFIX: (PlacementDecision,),
    subjects.SECRET_PREFIX: (PlacementDecision,),
    subjects.STATUS_PREFIX: (StatusReport,),
    subjects.HEALTH_PREFIX: (ClusterHealthReport,),
    subjects.MEMBER_PREFIX: (MemberObservation, WorkloadObservation),
}


class RejectedMessage(Exception):
    """A consumed message no handler should see; ``reason`` is the metric outcome."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _expected(subject: str) -> tuple[type, ...]:
    prefix = ".".join(subject.split(".")[:2])
    return EXPECTED_TYPES.get(prefix, ())


def decode_inbound(subject: str, data: bytes | None) -> Message:
    """The message, or :class:`RejectedMessage` saying why not."""
    try:
        message = decode(data or b"")
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise RejectedMessage("undecodable", str(exc)) from exc
    if message.schema != SCHEMA_VERSION:
        raise RejectedMessage(
            "unknown_schema", f"schema {message.schema}, this service reads {SCHEMA_VERSION}"
        )
    expected = _expected(subject)
    if expected and not isinstance(message, expected):
        raise RejectedMessage("unexpected_type", f"{type(message).__name__} on {subject}")
    return message
