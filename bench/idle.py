"""``python -m bench.idle``: RSS of each service process at rest (one member joined, pipeline quiet).

The smallest environment of the benchmark (one simulated member, one nats-server), every service
started once as its own ``kubefed <service>`` process; RSS is read from /proc after the services are
ready, the member is Ready and the work counters stayed still for 3 s. Prints one JSON line. Light
enough (about 30 s, a few CPU seconds) to compare two commits quickly; the cost curves
(``bench/costs.py``) take the same reading in their 10-member environment.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from bench._common import r, wait_quiet
from bench._env import Env


async def measure(members: int = 1) -> dict[str, float | None]:
    env = Env(members, label="idle")
    try:
        await env.start()
        await env.join()
        await env.start_pipeline()
        await env.start_service("dns", "dns")
        await env.wait_services_ready(timeout=300)
        await env.wait_ready_members(timeout=300)
        await wait_quiet(env, None, window=3.0, timeout=120, kinds=("propagator", "scheduler"))
        return {n: r(rss) for n, (rss, _) in env.usage().items()}
    finally:
        await env.close()


def merge_into(path: Path, rss: dict[str, float | None], commit: str, date: str) -> None:
    """Write ``rss_mb_idle`` (the services only) into an existing results file, keeping its other keys,
    with ``rss_mb_idle_run`` saying where the figure comes from."""
    doc = json.loads(path.read_text())
    doc["rss_mb_idle"] = {k: v for k, v in rss.items() if k in ("watcher", "scheduler", "propagator", "dns")}
    doc["rss_mb_idle_run"] = {"method": "python -m bench.idle (1 member)", "git_commit": commit, "date": date}
    path.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(prog="python -m bench.idle", description=__doc__)
    ap.add_argument("--merge-into", metavar="JSON", help="also write rss_mb_idle into this results file")
    args = ap.parse_args()
    result = asyncio.run(measure())
    print(json.dumps(result))
    if args.merge_into:
        from bench.__main__ import git_commit, machine

        merge_into(Path(args.merge_into), result, git_commit(), machine()["date"])
