"""The state of one simulated cluster (store, controllers, tokens, RBAC, faults, counters), without its
HTTP listener (:mod:`sim._cluster`), so the API handler depends on state alone."""

from __future__ import annotations

import collections
import ssl

from aiohttp import web

from ._controllers import ControllerManager, Settings
from ._faults import Faults
from ._rbac import AUTHENTICATED, Access, identify_bound
from ._registry import Registry
from ._store import Store
from ._tokens import Tokens

__all__ = ["RV_STRIDE", "ClusterState"]

RV_STRIDE = 100_000


class ClusterState:
    """What one simulated cluster is, apart from its listener: store, controllers, credentials, RBAC,
    fault switches and request counters. The API handler (:mod:`sim._http`) depends on this only."""

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
        # POST/PUT/PATCH/DELETE requests answered, by (method, HTTP status): tells creates from refusals
        self.writes_by_outcome: collections.Counter[tuple[str, int]] = collections.Counter()
        self.writes_in_flight = 0
        self.peak_writes_in_flight = 0  # most POST/PUT/PATCH/DELETE requests served at once (reset by tests)
        self.open_watches: set[web.StreamResponse] = set()
        self.port = 0

    # ---- identity ------------------------------------------------------------------------------
    @property
    def admin_token(self) -> str:
        return self.tokens.admin

    @property
    def url(self) -> str:
        return f"{'https' if self._ssl else 'http'}://127.0.0.1:{self.port}"

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
