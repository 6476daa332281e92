"""Garbage collector: background, foreground and orphan cascading deletion via ownerReferences."""

from __future__ import annotations

from .._errors import ApiError
from .._store import Event
from ._base import Controller, Key, deep, is_deleting


class GarbageCollector(Controller):
    def on_event(self, ev: Event) -> None:
        meta = ev.obj["metadata"]
        if ev.type == "DELETED":
            self.enqueue("orphaned", meta["uid"])
            for ref in meta.get("ownerReferences") or ():
                self.enqueue("owner", ref.get("uid"))
        elif ev.type == "MODIFIED" and meta.get("deletionTimestamp"):
            fins = meta.get("finalizers") or ()
            if "foregroundDeletion" in fins or "orphan" in fins:
                self.enqueue("owner", meta["uid"])
        if ev.type != "DELETED" and meta.get("ownerReferences"):
            before = {r.get("uid") for r in (ev.old or {}).get("metadata", {}).get("ownerReferences") or ()}
            for ref in meta.get("ownerReferences") or ():
                if ref.get("uid") not in before and self.store.by_uid(ref.get("uid")) is None:
                    self.enqueue("dangling", ev.gp, meta.get("namespace", ""), meta["name"])

    def _delete(self, gp: tuple[str, str], ns: str, name: str, policy: str) -> None:
        rt = self.store.registry.by_gp(*gp)
        if rt is None:
            return
        try:
            self.store.delete(rt, ns, name, propagation=policy)
        except ApiError as e:
            if e.code != 404:
                raise

    def _all_owners_gone(self, obj: dict) -> bool:  # type: ignore[type-arg]
        return all(
            self.store.by_uid(r.get("uid")) is None for r in obj["metadata"].get("ownerReferences") or ()
        )

    def reconcile(self, key: Key) -> None:
        if key[0] == "orphaned":
            for gp, ns, name in self.store.dependents(key[1]):
                dep = self.store.peek(gp, ns, name)
                if dep is not None and not is_deleting(dep) and self._all_owners_gone(dep):
                    self._delete(gp, ns, name, "Background")
            return
        if key[0] == "dangling":
            _, gp, ns, name = key
            dep = self.store.peek(gp, ns, name)
            if dep is not None and not is_deleting(dep) and self._all_owners_gone(dep):
                self._delete(gp, ns, name, "Background")
            return
        owner = self.store.by_uid(key[1])
        if owner is None or not is_deleting(owner):
            return
        fins = list(owner["metadata"].get("finalizers") or ())
        uid = key[1]
        if "orphan" in fins:
            for gp, ns, name in self.store.dependents(uid):
                dep = self.store.peek(gp, ns, name)
                rt = self.store.registry.by_gp(*gp)
                if dep is None or rt is None:
                    continue
                new = deep(dep)
                new["metadata"]["ownerReferences"] = [
                    r for r in dep["metadata"].get("ownerReferences") or () if r.get("uid") != uid
                ]
                if not new["metadata"]["ownerReferences"]:
                    del new["metadata"]["ownerReferences"]
                self.store.update(rt, ns, name, new)
            self._remove_finalizer(owner, "orphan")
            return
        if "foregroundDeletion" in fins:
            blocking = 0
            for gp, ns, name in self.store.dependents(uid):
                dep = self.store.peek(gp, ns, name)
                if dep is None:
                    continue
                if any(
                    r.get("uid") == uid and r.get("blockOwnerDeletion")
                    for r in dep["metadata"].get("ownerReferences") or ()
                ):
                    blocking += 1
                if not is_deleting(dep):
                    self._delete(gp, ns, name, "Foreground")
            if blocking == 0:
                self._remove_finalizer(owner, "foregroundDeletion")

    def _remove_finalizer(self, obj: dict, finalizer: str) -> None:  # type: ignore[type-arg]
        meta = obj["metadata"]
        rt = self.store.registry.by_gp(*self.store._uids[meta["uid"]][0])
        if rt is None:
            return
        new = deep(obj)
        new["metadata"]["finalizers"] = [f for f in meta.get("finalizers") or () if f != finalizer]
        self.store.update(rt, meta.get("namespace", ""), meta["name"], new)
