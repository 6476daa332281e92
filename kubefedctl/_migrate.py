"""``kubefedctl migrate``: from ``Federated<Kind>`` objects to native objects + Karmada policies (issue #16).

Reads the host (FederatedTypeConfigs, KubeFedConfig scope, KubeFedClusters, the federated objects of a
namespace or of the whole fleet, their RSPs, the native objects of the same names) and prints the plan
of :func:`kubefedctl._migration.plan_migration`: with ``--dry-run`` it prints the plan; without, it
refuses before writing anything when some object cannot migrate, and otherwise carries the plan out in
place with :func:`kubefedctl._migrate_apply.execute_plan` (policies, orphaning deletion of the
``Federated<Kind>``, the native object adopting the member objects), printing progress per object.
"""

from __future__ import annotations

from typing import Any

from kubefedctl._common import CommandError, Options, connect, dig, echo, list_type_configs
from kubefedctl._migrate_apply import TypeResources, execute_plan
from kubefedctl._migration import TargetType, plan_migration, render_plan
from shared.errors import NotFoundError
from shared.k8s import KUBEFED_CLUSTERS, KUBEFED_CONFIGS, KubeClient, Resource
from shared.kubefed_api import KUBEFED_CONFIG_NAME

__all__ = ["migrate"]

RSPS = Resource(
    "scheduling.kubefed.io", "v1alpha1", "replicaschedulingpreferences", kind="ReplicaSchedulingPreference"
)


def _federated_resource(ftc: dict[str, Any]) -> Resource:
    fed = dig(ftc, "spec", "federatedType", default={}) or {}
    return Resource(
        str(fed.get("group")),
        str(fed.get("version")),
        str(fed.get("pluralName")),
        fed.get("scope") == "Namespaced",
        str(fed.get("kind")),
    )


def _target_resource(ftc: dict[str, Any]) -> Resource:
    target = dig(ftc, "spec", "targetType", default={}) or {}
    return Resource(
        str(target.get("group") or ""),
        str(target.get("version")),
        str(target.get("pluralName")),
        target.get("scope") == "Namespaced",
        str(target.get("kind")),
    )


async def _list(host: KubeClient, res: Resource, namespace: str | None) -> list[dict[str, Any]]:
    try:
        items, _ = await host.list(res, namespace if res.namespaced else None)
    except NotFoundError:
        return []
    return items


async def gather(host: KubeClient, opts: Options, namespace: str | None) -> dict[str, Any]:
    """Everything :func:`plan_migration` needs, read from the host (``namespace`` None: the whole fleet)."""
    ns = opts.kubefed_namespace
    ftcs = await list_type_configs(host, ns)
    config = await host.get_or_none(KUBEFED_CONFIGS, KUBEFED_CONFIG_NAME, ns)
    clusters, _ = await host.list(KUBEFED_CLUSTERS, ns)
    federated: list[dict[str, Any]] = []
    namespace_placements: list[dict[str, Any]] = []
    host_objects: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for ftc in ftcs:
        fed_res, target_res = _federated_resource(ftc), _target_resource(ftc)
        if namespace is not None and not fed_res.namespaced:
            continue  # cluster-scoped federated types belong to no namespace: only with --all
        items = await _list(host, fed_res, namespace)
        if target_res.kind == "Namespace" and namespace is None:
            namespace_placements = items
        federated.extend(items)
        for item in items:
            name = item["metadata"]["name"]
            item_ns = item["metadata"].get("namespace") if target_res.namespaced else None
            live = await host.get_or_none(target_res, name, item_ns)
            if live is not None:
                host_objects[(target_res.api_version, target_res.kind, item_ns or "", name)] = live
    return {
        "federated": federated,
        "types": [TargetType.from_ftc(f) for f in ftcs],
        "rsps": await _list(host, RSPS, namespace),
        "clusters": clusters,
        "host_objects": host_objects,
        "namespace_placements": namespace_placements,
        "namespaced_scope": dig(config or {}, "spec", "scope", default="Cluster") == "Namespaced",
    }


async def migrate(
    opts: Options, *, namespace: str | None, all_namespaces: bool, timeout: float = 60.0
) -> None:
    """Migrate the federated objects of a namespace (or of the fleet) in place, or print the plan
    (``--dry-run``); fail, before writing anything, when some object cannot migrate."""
    if (namespace is None) == (not all_namespaces):
        raise CommandError("give exactly one of --namespace NAME or --all")
    async with connect(opts) as host:
        state = await gather(host, opts, namespace)
        plan = plan_migration(**state)
        if opts.dry_run:
            echo(render_plan(plan).rstrip("\n"))
        where = f'namespace "{namespace}"' if namespace else "the fleet"
        if not plan.items:
            raise CommandError(f"no federated objects found in {where}")
        if plan.refused:
            raise CommandError(
                f"{len(plan.refused)} of {len(plan.items)} federated objects cannot be migrated"
                + ("" if opts.dry_run else " (nothing was written)")
                + ": "
                + "; ".join(f"{i.key}: {i.refused}" for i in plan.refused)
            )
        if opts.dry_run:
            return
        resources = {
            str(dig(ftc, "spec", "federatedType", "kind")): TypeResources(
                _federated_resource(ftc), _target_resource(ftc)
            )
            for ftc in await list_type_configs(host, opts.kubefed_namespace)
        }
        done = await execute_plan(host, plan, resources, RSPS, say=echo, timeout=timeout)
        echo(f"{done} of {len(plan.items)} federated objects in {where} migrated")
