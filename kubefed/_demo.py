"""``kubefed demo``: the control plane on the embedded default, end to end, on one machine.

Starts nats-server, a simulated host and three member clusters (different regions), the watcher,
scheduler and a propagator; installs the KubeFed CRDs and default types from ``deploy/``; joins the
members; federates KubeFed's sample namespace and ConfigMap (with a per-cluster override); waits for
propagation and prints the host status, member contents and the trace of the change. ``--exit`` stops
after the summary; otherwise it keeps running until Ctrl-C. Everything lives in a fresh temporary
folder, so a re-run never trips over the previous one.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click
import yaml

ROOT = Path(__file__).resolve().parents[1]
NS = "kube-federation-system"
SAMPLE_NS = "demo"


def _kubectl(kubeconfig: Path, cache: Path, *args: str, context: str = "host", stdin: str | None = None) -> str:
    cmd = [str(Path(sys.executable).parent / "kubectl"), "--kubeconfig", str(kubeconfig), "--context", context, "--cache-dir", str(cache), *args]
    r = subprocess.run(cmd, capture_output=True, text=True, input=stdin, timeout=60)
    if r.returncode != 0:
        raise click.ClickException(f"kubectl {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


async def _demo(exit_after: bool) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from kubefed.natsd import NatsServer
    from services.propagator import PropagatorSettings, run_propagator
    from services.scheduler import SchedulerSettings, run_scheduler
    from services.watcher import WatcherSettings, run_watcher
    from shared.bus import BusSettings
    from shared.runtime import CommonSettings
    from sim import run_fleet

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    work = Path(tempfile.mkdtemp(prefix="kubefed-demo-"))
    kubeconfig, cache = work / "kubeconfig", work / "kcache"
    step = lambda text: click.echo(click.style("==> ", fg="cyan") + text)  # noqa: E731
    step(f"Starting nats-server with JetStream (store in {work})")
    nats = NatsServer(store_dir=str(work / "nats")).start()
    labels = {
        "cluster1": {"topology.kubernetes.io/region": "eu-west", "topology.kubernetes.io/zone": "eu-west-1a"},
        "cluster2": {"topology.kubernetes.io/region": "us-east", "topology.kubernetes.io/zone": "us-east-1b"},
        "cluster3": {"topology.kubernetes.io/region": "ap-south", "topology.kubernetes.io/zone": "ap-south-1c"},
    }
    stops: list[asyncio.Event] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        step("Starting simulated clusters: host, cluster1 (eu-west), cluster2 (us-east), cluster3 (ap-south)")
        async with run_fleet(["host", "cluster1", "cluster2", "cluster3"], tls=True, kubeconfig_path=kubeconfig, node_labels=labels) as fleet:
            k = lambda *a, **kw: asyncio.to_thread(_kubectl, kubeconfig, cache, *a, **kw)  # noqa: E731
            step("Installing the KubeFed CRDs, KubeFedConfig and default FederatedTypeConfigs from deploy/")
            await k("apply", "-f", str(ROOT / "deploy" / "crds"))
            await asyncio.sleep(0.3)
            await k("apply", "-f", str(ROOT / "deploy" / "config"))
            await k("patch", "kubefedconfig", "kubefed", "-n", NS, "--type=merge", "-p", '{"spec":{"clusterHealthCheck":{"period":"2s"}}}')
            common = lambda name: CommonSettings(  # noqa: E731
                bus=BusSettings(url=nats.url), kubeconfig=str(kubeconfig), context="host", http_port=0, grace_period=5.0, identity=name
            )
            step("Starting the control plane: watcher, scheduler, propagator")
            for name, coro_factory in (
                ("watcher", lambda s: run_watcher(WatcherSettings(common=common("watcher")), stop=s, install_signals=False)),
                ("scheduler", lambda s: run_scheduler(SchedulerSettings(common=common("scheduler")), stop=s, install_signals=False)),
                ("propagator", lambda s: run_propagator(PropagatorSettings(common=common("propagator")), stop=s, install_signals=False)),
            ):
                stop = asyncio.Event()
                stops.append(stop)
                tasks.append(asyncio.create_task(coro_factory(stop), name=name))
            step("Joining the members")
            for cluster in ("cluster1", "cluster2", "cluster3"):
                member = fleet[cluster]
                docs = [
                    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{cluster}-token", "namespace": NS},
                     "data": {"token": base64.b64encode(member.admin_token.encode()).decode()}},
                    {"apiVersion": "core.kubefed.io/v1beta1", "kind": "KubeFedCluster",
                     "metadata": {"name": cluster, "namespace": NS, "labels": {"region": labels[cluster]["topology.kubernetes.io/region"]}},
                     "spec": {"apiEndpoint": member.url, "secretRef": {"name": f"{cluster}-token"},
                              "caBundle": base64.b64encode(member.ca_pem or b"").decode()}},
                ]
                await k("apply", "-f", "-", stdin=yaml.safe_dump_all(docs))
            await _wait(lambda: all(_ready(fleet, c) for c in ("cluster1", "cluster2", "cluster3")), "members Ready")
            step("Federating namespace 'demo' and a ConfigMap (placement: all clusters; override for cluster2)")
            started = time.monotonic()
            sample = [
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SAMPLE_NS}},
                {"apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedNamespace", "metadata": {"name": SAMPLE_NS, "namespace": SAMPLE_NS},
                 "spec": {"placement": {"clusterSelector": {}}}},
                {"apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedConfigMap", "metadata": {"name": "greeting", "namespace": SAMPLE_NS},
                 "spec": {"template": {"data": {"message": "hello from the host"}}, "placement": {"clusterSelector": {}},
                          "overrides": [{"clusterName": "cluster2", "clusterOverrides": [{"path": "/data/message", "value": "hello, us-east"}]}]}},
            ]
            await k("apply", "-f", "-", stdin=yaml.safe_dump_all(sample))
            await _wait(lambda: all(fleet[c].get_object("", "configmaps", SAMPLE_NS, "greeting") for c in ("cluster1", "cluster2", "cluster3")), "propagation")
            elapsed = time.monotonic() - started
            await _wait(lambda: _propagated(fleet), "host status")
            step(f"Propagated to 3 clusters in {elapsed:.2f}s")
            click.echo("\nHost status of FederatedConfigMap demo/greeting:")
            fed = fleet["host"].get_object("types.kubefed.io", "federatedconfigmaps", SAMPLE_NS, "greeting")
            click.echo(yaml.safe_dump(fed.get("status"), sort_keys=False))
            click.echo("Member clusters:")
            for c in ("cluster1", "cluster2", "cluster3"):
                kfc = fleet["host"].get_object("core.kubefed.io", "kubefedclusters", NS, c)
                cm = fleet[c].get_object("", "configmaps", SAMPLE_NS, "greeting")
                ready = next((x["status"] for x in kfc["status"]["conditions"] if x["type"] == "Ready"), "?")
                click.echo(f"  {c:<9} Ready={ready:<5} {kfc['status'].get('kubernetesVersion', ''):<9} region={kfc['status'].get('region', ''):<9} data={json.dumps(cm['data'])}")
            click.echo("\nTrace of the change (one trace across watcher, scheduler, propagator):")
            _print_trace(exporter.get_finished_spans())
            click.echo(f"\nkubectl --kubeconfig {kubeconfig} --context host get federatedconfigmaps -A")
            click.echo(f"kubectl --kubeconfig {kubeconfig} --context cluster2 get configmap greeting -n {SAMPLE_NS} -o yaml")
            if not exit_after:
                click.echo("\nRunning; press Ctrl-C to stop.")
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.Event().wait()
            for s in stops:
                s.set()
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
    finally:
        nats.close()
        step("Stopped cleanly")


def _ready(fleet: Any, cluster: str) -> bool:
    kfc = fleet["host"].get_object("core.kubefed.io", "kubefedclusters", NS, cluster) or {}
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in (kfc.get("status") or {}).get("conditions") or [])


def _propagated(fleet: Any) -> bool:
    fed = fleet["host"].get_object("types.kubefed.io", "federatedconfigmaps", SAMPLE_NS, "greeting") or {}
    conds = (fed.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Propagation" and c.get("status") == "True" for c in conds)


async def _wait(check: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    with click.progressbar(length=int(timeout * 10), label=f"    waiting for {what}", show_eta=False) as bar:
        while not check():
            if time.monotonic() > deadline:
                raise click.ClickException(f"timed out waiting for {what}")
            await asyncio.sleep(0.1)
            bar.update(1)


def _print_trace(spans: Any) -> None:
    roots = [s for s in spans if s.name.startswith("send kubefed.host") and "federatedconfigmaps" in str(s.attributes.get("messaging.destination.name", ""))]
    if not roots:
        click.echo("  (no spans recorded)")
        return
    counts: dict[int, int] = {}
    for s in spans:
        counts[s.context.trace_id] = counts.get(s.context.trace_id, 0) + 1
    trace_id = max((r.context.trace_id for r in roots), key=lambda t: counts.get(t, 0))
    mine = sorted((s for s in spans if s.context.trace_id == trace_id), key=lambda s: s.start_time)
    by_parent: dict[Any, list[Any]] = {}
    for s in mine:
        by_parent.setdefault(s.parent.span_id if s.parent else None, []).append(s)
    t0 = mine[0].start_time
    ids = {s.context.span_id for s in mine}

    def show(span: Any, depth: int) -> None:
        click.echo(f"  {(span.start_time - t0) / 1e6:8.1f} ms {(span.end_time - span.start_time) / 1e6:7.1f} ms  {'  ' * depth}{span.name}  [{span.resource.attributes.get('service.name', '')}]")
        for child in by_parent.get(span.context.span_id, []):
            show(child, depth + 1)

    for s in mine:
        if s.parent is None or s.parent.span_id not in ids:
            show(s, 0)


@click.command("demo")
@click.option("--exit", "exit_after", is_flag=True, help="Stop after printing the summary.")
def demo_command(exit_after: bool) -> None:
    """Run the local demo: NATS, simulated clusters and the control plane on this machine."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_demo(exit_after))
