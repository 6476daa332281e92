"""One change's trace, proven by a real Jaeger (tier ``jaeger``).

The pinned Jaeger v2 (``python -m sim.real jaeger``: in-memory storage, OTLP/HTTP receiver, query API)
runs on loopback. Watcher, scheduler and two propagator sets (``--cluster-selector region=eu`` and
``region=us``) run as separate ``kubefed`` processes, as in a cluster, each exporting its spans with
the OTLP/HTTP exporter to Jaeger (``OTEL_EXPORTER_OTLP_ENDPOINT``), against a loopback nats-server
and simulated host and members (cluster1 in eu, cluster2 in us) over TLS.

After one change (a new FederatedConfigMap), the test reads the trace id from the
``kubefed.io/trace-id`` annotation of the Event the scheduler records, fetches that trace through
Jaeger's query API (``/api/v3/traces/{id}``) and checks that it

- holds spans of ``kubefed-watcher``, ``kubefed-scheduler`` and both propagator processes
  (``kubefed.propagator.set`` eu and us), and the scheduler's ``write status`` with its host
  ``PUT .../status`` request;
- is one tree: one root (the watcher's), every other span's parent in the trace, and the causal
  chain watcher publish → scheduler process → decision publish → each propagator's process → its
  member write (``apply ConfigMap`` → the member's POST) → outcome publish → the scheduler's status
  processing → ``write status``;
- carries the messaging attributes of the OpenTelemetry semantic conventions on every PRODUCER and
  CONSUMER span (``messaging.system=nats``, ``messaging.operation.type`` send/process,
  ``messaging.operation.name``, ``messaging.destination.name`` matching the span name's subject
  template, ``messaging.consumer.group.name`` on consumers).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from kubefed.natsd import NatsServer, free_port
from sim import run_fleet
from sim.real import MissingProgram, build, locate
from sim.real._binaries import go_available
from tests.observability._jaeger import Jaeger, Span
from tests.support.plane import ControlPlane, eventually, federate_namespace, ready
from tests.support.tools import missing_tool

pytestmark = [pytest.mark.jaeger, pytest.mark.timeout(300)]

KUBEFED = str(Path(sys.executable).parent / "kubefed")


@pytest.fixture(scope="module")
def jaeger_binary() -> str:
    try:
        return str(locate("jaeger"))
    except MissingProgram:
        pass
    if not go_available():
        missing_tool(
            "tier 'jaeger' needs the pinned Jaeger (python -m sim.real jaeger), which needs Go to build"
        )
    try:
        build(["jaeger"])
    except MissingProgram as exc:
        missing_tool(f"tier 'jaeger': building Jaeger failed: {exc}")
    return str(locate("jaeger"))


@pytest.fixture
def jaeger(jaeger_binary: str, tmp_path: Path) -> Iterator[Jaeger]:
    j = Jaeger(jaeger_binary, tmp_path / "jaeger")
    try:
        j.wait_ready()
        yield j
    finally:
        j.close()


def _readyz(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


class Processes:
    """The services as ``kubefed`` child processes exporting to Jaeger."""

    def __init__(self, tmp: Path, jaeger: Jaeger, nats_url: str, kubeconfig: Path) -> None:
        self.tmp, self.jaeger, self.nats_url, self.kubeconfig = tmp, jaeger, nats_url, kubeconfig
        self.procs: dict[str, tuple[subprocess.Popen[bytes], int]] = {}

    def start(self, name: str, service: str, *args: str, attributes: str = "") -> None:
        port = free_port()
        env = {
            **os.environ,
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.jaeger.otlp_endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_SERVICE_NAME": f"kubefed-{service}",
            "OTEL_RESOURCE_ATTRIBUTES": f"service.instance.id={name}{attributes}",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
        for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            env.pop(proxy, None)
        log = (self.tmp / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            [
                KUBEFED,
                service,
                "--nats",
                self.nats_url,
                "--kubeconfig",
                str(self.kubeconfig),
                "--context",
                "host",
                "--http-port",
                str(port),
                "--grace-period",
                "3",
                *args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self.procs[name] = (proc, port)

    async def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        for name, (proc, port) in self.procs.items():
            while not await asyncio.to_thread(_readyz, port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"{name} not ready: {(self.tmp / f'{name}.log').read_text()[-3000:]}"
                    )
                await asyncio.sleep(0.1)

    def stop(self) -> None:
        for proc, _ in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc, _ in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def _trace_id_of_event(cp: ControlPlane, name: str) -> str | None:
    events = json.loads(await cp.akubectl("get", "events", "-n", "fed", "-o", "json"))["items"]
    for e in events:
        if (
            e["involvedObject"].get("name") == name
            and e["involvedObject"].get("kind") == "FederatedConfigMap"
        ):
            trace_id = (e["metadata"].get("annotations") or {}).get("kubefed.io/trace-id")
            if trace_id:
                return str(trace_id)
    return None


def _complete(spans: list[Span]) -> bool:
    sets = {s.resource.get("kubefed.propagator.set") for s in spans if s.service == "kubefed-propagator"}
    return {"eu", "us"} <= sets and any(s.name == "write status" for s in spans)


def describe(spans: list[Span]) -> str:
    by_id = {s.span_id: s for s in spans}
    lines = []

    def walk(span: Span, depth: int) -> None:
        who = span.service + (
            f"[{span.resource['kubefed.propagator.set']}]"
            if "kubefed.propagator.set" in span.resource
            else ""
        )
        lines.append(f"{'  ' * depth}{span.name} ({span.kind}, {who})")
        for child in [s for s in spans if s.parent_id == span.span_id]:
            walk(child, depth + 1)

    for root in [s for s in spans if not s.parent_id or s.parent_id not in by_id]:
        walk(root, 0)
    return "\n".join(lines)


async def test_one_change_is_one_trace_in_jaeger(jaeger: Jaeger, tmp_path: Path) -> None:
    nats = NatsServer().start()
    procs: Processes | None = None
    try:
        async with run_fleet(
            ["host", "cluster1", "cluster2"], tls=True, kubeconfig_path=tmp_path / "kubeconfig"
        ) as fleet:
            cp = ControlPlane(fleet, nats.url, tmp_path)
            await cp.install_kubefed_api({"clusterHealthCheck": {"period": "1s"}})
            await cp.join("cluster1", {"region": "eu"})
            await cp.join("cluster2", {"region": "us"})
            procs = Processes(tmp_path, jaeger, nats.url, tmp_path / "kubeconfig")
            procs.start("watcher", "watcher")
            procs.start("scheduler", "scheduler")
            procs.start(
                "propagator-eu",
                "propagator",
                "--cluster-selector",
                "region=eu",
                attributes=",kubefed.propagator.set=eu",
            )
            procs.start(
                "propagator-us",
                "propagator",
                "--cluster-selector",
                "region=us",
                attributes=",kubefed.propagator.set=us",
            )
            await procs.wait_ready()
            await eventually(lambda: ready(cp, "cluster1") and ready(cp, "cluster2"), timeout=60)
            await federate_namespace(cp, "fed")
            await eventually(
                lambda: all(
                    cp.member_object(m, "", "namespaces", None, "fed") for m in ("cluster1", "cluster2")
                ),
                timeout=60,
            )

            # the one change
            await cp.akubectl(
                "apply",
                "-f",
                "-",
                input=yaml.safe_dump(
                    {
                        "apiVersion": "types.kubefed.io/v1beta1",
                        "kind": "FederatedConfigMap",
                        "metadata": {"name": "traced", "namespace": "fed"},
                        "spec": {"placement": {"clusterSelector": {}}, "template": {"data": {"k": "v"}}},
                    }
                ),
            )
            trace_id = await eventually(lambda: _trace_id_of_event(cp, "traced"), timeout=60, interval=0.5)
            assert len(trace_id) == 32 and int(trace_id, 16)

            spans: list[Span] = []
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                spans = await asyncio.to_thread(jaeger.trace, trace_id)
                if _complete(spans):
                    await asyncio.sleep(1.0)  # the last batches (status write, settles)
                    spans = await asyncio.to_thread(jaeger.trace, trace_id)
                    break
                await asyncio.sleep(0.5)
            print(f"\ntrace {trace_id}: {len(spans)} spans\n{describe(spans)}")
            (tmp_path / "trace.json").write_text(json.dumps(jaeger.raw_trace(trace_id)))
            check_trace(spans)
    finally:
        if procs is not None:
            procs.stop()
        nats.close()


def check_trace(spans: list[Span]) -> None:
    assert spans, "trace not found in Jaeger"
    by_id = {s.span_id: s for s in spans}
    services = {s.service for s in spans}
    assert {"kubefed-watcher", "kubefed-scheduler", "kubefed-propagator"} <= services, services
    sets = {s.resource.get("kubefed.propagator.set") for s in spans if s.service == "kubefed-propagator"}
    assert sets == {"eu", "us"}, sets

    # one tree
    roots = [s for s in spans if not s.parent_id]
    assert len(roots) == 1, [(s.name, s.service) for s in roots]
    assert roots[0].service == "kubefed-watcher"
    orphans = [(s.name, s.service) for s in spans if s.parent_id and s.parent_id not in by_id]
    assert not orphans, orphans

    def ancestors(span: Span) -> list[Span]:
        out = []
        while span.parent_id:
            span = by_id[span.parent_id]
            out.append(span)
        return out

    def chain(span: Span) -> list[tuple[str, str, str]]:
        return [(s.service, s.kind, s.name.split(" ", 1)[0]) for s in reversed([span, *ancestors(span)])]

    # every member write, under its propagator's processing of the decision, under the scheduler's
    # decision publish, under the scheduler's processing of the watcher's publish
    for region, cluster in (("eu", "cluster1"), ("us", "cluster2")):
        applies = [
            s
            for s in spans
            if s.name == "apply ConfigMap" and s.resource.get("kubefed.propagator.set") == region
        ]
        assert applies, f"no member write of the {region} propagator"
        apply = applies[0]
        assert apply.attributes["k8s.cluster.name"] == cluster
        writes = [
            s
            for s in spans
            if s.parent_id == apply.span_id
            and s.kind == "CLIENT"
            and s.attributes.get("k8s.cluster.name") == cluster
        ]
        assert any(w.attributes.get("http.request.method") in ("POST", "PUT", "PATCH") for w in writes), [
            (w.name, w.attributes) for w in writes
        ]
        path = chain(apply)
        # exactly the hops of one change, in order
        assert [(svc, kind) for svc, kind, _ in path] == [
            ("kubefed-watcher", "PRODUCER"),
            ("kubefed-scheduler", "CONSUMER"),
            ("kubefed-scheduler", "PRODUCER"),
            ("kubefed-propagator", "CONSUMER"),
            ("kubefed-propagator", "INTERNAL"),
        ], path
        propagator_process = by_id[apply.parent_id]
        assert propagator_process.resource.get("kubefed.propagator.set") == region
        assert propagator_process.attributes["messaging.destination.name"].startswith("kubefed.desired.")

    # the status write: in the scheduler, parented on the last member write it reports and linked to
    # every member write (one per propagator set), with the host's status request under it
    status = [s for s in spans if s.name == "write status"]
    assert status and all(s.service == "kubefed-scheduler" for s in status)
    applies = {s.span_id: s for s in spans if s.name == "apply ConfigMap"}
    final = status[-1]
    assert final.parent_id in applies
    assert {applies[i].resource.get("kubefed.propagator.set") for i in final.links if i in applies} == {
        "eu",
        "us",
    }
    assert any(
        s.parent_id == final.span_id
        and s.kind == "CLIENT"
        and s.attributes.get("http.request.method") == "PUT"
        and str(s.attributes.get("url.path", "")).endswith("/status")
        for s in spans
    ), "no host status request"

    # messaging semantic conventions
    messaging = [s for s in spans if s.kind in ("PRODUCER", "CONSUMER")]
    assert messaging
    for s in messaging:
        a = s.attributes
        assert a.get("messaging.system") == "nats", (s.name, a)
        op_type = {"PRODUCER": "send", "CONSUMER": "process"}[s.kind]
        assert (
            a.get("messaging.operation.type") == op_type and a.get("messaging.operation.name") == op_type
        ), (s.name, a)
        destination = str(a.get("messaging.destination.name", ""))
        assert destination.startswith("kubefed."), (s.name, a)
        # span name: "{operation} {destination template}"
        assert s.name == f"{op_type} {a.get('messaging.destination.template')}", (s.name, a)
        if s.kind == "CONSUMER":
            assert a.get("messaging.consumer.group.name"), (s.name, a)
