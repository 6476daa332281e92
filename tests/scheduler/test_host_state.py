"""HostState: N KubeFedCluster changes arriving at once cost a couple of cluster lists, not N
(concurrent lists of N clusters made the scheduler's memory peak grow with the fleet squared), and a
change is still reported to the callers that asked after it; only the placement projection is kept."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.scheduler._state import HostState
from shared.errors import NotFoundError
from shared.k8s import FEDERATED_TYPE_CONFIGS, KUBEFED_CLUSTERS, KUBEFED_CONFIGS, NAMESPACES, Resource

pytestmark = pytest.mark.timeout(10)


def _cluster(name: str, ready: bool = True, **labels: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"apiEndpoint": f"https://{name}:443", "caBundle": "QUJD" * 400},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


class _Host:
    """A host whose KubeFedCluster list can be held at a gate; counts the lists."""

    def __init__(self) -> None:
        self.clusters: list[dict[str, Any]] = []
        self.lists = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def list(self, resource: Resource, namespace: str | None = None) -> tuple[list[Any], str]:
        if resource == KUBEFED_CLUSTERS:
            self.lists += 1
            snapshot = [dict(c) for c in self.clusters]
            await self.gate.wait()
            return snapshot, "1"
        if resource != FEDERATED_TYPE_CONFIGS:  # Karmada's policy kinds: their CRDs are not installed
            raise NotFoundError(f"{resource.qualified} not served")
        return [], "1"

    async def get_or_none(self, resource: Resource, name: str, namespace: str | None = None) -> Any:
        if resource == NAMESPACES:
            return {"metadata": {"uid": "host-uid"}}
        assert resource == KUBEFED_CONFIGS
        return None


async def test_concurrent_refreshes_share_lists_and_report_the_join() -> None:
    host = _Host()
    state = HostState(host, "kube-federation-system")  # type: ignore[arg-type]
    await state.refresh()
    assert state.clusters == []
    host.lists = 0
    signatures = 0
    build = state.signature

    def counted() -> object:
        nonlocal signatures
        signatures += 1
        return build()

    state.signature = counted  # type: ignore[method-assign]
    host.gate.clear()
    first = asyncio.create_task(state.refresh())  # a list in progress when the members join
    await asyncio.sleep(0)
    host.clusters = [_cluster(f"m{i}", region="eu" if i % 2 else "us") for i in range(200)]
    joins = [asyncio.create_task(state.refresh()) for _ in range(200)]  # one change message per member
    await asyncio.sleep(0)
    host.gate.set()
    results = await asyncio.gather(first, *joins)
    assert host.lists == 2  # not 201
    assert signatures == 2  # one per list: 201 callers compare a generation, not 402 signatures of N
    assert all(results[1:])  # every caller that asked after the join sees that decisions changed
    assert sorted(c.name for c in state.clusters) == sorted(f"m{i}" for i in range(200))
    assert state.binding.uid == "host-uid"


async def test_refresh_keeps_the_placement_projection_only() -> None:
    host = _Host()
    host.clusters = [_cluster("a", True, region="eu"), _cluster("b", False)]
    state = HostState(host, "kube-federation-system")  # type: ignore[arg-type]
    assert await state.refresh() is True
    a, b = sorted(state.clusters, key=lambda c: c.name)
    assert (a.name, dict(a.labels), a.ready) == ("a", {"region": "eu"}, True)
    assert (b.name, b.ready) == ("b", False)
    assert not hasattr(a, "spec")
    # readiness alone does not change what decisions depend on
    host.clusters = [_cluster("a", False, region="eu"), _cluster("b", False)]
    assert await state.refresh() is False
    assert not next(c for c in state.clusters if c.name == "a").ready
