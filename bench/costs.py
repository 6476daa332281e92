"""Cost curves: RSS and CPU seconds of each service against fleet size and against object count.

Two series (scenarios ``costs`` and ``objects``), each point a fresh or staged environment
(``bench._env.Env``, every service its own process, members in simulator processes of up to 2,000 members):

- fleet: N members joined and Ready, the pipeline quiet → RSS of each service ("ready"); then a burst
  of ``burst_objects`` FederatedConfigMaps to all N members → CPU seconds of each service per member
  write, and RSS again ("loaded").
- objects: 10 members; the host is topped up to each object count in turn by bursts, and RSS is read
  once the pipeline is quiet. The first point (the 10-member environment before any object) also
  gives the idle RSS of every service, the DNS service included (started only for that reading), and
  the CPU per write of a plain kubernetes-asyncio client writing the same ConfigMaps (the ceiling).
  After the last point every service is restarted (SIGTERM, start again) and the restart resync at
  the largest object count is timed, with the member writes it made (``bench.throughput.resync``).

Marginal costs are least-squares slopes over the points: MB per member cluster, MB per 1,000 objects,
CPU-ms per member write. "pipeline" sums watcher, scheduler and propagator (DNS has no work in these
scenarios). Every figure is a single run on a machine that may be shared; the JSON says which.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

from bench._common import federate_and_wait, r, wait_quiet
from bench._env import Env, log, proc_usage
from bench._watch import MemberObserver
from bench.throughput import burst, ceiling, resync

SERVICES = ("watcher", "scheduler", "propagator")
PIPELINE = "pipeline"


def slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (x, y) points; None with fewer than two distinct x."""
    if len({x for x, _ in points}) < 2:
        return None
    return statistics.linear_regression([x for x, _ in points], [y for _, y in points]).slope


def _rss(env: Env) -> dict[str, float | None]:
    return {n: r(rss) for n, (rss, _) in env.usage().items()}


def _cpu_ms_per_write(cpu_seconds: dict[str, Any], writes: int) -> dict[str, float | None]:
    out = {s: r(cpu_seconds[s] * 1000 / writes, 3) for s in SERVICES if cpu_seconds.get(s) is not None}
    out[PIPELINE] = r(sum(cpu_seconds.get(s) or 0.0 for s in SERVICES) * 1000 / writes, 3)
    return out


async def fleet_point(members: int, burst_objects: int) -> dict[str, Any]:
    env = Env(members, label=f"cost{members}")
    try:
        t0 = time.perf_counter()
        await env.start()
        await env.join()
        await env.start_pipeline()
        await env.wait_services_ready(timeout=900)
        await env.wait_ready_members(timeout=900)
        await wait_quiet(env, None, window=2.0, timeout=300)
        ready = _rss(env)
        log(f"  cost@{members} members ready: " + ", ".join(f"{s} {ready.get(s)} MB" for s in SERVICES))
        await federate_and_wait(env, "cost", timeout=300 + members)
        obs = MemberObserver(env, env.member_names, "/api/v1/namespaces/cost/configmaps")
        await obs.start()
        b = await burst(env, obs, burst_objects, "cost", prefix="k")
        await obs.stop()
        await wait_quiet(env, None, window=2.0, timeout=300)
        writes = burst_objects * members
        scrapes = {s.kind: await env.exposition_size(s) for s in env.services.values() if s.kind in SERVICES}
        return {
            "metrics_series": {k: v["series"] for k, v in scrapes.items()},
            "metrics_bytes": {k: v["bytes"] for k, v in scrapes.items()},
            "members": members,
            "rss_mb_ready": ready,
            "rss_mb_loaded": _rss(env),
            "burst_objects": burst_objects,
            "member_writes": writes,
            "burst_seconds": b["seconds"],
            "cpu_seconds": b["cpu_seconds"],
            "cpu_ms_per_member_write": _cpu_ms_per_write(b["cpu_seconds"], writes),
            "setup_seconds": r(time.perf_counter() - t0, 1),
        }
    finally:
        await env.close()


async def object_points(counts: list[int], members: int = 10, ceiling_objects: int = 200) -> dict[str, Any]:
    env = Env(members, label="costobj")
    out: dict[str, Any] = {"members": members, "points": []}
    try:
        await env.start()
        await env.join()
        await env.start_pipeline()
        await env.start_service("dns", "dns")
        await env.wait_services_ready(timeout=600)
        await env.wait_ready_members(timeout=600)
        await wait_quiet(env, None, window=3.0, timeout=300)
        out["rss_mb_idle"] = _rss(env)
        log("  idle RSS: " + ", ".join(f"{k} {v} MB" for k, v in out["rss_mb_idle"].items()))
        await env.stop_service("dns")
        out["points"].append({"objects": 0, "rss_mb": _rss(env)})
        bench_cpu0 = proc_usage(os.getpid())[1]
        c = await ceiling(env, ceiling_objects)
        c["cpu_seconds"] = r(proc_usage(os.getpid())[1] - bench_cpu0, 2)
        c["cpu_ms_per_write"] = r(c["cpu_seconds"] * 1000 / (ceiling_objects * members), 3)
        out["ceiling"] = c
        await federate_and_wait(env, "objs")
        obs = MemberObserver(env, env.member_names, "/api/v1/namespaces/objs/configmaps")
        await obs.start()
        total = 0
        cpu: dict[str, float] = {}
        for target in counts:
            b = await burst(env, obs, target - total, "objs", prefix=f"s{target}-")
            for k, v in b["cpu_seconds"].items():
                cpu[k] = cpu.get(k, 0.0) + (v or 0.0)
            total = target
            await wait_quiet(env, obs, window=2.0, timeout=600)
            point = {"objects": total, "rss_mb": _rss(env), "burst_writes_per_s": b["writes_per_s"]}
            out["points"].append(point)
            log(f"  cost@{total} objects: " + ", ".join(f"{s} {point['rss_mb'].get(s)} MB" for s in SERVICES))
        if total:
            out["resync"] = await resync(env, obs, total)
        await obs.stop()
        out["member_writes"] = total * members
        out["cpu_seconds"] = {k: r(v, 2) for k, v in cpu.items()}
        out["cpu_ms_per_member_write"] = _cpu_ms_per_write(cpu, total * members) if total else {}
        return out
    finally:
        await env.close()


