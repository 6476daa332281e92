"""``kubefed demo``: the control plane on the embedded default, end to end, on one machine.

Starts nats-server, a simulated host and three member clusters (different regions, zones and
capacities) and the four services; joins the members and enables the default types with
``kubefedctl``; federates a sample application (namespace, ConfigMap, Deployment with per-cluster
overrides, LoadBalancer Service, ReplicaSchedulingPreference, ServiceDNSRecord); shows progress while it
converges; then prints the ``kubefedctl status`` table, the replica split, the DNS records and the trace
of one change as a timed span tree. It keeps running until Ctrl-C (``--exit`` stops after the summary).
Everything lives in a fresh temporary folder, so a re-run never trips over the previous one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol

import click
import yaml
from rich.console import Console
from rich.table import Table

from kubefed._demo_app import CAPACITY, MEMBERS, NS, REGIONS, TYPES, manifests

ROOT = Path(__file__).resolve().parents[1]
SYS = "kube-federation-system"
BIN = Path(sys.executable).parent
console = Console(highlight=False, width=max(120, Console().width))


class _ClusterObjects(Protocol):
    """What the demo reads from one cluster of a simulated or real fleet."""

    def get_object(
        self, group: str, plural: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None: ...


class _FleetView(Protocol):
    """A simulated (:class:`sim.Fleet`) or real (:class:`sim.real.RealFleet`) fleet, by cluster name."""

    def __getitem__(self, name: str, /) -> _ClusterObjects: ...


class Demo:
    """State of one demo run."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.kubeconfig = work / "kubeconfig"
        self.fleet: _FleetView | None = None

    async def run(self, *args: str, tool: str = "kubectl", stdin: str | None = None) -> str:
        """Run kubectl or kubefedctl against the fleet (asynchronously: the simulator shares our loop)."""
        if tool == "kubectl":
            cmd = [
                str(BIN / tool),
                "--kubeconfig",
                str(self.kubeconfig),
                "--cache-dir",
                str(self.work / "kcache"),
                *args,
            ]
        else:  # kubefedctl takes its flags after the verb
            cmd = [str(BIN / tool), *args, "--kubeconfig", str(self.kubeconfig)]
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate(stdin.encode() if stdin else None)
        if proc.returncode != 0:
            raise click.ClickException(f"{tool} {' '.join(args)}: {err.decode().strip()}")
        return out.decode()

    def host(self, group: str, plural: str, ns: str | None, name: str) -> dict[str, Any] | None:
        return self.cluster("host").get_object(group, plural, ns, name)

    def cluster(self, name: str) -> _ClusterObjects:
        assert self.fleet is not None, "the fleet is started before the demo reads it"
        return self.fleet[name]


def step(text: str) -> None:
    console.print(f"[bold cyan]==>[/] {text}")


async def wait_for(what: str, progress: Callable[[], tuple[int, int]], timeout: float = 120.0) -> None:
    """Show ``what done/total`` until done == total."""
    deadline = time.monotonic() + timeout
    with console.status(f"{what} …") as status:
        while True:
            done, total = progress()
            status.update(f"{what}: {done}/{total}")
            if done >= total:
                break
            if time.monotonic() > deadline:
                raise click.ClickException(f"timed out waiting for {what} ({done}/{total})")
            await asyncio.sleep(0.2)
    console.print(f"    {what}: {total}/{total}")


def _ready(d: Demo, cluster: str) -> bool:
    kfc = d.host("core.kubefed.io", "kubefedclusters", SYS, cluster) or {}
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (kfc.get("status") or {}).get("conditions") or []
    )


def _propagated(d: Demo) -> tuple[int, int]:
    fed = [
        ("federatedconfigmaps", "web-config"),
        ("federateddeployments", "web"),
        ("federatedservices", "web"),
    ]
    done = 0
    for plural, name in fed:
        obj = d.host("types.kubefed.io", plural, NS, name) or {}
        conds = (obj.get("status") or {}).get("conditions") or []
        done += any(c.get("type") == "Propagation" and c.get("status") == "True" for c in conds)
    return done, len(fed)


