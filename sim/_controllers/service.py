"""Service controllers: LoadBalancer addresses from the documentation ranges, and Endpoints.

LoadBalancer IPs come from 192.0.2.0/24, 198.51.100.0/24 and 203.0.113.0/24 (RFC 5737). Each
cluster starts at a different offset of that shared pool so that members tend to get different
addresses, and never hands out one address twice within the cluster.
"""

from __future__ import annotations

from typing import Any

from .._errors import ApiError
from .._selectors import labels_match
from .._store import Event, Obj
from ._base import ENDPOINTS, PODS, SERVICES, Controller, Key, deep, is_deleting, pod_ready, rt_of

POOL = [f"{net}.{i}" for net in ("192.0.2", "198.51.100", "203.0.113") for i in range(1, 255)]


class ServiceController(Controller):
    def __init__(self, mgr) -> None:  # type: ignore[no-untyped-def]
        super().__init__(mgr)
        self._assigned: dict[tuple[str, str], str] = {}
        self._used: set[str] = set()
        self._next = (mgr.settings.index * 37) % len(POOL)

    def on_event(self, ev: Event) -> None:
        if ev.gp == SERVICES:
            meta = ev.obj["metadata"]
            self.enqueue("svc", meta["namespace"], meta["name"])
        elif ev.gp == PODS:
            ns = ev.obj["metadata"]["namespace"]
            if (
                ev.type == "MODIFIED"
                and ev.old is not None
                and pod_ready(ev.old) == pod_ready(ev.obj)
                and ev.old["metadata"].get("labels") == ev.obj["metadata"].get("labels")
                and (ev.old.get("status") or {}).get("podIP") == (ev.obj.get("status") or {}).get("podIP")
                and is_deleting(ev.old) == is_deleting(ev.obj)
            ):
                return
            for svc in self.store.iter_objects(SERVICES, ns):
                if (svc.get("spec") or {}).get("selector"):
                    self.enqueue("svc", ns, svc["metadata"]["name"])

    def _allocate(self) -> str | None:
        for _ in range(len(POOL)):
            ip: str = POOL[self._next]
            self._next = (self._next + 1) % len(POOL)
            if ip not in self._used:
                self._used.add(ip)
                return ip
        return None

    def _release(self, key: tuple[str, str]) -> None:
        ip = self._assigned.pop(key, None)
        if ip:
            self._used.discard(ip)

    def reconcile(self, key: Key) -> None:
        _, ns, name = key
        svc = self.store.peek(SERVICES, ns, name)
        if svc is None or is_deleting(svc):
            self._release((ns, name))
            if svc is None and self.store.peek(ENDPOINTS, ns, name) is not None:
                self.store.remove(ENDPOINTS, ns, name)
            return
        self._load_balancer(svc, ns, name)
        self._endpoints(svc, ns, name)

    def _load_balancer(self, svc: Obj, ns: str, name: str) -> None:
        spec = svc.get("spec") or {}
        status = deep(svc.get("status") or {})
        lb = status.setdefault("loadBalancer", {})
        if spec.get("type") == "LoadBalancer":
            if not lb.get("ingress"):
                ip = self._assigned.get((ns, name)) or self._allocate()
                if ip is None:
                    return
                self._assigned[(ns, name)] = ip
                lb["ingress"] = [{"ip": ip, "ipMode": "VIP"}]
        elif (ns, name) in self._assigned:
            # No longer a LoadBalancer: withdraw the address we handed out (and only ours).
            self._release((ns, name))
            lb.pop("ingress", None)
        else:
            return
        self.mgr.write_status(SERVICES, svc, status)

    def _endpoints(self, svc: Obj, ns: str, name: str) -> None:
        spec = svc.get("spec") or {}
        selector = spec.get("selector")
        if not selector:
            return
        checks = [("=", k, v) for k, v in selector.items()]
        ready: list[dict[str, Any]] = []
        not_ready: list[dict[str, Any]] = []
        named_ports: dict[str, int] = {}
        for pod in self.store.iter_objects(PODS, ns):
            if is_deleting(pod) or not labels_match(pod["metadata"].get("labels") or {}, checks):
                continue
            ip = (pod.get("status") or {}).get("podIP")
            if not ip:
                continue
            addr = {
                "ip": ip,
                "nodeName": (pod.get("spec") or {}).get("nodeName", ""),
                "targetRef": {
                    "kind": "Pod",
                    "namespace": ns,
                    "name": pod["metadata"]["name"],
                    "uid": pod["metadata"]["uid"],
                },
            }
            (ready if pod_ready(pod) else not_ready).append(addr)
            for c in (pod.get("spec") or {}).get("containers") or ():
                for p in c.get("ports") or ():
                    if p.get("name"):
                        named_ports[p["name"]] = p.get("containerPort")
        ready.sort(key=lambda a: a["ip"])
        not_ready.sort(key=lambda a: a["ip"])
        ports = []
        for p in spec.get("ports") or ():
            target = p.get("targetPort", p.get("port"))
            if isinstance(target, str):
                target = named_ports.get(target, p.get("port"))
            entry = {"port": target, "protocol": p.get("protocol", "TCP")}
            if p.get("name"):
                entry["name"] = p["name"]
            ports.append(entry)
        subsets = []
        if ready or not_ready:
            subset: dict = {"ports": ports}  # type: ignore[type-arg]
            if ready:
                subset["addresses"] = ready
            if not_ready:
                subset["notReadyAddresses"] = not_ready
            subsets.append(subset)
        body = {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": name, "namespace": ns, "labels": dict(svc["metadata"].get("labels") or {})},
            "subsets": subsets,
        }
        current = self.store.peek(ENDPOINTS, ns, name)
        rt = rt_of(ENDPOINTS)
        try:
            if current is None:
                self.store.create(rt, ns, body)
            else:
                new = deep(current)
                new["subsets"] = subsets
                self.store.update(rt, ns, name, new)
        except ApiError as e:
            if e.code not in (403, 404):
                raise
