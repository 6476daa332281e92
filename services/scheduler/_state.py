"""The small host objects every decision needs, cached: clusters, FTCs, the KubeFedConfig.

They are few (one per member cluster, one per federated type) and change rarely, so the scheduler
relists them whenever the watcher reports a change to one of them instead of applying deltas. The
relists are coalesced (:class:`shared.runtime.Coalesced`): changes reported while one runs share the
next one, so N members joining at once cost a few lists of N clusters, not N concurrent ones. Of each
KubeFedCluster only what placement reads is kept (:class:`shared.planning.ClusterInfo`). The
state also keeps the last copy of each federated object (:mod:`services.scheduler._objects`), which
status writes start from, and the host's identity (read once, at the first refresh), which every
decision carries and every decision read from the bus is checked against.
"""

from __future__ import annotations

from typing import Any

import msgspec

from services.scheduler._decide import target_from_ftc
from services.scheduler._objects import FederatedObjects
from shared.errors import NotFoundError
from shared.k8s import FEDERATED_TYPE_CONFIGS, KUBEFED_CLUSTERS, POLICY_RESOURCES, KubeClient, Resource
from shared.kubefed_api import KubeFedConfigSpec
from shared.messages import ObjectKey, TargetType
from shared.planning import ClusterInfo, not_ready_since
from shared.policy import PolicyCluster, PolicySet, policy_set
from shared.runtime import Coalesced, HostBinding, read_host_identity, read_kubefed_config
from shared.telemetry import get_logger, metrics

__all__ = ["FederatedType", "HostState", "NativeType"]

log = get_logger(__name__)


class FederatedType:
    """An enabled federated type: its resource on the host and its member target."""

    def __init__(self, ftc: dict[str, Any]) -> None:
        spec = ftc.get("spec") or {}
        fed = spec.get("federatedType") or {}
        self.ftc_name: str = (ftc.get("metadata") or {}).get("name", "")
        self.resource = Resource(
            fed.get("group", "types.kubefed.io"),
            fed.get("version") or "v1beta1",
            fed.get("pluralName", ""),
            namespaced=(fed.get("scope") or "Namespaced") == "Namespaced",
            kind=fed.get("kind", ""),
        )
        self.target: TargetType = target_from_ftc(ftc)
        self.enabled = spec.get("propagation", "Enabled") == "Enabled"
        self.collect_status = spec.get("statusCollection") == "Enabled"


class NativeType:
    """A native host type some propagation policy selects: its resource on the host, which is also its
    member target."""

    def __init__(self, resource: Resource) -> None:
        self.resource = resource
        self.target = TargetType(
            group=resource.group,
            version=resource.version,
            kind=resource.kind,
            plural=resource.plural,
            namespaced=resource.namespaced,
        )


