"""The dashboard and the alerts, proven by a real Prometheus (tier ``prometheus``).

Debian's ``prometheus`` runs on loopback, scraping every second a running control plane: watcher,
scheduler, propagator and dns in this process (their one metrics registry served on a loopback port,
with the target label ``namespace="kube-federation-system"`` that Kubernetes discovery would add),
a private nats-server, simulated host and two members over TLS, and a few changes a second. It loads
deploy/prometheus/kubefed-rules.yaml with every range window and ``for:`` divided by 30
(``_prom.compress``; ``promtool test rules`` covers the shipped durations). Then, through the HTTP API:

1. every PromQL expression of every panel of deploy/grafana/kubefed-dashboard.json (``$namespace`` the
   control plane's, ``$cluster`` all, ``$__rate_interval`` 10s), as a range query over the run, has data
   (at least one series with a number); every ``label_values`` variable finds its label;
2. every rule evaluates without error, and once warmed up no alert is pending or firing;
3. faults, one at a time, each until the named alert is *firing* with the expected labels, then undone:

   ======================================  =============================================================
   fault                                   alert
   ======================================  =============================================================
   member cluster2 offline                 KubefedMemberClusterNotReady{cluster="cluster2"}
   cluster1 answers every request in 6 s   KubefedPropagationLatencySLOBurn{cluster="cluster1", critical}
   host refuses federated objects in the   KubefedDecisionsFailing{controller="scheduler"} and
   namespace (HTTP 500)                    KubefedConsumerBacklog{consumer="scheduler"}
   nats-server killed                      KubefedNATSDisconnected (every service) and
                                           KubefedLeaderMissing{name="kubefed-watcher"}
   ======================================  =============================================================

   KubefedEventsDropped is the one alert without an injected fault (filling the recorder's queue of
   1000 Events takes a host that refuses Events for minutes): its series is scraped and the alert stays
   inactive throughout; promtool's unit test makes it fire.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import start_http_server

from kubefed.natsd import NatsServer, free_port
from services.dns import StaticResolver
from shared.telemetry import metrics
from sim import Fleet, run_fleet
from sim._patching import MERGE_PATCH
from tests.observability._prom import (
    DASHBOARD,
    RULES,
    Prometheus,
    alert_names,
    compress,
    dashboard_queries,
    dashboard_variables,
)
from tests.support.plane import ControlPlane, eventually, federate_namespace, ready, start_dns
from tests.support.tools import require

pytestmark = [pytest.mark.prometheus, pytest.mark.timeout(600)]

NS = "kube-federation-system"
FACTOR = 30
OBJECTS = 5
RATE_INTERVAL = "10s"


def _reset_metrics() -> None:
    """This process's registry may hold series of earlier tests (a member left not Ready, say)."""
    metrics.clear_series()


def _patch_directly(fleet: Fleet, namespace: str, name: str, data: dict[str, str]) -> None:
    """A change made in the host's store, past the HTTP faults the test injects."""
    store = fleet["host"].store
    rt = store.registry.lookup("types.kubefed.io", "v1beta1", "federatedconfigmaps")
    assert rt is not None
    store.patch(rt, namespace, name, MERGE_PATCH, {"spec": {"template": {"data": data}}})


async def _changes(fleet: Fleet, stop: asyncio.Event) -> None:
    """One change a second, round robin over the FederatedConfigMaps."""
    n = 0
    while not stop.is_set():
        n += 1
        _patch_directly(fleet, "fed", f"settings-{n % OBJECTS}", {"n": str(n)})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


def _manifests() -> list[dict[str, Any]]:
    labels = {"app": "web"}
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "types.kubefed.io/v1beta1",
            "kind": "FederatedConfigMap",
            "metadata": {"name": f"settings-{i}", "namespace": "fed"},
            "spec": {"placement": {"clusterSelector": {}}, "template": {"data": {"n": "0"}}},
        }
        for i in range(OBJECTS)
    ]
    docs += [
        {
            "apiVersion": "types.kubefed.io/v1beta1",
            "kind": "FederatedDeployment",
            "metadata": {"name": "web", "namespace": "fed"},
            "spec": {
                "placement": {"clusterSelector": {}},
                "template": {
                    "spec": {
                        "replicas": 2,
                        "selector": {"matchLabels": labels},
                        "template": {
                            "metadata": {"labels": labels},
                            "spec": {"containers": [{"name": "web", "image": "nginx"}]},
                        },
                    }
                },
            },
        },
        {
            "apiVersion": "scheduling.kubefed.io/v1alpha1",
            "kind": "ReplicaSchedulingPreference",
            "metadata": {"name": "web", "namespace": "fed"},
            "spec": {
                "targetKind": "FederatedDeployment",
                "totalReplicas": 6,
                "clusters": {"cluster1": {"weight": 1}, "cluster2": {"weight": 2}},
            },
        },
    ]
    return docs


