"""CRD controller: establishes (serves) CRDs asynchronously and cleans up their objects on deletion."""

from __future__ import annotations

from .._errors import ApiError
from .._registry import crd_resource_type
from .._store import Event
from ._base import CRDS_GP, Controller, Key, condition, deep, is_deleting

CLEANUP = "customresourcecleanup.apiextensions.k8s.io"


class CrdController(Controller):
    def on_event(self, ev: Event) -> None:
        if ev.gp == CRDS_GP:
            if ev.type == "DELETED":
                rt = crd_resource_type(ev.obj)
                self.store.registry.remove_crd(rt.group, rt.plural)
            else:
                self.enqueue(ev.obj["metadata"]["name"])
        elif ev.type == "DELETED" and ev.gp[0] and not _is_builtin(self, ev.gp):
            for crd in self.store.iter_objects(CRDS_GP, ""):
                if is_deleting(crd):
                    self.enqueue(crd["metadata"]["name"])

    def reconcile(self, key: Key) -> None:
        (name,) = key
        crd = self.store.peek(CRDS_GP, "", name)
        if crd is None:
            return
        rt = crd_resource_type(crd)
        status = deep(crd.get("status") or {})
        conds = status.get("conditions") or []
        if is_deleting(crd):
            if CLEANUP not in (crd["metadata"].get("finalizers") or ()):
                return
            status["conditions"] = [c for c in conds if c.get("type") != "Terminating"] + [
                condition(
                    "Terminating",
                    "True",
                    "InstanceDeletionInProgress",
                    "CustomResource deletion is in progress",
                    conds,
                )
            ]
            crd = self.mgr.write_status(CRDS_GP, crd, status)
            left = 0
            for obj in list(self.store.iter_objects(rt.gp)):
                left += 1
                if not is_deleting(obj):
                    meta = obj["metadata"]
                    try:
                        self.store.delete(rt, meta.get("namespace", ""), meta["name"])
                    except ApiError as e:
                        if e.code != 404:
                            raise
            if next(self.store.iter_objects(rt.gp), None) is not None:
                self.enqueue(name, delay=0.2)
                return
            self.store.registry.remove_crd(rt.group, rt.plural)
            self.store.close_watchers(rt.gp)
            new = deep(crd)
            new["metadata"]["finalizers"] = [
                f for f in crd["metadata"].get("finalizers") or () if f != CLEANUP
            ]
            self.store.update(self.store.registry.by_gp(*CRDS_GP), "", name, new)  # type: ignore[arg-type]
            return
        self.store.registry.add_crd(rt)
        names = dict((crd.get("spec") or {}).get("names") or {})
        names.setdefault("singular", names.get("kind", "").lower())
        names.setdefault("listKind", names.get("kind", "") + "List")
        status["acceptedNames"] = names
        storage = [v["name"] for v in (crd.get("spec") or {}).get("versions") or () if v.get("storage")]
        stored = list(status.get("storedVersions") or [])
        for v in storage:
            if v not in stored:
                stored.append(v)
        status["storedVersions"] = stored
        status["conditions"] = [
            condition("NamesAccepted", "True", "NoConflicts", "no conflicts found", conds),
            condition(
                "Established", "True", "InitialNamesAccepted", "the initial names have been accepted", conds
            ),
        ]
        self.mgr.write_status(CRDS_GP, crd, status)


def _is_builtin(ctrl: Controller, gp: tuple[str, str]) -> bool:
    rt = ctrl.store.registry.by_gp(*gp)
    return rt is None or rt.builtin
