"""``python -m bench --mode quick|full``: run the benchmark suite, print a table, write JSON and a PNG.

Scenarios run one after another (never two at once); each has its own simulator process, nats-server
and service processes, and is torn down before the next. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any, TypedDict

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._env import log  # noqa: E402

RESULTS = ROOT / "bench" / "results"

# Sizes per mode. Quick must finish in under 3 minutes on a 2-core machine.
MODES: dict[str, dict[str, Any]] = {
    "quick": {
        "latency10": {"samples": 30, "rate": 5.0},
        "status_samples": 3,
        "latency100": {"samples": 15, "rate": 1.0},
        "burst_objects": 200,
        "footprint_stage": 0,
        "scaling_objects": 60,
        "max_clusters": [],  # the 100-member latency run is the largest fleet in quick mode
        # objects sent to each max_clusters fleet (--max-clusters N runs one in quick mode)
        "clusters_latency": {
            "samples": 3,
            "rate": 0.2,
            "large_fleet": {"from": 3000, "regions": 2, "health_period": "30s"},
        },
        # cost curves (bench/costs.py); 1,000+ members and 10,000+ objects only in full mode
        "cost_fleet": [10, 100, 300],
        "cost_objects": [1_000],
        # the failover scenario (a 3-server NATS cluster) runs in quick mode only with --only failover
        "failover": {"rate": 10.0, "before": 5.0, "down": 15.0, "after": 5.0},
    },
    "smoke": {  # every code path at toy sizes, for working on the benchmark itself
        "latency10": {"samples": 5, "rate": 5.0},
        "status_samples": 2,
        "latency100": {"samples": 3, "rate": 1.0},
        "burst_objects": 30,
        "footprint_stage": 20,
        "scaling_objects": 10,
        "max_clusters": [20],
        "clusters_latency": {"samples": 3, "rate": 0.2},
        "cost_fleet": [5, 20],
        "cost_objects": [50],
        "failover": {"rate": 5.0, "before": 3.0, "down": 10.0, "after": 3.0},
    },
    "full": {
        "latency10": {"samples": 200, "rate": 5.0},
        "status_samples": 20,
        "latency100": {"samples": 100, "rate": 1.0},
        "burst_objects": 10_000,
        "footprint_stage": 1_000,
        "scaling_objects": 1_000,
        "max_clusters": [1000, 5000],
        # at least 100 samples at 1,000 members and above (issue #18); 400 member writes/s at any size
        "clusters_latency": {
            "samples": 100,
            "member_writes_per_s": 400,
            "large_fleet": {"from": 3000, "regions": 2, "health_period": "30s"},
        },
        "cost_fleet": [10, 100, 300, 1000, 3000, 5000],
        "cost_objects": [1_000, 10_000, 100_000],
        "failover": {"rate": 10.0, "before": 10.0, "down": 20.0, "after": 10.0},
    },
}


class Goals(TypedDict):
    """The figures the benchmark is judged by (docs/performance.md)."""

    propagation_p99_ms: dict[str, float]
    throughput_ratio: float
    resync_seconds: float
    resync_member_writes: int
    max_clusters_converged: int
    rss_mb_idle: float
    cost_mb_per_cluster: dict[str, float]
    propagator_rss_mb_10k_x10: float
    pipeline_cpu_per_write_vs_bare_client: float


GOALS: Goals = {
    "propagation_p99_ms": {"10": 250.0, "100": 1000.0},
    "throughput_ratio": 0.9,  # issue #18 (issue #7 set 0.7)
    "resync_seconds": 60.0,
    "resync_member_writes": 0,
    "max_clusters_converged": 5000,
    # issue #18 (bench/costs.py)
    "rss_mb_idle": 60.0,
    "cost_mb_per_cluster": {"propagator": 0.25, "scheduler": 0.2},
    "propagator_rss_mb_10k_x10": 150.0,
    "pipeline_cpu_per_write_vs_bare_client": 1.0,
}


def git_commit() -> str:
    """The checkout's commit (+ "-dirty" with uncommitted changes outside bench/ and docs/): services are
    started from the working tree at the start of each scenario, so each scenario records it."""
    import subprocess

    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", ".", ":!bench", ":!docs"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return ""


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = (0.0, 0.0, 0.0)
    os_name = platform.platform()
    try:
        rel = dict(
            line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line
        )
        os_name = rel.get("PRETTY_NAME", os_name).strip('"')
    except OSError:
        pass
    return {
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "memory_gb": mem_gb,
        "python": platform.python_version(),
        "os": os_name,
        "kernel": platform.release(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "load_average_at_start": [round(x, 2) for x in load],
    }


async def run(
    mode: str, only: set[str], checkpoint: Path | None = None, resumed: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run the scenarios of ``mode`` (or ``only`` those). After each scenario the results so far are
    written to ``checkpoint``: a run of more than an hour that is stopped loses nothing it measured, and
    ``--resume`` continues it (the scenarios in ``resumed`` are kept, not run again)."""
    from bench import costs, failover, propagation, scaling, throughput

    cfg = MODES[mode]
    res: dict[str, Any] = {"mode": mode, "machine": machine(), "sizes": cfg, "scenarios": {}, "errors": {}}
    sc = res["scenarios"]
    earlier = (resumed or {}).get("scenarios") or {}

    async def step(name: str, coro: Any) -> None:
        if name in earlier:
            coro.close()
            sc[name] = earlier[name]
            log(f"== {name}: kept from the resumed run (code at {sc[name].get('git_commit')})")
            return
        t0 = time.perf_counter()
        commit = git_commit()
        log(f"== {name} (code at {commit})")
        try:
            sc[name] = await coro
            sc[name]["git_commit"] = commit
        except Exception as exc:
            traceback.print_exc()
            res["errors"][name] = repr(exc)
            log(f"== {name} FAILED: {exc!r}")
        log(f"== {name} took {time.perf_counter() - t0:.0f}s")
        if checkpoint is not None:
            await asyncio.to_thread(checkpoint.write_text, json.dumps(res, indent=1) + "\n")

    if not only or "ten" in only:
        await step(
            "ten",
            throughput.run(
                cfg["burst_objects"],
                10,
                extra_stage=cfg["footprint_stage"],
                latency_samples=cfg["latency10"]["samples"],
                latency_rate=cfg["latency10"]["rate"],
                status_samples=cfg["status_samples"],
            ),
        )
    if not only or "hundred" in only:
        await step("hundred", propagation.run(100, cfg["latency100"]["samples"], cfg["latency100"]["rate"]))
    if not only or "scaling" in only:
        await step("scaling", scaling.run(cfg["scaling_objects"], 10))
    if "failover" in only or (not only and mode != "quick"):
        await step("failover", failover.run(2, **cfg["failover"]))
    if not only or "objects" in only:
        await step("objects", costs.object_points(cfg["cost_objects"]))
    if not only or "costs" in only:
        await step("costs", costs.run_fleet(cfg["cost_fleet"]))
    if not only or "clusters" in only:
        lat = cfg["clusters_latency"]
        for n in cfg["max_clusters"]:
            # a fixed rate, or one that keeps member writes per second the same whatever the fleet size
            rate = lat.get("rate") or lat["member_writes_per_s"] / n
            # large fleets: sharded by region (one propagator each) and probed less often, as operators
            # run them
            large = lat.get("large_fleet") or {}
            shard = n >= large.get("from", 10**9)
            await step(
                f"clusters{n}",
                propagation.run(
                    n,
                    lat["samples"],
                    rate,
                    regions_count=large["regions"] if shard else 1,
                    health_period=large["health_period"] if shard else "10s",
                ),
            )
            if f"clusters{n}" in res["errors"]:
                break
    return res


