"""Token controller: fills service-account token Secrets with a legacy service-account JWT.

Deleting the Secret or its ServiceAccount revokes the token: authentication looks both up
(:mod:`sim._satokens`). Opaque tokens minted by tests with a ``bound_uid`` are revoked here.
"""

from __future__ import annotations

import base64

from .._store import Event
from ._base import SECRETS, SERVICEACCOUNTS, Controller, Key, deep, is_deleting, rt_of

SA_TOKEN = "kubernetes.io/service-account-token"
SA_NAME = "kubernetes.io/service-account.name"
SA_UID = "kubernetes.io/service-account.uid"


def _b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


class TokenController(Controller):
    def on_event(self, ev: Event) -> None:
        if ev.gp == SECRETS:
            obj = ev.obj
            if obj.get("type") != SA_TOKEN:
                return
            if ev.type == "DELETED":
                self.mgr.tokens.revoke_bound(obj["metadata"]["uid"])
            elif not (obj.get("data") or {}).get("token"):
                self.enqueue("fill", obj["metadata"]["namespace"], obj["metadata"]["name"])
        elif ev.gp == SERVICEACCOUNTS:
            meta = ev.obj["metadata"]
            if ev.type == "DELETED":
                self.mgr.tokens.revoke_bound(meta["uid"])
                self.enqueue("sa-gone", meta["namespace"], meta["name"])
            else:
                for s in self.store.iter_objects(SECRETS, meta["namespace"]):
                    if (
                        s.get("type") == SA_TOKEN
                        and (s["metadata"].get("annotations") or {}).get(SA_NAME) == meta["name"]
                        and not (s.get("data") or {}).get("token")
                    ):
                        self.enqueue("fill", meta["namespace"], s["metadata"]["name"])

    def reconcile(self, key: Key) -> None:
        action, ns, name = key
        if action == "sa-gone":
            for s in list(self.store.iter_objects(SECRETS, ns)):
                if (
                    s.get("type") == SA_TOKEN
                    and (s["metadata"].get("annotations") or {}).get(SA_NAME) == name
                ):
                    self.store.delete(rt_of(SECRETS), ns, s["metadata"]["name"])
            return
        secret = self.store.peek(SECRETS, ns, name)
        if secret is None or is_deleting(secret) or (secret.get("data") or {}).get("token"):
            return
        sa_name = (secret["metadata"].get("annotations") or {}).get(SA_NAME)
        sa = self.store.peek(SERVICEACCOUNTS, ns, sa_name or "")
        if sa is None:
            return
        token = self.mgr.tokens.issuer.legacy_token(sa, name)
        new = deep(secret)
        data = new.setdefault("data", {}) or {}
        new["data"] = data
        data["token"] = _b64(token)
        data["ca.crt"] = _b64(self.mgr.settings.ca_pem or b"")
        data["namespace"] = _b64(ns)
        new["metadata"].setdefault("annotations", {})[SA_UID] = sa["metadata"]["uid"]
        self.store.update(rt_of(SECRETS), ns, name, new)
