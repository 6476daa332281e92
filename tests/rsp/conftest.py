"""A control plane factory for replica-scheduling and DNS tests: any members, optional pod capacity.

Built on :class:`tests.pipeline.conftest.ControlPlane` (simulated host + members over TLS, a private
nats-server, the services in-process); adds the ``dns`` service and a federated namespace placed in
every member.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.dns import DNSSettings, Resolver, run_dns
from sim import run_fleet
from tests.pipeline.conftest import NS as SYSTEM_NS
from tests.pipeline.conftest import ROOT, ControlPlane

DATA = ROOT / "tests" / "data" / "kubefed-examples"

MakePlane = Callable[..., Awaitable[ControlPlane]]


def start_dns(cp: ControlPlane, name: str = "dns", *, resolver: Resolver | None = None, **extra: Any) -> None:
    """Run the DNS service in-process next to the others (stopped by ``cp.stop_all``)."""
    stop = asyncio.Event()
    cp.stops[name] = stop
    cp.tasks[name] = asyncio.create_task(
        run_dns(
            DNSSettings(common=cp.common(name), **extra), resolver=resolver, stop=stop, install_signals=False
        ),
        name=name,
    )


def is_ready(cp: ControlPlane, cluster: str) -> bool:
    kfc = cp.host_object("core.kubefed.io", "kubefedclusters", SYSTEM_NS, cluster) or {}
    conditions = (kfc.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


async def federate_namespace(cp: ControlPlane, namespace: str) -> None:
    """Create ``namespace`` on the host and federate it to every member (empty clusterSelector)."""
    docs = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        {
            "apiVersion": "types.kubefed.io/v1beta1",
            "kind": "FederatedNamespace",
            "metadata": {"name": namespace, "namespace": namespace},
            "spec": {"placement": {"clusterSelector": {}}},
        },
    ]
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs[:1]))
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs[1:]))


@contextlib.asynccontextmanager
async def plane_factory(
    nats_url: str, tmp_path: Path, open_fleet: Callable[..., contextlib.AbstractAsyncContextManager[Any]]
) -> AsyncIterator[MakePlane]:
    """``make_plane`` over any fleet: ``open_fleet(names, **fleet_kw)`` is ``sim.run_fleet`` or
    ``sim.real.run_real_fleet`` with its paths bound."""
    stack = contextlib.AsyncExitStack()
    planes: list[ControlPlane] = []

    async def make(
        members: list[str], *, feature_gates: dict[str, str] | None = None, **fleet_kw: Any
    ) -> ControlPlane:
        fleet = await stack.enter_async_context(open_fleet(["host", *members], **fleet_kw))
        cp = ControlPlane(fleet, nats_url, tmp_path)
        planes.append(cp)
        await cp.install_kubefed_api({"clusterHealthCheck": {"period": "1s"}}, feature_gates)
        for member in members:
            await cp.join(member)
        return cp

    try:
        yield make
    finally:
        for cp in planes:
            await cp.stop_all()
        await stack.aclose()


@pytest.fixture
async def make_plane(fresh_nats: Any, tmp_path: Path) -> AsyncIterator[MakePlane]:
    """``await make_plane(["cluster1", ...], capacity={...})`` → a configured, joined control plane."""

    def open_fleet(names: list[str], **fleet_kw: Any) -> contextlib.AbstractAsyncContextManager[Any]:
        return run_fleet(names, tls=True, kubeconfig_path=tmp_path / "kubeconfig", **fleet_kw)

    async with plane_factory(fresh_nats.url, tmp_path, open_fleet) as make:
        yield make
