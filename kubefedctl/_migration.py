"""The migration plan from KubeFed's ``Federated<Kind>`` objects to native objects + Karmada policies (pure).

``kubefedctl migrate`` gathers the host's state (:mod:`._migrate`) and calls :func:`plan_migration`,
which turns each federated object, its overrides and its ReplicaSchedulingPreference into:

* the **native object** (the template with the target type's apiVersion/kind, the federated object's
  name and namespace, the template's labels and annotations): ``create`` when the host lacks it,
  ``keep`` when the host's copy already has every field it sets (as :func:`shared.planning.needs_write`
  judges member objects), ``update`` (with a warning) when it differs, since
  the template is what the members run;
* a **PropagationPolicy** (a **ClusterPropagationPolicy** for cluster-scoped types) ``<name>-<kind>``
  selecting exactly that object, with ``conflictResolution: Overwrite`` so the member objects KubeFed
  created are adopted, and a placement that selects the same clusters:

  - ``spec.placement.clusters`` → ``clusterAffinity.clusterNames``; ``clusterSelector`` → its
    ``labelSelector`` (``{}``: no affinity, every cluster);
  - a namespaced object is narrowed by its FederatedNamespace's placement, as KubeFed narrows it; when
    that changes the selected set, the result is written as explicit ``clusterNames`` (with a warning);
  - a placement that selects no cluster cannot be written (Karmada reads an empty ``clusterNames``
    as "every cluster"): the object is **refused**;
  - with an RSP: ``replicaScheduling`` Divided/Weighted with a ``staticWeightList`` from the RSP's
    weights (``*`` expanded to the clusters not named), ``totalReplicas`` as the native
    ``spec.replicas``, the RSP's own ``/spec/replicas`` overrides dropped; clusters from the RSP
    (``*``: every cluster; with ``intersectWithClusterSelector`` the object's selector); RSP
    ``minReplicas``/``maxReplicas`` have no Karmada equivalent: **refused**; ``rebalance`` is noted;

* an **OverridePolicy** (a ClusterOverridePolicy for cluster-scoped types) ``<name>-<kind>`` with one
  rule per cluster of ``spec.overrides``: ``targetCluster.clusterNames: [cluster]`` and the patch
  operations as ``plaintext`` overriders (KubeFed's empty ``op`` is ``replace``); invalid overrides
  (KubeFed's own rules) are **refused**.

A refused object stays under KubeFed; the others do not depend on it. Nothing here reads clocks or
clusters; :func:`render_plan` is the ``--dry-run`` output (YAML, every note as a comment).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from shared import karmada_api
from shared.planning import (
    ClusterInfo,
    OverridesError,
    compute_placement,
    narrow_by_namespace,
    needs_write,
    parse_overrides,
)

__all__ = ["MigrationItem", "MigrationPlan", "TargetType", "plan_migration", "render_plan"]

ORPHAN_ANNOTATION = "kubefed.io/orphan"


@dataclass(frozen=True)
class TargetType:
    """What a FederatedTypeConfig maps: the federated kind to the native type."""

    federated_kind: str
    api_version: str
    kind: str
    namespaced: bool

    @classmethod
    def from_ftc(cls, ftc: Mapping[str, Any]) -> TargetType:
        spec = ftc.get("spec") or {}
        target = spec.get("targetType") or {}
        group, version = target.get("group") or "", target.get("version") or ""
        return cls(
            federated_kind=str((spec.get("federatedType") or {}).get("kind", "")),
            api_version=f"{group}/{version}" if group else str(version),
            kind=str(target.get("kind", "")),
            namespaced=target.get("scope") == "Namespaced",
        )


@dataclass(frozen=True)
class MigrationItem:
    """One federated object: what replaces it, or why it cannot be migrated."""

    source: dict[str, Any]
    native: dict[str, Any] | None = None
    native_action: Literal["create", "update", "keep", ""] = ""
    propagation_policy: dict[str, Any] | None = None
    override_policy: dict[str, Any] | None = None
    rsp: dict[str, Any] | None = None
    warnings: tuple[str, ...] = ()
    refused: str = ""

    @property
    def key(self) -> str:
        meta = self.source.get("metadata") or {}
        where = f"{meta['namespace']}/" if meta.get("namespace") else ""
        return f"{self.source.get('kind')} {where}{meta.get('name')}"


@dataclass(frozen=True)
class MigrationPlan:
    items: tuple[MigrationItem, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def refused(self) -> tuple[MigrationItem, ...]:
        return tuple(i for i in self.items if i.refused)


class _Refused(Exception):
    pass


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _native(fed: Mapping[str, Any], target: TargetType) -> dict[str, Any]:
    template = copy.deepcopy(dict((fed.get("spec") or {}).get("template") or {}))
    template_meta = template.pop("metadata", None) or {}
    template.pop("apiVersion", None)
    template.pop("kind", None)
    meta: dict[str, Any] = {"name": _meta(fed)["name"]}
    if target.namespaced:
        meta["namespace"] = _meta(fed).get("namespace")
    for key in ("labels", "annotations"):
        if template_meta.get(key):
            meta[key] = dict(template_meta[key])
    return {"apiVersion": target.api_version, "kind": target.kind, "metadata": meta, **template}


def _policy_name(fed: Mapping[str, Any], target: TargetType) -> str:
    return f"{_meta(fed)['name']}-{target.kind.lower()}"


def _infos(clusters: Sequence[Mapping[str, Any]]) -> list[ClusterInfo]:
    return [
        ClusterInfo(
            str(_meta(c).get("name")),
            dict(_meta(c).get("labels") or {}),
            any(
                cond.get("type") == "Ready" and cond.get("status") == "True"
                for cond in ((c.get("status") or {}).get("conditions") or ())
            ),
        )
        for c in clusters
    ]


def _effective_placement(
    fed: Mapping[str, Any],
    target: TargetType,
    infos: list[ClusterInfo],
    namespace_placement: Mapping[str, frozenset[str] | None],
    namespaced_scope: bool,
) -> tuple[frozenset[str], frozenset[str]]:
    """``(clusters the object's own placement selects, the same narrowed by its FederatedNamespace)``."""
    placement = (fed.get("spec") or {}).get("placement")
    try:
        own = compute_placement(placement, infos)
    except ValueError as exc:
        raise _Refused(f"its placement is invalid: {exc}") from exc
    if not target.namespaced or target.kind == "Namespace":
        return own, own
    ns = str(_meta(fed).get("namespace") or "")
    narrowed, reason = narrow_by_namespace(
        own, namespace_placement.get(ns), namespaced_scope=namespaced_scope
    )
    if reason:
        raise _Refused(f"KubeFed places it nowhere: {reason} (namespace {ns!r} has no FederatedNamespace)")
    return own, narrowed


def _affinity(
    fed: Mapping[str, Any], own: frozenset[str], effective: frozenset[str], all_clusters: frozenset[str]
) -> tuple[dict[str, Any] | None, list[str]]:
    if not effective:
        raise _Refused(
            "KubeFed places it in no cluster, which a Karmada clusterAffinity cannot express "
            "(an empty clusterNames selects every cluster)"
        )
    placement = (fed.get("spec") or {}).get("placement") or {}
    if placement.get("clusters") is not None:
        warnings = []
        if own != effective:
            warnings.append(
                f"clusters {sorted(own - effective)} dropped: not in its FederatedNamespace's placement"
            )
        return {"clusterNames": sorted(effective)}, warnings
    selector = placement.get("clusterSelector")
    if own != effective:
        return {"clusterNames": sorted(effective)}, [
            "clusterSelector narrowed by its FederatedNamespace's placement: written as the clusterNames it "
            "selects now (clusters joined later are not added)"
        ]
    if not selector and effective == all_clusters:
        return None, []
    return {"labelSelector": dict(selector or {})}, []


def _rsp_scheduling(
    rsp: Mapping[str, Any], fed: Mapping[str, Any], infos: list[ClusterInfo]
) -> tuple[dict[str, Any] | None, dict[str, Any], int, list[str]]:
    """``(clusterAffinity, replicaScheduling, totalReplicas, warnings)`` for an RSP."""
    spec = rsp.get("spec") or {}
    prefs: Mapping[str, Mapping[str, Any]] = spec.get("clusters") or {}
    for name, pref in prefs.items():
        if pref.get("minReplicas") or pref.get("maxReplicas") is not None:
            raise _Refused(
                f"its ReplicaSchedulingPreference sets minReplicas/maxReplicas for {name!r}, "
                "which Karmada's replicaScheduling cannot express"
            )
    weights = {name: int(pref.get("weight") or 0) for name, pref in prefs.items()}
    if not any(weights.values()):
        raise _Refused("its ReplicaSchedulingPreference gives every cluster weight 0")
    names = sorted(i.name for i in infos)
    if spec.get("intersectWithClusterSelector"):
        selector = ((fed.get("spec") or {}).get("placement") or {}).get("clusterSelector")
        affinity: dict[str, Any] | None = {"labelSelector": dict(selector)} if selector else None
    elif "*" in weights:
        affinity = None
    else:
        affinity = {"clusterNames": sorted(n for n in weights if weights[n] > 0)}
    entries = [
        {"targetCluster": {"clusterNames": [name]}, "weight": w}
        for name, w in sorted(weights.items())
        if name != "*" and w > 0
    ]
    if weights.get("*"):
        rest = [n for n in names if n not in weights]
        if rest:
            entries.append({"targetCluster": {"clusterNames": rest}, "weight": weights["*"]})
    scheduling = {
        "replicaSchedulingType": "Divided",
        "replicaDivisionPreference": "Weighted",
        "weightPreference": {"staticWeightList": entries},
    }
    warnings = []
    if "rebalance" in spec:
        warnings.append(
            f"RSP rebalance: {str(bool(spec['rebalance'])).lower()} has no Karmada equivalent: replicas are "
            "divided again whenever the policy, the replicas or the clusters change"
        )
    return affinity, scheduling, int(spec.get("totalReplicas") or 0), warnings


def _override_policy(
    fed: Mapping[str, Any], target: TargetType, *, drop_replicas: bool
) -> tuple[dict[str, Any] | None, list[str]]:
    try:
        by_cluster = parse_overrides((fed.get("spec") or {}).get("overrides"))
    except OverridesError as exc:
        raise _Refused(f"its overrides are invalid: {exc}") from exc
    rules = []
    dropped = False
    for cluster, ops in sorted(by_cluster.items()):
        plaintext = []
        for op in ops:
            if drop_replicas and op.get("path") == "/spec/replicas":
                dropped = True
                continue
            operator = op.get("op") or "replace"
            entry: dict[str, Any] = {"path": op["path"], "operator": operator}
            if operator != "remove":
                entry["value"] = op.get("value")
            plaintext.append(entry)
        if plaintext:
            rules.append(
                {"targetCluster": {"clusterNames": [cluster]}, "overriders": {"plaintext": plaintext}}
            )
    warnings = (
        ["the /spec/replicas overrides written by its RSP are replaced by replicaScheduling"]
        if dropped
        else []
    )
    if not rules:
        return None, warnings
    meta: dict[str, Any] = {"name": _policy_name(fed, target)}
    if target.namespaced:
        meta["namespace"] = _meta(fed).get("namespace")
    policy = {
        "apiVersion": karmada_api.API_VERSION,
        "kind": "OverridePolicy" if target.namespaced else "ClusterOverridePolicy",
        "metadata": meta,
        "spec": {"resourceSelectors": [_selector(fed, target)], "overrideRules": rules},
    }
    errors = karmada_api.validate_override_policy(policy)
    if errors:
        raise _Refused(f"its overrides do not make a valid OverridePolicy: {'; '.join(errors)}")
    return policy, warnings


def _selector(fed: Mapping[str, Any], target: TargetType) -> dict[str, Any]:
    selector = {"apiVersion": target.api_version, "kind": target.kind, "name": _meta(fed)["name"]}
    if target.namespaced:
        selector["namespace"] = _meta(fed).get("namespace")
    return selector


def _migrate_one(
    fed: dict[str, Any],
    target: TargetType,
    *,
    infos: list[ClusterInfo],
    namespace_placement: Mapping[str, frozenset[str] | None],
    namespaced_scope: bool,
    rsp: dict[str, Any] | None,
    host_object: Mapping[str, Any] | None,
) -> MigrationItem:
    warnings: list[str] = []
    native = _native(fed, target)
    all_clusters = frozenset(i.name for i in infos)
    scheduling: dict[str, Any] | None = None
    if rsp is not None:
        affinity, scheduling, total, rsp_warnings = _rsp_scheduling(rsp, fed, infos)
        native.setdefault("spec", {})["replicas"] = total
        warnings += rsp_warnings
    else:
        own, effective = _effective_placement(fed, target, infos, namespace_placement, namespaced_scope)
        affinity, placement_warnings = _affinity(fed, own, effective, all_clusters)
        warnings += placement_warnings
        not_ready = sorted(i.name for i in infos if i.name in effective and not i.ready)
        if not_ready:
            warnings.append(
                f"clusters {not_ready} are not ready: KubeFed keeps them placed, the policy engine "
                "places nothing new in a cluster until it is ready"
            )
    override_policy, override_warnings = _override_policy(fed, target, drop_replicas=rsp is not None)
    warnings += override_warnings
    placement: dict[str, Any] = {}
    if affinity is not None:
        placement["clusterAffinity"] = affinity
    if scheduling is not None:
        placement["replicaScheduling"] = scheduling
    meta: dict[str, Any] = {"name": _policy_name(fed, target)}
    if target.namespaced:
        meta["namespace"] = _meta(fed).get("namespace")
    spec: dict[str, Any] = {"resourceSelectors": [_selector(fed, target)], "conflictResolution": "Overwrite"}
    if placement:
        spec["placement"] = placement
    propagation = {
        "apiVersion": karmada_api.API_VERSION,
        "kind": "PropagationPolicy" if target.namespaced else "ClusterPropagationPolicy",
        "metadata": meta,
        "spec": spec,
    }
    errors = karmada_api.validate_propagation_policy(propagation)
    if errors:
        raise _Refused(f"its placement does not make a valid PropagationPolicy: {'; '.join(errors)}")
    if host_object is None:
        action: Literal["create", "update", "keep"] = "create"
    elif not needs_write(native, host_object):
        action = "keep"
    else:
        action = "update"
        warnings.append(f"the host's {target.kind} differs from the federated template: the template wins")
    return MigrationItem(
        source=fed,
        native=native,
        native_action=action,
        propagation_policy=propagation,
        override_policy=override_policy,
        rsp=rsp,
        warnings=tuple(warnings),
    )


def _namespace_placements(
    federated: Sequence[Mapping[str, Any]], infos: list[ClusterInfo]
) -> dict[str, frozenset[str] | None]:
    out: dict[str, frozenset[str] | None] = {}
    for fed in federated:
        if fed.get("kind") == "FederatedNamespace" and _meta(fed).get("name") == _meta(fed).get("namespace"):
            try:
                out[str(_meta(fed)["name"])] = compute_placement(
                    (fed.get("spec") or {}).get("placement"), infos
                )
            except ValueError:
                out[str(_meta(fed)["name"])] = frozenset()
    return out


def plan_migration(
    *,
    federated: Sequence[dict[str, Any]],
    types: Sequence[TargetType],
    rsps: Sequence[dict[str, Any]],
    clusters: Sequence[Mapping[str, Any]],
    host_objects: Mapping[tuple[str, str, str, str], Mapping[str, Any]],
    namespace_placements: Sequence[dict[str, Any]] = (),
    namespaced_scope: bool = False,
) -> MigrationPlan:
    """Plan the migration of ``federated`` (every ``Federated<Kind>`` to migrate).

    ``types``: from the FederatedTypeConfigs; ``rsps``: the ReplicaSchedulingPreferences of their
    namespaces; ``clusters``: the KubeFedClusters; ``host_objects``: the host's native objects by
    ``(apiVersion, kind, namespace, name)``; ``namespace_placements``: the FederatedNamespaces that
    narrow placement (those among ``federated`` count too); ``namespaced_scope``: KubeFedConfig
    ``spec.scope`` is ``Namespaced``.
    """
    by_fed_kind = {t.federated_kind: t for t in types}
    infos = _infos(clusters)
    ns_placement = _namespace_placements([*namespace_placements, *federated], infos)
    rsp_by_key = {
        (
            str(_meta(r).get("namespace")),
            str(_meta(r).get("name")),
            str((r.get("spec") or {}).get("targetKind")),
        ): r
        for r in rsps
    }
    items = []
    ordered = sorted(
        federated,
        key=lambda f: (str(f.get("kind")), str(_meta(f).get("namespace") or ""), str(_meta(f).get("name"))),
    )
    for fed in ordered:
        target = by_fed_kind.get(str(fed.get("kind")))
        if target is None:
            items.append(MigrationItem(source=fed, refused="no FederatedTypeConfig maps this federated kind"))
            continue
        if _meta(fed).get("deletionTimestamp"):
            items.append(MigrationItem(source=fed, refused="it is being deleted"))
            continue
        ns = str(_meta(fed).get("namespace") or "")
        name = str(_meta(fed)["name"])
        rsp = rsp_by_key.get((ns, name, str(fed.get("kind"))))
        host_key = (target.api_version, target.kind, ns if target.namespaced else "", name)
        try:
            items.append(
                _migrate_one(
                    fed,
                    target,
                    infos=infos,
                    namespace_placement=ns_placement,
                    namespaced_scope=namespaced_scope,
                    rsp=rsp,
                    host_object=host_objects.get(host_key),
                )
            )
        except _Refused as exc:
            items.append(MigrationItem(source=fed, refused=str(exc)))
    return MigrationPlan(items=tuple(items))


_STEPS = (
    "# Steps, per object, in this order (every FederatedNamespace last; a failure rolls the object",
    "# back, recreating its Federated<Kind>, and stops: objects migrated before stay migrated, the",
    "# rest stay KubeFed's):",
    "#   1. apply the OverridePolicy and the PropagationPolicy (conflictResolution: Overwrite);",
    "#      when the host already has the native object, the PropagationPolicy waits for step 4,",
    f"#   2. annotate the Federated<Kind> {ORPHAN_ANNOTATION}=true, delete it and wait until it is gone",
    "#      (its member objects stay, unlabelled),",
    "#   3. create (or update) the native object on the host: the policy adopts the member objects,",
    "#   4. apply the deferred PropagationPolicy, 5. delete its ReplicaSchedulingPreference.",
)


def render_plan(plan: MigrationPlan) -> str:
    """The ``--dry-run`` output: a YAML stream of what would be written, notes as comments."""
    out = ["# kubefedctl migrate --dry-run: nothing was written", *_STEPS]
    for item in plan.items:
        out.append("---")
        if item.refused:
            out.append(f"# {item.key}: NOT MIGRATED, stays under KubeFed: {item.refused}")
            continue
        assert item.native is not None and item.propagation_policy is not None
        made = [item.native["kind"], item.propagation_policy["kind"]]
        if item.override_policy is not None:
            made.append(item.override_policy["kind"])
        out.append(f"# {item.key} -> {' + '.join(made)} (native object: {item.native_action})")
        if item.rsp is not None:
            out.append(
                f"# ReplicaSchedulingPreference {_meta(item.rsp).get('name')}: replaced by replicaScheduling"
            )
        out += [f"# warning: {w}" for w in item.warnings]
        docs = [d for d in (item.override_policy, item.native, item.propagation_policy) if d is not None]
        out.append("---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs).rstrip("\n"))
    migrated = sum(1 for i in plan.items if not i.refused)
    out.append(f"# {migrated} of {len(plan.items)} federated objects would be migrated")
    return "\n".join(out) + "\n"
