"""Health probes of a large fleet go out in bounded waves (``probe_members``)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from services.propagator._health import probe_members
from services.propagator._members import Member
from shared.k8s import KubeClient
from shared.planning import HealthThresholds


class SlowMember:
    """Answers like a healthy kube-apiserver, each probe request taking ``delay`` seconds."""

    def __init__(self, delay: float, gauge: dict[str, int]) -> None:
        self.delay, self.gauge = delay, gauge

    async def _request(self) -> None:
        self.gauge["now"] += 1
        self.gauge["max"] = max(self.gauge["max"], self.gauge["now"])
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.gauge["now"] -= 1

    async def healthz(self, timeout: float = 3.0) -> str:
        await self._request()
        return "ok"

    async def version(self, timeout: float = 3.0) -> dict[str, Any]:
        return {"gitVersion": "v1.31.0"}

    async def list(self, resource: Any, *a: Any, **kw: Any) -> tuple[list[dict[str, Any]], str]:
        return [], "1"


async def test_probes_in_flight_never_exceed_the_limit_and_every_member_is_probed() -> None:
    gauge = {"now": 0, "max": 0}
    members = [Member(f"m{i}", cast(KubeClient, SlowMember(0.02, gauge)), "fp") for i in range(12)]
    results = await probe_members(members, {}, HealthThresholds(1, 1), timeout=1.0, concurrency=3)
    assert gauge["max"] == 3
    reports = [r[1] for r in results if not isinstance(r, BaseException)]
    assert [r.cluster for r in reports] == [m.name for m in members]
    assert all(r.reachable and r.healthy and r.kubernetes_version == "v1.31.0" for r in reports)
