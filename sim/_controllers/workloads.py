"""Workload controllers: Deployment -> ReplicaSet -> Pods, StatefulSet, DaemonSet and Job.

Simplified on purpose: a template change rolls over at once (the new ReplicaSet gets all
replicas, old ones are scaled to zero), StatefulSet pods are created all at once, and Job pods
complete successfully. Status fields follow the real controllers closely enough for
``kubectl rollout status`` / ``kubectl wait`` and for federation status aggregation.

A workload that a Karmada (Cluster)PropagationPolicy stored in the same cluster selects is a template
to federate, not something to run: like Karmada's API server, a cluster that holds such policies (the
federation host) runs no pods for it, and removes what it ran before the policy selected it.
"""

from __future__ import annotations

import math
from typing import Any

from .._errors import ApiError
from .._selectors import match_label_selector
from .._store import Event, Obj
from ._base import (
    DAEMONSETS,
    DEPLOYMENTS,
    JOBS,
    NODES,
    PODS,
    REPLICASETS,
    STATEFULSETS,
    Controller,
    Key,
    condition,
    controller_ref,
    deep,
    is_deleting,
    now,
    owner_ref,
    pod_ready,
    rt_of,
    template_hash,
)
from ._policies import POLICY_RESOURCES, selected_by_policy

_OWNER_KIND = {
    "ReplicaSet": REPLICASETS,
    "StatefulSet": STATEFULSETS,
    "DaemonSet": DAEMONSETS,
    "Job": JOBS,
    "Deployment": DEPLOYMENTS,
}
HASH_LABEL = "pod-template-hash"


def _active(pod: Obj) -> bool:
    return not is_deleting(pod) and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