def _replicas(d: Demo) -> dict[str, tuple[int, int]]:
    out = {}
    for c in MEMBERS:
        dep = d.cluster(c).get_object("apps", "deployments", NS, "web") or {}
        out[c] = (
            int((dep.get("spec") or {}).get("replicas") or 0),
            int((dep.get("status") or {}).get("readyReplicas") or 0),
        )
    return out


def _dns(d: Demo) -> list[dict[str, Any]]:
    ep = d.host("multiclusterdns.kubefed.io", "dnsendpoints", NS, "service-web") or {}
    return list((ep.get("spec") or {}).get("endpoints") or [])


async def _demo(exit_after: bool, real: bool = False) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from kubefed.natsd import NatsServer
    from services.dns import DNSSettings, run_dns
    from services.propagator import PropagatorSettings, run_propagator
    from services.scheduler import SchedulerSettings, run_scheduler
    from services.watcher import WatcherSettings, run_watcher
    from shared.bus import BusSettings
    from shared.runtime import CommonSettings
    from shared.telemetry import configure_logging
    from sim import run_fleet

    os.environ.setdefault("KUBEFED_LOG_LEVEL", "error")
    configure_logging()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    d = Demo(Path(tempfile.mkdtemp(prefix="kubefed-demo-")))
    step(f"Starting nats-server with JetStream (store in {d.work / 'nats'})")
    nats = NatsServer(store_dir=str(d.work / "nats")).start()
    stops: list[asyncio.Event] = []
    tasks: list[asyncio.Task[None]] = []
    labels = {
        c: {"topology.kubernetes.io/region": r, "topology.kubernetes.io/zone": z}
        for c, (r, z) in REGIONS.items()
    }
    try:
        kind = (
            "real clusters (kube-apiserver, controller-manager, scheduler, KWOK)"
            if real
            else "simulated clusters"
        )
        step(
            f"Starting {kind}: host, "
            + ", ".join(f"{c} ({REGIONS[c][0]}, room for {CAPACITY[c]} pods)" for c in MEMBERS)
        )
        if real:
            from sim.real import run_real_fleet

            clusters: contextlib.AbstractAsyncContextManager[_FleetView] = run_real_fleet(
                ["host", *MEMBERS],
                kubeconfig_path=d.kubeconfig,
                node_labels=labels,
                capacity=dict(CAPACITY),
                workdir=d.work / "clusters",
            )
        else:
            clusters = run_fleet(
                ["host", *MEMBERS],
                tls=True,
                kubeconfig_path=d.kubeconfig,
                node_labels=labels,
                capacity=dict(CAPACITY),
                pod_ready_delay=0.5,
            )
        async with clusters as fleet:
            d.fleet = fleet
            step("Installing the KubeFed CRDs and the KubeFedConfig (deploy/)")
            await d.run("--context", "host", "apply", "--server-side", "-f", str(ROOT / "deploy" / "crds"))
            await asyncio.sleep(0.3)
            for f in ("00-namespace.yaml", "10-kubefedconfig.yaml"):
                await d.run("--context", "host", "apply", "-f", str(ROOT / "deploy" / "config" / f))
            config = d.host("core.kubefed.io", "kubefedconfigs", SYS, "kubefed") or {}
            gates = [
                {**g, "configuration": "Enabled"}
                if g["name"] in ("CrossClusterServiceDiscovery", "RawResourceStatusCollection")
                else g
                for g in config["spec"]["featureGates"]
            ]
            await d.run(
                "--context",
                "host",
                "patch",
                "kubefedconfig",
                "kubefed",
                "-n",
                SYS,
                "--type=merge",
                "-p",
                json.dumps({"spec": {"featureGates": gates, "clusterHealthCheck": {"period": "2s"}}}),
            )

            step(
                "Starting the control plane: watcher, scheduler, propagator, dns (talking only through NATS)"
            )

            def common(name: str) -> CommonSettings:
                return CommonSettings(
                    bus=BusSettings(url=nats.url),
                    kubeconfig=str(d.kubeconfig),
                    context="host",
                    http_port=0,
                    grace_period=5.0,
                    identity=name,
                )

            runs: list[Callable[[asyncio.Event], Coroutine[Any, Any, None]]] = [
                lambda s: run_watcher(
                    WatcherSettings(common=common("watcher")), stop=s, install_signals=False
                ),
                lambda s: run_scheduler(
                    SchedulerSettings(common=common("scheduler")), stop=s, install_signals=False
                ),
                lambda s: run_propagator(
                    PropagatorSettings(common=common("propagator"), unschedulable_after=10.0),
                    stop=s,
                    install_signals=False,
                ),
                lambda s: run_dns(DNSSettings(common=common("dns")), stop=s, install_signals=False),
            ]
            for factory in runs:
                stop = asyncio.Event()
                stops.append(stop)
                tasks.append(asyncio.create_task(factory(stop)))

            for c in MEMBERS:
                step(f"kubefedctl join {c}")
                await d.run(
                    "join", c, "--cluster-context", c, "--host-cluster-context", "host", tool="kubefedctl"
                )
            await wait_for("members Ready", lambda: (sum(_ready(d, c) for c in MEMBERS), len(MEMBERS)))
            for t in TYPES:
                step(f"kubefedctl enable {t}")
                await d.run("enable", t, "--host-cluster-context", "host", tool="kubefedctl")
            await d.run(
                "--context",
                "host",
                "patch",
                "federatedtypeconfig",
                "deployments.apps",
                "-n",
                SYS,
                "--type=merge",
                "-p",
                '{"spec":{"statusCollection":"Enabled"}}',
            )
            await asyncio.sleep(1.0)

            step(
                "Federating the sample application (namespace, ConfigMap, Deployment, LoadBalancer Service, "
                "RSP, ServiceDNSRecord)"
            )
            started = time.monotonic()
            await d.run("--context", "host", "apply", "-f", "-", stdin=yaml.safe_dump_all(manifests()))
            await wait_for("federated objects propagated", lambda: _propagated(d))
            await wait_for(
                "replicas ready in members", lambda: (sum(r for _, r in _replicas(d).values()), 12)
            )
            await wait_for("DNS records", lambda: (1 if _dns(d) else 0, 1))
            console.print(f"    converged in {time.monotonic() - started:.1f}s")

            console.rule("kubefedctl status")
            console.print(
                await d.run("status", "-n", NS, "--host-cluster-context", "host", tool="kubefedctl"), end=""
            )
            console.rule("Replica split (ReplicaSchedulingPreference web: 12 replicas, equal weights)")
            table = Table("cluster", "region", "desired", "ready", "image")
            for c, (want, got) in _replicas(d).items():
                dep = fleet[c].get_object("apps", "deployments", NS, "web") or {}
                image = dep["spec"]["template"]["spec"]["containers"][0]["image"] if dep else ""
                table.add_row(c, REGIONS[c][0], str(want), str(got), image)
            console.print(table)
            console.rule("DNS records (DNSEndpoint demo-app/service-web, for external-dns)")
            dns = Table("name", "type", "targets", "ttl")
            for ep in _dns(d):
                dns.add_row(
                    ep["dnsName"],
                    ep.get("recordType", ""),
                    ", ".join(ep.get("targets") or []),
                    str(ep.get("recordTTL", "")),
                )
            console.print(dns)
            step("Changing the ConfigMap template on the host to trace one change end to end")
            exporter.clear()
            await d.run(
                "--context",
                "host",
                "patch",
                "federatedconfigmap",
                "web-config",
                "-n",
                NS,
                "--type=merge",
                "-p",
                '{"spec":{"template":{"data":{"greeting":"hello again"}}}}',
            )
            await wait_for(
                "members updated",
                lambda: (
                    sum(
                        (fleet[c].get_object("", "configmaps", NS, "web-config") or {})
                        .get("data", {})
                        .get("greeting")
                        == "hello again"
                        for c in ("cluster1", "cluster3")
                    ),
                    2,
                ),
            )
            await asyncio.sleep(1.0)  # let the status write finish
            console.rule("Trace of that change: FederatedConfigMap demo-app/web-config")
            _print_trace(exporter.get_finished_spans(), "federatedconfigmaps")
            console.rule()
            console.print(
                f"Point kubectl at the clusters:\n  export KUBECONFIG={d.kubeconfig}\n"
                f"  kubectl --context host get federateddeployments -n {NS}\n"
                f"  kubectl --context cluster2 get configmap web-config -n {NS} -o yaml\n"
                f"  {BIN / 'kubefedctl'} status --kubeconfig {d.kubeconfig} --host-cluster-context host -w"
            )
            if not exit_after:
                console.print("\nRunning; press Ctrl-C to stop.")
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.Event().wait()
    finally:
        step("Stopping")
        for s in stops:
            s.set()
        if tasks:
            await asyncio.wait(tasks, timeout=30)
        nats.close()
        shutil.rmtree(d.work, ignore_errors=True)
        step("Stopped cleanly")


