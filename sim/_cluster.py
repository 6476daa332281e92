"""One simulated cluster: its state (:mod:`sim._state`) behind its own aiohttp listener.

``go_offline`` stops the listener and closes every open connection (clients then get "connection
refused"); ``go_online`` listens again on the same port with a fresh runner, keeping the state.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from aiohttp import web

from ._controllers import ControllerManager, Settings
from ._http import ApiHandler
from ._registry import Registry
from ._state import RV_STRIDE, ClusterState
from ._store import Store
from ._tokens import Tokens

__all__ = ["RV_STRIDE", "ClusterServer"]


class ClusterServer(ClusterState):
    """A handle on one cluster: its state (:class:`ClusterState`) served by its own aiohttp listener,
    and the switches that take it offline and inject faults."""

    def __init__(self, name: str, index: int = 0, **kw: Any) -> None:
        super().__init__(name, index, **kw)
        self._runner: web.AppRunner | None = None

    @property
    def online(self) -> bool:
        return self._runner is not None

    # ---- lifecycle -----------------------------------------------------------------------------
    async def start(self, port: int = 0) -> None:
        """Listen on 127.0.0.1 (a free port unless given) and start the controllers."""
        self.controllers.start()
        await self._listen(port)

    async def _listen(self, port: int) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        self.port = sock.getsockname()[1]
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", ApiHandler(self))
        # handler_cancellation: a watch whose client went away ends at once instead of lingering.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2, handler_cancellation=True)
        await runner.setup()
        site = web.SockSite(runner, sock, ssl_context=self._ssl)
        await site.start()
        self._runner = runner

    async def go_offline(self) -> None:
        """Stop listening and drop all connections (connection refused until ``go_online``)."""
        if self._runner is None:
            return
        runner, self._runner = self._runner, None
        self.store.drop_watches()
        await runner.cleanup()

    async def go_online(self) -> None:
        """Listen again on the same port."""
        if self._runner is None:
            await self._listen(self.port)

    async def stop(self) -> None:
        await self.go_offline()
        await self.controllers.stop()

    async def reset(self) -> None:
        """Back to a freshly started cluster: objects, CRDs, minted tokens, faults and knobs.

        The admin token, URL and port stay; resourceVersions keep increasing (so a client's old RV
        is never reused) and every open watch is closed.
        """
        self.store.drop_watches()
        await self.controllers.stop()
        self.faults.reset()
        self.denied.clear()
        self.granted.clear()
        self.tokens = Tokens(self.tokens.admin, self.tokens.issuer)
        init = self._initial
        self.store = Store(Registry(), rv_start=self.store.rv, history=self._history)
        self.settings = Settings(
            self.name,
            self.index,
            init.capacity,
            init.pod_ready_delay,
            init.nodes,
            init.node_labels,
            self.ca_pem,
        )
        self.controllers = ControllerManager(self.store, self.settings, self.tokens)
        self.controllers.start()
        await self.go_online()

    # ---- faults and knobs ----------------------------------------------------------------------
    def set_unhealthy(self, unhealthy: bool = True) -> None:
        """Make /healthz, /readyz and /livez answer 500 with a non-``ok`` body."""
        self.faults.unhealthy = unhealthy

    def set_latency(self, seconds: float) -> None:
        """Delay every request by ``seconds``."""
        self.faults.latency = max(0.0, float(seconds))

    def set_error_rate(
        self, fraction: float, status: int = 500, path_prefix: str | None = None, method: str | None = None
    ) -> None:
        """Fail ``fraction`` of API requests (optionally only under ``path_prefix``, only those with the
        HTTP ``method``) with ``status``."""
        self.faults.error_rate = max(0.0, float(fraction))
        self.faults.error_status = int(status)
        self.faults.error_path = path_prefix
        self.faults.error_method = method

    def drop_watches(self) -> int:
        """End every open watch stream; returns how many were closed."""
        return self.store.drop_watches()

    def compact_history(self) -> None:
        """Forget the watch history: watches from any older resourceVersion get 410 Expired."""
        self.store.compact()

    def set_capacity(self, pods: int) -> None:
        """Change the maximum number of running pods (pending pods are retried)."""
        self.settings.capacity = int(pods)
        self.controllers.kubelet.capacity_changed()

    def set_node_labels(self, labels: dict[str, Any]) -> None:
        """Merge labels into every node (a ``None`` value removes the label)."""
        self.controllers.kubelet.set_node_labels(labels)

    def set_pod_ready_delay(self, seconds: float) -> None:
        self.settings.pod_ready_delay = float(seconds)

    def reset_faults(self) -> None:
        self.faults.reset()

    # ---- direct reads --------------------------------------------------------------------------
    @property
    def write_count(self) -> int:
        """Requests that could change state (POST, PUT, PATCH, DELETE), no-op writes included."""
        return sum(n for m, n in self.requests_by_method.items() if m in ("POST", "PUT", "PATCH", "DELETE"))

    def get_object(self, group: str, plural: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        """The stored object (do not mutate) or None."""
        return self.store.peek((group, plural), namespace or "", name)

    def list_objects(self, group: str, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Stored objects of a resource, sorted by namespace and name."""
        items = list(self.store.iter_objects((group, plural), namespace))
        items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        return items

    async def wait_for(self, predicate: Any, timeout: float = 10.0, interval: float = 0.01) -> Any:
        """Poll ``predicate(self)`` until it returns a truthy value (test helper)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = predicate(self)
            if value:
                return value
            if loop.time() > deadline:
                raise TimeoutError(f"condition not met on cluster {self.name} within {timeout}s")
            await asyncio.sleep(interval)

    def __repr__(self) -> str:
        return f"<ClusterServer {self.name} {self.url}>"
