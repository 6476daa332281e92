"""Tracing, metrics and logging: every observability name lives here, never inline in a service."""

from shared.telemetry._logging import configure_logging, get_logger
from shared.telemetry._metrics import Metrics, metrics
from shared.telemetry._nats import (
    consume_span,
    context_from_carrier,
    current_carrier,
    inject_headers,
    publish_span,
    settle_span,
)
from shared.telemetry._tracing import configure_tracing, shutdown_tracing, spans_recorded, tracer

__all__ = [
    "Metrics",
    "configure_logging",
    "configure_tracing",
    "consume_span",
    "context_from_carrier",
    "current_carrier",
    "get_logger",
    "inject_headers",
    "metrics",
    "publish_span",
    "settle_span",
    "shutdown_tracing",
    "spans_recorded",
    "tracer",
]
