"""``kubefedctl status``: federated objects against member clusters, and the clusters themselves.

Beyond KubeFed, whose users could only read raw ``status.clusters`` (#246, #1240). Gathering is async
(:func:`gather`); turning objects into rows is pure (:func:`object_rows`, :func:`cluster_row`) so it
is tested without a cluster. Per cluster an object is ``Propagated`` (listed without a status),
``<reason>`` (listed with one, e.g. ``ClusterNotReady``) or ``Pending`` (placed but not reported yet);
replicas come from ``remoteStatus`` when status collection is on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from kubefedctl._common import CommandError, Options, connect, dig, echo, list_type_configs, warn
from kubefedctl._output import dump_json, print_table
from kubefedctl._resolve import discover, resolve
from shared.errors import NotFoundError
from shared.k8s import KUBEFED_CLUSTERS, KubeClient, Resource
from shared.planning import ClusterInfo, compute_placement

__all__ = ["cluster_row", "gather", "object_rows", "status"]


def _condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for cond in dig(obj, "status", "conditions", default=[]) or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def cluster_row(kfc: Mapping[str, Any]) -> dict[str, Any]:
    """One member cluster: readiness from its conditions, version and topology from its status."""
    ready = _condition(kfc, "Ready")
    offline = _condition(kfc, "Offline")
    if ready is not None:
        state = "Ready" if ready.get("status") == "True" else "NotReady"
        reason = "" if state == "Ready" else str(ready.get("reason") or "")
    elif offline is not None and offline.get("status") == "True":
        state, reason = "Offline", str(offline.get("reason") or "")
    else:
        state, reason = "Unknown", ""
    return {
        "name": dig(kfc, "metadata", "name"),
        "ready": state,
        "reason": reason,
        "kubernetesVersion": dig(kfc, "status", "kubernetesVersion", default="") or "",
        "region": dig(kfc, "status", "region", default="") or "",
        "zones": list(dig(kfc, "status", "zones", default=[]) or []),
        "apiEndpoint": dig(kfc, "spec", "apiEndpoint", default=""),
    }


def _replicas(remote: Mapping[str, Any] | None) -> str:
    if not isinstance(remote, Mapping) or "replicas" not in remote:
        return ""
    return f"{remote.get('readyReplicas') or 0}/{remote.get('replicas')}"


def object_rows(fed: Mapping[str, Any], clusters: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One federated object: overall Propagation condition and a state per cluster (pure)."""
    infos = [
        ClusterInfo(str(dig(c, "metadata", "name")), dict(dig(c, "metadata", "labels", default={}) or {}))
        for c in clusters
    ]
    try:
        placed = set(compute_placement(dig(fed, "spec", "placement"), infos))
    except Exception:  # a malformed selector is the controller's ComputePlacementFailed
        placed = set()
    reported = {str(e.get("name")): e for e in dig(fed, "status", "clusters", default=[]) or []}
    cond = _condition(fed, "Propagation")
    per_cluster = []
    for name in sorted(placed | set(reported)):
        entry = reported.get(name)
        if entry is None:
            state = "Pending"
        else:
            state = str(entry.get("status") or "Propagated")
        per_cluster.append(
            {"cluster": name, "state": state, "replicas": _replicas(entry and entry.get("remoteStatus"))}
        )
    return {
        "kind": fed.get("kind"),
        "namespace": dig(fed, "metadata", "namespace", default="") or "",
        "name": dig(fed, "metadata", "name"),
        "propagation": (cond or {}).get("status", "Unknown"),
        "reason": (cond or {}).get("reason", "") or "",
        "orphaning": dig(fed, "metadata", "annotations", "kubefed.io/orphan") == "true",
        "clusters": per_cluster,
    }


