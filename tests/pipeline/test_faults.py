"""Faults end to end with the services as separate processes (``kubefed <service>``).

Covers: a member going offline is reported (ClusterNotReady) without blocking the other member, and
catches up by itself when it returns; kill -9 of the propagator and the scheduler, and a nats-server
restart, in the middle of a burst of changes — afterwards every member holds exactly the desired
objects (no leftovers, no missing ones); a stand-by watcher takes over within seconds when the leader is
killed; one trace covers the whole path of a change across watcher, scheduler and two propagators
(spans exported over OTLP/HTTP to a collector in the test).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from tests.support.objects import namespace_federated_to_all
from tests.support.plane import NS, ControlPlane, cluster_status, eventually, fed_configmap, ready

pytestmark = pytest.mark.timeout(180)

KUBEFED = str(Path(sys.executable).parent / "kubefed")


class Processes:
    """Service processes of one test."""

    def __init__(self, cp: ControlPlane, env: dict[str, str] | None = None) -> None:
        self.cp = cp
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self.env = {**os.environ, "KUBEFED_LOG_LEVEL": "warning", **(env or {})}

    async def start(self, name: str, service: str, *args: str, nats_url: str | None = None) -> None:
        log = open(self.cp.tmp / f"{name}.log", "ab")  # noqa: ASYNC230
        self.procs[name] = await asyncio.create_subprocess_exec(
            KUBEFED,
            service,
            "--nats",
            nats_url or self.cp.nats_url,
            "--kubeconfig",
            str(self.cp.fleet.kubeconfig_path),
            "--context",
            "host",
            "--http-port",
            "0",
            "--grace-period",
            "5",
            *args,
            stdout=log,
            stderr=log,
            env={**self.env, "OTEL_SERVICE_NAME": f"kubefed-{name}"},
        )

    def kill9(self, name: str) -> None:
        self.procs[name].send_signal(signal.SIGKILL)

    async def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()


@pytest.fixture
async def procs(control_plane: ControlPlane) -> AsyncIterator[Processes]:
    p = Processes(control_plane)
    yield p
    await p.stop_all()


async def _setup(cp: ControlPlane, p: Processes, propagators: dict[str, str] | None = None) -> None:
    await cp.join("cluster1", {"region": "eu"})
    await cp.join("cluster2", {"region": "us"})
    await p.start("watcher", "watcher")
    await p.start("scheduler", "scheduler")
    for name, clusters in (propagators or {"propagator": ""}).items():
        await p.start(name, "propagator", *(["--clusters", clusters] if clusters else []))
    await eventually(lambda: ready(cp, "cluster1") and ready(cp, "cluster2"), timeout=30)
    await cp.akubectl(
        "apply",
        "-f",
        "-",
        input=yaml.safe_dump_all(namespace_federated_to_all()),
    )


def _names(cp: ControlPlane, cluster: str) -> set[str]:
    return {
        c["metadata"]["name"]
        for c in cp.fleet[cluster].list_objects("", "configmaps", "fed")
        if (c["metadata"].get("labels") or {}).get("kubefed.io/managed") == "true"
    }


async def test_offline_member_is_reported_and_catches_up(
    control_plane: ControlPlane, procs: Processes
) -> None:
    cp = control_plane
    await _setup(cp, procs)
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(fed_configmap("a")))
    await eventually(lambda: cp.member_object("cluster2", "", "configmaps", "fed", "a"))
    await cp.fleet["cluster2"].go_offline()
    await eventually(lambda: not ready(cp, "cluster2"), timeout=30)
    kfc = cp.host_object("core.kubefed.io", "kubefedclusters", "kube-federation-system", "cluster2")
    assert any(c["type"] == "Offline" and c["status"] == "True" for c in kfc["status"]["conditions"])
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(fed_configmap("a", data={"k": "v2"})))
    await eventually(
        lambda: cp.member_object("cluster1", "", "configmaps", "fed", "a")["data"] == {"k": "v2"}
    )
    await eventually(
        lambda: cluster_status(cp, "federatedconfigmaps", "fed", "a").get("cluster2") == "ClusterNotReady",
        timeout=30,
    )
    await cp.fleet["cluster2"].go_online()
    await eventually(
        lambda: cp.member_object("cluster2", "", "configmaps", "fed", "a")["data"] == {"k": "v2"}, timeout=40
    )
    await eventually(
        lambda: cluster_status(cp, "federatedconfigmaps", "fed", "a") == {"cluster1": "", "cluster2": ""},
        timeout=30,
    )


async def test_a_member_coming_back_reports_no_cluster_not_ready_for_unchanged_objects(
    control_plane: ControlPlane, procs: Processes
) -> None:
    """Found by the differential harness (offline): the member cache relisted as the cluster came back,
    before the health probe said Ready, and ours reported ClusterNotReady (status and a Warning event) for
    objects nobody had changed. KubeFed ignores a cluster until it is available again; so do we now.
    With unavailableDelay 60 s no re-check of every object falls inside the outage."""
    cp = control_plane
    await cp.install_kubefed_api(
        {
            "clusterHealthCheck": {"period": "1s"},
            "controllerDuration": {"availableDelay": "1s", "unavailableDelay": "60s"},
        }
    )
    await _setup(cp, procs)
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(fed_configmap("steady")))
    await eventually(
        lambda: cluster_status(cp, "federatedconfigmaps", "fed", "steady") == {"cluster1": "", "cluster2": ""}
    )
    for _ in range(3):
        await cp.fleet["cluster2"].go_offline()
        await eventually(lambda: not ready(cp, "cluster2"), timeout=30)
        await cp.fleet["cluster2"].go_online()
        await eventually(lambda: ready(cp, "cluster2"), timeout=30)
    # the positive sign: an object changed now reaches cluster2, so cluster2's queue has run since
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(fed_configmap("sentinel")))
    await eventually(lambda: cp.member_object("cluster2", "", "configmaps", "fed", "sentinel"), timeout=30)
    await eventually(
        lambda: (
            cluster_status(cp, "federatedconfigmaps", "fed", "sentinel") == {"cluster1": "", "cluster2": ""}
        )
    )
    warnings = [
        (e["involvedObject"]["name"], e["reason"])
        for e in cp.fleet["host"].list_objects("", "events", "fed")
        if e["type"] == "Warning"
    ]
    assert warnings == [], warnings
    assert cluster_status(cp, "federatedconfigmaps", "fed", "steady") == {"cluster1": "", "cluster2": ""}


async def test_kill9_and_nats_restart_mid_burst_converge_exactly(
    control_plane: ControlPlane, fresh_nats: Any, procs: Processes
) -> None:
    cp = control_plane
    await _setup(cp, procs)
    n = 60
    desired = {f"burst-{i}" for i in range(n)} - {f"burst-{i}" for i in range(0, n, 10)}
    for i in range(n):
        await cp.akubectl(
            "apply", "-f", "-", input=yaml.safe_dump(fed_configmap(f"burst-{i}", data={"i": str(i)}))
        )
        if i == 15:
            procs.kill9("propagator")
        if i == 20:
            await procs.start("propagator", "propagator")
        if i == 30:
            procs.kill9("scheduler")
            await procs.start("scheduler", "scheduler")
        if i == 40:
            await asyncio.to_thread(fresh_nats.restart)
    for i in range(0, n, 10):
        await cp.akubectl("delete", "federatedconfigmap", f"burst-{i}", "-n", "fed", "--wait=false")
    for cluster in ("cluster1", "cluster2"):
        await eventually(lambda c=cluster: _names(cp, c) == desired, timeout=90, interval=0.5)
    for i in sorted(int(x.split("-")[1]) for x in desired):
        assert cp.member_object("cluster2", "", "configmaps", "fed", f"burst-{i}")["data"] == {"i": str(i)}
    await eventually(
        lambda: all(
            cp.host_object("types.kubefed.io", "federatedconfigmaps", "fed", f"burst-{i}") is None
            for i in range(0, n, 10)
        ),
        timeout=60,
    )


async def test_standby_watcher_takes_over(control_plane: ControlPlane, procs: Processes) -> None:
    """The stand-by waits out KubeFedConfig's leaseDuration after the leader dies, then takes over."""
    cp = control_plane
    await cp.akubectl(
        "patch",
        "kubefedconfig",
        "kubefed",
        "-n",
        NS,
        "--type=merge",
        "-p",
        '{"spec":{"leaderElect":{"leaseDuration":"4s","renewDeadline":"3s","retryPeriod":"500ms"}}}',
    )
    await _setup(cp, procs)
    await procs.start("watcher-b", "watcher")
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(fed_configmap("before")))
    await eventually(lambda: cp.member_object("cluster1", "", "configmaps", "fed", "before"))
    procs.kill9("watcher")
    started = asyncio.get_running_loop().time()
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(fed_configmap("after")))
    await eventually(lambda: cp.member_object("cluster1", "", "configmaps", "fed", "after"), timeout=30)
    took = asyncio.get_running_loop().time() - started
    # not before the dead leader's lease ran out (4 s, less one renewal), and soon after it
    assert 3.0 <= took < 12.0


