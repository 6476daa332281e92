"""Bearer tokens of one cluster: the static admin token, opaque tokens minted by tests, and the
service-account JWT issuer (:mod:`sim._satokens`) that signs TokenRequest and token-Secret tokens."""

from __future__ import annotations

import secrets
import time

from ._satokens import ServiceAccountIssuer


class Tokens:
    __slots__ = ("_bound", "_tokens", "_users", "admin", "issuer")

    def __init__(self, admin: str | None = None, issuer: ServiceAccountIssuer | None = None) -> None:
        self.admin = admin or secrets.token_hex(16)
        self.issuer = issuer or ServiceAccountIssuer()
        self._tokens: dict[str, tuple[float | None, str | None]] | None = None
        self._bound: dict[str, set[str]] | None = None
        # token -> (user, groups), filled lazily by the RBAC layer (or at mint time)
        self._users: dict[str, tuple[str, tuple[str, ...]]] = {}

    def check(self, token: str) -> bool:
        if token == self.admin:
            return True
        if not self._tokens:
            return False
        entry = self._tokens.get(token)
        if entry is None:
            return False
        expiry = entry[0]
        return expiry is None or expiry > time.time()

    def bound_uid(self, token: str) -> str | None:
        """The uid a minted token is bound to (token Secret or ServiceAccount), if any."""
        entry = (self._tokens or {}).get(token)
        return entry[1] if entry else None

    def user_of(self, token: str) -> tuple[str, tuple[str, ...]] | None:
        return self._users.get(token)

    def set_user(self, token: str, user: str, groups: tuple[str, ...]) -> None:
        self._users[token] = (user, groups)

    def mint(
        self, seconds: int | None, bound_uid: str | None, user: tuple[str, tuple[str, ...]] | None = None
    ) -> tuple[str, float]:
        """A new valid opaque token (optionally expiring, optionally revoked with ``bound_uid``).

        ``user`` (name, groups) is who the token authenticates as under RBAC; without it, a bound
        token is resolved to its service account on first use and an unbound one is an admin.
        """
        token = "sim-" + secrets.token_urlsafe(24)
        expiry = time.time() + seconds if seconds else None
        if self._tokens is None:
            self._tokens, self._bound = {}, {}
        assert self._bound is not None
        self._tokens[token] = (expiry, bound_uid)
        if bound_uid:
            self._bound.setdefault(bound_uid, set()).add(token)
        if user is not None:
            self._users[token] = user
        return token, expiry or time.time() + 10 * 365 * 86400

    def revoke_bound(self, uid: str) -> None:
        if not self._bound or self._tokens is None:
            return
        for t in self._bound.pop(uid, ()):
            self._tokens.pop(t, None)
            self._users.pop(t, None)
