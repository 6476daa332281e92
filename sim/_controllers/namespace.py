"""Namespace lifecycle: default ServiceAccount per namespace, and Terminating -> contents gone -> removed."""

from __future__ import annotations

from .._errors import ApiError
from .._store import Event
from ._base import NAMESPACES_GP, SERVICEACCOUNTS, Controller, Key, is_deleting, rt_of


class NamespaceController(Controller):
    def on_event(self, ev: Event) -> None:
        if ev.gp == NAMESPACES_GP:
            name = ev.obj["metadata"]["name"]
            if ev.type == "ADDED":
                self.enqueue("sa", name)
            elif ev.type == "MODIFIED" and is_deleting(ev.obj):
                self.enqueue("finalize", name)
        elif ev.type == "DELETED":
            ns = ev.obj["metadata"].get("namespace")
            if ns and is_deleting(self.store.peek(NAMESPACES_GP, "", ns)):
                self.enqueue("finalize", ns)

    def reconcile(self, key: Key) -> None:
        action, ns = key
        nsobj = self.store.peek(NAMESPACES_GP, "", ns)
        if nsobj is None:
            return
        if action == "sa":
            if not is_deleting(nsobj) and self.store.peek(SERVICEACCOUNTS, ns, "default") is None:
                try:
                    self.store.create(rt_of(SERVICEACCOUNTS), ns, {"metadata": {"name": "default"}})
                except ApiError as e:
                    if e.code not in (403, 404, 409):
                        raise
            return
        if not is_deleting(nsobj):
            return
        remaining = 0
        for rt in self.store.registry.all():
            if not rt.namespaced:
                continue
            for obj in list(self.store.iter_objects(rt.gp, ns)):
                remaining += 1
                if not is_deleting(obj):
                    try:
                        self.store.delete(rt, ns, obj["metadata"]["name"], propagation="Background")
                    except ApiError as e:
                        if e.code != 404:
                            raise
        if remaining and any(
            next(self.store.iter_objects(rt.gp, ns), None) is not None
            for rt in self.store.registry.all() if rt.namespaced
        ):
            self.enqueue("finalize", ns, delay=0.2)
            return
        self.store.remove(NAMESPACES_GP, "", ns)