async def _select_ftcs(host: KubeClient, ns: str, type_name: str | None) -> list[dict[str, Any]]:
    ftcs = await list_type_configs(host, ns)
    if not type_name:
        return sorted(ftcs, key=lambda f: f["metadata"]["name"])
    target = resolve(type_name, discover(await host.api_resources()), warn=warn)
    for ftc in ftcs:
        fed = dig(ftc, "spec", "federatedType", default={})
        if ftc["metadata"]["name"] == target.qualified or (
            fed.get("group") == target.group and fed.get("pluralName") == target.plural
        ):
            return [ftc]
    raise CommandError(
        f'type "{target.qualified}" is not enabled for federation (no FederatedTypeConfig in {ns})'
    )


async def gather(
    host: KubeClient, opts: Options, type_name: str | None, name: str | None, namespace: str | None
) -> dict[str, Any]:
    """Read clusters and federated objects from the host and build the report."""
    ns = opts.kubefed_namespace
    ftcs = await _select_ftcs(host, ns, type_name)
    clusters, _ = await host.list(KUBEFED_CLUSTERS, ns)
    objects: list[dict[str, Any]] = []
    for ftc in ftcs:
        fed = dig(ftc, "spec", "federatedType", default={})
        res = Resource(
            str(fed.get("group")),
            str(fed.get("version")),
            str(fed.get("pluralName")),
            fed.get("scope") == "Namespaced",
            str(fed.get("kind")),
        )
        try:
            items, _ = await host.list(res, namespace if res.namespaced else None)
        except NotFoundError:
            continue
        for item in items:
            if name and item["metadata"]["name"] != name:
                continue
            objects.append(object_rows(item, clusters))
    if name and not objects:
        raise CommandError(
            f'no federated object named "{name}" found'
            + (f' in namespace "{namespace}"' if namespace else "")
        )
    return {
        "clusters": [cluster_row(c) for c in sorted(clusters, key=lambda c: c["metadata"]["name"])],
        "objects": sorted(objects, key=lambda o: (o["kind"], o["namespace"], o["name"])),
    }


def _print(report: dict[str, Any], output: str | None) -> None:
    if output == "json":
        echo(dump_json(report))
        return
    if output == "yaml":
        echo(yaml.safe_dump(report, sort_keys=False).rstrip("\n"))
        return
    print_table(
        "Member clusters",
        ("NAME", "READY", "VERSION", "REGION", "ZONES", "ENDPOINT"),
        [
            (
                c["name"],
                c["ready"] + (f" ({c['reason']})" if c["reason"] else ""),
                c["kubernetesVersion"],
                c["region"],
                ",".join(c["zones"]),
                c["apiEndpoint"],
            )
            for c in report["clusters"]
        ],
    )
    rows = []
    for o in report["objects"]:
        ref = f"{o['kind']} {o['namespace'] + '/' if o['namespace'] else ''}{o['name']}"
        overall = "True" if o["propagation"] == "True" else f"{o['propagation']} {o['reason']}".strip()
        if not o["clusters"]:
            rows.append((ref, overall, "-", "no clusters selected", ""))
        for c in o["clusters"]:
            rows.append((ref, overall, c["cluster"], c["state"], c["replicas"]))
            ref, overall = "", ""
    print_table("Federated objects", ("OBJECT", "PROPAGATION", "CLUSTER", "STATE", "REPLICAS"), rows)


async def status(
    opts: Options,
    type_name: str | None,
    name: str | None,
    namespace: str | None,
    *,
    output: str | None,
    watch: bool,
    interval: float = 2.0,
    max_rounds: int | None = None,
) -> None:
    """``kubefedctl status``; with ``watch`` the report is re-printed whenever it changes."""
    async with connect(opts) as host:
        last: dict[str, Any] | None = None
        rounds = 0
        while True:
            report = await gather(host, opts, type_name, name, namespace)
            if report != last:
                _print(report, output)
                last = report
            rounds += 1
            if not watch or (max_rounds is not None and rounds >= max_rounds):
                return
            await asyncio.sleep(interval)
