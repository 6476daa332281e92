"""Simulator benchmark: creates/s and watch events/s for 1 and for 1,000 clusters, memory per cluster.

Run ``python bench/sim_bench.py`` (``--quick`` for a smaller run). Throughput is measured end to
end over HTTP against ``python -m sim`` in a child process (so client and server each get a core),
driven by raw aiohttp clients; memory per empty cluster is the RSS growth of an in-process fleet
divided by its size. Results are printed and written to bench/results/sim.json.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout's `sim`, even if the editable install predates it

RESULTS = ROOT / "bench" / "results" / "sim.json"


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) * 1024
    return 0


async def memory_per_cluster(n: int) -> dict[str, float]:
    from sim import run_fleet

    gc.collect()
    before = rss_bytes()
    t0 = time.perf_counter()
    async with run_fleet([f"m{i}" for i in range(n)], tls=False) as _fleet:
        started = time.perf_counter() - t0
        await asyncio.sleep(0.5)  # let the controllers create the default service accounts
        gc.collect()
        after = rss_bytes()
    return {
        "clusters": n,
        "startSeconds": round(started, 2),
        "rssPerClusterKiB": round((after - before) / n / 1024, 1),
        "rssTotalMiB": round(after / 2**20, 1),
    }


class Sim:
    """``python -m sim`` in a child process."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.dir = tempfile.mkdtemp(prefix="sim-bench-")
        self.kubeconfig = Path(self.dir) / "kubeconfig"
        self.proc: asyncio.subprocess.Process | None = None
        self.admin = ""

    async def __aenter__(self) -> list[tuple[str, str]]:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "sim",
            "--count",
            str(self.count),
            "--prefix",
            "m",
            "--no-tls",
            "--kubeconfig",
            str(self.kubeconfig),
            "--pod-ready-delay",
            "1",
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        while True:
            line = (await asyncio.wait_for(self.proc.stdout.readline(), 120)).decode().strip()
            if line.startswith("admin: "):
                self.admin = line.split(" ", 1)[1]
            if line == "ready" or not line:
                break
        cfg = yaml.safe_load(self.kubeconfig.read_text())
        tokens = {u["name"]: u["user"]["token"] for u in cfg["users"]}
        return [(c["cluster"]["server"], tokens[c["name"]]) for c in cfg["clusters"]]

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            await self.proc.wait()


async def create_rate(
    session: aiohttp.ClientSession, targets: list[tuple[str, str]], total: int, concurrency: int, prefix: str
) -> float:
    counter = iter(range(total))

    async def worker() -> None:
        for i in counter:
            url, token = targets[i % len(targets)]
            body = {"metadata": {"name": f"{prefix}-{i}", "labels": {"bench": "yes"}}, "data": {"i": str(i)}}
            async with session.post(
                f"{url}/api/v1/namespaces/default/configmaps",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
            ) as r:
                if r.status != 201:
                    raise RuntimeError(f"create failed: {r.status} {await r.text()}")
                await r.read()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - t0)


async def watch_rate(
    session: aiohttp.ClientSession,
    targets: list[tuple[str, str]],
    watchers_per_target: int,
    creates_per_target: int,
    concurrency: int,
) -> dict[str, float]:
    """Open watches, create objects, and time until every watcher saw every event."""
    expected = watchers_per_target * creates_per_target * len(targets)
    received = 0
    done = asyncio.Event()
    responses = []
    # Watches hold their connection: give them their own unlimited pool so creators never wait.
    watch_session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=None, sock_read=None)
    )
    for url, token in targets:
        for _ in range(watchers_per_target):
            r = await watch_session.get(
                f"{url}/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=0"
                "&labelSelector=wave%3Dw",
                headers={"Authorization": f"Bearer {token}"},
            )
            responses.append(r)

    async def reader(r: aiohttp.ClientResponse) -> None:
        nonlocal received
        async for _line in r.content:
            received += 1
            if received >= expected:
                done.set()

    tasks = [asyncio.create_task(reader(r)) for r in responses]
    t0 = time.perf_counter()
    order = [(t, i) for i in range(creates_per_target) for t in range(len(targets))]
    it = iter(order)

    async def creator() -> None:
        for t, i in it:
            url, token = targets[t]
            body = {"metadata": {"name": f"wave-{i}", "labels": {"wave": "w"}}}
            async with session.post(
                f"{url}/api/v1/namespaces/default/configmaps",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
            ) as r:
                await r.read()

    await asyncio.gather(*(creator() for _ in range(concurrency)))
    await asyncio.wait_for(done.wait(), 120)
    elapsed = time.perf_counter() - t0
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for r in responses:
        r.close()
    await watch_session.close()
    return {"events": expected, "seconds": round(elapsed, 3), "eventsPerSecond": round(expected / elapsed, 1)}


async def run(quick: bool) -> dict[str, Any]:
    results: dict[str, Any] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    many = 200 if quick else 1000
    results["memory"] = await memory_per_cluster(many)
    creates_one = 1000 if quick else 4000
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:
        async with Sim(1) as targets:
            rate = await create_rate(session, targets, creates_one, 16, "c")
            watch = await watch_rate(session, targets, 10, 300 if quick else 1000, 16)
            results["oneCluster"] = {
                "creates": creates_one,
                "createsPerSecond": round(rate, 1),
                "watch": watch,
            }
        async with Sim(many) as targets:
            total = many * (2 if quick else 4)
            rate = await create_rate(session, targets, total, 64, "c")
            watch = await watch_rate(session, targets, 1, 2, 64)
            results["manyClusters"] = {
                "clusters": many,
                "creates": total,
                "createsPerSecond": round(rate, 1),
                "watch": watch,
            }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 clusters and fewer objects")
    args = parser.parse_args()
    results = asyncio.run(run(args.quick))
    one, many, mem = results["oneCluster"], results["manyClusters"], results["memory"]
    print(
        f"1 cluster:       {one['createsPerSecond']:>8.0f} creates/s   "
        f"{one['watch']['eventsPerSecond']:>8.0f} watch events/s (10 watchers)"
    )
    print(
        f"{many['clusters']} clusters: {many['createsPerSecond']:>8.0f} creates/s   "
        f"{many['watch']['eventsPerSecond']:>8.0f} watch events/s (1 watcher each)"
    )
    print(
        f"memory per empty cluster: {mem['rssPerClusterKiB']} KiB ({mem['clusters']} clusters started in "
        f"{mem['startSeconds']} s)"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
