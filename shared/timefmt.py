"""Kubernetes timestamps (``metav1.Time``: RFC 3339, UTC, seconds precision)."""

from __future__ import annotations

import datetime as dt

__all__ = ["now_rfc3339"]


def now_rfc3339() -> str:
    """The current time as Kubernetes writes it, e.g. ``2026-01-01T10:00:00Z``."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