def summarize(res: dict[str, Any]) -> dict[str, Any]:
    """The flat keys the issue asks for, derived from the scenario results."""
    sc = res["scenarios"]
    ten, hundred = sc.get("ten") or {}, sc.get("hundred") or {}
    out: dict[str, Any] = {"mode": res["mode"], "machine": res["machine"]}
    p50, p99, samples = {}, {}, {}
    blocks = [("10", ten.get("propagation")), ("100", hundred or None)]
    blocks += [(k.removeprefix("clusters"), v) for k, v in sc.items() if k.startswith("clusters") and v]
    for key, block in blocks:
        if block:
            p50[key], p99[key] = block["p50_ms"], block["p99_ms"]
            samples[key] = block.get("samples")
    out["propagation_p50_ms"], out["propagation_p99_ms"] = p50, p99
    out["propagation_samples"] = samples
    burst, ceiling = ten.get("burst") or {}, ten.get("ceiling") or {}
    out["throughput_objects"] = burst.get("objects")
    out["throughput_writes_per_s"] = burst.get("writes_per_s")
    out["ceiling_writes_per_s"] = ceiling.get("writes_per_s")
    out["throughput_ratio"] = (
        round(burst["writes_per_s"] / ceiling["writes_per_s"], 3) if burst and ceiling else None
    )
    rs = ten.get("resync") or {}
    out["resync_objects"] = rs.get("objects")
    out["resync_seconds"] = rs.get("seconds")
    out["resync_member_writes"] = rs.get("member_resource_version_delta")
    out["resync_member_write_requests"] = (
        sum(
            v
            for k, v in (rs.get("propagator_requests_by_method") or {}).items()
            if k in ("POST", "PUT", "PATCH", "DELETE")
        )
        if rs
        else None
    )
    st = ten.get("status") or {}
    out["status_p50_ms"], out["status_p99_ms"] = st.get("p50_ms"), st.get("p99_ms")
    converged = [0]
    for block in sc.values():
        if block and "converged_clusters" in block:
            converged.append(block["converged_clusters"])
    out["max_clusters_converged"] = max(converged) if len(converged) > 1 else None
    fp = ten.get("footprint") or {}
    services = ("watcher", "scheduler", "propagator")
    out["rss_mb"] = {objs: {s: v[s]["rss_mb"] for s in services if s in v} for objs, v in fp.items()}
    out["cpu_seconds"] = {
        objs: {s: v[s]["cpu_seconds_total"] for s in services if s in v} for objs, v in fp.items()
    }
    out["scaling_writes_per_s"] = {
        x["config"]: x["writes_per_s"] for x in (sc.get("scaling") or {}).get("runs", [])
    }
    if sc.get("costs") or sc.get("objects"):
        from bench import costs

        out.update(costs.summarize(costs.series(sc)))
    fo = sc.get("failover") or {}
    out["failover_propagation_p99_ms"], out["failover_longest_stall_ms"] = (
        fo.get("p99_ms"),
        fo.get("longest_stall_ms"),
    )
    return out


