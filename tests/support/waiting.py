"""Waiting for a positive sign instead of sleeping: poll until a condition holds, or fail saying so."""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["eventually"]


async def eventually(check: Any, timeout: float = 20.0, interval: float = 0.1) -> Any:
    """Poll ``check`` (sync or async) until it returns a truthy value."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")
