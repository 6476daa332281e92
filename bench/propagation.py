"""Propagation latency: host write → object present in every member, at a steady light load."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench._common import fcm, fcm_path, federate_and_wait, percentile, r
from bench._env import Env, log
from bench._watch import MemberObserver

NS = "lat"


async def run(clusters: int, samples: int, rate: float, status_samples: int = 0) -> dict[str, Any]:
    """``samples`` FederatedConfigMaps created one every 1/``rate`` s; latency = last member ADDED − POST sent."""
    env = Env(clusters, label=f"prop{clusters}")
    try:
        await env.start()
        await env.join()
        await env.start_pipeline()
        await env.wait_services_ready()
        t = await env.wait_ready_members()
        log(f"  {clusters} members Ready after {t:.1f}s")
        await federate_and_wait(env, NS)
        obs = MemberObserver(env, env.member_names, f"/api/v1/namespaces/{NS}/configmaps")
        await obs.start()
        # warm-up: one object end to end (connection pools, caches)
        await env.create(fcm_path(NS), fcm("warmup", NS))
        await obs.wait_complete("warmup", 60)
        latencies: list[float] = []
        per_cluster: list[float] = []

        async def one(i: int) -> None:
            name = f"o{i}"
            t0 = time.perf_counter()
            await env.create(fcm_path(NS), fcm(name, NS, i))
            done = await obs.wait_complete(name, 120)
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
        res = {"clusters": clusters, "samples": samples, "rate_per_s": rate,
               "p50_ms": r(percentile(latencies, 50)), "p99_ms": r(percentile(latencies, 99)),
               "max_ms": r(max(latencies)), "per_cluster_p50_ms": r(percentile(per_cluster, 50)),
               "per_cluster_p99_ms": r(percentile(per_cluster, 99)), "latencies_ms": [round(x, 1) for x in latencies]}
        log(f"  propagation@{clusters}: p50 {res['p50_ms']} ms, p99 {res['p99_ms']} ms (max {res['max_ms']} ms)")
        res["converged_clusters"] = clusters
        if status_samples:
            from bench import status

            res["status"] = await status.run(env, NS, status_samples)
        return res
    finally:
        await env.close()