class Collector:
    """A tiny OTLP/HTTP trace receiver."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        req = ExportTraceServiceRequest()
        req.ParseFromString(await request.read())
        for rs in req.resource_spans:
            service = next(
                (a.value.string_value for a in rs.resource.attributes if a.key == "service.name"), ""
            )
            for ss in rs.scope_spans:
                for span in ss.spans:
                    self.spans.append((service, span))
        return web.Response(body=b"", content_type="application/x-protobuf")


async def test_one_trace_covers_the_path_across_processes(control_plane: ControlPlane) -> None:
    cp = control_plane
    collector = Collector()
    app = web.Application()
    app.router.add_post("/v1/traces", collector.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    p = Processes(
        cp, env={"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}", "OTEL_BSP_SCHEDULE_DELAY": "200"}
    )
    try:
        await _setup(cp, p, propagators={"propagator-eu": "cluster1", "propagator-us": "cluster2"})
        await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(fed_configmap("traced")))
        await eventually(
            lambda: (
                cp.member_object("cluster1", "", "configmaps", "fed", "traced")
                and cp.member_object("cluster2", "", "configmaps", "fed", "traced")
            )
        )
        await eventually(
            lambda: (
                cluster_status(cp, "federatedconfigmaps", "fed", "traced") == {"cluster1": "", "cluster2": ""}
            )
        )

        def whole_trace() -> dict[str, set[str]] | None:
            roots = [
                s
                for svc, s in collector.spans
                if svc == "kubefed-watcher"
                and s.name.startswith("send kubefed.host")
                and any(
                    a.key == "messaging.destination.name" and "traced" in a.value.string_value
                    for a in s.attributes
                )
            ]
            for root in roots:
                services: dict[str, set[str]] = {}
                for svc, s in collector.spans:
                    if s.trace_id == root.trace_id:
                        services.setdefault(svc, set()).add(s.name)
                if (
                    {"kubefed-watcher", "kubefed-scheduler", "kubefed-propagator-eu", "kubefed-propagator-us"}
                    <= set(services)
                    and any(n == "write status" for n in services.get("kubefed-scheduler", ()))
                    and all(
                        any(n == "PUT" or n == "POST" for n in services[f"kubefed-propagator-{r}"])
                        for r in ("eu", "us")
                    )
                ):
                    return services
            return None

        services = await eventually(whole_trace, timeout=30)
        assert "apply ConfigMap" in services["kubefed-propagator-eu"]
        assert any(n.startswith("process kubefed.desired") for n in services["kubefed-propagator-us"])
    finally:
        await p.stop_all()
        await runner.cleanup()


async def test_two_scheduler_replicas_racing_converge_exactly(
    control_plane: ControlPlane, procs: Processes
) -> None:
    cp = control_plane
    await _setup(cp, procs)
    await procs.start("scheduler-b", "scheduler")
    n = 30
    docs = [fed_configmap(f"shared-{i}", data={"i": str(i)}) for i in range(n)]
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))
    for i in range(0, n, 3):  # a second change right behind the first, racing across replicas
        await cp.akubectl(
            "apply", "-f", "-", input=yaml.safe_dump(fed_configmap(f"shared-{i}", data={"i": f"{i}-v2"}))
        )
    want = {f"shared-{i}": (f"{i}-v2" if i % 3 == 0 else str(i)) for i in range(n)}

    def converged() -> bool:
        for cluster in ("cluster1", "cluster2"):
            got = {
                c["metadata"]["name"]: c["data"]["i"]
                for c in cp.fleet[cluster].list_objects("", "configmaps", "fed")
                if c["metadata"]["name"].startswith("shared-")
            }
            if got != want:
                return False
        return all(
            cluster_status(cp, "federatedconfigmaps", "fed", f"shared-{i}")
            == {"cluster1": "", "cluster2": ""}
            for i in range(n)
        )

    await eventually(converged, timeout=60, interval=0.5)
