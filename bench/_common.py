"""Helpers shared by the scenarios: object bodies, percentiles, quiescence."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from bench._env import Env, log

FED = "/apis/types.kubefed.io/v1beta1"


def fcm_path(ns: str) -> str:
    return f"{FED}/namespaces/{ns}/federatedconfigmaps"


def fcm(name: str, ns: str, i: int = 0) -> dict[str, Any]:
    """A FederatedConfigMap of about 200 bytes of data, placed on every member."""
    return {
        "apiVersion": "types.kubefed.io/v1beta1",
        "kind": "FederatedConfigMap",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "template": {
                "metadata": {"labels": {"bench": "yes"}},
                "data": {"index": str(i), "payload": "x" * 200},
            },
            "placement": {"clusterSelector": {}},
        },
    }


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1))
    return s[k]


def r(x: float, nd: int = 1) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(x, nd)


async def federate_and_wait(env: Env, ns: str, timeout: float = 120, concurrency: int = 64) -> None:
    """Federate namespace ``ns`` to all members and wait until every member has it (at most
    ``concurrency`` checks in flight: thousands of TLS handshakes at once time out on a busy
    simulator)."""
    await env.federate_namespace(ns)
    t0 = time.perf_counter()
    pending = set(env.member_names)
    in_flight = asyncio.Semaphore(concurrency)
    while pending:

        async def has(m: str) -> bool:
            async with in_flight:
                got = await env.request(env.member(m), "GET", f"/api/v1/namespaces/{ns}", ok=(200, 404))
            return bool(got) and got.get("kind") == "Namespace"

        found = await asyncio.gather(*(has(m) for m in pending))
        pending = {m for m, ok in zip(list(pending), found, strict=True) if not ok}
        if pending:
            if time.perf_counter() - t0 > timeout:
                raise RuntimeError(f"namespace {ns} missing in {len(pending)} members after {timeout}s")
            await asyncio.sleep(0.3)


async def wait_quiet(
    env: Env,
    observer: Any = None,
    *,
    window: float = 3.0,
    timeout: float = 300.0,
    since: float | None = None,
    kinds: tuple[str, ...] = ("propagator",),
) -> float:
    """Wait until the work counters of the services of ``kinds`` and the member writes stay unchanged for
    ``window`` s.

    Returns the time (perf_counter) of the last observed change (a counter moved or a member write).
    """
    last_change = since if since is not None else time.perf_counter()
    prev = await env.work_counters(kinds)
    prev_writes = observer.writes if observer is not None else 0
    t_start = time.perf_counter()
    while True:
        await asyncio.sleep(0.25)
        now = time.perf_counter()
        cur = await env.work_counters(kinds)
        writes = observer.writes if observer is not None else 0
        if cur != prev or writes != prev_writes:
            if cur != prev:
                last_change = now
            if writes != prev_writes and observer is not None:
                last_change = max(last_change, observer.last_event)
            prev, prev_writes = cur, writes
            continue
        if now - last_change >= window:
            return last_change
        if now - t_start > timeout:
            log(f"  not quiet after {timeout}s")
            return last_change
