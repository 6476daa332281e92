"""A region behind a leaf node: what keeps working when its link to the hub is cut.

Covers (docs/deploy.md, "Regions behind leaf nodes"): the hub nats-server (JetStream domain ``hub``)
runs watcher and scheduler; the region's nats-server is a leaf node of it (domain ``eu``) reached
through a TCP proxy that the test cuts and restores; the region's propagator connects only to the
leaf. With the link up, a FederatedConfigMap reaches both members and its host status is OK
(decisions mirrored into the region, reports sourced into the hub). With the link cut:

- the propagator keeps the desired state it holds and corrects member drift (an edited object is
  rewritten, a deleted one re-created), also after a restart during the cut (it replays the regional
  mirror);
- its status reports are stored in the region (the regional stream grows, the hub's does not);
- a change on the host meanwhile does not reach the members (by design).

When the link returns, the reports of the cut reach the hub's stream, the change made during the cut
reaches both members, and host status of every object and both KubeFedClusters converge within
seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubefed.natsd import NatsServer, free_port
from shared import subjects
from shared.bus import Bus, BusSettings
from tests.support.bus_plane import BusPlane, make_bus_plane, start_all
from tests.support.plane import cluster_status, eventually, propagation_reason, ready

pytestmark = pytest.mark.timeout(240)

MEMBERS = ("cluster1", "cluster2")
REPORTS = ("kubefed.status.>", "kubefed.health.>", "kubefed.member.>")


class LinkProxy:
    """A TCP proxy for the leaf node's connection to the hub; ``cut`` drops it and refuses new ones."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.open = True
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> LinkProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.open:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        if not self.open:  # cut while connecting
            writer.close()
            up_writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}

    def cut(self) -> None:
        self.open = False
        for w in list(self._writers):
            w.close()

    def restore(self) -> None:
        self.open = True

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()


@pytest.fixture
def hub() -> Iterator[NatsServer]:
    leaf_port = free_port()
    server = NatsServer(
        server_name="hub",
        http_port=free_port(),
        config=f"jetstream {{ domain: hub }}\nleafnodes "
        f"{{ listen: 127.0.0.1:{leaf_port}, no_advertise: true }}\n",
    )
    server.leaf_port = leaf_port  # type: ignore[attr-defined]
    server.start()
    yield server
    server.close()


@pytest.fixture
async def link(hub: NatsServer) -> AsyncIterator[LinkProxy]:
    proxy = await LinkProxy(hub.leaf_port).start()  # type: ignore[attr-defined]
    yield proxy
    await proxy.close()


@pytest.fixture
def region(link: LinkProxy) -> Iterator[NatsServer]:
    """The region's nats-server: a leaf node of the hub with JetStream domain ``eu`` (deploy/ ships the
    same remote settings in the region overlay's leaf config)."""
    deny = ", ".join(f'"{s}"' for s in REPORTS)
    server = NatsServer(
        server_name="eu",
        config=(
            "jetstream { domain: eu }\n"
            f'leafnodes {{ reconnect: "1s", remotes: [ {{ url: "nats-leaf://127.0.0.1:{link.port}", '
            f"deny_exports: [{deny}], deny_imports: [{deny}] }} ] }}\n"
        ),
    )
    server.start()
    yield server
    server.close()


def _fcm(name: str, value: str) -> dict[str, Any]:
    return {
        "apiVersion": "types.kubefed.io/v1beta1",
        "kind": "FederatedConfigMap",
        "metadata": {"name": name, "namespace": "fed"},
        "spec": {"template": {"data": {"k": value}}, "placement": {"clusterSelector": {}}},
    }


def _leaf_connected(hub: NatsServer) -> bool:
    try:
        return bool(hub.monitor("/leafz").get("leafnodes"))
    except OSError:
        return False


async def _last_seq(bus: Bus, stream: str) -> int:
    return int((await bus.js.stream_info(stream)).state.last_seq)


def _member_data(cp: BusPlane, cluster: str, name: str) -> Any:
    return (cp.member_object(cluster, "", "configmaps", "fed", name) or {}).get("data")