def _substitute(expr: str) -> str:
    return (
        expr.replace("$__rate_interval", RATE_INTERVAL)
        .replace('=~"$namespace"', f'=~"{NS}"')
        .replace('=~"$cluster"', '=~".*"')
    )


def _has_number(series: list[dict[str, Any]]) -> bool:
    return any(
        not math.isnan(float(v)) for s in series for _, v in s.get("values") or [s.get("value", [0, "NaN"])]
    )


async def _firing(
    prom: Prometheus, alert: str, labels: dict[str, str], timeout: float = 120
) -> dict[str, Any]:
    """Wait until ``alert`` with ``labels`` is firing; returns it."""
    deadline = time.monotonic() + timeout
    seen: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        seen = await asyncio.to_thread(prom.alerts)
        for a in seen:
            if (
                a["labels"].get("alertname") == alert
                and a["state"] == "firing"
                and all(a["labels"].get(k) == v for k, v in labels.items())
            ):
                return a
        await asyncio.sleep(0.5)
    raise AssertionError(
        f"{alert} {labels} not firing within {timeout:.0f} s; active: "
        f"{[(a['labels'], a['state']) for a in seen]}"
    )


async def _quiet(prom: Prometheus, timeout: float = 120) -> None:
    """Wait until no alert is pending or firing."""
    deadline = time.monotonic() + timeout
    active: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        active = await asyncio.to_thread(prom.alerts)
        if not active:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(
        f"alerts still active after {timeout:.0f} s of a healthy control plane: "
        f"{[(a['labels'], a['state']) for a in active]}"
    )


async def _during(
    fault: Callable[[], Awaitable[None]],
    undo: Callable[[], Awaitable[None]],
    check: Callable[[], Awaitable[Any]],
) -> Any:
    await fault()
    try:
        return await check()
    finally:
        await undo()


