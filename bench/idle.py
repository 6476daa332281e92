"""``python -m bench.idle``: RSS of each service process at rest (one member joined, pipeline quiet).

The smallest environment of the benchmark (one simulated member, one nats-server), every service
started once as its own ``kubefed <service>`` process; RSS is read from /proc after the services are
ready, the member is Ready and the work counters stayed still for 3 s. Prints one JSON line. Light
enough (about 30 s, a few CPU seconds) to compare two commits quickly; the cost curves
(``bench/costs.py``) take the same reading in their 10-member environment.
"""

from __future__ import annotations

import asyncio
import json

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


if __name__ == "__main__":
    print(json.dumps(asyncio.run(measure())))
