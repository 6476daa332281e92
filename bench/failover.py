"""Propagation through a JetStream leader failover: three nats-servers, streams at 3 replicas.

FederatedConfigMaps are created at a steady rate; after a warm-up the nats-server that leads
``KUBEFED_DESIRED`` (the stream every decision goes through) is killed with SIGKILL, and started
again later. Reported: propagation latency (host POST → present in every member) over the whole run,
p50/p99/max, and the *longest stall*: the longest interval in which objects were waiting and none
completed, which is what a leader election costs the pipeline. Every object must arrive.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench._common import fcm, fcm_path, federate_and_wait, percentile, r
from bench._env import Env, log
from bench._watch import MemberObserver

NS = "failover"
STREAM = "KUBEFED_DESIRED"


def longest_stall(created: dict[str, float], done: dict[str, float]) -> float:
    """The longest time (s) during which at least one object was pending and none completed."""
    events = sorted([(t, 0, n) for n, t in created.items()] + [(t, 1, n) for n, t in done.items()])
    pending: set[str] = set()
    last_progress = 0.0
    worst = 0.0
    for t, kind, name in events:
        if kind == 0:
            if not pending:
                last_progress = t
            pending.add(name)
        else:
            if name in pending:
                worst = max(worst, t - last_progress)
                pending.discard(name)
                last_progress = t
    return worst


def _windows(created: dict[str, float], done: dict[str, float], t0: float) -> dict[int, list[float]]:
    out: dict[int, list[float]] = {}
    for name, t in created.items():
        if name in done:
            out.setdefault(int((t - t0) // 2), []).append((done[name] - t) * 1000)
    return out


async def run(
    members: int = 2, rate: float = 10.0, before: float = 10.0, down: float = 20.0, after: float = 10.0
) -> dict[str, Any]:
    env = Env(members, label="failover", nats_servers=3)
    try:
        await env.start()
        await env.join()
        await env.start_pipeline()
        await env.wait_services_ready(timeout=300)
        await env.wait_ready_members(timeout=300)
        await federate_and_wait(env, NS)
        obs = MemberObserver(env, env.member_names, f"/api/v1/namespaces/{NS}/configmaps")
        await obs.start()
        created: dict[str, float] = {}
        tasks: list[asyncio.Task[None]] = []

        async def one(i: int) -> None:
            name = f"o{i}"
            created[name] = time.perf_counter()
            await env.create(fcm_path(NS), fcm(name, NS, i))

        cluster = env.nats
        leader = ""
        killed_at = restarted_at = 0.0
        t0 = time.perf_counter()
        i = 0
        log(
            f"  failover: {rate}/s for {before + down + after:.0f}s; the {STREAM} leader is killed after "
            f"{before:.0f}s"
        )
        while (now := time.perf_counter() - t0) < before + down + after:
            if not leader and now >= before:
                leader = (await asyncio.to_thread(cluster.stream_leaders)).get(STREAM, "")
                cluster[leader].kill()
                killed_at = time.perf_counter()
                log(f"  failover: killed {leader} (leader of {STREAM})")
            if leader and not restarted_at and now >= before + down:
                await asyncio.to_thread(cluster[leader].start)
                restarted_at = time.perf_counter()
                log(f"  failover: restarted {leader}")
            tasks.append(asyncio.create_task(one(i)))
            i += 1
            await asyncio.sleep(1 / rate)
        await asyncio.gather(*tasks)
        deadline = time.perf_counter() + 120
        while len(obs.complete) < len(created) and time.perf_counter() < deadline:
            await asyncio.sleep(0.2)
        await obs.stop()
        latencies = [(obs.complete[n] - t) * 1000 for n, t in created.items() if n in obs.complete]
        during = [
            (obs.complete[n] - t) * 1000
            for n, t in created.items()
            if n in obs.complete and killed_at <= t < killed_at + 10
        ]
        res: dict[str, Any] = {
            "members": members,
            "rate_per_s": rate,
            "objects": len(created),
            "arrived": len(obs.complete),
            "killed": leader,
            "stream": STREAM,
            "p50_ms": r(percentile(latencies, 50)),
            "p99_ms": r(percentile(latencies, 99)),
            "max_ms": r(max(latencies, default=0.0)),
            "p99_first_10s_after_kill_ms": r(percentile(during, 99)),
            "longest_stall_ms": r(longest_stall(created, obs.complete) * 1000),
            "member_writes": obs.writes,
            # p99 latency of the objects created in each 2 s window, from the start of the run
            "p99_ms_by_window": {
                f"{w * 2}s": r(percentile(v, 99))
                for w, v in sorted(_windows(created, obs.complete, t0).items())
            },
        }
        log(
            f"  failover: p99 {res['p99_ms']} ms, longest stall {res['longest_stall_ms']} ms, "
            f"{res['arrived']}/{res['objects']} arrived, {obs.writes} member writes"
        )
        if res["arrived"] != res["objects"]:
            raise RuntimeError(f"{res['objects'] - res['arrived']} objects never arrived")
        return res
    finally:
        await env.close()


if __name__ == "__main__":
    import json

    print(json.dumps(asyncio.run(run()), indent=2))