async def run_fleet(fleet_sizes: list[int], burst_objects: int = 20) -> dict[str, Any]:
    """The fleet series (scenario ``costs``); a point that fails is recorded under ``errors`` and ends
    the series (larger fleets would fail the same way), the points measured before it are kept."""
    res: dict[str, Any] = {"fleet": [], "errors": {}}
    for n in fleet_sizes:
        try:
            res["fleet"].append(await fleet_point(n, burst_objects))
        except Exception as exc:
            log(f"  cost point at {n} members failed: {exc!r}")
            res["errors"][f"fleet{n}"] = repr(exc)
            break
    return res


def series(scenarios: dict[str, Any]) -> dict[str, Any]:
    """Both series of a run's scenarios: the fleet series of ``costs`` and the object series of
    ``objects`` (results written before the two were separate scenarios hold it in ``costs``)."""
    fleet_run = scenarios.get("costs") or {}
    return {
        "fleet": fleet_run.get("fleet") or [],
        "objects": scenarios.get("objects") or fleet_run.get("objects") or {},
    }


def summarize(res: dict[str, Any]) -> dict[str, Any]:
    """The keys of issue #18 that these curves give (absent when not measured)."""
    out: dict[str, Any] = {}
    fleet, objs = res.get("fleet") or [], res.get("objects") or {}
    per_cluster = {
        s: slope([(p["members"], p["rss_mb_ready"][s]) for p in fleet if p["rss_mb_ready"].get(s)])
        for s in SERVICES
    }
    out["cost_mb_per_cluster"] = {s: round(v, 4) for s, v in per_cluster.items() if v is not None}
    per_k = {
        s: slope(
            [(p["objects"] / 1000, p["rss_mb"][s]) for p in objs.get("points", []) if p["rss_mb"].get(s)]
        )
        for s in SERVICES
    }
    out["cost_mb_per_1000_objects"] = {s: round(v, 3) for s, v in per_k.items() if v is not None}
    cpu = dict(objs.get("cpu_ms_per_member_write") or {})
    if objs.get("ceiling"):
        cpu["bare_client"] = objs["ceiling"]["cpu_ms_per_write"]
    out["cpu_ms_per_member_write"] = cpu
    per_cluster_series = {
        s: slope([(p["members"], p["metrics_series"][s]) for p in fleet if s in p.get("metrics_series", {})])
        for s in SERVICES
    }
    out["metrics_series_per_cluster"] = {
        s: round(v, 1) for s, v in per_cluster_series.items() if v is not None
    }
    out["cpu_ms_per_member_write_by_fleet"] = {str(p["members"]): p["cpu_ms_per_member_write"] for p in fleet}
    if objs.get("rss_mb_idle"):
        out["rss_mb_idle"] = {s: v for s, v in objs["rss_mb_idle"].items() if s in (*SERVICES, "dns")}
    for p in objs.get("points", []):
        if p["objects"] == 10_000:
            out["propagator_rss_mb_10k_x10"] = p["rss_mb"].get("propagator")
    rs = objs.get("resync") or {}
    if rs.get("objects") == 100_000:
        out["resync_seconds_100k"] = rs["seconds"]
        out["resync_member_writes_100k"] = rs["member_resource_version_delta"]
        out["rss_mb_100k_x10"] = next(
            (p["rss_mb"] for p in objs.get("points", []) if p["objects"] == 100_000), None
        )
    return out


def chart(res: dict[str, Any], path: Any, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    fleet, objs = res.get("fleet") or [], res.get("objects") or {}
    ax = axes[0]
    for s in SERVICES:
        pts = [(p["members"], p["rss_mb_ready"].get(s)) for p in fleet]
        ax.plot([x for x, _ in pts], [y for _, y in pts], marker="o", label=s)
    ax.set_xlabel("member clusters (Ready, pipeline quiet)")
    ax.set_ylabel("RSS (MB)")
    ax.set_title("Memory vs fleet size")
    ax.legend(fontsize=8)
    ax = axes[1]
    for s in SERVICES:
        pts = [(p["objects"], p["rss_mb"].get(s)) for p in objs.get("points", [])]
        ax.plot([x for x, _ in pts], [y for _, y in pts], marker="o", label=s)
    ax.set_xlabel(f"federated objects (x {objs.get('members', 10)} members)")
    ax.set_ylabel("RSS (MB)")
    ax.set_title("Memory vs object count")
    ax.legend(fontsize=8)
    ax = axes[2]
    for s in (*SERVICES, PIPELINE):
        pts = [(p["members"], p["cpu_ms_per_member_write"].get(s)) for p in fleet]
        ax.plot([x for x, _ in pts], [y for _, y in pts], marker="o", label=s)
    if objs.get("ceiling"):
        ax.axhline(objs["ceiling"]["cpu_ms_per_write"], ls=":", color="grey", label="bare client")
    ax.set_xlabel("member clusters")
    ax.set_ylabel("CPU ms per member write")
    ax.set_title("CPU per member write vs fleet size")
    ax.legend(fontsize=8)
    for a in axes:
        a.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