def keep_unmeasured(s: dict[str, Any], old: dict[str, Any], mode: str) -> dict[str, Any]:
    """With ``--merge`` over a run of another mode (e.g. ``--mode quick --only costs`` over the committed
    full run): copy into ``s`` the earlier run's figures this run did not measure; returns them."""
    if not old or old.get("mode") == mode:
        return {}
    meta = {"goals", "goal_status", "wall_seconds", "sizes", "merged_into_run_of", "errors", "details"}
    kept = {
        k: v
        for k, v in old.items()
        if k not in meta | {"kept_from_earlier_run", "mode", "machine"}
        and s.get(k) in (None, {}, [])
        # the provenance of a figure this run measured again (e.g. rss_mb_idle_run) goes with it
        and not (k.endswith("_run") and s.get(k.removesuffix("_run")) not in (None, {}, []))
    }
    s.update(kept)
    return kept


# the sizes each scenario group runs with (``--only`` names the groups)
SIZE_KEYS: dict[str, tuple[str, ...]] = {
    "ten": ("latency10", "status_samples", "burst_objects", "footprint_stage"),
    "hundred": ("latency100",),
    "scaling": ("scaling_objects",),
    "failover": ("failover",),
    "costs": ("cost_fleet",),
    "objects": ("cost_objects",),
    "clusters": ("max_clusters", "clusters_latency"),
}


