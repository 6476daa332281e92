"""Bad input on every consumed subject: the services stay ready, keep working, and settle it once.

Covers: with watcher, scheduler, propagator and dns running as their least-privilege NATS users, each
subject family a service consumes (host changes for the scheduler and for dns, relists, decisions and
Secret decisions replayed by the propagator, status and health reports, member observations for the
RSP consumer and the dns replay) receives, from the user allowed to publish there: bytes that are not
JSON, JSON of no known message type, a known message with an unknown ``schema``, a message of the
wrong type for its subject, and well-formed messages naming objects, resource types and clusters that
do not exist. Afterwards no service task ended, all are ready, a new and an updated
FederatedConfigMap reach both members with status; every malformed message produced exactly one error
line (``Terminated bad message`` from a durable consumer, ``Skipped bad message`` from a replay) and
one count in ``kubefed_messages_consumed_total`` with its reason; no durable consumer holds an
unacknowledged message, and none of the bad messages was redelivered more than once (level-triggered
no-ops for objects that do not exist are acknowledged, never retried in a loop).
"""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubefed.natsd import NatsServer
from shared import subjects
from shared.bus import Bus
from shared.messages import (
    ClusterHealthReport,
    ClusterOutcome,
    HostChange,
    MemberObservation,
    ObjectKey,
    PlacementDecision,
    ResourceRelisted,
    StatusReport,
    TargetType,
    WorkloadObservation,
    encode,
)
from shared.telemetry import configure_logging, metrics
from tests.support.bus_plane import connect_as, federate, make_bus_plane, start_all
from tests.support.plane import cluster_status, eventually

pytestmark = pytest.mark.timeout(180)

SERVICES = {"watcher": "watcher", "scheduler": "scheduler", "propagator": "propagator", "dns": "dns"}
USERS = {
    "watcher": "kubefed-watcher",
    "scheduler": "kubefed-scheduler",
    "propagator": "kubefed-propagator",
    "dns": "kubefed-dns",
}
FCM = "federatedconfigmaps.types.kubefed.io"
SDR = "servicednsrecords.multiclusterdns.kubefed.io"
CM = TargetType(group="", version="v1", kind="ConfigMap", plural="configmaps", namespaced=True)
WIDGET = TargetType(group="example.com", version="v1", kind="Widget", plural="widgets", namespaced=True)


