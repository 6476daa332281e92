"""Scheduler plus kubelet, like KWOK: nodes, binding within capacity, pods Running/Ready after a delay.

Capacity is a per-cluster maximum number of bound, non-terminated pods. Pods beyond it stay
Pending with ``PodScheduled=False`` (``Unschedulable``) and are retried whenever room appears
(a pod goes away or finishes, or the capacity is raised). Pods owned by a Job complete
(``Succeeded``) one more delay after they start.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from .._errors import ApiError
from .._store import Event, Obj
from ._base import NODES, PODS, Controller, Key, condition, controller_ref, deep, is_deleting, now, rt_of

TERMINAL = ("Succeeded", "Failed")


class Kubelet(Controller):
    def __init__(self, mgr) -> None:  # type: ignore[no-untyped-def]
        super().__init__(mgr)
        self.bound: set[tuple[str, str]] = set()
        self.unschedulable: dict[tuple[str, str], None] = {}
        self._next_ip = 0
        self._rr = 0

    # ---- nodes -------------------------------------------------------------------------------
    def node_names(self) -> list[str]:
        s = self.mgr.settings
        return [f"{s.cluster_name}-node-{i}" for i in range(s.nodes)]

    def create_nodes(self) -> None:
        s = self.mgr.settings
        rt = rt_of(NODES)
        for i, name in enumerate(self.node_names()):
            labels = {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node.kubernetes.io/instance-type": "sim",
                "type": "kwok",
                **s.node_labels,
            }
            ip = str(ipaddress.IPv4Address("10.0.0.0") + (s.index % 250) * 256 + i + 10)
            pods = str(max(1, s.capacity))
            self.store.create(
                rt,
                "",
                {
                    "metadata": {
                        "name": name,
                        "labels": labels,
                        "annotations": {"node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake"},
                    },
                    "spec": {"podCIDR": f"10.244.{i}.0/24"},
                },
            )
            node = self.store.peek(NODES, "", name)
            assert node is not None
            self.mgr.write_status(
                NODES,
                node,
                {
                    "capacity": {"cpu": "32", "memory": "256Gi", "pods": pods},
                    "allocatable": {"cpu": "32", "memory": "256Gi", "pods": pods},
                    "addresses": [
                        {"type": "InternalIP", "address": ip},
                        {"type": "Hostname", "address": name},
                    ],
                    "conditions": [
                        condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
                        condition("MemoryPressure", "False", "KubeletHasSufficientMemory"),
                        condition("DiskPressure", "False", "KubeletHasNoDiskPressure"),
                        condition("PIDPressure", "False", "KubeletHasSufficientPID"),
                    ],
                    "nodeInfo": {
                        "architecture": "amd64",
                        "operatingSystem": "linux",
                        "kubeletVersion": "v1.37.0-sim",
                        "kubeProxyVersion": "",
                        "containerRuntimeVersion": "sim://1.0",
                        "kernelVersion": "",
                        "osImage": "",
                        "machineID": "",
                        "systemUUID": "",
                        "bootID": "",
                    },
                    "phase": "Running",
                },
            )

    def set_node_labels(self, labels: dict[str, str | None]) -> None:
        """Merge labels into every node (``None`` removes a label)."""
        rt = rt_of(NODES)
        for node in list(self.store.iter_objects(NODES, "")):
            new = deep(node)
            cur = new["metadata"].setdefault("labels", {})
            for k, v in labels.items():
                if v is None:
                    cur.pop(k, None)
                else:
                    cur[k] = v
            self.store.update(rt, "", node["metadata"]["name"], new)
        for k, v in labels.items():
            if v is None:
                self.mgr.settings.node_labels.pop(k, None)
            else:
                self.mgr.settings.node_labels[k] = v

    def capacity_changed(self) -> None:
        """Publish the new pod capacity on the nodes and retry pending pods."""
        pods = str(max(1, self.mgr.settings.capacity))
        for node in list(self.store.iter_objects(NODES, "")):
            status = deep(node.get("status") or {})
            for key in ("capacity", "allocatable"):
                status.setdefault(key, {})["pods"] = pods
            self.mgr.write_status(NODES, node, status)
        self.enqueue("retry")

    # ---- pods --------------------------------------------------------------------------------
    def on_event(self, ev: Event) -> None:
        if ev.gp != PODS:
            return
        meta = ev.obj["metadata"]
        key = (meta["namespace"], meta["name"])
        if ev.type == "DELETED":
            self.unschedulable.pop(key, None)
            if key in self.bound:
                self.bound.discard(key)
                self.enqueue("retry")
            return
        if ev.type == "ADDED":
            self.enqueue("schedule", *key)
        elif (ev.obj.get("status") or {}).get("phase") in TERMINAL and key in self.bound:
            self.bound.discard(key)
            self.enqueue("retry")

    def reconcile(self, key: Key) -> None:
        action = key[0]
        if action == "retry":
            for k in list(self.unschedulable):
                if len(self.bound) >= self.mgr.settings.capacity:
                    break
                self.reconcile(("schedule", *k))
            return
        ns, name = key[1], key[2]
        pod = self.store.peek(PODS, ns, name)
        if pod is None or is_deleting(pod):
            return
        if action == "schedule":
            self._schedule(pod, ns, name)
        elif action == "start":
            self._start(pod, ns, name)
        elif action == "complete":
            self._complete(pod)

    def _schedule(self, pod: Obj, ns: str, name: str) -> None:
        spec = pod.get("spec") or {}
        status = pod.get("status") or {}
        if status.get("phase") in TERMINAL:
            return
        nodes = self.node_names()
        if spec.get("nodeName"):
            self.bound.add((ns, name))
            self.unschedulable.pop((ns, name), None)
            self._bound_status(pod, spec["nodeName"])
            return
        if len(self.bound) >= self.mgr.settings.capacity or not nodes:
            self.unschedulable[(ns, name)] = None
            n = len(nodes)
            st = deep(status)
            st["phase"] = "Pending"
            st["conditions"] = [
                condition(
                    "PodScheduled",
                    "False",
                    "Unschedulable",
                    f"0/{n} nodes are available: {n} Too many pods. preemption: 0/{n} nodes are available: "
                    f"{n} No preemption victims found for incoming pod.",
                    status.get("conditions"),
                )
            ]
            self.mgr.write_status(PODS, pod, st)
            return
        node = nodes[self._rr % len(nodes)]
        self._rr += 1
        new = deep(pod)
        new["spec"]["nodeName"] = node
        pod = self.store.update(rt_of(PODS), ns, name, new)
        self.bound.add((ns, name))
        self.unschedulable.pop((ns, name), None)
        self._bound_status(pod, node)

    def _bound_status(self, pod: Obj, node: str) -> None:
        status = deep(pod.get("status") or {})
        if status.get("phase") == "Running":
            return
        status["phase"] = "Pending"
        status["conditions"] = [condition("PodScheduled", "True", previous=status.get("conditions"))]
        meta = pod["metadata"]
        pod = self.mgr.write_status(PODS, pod, status)
        self.enqueue("start", meta["namespace"], meta["name"], delay=self.mgr.settings.pod_ready_delay)

    def _pod_ip(self) -> str:
        self._next_ip += 1
        return str(ipaddress.IPv4Address("10.244.0.0") + self._next_ip)

    def _start(self, pod: Obj, ns: str, name: str) -> None:
        spec = pod.get("spec") or {}
        if not spec.get("nodeName"):
            return
        status = deep(pod.get("status") or {})
        if status.get("phase") != "Pending":
            return
        ts = now()
        conds = status.get("conditions")
        node = self.store.peek(NODES, "", spec["nodeName"]) or {}
        host_ip = next(
            (
                a["address"]
                for a in (node.get("status") or {}).get("addresses") or ()
                if a.get("type") == "InternalIP"
            ),
            "10.0.0.10",
        )
        status.update(
            {
                "phase": "Running",
                "hostIP": host_ip,
                "hostIPs": [{"ip": host_ip}],
                "podIP": status.get("podIP") or self._pod_ip(),
                "startTime": status.get("startTime") or ts,
                "conditions": [
                    condition(t, "True", previous=conds)
                    for t in (
                        "PodReadyToStartContainers",
                        "Initialized",
                        "Ready",
                        "ContainersReady",
                        "PodScheduled",
                    )
                ],
                "containerStatuses": [_running(c, ts) for c in spec.get("containers") or ()],
            }
        )
        status["podIPs"] = [{"ip": status["podIP"]}]
        self.mgr.write_status(PODS, pod, status)
        ref = controller_ref(pod)
        if ref is not None and ref.get("kind") == "Job":
            self.enqueue("complete", ns, name, delay=self.mgr.settings.pod_ready_delay)

    def _complete(self, pod: Obj) -> None:
        status = deep(pod.get("status") or {})
        if status.get("phase") != "Running":
            return
        ts = now()
        conds = status.get("conditions")
        status["phase"] = "Succeeded"
        status["conditions"] = [
            condition("PodReadyToStartContainers", "False", previous=conds),
            condition("Initialized", "True", "PodCompleted", previous=conds),
            condition("Ready", "False", "PodCompleted", previous=conds),
            condition("ContainersReady", "False", "PodCompleted", previous=conds),
            condition("PodScheduled", "True", previous=conds),
        ]
        status["containerStatuses"] = [
            {
                **c,
                "ready": False,
                "started": False,
                "state": {
                    "terminated": {"exitCode": 0, "reason": "Completed", "startedAt": ts, "finishedAt": ts}
                },
            }
            for c in status.get("containerStatuses") or ()
        ]
        try:
            self.mgr.write_status(PODS, pod, status)
        except ApiError as e:
            if e.code != 404:
                raise


def _running(container: dict[str, Any], ts: str) -> dict[str, Any]:
    return {
        "name": container.get("name"),
        "image": container.get("image", ""),
        "imageID": f"docker.io/{container.get('image', '')}@sha256:0",
        "ready": True,
        "started": True,
        "restartCount": 0,
        "containerID": f"sim://{container.get('name')}",
        "state": {"running": {"startedAt": ts}},
    }
