"""Permission violations reported by nats-server, turned into an error at once.

With least-privilege NATS users (deploy/kustomize/components/nats-auth, docs/security.md) a request to
a subject the user may not publish to gets no reply at all: the server sends the client an
asynchronous ``-ERR 'Permissions Violation for Publish to "<subject>"'`` and drops the message, so the
request would only fail at its timeout (5 s for a JetStream API call). :class:`Denials` sees those
errors in the connection's error callback and fails the pending call on that subject immediately with
:class:`PermissionDeniedError`. The stream declaration uses it to tell "not mine to declare" from "the
server is slow" without waiting, and a denied publish fails in milliseconds.

nats-py lower-cases the server's error text, so subjects are matched case-insensitively.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable
from typing import Any, TypeVar

from shared.errors import BusError

__all__ = ["Denials", "PermissionDeniedError"]

T = TypeVar("T")

_VIOLATION = re.compile(r'permissions violation for (publish|subscription) to "([^"]+)"', re.IGNORECASE)


class PermissionDeniedError(BusError):
    """The NATS user may not publish (or subscribe) to the subject; retrying helps only after the
    server's permissions change (a configuration reload)."""

    def __init__(self, subject: str) -> None:
        super().__init__(f"NATS permissions deny {subject}")
        self.subject = subject


def parse_violation(text: str) -> tuple[str, str] | None:
    """``("publish" | "subscription", subject)`` of a permissions-violation error text, else None."""
    m = _VIOLATION.search(text)
    return (m.group(1).lower(), m.group(2)) if m else None


class Denials:
    """Waiters for a denial of one subject each; fed by the connection's error callback."""

    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}
        self.unexpected: list[str] = []  # denials nobody waited for (the last 100): a permissions bug

    def report(self, text: str) -> bool:
        """Wake every call waiting on the denied subject; True if one was waiting (an expected denial)."""
        parsed = parse_violation(text)
        if parsed is None:
            return False
        waiters = self._waiters.pop(parsed[1].lower(), set())
        for future in waiters:
            if not future.done():
                future.set_result(None)
        if not waiters:
            self.unexpected = [*self.unexpected[-99:], text]
        return bool(waiters)

    async def guard(self, subject: str, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable`` (a request on ``subject``) unless the server denies the subject first."""
        key = subject.lower()
        denied: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(key, set()).add(denied)
        task = asyncio.ensure_future(awaitable)
        try:
            either: set[asyncio.Future[Any]] = {task, denied}
            done, _ = await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if task in done:
                return task.result()
            raise PermissionDeniedError(subject)
        finally:
            waiters = self._waiters.get(key)
            if waiters is not None:
                waiters.discard(denied)
                if not waiters:
                    del self._waiters[key]
            denied.cancel()
            if not task.done():
                task.cancel()
