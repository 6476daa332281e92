"""resourceVersion checkpoints per watched resource, kept in the ``kubefed-checkpoints`` KV bucket."""

from __future__ import annotations

from shared.bus import Bus
from shared.errors import BusError
from shared.subjects import kv_key

__all__ = ["Checkpoints"]


class Checkpoints:
    """Load and save the last published resourceVersion of each watch."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._last: dict[str, str] = {}

    async def load(self, name: str) -> str:
        value = await self._bus.kv_get("kubefed-checkpoints", kv_key(name))
        return value.decode() if value else ""

    async def save(self, name: str, rv: str) -> None:
        if not rv or self._last.get(name) == rv:
            return
        try:
            await self._bus.kv_put("kubefed-checkpoints", kv_key(name), rv.encode())
        except BusError:
            return  # the next save will try again; a stale checkpoint only replays a little
        self._last[name] = rv