def own_scenarios(doc: dict[str, Any]) -> set[str]:
    """The scenarios a results file's figures came from: its ``details`` also carry, for provenance,
    scenarios of an earlier run of another mode (``clusters<N>`` of a full run under a quick run),
    which its sizes say it did not run."""
    fleets = {f"clusters{n}" for n in (doc.get("sizes") or {}).get("max_clusters") or []}
    return {k for k in doc.get("details") or {} if not k.startswith("clusters") or k in fleets}


def merge_same_mode(res: dict[str, Any], old: dict[str, Any], only: set[str]) -> dict[str, Any]:
    """``--merge`` over a run of the same mode: the scenarios re-run replace the earlier ones, the
    earlier run's own other scenarios are kept in ``res`` (so the summary has their figures); returns the
    scenarios the earlier file carried only for provenance, to be written back to ``details`` as they
    were. Nothing happens for another mode (:func:`keep_unmeasured` handles that)."""
    if old.get("mode") != res["mode"]:
        return {}
    details = old.get("details") or {}
    own = own_scenarios(old)
    res["scenarios"] = {**{k: v for k, v in details.items() if k in own}, **res["scenarios"]}
    res["errors"] = {
        **{k: v for k, v in old.get("errors", {}).items() if not any(k.startswith(o) for o in only)},
        **res["errors"],
    }
    res["merged_from"] = old.get("machine", {}).get("date")
    res["wall_seconds"] = round(res.get("wall_seconds", 0) + old.get("wall_seconds", 0), 1)
    old_sizes = old.get("sizes") or {}
    rerun = {k for group, keys in SIZE_KEYS.items() if not only or group in only for k in keys}
    sizes = {**old_sizes, **{k: v for k, v in res["sizes"].items() if k in rerun or k not in old_sizes}}
    if "max_clusters" in rerun:  # fleets measured earlier stay the file's own
        sizes["max_clusters"] = sorted({*old_sizes.get("max_clusters", []), *res["sizes"]["max_clusters"]})
    res["sizes"] = sizes
    return {k: v for k, v in details.items() if k not in own and k not in res["scenarios"]}


def goal_marks(s: dict[str, Any]) -> dict[str, str]:
    def mark(value: Any, met: bool) -> str:
        return "n/a" if value is None else ("met" if met else "MISSED")

    marks: dict[str, str] = {}
    for k, limit in GOALS["propagation_p99_ms"].items():
        v = s["propagation_p99_ms"].get(k)
        marks[f"propagation_p99_{k}"] = mark(v, v is not None and v < limit)
    tr, rs = s.get("throughput_ratio"), s.get("resync_seconds")
    marks["throughput_ratio"] = mark(tr, tr is not None and tr >= GOALS["throughput_ratio"])
    marks["resync_seconds"] = mark(rs, rs is not None and rs < GOALS["resync_seconds"])
    for key in ("resync_member_writes", "resync_member_write_requests", "resync_member_writes_100k"):
        marks[key] = mark(s.get(key), s.get(key) == GOALS["resync_member_writes"])
    rs100k = s.get("resync_seconds_100k")
    marks["resync_seconds_100k"] = mark(rs100k, rs100k is not None and rs100k <= GOALS["resync_seconds"])
    for svc, v in (s.get("rss_mb_idle") or {}).items():
        marks[f"rss_mb_idle_{svc}"] = mark(v, v is not None and v <= GOALS["rss_mb_idle"])
    for svc, limit in GOALS["cost_mb_per_cluster"].items():
        v = (s.get("cost_mb_per_cluster") or {}).get(svc)
        marks[f"cost_mb_per_cluster_{svc}"] = mark(v, v is not None and v <= limit)
    p10k = s.get("propagator_rss_mb_10k_x10")
    marks["propagator_rss_mb_10k_x10"] = mark(
        p10k, p10k is not None and p10k <= GOALS["propagator_rss_mb_10k_x10"]
    )
    cpu = s.get("cpu_ms_per_member_write") or {}
    if cpu.get("pipeline") is not None and cpu.get("bare_client"):
        marks["cpu_pipeline_vs_bare_client"] = mark(
            cpu["pipeline"],
            cpu["pipeline"] <= cpu["bare_client"] * GOALS["pipeline_cpu_per_write_vs_bare_client"],
        )
    mc = s.get("max_clusters_converged") or 0
    marks["max_clusters_converged"] = (
        "met" if mc >= GOALS["max_clusters_converged"] else f"MISSED (run stopped at {mc})"
    )
    return marks


