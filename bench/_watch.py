"""Independent observers: our own aiohttp watch on every member (and on the host), opened before a change.

These are the benchmark's only clock for "the object arrived": not the services' logs or metrics. Each
event is timestamped with ``time.perf_counter()`` the moment its line is read from the stream.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from bench._env import Cluster, Env


class Watch:
    """One watch stream (list RV first, then watch from it; reconnects from the last RV)."""

    def __init__(
        self,
        env: Env,
        cluster: Cluster,
        path: str,
        selector: str = "",
        on_event: Callable[[str, float, str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.env, self.cluster, self.path, self.selector = env, cluster, path, selector
        self.on_event = on_event
        self.rv = ""
        self.task: asyncio.Task[None] | None = None
        self.opened = asyncio.Event()
        self.events = 0
        self.errors = 0
        self.relists = 0

    async def start(self) -> None:
        q = "?limit=1" + (f"&labelSelector={self.selector}" if self.selector else "")
        data = await self.env.request(self.cluster, "GET", self.path + q)
        self.rv = data["metadata"]["resourceVersion"]
        self.task = asyncio.create_task(self._run())
        await asyncio.wait_for(self.opened.wait(), 30)

    async def _run(self) -> None:
        assert self.env.session is not None
        while True:
            q = f"?watch=true&allowWatchBookmarks=true&resourceVersion={self.rv}" + (
                f"&labelSelector={self.selector}" if self.selector else ""
            )
            try:
                async with self.env.session.get(
                    self.cluster.url + self.path + q, headers=self.cluster.headers
                ) as r:
                    self.opened.set()
                    async for line in r.content:
                        now = time.perf_counter()
                        if not line.strip():
                            continue
                        ev = json.loads(line)
                        typ = ev.get("type")
                        obj = ev.get("object") or {}
                        if typ == "ERROR":
                            # 410 Gone (we fell behind the member's event history): relist and report the
                            # objects we had not seen as arriving now (late, never early); counted in
                            # `relists`
                            self.errors += 1
                            await self._relist()
                            break
                        self.rv = (obj.get("metadata") or {}).get("resourceVersion") or self.rv
                        if typ == "BOOKMARK":
                            continue
                        self.events += 1
                        if self.on_event is not None:
                            self.on_event(self.cluster.name, now, typ, obj)
            except (TimeoutError, aiohttp.ClientError):
                self.errors += 1
                await asyncio.sleep(0.2)

    async def _relist(self) -> None:
        self.relists += 1
        q = "?" + (f"labelSelector={self.selector}" if self.selector else "")
        data = await self.env.request(self.cluster, "GET", self.path + q)
        now = time.perf_counter()
        self.rv = data["metadata"]["resourceVersion"]
        if self.on_event is not None:
            for item in data.get("items") or []:
                self.on_event(self.cluster.name, now, "RELISTED", item)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except (asyncio.CancelledError, Exception):
                pass


class MemberObserver:
    """Watches one resource in one namespace on many members; records first arrival and write counts."""

    def __init__(
        self, env: Env, members: list[str], path: str, selector: str = "kubefed.io%2Fmanaged%3Dtrue"
    ) -> None:
        self.env, self.members, self.path, self.selector = env, members, path, selector
        self.first_seen: dict[tuple[str, str], float] = {}  # (cluster, name) -> time of ADDED
        self.last_event = 0.0
        self.counts: dict[str, int] = {"ADDED": 0, "MODIFIED": 0, "DELETED": 0}
        self.arrivals: dict[str, int] = {}  # name -> clusters seen
        self.complete: dict[str, float] = {}  # name -> time present in all members
        self.waiters: dict[str, asyncio.Future[float]] = {}
        self.extra: list[Callable[[str, float, str, dict[str, Any]], None]] = []
        self.watches = [Watch(env, env.member(m), path, selector, self._event) for m in members]

    def _event(self, cluster: str, now: float, typ: str, obj: dict[str, Any]) -> None:
        if typ == "RELISTED":
            typ = "ADDED"
        else:
            self.counts[typ] = self.counts.get(typ, 0) + 1
        self.last_event = now
        name = obj["metadata"]["name"]
        if typ == "ADDED" and (cluster, name) not in self.first_seen:
            self.first_seen[(cluster, name)] = now
            n = self.arrivals.get(name, 0) + 1
            self.arrivals[name] = n
            if n == len(self.members):
                self.complete[name] = now
                fut = self.waiters.pop(name, None)
                if fut is not None and not fut.done():
                    fut.set_result(now)
        for f in self.extra:
            f(cluster, now, typ, obj)

    @property
    def relists(self) -> int:
        return sum(w.relists for w in self.watches)

    @property
    def writes(self) -> int:
        return sum(self.counts.values())

    async def start(self, concurrency: int = 50) -> None:
        sem = asyncio.Semaphore(concurrency)

        async def one(w: Watch) -> None:
            async with sem:
                await w.start()

        await asyncio.gather(*(one(w) for w in self.watches))

    async def wait_complete(self, name: str, timeout: float) -> float:
        if name in self.complete:
            return self.complete[name]
        fut = self.waiters.setdefault(name, asyncio.get_running_loop().create_future())
        deadline = time.perf_counter() + timeout
        while not fut.done():
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError(f"{name}: in {self.arrivals.get(name, 0)}/{len(self.members)} members")
            await asyncio.wait({fut}, timeout=min(5.0, remaining))
            self.env.check_alive()  # a crashed service fails the run now
        return fut.result()

    async def stop(self) -> None:
        await asyncio.gather(*(w.stop() for w in self.watches))
