"""Shared fixtures: a real nats-server per session, and helpers to connect to it; the test tiers.

``KUBEFED_TEST_NATS=container`` starts NATS through testcontainers instead (needs a Docker engine);
the default never needs Docker.

Tiers (markers, docs/architecture.md "Test tiers"): a test is ``e2e`` when it runs a control plane or other
programs end to end: it uses a plane fixture (:data:`E2E_FIXTURES`, directly or through another
fixture), carries a shipping-tier marker (:data:`E2E_MARKERS`), or is marked ``e2e`` by hand. Every
other test is the fast inner loop, ``make unit`` (``-m "not real and not e2e"``: pure and
single-process tests); ``make e2e`` runs ``-m "e2e and not real"``; ``real`` stays its own tier.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest

from kubefed.natsd import NatsServer
from shared.bus import Bus, BusSettings

# fixtures that bring up a control plane, a fleet of programs or a cluster of nats-servers
E2E_FIXTURES = frozenset(
    {
        "control_plane",  # tests/support/fixtures.py: simulated fleet + NATS + services in-process
        "running",
        "make_plane",
        "policy_plane",  # tests/native: make_plane with member1..3 and the services running
        "procs",  # tests/pipeline/test_faults.py: the services as processes
        "auth_nats",  # tests/bus_cluster: nats-server with the shipped users, planes on it
        "secret_on_bus",
        "nats_cluster",  # tests/bus_cluster/test_cluster.py: three nats-servers
        "hub",  # tests/bus_cluster/test_leaf.py: hub and leaf nats-servers
        "real_fleet",
        "fresh_nats",  # a private nats-server a test stops, kills or restarts
        "two_buses",  # tests/foundation/test_leases.py: lease timings measured in seconds on NATS
    }
)
# the real kubectl binary, the shipping tiers and long tests: each also runs in `make e2e`
E2E_MARKERS = frozenset(
    {"kubectl", "container", "helm", "prometheus", "jaeger", "release", "cluster", "slow", "real"}
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # no tryfirst: the folder conftests' hooks (registered later, so called earlier) have added their
    # tier markers by now, and pytest's own -m selection (registered first) runs after this
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        markers = {m.name for m in item.iter_markers()}
        if names & E2E_FIXTURES or markers & E2E_MARKERS:
            item.add_marker(pytest.mark.e2e)


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
