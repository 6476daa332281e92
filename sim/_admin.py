"""The admin HTTP endpoint (its own port, outside every cluster's URL space) for faults and stats.

It must keep answering while a cluster is offline, which is why it is not a path on the clusters.

    GET  /stats                                   request counters and rate
    GET  /clusters                                names, URLs, online flags
    POST /clusters/{name}/offline|online|drop-watches|compact|reset
    POST /clusters/{name}/unhealthy?value=true
    POST /clusters/{name}/latency?seconds=0.5
    POST /clusters/{name}/errors?rate=0.5&status=429[&path=/api/v1]
    POST /clusters/{name}/capacity?pods=10
    POST /clusters/{name}/node-labels             JSON body {"label": "value" | null}
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from aiohttp import web


class AdminCluster(Protocol):
    """What the admin endpoint needs of one cluster: its identity and its fault switches."""

    name: str
    request_count: int

    @property
    def url(self) -> str: ...
    @property
    def online(self) -> bool: ...
    async def go_offline(self) -> None: ...
    async def go_online(self) -> None: ...
    def set_unhealthy(self, unhealthy: bool = True) -> None: ...
    def set_latency(self, seconds: float) -> None: ...
    def set_error_rate(self, fraction: float, status: int = 500, path_prefix: str | None = None) -> None: ...
    def drop_watches(self) -> int: ...
    def compact_history(self) -> None: ...
    def set_capacity(self, pods: int) -> None: ...
    def set_node_labels(self, labels: dict[str, Any]) -> None: ...
    def reset_faults(self) -> None: ...


class AdminFleet(Protocol):
    """What the admin endpoint needs of the fleet (a :class:`sim.Fleet`), without importing it."""

    @property
    def clusters(self) -> Mapping[str, AdminCluster]: ...
    def stats(self) -> dict[str, Any]: ...
    def __iter__(self) -> Iterator[AdminCluster]: ...


def _truthy(v: str | None) -> bool:
    return (v or "true").lower() in ("1", "t", "true", "yes", "on")


async def start_admin(fleet: AdminFleet, port: int) -> tuple[web.AppRunner, str]:
    async def stats(request: web.Request) -> web.Response:
        return web.json_response(fleet.stats())

    async def clusters(request: web.Request) -> web.Response:
        return web.json_response(
            [{"name": c.name, "url": c.url, "online": c.online, "requests": c.request_count} for c in fleet]
        )

    async def action(request: web.Request) -> web.Response:
        name, verb = request.match_info["name"], request.match_info["action"]
        cluster = fleet.clusters.get(name)
        if cluster is None:
            return web.json_response({"error": f"no cluster {name}"}, status=404)
        q = request.query
        result: Any = None
        if verb == "offline":
            await cluster.go_offline()
        elif verb == "online":
            await cluster.go_online()
        elif verb == "unhealthy":
            cluster.set_unhealthy(_truthy(q.get("value")))
        elif verb == "latency":
            cluster.set_latency(float(q.get("seconds", "0")))
        elif verb == "errors":
            cluster.set_error_rate(float(q.get("rate", "1")), int(q.get("status", "500")), q.get("path"))
        elif verb == "drop-watches":
            result = cluster.drop_watches()
        elif verb == "compact":
            cluster.compact_history()
        elif verb == "capacity":
            cluster.set_capacity(int(q.get("pods", "110")))
        elif verb == "node-labels":
            cluster.set_node_labels(await request.json())
        elif verb == "reset":
            cluster.reset_faults()
            await cluster.go_online()
        else:
            return web.json_response({"error": f"unknown action {verb}"}, status=404)
        return web.json_response(
            {"cluster": name, "action": verb, "result": result, "online": cluster.online}
        )

    app = web.Application()
    app.router.add_get("/stats", stats)
    app.router.add_get("/clusters", clusters)
    app.router.add_post("/clusters/{name}/{action}", action)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    site = web.SockSite(runner, sock)
    await site.start()
    return runner, f"http://127.0.0.1:{sock.getsockname()[1]}"
