"""The member clusters this propagator serves, with their clients and cached managed objects.

Which clusters: ``--clusters a,b`` or ``--cluster-selector region=eu`` over KubeFedCluster labels
(both empty: every cluster). Credentials are read from the host's Secret into memory only. A client is
rebuilt when the KubeFedCluster spec or its Secret changes.

The cache per (cluster, target type) holds only objects labelled ``kubefed.io/managed=true`` (list +
watch with that label selector), so memory grows with the objects this service manages, never with
everything in the member. Each object is kept packed (:class:`CompactObjects`, MessagePack), decoded
when a decision reads it, under a key whose strings are shared by every cluster, and its content (all
but the fields each API server sets for itself) is held once for every member that has the same
(:mod:`services.propagator._compact`). A relist after a
broken watch or 410 re-reads and reports every object as changed, which is how a cluster that comes
back catches up by itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

from services.propagator._compact import CompactObjects, compact
from shared.errors import ConfigError, UnauthorizedError
from shared.k8s import (
    KUBEFED_CLUSTERS,
    SECRETS,
    KubeClient,
    Resource,
    client_for_member,
)
from shared.planning import MANAGED_LABEL, match_label_selector
from shared.runtime import Informer, guarded_task, stop_tasks
from shared.telemetry import get_logger

__all__ = ["CompactObjects", "Member", "MemberRegistry", "compact"]

log = get_logger(__name__)

ObjectChanged = Callable[[str, Resource, str, str], None]


class TypeCache:
    """Managed objects of one type in one cluster: ``(namespace, name) → object``; the handler of that
    type's :class:`~shared.runtime.Informer`, reporting every changed object to ``on_change``."""

    def __init__(
        self, cluster: str = "", resource: Resource | None = None, on_change: ObjectChanged | None = None
    ) -> None:
        self.objects = CompactObjects()
        self.synced = asyncio.Event()
        self._cluster = cluster
        self._resource = resource
        self._on_change = on_change

    def _changed(self, namespace: str, name: str) -> None:
        if self._on_change is not None and self._resource is not None:
            self._on_change(self._cluster, self._resource, namespace, name)

    async def on_list(self, items: list[dict[str, Any]], resource_version: str) -> None:
        fresh = CompactObjects(
            {(o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in items}
        )
        gone = set(self.objects) - set(fresh)
        self.objects = fresh  # the old store's shared contents go with their last referrer
        self.synced.set()
        for ns, name in [*fresh, *gone]:
            self._changed(ns, name)

    async def on_event(self, event_type: str, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        k = (meta.get("namespace", ""), meta.get("name", ""))
        if event_type == "DELETED":
            self.objects.pop(k, None)
        else:
            known = self.objects.get(k)
            self.objects[k] = obj
            if known is not None and (known.get("metadata") or {}).get("resourceVersion") == meta.get(
                "resourceVersion"
            ):
                return  # the echo of our own write: the cache already holds exactly this
        self._changed(k[0], k[1])

    async def on_progress(self, resource_version: str, *, bookmark: bool) -> bool:
        return True  # an in-memory cache: everything seen is applied


class Member:
    """One member cluster: client, readiness, caches."""

    def __init__(self, name: str, client: KubeClient | None, fingerprint: str, error: str = "") -> None:
        self.name = name
        self.client = client
        self.fingerprint = fingerprint
        self.config_error = error
        self.ready = False
        self.caches: dict[str, TypeCache] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.labels: dict[str, str] = {}

    def cache(self, resource: Resource) -> TypeCache | None:
        return self.caches.get(resource.qualified)


class MemberRegistry:
    """Keeps ``members`` in line with the KubeFedClusters this propagator serves."""

    def __init__(
        self,
        host: KubeClient,
        namespace: str,
        *,
        names: frozenset[str],
        selector: dict[str, Any] | None,
        on_change: ObjectChanged,
        watch_namespace: Callable[[], str | None],
        qps: float = 100.0,
        burst: int = 200,
    ) -> None:
        self.qps = qps
        self.burst = burst
        self.host = host
        self.namespace = namespace
        self.names = names
        self.selector = selector
        self.members: dict[str, Member] = {}
        self.on_change = on_change
        self.watch_namespace = watch_namespace
        self.types: dict[str, Resource] = {}
        self.loaded = False
        self._membership: dict[str, tuple[float, bool]] = {}  # cluster → (read at, still a KubeFedCluster)
        self._membership_locks: dict[str, asyncio.Lock] = {}
        self._membership_forbidden_logged = False

    async def still_member(self, name: str, since: float) -> bool:
        """Whether ``name`` is still a KubeFedCluster, read from the host at or after ``since`` (wall time).

        A decision that drops a cluster can mean that the cluster left the federation (unjoin): KubeFed
        then forgets it and leaves its objects alone, while the periodic :meth:`refresh` would keep this
        member for up to ``refresh_period``. Removals therefore ask first, with a read no older than the
        decision: one host GET per cluster at a time (a lock), whose answer serves every removal decided
        before it started. A cluster found gone stays gone until :meth:`refresh` drops it."""
        async with self._membership_locks.setdefault(name, asyncio.Lock()):
            known = self._membership.get(name)
            if known is not None and (known[0] >= since or not known[1]):
                return known[1]
            started = time.time()
            try:
                exists = await self.host.get_or_none(KUBEFED_CLUSTERS, name, self.namespace) is not None
            except UnauthorizedError as exc:
                # RBAC of an older release (list only): removals behave as before this check, said once
                if not self._membership_forbidden_logged:
                    self._membership_forbidden_logged = True
                    log.warning(
                        "Cannot get KubeFedClusters (RBAC): objects are removed even from a cluster that "
                        "was unjoined meanwhile; grant get on kubefedclusters",
                        err=str(exc),
                    )
                exists = True
            self._membership[name] = (started, exists)
            return exists

    def serves(self, name: str, labels: dict[str, str]) -> bool:
        if self.names and name not in self.names:
            return False
        return not (self.selector is not None and not match_label_selector(self.selector, labels))

    async def refresh(self) -> list[str]:
        """Re-read KubeFedClusters and Secrets; returns the names of members (re)created."""
        clusters, _ = await self.host.list(KUBEFED_CLUSTERS, self.namespace)
        seen: set[str] = set()
        changed: list[str] = []
        for kfc in clusters:
            name = kfc["metadata"]["name"]
            labels = dict(kfc["metadata"].get("labels") or {})
            if not self.serves(name, labels):
                continue
            seen.add(name)
            ref = ((kfc.get("spec") or {}).get("secretRef") or {}).get("name", "")
            secret = await self.host.get_or_none(SECRETS, ref, self.namespace) if ref else None
            fingerprint = hashlib.sha256(
                json.dumps([kfc.get("spec"), (secret or {}).get("data")], sort_keys=True).encode()
            ).hexdigest()
            existing = self.members.get(name)
            if existing is not None and existing.fingerprint == fingerprint:
                existing.labels = labels
                continue
            if existing is not None:
                await self._drop(existing)
            try:
                client = client_for_member(kfc, secret, qps=self.qps, burst=self.burst)
                member = Member(name, client, fingerprint)
            except ConfigError as exc:
                member = Member(name, None, fingerprint, error=str(exc))
                log.info("Member cluster config is malformed", cluster=name, err=str(exc))
            member.labels = labels
            self.members[name] = member
            for resource in self.types.values():
                self._start_cache(member, resource)
            changed.append(name)
        for name in list(self.members):
            if name not in seen:
                await self._drop(self.members.pop(name))
        for name in list(self._membership):
            if name in seen:  # joined (again): removals read membership afresh
                del self._membership[name]
        self.loaded = True
        return changed

    async def _drop(self, member: Member) -> None:
        await stop_tasks(list(member.tasks.values()), timeout=3)
        member.tasks.clear()
        if member.client is not None:
            await member.client.close()

    def ensure_type(self, resource: Resource) -> None:
        """Start caching a target type in every member (first decision of that type)."""
        if resource.qualified in self.types:
            return
        self.types[resource.qualified] = resource
        for member in self.members.values():
            self._start_cache(member, resource)

    def _start_cache(self, member: Member, resource: Resource) -> None:
        if member.client is None or resource.qualified in member.tasks:
            return
        cache = member.caches.get(resource.qualified)
        if cache is None:
            cache = member.caches[resource.qualified] = TypeCache(member.name, resource, self.on_change)
        informer = Informer(
            member.client,
            resource,
            cache,
            namespace=lambda: self.watch_namespace() if resource.namespaced else None,
            label_selector=f"{MANAGED_LABEL}=true",
            watch_timeout=240,
            relist_on_error=True,  # a member that comes back is re-read whole: every object re-checked
            name=f"{member.name}/{resource.qualified}",
        )
        informer.synced = cache.synced
        member.tasks[resource.qualified] = guarded_task(
            informer.run(), name=f"cache-{member.name}-{resource.qualified}"
        )

    async def close(self) -> None:
        for member in self.members.values():
            await self._drop(member)
        self.members.clear()
