"""Shared fixtures: a real nats-server per session, and helpers to connect to it.

``KUBEFED_TEST_NATS=container`` starts NATS through testcontainers instead (needs a Docker engine);
the default never needs Docker.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest

from kubefed.natsd import NatsServer
from shared.bus import Bus, BusSettings


class _ContainerNats:
    """The same surface as NatsServer, backed by testcontainers (optional)."""

    def __init__(self) -> None:
        from testcontainers.nats import NatsContainer  # type: ignore[import-not-found]

        self._c = NatsContainer(image="nats:2.11", jetstream=True).start()
        self.url = self._c.nats_uri()

    def restart(self) -> None:
        raise pytest.skip("restart is not supported with the container fixture")

    def close(self) -> None:
        self._c.stop()


@pytest.fixture(scope="session")
def nats_server() -> Iterator[NatsServer]:
    """A nats-server with JetStream on a free loopback port, store in a temporary folder."""
    if os.environ.get("KUBEFED_TEST_NATS") == "container":
        server = _ContainerNats()
        yield server  # type: ignore[misc]
        server.close()
        return
    server = NatsServer().start()
    yield server
    server.close()


@pytest.fixture
def fresh_nats() -> Iterator[NatsServer]:
    """A private nats-server for tests that stop, kill or restart it."""
    server = NatsServer().start()
    yield server
    server.close()


@pytest.fixture
async def bus(nats_server: NatsServer) -> AsyncIterator[Bus]:
    b = await Bus.connect(BusSettings(url=nats_server.url, name="test"))
    yield b
    await b.close()
