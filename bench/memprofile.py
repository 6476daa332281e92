"""``python -m bench.memprofile [--sizes 100,300] [--objects 20]``: what grows per member cluster (or, with
``--sizes 10 --objects 1000,3000``, per federated object) in the propagator and the scheduler, from
tracemalloc snapshots at two points.

For each point: a fresh environment (members joined and Ready, the FederatedConfigMaps propagated to all,
pipeline quiet), the propagator and scheduler run with tracemalloc (``BENCH_TRACEMALLOC``), a snapshot
of each is taken (SIGUSR2), RSS is read. The report lists, per service, the allocation sites whose size
grew most between the two points, in KiB per added member (or object), and the RSS slope; it is printed
and written as JSON (``--out``). tracemalloc sees Python allocations only (not OpenSSL's), and slows the
services.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import time
import tracemalloc
from pathlib import Path
from typing import Any

os.environ.setdefault("BENCH_TRACEMALLOC", "propagator,scheduler")

from bench._common import federate_and_wait, r, wait_quiet
from bench._env import PROFILE_DIR, Env, log
from bench._watch import MemberObserver
from bench.throughput import burst

SERVICES = ("propagator", "scheduler")


async def point(members: int, objects: int) -> dict[str, Any]:
    env = Env(members, label=f"mem{members}x{objects}")
    try:
        await env.start()
        await env.join()
        await env.start_pipeline()
        await env.wait_services_ready(timeout=900)
        await env.wait_ready_members(timeout=900)
        await federate_and_wait(env, "mem", timeout=300 + members)
        obs = MemberObserver(env, env.member_names, "/api/v1/namespaces/mem/configmaps")
        await obs.start()
        await burst(env, obs, objects, "mem", prefix="m")
        await obs.stop()
        await wait_quiet(env, None, window=3.0, timeout=300)
        out: dict[str, Any] = {"members": members, "objects": objects, "rss_mb": {}, "snapshots": {}}
        for name in SERVICES:
            svc = env.services[name]
            out["rss_mb"][name] = r(svc.usage()[0])
            prefix = PROFILE_DIR / f"mem{members}x{objects}-{name}"
            before = set(PROFILE_DIR.glob(f"{prefix.name}-*.tracemalloc"))
            svc.proc.send_signal(signal.SIGUSR2)
            t0 = time.perf_counter()
            while not (set(PROFILE_DIR.glob(f"{prefix.name}-*.tracemalloc")) - before):
                if time.perf_counter() - t0 > 120:
                    raise RuntimeError(f"no tracemalloc snapshot from {name}")
                await asyncio.sleep(0.5)
            await asyncio.sleep(2)  # let the dump finish writing
            snap = max(set(PROFILE_DIR.glob(f"{prefix.name}-*.tracemalloc")) - before)
            out["snapshots"][name] = str(snap)
            peak = snap.with_suffix(".peak.json")
            if peak.exists():
                out.setdefault("traced_mb", {})[name] = {
                    k.replace("_bytes", ""): r(v / 2**20) for k, v in json.loads(peak.read_text()).items()
                }
        log(f"  mem@{members}: " + ", ".join(f"{k} {v} MB" for k, v in out["rss_mb"].items()))
        log(f"  mem@{members} traced (now/peak): {out.get('traced_mb')}")
        return out
    finally:
        await env.close()


def compare(
    small: dict[str, Any], large: dict[str, Any], top: int = 12, per: str = "members"
) -> dict[str, Any]:
    """Growth from ``small`` to ``large`` per added member (``per="members"``) or per added object."""
    added = large[per] - small[per]
    report: dict[str, Any] = {}
    for name in SERVICES:
        a = tracemalloc.Snapshot.load(small["snapshots"][name])
        b = tracemalloc.Snapshot.load(large["snapshots"][name])
        traced = (
            sum(s.size for s in b.statistics("filename")) - sum(s.size for s in a.statistics("filename"))
        ) / added
        sites = []
        for stat in b.compare_to(a, "traceback")[:top]:
            frames = [f"{Path(f.filename).name}:{f.lineno}" for f in list(stat.traceback)[::-1][:5]]
            sites.append(
                {"kib_per_member": round(stat.size_diff / added / 1024, 2), "where": " <- ".join(frames)}
            )
        peaks = [p.get("traced_mb", {}).get(name, {}).get("peak") for p in (small, large)]
        report[name] = {
            "rss_mb_per_member": r((large["rss_mb"][name] - small["rss_mb"][name]) / added, 4),
            "traced_peak_mb": peaks,
            "traced_kib_per_member": round(traced / 1024, 1),
            "top_sites": sites,
        }
    return report


async def main(sizes: list[int], objects: list[int]) -> dict[str, Any]:
    """Two fleet sizes at one object count (growth per member), or one fleet size at two object
    counts (growth per object)."""
    if len(objects) > 1:
        points = [await point(sizes[0], n) for n in objects]
        return {"points": points, "per_object": compare(points[0], points[-1], per="objects")}
    points = [await point(n, objects[0]) for n in sizes]
    return {"points": points, "per_member": compare(points[0], points[-1])}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(prog="python -m bench.memprofile", description=__doc__)
    ap.add_argument("--sizes", default="100,300")
    ap.add_argument(
        "--objects", default="20", help="objects propagated; two counts (with one size): growth per object"
    )
    ap.add_argument("--out", default=str(PROFILE_DIR / "memprofile.json"))
    args = ap.parse_args()
    res = asyncio.run(
        main([int(x) for x in args.sizes.split(",")], [int(x) for x in args.objects.split(",")])
    )
    Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
    unit = "member" if "per_member" in res else "object"
    for name, rep in (res.get("per_member") or res["per_object"]).items():
        print(
            f"{name}: RSS {rep['rss_mb_per_member']} MB/{unit}, "
            f"traced {rep['traced_kib_per_member']} KiB/{unit}, traced peak {rep['traced_peak_mb']} MB"
        )
        for site in rep["top_sites"]:
            print(f"  {site['kib_per_member']:8.2f} KiB/{unit}  {site['where']}")
    print(f"wrote {args.out}")