class _Tee(io.TextIOBase):
    """stderr that also keeps every line (the services log JSON lines to stderr)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.lines: list[str] = []
        self._partial = ""

    def write(self, s: str) -> int:
        text = self._partial + s
        *done, self._partial = text.split("\n")
        self.lines.extend(done)
        try:
            self.inner.write(s)
        except ValueError:
            pass
        return len(s)

    def flush(self) -> None:
        try:
            self.inner.flush()
        except ValueError:
            pass


@contextlib.contextmanager
def _stderr_lines() -> Iterator[list[str]]:
    """Inside the test body (pytest's capture replaces sys.stderr again after fixtures are set up)."""
    tee = _Tee(sys.stderr)
    sys.stderr = tee
    try:
        yield tee.lines
    finally:
        sys.stderr = tee.inner
        configure_logging()  # loggers made meanwhile must not keep the tee


def _schema(message: Any, schema: int) -> bytes:
    return encode(message).replace(b'"schema":1', f'"schema":{schema}'.encode())


def _bad(subject: Callable[[str], str], sample: Any, wrong: Any) -> list[tuple[str, bytes, str]]:
    """The four malformed variants for one subject family: (subject, payload, expected reason), each on
    its own subject (most streams keep one message per subject, so they would replace each other)."""
    return [
        (subject("bad0"), b"\x00not json at all", "undecodable"),
        (subject("bad1"), b'{"type": "no.such.message", "schema": 1}', "undecodable"),
        (subject("bad2"), _schema(sample, 99), "unknown_schema"),
        (subject("bad3"), encode(wrong), "unexpected_type"),
    ]


def _fcm(name: str, value: str) -> dict[str, Any]:
    return {
        "apiVersion": "types.kubefed.io/v1beta1",
        "kind": "FederatedConfigMap",
        "metadata": {"name": name, "namespace": "fed"},
        "spec": {"template": {"data": {"k": value}}, "placement": {"clusterSelector": {}}},
    }


def _consumed(stream: str, outcome: str) -> float:
    return float(metrics.messages_consumed.labels(stream, outcome)._value.get())


async def test_bad_messages_on_every_consumed_subject(
    auth_nats: NatsServer, fleet: Any, tmp_path: Path
) -> None:
    with _stderr_lines() as log_lines:
        await _scenario(auth_nats, fleet, tmp_path, log_lines)


async def _scenario(auth_nats: NatsServer, fleet: Any, tmp_path: Path, log_lines: list[str]) -> None:
    cp = await make_bus_plane(fleet, auth_nats.url, tmp_path, users=USERS)
    buses: dict[str, Bus] = {}
    try:
        await start_all(cp, SERVICES)
        await federate(cp)
        await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(_fcm("before", "1")))
        await eventually(
            lambda: all(
                cp.member_object(c, "", "configmaps", "fed", "before") for c in ("cluster1", "cluster2")
            ),
            timeout=30,
        )

        ghost = ObjectKey(resource=FCM, namespace="fed", name="ghost")
        widget = ObjectKey(resource="widgets.example.com", namespace="fed", name="w")
        host_change = HostChange(key=ghost, resource_version="1")
        status = StatusReport(
            cluster="ghost",
            outcomes=[ClusterOutcome(key=ghost, cluster="ghost", op="created", template_hash="x")],
        )
        health = ClusterHealthReport(cluster="ghost", reachable=True, healthy=True, ready=True)
        workload = WorkloadObservation(
            cluster="ghost", kind="Deployment", namespace="fed", name="ghost", replicas=3
        )
        observation = MemberObservation(
            cluster="ghost", kind="Service", namespace="fed", name="ghost", lb_ips=["10.0.0.1"]
        )
        decision = PlacementDecision(
            key=ObjectKey(resource=FCM, namespace="fed", name="bad"),
            target=CM,
            template={"data": {"k": "v"}},
            clusters=["ghost"],
            template_hash="h",
        )
        by_user: dict[str, list[tuple[str, bytes, str]]] = {
            "kubefed-watcher": [
                *_bad(lambda n: subjects.host_subject(FCM, "fed", n), host_change, status),
                *_bad(
                    lambda n: subjects.host_subject(SDR, "fed", n),
                    HostChange(
                        key=ObjectKey(resource=SDR, namespace="fed", name="bad"), resource_version="1"
                    ),
                    health,
                ),
                *_bad(
                    lambda n: subjects.relist_subject(f"{n}.example.com"),
                    ResourceRelisted(resource="widgets.example.com", resource_version="1", count=0),
                    host_change,
                ),
                # well-formed, naming what does not exist: an object, a resource type, a relist of it
                (subjects.host_subject(FCM, "fed", "ghost"), encode(host_change), ""),
                (
                    subjects.host_subject("widgets.example.com", "fed", "w"),
                    encode(HostChange(key=widget, resource_version="1")),
                    "",
                ),
                (
                    subjects.host_subject(SDR, "fed", "ghost"),
                    encode(
                        HostChange(
                            key=ObjectKey(resource=SDR, namespace="fed", name="ghost"), resource_version="1"
                        )
                    ),
                    "",
                ),
                (
                    subjects.relist_subject("widgets.example.com"),
                    encode(ResourceRelisted(resource="widgets.example.com", resource_version="1", count=0)),
                    "",
                ),
            ],
            "kubefed-scheduler": [
                *_bad(lambda n: subjects.desired_subject(FCM, "fed", n), decision, host_change),
                *_bad(lambda n: subjects.desired_subject("secrets", "fed", n, secret=True), decision, status),
                # a decision for a type no member serves and a cluster that does not exist
                (
                    subjects.desired_subject("widgets.example.com", "fed", "w"),
                    encode(
                        PlacementDecision(
                            key=widget,
                            target=WIDGET,
                            template={"spec": {}},
                            clusters=["ghost", "cluster1"],
                            template_hash="w",
                        )
                    ),
                    "",
                ),
            ],
            "kubefed-propagator": [
                *_bad(subjects.status_subject, status, health),
                *_bad(subjects.health_subject, health, status),
                *_bad(lambda n: subjects.member_subject("ghost", "Deployment", "fed", n), workload, health),
                *_bad(lambda n: subjects.member_subject("ghost", "Service", "fed", n), observation, status),
                (subjects.status_subject("ghost"), encode(status), ""),
                (subjects.health_subject("ghost"), encode(health), ""),
                (subjects.member_subject("ghost", "Deployment", "fed", "ghost"), encode(workload), ""),
                (subjects.member_subject("ghost", "Service", "fed", "ghost"), encode(observation), ""),
            ],
        }
        # expected counts: durable consumers and replays that see each subject
        readers = {
            subjects.HOST_PREFIX + "." + subjects.encode_token(FCM): 1,  # scheduler
            subjects.HOST_PREFIX + "." + subjects.encode_token(SDR): 2,  # scheduler, dns
            subjects.RELIST_PREFIX: 1,
            subjects.DESIRED_PREFIX: 1,  # propagator replay
            subjects.SECRET_PREFIX: 1,
            subjects.STATUS_PREFIX: 1,
            subjects.HEALTH_PREFIX: 1,
            subjects.MEMBER_PREFIX + ".ghost.Deployment": 2,  # rsp consumer, dns replay
            subjects.MEMBER_PREFIX + ".ghost.Service": 1,  # dns replay
        }
        expected: dict[tuple[str, str], float] = {}
        stream_of = {
            prefix: stream
            for stream, prefixes in subjects.STREAM_SUBJECTS.items()
            for prefix in (p[:-2] for p in prefixes)
        }
        bad_subjects: list[str] = []
        for items in by_user.values():
            for subject, _, reason in items:
                if not reason:
                    continue
                bad_subjects.append(subject)
                n = next(v for k, v in readers.items() if subject.startswith(k + "."))
                key = (stream_of[".".join(subject.split(".")[:2])], reason)
                expected[key] = expected.get(key, 0) + n
        before = {key: _consumed(*key) for key in expected}
        lines_before = len(log_lines)

        for user, items in by_user.items():
            buses[user] = await connect_as(cp.nats_url, user)
            for subject, payload, _ in items:
                await buses[user].js.publish(subject, payload)

        # positive signals first: every bad message counted, then new work flows through
        def counted() -> dict[tuple[str, str], float]:
            return {key: _consumed(*key) - before[key] for key in expected}

        try:
            await eventually(lambda: all(counted()[key] >= n for key, n in expected.items()), timeout=30)
        except AssertionError:
            raise AssertionError(f"counted {counted()}, expected {expected}") from None
        await cp.akubectl(
            "apply", "-f", "-", input=yaml.safe_dump_all([_fcm("after", "1"), _fcm("before", "2")])
        )
        await eventually(
            lambda: all(
                (cp.member_object(c, "", "configmaps", "fed", "after") or {}).get("data") == {"k": "1"}
                and (cp.member_object(c, "", "configmaps", "fed", "before") or {}).get("data") == {"k": "2"}
                for c in ("cluster1", "cluster2")
            ),
            timeout=30,
        )
        await eventually(
            lambda: (
                cluster_status(cp, "federatedconfigmaps", "fed", "after") == {"cluster1": "", "cluster2": ""}
            ),
            timeout=30,
        )
        assert cp.alive() == dict.fromkeys(SERVICES, True)
        assert all(cp.service_ready(name) for name in SERVICES)
        assert counted() == expected

        rejected = [
            line
            for line in log_lines[lines_before:]
            if "Terminated bad message" in line or "Skipped bad message" in line
        ]
        assert len(rejected) == sum(expected.values())
        assert all('"level": "error"' in line for line in rejected)

        # nothing left unacknowledged, nothing redelivered in a loop
        for stream, durable in (
            (subjects.STREAM_HOST, "scheduler"),
            (subjects.STREAM_HOST, "dns"),
            (subjects.STREAM_STATUS, "status-writer"),
            (subjects.STREAM_HEALTH, "health-writer"),
            (subjects.STREAM_MEMBER, "rsp"),
        ):
            bus = cp.contexts["dns" if durable == "dns" else "scheduler"].bus

            async def settled(bus: Bus = bus, stream: str = stream, durable: str = durable) -> bool:
                info = await bus.js.consumer_info(stream, durable)
                return info.num_ack_pending == 0 and info.num_pending == 0

            await eventually(settled, timeout=30)
            info = await bus.js.consumer_info(stream, durable)
            assert (info.num_redelivered or 0) <= 1, (durable, info)
    finally:
        for bus in buses.values():
            await bus.close()
        await cp.stop_all()
