"""Status latency: a member Deployment's status changes → the change shows in the host object's remoteStatus.

A FederatedDeployment (statusCollection Enabled on its FederatedTypeConfig, RawResourceStatusCollection
gate on) is placed on every member. Each sample changes its replicas on the host (alternating 2 and 3);
the members' Deployments change status as the simulator's controllers act. Our watch on each member
timestamps the first Deployment status with ``readyReplicas == R``; our watch on the host timestamps the
first FederatedDeployment whose ``status.clusters[c].remoteStatus.readyReplicas == R``. Latency per
cluster and sample = host time − member time. The host write itself is not part of the figure.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from bench._common import FED, percentile, r
from bench._env import NS as KNS
from bench._env import Env, log
from bench._watch import MemberObserver, Watch


async def run(env: Env, ns: str, samples: int) -> dict[str, Any]:
    gates = (
        await env.request(
            env.host, "GET", f"/apis/core.kubefed.io/v1beta1/namespaces/{KNS}/kubefedconfigs/kubefed"
        )
    )["spec"]["featureGates"]
    index = next(i for i, g in enumerate(gates) if g["name"] == "RawResourceStatusCollection")
    await env.kubectl(
        "patch",
        "kubefedconfig",
        "kubefed",
        "-n",
        KNS,
        "--type=json",
        "-p",
        json.dumps(
            [{"op": "replace", "path": f"/spec/featureGates/{index}/configuration", "value": "Enabled"}]
        ),
    )
    await env.kubectl(
        "patch",
        "federatedtypeconfig",
        "deployments.apps",
        "-n",
        KNS,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"statusCollection": "Enabled"}}),
    )
    member_events: dict[str, list[tuple[float, int]]] = {m: [] for m in env.member_names}
    host_events: dict[str, list[tuple[float, int]]] = {m: [] for m in env.member_names}

    def on_member(cluster: str, now: float, typ: str, obj: dict[str, Any]) -> None:
        st = obj.get("status") or {}
        member_events[cluster].append((now, int(st.get("readyReplicas") or 0)))

    def on_host(_c: str, now: float, typ: str, obj: dict[str, Any]) -> None:
        for e in (obj.get("status") or {}).get("clusters") or []:
            rs = e.get("remoteStatus")
            if rs is not None and e.get("name") in host_events:
                host_events[e["name"]].append((now, int(rs.get("readyReplicas") or 0)))

    obs = MemberObserver(env, env.member_names, f"/apis/apps/v1/namespaces/{ns}/deployments")
    obs.extra.append(on_member)
    await obs.start()
    hw = Watch(env, env.host, f"{FED}/namespaces/{ns}/federateddeployments", on_event=on_host)
    await hw.start()
    path = f"{FED}/namespaces/{ns}/federateddeployments"
    await asyncio.sleep(1.0)  # let the services see the gate and the FTC change
    await env.create(
        path,
        {
            "apiVersion": "types.kubefed.io/v1beta1",
            "kind": "FederatedDeployment",
            "metadata": {"name": "web", "namespace": ns},
            "spec": {
                "placement": {"clusterSelector": {}},
                "template": {
                    "spec": {
                        "replicas": 1,
                        "selector": {"matchLabels": {"app": "web"}},
                        "template": {
                            "metadata": {"labels": {"app": "web"}},
                            "spec": {"containers": [{"name": "web", "image": "nginx"}]},
                        },
                    }
                },
            },
        },
    )

    def host_has(value: int, since: float) -> bool:
        return all(any(t >= since and v == value for t, v in host_events[c]) for c in env.member_names)

    async def wait_host(value: int, since: float, timeout: float = 60) -> None:
        t0 = time.perf_counter()
        while not host_has(value, since):
            if time.perf_counter() - t0 > timeout:
                missing = [
                    c
                    for c in env.member_names
                    if not any(t >= since and v == value for t, v in host_events[c])
                ]
                raise RuntimeError(
                    f"remoteStatus readyReplicas={value} missing on host for {missing} after {timeout}s"
                )
            await asyncio.sleep(0.05)

    await wait_host(1, 0.0)
    log(f"  status: remoteStatus collected from {len(env.member_names)} members; {samples} samples")
    lat: list[float] = []
    for k in range(samples):
        value = 2 + (k % 2)
        since = time.perf_counter()
        await env.patch(f"{path}/web", {"spec": {"template": {"spec": {"replicas": value}}}})
        await wait_host(value, since)
        for c in env.member_names:
            tm = next((t for t, v in member_events[c] if t >= since and v == value), None)
            th = next(t for t, v in host_events[c] if t >= since and v == value)
            if tm is not None:
                lat.append((th - tm) * 1000)
        await asyncio.sleep(0.2)
    await obs.stop()
    await hw.stop()
    res = {
        "clusters": len(env.member_names),
        "samples": samples,
        "observations": len(lat),
        "p50_ms": r(percentile(lat, 50)),
        "p99_ms": r(percentile(lat, 99)),
        "max_ms": r(max(lat) if lat else float("nan")),
    }
    log(
        f"  status: p50 {res['p50_ms']} ms, p99 {res['p99_ms']} ms over {len(lat)} (cluster, change) "
        "observations"
    )
    return res