def _print_trace(spans: Any, resource: str) -> None:
    roots = [
        s
        for s in spans
        if s.name.startswith("send kubefed.host")
        and resource in str(s.attributes.get("messaging.destination.name", ""))
    ]
    if not roots:
        console.print("  (no spans recorded)")
        return
    counts: dict[int, int] = {}
    for s in spans:
        counts[s.context.trace_id] = counts.get(s.context.trace_id, 0) + 1
    trace_id = max((r.context.trace_id for r in roots), key=lambda t: counts.get(t, 0))
    mine = sorted((s for s in spans if s.context.trace_id == trace_id), key=lambda s: s.start_time)
    children: dict[Any, list[Any]] = {}
    for s in mine:
        children.setdefault(s.parent.span_id if s.parent else None, []).append(s)
    ids = {s.context.span_id for s in mine}
    t0 = mine[0].start_time
    console.print(f"  trace {trace_id:032x}   start(ms) duration(ms)")

    def show(span: Any, depth: int) -> None:
        where = span.attributes.get("k8s.cluster.name") or ""
        code = span.attributes.get("http.response.status_code")
        if code:
            where = f"{where} {code}".strip()
        console.print(
            f"  {(span.start_time - t0) / 1e6:9.1f} {(span.end_time - span.start_time) / 1e6:9.1f}   "
            f"{'  ' * depth}{span.name}" + (f"  [{where}]" if where else ""),
            markup=False,
        )
        for child in children.get(span.context.span_id, []):
            show(child, depth + 1)

    for s in mine:
        if s.parent is None or s.parent.span_id not in ids:
            show(s, 0)


@click.command("demo")
@click.option("--exit", "exit_after", is_flag=True, help="Stop after printing the summary.")
@click.option(
    "--real", is_flag=True, help="Run real clusters (built by `make real-k8s`) instead of simulated ones."
)
def demo_command(exit_after: bool, real: bool) -> None:
    """Run the local demo: NATS, simulated (or --real) clusters and the control plane on this machine."""
    if real:
        from sim.real import MissingProgram, all_built, binary_path

        if not all_built():
            raise click.ClickException(
                str(
                    MissingProgram(
                        "real clusters need the programs `make real-k8s` builds (e.g. "
                        f"{binary_path('kube-apiserver')})"
                    )
                )
            )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_demo(exit_after, real))
