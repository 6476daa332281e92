"""List, watch, publish: the host cluster as a stream of level-triggered keys.

One :class:`shared.runtime.Informer` per resource, run by the service's lead source while this
replica holds the lease. An informer starts from the checkpointed resourceVersion (KV bucket
``kubefed-checkpoints``), so a restarted watcher resumes where it stopped and nothing that happened
while it was down is lost; without a checkpoint, or when the server answers 410 Gone, it relists,
publishes a key for every object and a :class:`ResourceRelisted` (the scheduler then looks for objects
that vanished meanwhile), and watches from the list's resourceVersion. Checkpoints carry the host's
identity, read each time this replica starts leading: checkpoints of another host cluster count as
none (one log line), so the watcher relists and the scheduler re-decides what the bus knew.

Publishes are asynchronous with bounded in-flight acks, one publisher per watch loop; a checkpoint is
written only after the publishes before it were acknowledged, so a crash replays a little instead of
losing anything. A change counts as seen (its fingerprint, which skips our own status writes) only
once JetStream acknowledged it (:class:`services.watcher._publishing.ChangePublisher`): after a failed
publish the loop resumes from its last watch start and publishes the unconfirmed changes again.
``Nats-Msg-Id`` = resource/namespace/name@uid/resourceVersion lets two watchers (or a replay) publish
the same change without storing it twice, while a namesake (new UID, or another host whose history
reuses the resourceVersion) is never mistaken for it; the host stream keeps only the last message per
object, so a burst of changes to one object reaches the scheduler as one key.

Only the lease holder publishes (:class:`LeaseElector`, timed by KubeFedConfig ``leaderElect``); a
stand-by replica waits and takes over once the leader stopped renewing for ``leaseDuration``. Like
KubeFed's controller manager, the leader exits with an error when a watch has not synced within
``controllerDuration.cacheSyncTimeout`` (the process restarts, or the stand-by takes over).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import msgspec

from services.watcher._checkpoints import Checkpoints
from services.watcher._publishing import ChangePublisher
from services.watcher._resources import (
    STATIC_RESOURCES,
    change_fingerprint,
    federated_resources,
    native_resources,
)
from shared import subjects
from shared.bus import LeaseElector, LeaseTimings
from shared.errors import KubefedError, NotFoundError, UnauthorizedError
from shared.k8s import (
    CLUSTER_PROPAGATION_POLICIES,
    FEDERATED_TYPE_CONFIGS,
    POLICY_RESOURCES,
    PROPAGATION_POLICIES,
    Resource,
)
from shared.kubefed_api import DEFAULT_KUBEFED_CONFIG_SPEC, KubeFedConfigSpec
from shared.messages import HostChange, ObjectKey, ResourceRelisted
from shared.policy import policy_set
from shared.runtime import (
    CommonSettings,
    HostBinding,
    Informer,
    Manager,
    ServiceContext,
    guarded_task,
    read_host_identity,
    read_kubefed_config,
    run_service,
    stop_tasks,
)
from shared.telemetry import get_logger

__all__ = ["WatcherSettings", "run_watcher"]

log = get_logger(__name__)


class WatcherSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The watcher's settings."""

    common: CommonSettings = CommonSettings()
    watch_timeout: int = 300
    checkpoint_interval: float = 1.0
    lease_name: str = "kubefed-watcher"


async def run_watcher(settings: WatcherSettings, **kw: Any) -> None:
    """Run the watcher service until SIGTERM (or ``stop``)."""

    async def main(ctx: ServiceContext) -> None:
        await Watcher(ctx, settings).run()

    await run_service("watcher", settings.common, main, **kw)


