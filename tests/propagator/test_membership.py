"""The propagator asks the host whether a cluster is still a KubeFedCluster before removing an object
from it (an unjoined cluster keeps its objects, as in KubeFed): one read per cluster at a time, shared by
every removal decided before that read started, never older than the decision."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from services.propagator._members import MemberRegistry


class Host:
    def __init__(self) -> None:
        self.clusters = {"c1", "c2"}
        self.reads = 0
        self.gate = asyncio.Event()

    async def get_or_none(self, resource: Any, name: str, namespace: str | None = None) -> Any:
        self.reads += 1
        await self.gate.wait()
        return {"metadata": {"name": name}} if name in self.clusters else None


def registry(host: Host) -> MemberRegistry:
    return MemberRegistry(
        host,  # type: ignore[arg-type]
        "kube-federation-system",
        names=frozenset(),
        selector=None,
        on_change=lambda *a: None,
        watch_namespace=lambda: None,
    )


async def test_removals_decided_before_a_read_share_it() -> None:
    host = Host()
    reg = registry(host)
    decided = time.time()
    checks = [asyncio.create_task(reg.still_member("c1", decided)) for _ in range(5)]
    await asyncio.sleep(0.01)
    host.gate.set()
    assert await asyncio.gather(*checks) == [True] * 5
    assert host.reads == 1
    # a result read after the decision is reused; a decision made after it reads again
    assert await reg.still_member("c1", decided) is True
    assert host.reads == 1
    host.clusters.discard("c1")  # unjoined
    assert await reg.still_member("c1", time.time()) is False
    assert host.reads == 2
    # once gone, gone (until a refresh sees it joined again)
    assert await reg.still_member("c1", time.time() + 1) is False
    assert host.reads == 2
    assert await reg.still_member("c2", time.time()) is True