class HostState:
    """Cached clusters, federated types and configuration of the host."""

    def __init__(self, host: KubeClient, namespace: str) -> None:
        self.host = host
        self.namespace = namespace
        self.clusters: list[ClusterInfo] = []
        self.types: dict[str, FederatedType] = {}
        self.config: KubeFedConfigSpec | None = None  # None until read
        self.policy_clusters: list[PolicyCluster] = []  # the clusters as Karmada's clusterAffinity sees them
        self.policies = PolicySet()
        self.native: dict[str, NativeType] = {}  # by plural.group: the types policies select
        self.retired: dict[str, NativeType] = {}  # types policies selected before and no longer do
        # replicas each cluster can still run (dynamicWeight), from the health reports the health writer
        # consumes; propagators re-send each cluster's report at least every minute, so a restarted
        # scheduler knows them again within one
        self.available_pods: dict[str, int] = {}
        self._discovered: dict[tuple[str, str], Resource | None] = {}
        self.objects = FederatedObjects()
        self.binding = HostBinding(
            state="decisions", action="re-decided from this host, discarded for objects it does not have"
        )
        self.loaded = False
        self._reload = Coalesced(self._read)
        # bumped by a read that changed what decisions depend on: the signature of N clusters is built
        # once per read, not once per change event (N joining members sent N events)
        self.generation = 0
        self._signature: object = None

    async def refresh(self) -> bool:
        """Re-read clusters, types and config (or wait for a re-read that started after this call);
        True if anything a decision depends on changed since the call."""
        before = self.generation
        await self._reload()
        return self.generation != before

    async def _read(self) -> None:
        if not self.loaded:
            self.binding.uid = await read_host_identity(self.host)
        clusters, _ = await self.host.list(KUBEFED_CLUSTERS, self.namespace)
        self.clusters = [
            ClusterInfo(
                name=c["metadata"]["name"],
                labels=dict(c["metadata"].get("labels") or {}),
                ready=any(
                    cond.get("type") == "Ready" and cond.get("status") == "True"
                    for cond in (c.get("status") or {}).get("conditions") or []
                ),
                not_ready_since=not_ready_since(c),
            )
            for c in clusters
        ]
        self.policy_clusters = [
            PolicyCluster(
                name=info.name,
                labels=info.labels,
                region=str((c.get("status") or {}).get("region") or ""),
                zones=tuple((c.get("status") or {}).get("zones") or ()),
                ready=info.ready,
            )
            for info, c in zip(self.clusters, clusters, strict=True)
        ]
        await self._refresh_policies()
        ftcs, _ = await self.host.list(FEDERATED_TYPE_CONFIGS, self.namespace)
        types = [FederatedType(f) for f in ftcs if not (f.get("metadata") or {}).get("deletionTimestamp")]
        self.types = {t.resource.qualified: t for t in types if t.enabled and t.resource.plural}
        self.config = await read_kubefed_config(self.host, self.namespace, self.config)
        if self.namespaced_scope:
            # a Namespaced control plane leaves cluster-scoped types inert (KubeFed §2.4)
            self.types = {
                k: t for k, t in self.types.items() if t.target.namespaced or t.target.kind == "Namespace"
            }
        self.loaded = True
        signature = self.signature()
        if signature != self._signature:
            self._signature = signature
            self.generation += 1

    async def _refresh_policies(self) -> None:
        """The four policy kinds (none while their CRDs are not installed) and the native types they
        select, resolved by discovery (a type the host does not serve is left out until it does)."""
        objects: list[dict[str, Any]] = []
        for policy_resource in POLICY_RESOURCES:
            try:
                items, _ = await self.host.list(policy_resource)
            except NotFoundError:
                continue
            objects.extend(items)
        self.policies = policy_set(objects)
        native: dict[str, NativeType] = {}
        for api_version, kind in sorted(self.policies.selected_types()):
            if self._discovered.get((api_version, kind)) is None:
                self._discovered[(api_version, kind)] = await self.host.resource_for_kind(api_version, kind)
            found = self._discovered[(api_version, kind)]
            if found is not None and found.group not in ("types.kubefed.io", "policy.karmada.io"):
                native[found.qualified] = NativeType(found)
        for name, gone in self.native.items():
            if name not in native:
                self.retired[name] = gone  # its decisions are re-decided (as removals) by requeue_native
        for name in native:
            self.retired.pop(name, None)
        self.native = native

    def native_type(self, resource: str) -> NativeType | None:
        """The native type of ``resource``, selected now or before (None: a federated or unknown type)."""
        if resource in self.types:
            return None
        return self.native.get(resource) or self.retired.get(resource)

    async def write_status(
        self, fed_type: FederatedType, key: ObjectKey, fed: dict[str, Any], status: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Write ``status`` on the federated object ``fed`` (its resourceVersion is the precondition) and
        remember the result; None when the object is gone. A stale copy raises ConflictError."""
        body = dict(fed)
        body["status"] = status
        try:
            written = await self.host.replace(fed_type.resource, body, subresource="status")
        except NotFoundError:
            self.objects.forget(key)
            return None
        self.objects.remember(key, written)
        metrics.host_status_writes.labels(fed_type.resource.kind or key.resource).inc()
        return written

    def signature(self) -> object:
        """What decisions depend on: cluster names and labels (not readiness), types, configuration."""
        return (
            sorted((c.name, sorted(c.labels.items())) for c in self.clusters),
            sorted((c.name, c.region, c.zones) for c in self.policy_clusters),
            sorted((k, t.target, t.collect_status) for k, t in self.types.items()),
            self.config,
            msgspec.json.encode([(str(p.ref), p.spec) for p in self.policies.policies]),
            msgspec.json.encode([(o.kind, o.namespace, o.name, o.spec) for o in self.policies.overrides]),
            sorted(self.native),
        )

    @property
    def push_enabled(self) -> bool:
        return self.feature("PushReconciler", True)

    def in_scope(self, namespace: str) -> bool:
        """A Namespaced control plane handles only objects in the system namespace."""
        return not self.namespaced_scope or namespace == self.namespace

    @property
    def namespaced_scope(self) -> bool:
        return self.config is not None and self.config.namespaced

    @property
    def adopt(self) -> bool:
        return self.config is None or self.config.adopt_resources

    def feature(self, name: str, default: bool) -> bool:
        return default if self.config is None else self.config.feature_enabled(name)

    def namespace_type(self) -> FederatedType | None:
        return next(
            (t for t in self.types.values() if t.target.kind == "Namespace" and t.target.group == ""), None
        )
