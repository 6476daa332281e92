"""Fixtures for the simulator tests: a fresh fleet per test (plain HTTP unless asked), kubectl and
kubernetes-asyncio clients bound to its kubeconfig."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

# The editable install may predate sim/__init__.py (then `sim` resolves as a namespace package
# outside the repository root): make the checkout win.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sim import Fleet, run_fleet
from sim.testing import Kubectl, new_api_client


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[Fleet]:
    async with run_fleet(
        ["host", "c1", "c2"],
        tls=False,
        kubeconfig_path=tmp_path / "kubeconfig",
        capacity={"c1": 10},
        pod_ready_delay=0.02,
    ) as f:
        yield f


@pytest.fixture
async def tls_fleet(tmp_path: Path) -> AsyncIterator[Fleet]:
    async with run_fleet(
        ["host", "c1"], tls=True, kubeconfig_path=tmp_path / "kubeconfig", pod_ready_delay=0.02
    ) as f:
        yield f


@pytest.fixture
def kubectl(tls_fleet: Fleet, tmp_path: Path) -> Kubectl:
    """kubectl against the TLS fleet's ``c1`` context, with a private discovery cache."""
    return Kubectl(tls_fleet.kubeconfig_path, tmp_path / "kubectl-cache", context="c1")


@pytest.fixture
async def api(fleet: Fleet) -> AsyncIterator[Any]:
    """kubernetes-asyncio ApiClient for ``c1`` built from the generated kubeconfig."""
    client = await new_api_client(fleet.kubeconfig_path, "c1")
    try:
        yield client
    finally:
        await client.close()
