"""``/healthz``, ``/readyz`` and ``/metrics`` on one small aiohttp server.

Liveness only says the event loop answers (never fail liveness on a remote dependency: a NATS outage
must not restart every pod). Readiness is the AND of named checks the service registers (NATS
connected, caches synced, initial replay caught up); ``/readyz?verbose`` lists them like kube-apiserver.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from shared.telemetry import metrics

__all__ = ["HealthServer", "Readiness"]


class Readiness:
    """Named readiness checks; the service is ready when all pass."""

    def __init__(self) -> None:
        self._checks: dict[str, Callable[[], bool]] = {}

    def add(self, name: str, check: Callable[[], bool]) -> None:
        self._checks[name] = check

    def __len__(self) -> int:
        return len(self._checks)

    def results(self) -> dict[str, bool]:
        out = {}
        for name, check in self._checks.items():
            try:
                out[name] = bool(check())
            except Exception:
                out[name] = False
        return out

    @property
    def ready(self) -> bool:
        return bool(self._checks) and all(self.results().values())


class HealthServer:
    """Serves the probe and metrics endpoints; ``port`` 0 picks a free port (see :attr:`port`)."""

    def __init__(self, readiness: Readiness, *, host: str, port: int) -> None:
        self._readiness = readiness
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self.port = port

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/livez", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        server: Any = site._server
        if server is not None and getattr(server, "sockets", None):
            self.port = int(server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _readyz(self, request: web.Request) -> web.Response:
        results = self._readiness.results()
        ok = bool(results) and all(results.values())
        if "verbose" in request.query:
            lines = [f"[{'+' if v else '-'}]{k} {'ok' if v else 'failed'}" for k, v in results.items()]
            body = "\n".join([*lines, "readyz check passed" if ok else "readyz check failed"])
        else:
            body = "ok" if ok else "not ready: " + ",".join(k for k, v in results.items() if not v)
        return web.Response(text=body, status=200 if ok else 503)

    async def _metrics(self, _: web.Request) -> web.Response:
        return web.Response(body=metrics.render(), content_type="text/plain", charset="utf-8")
