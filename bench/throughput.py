"""Throughput of a burst, its ceiling (a plain kubernetes-asyncio client), footprint, and restart resync.

One environment (10 members) serves all of it, in this order:

1. ceiling: a plain kubernetes-asyncio client per member writes the same ConfigMaps (the rendered
   objects: same data and labels) straight into the same simulated members, 16 concurrent writers per
   member (the shipped KubeFedConfig's ``syncController.maxConcurrentReconciles``), into a namespace the
   pipeline does not
   manage. Writes/s = objects × members / elapsed.
2. burst: the benchmark creates N FederatedConfigMaps on the host (16 concurrent writers) while the
   pipeline runs; member writes/s = N × members / (last member ADDED seen by our member watches − first
   host POST). The ratio to the ceiling is the headline.
3. footprint: RSS and CPU seconds of each service process (/proc) once converged.
4. resync: SIGTERM every service, start them again, and time until the propagator's /readyz is ready
   and no member write happened and the services' work counters stayed still for 3 s; member writes
   are counted by our watches and by the members' resourceVersion counters.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any, cast

from bench._common import fcm, fcm_path, federate_and_wait, r, wait_quiet
from bench._env import Env, log, proc_usage
from bench._watch import MemberObserver

WORKERS_PER_CLUSTER = 16


async def ceiling(env: Env, objects: int, ns: str = "ceiling") -> dict[str, Any]:
    from kubernetes_asyncio import client as k8s
    from kubernetes_asyncio import config

    apis = {
        m: await config.new_client_from_config(config_file=str(env.sim.kubeconfig), context=m)
        for m in env.member_names
    }
    try:
        for api in apis.values():
            await k8s.CoreV1Api(api).create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=ns)))
        t0 = time.perf_counter()
        done = 0

        async def member(m: str) -> None:
            core = k8s.CoreV1Api(apis[m])
            it = iter(range(objects))

            async def worker() -> None:
                nonlocal done
                for i in it:
                    # the object the pipeline renders from the same FederatedConfigMap template
                    template = fcm(f"c{i}", ns, i)["spec"]["template"]
                    body = {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "data": template["data"],
                        "metadata": {
                            "name": f"c{i}",
                            "namespace": ns,
                            "labels": template["metadata"]["labels"],
                        },
                    }
                    # a plain dict body, as the pipeline's writes are (the client serializes dicts
                    # as they are; its annotation names only the model class)
                    await core.create_namespaced_config_map(ns, cast("k8s.V1ConfigMap", body))
                    done += 1

            await asyncio.gather(*(worker() for _ in range(WORKERS_PER_CLUSTER)))

        async def progress() -> None:
            while True:
                await asyncio.sleep(2)
                log(f"    ceiling: {done}/{objects * len(apis)} writes")

        p = asyncio.create_task(progress())
        try:
            await asyncio.gather(*(member(m) for m in apis))
        finally:
            p.cancel()
        elapsed = time.perf_counter() - t0
    finally:
        for api in apis.values():
            await api.close()
    rate = objects * len(env.member_names) / elapsed
    log(
        f"  ceiling: {objects} objects × {len(env.member_names)} members in {elapsed:.1f}s = {rate:.0f} "
        "writes/s"
    )
    return {
        "objects": objects,
        "members": len(env.member_names),
        "seconds": r(elapsed, 2),
        "writes_per_s": r(rate),
    }


async def burst(
    env: Env, obs: MemberObserver, objects: int, ns: str, prefix: str = "b", timeout: float = 2400
) -> dict[str, Any]:
    """Create ``objects`` FederatedConfigMaps on the host and time until all are in every member."""
    members = len(obs.members)
    before_cpu = {n: u[1] for n, u in env.usage().items()}
    bench_cpu0 = proc_usage(os.getpid())[1]
    names = [f"{prefix}{i}" for i in range(objects)]
    t0 = time.perf_counter()
    host_task = asyncio.create_task(
        env.create_many([(fcm_path(ns), fcm(n, ns, i)) for i, n in enumerate(names)], concurrency=16)
    )
    host_done = 0.0
    last_log = t0
    while True:
        await asyncio.sleep(0.2)
        if host_task.done() and not host_done:
            host_task.result()
            host_done = time.perf_counter()
        complete = sum(1 for n in names if n in obs.complete)
        now = time.perf_counter()
        if now - last_log >= 3:
            seen = sum(obs.arrivals.get(n, 0) for n in names)
            log(
                f"    burst {prefix}: {seen}/{objects * members} member writes seen, {complete}/{objects} "
                "objects complete"
            )
            last_log = now
        if complete == objects:
            break
        if now - t0 > timeout:
            raise RuntimeError(f"burst not converged after {timeout}s: {complete}/{objects}")
    t_end = max(obs.complete[n] for n in names)
    t_first = min(obs.first_seen[(c, n)] for n in names for c in obs.members)
    elapsed = t_end - t0
    after = env.usage()
    cpu = {n: r(after[n][1] - c, 2) for n, c in before_cpu.items() if n in after}
    cpu["bench"] = r(proc_usage(os.getpid())[1] - bench_cpu0, 2)
    res = {
        "objects": objects,
        "members": members,
        "seconds": r(elapsed, 2),
        "writes_per_s": r(objects * members / elapsed),
        "host_writes_seconds": r(host_done - t0, 2) if host_done else None,
        "first_member_write_after_s": r(t_first - t0, 3),
        "watch_relists": obs.relists,
        "cpu_seconds": cpu,
    }
    log(
        f"  burst: {objects} objects × {members} members in {elapsed:.1f}s = {res['writes_per_s']} member "
        f"writes/s (host POSTs took {res['host_writes_seconds']}s)"
    )
    return res


def footprint(env: Env, objects: int) -> dict[str, Any]:
    out = {
        name: {"rss_mb": r(rss), "cpu_seconds_total": r(cpu, 2)} for name, (rss, cpu) in env.usage().items()
    }
    log(f"  footprint@{objects}: " + ", ".join(f"{n} {v['rss_mb']} MB" for n, v in out.items()))
    return out


async def resync(env: Env, obs: MemberObserver, objects: int) -> dict[str, Any]:
    await wait_quiet(env, obs, window=2.0, timeout=120)
    log("  resync: stopping every service (SIGTERM)")
    await env.stop_services()
    before = await env.sim_stats()
    cpu_before = {name: cpu for name, (_, cpu) in env.usage().items()}  # the simulator and nats-server
    w0 = obs.writes
    t0 = time.perf_counter()
    await env.start_pipeline()
    ready = await env.wait_services_ready(timeout=1800)
    t_ready = time.perf_counter()
    log(f"  resync: services ready {ready:.1f}s after restart; waiting for quiescence")
    t_last = await wait_quiet(env, obs, window=3.0, timeout=1800, since=t_ready)
    prop_requests = await env.rest_requests(env.services["propagator"])
    after = await env.sim_stats()
    members = obs.members
    writes_rv = sum(int(after[m]["resourceVersion"]) - int(before[m]["resourceVersion"]) for m in members)
    res = {
        "objects": objects,
        "members": len(members),
        "seconds": r(max(t_ready, t_last) - t0, 2),
        "ready_seconds": r(t_ready - t0, 2),
        "member_writes": obs.writes - w0,
        "member_resource_version_delta": writes_rv,
        "member_requests": sum(int(after[m]["requests"]) - int(before[m]["requests"]) for m in members),
        "propagator_requests_by_method": prop_requests,
        # CPU-seconds of each process from the restart to quiescence (the services are new processes)
        "cpu_seconds": {
            name: r(cpu - cpu_before.get(name, 0.0), 2) for name, (_, cpu) in env.usage().items()
        },
    }
    log(
        f"  resync: {res['seconds']}s until re-verified, {res['member_writes']} member writes "
        f"(RV delta {writes_rv}, {res['member_requests']} member requests)"
    )
    return res


async def run(
    objects: int,
    members: int = 10,
    extra_stage: int = 0,
    latency_samples: int = 0,
    latency_rate: float = 5.0,
    status_samples: int = 0,
) -> dict[str, Any]:
    """The 10-member environment: propagation latency and status latency first (light load), then
    ceiling, burst, footprint and resync."""
    from bench import propagation, status

    env = Env(members, label="tput")
    out: dict[str, Any] = {}
    try:
        await env.start()
        await env.join()
        await env.start_pipeline()
        await env.wait_services_ready()
        await env.wait_ready_members()
        out["footprint"] = {"0": footprint(env, 0)}
        total = 0
        if latency_samples:
            out["propagation"] = await propagation.measure(env, latency_samples, latency_rate)
            total += latency_samples + 1
        if status_samples:
            out["status"] = await status.run(env, propagation.NS, status_samples)
        if extra_stage:
            # top the host up to exactly `extra_stage` federated objects, then measure the footprint there
            extra_stage = max(extra_stage - total, 1)
            await federate_and_wait(env, "stage")
            obs0 = MemberObserver(env, env.member_names, "/api/v1/namespaces/stage/configmaps")
            await obs0.start()
            out["burst_small"] = await burst(env, obs0, extra_stage, "stage", prefix="s")
            await obs0.stop()
            total += extra_stage
            await wait_quiet(env, None, window=2.0, timeout=120)
            out["footprint"][str(total)] = footprint(env, total)
        out["ceiling"] = await ceiling(env, objects)
        await federate_and_wait(env, "burst")
        obs = MemberObserver(env, env.member_names, "/api/v1/namespaces/burst/configmaps")
        await obs.start()
        out["burst"] = await burst(env, obs, objects, "burst")
        out["burst"]["member_events"] = dict(obs.counts)
        total += objects
        await wait_quiet(env, obs, window=2.0, timeout=300)
        out["footprint"][str(total)] = footprint(env, total)
        out["resync"] = await resync(env, obs, total)
        await obs.stop()
        return out
    finally:
        await env.close()
