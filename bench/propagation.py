"""Propagation latency: host write → object present in every member, at a steady light load."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench._common import fcm, fcm_path, federate_and_wait, percentile, r
from bench._env import Env, log
from bench._watch import MemberObserver

NS = "lat"


async def measure(env: Env, samples: int, rate: float) -> dict[str, Any]:
    """``samples`` FederatedConfigMaps created one every 1/``rate`` s; latency = last member ADDED − POST
    sent."""
    clusters = len(env.member_names)
    await federate_and_wait(env, NS, timeout=120 + clusters)
    obs = MemberObserver(env, env.member_names, f"/api/v1/namespaces/{NS}/configmaps")
    await obs.start()
    # warm-up: one object end to end (connection pools, caches)
    await env.create(fcm_path(NS), fcm("warmup", NS))
    await obs.wait_complete("warmup", 60 + clusters)
    latencies: list[float] = []
    per_cluster: list[float] = []

    async def one(i: int) -> None:
        name = f"o{i}"
        t0 = time.perf_counter()
        await env.create(fcm_path(NS), fcm(name, NS, i))
        done = await obs.wait_complete(name, 120 + clusters)
        latencies.append((done - t0) * 1000)
        per_cluster.extend((obs.first_seen[(c, name)] - t0) * 1000 for c in env.member_names)

    tasks = []
    log(f"  propagation@{clusters}: {samples} objects at {rate}/s")
    for i in range(samples):
        tasks.append(asyncio.create_task(one(i)))
        await asyncio.sleep(1 / rate)
        if (i + 1) % 50 == 0:
            log(f"    {i + 1}/{samples} sent, {len(latencies)} complete")
    await asyncio.gather(*tasks)
    await obs.stop()
    res = {
        "clusters": clusters,
        "samples": samples,
        "rate_per_s": rate,
        "p50_ms": r(percentile(latencies, 50)),
        "p99_ms": r(percentile(latencies, 99)),
        "max_ms": r(max(latencies)),
        "per_cluster_p50_ms": r(percentile(per_cluster, 50)),
        "per_cluster_p99_ms": r(percentile(per_cluster, 99)),
        "latencies_ms": [round(x, 1) for x in latencies],
    }
    log(f"  propagation@{clusters}: p50 {res['p50_ms']} ms, p99 {res['p99_ms']} ms (max {res['max_ms']} ms)")
    return res


def regions(members: list[str], count: int) -> dict[str, dict[str, str]]:
    """Members labelled ``region=r1..r<count>`` round-robin, as an operator shards a large fleet."""
    return {m: {"region": f"r{i % count + 1}"} for i, m in enumerate(members)}


async def run(
    clusters: int, samples: int, rate: float, regions_count: int = 1, health_period: str = "10s"
) -> dict[str, Any]:
    """A fresh environment with ``clusters`` members: join, wait Ready, measure; also reports
    whether every member converged (used for the cluster-count figure). With ``regions_count`` > 1 the
    members are labelled by region and each region has its own propagator (``--cluster-selector``)."""
    env = Env(clusters, label=f"prop{clusters}")
    try:
        t0 = time.perf_counter()
        await env.start(health_period=health_period)
        if regions_count > 1:
            await env.join(labels=regions(env.member_names, regions_count))
            await env.start_pipeline(
                propagator_selectors={f"propagator-r{k}": f"region=r{k}" for k in range(1, regions_count + 1)}
            )
        else:
            await env.join()
            await env.start_pipeline()
        await env.wait_services_ready(timeout=600)
        t = await env.wait_ready_members(timeout=600)
        log(f"  {clusters} members Ready after {t:.1f}s")
        res = await measure(env, samples, rate)
        res["converged_clusters"] = clusters
        res["propagators"] = regions_count
        res["health_period"] = health_period
        res["setup_seconds"] = r(time.perf_counter() - t0, 1)
        res["footprint"] = {
            name: {"rss_mb": r(rss), "cpu_seconds_total": r(cpu, 2)}
            for name, (rss, cpu) in env.usage().items()
        }
        return res
    finally:
        await env.close()
