"""Namespace lifecycle: the default ServiceAccount and the ``kube-root-ca.crt`` ConfigMap of every
namespace (kube-controller-manager's serviceaccount and root-ca-cert-publisher controllers), and
Terminating -> contents gone -> removed, with the deletion conditions of the namespace controller
(``NamespaceContentRemaining`` and ``NamespaceFinalizersRemaining`` name what still holds it up).
"""

from __future__ import annotations

from collections import Counter

from .._errors import ApiError
from .._store import Event
from ._base import NAMESPACES_GP, SERVICEACCOUNTS, Controller, Key, condition, deep, is_deleting, rt_of

CONFIGMAPS = ("", "configmaps")
ROOT_CA = "kube-root-ca.crt"
ROOT_CA_DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such "
    "as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across "
    "distributions of Kubernetes clusters."
)
# (type, reason and message when nothing is wrong), in the order the namespace controller writes them
_CONDITIONS = (
    ("NamespaceDeletionDiscoveryFailure", "ResourcesDiscovered", "All resources successfully discovered"),
    (
        "NamespaceDeletionGroupVersionParsingFailure",
        "ParsedGroupVersions",
        "All legacy kube types successfully parsed",
    ),
    (
        "NamespaceDeletionContentFailure",
        "ContentDeleted",
        "All content successfully deleted, may be waiting on finalization",
    ),
    ("NamespaceContentRemaining", "ContentRemoved", "All content successfully removed"),
    ("NamespaceFinalizersRemaining", "ContentHasNoFinalizers", "All content-preserving finalizers finished"),
)


class NamespaceController(Controller):
    _ca: str | None = None

    def on_event(self, ev: Event) -> None:
        if ev.gp == NAMESPACES_GP:
            name = ev.obj["metadata"]["name"]
            if ev.type == "ADDED":
                self.enqueue("sa", name)
            elif ev.type == "MODIFIED" and is_deleting(ev.obj) and not is_deleting(ev.old):
                self.enqueue("finalize", name)
        elif ev.type == "DELETED":
            ns = ev.obj["metadata"].get("namespace")
            if ns and is_deleting(self.store.peek(NAMESPACES_GP, "", ns)):
                self.enqueue("finalize", ns)
            elif ns and ev.gp == CONFIGMAPS and ev.obj["metadata"]["name"] == ROOT_CA:
                self.enqueue("sa", ns)  # the publisher puts it back
        elif ev.gp == CONFIGMAPS and ev.type == "MODIFIED" and ev.obj["metadata"]["name"] == ROOT_CA:
            self.enqueue("sa", ev.obj["metadata"]["namespace"])

    def reconcile(self, key: Key) -> None:
        action, ns = key
        nsobj = self.store.peek(NAMESPACES_GP, "", ns)
        if nsobj is None:
            return
        if action == "sa":
            if not is_deleting(nsobj):
                self._publish(ns)
            return
        if not is_deleting(nsobj):
            return
        for rt in self.store.registry.all():
            if not rt.namespaced:
                continue
            for obj in list(self.store.iter_objects(rt.gp, ns)):
                if not is_deleting(obj):
                    try:
                        self.store.delete(rt, ns, obj["metadata"]["name"], propagation="Background")
                    except ApiError as e:
                        if e.code != 404:
                            raise
        left: Counter[str] = Counter()
        held: Counter[str] = Counter()
        for rt in self.store.registry.all():
            if rt.namespaced:
                for obj in self.store.iter_objects(rt.gp, ns):
                    left[f"{rt.plural}.{rt.group}"] += 1
                    held.update(obj["metadata"].get("finalizers") or ())
        self._conditions(nsobj, left, held)
        if left:
            self.enqueue("finalize", ns, delay=0.2)
            return
        self.store.remove(NAMESPACES_GP, "", ns)

    def _publish(self, ns: str) -> None:
        """The default ServiceAccount and the root CA ConfigMap of a live namespace."""
        if self._ca is None:
            self._ca = (self.mgr.settings.ca_pem or b"").decode()  # one string for every namespace
        wanted = {
            "data": {"ca.crt": self._ca},
            "metadata": {"name": ROOT_CA, "annotations": {"kubernetes.io/description": ROOT_CA_DESCRIPTION}},
        }
        try:
            if self.store.peek(SERVICEACCOUNTS, ns, "default") is None:
                self.store.create(rt_of(SERVICEACCOUNTS), ns, {"metadata": {"name": "default"}})
            current = self.store.peek(CONFIGMAPS, ns, ROOT_CA)
            if current is None:
                self.store.create(rt_of(CONFIGMAPS), ns, wanted)
            elif current.get("data") != wanted["data"]:
                self.store.update(rt_of(CONFIGMAPS), ns, ROOT_CA, {**deep(current), "data": wanted["data"]})
        except ApiError as e:
            if e.code not in (403, 404, 409):
                raise

    def _conditions(self, nsobj: dict, left: Counter[str], held: Counter[str]) -> None:  # type: ignore[type-arg]
        """The deletion conditions, as the namespace controller reports what still remains."""
        trouble = {}
        if left:
            trouble["NamespaceContentRemaining"] = (
                "SomeResourcesRemain",
                "Some resources are remaining: "
                + ", ".join(sorted(f"{gr} has {n} resource instances" for gr, n in left.items())),
            )
        if held:
            trouble["NamespaceFinalizersRemaining"] = (
                "SomeFinalizersRemain",
                "Some content in the namespace has finalizers remaining: "
                + ", ".join(sorted(f"{f} in {n} resource instances" for f, n in held.items())),
            )
        status = deep(nsobj.get("status") or {})
        previous = status.get("conditions") or []
        conds = []
        for ctype, ok_reason, ok_message in _CONDITIONS:
            reason, message = trouble.get(ctype, (ok_reason, ok_message))
            conds.append(condition(ctype, "True" if ctype in trouble else "False", reason, message, previous))
        status["conditions"] = conds
        self.mgr.write_status(NAMESPACES_GP, nsobj, status)
