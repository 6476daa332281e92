"""Every metric the Grafana dashboard queries and docs/deploy.md names is emitted by running services.

Watcher, scheduler and propagator run over simulated clusters; one change (KubeFed's sample
FederatedDeployment with its ReplicaSchedulingPreference) flows through; then each service's
``/metrics`` is scraped over HTTP and every metric of every dashboard query, and every exported metric
the deploy guide names, must have at least one sample. A metric that is defined but never recorded
(a histogram never observed, a labelled gauge never set) has no sample and fails here.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import aiohttp
import pytest

from tests.deploy.test_image_and_dashboard import DASHBOARD, _exported_series, _exprs, _metrics_in
from tests.support.plane import DATA, ControlPlane, MakePlane, eventually, federate_namespace, is_ready

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
NS = "test-namespace"
SERVICES = ("watcher", "scheduler", "propagator")


def _sampled(text: str) -> set[str]:
    """Series names with at least one sample in an exposition text."""
    names = set()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names


def _documented() -> set[str]:
    """Exported series the deploy guide names in backticks."""
    exported = _exported_series()
    named = set(re.findall(r"`([a-z_:][a-z0-9_:]*)`", (ROOT / "docs" / "deploy.md").read_text()))
    out = set()
    for name in named:
        for series in (name, f"{name}_bucket", f"{name}_total"):
            if series in exported:
                out.add(series)
                break
    return out


async def _scrape(cp: ControlPlane) -> set[str]:
    sampled: set[str] = set()
    async with aiohttp.ClientSession() as session:
        for service in SERVICES:
            async with session.get(f"http://127.0.0.1:{cp.health_ports[service]}/metrics") as resp:
                assert resp.status == 200
                sampled |= _sampled(await resp.text())
    return sampled


async def test_every_dashboard_and_documented_metric_has_samples(make_plane: MakePlane) -> None:
    members = ["cluster1", "cluster2"]
    cp = await make_plane(members)
    for service in SERVICES:
        cp.start(service, service)
    await eventually(lambda: all(is_ready(cp, m) for m in members) and set(cp.health_ports) == set(SERVICES))
    await federate_namespace(cp, NS)
    await cp.akubectl("apply", "-f", str(DATA / "sample1" / "federateddeployment.yaml"))
    await cp.akubectl("apply", "-f", str(DATA / "scheduling" / "federateddeployment-rsp.yaml"))
    # the change went all the way: replicas planned by the RSP reached both members
    await eventually(
        lambda: all(cp.member_object(m, "apps", "deployments", NS, "test-deployment") for m in members),
        timeout=30,
    )

    wanted = {name for expr in _exprs(json.loads(DASHBOARD.read_text())) for name, _ in _metrics_in(expr)}
    wanted |= _documented()
    assert {"workqueue_queue_duration_seconds_bucket", "kubefed_scheduler_replicas_planned"} <= wanted
    missing = wanted
    for _ in range(40):  # scrapes, 0.5 s apart: the last observations may still be on their way
        missing = wanted - await _scrape(cp)
        if not missing:
            break
        await asyncio.sleep(0.5)
    assert not missing, f"named by the dashboard or docs/deploy.md but never recorded: {sorted(missing)}"
    # the controller runtime's gauges are live, not only defined
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{cp.health_ports['scheduler']}/metrics") as resp:
            text = await resp.text()
    assert re.search(
        r'^controller_runtime_max_concurrent_reconciles\{controller="scheduler"\} 8\.0$', text, re.M
    )
    assert re.search(r'^controller_runtime_active_workers\{controller="scheduler"\} ', text, re.M)
