"""The control plane on a clustered JetStream (three nats-servers, streams and buckets at 3 replicas)
under NATS faults, with a burst of changes in flight.

Covers, each with watcher, scheduler and propagator connected to all three servers and 24
FederatedConfigMaps being created and then updated while the fault happens:

- kill -9 of the JetStream meta leader;
- kill -9 of the leader of every stream and KV bucket in turn (each server restarted before the next);
- SIGSTOP of one server for longer than the route timeout, then SIGCONT;
- a rolling restart of all three servers in lame-duck mode.

After each: every member object equals the decision for it and the host template (nothing missing),
the members received exactly one write per object per change (no change was written twice), every
object's host status is OK in both clusters with Propagation True, both KubeFedClusters are Ready, and
every service is still running and ready.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubefed.natsd import NatsCluster
from shared import subjects
from shared.bus import Bus
from shared.messages import PlacementDecision, decode
from tests.support.bus_plane import BusPlane, federate, make_bus_plane, start_all
from tests.support.plane import cluster_status, eventually, propagation_reason, ready

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(420)]

SERVICES = {"watcher": "watcher", "scheduler": "scheduler", "propagator": "propagator"}
MEMBERS = ("cluster1", "cluster2")
FCM = "federatedconfigmaps.types.kubefed.io"
COUNT = 24
# servers ping routes and clients every second and drop them after 3 missed pongs: the route timeout
# the SIGSTOP test outlasts
CLUSTER_CONFIG = 'ping_interval: "1s"\nping_max: 3\n'


@pytest.fixture
def nats_cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    cluster = NatsCluster(3, config=CLUSTER_CONFIG).start()
    yield cluster
    cluster.close()


def _fcm(name: str, value: str) -> dict[str, Any]:
    return {
        "apiVersion": "types.kubefed.io/v1beta1",
        "kind": "FederatedConfigMap",
        "metadata": {"name": name, "namespace": "fed"},
        "spec": {"template": {"data": {"k": value}}, "placement": {"clusterSelector": {}}},
    }


class Scenario:
    """The plane plus what was asked of it: the expected data per object and the member write count."""

    def __init__(self, cp: BusPlane, cluster: NatsCluster) -> None:
        self.cp = cp
        self.cluster = cluster
        self.expected: dict[str, str] = {}
        self.changes = 0
        self.markers = 0
        self.writes_before = {m: cp.fleet[m].write_count for m in MEMBERS}

    async def burst(self, value: str) -> None:
        """Create or update every object (one kubectl apply, so the changes are in flight together)."""
        names = [f"cm-{i:02d}" for i in range(COUNT)]
        await self.cp.akubectl("apply", "-f", "-", input=yaml.safe_dump_all([_fcm(n, value) for n in names]))
        for n in names:
            if self.expected.get(n) != value:
                self.changes += 1
            self.expected[n] = value

    async def _marker(self) -> None:
        """Create one more object (counted as a change) and wait until every member has it."""
        name = f"marker-{self.markers:02d}"
        self.markers += 1
        await self.cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(_fcm(name, "marker")))
        self.expected[name] = "marker"
        self.changes += 1
        await eventually(self.members_match, timeout=90)

    def members_match(self) -> bool:
        return all(
            (self.cp.member_object(m, "", "configmaps", "fed", n) or {}).get("data") == {"k": v}
            for m in MEMBERS
            for n, v in self.expected.items()
        )

    def statuses_ok(self) -> bool:
        return all(
            cluster_status(self.cp, "federatedconfigmaps", "fed", n) == dict.fromkeys(MEMBERS, "")
            and propagation_reason(self.cp, "federatedconfigmaps", "fed", n) == ""
            for n in self.expected
        )

    async def diagnose(self) -> str:
        """Where the pipeline stands: streams, consumers, members (for a failure message)."""
        bus = self.cp.contexts["scheduler"].bus
        out = []
        for stream in subjects.ALL_STREAMS:
            try:
                info = await bus.js.stream_info(stream)
                out.append(
                    f"{stream}: msgs={info.state.messages} last={info.state.last_seq} "
                    f"leader={info.cluster.leader if info.cluster else ''}"
                )
            except Exception as exc:
                out.append(f"{stream}: {exc!r}")
        for stream, durable in (
            (subjects.STREAM_HOST, "scheduler"),
            (subjects.STREAM_STATUS, "status-writer"),
        ):
            try:
                c = await bus.js.consumer_info(stream, durable)
                out.append(
                    f"{durable}: pending={c.num_pending} ack_pending={c.num_ack_pending} "
                    f"redelivered={c.num_redelivered} delivered={c.delivered} "
                    f"leader={c.cluster.leader if c.cluster else ''}"
                )
            except Exception as exc:
                out.append(f"{durable}: {exc!r}")
        missing = [
            (m, n)
            for m in MEMBERS
            for n, v in self.expected.items()
            if (self.cp.member_object(m, "", "configmaps", "fed", n) or {}).get("data") != {"k": v}
        ]
        out.append(f"members not matching: {len(missing)} {missing[:6]}")
        out.append(f"alive: {self.cp.alive()} ready: {[n for n in SERVICES if self.cp.service_ready(n)]}")
        return "\n".join(out)

    async def verify(self) -> None:
        try:
            await self._verify()
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{await self.diagnose()}") from None

    async def _verify(self) -> None:
        cp = self.cp
        await eventually(self.members_match, timeout=90)
        await eventually(self.statuses_ok, timeout=60)
        await eventually(lambda: all(ready(cp, m) for m in MEMBERS), timeout=60)
        await eventually(lambda: all(cp.service_ready(n) for n in SERVICES), timeout=60)
        # each member object equals its decision on the bus and the host's template
        bus = cp.contexts["scheduler"].bus
        for name, value in self.expected.items():
            last = await bus.get_last(subjects.STREAM_DESIRED, subjects.desired_subject(FCM, "fed", name))
            assert last is not None, name
            decision = decode(last[0])
            assert isinstance(decision, PlacementDecision)
            assert decision.template.get("data") == {"k": value} and sorted(decision.clusters) == list(
                MEMBERS
            ), name
            host = cp.host_object("types.kubefed.io", "federatedconfigmaps", "fed", name) or {}
            assert host["spec"]["template"]["data"] == {"k": value}
        # no change written twice: a marker changed now reaches every member after anything published
        # before it, so a late duplicate of an earlier change would be counted by then
        await self._marker()
        writes = {m: cp.fleet[m].write_count - self.writes_before[m] for m in MEMBERS}
        assert writes == dict.fromkeys(MEMBERS, self.changes)
        assert self.members_match()
        assert cp.alive() == dict.fromkeys(SERVICES, True)


async def _scenario(nats_cluster: NatsCluster, fleet: Any, tmp_path: Path) -> Scenario:
    cp = await make_bus_plane(fleet, nats_cluster.url, tmp_path, bus_extra={"stream_replicas": 3})
    try:
        await start_all(cp, SERVICES, timeout=60)
    except AssertionError as exc:
        checks = {n: ctx.readiness.results() for n, ctx in cp.contexts.items()}
        failed = {
            n: repr(t.exception())
            for n, t in cp.tasks.items()
            if t.done() and not t.cancelled() and t.exception()
        }
        await cp.stop_all()
        raise AssertionError(
            f"{exc}; alive {cp.alive()}, failed {failed}, readiness {checks}, "
            f"members ready {[ready(cp, m) for m in MEMBERS]}"
        ) from None
    await federate(cp)
    return Scenario(cp, nats_cluster)


async def _leader(bus: Bus, stream: str) -> str:
    info = await bus.js.stream_info(stream)
    assert info.cluster is not None and info.config.num_replicas == 3, stream
    return str(info.cluster.leader)


async def _healthy(cluster: NatsCluster) -> None:
    await asyncio.to_thread(cluster.wait_ready, 90.0)


async def test_meta_leader_killed_mid_burst(nats_cluster: NatsCluster, fleet: Any, tmp_path: Path) -> None:
    s = await _scenario(nats_cluster, fleet, tmp_path)
    try:
        leader = nats_cluster.meta_leader()
        await s.burst("1")
        nats_cluster[leader].kill()
        await eventually(lambda: nats_cluster.meta_leader() not in ("", leader), timeout=30)
        await s.verify()
        nats_cluster[leader].start()
        await _healthy(nats_cluster)
        await s.burst("2")
        await s.verify()
    finally:
        await s.cp.stop_all()


async def test_every_stream_leader_killed_in_turn(
    nats_cluster: NatsCluster, fleet: Any, tmp_path: Path
) -> None:
    s = await _scenario(nats_cluster, fleet, tmp_path)
    bus = s.cp.contexts["scheduler"].bus
    streams = [*subjects.ALL_STREAMS, f"KV_{subjects.BUCKET_LEASES}", f"KV_{subjects.BUCKET_CHECKPOINTS}"]
    try:
        for round_, stream in enumerate(streams):
            leader = await _leader(bus, stream)
            await s.burst(f"r{round_}")
            nats_cluster[leader].kill()
            await eventually(
                lambda stream=stream, leader=leader: _other_leader(bus, stream, leader), timeout=30
            )
            await s.verify()
            nats_cluster[leader].start()
            await _healthy(nats_cluster)
    finally:
        await s.cp.stop_all()


async def _other_leader(bus: Bus, stream: str, old: str) -> bool:
    try:
        return await _leader(bus, stream) not in ("", old)
    except Exception:
        return False


async def test_server_frozen_longer_than_the_route_timeout(
    nats_cluster: NatsCluster, fleet: Any, tmp_path: Path
) -> None:
    s = await _scenario(nats_cluster, fleet, tmp_path)
    victim = nats_cluster.meta_leader()  # the worst one to lose
    try:
        await s.burst("1")
        nats_cluster[victim].pause()
        # the others notice (3 missed 1 s pings): a new meta leader while the victim is frozen, and the
        # clients that were on it move to the others; the burst converges without it
        await eventually(lambda: nats_cluster.meta_leader() not in ("", victim), timeout=30)
        await s.verify()
        nats_cluster[victim].resume()
        await _healthy(nats_cluster)
        await s.burst("2")
        await s.verify()
    finally:
        nats_cluster[victim].resume()
        await s.cp.stop_all()


async def test_rolling_restart_in_lame_duck_mode(
    nats_cluster: NatsCluster, fleet: Any, tmp_path: Path
) -> None:
    s = await _scenario(nats_cluster, fleet, tmp_path)
    try:
        for round_, server in enumerate(nats_cluster.servers):
            await s.burst(f"r{round_}")
            await asyncio.to_thread(server.lame_duck)
            await s.verify()
            server.start()
            await _healthy(nats_cluster)
    finally:
        await s.cp.stop_all()
