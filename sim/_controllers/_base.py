"""The controller interface shared by the simulated controllers."""

from __future__ import annotations

import copy
import hashlib
import json
import time
from typing import TYPE_CHECKING, Any

from .._registry import ResourceType, builtin
from .._store import Event, Obj

if TYPE_CHECKING:
    from . import ControllerManager

Key = tuple[Any, ...]

PODS = ("", "pods")
NODES = ("", "nodes")
SERVICES = ("", "services")
ENDPOINTS = ("", "endpoints")
SECRETS = ("", "secrets")
SERVICEACCOUNTS = ("", "serviceaccounts")
NAMESPACES_GP = ("", "namespaces")
DEPLOYMENTS = ("apps", "deployments")
REPLICASETS = ("apps", "replicasets")
STATEFULSETS = ("apps", "statefulsets")
DAEMONSETS = ("apps", "daemonsets")
JOBS = ("batch", "jobs")
CRDS_GP = ("apiextensions.k8s.io", "customresourcedefinitions")


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def deep(obj: Any) -> Any:
    return copy.deepcopy(obj)


def rt_of(gp: tuple[str, str]) -> ResourceType:
    return builtin(*gp)


def template_hash(template: Any) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    n = int(digest[:16], 16)
    out = []
    for _ in range(10):
        n, r = divmod(n, len(alphabet))
        out.append(alphabet[r])
    return "".join(out)


def controller_ref(obj: Obj) -> dict[str, Any] | None:
    for ref in obj["metadata"].get("ownerReferences") or ():
        if ref.get("controller"):
            return dict(ref)
    return None


def owner_ref(owner: Obj) -> dict[str, Any]:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def condition(
    cond_type: str,
    status: str,
    reason: str = "",
    message: str = "",
    previous: list[dict[str, Any]] | None = None,
    update_time: bool = False,
) -> dict[str, Any]:
    """A condition keeping the previous transition time when the status did not change."""
    old = next((c for c in previous or () if c.get("type") == cond_type), None)
    ts = now()
    c: dict[str, Any] = {"type": cond_type, "status": status}
    if update_time:
        c["lastUpdateTime"] = (
            old["lastUpdateTime"]
            if old and old.get("status") == status and old.get("reason") == reason and "lastUpdateTime" in old
            else ts
        )
    c["lastTransitionTime"] = (
        old["lastTransitionTime"]
        if old and old.get("status") == status and "lastTransitionTime" in old
        else ts
    )
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    return c


def is_deleting(obj: Obj | None) -> bool:
    return bool(obj and obj["metadata"].get("deletionTimestamp"))


def pod_ready(pod: Obj) -> bool:
    for c in (pod.get("status") or {}).get("conditions") or ():
        if c.get("type") == "Ready":
            return bool(c.get("status") == "True")
    return False


class Controller:
    """Base: ``on_event`` enqueues keys synchronously; ``reconcile(key)`` does the (sync) work."""

    def __init__(self, mgr: ControllerManager) -> None:
        self.mgr = mgr
        self.store = mgr.store

    def enqueue(self, *key: Any, delay: float = 0.0) -> None:
        self.mgr.enqueue(self, key, delay)

    def on_event(self, ev: Event) -> None:
        """React to a committed change (enqueue only)."""

    def reconcile(self, key: Key) -> None:
        """Do the work for one key."""
