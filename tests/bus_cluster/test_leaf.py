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

The hub runs the shipped users (``components/nats-leafnodes/auth.conf`` with ``nats-auth``'s
``permissions.conf``): the services log in as theirs, the leaf node as ``kubefed-region``. What that
user lets through is the regional design and nothing else: the mirrors and sources work, while a
client of the region cannot store host changes, decisions or Secrets in the hub's streams, call any
other JetStream API of the hub (message get, direct get, purge, stream or consumer creation), or
receive the hub's own traffic (core subjects, inboxes); and ``kubefed-region`` cannot log in as a
client.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import nats.errors
import pytest
import yaml

from kubefed.natsd import NatsServer, free_port
from shared import subjects
from shared.bus import Bus, BusSettings, Publisher
from shared.bus._permissions import LEAF_USER
from shared.messages import ClusterOutcome, HostChange, ObjectKey, StatusReport
from tests.support.bus_plane import (
    AUTH_DIR,
    BusPlane,
    make_bus_plane,
    password,
    password_env,
    start_all,
    user_settings,
)
from tests.support.objects import namespace_federated_to_all
from tests.support.plane import ROOT, cluster_status, eventually, propagation_reason, ready

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


LEAF_AUTH = ROOT / "deploy" / "kustomize" / "components" / "nats-leafnodes" / "auth.conf"
HUB_USERS = {"watcher": "kubefed-watcher", "scheduler": "kubefed-scheduler"}


