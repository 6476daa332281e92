"""Horizontal scaling: burst throughput with 1, 2 and 4 propagator processes (members split with
``--clusters``) and with 1 and 2 scheduler replicas, in one 10-member environment.

Each configuration gets a fresh environment (simulator, nats-server, CRDs, joined members), federates
a namespace and bursts the same number of FederatedConfigMaps; the figure is member writes/s from our
own member watches.
"""

from __future__ import annotations

from typing import Any

from bench._common import federate_and_wait, wait_quiet
from bench._env import Env, log
from bench._watch import MemberObserver
from bench.throughput import burst

CONFIGS = [
    ("1 propagator, 1 scheduler", 1, 1),
    ("2 propagators, 1 scheduler", 2, 1),
    ("4 propagators, 1 scheduler", 4, 1),
    ("1 propagator, 2 schedulers", 1, 2),
]


def split(members: list[str], n: int) -> dict[str, str]:
    if n == 1:
        return {"propagator": ""}
    return {f"propagator-{i + 1}": ",".join(members[i::n]) for i in range(n)}


async def run(objects: int, members: int = 10) -> dict[str, Any]:
    out: dict[str, Any] = {"objects": objects, "members": members, "runs": []}
    for label, props, scheds in CONFIGS:
        env = Env(members, label=f"scale-p{props}s{scheds}")
        try:
            await env.start()
            await env.join()
            await env.start_pipeline(propagators=split(env.member_names, props), schedulers=scheds)
            await env.wait_services_ready(timeout=300)
            await env.wait_ready_members()
            ns = "scale"
            await federate_and_wait(env, ns)
            await wait_quiet(env, None, window=1.0, timeout=60)
            obs = MemberObserver(env, env.member_names, f"/api/v1/namespaces/{ns}/configmaps")
            await obs.start()
            log(f"  scaling: {label}")
            res = await burst(env, obs, objects, ns, prefix="s")
            await obs.stop()
            out["runs"].append(
                {
                    "config": label,
                    "propagators": props,
                    "schedulers": scheds,
                    "writes_per_s": res["writes_per_s"],
                    "seconds": res["seconds"],
                    "cpu_seconds": res["cpu_seconds"],
                }
            )
        finally:
            await env.close()
    return out
