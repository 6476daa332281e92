"""Telling the host's own namespace apart on a member (the host joined as a member) reads the host once
for all members at a time, not once per member (issue #18: a resync of a namespace federated to 2,500
members sent 2,500 concurrent GETs to the host, which timed out)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from services.propagator._apply import Applier
from shared.k8s import KubeClient, Resource


class _Host:
    def __init__(self) -> None:
        self.gets: list[str] = []
        self.release = asyncio.Event()

    async def get_or_none(self, resource: Resource, name: str) -> dict[str, Any] | None:
        self.gets.append(name)
        await self.release.wait()
        return {"metadata": {"name": name, "uid": f"host-{name}"}}


def _applier(host: _Host) -> Applier:
    return Applier(
        decisions={},
        registry=cast(Any, None),
        probed=(),
        reporter=cast(Any, None),
        member_changed=lambda *a: None,
        host=cast(KubeClient, host),
    )


async def test_concurrent_members_share_one_host_read_per_namespace() -> None:
    host = _Host()
    applier = _applier(host)
    member_copy = {"metadata": {"name": "lat", "uid": "member-uid"}}
    host_copy = {"metadata": {"name": "lat", "uid": "host-lat"}}
    checks = [
        asyncio.ensure_future(applier._is_host_namespace("lat", host_copy if i == 0 else member_copy))
        for i in range(500)
    ]
    other = asyncio.ensure_future(applier._is_host_namespace("web", member_copy))
    while len(host.gets) < 2:  # both lookups in flight before any answer
        await asyncio.sleep(0)
    host.release.set()
    results = await asyncio.gather(*checks)
    assert sorted(host.gets) == ["lat", "web"]
    assert results[0] is True and not any(results[1:])
    assert await other is False
    assert await applier._is_host_namespace("lat", host_copy) is True
    assert len(host.gets) == 2  # answered from the cache
