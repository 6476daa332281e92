"""A control plane for end-to-end tests: a simulated or real host + members, real NATS, the services
in-process, and the helpers the suites poll it with.

The KubeFed CRDs and default FederatedTypeConfigs come from ``deploy/`` and are applied with kubectl;
members are registered the way ``kubefedctl join`` leaves them (KubeFedCluster + token Secret).
:func:`plane_factory` builds any number of planes over any fleet (``make_plane``); the fixtures that use
all this are in :mod:`tests.support.fixtures`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from services.dns import DNSSettings, Resolver, run_dns
from services.propagator import PropagatorSettings, run_propagator
from services.scheduler import SchedulerSettings, run_scheduler
from services.watcher import WatcherSettings, run_watcher
from shared import subjects
from shared.bus import Bus, BusSettings
from shared.messages import ClusterOutcome, StatusReport, decode
from shared.runtime import CommonSettings
from sim import Fleet
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
KUBECTL = str(Path(sys.executable).parent / "kubectl")
NS = "kube-federation-system"


@dataclass
class ControlPlane:
    fleet: Fleet
    nats_url: str
    tmp: Path
    stops: dict[str, asyncio.Event] = field(default_factory=dict)
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    def kubectl(self, *args: str, context: str = "host", input: str | None = None, check: bool = True) -> str:
        cmd = [
            KUBECTL,
            "--kubeconfig",
            str(self.fleet.kubeconfig_path),
            "--context",
            context,
            "--cache-dir",
            str(self.tmp / "kcache"),
            *args,
        ]
        r = subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {r.stderr}")
        return r.stdout

    async def akubectl(self, *args: str, context: str = "host", input: str | None = None) -> str:
        return await asyncio.to_thread(self.kubectl, *args, context=context, input=input)

    def common(self, name: str) -> CommonSettings:
        return CommonSettings(
            bus=BusSettings(url=self.nats_url),
            kubeconfig=str(self.fleet.kubeconfig_path),
            context="host",
            http_port=0,
            grace_period=5.0,
            identity=name,
        )

    def start(self, name: str, kind: str, **extra: Any) -> None:
        stop = asyncio.Event()
        common = self.common(name)
        if kind == "watcher":
            coro = run_watcher(
                WatcherSettings(common=common, checkpoint_interval=0.2), stop=stop, install_signals=False
            )
        elif kind == "scheduler":
            coro = run_scheduler(SchedulerSettings(common=common, **extra), stop=stop, install_signals=False)
        else:
            coro = run_propagator(
                PropagatorSettings(common=common, refresh_period=1.0, **extra),
                stop=stop,
                install_signals=False,
            )
        self.stops[name] = stop
        self.tasks[name] = asyncio.create_task(coro, name=name)

    async def stop(self, name: str) -> None:
        self.stops.pop(name).set()
        await asyncio.wait_for(self.tasks.pop(name), 30)

    async def stop_all(self) -> None:
        for name in list(self.tasks):
            await self.stop(name)

    async def install_kubefed_api(
        self, spec: dict[str, Any], feature_gates: dict[str, str] | None = None
    ) -> None:
        """deploy/crds and deploy/config applied with kubectl, then ``spec`` merged into the KubeFedConfig
        (``feature_gates`` changes only the gates it names)."""
        await self.akubectl("apply", "-f", str(ROOT / "deploy" / "crds"))
        await asyncio.sleep(0.3)  # CRDs become Established asynchronously
        await self.akubectl("apply", "-f", str(ROOT / "deploy" / "config"))
        spec = dict(spec)
        if feature_gates:
            config = self.host_object("core.kubefed.io", "kubefedconfigs", NS, "kubefed") or {}
            gates = {
                g["name"]: g["configuration"] for g in (config.get("spec") or {}).get("featureGates") or []
            }
            gates.update(feature_gates)
            spec["featureGates"] = [{"name": k, "configuration": v} for k, v in sorted(gates.items())]
        await self.akubectl(
            "patch", "kubefedconfig", "kubefed", "-n", NS, "--type=merge", "-p", json.dumps({"spec": spec})
        )

    async def join(self, cluster: str, labels: dict[str, str] | None = None) -> None:
        member = self.fleet[cluster]
        token = base64.b64encode(member.admin_token.encode()).decode()
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"{cluster}-token", "namespace": NS},
            "data": {"token": token},
        }
        kfc = {
            "apiVersion": "core.kubefed.io/v1beta1",
            "kind": "KubeFedCluster",
            "metadata": {"name": cluster, "namespace": NS, "labels": labels or {}},
            "spec": {
                "apiEndpoint": member.url,
                "secretRef": {"name": f"{cluster}-token"},
                "caBundle": base64.b64encode(member.ca_pem or b"").decode(),
            },
        }
        await self.akubectl("apply", "-f", "-", input=yaml.safe_dump_all([secret, kfc]))

    async def start_federation(self, labels: dict[str, dict[str, str]] | None = None) -> None:
        """Join cluster1 and cluster2, start watcher, scheduler and propagator, wait until both are Ready."""
        for member in ("cluster1", "cluster2"):
            await self.join(member, (labels or {}).get(member))
        for service in ("watcher", "scheduler", "propagator"):
            self.start(service, service)
        await eventually(lambda: ready(self, "cluster1") and ready(self, "cluster2"))

    def member_object(
        self, cluster: str, group: str, plural: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        return self.fleet[cluster].get_object(group, plural, namespace, name)

    def host_object(self, group: str, plural: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self.fleet["host"].get_object(group, plural, namespace, name)


def ready(cp: ControlPlane, cluster: str) -> bool:
    kfc = cp.host_object("core.kubefed.io", "kubefedclusters", NS, cluster) or {}
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (kfc.get("status") or {}).get("conditions") or []
    )


def cluster_status(cp: ControlPlane, plural: str, ns: str, name: str) -> dict[str, str]:
    """``status.clusters`` of a federated object as {cluster: status} ("" = OK)."""
    obj = cp.host_object("types.kubefed.io", plural, ns, name) or {}
    return {c["name"]: c.get("status", "") for c in (obj.get("status") or {}).get("clusters") or []}


def propagation_reason(cp: ControlPlane, plural: str, ns: str, name: str) -> str | None:
    obj = cp.host_object("types.kubefed.io", plural, ns, name) or {}
    cond = next(
        (c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == "Propagation"), None
    )
    if cond is None:
        return None
    return "" if cond.get("status") == "True" else cond.get("reason", "")


def fed_configmap(
    name: str, *, placement: dict[str, Any] | None = None, data: dict[str, str] | None = None, **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "types.kubefed.io/v1beta1",
        "kind": "FederatedConfigMap",
        "metadata": {"name": name, "namespace": "fed", **spec.pop("metadata", {})},
        "spec": {
            "template": {"data": data or {"k": "v"}},
            "placement": placement if placement is not None else {"clusterSelector": {}},
            **spec,
        },
    }


# ---- planes with any members, the dns service next to the others -------------------------------
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


is_ready = ready  # the name the replica-scheduling and DNS suites use


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


# ---- positive signs to wait for before asserting that something did not happen ------------------
@contextlib.asynccontextmanager
async def bus_client(cp: ControlPlane, name: str = "test-observer") -> AsyncIterator[Bus]:
    """A connection of the test's own to the plane's NATS (reads streams and consumers, taps subjects)."""
    bus = await Bus.connect(BusSettings(url=cp.nats_url, name=name))
    try:
        yield bus
    finally:
        await bus.close()


class StatusTap:
    """Every outcome the propagators publish (``kubefed.status.<cluster>``), from a core subscription.

    An outcome is reported for every reconcile, writes or not (``op`` ``unchanged`` for an object that
    only was compared), so it is the sign that a propagator has looked at an object.
    """

    def __init__(self) -> None:
        self.outcomes: list[ClusterOutcome] = []

    def of(self, cluster: str, name: str) -> list[ClusterOutcome]:
        return [o for o in self.outcomes if o.cluster == cluster and o.key.name == name]


@contextlib.asynccontextmanager
async def status_tap(bus: Bus) -> AsyncIterator[StatusTap]:
    tap = StatusTap()

    async def received(msg: Any) -> None:
        report = decode(msg.data)
        if isinstance(report, StatusReport):
            tap.outcomes.extend(report.outcomes)

    sub = await bus.nc.subscribe(f"{subjects.STATUS_PREFIX}.>", cb=received)
    await bus.nc.flush()
    try:
        yield tap
    finally:
        await sub.unsubscribe()


async def host_change_seq(bus: Bus, resource: str, namespace: str, name: str) -> int:
    """Stream sequence of the watcher's last message about a host object (0: none yet)."""
    last = await bus.get_last(subjects.STREAM_HOST, subjects.host_subject(resource, namespace, name))
    return last[2] if last else 0


async def newer_host_change(bus: Bus, resource: str, namespace: str, name: str, after: int) -> int:
    """The sequence of a message about a host object later than ``after`` (0: none yet)."""
    seq = await host_change_seq(bus, resource, namespace, name)
    return seq if seq > after else 0


async def scheduler_handled(bus: Bus, seq: int) -> bool:
    """The scheduler's host consumer acknowledged everything up to stream sequence ``seq`` (it reconciles
    a host change before acknowledging it)."""
    info = await bus.js.consumer_info(subjects.STREAM_HOST, "scheduler")
    delivered = info.delivered.stream_seq if info.delivered is not None else 0
    return seq > 0 and (delivered or 0) >= seq and not info.num_ack_pending
