"""The plane fixtures the end-to-end suites share (a conftest imports the ones its tests use).

``control_plane``: host + cluster1 + cluster2 simulated over TLS, a private nats-server, the KubeFed API
installed with fast health checks; ``running``: the same with the three services up and namespace
``fed`` federated everywhere; ``make_plane``: a factory of planes with any members. ``tests/real``
overrides ``control_plane`` and ``make_plane`` with real clusters and keeps the rest.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim import run_fleet
from tests.support.objects import namespace_federated_to_all
from tests.support.plane import ControlPlane, MakePlane, eventually, plane_factory

__all__ = ["control_plane", "make_plane", "running"]


@pytest.fixture
async def control_plane(fresh_nats: Any, tmp_path: Path) -> AsyncIterator[ControlPlane]:
    async with run_fleet(
        ["host", "cluster1", "cluster2"], tls=True, kubeconfig_path=tmp_path / "kubeconfig"
    ) as fleet:
        cp = ControlPlane(fleet, fresh_nats.url, tmp_path)
        # faster health checks and re-queues after readiness changes than KubeFed's 10 s / 20 s / 60 s
        # defaults, through the KubeFedConfig itself (test_config.py checks that the delays are honoured)
        await cp.install_kubefed_api(
            {
                "clusterHealthCheck": {"period": "1s"},
                "controllerDuration": {"availableDelay": "1s", "unavailableDelay": "1s"},
            }
        )
        try:
            yield cp
        finally:
            await cp.stop_all()


@pytest.fixture
async def running(control_plane: ControlPlane) -> ControlPlane:
    """Two joined members, the three services running, namespace ``fed`` federated to all clusters."""
    cp = control_plane
    await cp.start_federation({"cluster1": {"region": "eu"}, "cluster2": {"region": "us"}})
    await cp.akubectl(
        "apply",
        "-f",
        "-",
        input=yaml.safe_dump_all(namespace_federated_to_all()),
    )
    await eventually(
        lambda: (
            cp.member_object("cluster1", "", "namespaces", None, "fed")
            and cp.member_object("cluster2", "", "namespaces", None, "fed")
        )
    )
    return cp


@pytest.fixture
async def make_plane(fresh_nats: Any, tmp_path: Path) -> AsyncIterator[MakePlane]:
    """``await make_plane(["cluster1", ...], capacity={...})`` → a configured, joined control plane."""

    def open_fleet(names: list[str], **fleet_kw: Any) -> contextlib.AbstractAsyncContextManager[Any]:
        return run_fleet(names, tls=True, kubeconfig_path=tmp_path / "kubeconfig", **fleet_kw)

    async with plane_factory(fresh_nats.url, tmp_path, open_fleet) as make:
        yield make