@pytest.fixture
def hub() -> Iterator[NatsServer]:
    """The hub with the shipped users; leaf nodes log in as ``kubefed-region`` (no leafnodes
    authorization block, as ``components/nats-leafnodes``)."""
    leaf_port = free_port()
    server = NatsServer(
        server_name="hub",
        http_port=free_port(),
        config=(
            "include auth.conf\njetstream { domain: hub }\n"
            f"leafnodes {{ listen: 127.0.0.1:{leaf_port}, no_advertise: true }}\n"
        ),
        env={**password_env(), "KUBEFED_NATS_LEAF_PASSWORD": password(LEAF_USER)},
    )
    shutil.copy(LEAF_AUTH, Path(server.store_dir) / "auth.conf")
    shutil.copy(LEAF_AUTH.parent / "leaf-permissions.conf", Path(server.store_dir) / "leaf-permissions.conf")
    shutil.copy(AUTH_DIR / "permissions.conf", Path(server.store_dir) / "permissions.conf")
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
            f'leafnodes {{ reconnect: "1s", remotes: [ {{ url: '
            f'"nats-leaf://{LEAF_USER}:{password(LEAF_USER)}@127.0.0.1:{link.port}", '
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
        users=HUB_USERS,
        bus_extra={"regions": ("eu",)},
        per_service={"propagator": {"url": region.url, "hub_domain": "hub", "regions": ()}},
    )
    hub_bus = await Bus.connect(user_settings(hub.url, "kubefed-scheduler", name="test-hub"))
    region_bus = await Bus.connect(BusSettings(url=region.url, name="test-eu"))
    try:
        await start_all(
            cp, {"watcher": "watcher", "scheduler": "scheduler", "propagator": "propagator"}, timeout=60
        )
        await cp.akubectl(
            "apply",
            "-f",
            "-",
            input=yaml.safe_dump_all(namespace_federated_to_all()),
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


async def _messages(bus: Bus, stream: str) -> int:
    return int((await bus.js.stream_info(stream)).state.messages)


async def test_a_region_reaches_only_its_mirrors_and_sources(
    hub: NatsServer, link: LinkProxy, region: NatsServer
) -> None:
    await eventually(lambda: _leaf_connected(hub), timeout=15)
    hub_bus = await Bus.connect(user_settings(hub.url, "kubefed-scheduler", name="test-hub", regions=("eu",)))
    region_bus = await Bus.connect(BusSettings(url=region.url, name="test-eu", hub_domain="hub"))
    key = ObjectKey(resource="federatedconfigmaps.types.kubefed.io", namespace="fed", name="a")
    seen: list[str] = []

    async def record(msg: Any) -> None:
        seen.append(msg.subject)

    try:
        await hub_bus.ensure_topology()
        await region_bus.ensure_topology()
        hub_pub, region_pub = Publisher(hub_bus), Publisher(region_bus)

        # what the design needs flows: decisions and Secrets into the region's mirrors, reports to the hub
        await hub_pub.publish(
            "kubefed.desired.fcm.fed.a", HostChange(key=key), stream=subjects.STREAM_DESIRED
        )
        await hub_pub.publish("kubefed.secret.s.fed.a", HostChange(key=key), stream=subjects.STREAM_SECRETS)
        await region_pub.publish(
            subjects.status_subject("cluster1"),
            StatusReport(cluster="cluster1", outcomes=[ClusterOutcome(key=key, cluster="cluster1")]),
            stream=subjects.STREAM_STATUS,
        )

        async def flowed() -> bool:
            return (
                await _messages(region_bus, subjects.STREAM_DESIRED) == 1
                and await _messages(region_bus, subjects.STREAM_SECRETS) == 1
                and await _messages(hub_bus, subjects.STREAM_STATUS) == 1
            )

        await eventually(flowed, timeout=20)

        # a region's client cannot store anything in the hub's other streams
        nc = region_bus.nc
        for subject in (
            "kubefed.host.fcm.fed.evil",
            "kubefed.desired.fcm.fed.evil",
            "kubefed.secret.s.fed.evil",
        ):
            await nc.publish(subject, b"{}")
        await nc.flush()
        # sentinel on the same link, after them: a report reaches the hub's stream
        await region_pub.publish(
            subjects.status_subject("cluster1"),
            StatusReport(cluster="cluster1", outcomes=[ClusterOutcome(key=key, cluster="cluster1")]),
            stream=subjects.STREAM_STATUS,
        )
        await eventually(lambda: _gt(hub_bus, subjects.STREAM_STATUS, 1), timeout=20)
        assert await _messages(hub_bus, subjects.STREAM_HOST) == 0
        assert await _messages(hub_bus, subjects.STREAM_DESIRED) == 1
        assert await _messages(hub_bus, subjects.STREAM_SECRETS) == 1

        # nor call the hub's JetStream API beyond its mirrors' consumers: nothing on the hub answers
        for subject, body in (
            ("$JS.hub.API.STREAM.MSG.GET.KUBEFED_SECRETS", b'{"last_by_subj": "kubefed.secret.s.fed.a"}'),
            ("$JS.hub.API.DIRECT.GET.KUBEFED_SECRETS.kubefed.secret.s.fed.a", b""),
            ("$JS.hub.API.STREAM.INFO.KUBEFED_SECRETS", b""),
            ("$JS.hub.API.STREAM.PURGE.KUBEFED_DESIRED", b""),
            ("$JS.hub.API.STREAM.CREATE.KUBEFED_EVIL", b'{"name": "KUBEFED_EVIL", "subjects": ["evil.>"]}'),
            (
                "$JS.hub.API.CONSUMER.CREATE.KUBEFED_HOST",
                b'{"stream_name": "KUBEFED_HOST", "config": {"ack_policy": "none"}}',
            ),
            ("$KV.kubefed-leases.kubefed-watcher", b"evil"),
        ):
            with pytest.raises(nats.errors.NoRespondersError):
                await nc.request(subject, body, timeout=5)
        assert await _messages(hub_bus, subjects.STREAM_DESIRED) == 1

        # nor receive the hub's own traffic: core messages, a hub service's inbox, its JetStream requests
        spy = await nats.connect(region.url, name="spy")
        for subject in (
            "kubefed.>",
            "_INBOX.kubefed-watcher.>",
            "$JS.API.STREAM.INFO.KUBEFED_HOST",
            "$JS.API.DIRECT.GET.>",
        ):
            await spy.subscribe(subject, cb=record)
        await spy.flush()
        await asyncio.sleep(0.5)  # the region's interest reaches the hub (where it is refused)
        watcher = await Bus.connect(user_settings(hub.url, "kubefed-watcher", name="test-watcher"))
        await watcher.nc.publish("kubefed.host.fcm.fed.b", b"{}")
        await watcher.js.stream_info(subjects.STREAM_HOST)  # a request: an inbox reply on the hub
        await watcher.kv_get(subjects.BUCKET_CHECKPOINTS, "x")
        await watcher.close()
        # sentinel on the same link, after them: a new decision reaches the region's mirror
        await hub_pub.publish(
            "kubefed.desired.fcm.fed.c", HostChange(key=key), stream=subjects.STREAM_DESIRED
        )
        await eventually(lambda: _gt(region_bus, subjects.STREAM_DESIRED, 1), timeout=20)
        assert seen == []
        await spy.close()

        # and the leaf node's user is no client's
        with pytest.raises(nats.errors.Error):
            await nats.connect(
                hub.url,
                user=LEAF_USER,
                password=password(LEAF_USER),
                allow_reconnect=False,
                connect_timeout=5,
            )
    finally:
        await hub_bus.close()
        await region_bus.close()