class Watcher:
    """Follows the host cluster while it holds the lease."""

    def __init__(self, ctx: ServiceContext, settings: WatcherSettings) -> None:
        self.ctx = ctx
        self.settings = settings
        self.binding = HostBinding(state="watch checkpoints", action="relisted")
        self.checkpoints = Checkpoints(ctx.bus, self.binding)
        self.elector = LeaseElector(
            ctx.bus, name=settings.lease_name, identity=ctx.identity, timings=self._lease_timings
        )
        self._informers: dict[str, Informer] = {}
        self._loops: dict[str, asyncio.Task[None]] = {}
        self._loop_started: dict[str, float] = {}
        self.config: KubeFedConfigSpec = DEFAULT_KUBEFED_CONFIG_SPEC  # until read
        self._namespaced_scope = False
        self._wanted_dynamic: dict[str, Resource] = {}
        self._native: set[str] = set()  # the native types policies select (fingerprints skip our status)
        self._discovered: dict[tuple[str, str], Resource | None] = {}
        self._listable: set[str] = set()
        self._ftc_changed = asyncio.Event()
        self._fingerprints: dict[ObjectKey, str] = {}  # confirmed by JetStream, shared by the loops

    async def run(self) -> None:
        await self.ctx.bus.ensure_topology()
        self.ctx.readiness.add("lease-or-standby", lambda: True)
        self.ctx.readiness.add("synced", lambda: not self.elector.leading.is_set() or self._all_synced())
        manager = Manager("watcher", grace_period=self.ctx.settings.grace_period)
        # while this replica holds the lease: one informer per host type (started and stopped with the FTCs)
        manager.add_source("lead", self._lead_while_elected)
        # the lease is given up last, after the lead source stopped and flushed its publishes
        manager.add_runnable("lease", self.elector.run)
        await manager.run(self.ctx.stop)

    async def _lead_while_elected(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                await _first(self.elector.leading.wait(), stop.wait())
                if stop.is_set():
                    break
                log.info("Promoted as leader", identity=self.ctx.identity)
                await self._lead()
        finally:
            await stop_tasks(list(self._loops.values()), timeout=5)
            self._loops.clear()

    @property
    def synced(self) -> set[str]:
        """The host types whose informer has listed (or found the type not served)."""
        return {name for name, informer in self._informers.items() if informer.synced.is_set()}

    def _all_synced(self) -> bool:
        return all(name in self.synced for name in self._loops)

    async def _lead(self) -> None:
        """Run the watch loops until the lease is lost or the service stops."""
        if not await self._read_host_identity():
            return
        await self._read_config()
        self._namespaced_scope = self.config.namespaced
        for resource, system_only in STATIC_RESOURCES:
            self._start(resource, system_only)
        lost = asyncio.ensure_future(_wait_cleared(self.elector.leading))
        stop = asyncio.ensure_future(self.ctx.stop.wait())
        try:
            while not (lost.done() or stop.done()):
                self._check_cache_sync()
                await self._reconcile_dynamic()
                waiter = asyncio.ensure_future(self._ftc_changed.wait())
                await asyncio.wait({lost, stop, waiter}, timeout=5.0, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                self._ftc_changed.clear()
        finally:
            lost.cancel()
            stop.cancel()
            await stop_tasks(list(self._loops.values()), timeout=5)
            self._loops.clear()
            self._loop_started.clear()
            self._informers.clear()
            if not self.ctx.stop.is_set():
                log.info("Stopped leading", identity=self.ctx.identity)

    async def _read_host_identity(self) -> bool:
        """The identity checkpoints are bound to; retried while leading (False: stopped or lost the lease)."""
        while not self.ctx.stop.is_set() and self.elector.leading.is_set():
            try:
                self.binding.uid = await read_host_identity(self.ctx.host)
                return True
            except KubefedError as exc:
                log.info("Reading host identity failed, retrying", err=str(exc))
                await asyncio.sleep(1.0)
        return False

    async def _read_config(self) -> None:
        """The KubeFedConfig as defaulted; an unreadable or invalid one keeps the previous."""
        try:
            self.config = await read_kubefed_config(
                self.ctx.host, self.ctx.settings.kubefed_namespace, self.config
            )
        except KubefedError as exc:
            log.info("Reading KubeFedConfig failed", err=str(exc))

    async def _lease_timings(self) -> LeaseTimings:
        await self._read_config()
        return LeaseTimings(
            lease_duration=self.config.lease_duration,
            renew_deadline=self.config.renew_deadline,
            retry_period=self.config.retry_period,
        )

    def _check_cache_sync(self) -> None:
        """KubeFed's ``cacheSyncTimeout``: a watch that never syncs ends the leader with an error."""
        timeout = self.config.cache_sync_timeout
        now = asyncio.get_running_loop().time()
        late = sorted(n for n, t in self._loop_started.items() if n not in self.synced and now - t > timeout)
        if late:
            raise CacheSyncTimeoutError(
                f"caches did not sync within cacheSyncTimeout ({timeout:g}s): {', '.join(late)}"
            )

    def _start(self, resource: Resource, system_only: bool) -> None:
        name = resource.qualified
        if name in self._loops:
            return
        namespace = self.ctx.settings.kubefed_namespace if (system_only or self._namespaced_scope) else None
        self._loops[name] = guarded_task(self._watch_loop(resource, namespace), name=f"watch-{name}")
        self._loop_started[name] = asyncio.get_running_loop().time()

    async def _reconcile_dynamic(self) -> None:
        """Start and stop the watches of federated types as FTCs come and go."""
        try:
            ftcs, _ = await self.ctx.host.list(FEDERATED_TYPE_CONFIGS, self.ctx.settings.kubefed_namespace)
        except KubefedError as exc:
            log.info("Listing FederatedTypeConfigs failed", err=str(exc))
            return
        wanted = federated_resources(ftcs)
        native = native_resources(await self._selected_types(), wanted)
        self._native = set(native)
        wanted = {**wanted, **native}
        static = {r.qualified for r, _ in STATIC_RESOURCES}
        for name, task in list(self._loops.items()):
            if name not in static and name not in wanted:
                log.info("Stopped watching host type", resource=name)
                await stop_tasks([task], timeout=5)
                del self._loops[name]
                self._loop_started.pop(name, None)
                self._informers.pop(name, None)
        for res in wanted.values():
            if res.qualified not in self._loops:
                log.info("Started watching host type", resource=res.qualified)
                self._start(res, False)
        self._wanted_dynamic = wanted

    async def _selected_types(self) -> list[Resource]:
        """The host types the (Cluster)PropagationPolicies select, resolved by discovery."""
        policies: list[dict[str, object]] = []
        for resource in (PROPAGATION_POLICIES, CLUSTER_PROPAGATION_POLICIES):
            try:
                items, _ = await self.ctx.host.list(resource)
            except NotFoundError:
                continue  # the policy CRDs are not installed
            except KubefedError as exc:
                log.info("Listing propagation policies failed", err=str(exc))
                continue
            policies.extend(items)
        out: list[Resource] = []
        for api_version, kind in sorted(policy_set(policies).selected_types()):
            if self._discovered.get((api_version, kind)) is None:
                try:
                    self._discovered[(api_version, kind)] = await self.ctx.host.resource_for_kind(
                        api_version, kind
                    )
                except KubefedError as exc:
                    log.info("Discovery failed", apiVersion=api_version, kind=kind, err=str(exc))
            found = self._discovered.get((api_version, kind))
            if found is not None and await self._may_list(found):
                out.append(found)
        return out

    async def _may_list(self, resource: Resource) -> bool:
        """Whether this watcher may list a type a policy selects (one page of one item, once per type;
        a refusal is logged and asked again on the next pass): a type the RBAC does not grant is left
        out, instead of an informer that never syncs and ends the leader after cacheSyncTimeout."""
        if resource.qualified in self._listable:
            return True
        try:
            await self.ctx.host.request("GET", resource.path(), query={"limit": 1})
        except UnauthorizedError as exc:
            log.error(
                "A propagation policy selects a type this watcher may not list: grant list and watch "
                "to the watcher and get, list, patch to the scheduler (deploy/kustomize/base)",
                resource=resource.qualified,
                err=str(exc),
            )
            return False
        except KubefedError:
            return False
        self._listable.add(resource.qualified)
        return True

    async def _watch_loop(self, resource: Resource, namespace: str | None) -> None:
        """Follow one host type with the shared :class:`Informer` while this replica leads.

        Each run of the informer has its own :class:`ChangePublisher`. While changes are unconfirmed,
        they are confirmed within ``checkpoint_interval`` even when no further event comes; a failed
        confirmation ends the run, and the next one resumes from the checkpoint (the last confirmed
        point), so the changes whose publish failed are published again.
        """
        name = resource.qualified
        checkpoint_key = f"{name}.{namespace or ''}"
        while not self.ctx.stop.is_set() and self.elector.leading.is_set():
            publisher = ChangePublisher(self.ctx.bus, self._fingerprints)
            informer = Informer(
                self.ctx.host,
                resource,
                _HostTypePublisher(self, resource, checkpoint_key, publisher),
                namespace=namespace,
                resource_version=await self.checkpoints.load(checkpoint_key),
                watch_timeout=self.settings.watch_timeout,
                active=self.elector.leading.is_set,
                backoff=1.0,
                name=name,
            )
            self._informers[name] = informer
            failed = False
            try:
                async with asyncio.TaskGroup() as tg:
                    run = tg.create_task(informer.run(self.ctx.stop))
                    tg.create_task(self._confirm_when_quiet(publisher, informer, run))
                return  # stopped, or the lease is lost
            except* KubefedError as error:
                failed = True
                log.info(
                    "Publish not confirmed, resuming from the checkpoint",
                    resource=name,
                    err=str(error.exceptions[0]),
                )
                await asyncio.sleep(1.0)
            finally:
                # stopped or the lease lost: wait for what was sent and checkpoint it, as at a bookmark
                # (a restart resumes from the last event seen, not from up to a second earlier, which a
                # short watch history may no longer hold). After a failed publish nothing is
                # checkpointed: the next run (or the next leader) resumes from the last durable point
                # and publishes the unconfirmed changes again
                if not failed:
                    with contextlib.suppress(KubefedError, asyncio.CancelledError, TimeoutError):
                        await asyncio.wait_for(asyncio.shield(informer.make_durable()), timeout=5)
                with contextlib.suppress(KubefedError, asyncio.CancelledError, TimeoutError):
                    await asyncio.wait_for(asyncio.shield(publisher.confirm()), timeout=5)

    async def _confirm_when_quiet(
        self, publisher: ChangePublisher, informer: Informer, run: asyncio.Task[None]
    ) -> None:
        """Within the checkpoint interval, confirm sent changes and checkpoint the last event seen
        although no further event arrives: the checkpoint is saved at most once per interval while
        events come, and the last ones of a burst would otherwise stay unsaved until the next bookmark
        (a minute): a restart would resume from before them, and a short watch history may then no
        longer hold that point (410 Gone: a relist, and every object decided again)."""
        while not run.done():
            await asyncio.wait({run}, timeout=self.settings.checkpoint_interval)
            if run.done():
                return
            # both confirm first and raise BusError on a lost ack: the run ends and resumes from the
            # checkpoint
            if informer.behind:
                await informer.make_durable()  # confirms, then saves the checkpoint
            elif publisher.unconfirmed:
                await publisher.confirm()

    async def _publish(
        self, publisher: ChangePublisher, resource: Resource, obj: dict[str, Any], *, deleted: bool
    ) -> None:
        meta = obj.get("metadata") or {}
        key = ObjectKey(
            resource=resource.qualified, namespace=meta.get("namespace") or "", name=meta.get("name") or ""
        )
        fingerprint = (
            None if deleted else change_fingerprint(resource, obj, native=resource.qualified in self._native)
        )
        if fingerprint is not None and publisher.seen(key, fingerprint):
            return  # only fields nobody reacts to changed (e.g. the status we wrote ourselves)
        rv = str(meta.get("resourceVersion") or "")
        change = HostChange(
            key=key, resource_version=rv, generation=int(meta.get("generation") or 0), deleted=deleted
        )
        await publisher.send(
            subjects.host_subject(key.resource, key.namespace, key.name),
            change,
            msg_id=f"{key.resource}/{key.namespace}/{key.name}@{meta.get('uid') or ''}/{rv}"
            + ("-" if deleted else ""),
            stream=subjects.STREAM_HOST,
            key=key,
            fingerprint=fingerprint,
        )


class _HostTypePublisher:
    """The informer handler of one host type: every change becomes a :class:`HostChange` on the bus, a
    (re)list also a :class:`ResourceRelisted`; the checkpoint follows, only after the publishes before
    it were acknowledged."""

    def __init__(
        self, watcher: Watcher, resource: Resource, checkpoint_key: str, publisher: ChangePublisher
    ) -> None:
        self.w = watcher
        self.resource = resource
        self.checkpoint_key = checkpoint_key
        self.publisher = publisher
        self._last_save = asyncio.get_running_loop().time()

    async def on_list(self, items: list[dict[str, Any]], resource_version: str) -> None:
        w, resource = self.w, self.resource
        for obj in items:
            await w._publish(self.publisher, resource, obj, deleted=False)
        await self.publisher.send(
            subjects.relist_subject(resource.qualified),
            ResourceRelisted(
                resource=resource.qualified, resource_version=resource_version, count=len(items)
            ),
            msg_id=f"relist/{w.binding.uid}/{resource.qualified}@{resource_version}",
            stream=subjects.STREAM_HOST,
        )
        await self.publisher.confirm()
        log.info(
            "Relisted resource",
            resource=resource.qualified,
            count=len(items),
            resourceVersion=resource_version,
        )
        await w.checkpoints.save(self.checkpoint_key, resource_version)
        self._last_save = asyncio.get_running_loop().time()

    async def on_event(self, event_type: str, obj: dict[str, Any]) -> None:
        if event_type not in ("ADDED", "MODIFIED", "DELETED"):
            return
        await self.w._publish(self.publisher, self.resource, obj, deleted=event_type == "DELETED")
        if self.resource.qualified in _TYPE_SOURCES:
            self.w._ftc_changed.set()  # the set of watched types may change

    async def on_progress(self, resource_version: str, *, bookmark: bool) -> bool:
        now = asyncio.get_running_loop().time()
        if not bookmark and now - self._last_save < self.w.settings.checkpoint_interval:
            return False
        await self.publisher.confirm()
        await self.w.checkpoints.save(self.checkpoint_key, resource_version)
        self._last_save = now
        return True


_TYPE_SOURCES = frozenset({FEDERATED_TYPE_CONFIGS.qualified, *(p.qualified for p in POLICY_RESOURCES[:2])})


class CacheSyncTimeoutError(KubefedError):
    """A host watch did not sync within KubeFedConfig ``controllerDuration.cacheSyncTimeout``."""


async def _first(*aws: Any) -> None:
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()


async def _wait_cleared(event: asyncio.Event) -> None:
    while event.is_set():
        await asyncio.sleep(0.2)
