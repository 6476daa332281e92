"""Fixtures of the bus tests: a nats-server with the shipped users, a simulated fleet. The planes and
helpers are in :mod:`tests.support.bus_plane`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from kubefed.natsd import NatsServer, free_port
from sim import run_fleet
from tests.support.bus_plane import auth_server


@pytest.fixture
def auth_nats() -> Iterator[NatsServer]:
    server = auth_server(http_port=free_port()).start()
    yield server
    server.close()


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[Any]:
    async with run_fleet(
        ["host", "cluster1", "cluster2"], tls=True, kubeconfig_path=tmp_path / "kubeconfig"
    ) as f:
        yield f
