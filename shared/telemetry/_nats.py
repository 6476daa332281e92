"""Messaging spans and W3C trace-context propagation through NATS headers.

Follows the OpenTelemetry messaging conventions (Development status): ``messaging.system = "nats"``
(the value every NATS instrumentation uses), span names ``{operation} {subject template}`` so that
subjects carrying object names stay out of span names, the concrete subject in
``messaging.destination.name``. Operation types map to span kinds: ``send`` PRODUCER, ``process``
CONSUMER, ``settle`` CLIENT. The consumer span is parented on the context extracted from the message's
``traceparent`` header, and JetStream redeliveries are marked with ``messaging.nats.num_delivered``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind

from shared.subjects import template_of
from shared.telemetry._tracing import spans_recorded, tracer

__all__ = [
    "consume_span",
    "context_from_carrier",
    "current_carrier",
    "inject_headers",
    "publish_span",
    "settle_span",
]

SYSTEM = "nats"


def inject_headers(headers: dict[str, str] | None = None) -> dict[str, str]:
    """Write the current trace context (``traceparent``/``tracestate``/``baggage``) into headers."""
    headers = {} if headers is None else headers
    propagate.inject(headers)
    return headers


def current_carrier() -> dict[str, str]:
    """The current trace context as a plain carrier dict, for embedding in message bodies."""
    return inject_headers({})


_EXTRACTED_MAX = 4096  # contexts kept for reuse; all forgotten at once when full
_extracted: dict[tuple[object, tuple[str | None, ...]], otel_context.Context] = {}
_fields: tuple[object, tuple[str, ...]] = (None, ())


def context_from_carrier(carrier: Mapping[str, str] | None) -> otel_context.Context:
    """Extract a context from headers or an embedded carrier (empty carrier → a fresh root).

    The result depends only on the propagator's fields of the carrier (it is extracted into an empty
    context), and contexts are immutable: the context of a recent carrier is reused. A propagator
    extracts each decision's context once per member cluster, which this makes one extraction."""
    global _fields
    propagator = propagate.get_global_textmap()
    if _fields[0] is not propagator:
        _fields = (propagator, tuple(sorted(propagator.fields)))
    source = carrier or {}
    values = tuple(source.get(f) for f in _fields[1])
    key = (propagator, values)
    context = _extracted.get(key)
    if context is None:
        if len(_extracted) >= _EXTRACTED_MAX:
            _extracted.clear()
        fields = {f: v for f, v in zip(_fields[1], values, strict=True) if v is not None}
        context = _extracted[key] = propagator.extract(fields, context=otel_context.Context())
    return context


def _attributes(operation: str, op_type: str, subject: str) -> dict[str, str]:
    return {
        "messaging.system": SYSTEM,
        "messaging.operation.name": operation,
        "messaging.operation.type": op_type,
        "messaging.destination.name": subject,
        "messaging.destination.template": template_of(subject),
    }


@contextmanager
def publish_span(subject: str, *, msg_id: str = "", size: int = 0) -> Iterator[Span]:
    """A PRODUCER span around one publish; inject headers inside it."""
    attrs: dict[str, str | int] = dict(_attributes("send", "send", subject))
    if msg_id:
        attrs["messaging.message.id"] = msg_id
    if size:
        attrs["messaging.message.body.size"] = size
    with tracer().start_as_current_span(
        f"send {template_of(subject)}", kind=SpanKind.PRODUCER, attributes=attrs
    ) as span:
        yield span


@contextmanager
def consume_span(
    subject: str,
    headers: Mapping[str, str] | None,
    *,
    consumer_group: str = "",
    num_delivered: int = 1,
    msg_id: str = "",
) -> Iterator[Span]:
    """A CONSUMER ``process`` span parented on the publisher's context from the headers.

    When no span would be recorded (no exporter, :func:`spans_recorded`), none is started: the handler
    runs in the publisher's context, which is what it passes on. A propagator replaying 100,000
    decisions at start spent about a tenth of its CPU on these unrecorded spans."""
    parent = context_from_carrier(headers)
    token = otel_context.attach(parent)
    try:
        if not spans_recorded():
            yield trace.get_current_span(parent)
            return
        attrs: dict[str, str | int] = dict(_attributes("process", "process", subject))
        attrs["messaging.nats.num_delivered"] = num_delivered
        if consumer_group:
            attrs["messaging.consumer.group.name"] = consumer_group
        if msg_id:
            attrs["messaging.message.id"] = msg_id
        with tracer().start_as_current_span(
            f"process {template_of(subject)}", kind=SpanKind.CONSUMER, attributes=attrs
        ) as span:
            yield span
    finally:
        otel_context.detach(token)


@contextmanager
def settle_span(subject: str, outcome: str) -> Iterator[Span]:
    """A CLIENT span for ack/nak/term."""
    attrs = _attributes(outcome, "settle", subject)
    with tracer().start_as_current_span(
        f"{outcome} {template_of(subject)}", kind=SpanKind.CLIENT, attributes=attrs
    ) as span:
        yield span


def record_error(span: Span, exc: BaseException) -> None:
    """Mark a span failed with a low-cardinality ``error.type``."""
    span.set_attribute("error.type", type(exc).__name__)
    span.set_status(trace.Status(trace.StatusCode.ERROR, str(exc)[:200]))
