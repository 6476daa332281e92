"""One simulated cluster: store + controllers + tokens + faults behind its own aiohttp listener.

``go_offline`` stops the listener and closes every open connection (clients then get "connection
refused"); ``go_online`` listens again on the same port with a fresh runner, keeping the state.
"""

from __future__ import annotations

import asyncio
import collections
import socket
import ssl
from typing import Any

from aiohttp import web

from ._controllers import ControllerManager, Settings
from ._faults import Faults
from ._http import ApiHandler
from ._rbac import AUTHENTICATED, Access, identify_bound
from ._registry import Registry
from ._store import Store
from ._tokens import Tokens

RV_STRIDE = 100_000


class ClusterServer:
    """A handle on one cluster: its URL and credentials, its store, and the fault switches."""

    def __init__(
        self,
        name: str,
        index: int = 0,
        *,
        ssl_context: ssl.SSLContext | None = None,
        ca_pem: bytes | None = None,
        capacity: int = 110,
        pod_ready_delay: float = 0.1,
        node_labels: dict[str, str] | None = None,
        nodes: int = 1,
        history: int = 1000,
        admin_token: str | None = None,
        anonymous: bool = False,
        rbac: bool = False,
    ) -> None:
        self.name = name
        self.index = index
        self.ca_pem = ca_pem
        self._ssl = ssl_context
        self._initial = Settings(name, index, capacity, pod_ready_delay, nodes, node_labels, ca_pem)
        self._history = history
        self.tokens = Tokens(admin_token)
        # Requests without an Authorization header are served (as admin) only when this is set:
        # kubectl >= 1.37 does not send bearer tokens over plain HTTP.
        self.anonymous = anonymous
        # RBAC enforcement for service-account tokens (the admin token and anonymous requests bypass it);
        # every refused request is recorded in ``denied``.
        self.rbac = rbac
        self.denied: list[Access] = []
        self.granted: collections.Counter[Access] = collections.Counter()  # allowed requests, same shape
        self.store = Store(Registry(), rv_start=1 + index * RV_STRIDE, history=history)
        self.faults = Faults()
        self.settings = Settings(name, index, capacity, pod_ready_delay, nodes, node_labels, ca_pem)
        self.controllers = ControllerManager(self.store, self.settings, self.tokens)
        self.request_count = 0
        self.requests_by_method: collections.Counter[str] = collections.Counter()
        self.writes_in_flight = 0
        self.peak_writes_in_flight = 0  # most POST/PUT/PATCH/DELETE requests served at once (reset by tests)
        self.open_watches: set[web.StreamResponse] = set()
        self.port = 0
        self._runner: web.AppRunner | None = None

    # ---- identity ------------------------------------------------------------------------------
    @property
    def admin_token(self) -> str:
        return self.tokens.admin

    @property
    def url(self) -> str:
        return f"{'https' if self._ssl else 'http'}://127.0.0.1:{self.port}"

    @property
    def online(self) -> bool:
        return self._runner is not None

    def check_token(self, token: str) -> bool:
        """Whether ``token`` authenticates here: the admin token, a minted one, or a live service-account
        JWT."""
        return self.tokens.check(token) or self.tokens.issuer.authenticate(token, self.store) is not None

    def mint_token(
        self,
        seconds: int | None = None,
        bound_uid: str | None = None,
        user: tuple[str, tuple[str, ...]] | None = None,
    ) -> tuple[str, float]:
        """A new bearer token valid for this cluster (for tests, or TokenRequest).

        Under RBAC the token acts as ``user`` (name, groups), as the service account of ``bound_uid``
        (a token Secret or ServiceAccount) when that is given, and as an admin otherwise.
        """
        return self.tokens.mint(seconds, bound_uid, user)

    def identify(self, token: str) -> tuple[str, tuple[str, ...]] | None:
        """Who a valid token is under RBAC: (user, groups), or None for an admin."""
        who = self.tokens.user_of(token)
        if who is None and not self.tokens.check(token):
            return self.tokens.issuer.authenticate(token, self.store)
        if who is None:
            uid = self.tokens.bound_uid(token)
            if uid is None:
                return None
            who = identify_bound(self.store, uid) or ("system:unknown", (AUTHENTICATED,))
            self.tokens.set_user(token, *who)
        return who

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

    def set_error_rate(self, fraction: float, status: int = 500, path_prefix: str | None = None) -> None:
        """Fail ``fraction`` of API requests (optionally only under ``path_prefix``) with ``status``."""
        self.faults.error_rate = max(0.0, float(fraction))
        self.faults.error_status = int(status)
        self.faults.error_path = path_prefix

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
