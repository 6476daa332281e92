"""Fault-injection state of one cluster (spec 4.1 test hooks).

Checked at the top of every request, so it must cost almost nothing when no fault is set: the
handler only reads three attributes on the fast path.
"""

from __future__ import annotations

import random

from ._errors import ApiError, injected


class Faults:
    """Mutable fault switches; the HTTP layer consults them, tests and the admin API set them."""

    __slots__ = ("error_method", "error_path", "error_rate", "error_status", "latency", "rng", "unhealthy")

    def __init__(self) -> None:
        self.unhealthy = False
        self.latency = 0.0
        self.error_rate = 0.0
        self.error_status = 500
        self.error_path: str | None = None
        self.error_method: str | None = None  # only requests with this HTTP method fail (None: any)
        self.rng = random.Random()

    def injected_error(self, path: str, method: str = "GET") -> ApiError | None:
        """The error to answer instead of serving ``method path``, or None."""
        if self.error_rate <= 0:
            return None
        if self.error_method and method != self.error_method:
            return None
        if self.error_path and not path.startswith(self.error_path):
            return None
        if self.error_rate >= 1 or self.rng.random() < self.error_rate:
            return injected(self.error_status)
        return None

    def reset(self) -> None:
        self.unhealthy = False
        self.latency = 0.0
        self.error_rate = 0.0
        self.error_status = 500
        self.error_path = None
        self.error_method = None
