"""resourceVersion checkpoints per watched resource, kept in the ``kubefed-checkpoints`` KV bucket.

A checkpoint is a resourceVersion of one host's history, so it is stored with that host's identity
(:class:`shared.runtime.HostBinding`). A checkpoint of another host loads as none, and the watch
relists instead of resuming from a resourceVersion that means nothing here. A checkpoint written before
checkpoints carried the identity (the bare resourceVersion) names no host and is resumed from.
"""

from __future__ import annotations

import msgspec

from shared.bus import Bus
from shared.errors import BusError
from shared.runtime import HostBinding
from shared.subjects import kv_key

__all__ = ["Checkpoints"]


class _Checkpoint(msgspec.Struct, frozen=True, kw_only=True):
    host: str
    rv: str


_decoder = msgspec.json.Decoder(_Checkpoint)


class Checkpoints:
    """Load and save the last published resourceVersion of each watch, bound to the host."""

    def __init__(self, bus: Bus, binding: HostBinding) -> None:
        self._bus = bus
        self._binding = binding
        self._last: dict[str, tuple[str, str]] = {}  # name -> (host, rv) last saved

    async def load(self, name: str) -> str:
        """The checkpointed resourceVersion, ``""`` when there is none for this host."""
        value = await self._bus.kv_get("kubefed-checkpoints", kv_key(name))
        if not value:
            return ""
        try:
            checkpoint = _decoder.decode(value)
        except msgspec.DecodeError:
            checkpoint = _Checkpoint(
                host="", rv=value.decode()
            )  # written before checkpoints named their host
        if self._binding.foreign(checkpoint.host):
            return ""
        return checkpoint.rv

    async def save(self, name: str, rv: str) -> None:
        if not rv or self._last.get(name) == (self._binding.uid, rv):
            return
        value = msgspec.json.encode(_Checkpoint(host=self._binding.uid, rv=rv))
        try:
            await self._bus.kv_put("kubefed-checkpoints", kv_key(name), value)
        except BusError:
            return  # the next save will try again; a stale checkpoint only replays a little
        self._last[name] = (self._binding.uid, rv)
