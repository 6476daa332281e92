"""Structured logs: constant messages, variables as keys, trace ids on every line.

JSON when running in a cluster (``KUBERNETES_SERVICE_HOST`` set) or when ``KUBEFED_LOG_FORMAT=json``;
a readable console format on a terminal. A processor copies the current span's ``traceID``/``spanID``
so that a log line leads to its trace. Per-reconcile keys (``controller``, ``cluster``, ``reconcileID``)
are bound with ``structlog.contextvars``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import MutableMapping
from typing import Any

from opentelemetry import trace

from shared.telemetry._structlog import structlog

__all__ = ["configure_logging", "get_logger"]


def _add_trace_ids(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event_dict["traceID"] = format(ctx.trace_id, "032x")
        event_dict["spanID"] = format(ctx.span_id, "016x")
    return event_dict


def configure_logging(level: str | None = None, fmt: str | None = None) -> None:
    """Configure structlog and the stdlib root logger (idempotent)."""
    level_name = (level or os.environ.get("KUBEFED_LOG_LEVEL", "info")).upper()
    fmt = (
        fmt
        or os.environ.get("KUBEFED_LOG_FORMAT")
        or ("json" if os.environ.get("KUBERNETES_SERVICE_HOST") or not sys.stderr.isatty() else "console")
    )
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _add_trace_ids,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level_name, 20)
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=level_name, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    for noisy in ("nats", "aiohttp.access", "kubernetes_asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def get_logger(name: str | None = None) -> Any:
    """A structlog logger; bind ``controller`` etc. with ``.bind()`` or contextvars."""
    return structlog.get_logger(name)