def table(s: dict[str, Any], marks: dict[str, str], res: dict[str, Any], markdown: bool = False) -> str:
    rows: list[tuple[str, str, str, str]] = []

    def add(figure: object, measured: object, goal: object, mark: object) -> None:
        rows.append((str(figure), str(measured), str(goal), str(mark)))

    for k in ("10", "100"):
        if k in s["propagation_p50_ms"]:
            add(
                f"propagation latency, {k} clusters",
                f"p50 {s['propagation_p50_ms'][k]} ms / p99 {s['propagation_p99_ms'][k]} ms",
                f"p99 < {GOALS['propagation_p99_ms'][k]:.0f} ms",
                marks[f"propagation_p99_{k}"],
            )
    if s.get("throughput_writes_per_s") is not None:
        add(
            f"throughput, burst of {s['throughput_objects']} objects x 10 clusters",
            f"{s['throughput_writes_per_s']} member writes/s",
            "",
            "",
        )
        add(
            "ceiling (plain kubernetes-asyncio, same concurrency)",
            f"{s['ceiling_writes_per_s']} writes/s",
            "",
            "",
        )
        add(
            "throughput / ceiling",
            f"{s['throughput_ratio']}",
            f">= {GOALS['throughput_ratio']}",
            marks["throughput_ratio"],
        )
    if s.get("resync_seconds") is not None:
        add(
            f"restart resync, {s['resync_objects']} objects x 10 clusters",
            f"{s['resync_seconds']} s",
            f"< {GOALS['resync_seconds']:.0f} s",
            marks["resync_seconds"],
        )
        add(
            "  member writes (changes seen on members)",
            s["resync_member_writes"],
            str(GOALS["resync_member_writes"]),
            marks["resync_member_writes"],
        )
        add(
            "  member write requests (PUT/POST/... sent)",
            s["resync_member_write_requests"],
            str(GOALS["resync_member_writes"]),
            marks["resync_member_write_requests"],
        )
    if s.get("resync_seconds_100k") is not None:
        add(
            "restart resync, 100,000 objects x 10 clusters",
            f"{s['resync_seconds_100k']} s, {s.get('resync_member_writes_100k')} member writes",
            f"<= {GOALS['resync_seconds']:.0f} s, {GOALS['resync_member_writes']} writes",
            f"{marks['resync_seconds_100k']} / {marks['resync_member_writes_100k']}",
        )
    if s.get("status_p99_ms") is not None:
        add(
            "status latency (member status -> host remoteStatus)",
            f"p50 {s['status_p50_ms']} ms / p99 {s['status_p99_ms']} ms",
            "",
            "",
        )
    for objs, v in s["rss_mb"].items():
        cpu = s["cpu_seconds"].get(objs, {})
        add(f"RSS / CPU s at {objs} objects", ", ".join(f"{k} {v[k]} MB/{cpu.get(k)}s" for k in v), "", "")
    add(
        "largest fleet converged",
        f"{s['max_clusters_converged']} members",
        f">= {GOALS['max_clusters_converged']}",
        marks["max_clusters_converged"],
    )
    for cfg, w in s["scaling_writes_per_s"].items():
        add(f"scaling: {cfg}", f"{w} member writes/s", "", "")
    for svc, v in (s.get("rss_mb_idle") or {}).items():
        add(
            f"idle RSS, {svc}",
            f"{v} MB",
            f"<= {GOALS['rss_mb_idle']:.0f} MB",
            marks.get(f"rss_mb_idle_{svc}", ""),
        )
    for svc, v in (s.get("cost_mb_per_cluster") or {}).items():
        limit = GOALS["cost_mb_per_cluster"].get(svc)
        add(
            f"RSS per member cluster, {svc}",
            f"{v} MB",
            f"<= {limit} MB" if limit else "",
            marks.get(f"cost_mb_per_cluster_{svc}", ""),
        )
    for svc, v in (s.get("metrics_series_per_cluster") or {}).items():
        add(f"/metrics series per member cluster, {svc}", f"{v}", "", "")
    for svc, v in (s.get("cost_mb_per_1000_objects") or {}).items():
        add(f"RSS per 1,000 objects (x 10 members), {svc}", f"{v} MB", "", "")
    if s.get("propagator_rss_mb_10k_x10") is not None:
        add(
            "propagator RSS, 10,000 objects x 10 members",
            f"{s['propagator_rss_mb_10k_x10']} MB",
            f"<= {GOALS['propagator_rss_mb_10k_x10']:.0f} MB",
            marks["propagator_rss_mb_10k_x10"],
        )
    for svc, v in (s.get("cpu_ms_per_member_write") or {}).items():
        add(
            f"CPU per member write, {svc}",
            f"{v} ms",
            "<= bare_client" if svc == "pipeline" else "",
            marks.get("cpu_pipeline_vs_bare_client", "") if svc == "pipeline" else "",
        )
    if s.get("failover_longest_stall_ms") is not None:
        add(
            "JetStream leader failover (3 servers, leader of KUBEFED_DESIRED killed)",
            f"p99 {s['failover_propagation_p99_ms']} ms / longest stall {s['failover_longest_stall_ms']} ms",
            "",
            "",
        )
    for name, err in res.get("errors", {}).items():
        add(f"FAILED scenario {name}", err[:80], "", "")
    if markdown:
        md = ["| figure | measured | goal | |", "| --- | --- | --- | --- |"]
        md += ["| " + " | ".join(x.replace("|", "/") for x in r) + " |" for r in rows]
        return "\n".join(md)
    w = [max(len(r[i]) for r in [*rows, ("figure", "measured", "goal", "")]) for i in range(4)]

    def line(r: tuple[str, str, str, str]) -> str:
        return "  ".join(x.ljust(w[i]) for i, x in enumerate(r))

    head = line(("figure", "measured", "goal", ""))
    return "\n".join([head, "-" * len(head), *map(line, rows)])