class WorkloadController(Controller):
    def on_event(self, ev: Event) -> None:
        gp = ev.gp
        meta = ev.obj["metadata"]
        if gp in (DEPLOYMENTS, REPLICASETS, STATEFULSETS, DAEMONSETS, JOBS) and ev.type != "DELETED":
            self.enqueue(gp, meta["namespace"], meta["name"])
        if gp in (PODS, REPLICASETS):
            ref = controller_ref(ev.obj)
            if ref is not None and ref.get("kind") in _OWNER_KIND:
                self.enqueue(_OWNER_KIND[ref["kind"]], meta["namespace"], ref.get("name"))
        elif gp in POLICY_RESOURCES:
            for wgp in (DEPLOYMENTS, REPLICASETS, STATEFULSETS, DAEMONSETS, JOBS):
                for w in self.store.iter_objects(wgp):
                    self.enqueue(wgp, w["metadata"]["namespace"], w["metadata"]["name"])
        elif gp == NODES and ev.type != "MODIFIED":
            for ds in self.store.iter_objects(DAEMONSETS):
                self.enqueue(DAEMONSETS, ds["metadata"]["namespace"], ds["metadata"]["name"])

    def reconcile(self, key: Key) -> None:
        gp, ns, name = key
        obj = self.store.peek(gp, ns, name)
        if obj is None or is_deleting(obj):
            return
        if selected_by_policy(self.store, obj):
            for owned_gp in (REPLICASETS, PODS):
                for owned in self._owned(obj, owned_gp):
                    self._delete(owned_gp, owned)
            return
        if gp == DEPLOYMENTS:
            self._deployment(obj, ns)
        elif gp == REPLICASETS:
            self._replicaset(obj, ns)
        elif gp == STATEFULSETS:
            self._statefulset(obj, ns)
        elif gp == DAEMONSETS:
            self._daemonset(obj, ns)
        elif gp == JOBS:
            self._job(obj, ns)

    # ---- helpers -----------------------------------------------------------------------------
    def _owned(self, owner: Obj, gp: tuple[str, str]) -> list[Obj]:
        out = []
        for dgp, dns, dname in self.store.dependents(owner["metadata"]["uid"]):
            if dgp == gp:
                obj = self.store.peek(dgp, dns, dname)
                if obj is not None:
                    out.append(obj)
        out.sort(key=lambda o: o["metadata"]["name"])
        return out

    def _create_pod(
        self,
        owner: Obj,
        ns: str,
        name: str | None = None,
        node: str | None = None,
        extra_labels: dict[str, str] | None = None,
    ) -> None:
        template = deep((owner.get("spec") or {}).get("template") or {})
        meta = template.get("metadata") or {}
        labels = {**(meta.get("labels") or {}), **(extra_labels or {})}
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"labels": labels, "ownerReferences": [owner_ref(owner)]},
            "spec": template.get("spec") or {},
        }
        if meta.get("annotations"):
            body["metadata"]["annotations"] = meta["annotations"]
        if name:
            body["metadata"]["name"] = name
        else:
            body["metadata"]["generateName"] = owner["metadata"]["name"] + "-"
        if node:
            body["spec"]["nodeName"] = node
        try:
            self.store.create(rt_of(PODS), ns, body)
        except ApiError as e:
            if e.code not in (403, 404, 409):
                raise

    def _delete(self, gp: tuple[str, str], obj: Obj) -> None:
        try:
            self.store.delete(rt_of(gp), obj["metadata"]["namespace"], obj["metadata"]["name"])
        except ApiError as e:
            if e.code != 404:
                raise

    # ---- ReplicaSet --------------------------------------------------------------------------
    def _replicaset(self, rs: Obj, ns: str) -> None:
        want = (rs.get("spec") or {}).get("replicas", 1)
        pods = [p for p in self._owned(rs, PODS) if _active(p)]
        if len(pods) < want:
            for _ in range(want - len(pods)):
                self._create_pod(rs, ns)
            pods = [p for p in self._owned(rs, PODS) if _active(p)]
        elif len(pods) > want:

            def rank(p: Obj) -> tuple[int, int, str]:
                return (
                    1 if (p.get("spec") or {}).get("nodeName") else 0,
                    1 if pod_ready(p) else 0,
                    "~" + p["metadata"]["creationTimestamp"],
                )

            pods.sort(key=rank)
            for p in pods[: len(pods) - want]:
                self._delete(PODS, p)
            pods = pods[len(pods) - want :]
        ready = sum(1 for p in pods if pod_ready(p))
        status: dict[str, Any] = {
            "replicas": len(pods),
            "fullyLabeledReplicas": len(pods),
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        if ready:
            status["readyReplicas"] = ready
            status["availableReplicas"] = ready
        self.mgr.write_status(REPLICASETS, rs, status)

    # ---- Deployment --------------------------------------------------------------------------
    def _deployment(self, d: Obj, ns: str) -> None:
        spec = d.get("spec") or {}
        want = spec.get("replicas", 1)
        template = spec.get("template") or {}
        h = template_hash(template)
        rss = self._owned(d, REPLICASETS)
        current = next((r for r in rss if (r["metadata"].get("labels") or {}).get(HASH_LABEL) == h), None)
        revisions = [
            int((r["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision", "0"))
            for r in rss
        ]
        rs_rt = rt_of(REPLICASETS)
        if current is None:
            tmpl = deep(template)
            tmpl.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = h
            selector = deep(spec.get("selector") or {})
            selector.setdefault("matchLabels", {})[HASH_LABEL] = h
            body = {
                "metadata": {
                    "name": f"{d['metadata']['name']}-{h}",
                    "labels": dict(tmpl["metadata"]["labels"]),
                    "annotations": {
                        "deployment.kubernetes.io/revision": str(max(revisions, default=0) + 1),
                        "deployment.kubernetes.io/desired-replicas": str(want),
                        "deployment.kubernetes.io/max-replicas": str(want + 1),
                    },
                    "ownerReferences": [owner_ref(d)],
                },
                "spec": {
                    "replicas": want,
                    "selector": selector,
                    "template": tmpl,
                    "minReadySeconds": spec.get("minReadySeconds", 0),
                },
            }
            try:
                current = self.store.create(rs_rt, ns, body)
            except ApiError as e:
                if e.code != 409:
                    raise
                current = self.store.peek(REPLICASETS, ns, body["metadata"]["name"])
                if current is None:
                    return
            rss = self._owned(d, REPLICASETS)
        else:
            rev = int(
                (current["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision", "0")
            )
            top = max(revisions, default=0)
            if (current.get("spec") or {}).get("replicas") != want or rev < top:
                # Scaling, or a rollback to an older template: that ReplicaSet becomes the newest revision.
                new = deep(current)
                new["spec"]["replicas"] = want
                ann = new["metadata"].setdefault("annotations", {})
                ann["deployment.kubernetes.io/desired-replicas"] = str(want)
                if rev < top:
                    ann["deployment.kubernetes.io/revision"] = str(top + 1)
                current = self.store.update(rs_rt, ns, current["metadata"]["name"], new)
        revision = (current["metadata"].get("annotations") or {}).get(
            "deployment.kubernetes.io/revision", "1"
        )
        if (d["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision") != revision:
            new_d = deep(d)
            new_d["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = revision
            d = self.store.update(rt_of(DEPLOYMENTS), ns, d["metadata"]["name"], new_d)
        for r in rss:
            if r["metadata"]["uid"] != current["metadata"]["uid"] and (r.get("spec") or {}).get(
                "replicas", 0
            ):
                new = deep(r)
                new["spec"]["replicas"] = 0
                self.store.update(rs_rt, ns, r["metadata"]["name"], new)
        rss = self._owned(d, REPLICASETS)
        sts = [r.get("status") or {} for r in rss]
        cur_status = next(
            ((r.get("status") or {}) for r in rss if r["metadata"]["uid"] == current["metadata"]["uid"]), {}
        )
        replicas = sum(s.get("replicas", 0) for s in sts)
        ready = sum(s.get("readyReplicas", 0) for s in sts)
        available = sum(s.get("availableReplicas", 0) for s in sts)
        updated = cur_status.get("replicas", 0)
        max_unavail = _int_or_percent(
            ((spec.get("strategy") or {}).get("rollingUpdate") or {}).get("maxUnavailable", "25%"), want
        )
        if (spec.get("strategy") or {}).get("type") == "Recreate":
            max_unavail = 0
        prev = (d.get("status") or {}).get("conditions")
        rs_name = current["metadata"]["name"]
        if available >= want - max_unavail:
            avail = condition(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                prev,
                update_time=True,
            )
        else:
            avail = condition(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                prev,
                update_time=True,
            )
        if updated == want and replicas == want and available >= want:
            prog = condition(
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
                prev,
                update_time=True,
            )
        else:
            prog = condition(
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                f'ReplicaSet "{rs_name}" is progressing.',
                prev,
                update_time=True,
            )
        status: dict[str, Any] = {
            "observedGeneration": d["metadata"].get("generation", 1),
            "replicas": replicas,
            "updatedReplicas": updated,
            "conditions": [avail, prog],
        }
        if ready:
            status["readyReplicas"] = ready
        if available:
            status["availableReplicas"] = available
        if want - available > 0:
            status["unavailableReplicas"] = want - available
        self.mgr.write_status(DEPLOYMENTS, d, status)

    # ---- StatefulSet -------------------------------------------------------------------------
    def _statefulset(self, sts: Obj, ns: str) -> None:
        name = sts["metadata"]["name"]
        want = (sts.get("spec") or {}).get("replicas", 1)
        rev = f"{name}-{template_hash((sts.get('spec') or {}).get('template'))}"
        pods = {p["metadata"]["name"]: p for p in self._owned(sts, PODS)}
        for i in range(want):
            pname = f"{name}-{i}"
            if pname not in pods:
                self._create_pod(
                    sts,
                    ns,
                    pname,
                    extra_labels={
                        "statefulset.kubernetes.io/pod-name": pname,
                        "controller-revision-hash": rev,
                        "apps.kubernetes.io/pod-index": str(i),
                    },
                )
        for pname, p in pods.items():
            idx = pname.rsplit("-", 1)[-1]
            if not idx.isdigit() or int(idx) >= want:
                if not is_deleting(p):
                    self._delete(PODS, p)
        pods_now = [p for p in self._owned(sts, PODS) if _active(p)]
        ready = sum(1 for p in pods_now if pod_ready(p))
        status = {
            "observedGeneration": sts["metadata"].get("generation", 1),
            "replicas": len(pods_now),
            "readyReplicas": ready,
            "currentReplicas": len(pods_now),
            "updatedReplicas": len(pods_now),
            "availableReplicas": ready,
            "currentRevision": rev,
            "updateRevision": rev,
            "collisionCount": 0,
        }
        self.mgr.write_status(STATEFULSETS, sts, status)

    # ---- DaemonSet ---------------------------------------------------------------------------
    def _daemonset(self, ds: Obj, ns: str) -> None:
        tmpl_spec = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
        node_selector = tmpl_spec.get("nodeSelector") or {}
        nodes = [
            n
            for n in self.store.iter_objects(NODES, "")
            if match_label_selector({"matchLabels": node_selector}, n["metadata"].get("labels") or {})
        ]
        pods = self._owned(ds, PODS)
        by_node = {(p.get("spec") or {}).get("nodeName"): p for p in pods if _active(p)}
        for n in nodes:
            if n["metadata"]["name"] not in by_node:
                self._create_pod(ds, ns, node=n["metadata"]["name"])
        wanted = {n["metadata"]["name"] for n in nodes}
        for node, p in by_node.items():
            if node not in wanted:
                self._delete(PODS, p)
        pods_now = [p for p in self._owned(ds, PODS) if _active(p)]
        ready = sum(1 for p in pods_now if pod_ready(p))
        status = {
            "observedGeneration": ds["metadata"].get("generation", 1),
            "desiredNumberScheduled": len(nodes),
            "currentNumberScheduled": len(pods_now),
            "updatedNumberScheduled": len(pods_now),
            "numberMisscheduled": 0,
            "numberReady": ready,
            "numberAvailable": ready,
        }
        if len(nodes) - ready > 0:
            status["numberUnavailable"] = len(nodes) - ready
        self.mgr.write_status(DAEMONSETS, ds, status)

    # ---- Job ---------------------------------------------------------------------------------
    def _job(self, job: Obj, ns: str) -> None:
        spec = job.get("spec") or {}
        status = deep(job.get("status") or {})
        conds = status.get("conditions") or []
        if any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in conds):
            return
        completions = spec.get("completions", 1) or 1
        parallelism = spec.get("parallelism", 1)
        pods = self._owned(job, PODS)
        succeeded = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Succeeded")
        active = [p for p in pods if _active(p)]
        status.setdefault("startTime", now())
        if succeeded >= completions:
            ts = now()
            status.update(
                {
                    "succeeded": succeeded,
                    "completionTime": ts,
                    "ready": 0,
                    "terminating": 0,
                    "uncountedTerminatedPods": {},
                }
            )
            status.pop("active", None)
            status["conditions"] = [
                condition(
                    "SuccessCriteriaMet",
                    "True",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    conds,
                ),
                condition(
                    "Complete",
                    "True",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    conds,
                ),
            ]
            self.mgr.write_status(JOBS, job, status)
            return
        if not spec.get("suspend"):
            for _ in range(max(0, min(parallelism, completions - succeeded) - len(active))):
                self._create_pod(job, ns)
        active = [p for p in self._owned(job, PODS) if _active(p)]
        status.update(
            {"ready": sum(1 for p in active if pod_ready(p)), "terminating": 0, "uncountedTerminatedPods": {}}
        )
        if active:
            status["active"] = len(active)
        else:
            status.pop("active", None)
        if succeeded:
            status["succeeded"] = succeeded
        self.mgr.write_status(JOBS, job, status)


def _int_or_percent(value: Any, total: int) -> int:
    if isinstance(value, str) and value.endswith("%"):
        return math.floor(total * int(value[:-1]) / 100)
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