async def test_every_dashboard_query_has_data_and_every_alert_fires_on_its_fault(tmp_path: Path) -> None:
    binary = require("prometheus", tier="prometheus")["prometheus"]
    _reset_metrics()
    port = free_port()
    server, _thread = start_http_server(port, addr="127.0.0.1", registry=metrics.registry)
    rules = yaml.safe_load(RULES.read_text())
    rules_path = tmp_path / "rules.yaml"
    rules_path.write_text(yaml.safe_dump(compress(rules, FACTOR)))
    prom = Prometheus(
        binary, tmp_path / "prometheus", [f"127.0.0.1:{port}"], rules_path, labels={"namespace": NS}
    )
    nats = NatsServer().start()
    stop_changes = asyncio.Event()
    changes: asyncio.Task[None] | None = None
    try:
        await asyncio.to_thread(prom.wait_ready)
        started = time.time()
        async with run_fleet(
            ["host", "cluster1", "cluster2"], tls=True, kubeconfig_path=tmp_path / "kubeconfig"
        ) as fleet:
            cp = ControlPlane(fleet, nats.url, tmp_path)
            try:
                # health every second with room for the slow-member fault; short leases (LeaderMissing)
                await cp.install_kubefed_api(
                    {
                        "clusterHealthCheck": {"period": "1s", "timeout": "15s"},
                        "leaderElect": {"leaseDuration": "4s", "renewDeadline": "3s", "retryPeriod": "1s"},
                    }
                )
                await cp.start_federation()
                start_dns(cp, resolver=StaticResolver({}))
                await federate_namespace(cp, "fed")
                await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump_all(_manifests()))
                await eventually(
                    lambda: all(
                        cp.member_object(m, "", "configmaps", "fed", f"settings-{i}")
                        for m in ("cluster1", "cluster2")
                        for i in range(OBJECTS)
                    ),
                    timeout=60,
                )
                changes = asyncio.create_task(_changes(fleet, stop_changes), name="changes")
                await asyncio.sleep(25)  # two and a half rate intervals of steady changes

                # 1. every dashboard query has data over the run
                end = time.time()
                empty = []
                dash = json.loads(DASHBOARD.read_text())
                queries = dashboard_queries(dash)
                for title, expr in queries:
                    series = await asyncio.to_thread(prom.query_range, _substitute(expr), started, end, 1.0)
                    if not _has_number(series):
                        empty.append((title, expr))
                assert not empty, f"dashboard queries without data: {empty}"
                for variable, metric, label in dashboard_variables(dash):
                    values = {s["metric"].get(label) for s in await asyncio.to_thread(prom.query, metric)} - {
                        None
                    }
                    assert values, f"variable {variable}: no {label} on {metric}"
                print(f"\n{len(queries)} dashboard queries, all with data")

                # 2. every rule healthy; a healthy control plane raises no alert
                bad = [
                    (r["name"], r.get("lastError"))
                    for r in await asyncio.to_thread(prom.rules)
                    if r["health"] != "ok"
                ]
                assert not bad, bad
                await _quiet(prom)
                assert await asyncio.to_thread(prom.query, "kubefed_events_dropped_total")
                fired: dict[str, float] = {}

                # 3. faults
                async def not_ready() -> None:
                    t = time.monotonic()
                    await _firing(prom, "KubefedMemberClusterNotReady", {"cluster": "cluster2"})
                    fired["KubefedMemberClusterNotReady"] = time.monotonic() - t

                async def back_online() -> None:
                    await fleet["cluster2"].go_online()
                    await eventually(lambda: ready(cp, "cluster2"), timeout=60)

                await _during(fleet["cluster2"].go_offline, back_online, not_ready)

                async def slow() -> None:
                    fleet["cluster1"].set_latency(6.0)

                async def fast() -> None:
                    fleet["cluster1"].set_latency(0.0)

                async def burn() -> None:
                    t = time.monotonic()
                    await _firing(
                        prom,
                        "KubefedPropagationLatencySLOBurn",
                        {"cluster": "cluster1", "severity": "critical"},
                        timeout=180,
                    )
                    fired["KubefedPropagationLatencySLOBurn"] = time.monotonic() - t

                await _during(slow, fast, burn)

                async def refuse() -> None:
                    fleet["host"].set_error_rate(
                        1.0, 500, path_prefix="/apis/types.kubefed.io/v1beta1/namespaces/fed/"
                    )

                async def accept() -> None:
                    fleet["host"].set_error_rate(0.0)

                async def failing() -> None:
                    t = time.monotonic()
                    await _firing(prom, "KubefedDecisionsFailing", {"controller": "scheduler"})
                    fired["KubefedDecisionsFailing"] = time.monotonic() - t
                    await _firing(prom, "KubefedConsumerBacklog", {"consumer": "scheduler"})
                    fired["KubefedConsumerBacklog"] = time.monotonic() - t

                await _during(refuse, accept, failing)

                async def kill() -> None:
                    nats.kill()

                async def restart() -> None:
                    nats.start()

                async def disconnected() -> None:
                    t = time.monotonic()
                    for service in ("watcher", "scheduler", "propagator", "dns"):
                        await _firing(prom, "KubefedNATSDisconnected", {"service": service})
                    fired["KubefedNATSDisconnected"] = time.monotonic() - t
                    await _firing(prom, "KubefedLeaderMissing", {"name": "kubefed-watcher"})
                    fired["KubefedLeaderMissing"] = time.monotonic() - t

                await _during(kill, restart, disconnected)
                active = {a["labels"]["alertname"] for a in await asyncio.to_thread(prom.alerts)}
                assert "KubefedEventsDropped" not in active
                assert set(fired) | {"KubefedEventsDropped"} == set(alert_names(rules))
                print(
                    "firing after the fault (compressed x30): "
                    + ", ".join(f"{a} {s:.0f} s" for a, s in fired.items())
                )
            finally:
                stop_changes.set()
                if changes is not None:
                    await changes
                await cp.stop_all()
    finally:
        nats.close()
        prom.close()
        server.shutdown()
        server.server_close()