def chart(s: dict[str, Any], res: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    ax = axes[0]
    sc = res["scenarios"]
    for label, block in (
        ("10 clusters", (sc.get("ten") or {}).get("propagation")),
        ("100 clusters", sc.get("hundred")),
    ):
        if block and block.get("latencies_ms"):
            vals = sorted(block["latencies_ms"])
            ax.plot(vals, [(i + 1) / len(vals) for i in range(len(vals))], label=label)
    for limit in GOALS["propagation_p99_ms"].values():
        ax.axvline(limit, ls=":", color="grey")
    ax.set_xscale("log")
    ax.set_xlabel("host write -> present in every member (ms)")
    ax.set_ylabel("fraction of objects")
    ax.set_title("Propagation latency (CDF)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    ax = axes[1]
    names, vals = ["ceiling"], [s.get("ceiling_writes_per_s") or 0]
    names.append("pipeline")
    vals.append(s.get("throughput_writes_per_s") or 0)
    for cfg, w in s["scaling_writes_per_s"].items():
        names.append(
            cfg.replace(", ", "\n")
            .replace("propagators", "props")
            .replace("propagator", "prop")
            .replace("schedulers", "scheds")
            .replace("scheduler", "sched")
        )
        vals.append(w or 0)
    ax.bar(range(len(vals)), vals, color=["grey", "tab:blue"] + ["tab:orange"] * (len(vals) - 2))
    ax.set_xticks(range(len(vals)), names, fontsize=7)
    ax.set_ylabel("member writes/s")
    ax.set_title(
        f"Throughput (burst {s.get('throughput_objects')} objs x 10 clusters; scaling "
        f"{res['sizes']['scaling_objects']} objs)",
        fontsize=9,
    )
    ax = axes[2]
    services = ("watcher", "scheduler", "propagator")
    keys = list(s["rss_mb"])
    width = 0.8 / max(len(keys), 1)
    for i, objs in enumerate(keys):
        ax.bar(
            [j + i * width for j in range(len(services))],
            [s["rss_mb"][objs].get(x, 0) for x in services],
            width,
            label=f"{objs} objects",
        )
    ax.set_xticks([j + width * (len(keys) - 1) / 2 for j in range(len(services))], services)
    ax.set_ylabel("RSS (MB)")
    ax.set_title("Resident memory per service")
    if keys:
        ax.legend(fontsize=8)
    fig.suptitle(
        f"kubefed-ng benchmark ({res['mode']}), {res['machine']['cpu_model']}, {res['machine']['cores']} "
        f"cores, {res['machine']['date']}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


async def _main(
    mode: str, only: set[str], checkpoint: Path | None = None, resumed: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``run`` with SIGTERM/SIGINT cancelling it, so every scenario's processes are cleaned up."""
    import signal

    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)  # type: ignore[union-attr]
    return await run(mode, only, checkpoint, resumed)


def results_document(res: dict[str, Any], old: dict[str, Any], only: set[str]) -> dict[str, Any]:
    """What ``latest.json`` gets from a finished run ``res``, merged (``--merge``) with the earlier file
    ``old`` (empty: no merge). Mutates ``res`` (its scenarios, errors and sizes become the merged ones)."""
    carried = merge_same_mode(res, old, only) if old else {}
    s = summarize(res)
    kept = keep_unmeasured(s, old, res["mode"])
    out = {
        **s,
        "goals": GOALS,
        "goal_status": goal_marks(s),
        "wall_seconds": res["wall_seconds"],
        "sizes": res["sizes"],
        "merged_into_run_of": res.get("merged_from"),
        "resumed_run": res.get("resumed_run"),
        "errors": res["errors"],
        "details": res["scenarios"],
    }
    if old and old.get("mode") != res["mode"]:
        out["kept_from_earlier_run"] = {
            "mode": old.get("mode"),
            "date": old.get("machine", {}).get("date"),
            "keys": sorted(kept),
        }
        out["details"] = {**old.get("details", {}), **res["scenarios"]}
    elif carried:
        out["details"] = {**carried, **res["scenarios"]}
        if old.get("kept_from_earlier_run"):
            out["kept_from_earlier_run"] = old["kept_from_earlier_run"]
    return out


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def size_overrides(args: argparse.Namespace, cfg: dict[str, Any]) -> dict[str, Any]:
    """The sizes given on the command line over the mode's ``cfg`` (the results' ``sizes`` say which
    ran)."""
    out: dict[str, Any] = {}
    if args.cost_fleet:
        out["cost_fleet"] = _ints(args.cost_fleet)
    if args.cost_objects:
        out["cost_objects"] = _ints(args.cost_objects)
    if args.max_clusters:
        out["max_clusters"] = _ints(args.max_clusters)
    if args.cluster_samples:
        samples, _, rate = args.cluster_samples.partition("@")
        out["clusters_latency"] = {
            **cfg["clusters_latency"],
            "samples": int(samples),
            "rate": float(rate or 0.2),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("--mode", choices=sorted(MODES), default="quick")
    ap.add_argument(
        "--only",
        default="",
        help="comma-separated subset: ten,hundred,scaling,failover,objects,costs,clusters",
    )
    ap.add_argument("--out", default=str(RESULTS / "latest.json"))
    ap.add_argument(
        "--merge",
        action="store_true",
        help="with --only: keep the other scenarios' results from --out (same mode) and replace the re-run "
        "ones; with another mode, keep the earlier run's figures this run did not measure (listed in "
        "kept_from_earlier_run)",
    )
    ap.add_argument(
        "--burst-objects",
        type=int,
        metavar="N",
        help="override the mode's burst size (for profiling runs; results say which size ran)",
    )
    ap.add_argument("--cost-fleet", metavar="N,N,...", help="override the cost curve's fleet sizes")
    ap.add_argument("--cost-objects", metavar="N,N,...", help="override the cost curve's object counts")
    ap.add_argument(
        "--max-clusters", metavar="N,N,...", help="override the fleet sizes of the clusters<N> scenario"
    )
    ap.add_argument(
        "--cluster-samples",
        metavar="SAMPLES@RATE",
        help="objects sent to each clusters<N> fleet and their rate per second (e.g. 120@0.5)",
    )
    ap.add_argument(
        "--resume",
        action="store_true",
        help="continue a stopped run of the same mode and sizes from its checkpoint (OUT.partial.json, "
        "written after each scenario): its finished scenarios are kept, the others run",
    )
    ap.add_argument(
        "--markdown", metavar="JSON", help="print the results table of an earlier run as Markdown and exit"
    )
    ap.add_argument(
        "--against",
        choices=("kubefed",),
        help="kubefed: this control plane and KubeFed v0.10.0 on same-size real fleets, one after the other "
        "(bench/vs_kubefed.py); writes bench/results/vs-kubefed.json",
    )
    args = ap.parse_args()
    if args.against == "kubefed":
        from bench import vs_kubefed

        result = vs_kubefed.run("full" if args.mode == "full" else "quick")
        print(vs_kubefed.markdown(result))
        return
    if args.markdown:
        earlier = json.loads(Path(args.markdown).read_text())
        print(table(earlier, earlier["goal_status"], {"errors": earlier.get("errors", {})}, markdown=True))
        return
    only = {x.strip() for x in args.only.split(",") if x.strip()}
    if args.burst_objects:
        MODES[args.mode] = {**MODES[args.mode], "burst_objects": args.burst_objects}
    MODES[args.mode] = {**MODES[args.mode], **size_overrides(args, MODES[args.mode])}
    checkpoint = Path(args.out).with_suffix(".partial.json")
    resumed: dict[str, Any] | None = None
    if args.resume:
        if not checkpoint.exists():
            ap.error(f"--resume: no checkpoint {checkpoint}")
        resumed = json.loads(checkpoint.read_text())
        if resumed.get("mode") != args.mode or resumed.get("sizes") != MODES[args.mode]:
            ap.error(f"--resume: {checkpoint} is a run of another mode or other sizes")
    t0 = time.perf_counter()
    res = asyncio.run(_main(args.mode, only, checkpoint, resumed))
    res["wall_seconds"] = round(time.perf_counter() - t0, 1)
    if resumed is not None:
        res["resumed_run"] = {"date": resumed["machine"].get("date"), "kept": sorted(resumed["scenarios"])}
    old: dict[str, Any] = {}
    if args.merge and Path(args.out).exists():
        old = json.loads(Path(args.out).read_text())
    out = s = results_document(res, old, only)
    marks = out["goal_status"]
    print()
    print(table(s, marks, res))
    print(
        f"\nmode {args.mode}, {res['wall_seconds']} s wall, {s['machine']['cpu_model']} x "
        f"{s['machine']['cores']}, {s['machine']['memory_gb']} GB, Python {s['machine']['python']}"
    )
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + "\n")
    checkpoint.unlink(missing_ok=True)  # the run is whole: nothing left to resume
    png = path.with_suffix(".png")
    try:
        chart(s, res, png)
    except Exception as exc:
        print(f"chart failed: {exc!r}")
    sc = res["scenarios"]
    if sc.get("costs") or sc.get("objects"):
        from bench import costs

        m = res["machine"]
        commits = sorted({str(sc[k].get("git_commit")) for k in ("costs", "objects") if sc.get(k)})
        try:
            costs.chart(
                costs.series(sc),
                path.with_name("costs.png"),
                f"kubefed-ng cost curves ({res['mode']}, commit {' / '.join(commits)}), "
                f"{m['cpu_model']}, {m['cores']} cores, {m['date']}",
            )
        except Exception as exc:
            print(f"cost chart failed: {exc!r}")
    print(f"wrote {path} and {png}")
    if res["errors"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