async def test_region_keeps_working_while_cut_off(
    hub: NatsServer, link: LinkProxy, region: NatsServer, fleet: Any, tmp_path: Path
) -> None:
    await eventually(lambda: _leaf_connected(hub), timeout=15)
    cp = await make_bus_plane(
        fleet,
        hub.url,
        tmp_path,
        bus_extra={"regions": ("eu",)},
        per_service={"propagator": {"url": region.url, "hub_domain": "hub", "regions": ()}},
    )
    hub_bus = await Bus.connect(BusSettings(url=hub.url, name="test-hub"))
    region_bus = await Bus.connect(BusSettings(url=region.url, name="test-eu"))
    try:
        await start_all(
            cp, {"watcher": "watcher", "scheduler": "scheduler", "propagator": "propagator"}, timeout=60
        )
        await cp.akubectl(
            "apply",
            "-f",
            "-",
            input=yaml.safe_dump_all(
                [
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "fed"}},
                    {
                        "apiVersion": "types.kubefed.io/v1beta1",
                        "kind": "FederatedNamespace",
                        "metadata": {"name": "fed", "namespace": "fed"},
                        "spec": {"placement": {"clusterSelector": {}}},
                    },
                ]
            ),
        )
        await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(_fcm("a", "1")))
        await eventually(lambda: all(_member_data(cp, c, "a") == {"k": "1"} for c in MEMBERS), timeout=30)
        await eventually(
            lambda: cluster_status(cp, "federatedconfigmaps", "fed", "a") == dict.fromkeys(MEMBERS, ""),
            timeout=30,
        )

        # -- cut the region off ------------------------------------------------------------------
        link.cut()
        await eventually(lambda: not _leaf_connected(hub), timeout=15)
        hub_status_before = await _last_seq(hub_bus, subjects.STREAM_STATUS)
        region_status_before = await _last_seq(region_bus, subjects.STREAM_STATUS)

        # drift is corrected from the decisions the region holds
        await cp.akubectl(
            "patch",
            "configmap",
            "a",
            "-n",
            "fed",
            "--type=merge",
            "-p",
            '{"data": {"k": "drifted"}}',
            context="cluster1",
        )
        await eventually(lambda: _member_data(cp, "cluster1", "a") == {"k": "1"}, timeout=30)
        # reports of the cut wait in the region
        await eventually(lambda: _gt(region_bus, subjects.STREAM_STATUS, region_status_before), timeout=30)
        # a host change does not reach the region while it is cut off
        await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(_fcm("b", "1")))
        # a restarted propagator replays the regional mirror and keeps correcting drift
        await cp.stop("propagator")
        cp.start("propagator", "propagator")
        await eventually(lambda: cp.service_ready("propagator"), timeout=30)
        await cp.akubectl("delete", "configmap", "a", "-n", "fed", context="cluster2")
        await eventually(lambda: _member_data(cp, "cluster2", "a") == {"k": "1"}, timeout=30)
        region_status_cut = await _last_seq(region_bus, subjects.STREAM_STATUS)
        assert not _leaf_connected(hub)
        assert await _last_seq(hub_bus, subjects.STREAM_STATUS) == hub_status_before
        assert not any(_member_data(cp, c, "b") for c in MEMBERS)

        # -- the link returns ----------------------------------------------------------------------
        link.restore()
        restored = time.monotonic()
        await eventually(lambda: _leaf_connected(hub), timeout=15)
        await eventually(
            lambda: _gt(
                hub_bus,
                subjects.STREAM_STATUS,
                hub_status_before + (region_status_cut - region_status_before) - 1,
            ),
            timeout=20,
        )
        await eventually(lambda: all(_member_data(cp, c, "b") == {"k": "1"} for c in MEMBERS), timeout=20)
        await eventually(
            lambda: all(
                cluster_status(cp, "federatedconfigmaps", "fed", n) == dict.fromkeys(MEMBERS, "")
                and propagation_reason(cp, "federatedconfigmaps", "fed", n) == ""
                for n in ("a", "b")
            ),
            timeout=20,
        )
        await eventually(lambda: all(ready(cp, c) for c in MEMBERS), timeout=20)
        converged = time.monotonic() - restored
        assert converged < 20, converged
        assert cp.alive() == {"watcher": True, "scheduler": True, "propagator": True}
    finally:
        await hub_bus.close()
        await region_bus.close()
        await cp.stop_all()


async def _gt(bus: Bus, stream: str, value: int) -> bool:
    return await _last_seq(bus, stream) > value
