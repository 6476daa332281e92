"""Wiring of the propagator: decisions in, member writes out, outcomes and health back.

Decisions arrive through an ordered replay of the desired-state stream: on start the propagator gets
the current decision of every object, then live updates. Each decision is queued for each served
cluster's :class:`shared.runtime.Controller` (a de-duplicating work queue with its own workers), so a
slow or unreachable member only delays its own queue. Member caches (label-selected) feed the same
queues, which is how drift is corrected and how a returning cluster catches up. After a restart
every object is re-verified against its live copy and only objects that differ are written.

Decisions of another host cluster than the one this propagator serves (its identity is read at
start, :class:`shared.runtime.HostBinding`) are ignored: nothing is written to or deleted from a
member for them. The scheduler re-decides them for this host, and those decisions are applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sys
from typing import Any

import msgspec

from services.propagator._apply import Applier
from services.propagator._compact import PackedDecisions, interned_key
from services.propagator._health import probe_members
from services.propagator._members import MemberRegistry
from services.propagator._observe import Observer
from services.propagator._plan import kept_decision
from services.propagator._report import Reporter
from shared import subjects
from shared.bus import Delivery, Publisher, Replayer
from shared.errors import KubefedError
from shared.k8s import Resource
from shared.kubefed_api import DEFAULT_KUBEFED_CONFIG_SPEC, KubeFedConfigSpec
from shared.messages import ObjectKey, PlacementDecision
from shared.planning import MANAGED_LABEL, ClusterHealth, HealthThresholds, selector_from_string
from shared.runtime import (
    CommonSettings,
    Controller,
    HostBinding,
    Manager,
    Result,
    ServiceContext,
    guarded_task,
    read_host_identity,
    read_kubefed_config,
    run_service,
)
from shared.telemetry import current_carrier, get_logger

__all__ = ["PropagatorSettings", "resync_delays", "run_propagator"]

log = get_logger(__name__)

ORPHAN_GRACE_SECONDS = 2.0  # time for a just-created federated object's decision to arrive


def resync_delays(members: list[str], period: float) -> list[tuple[str, float]]:
    """When each member's periodic re-verification starts: one after another over a tenth of the
    period (at most a minute), not all at once. 2,500 members x 100 objects queued in one instant
    delayed live changes by the whole backlog and sent the host a burst it answered with timeouts."""
    spread = min(period / 10, 60.0)
    return [(name, spread * i / len(members)) for i, name in enumerate(members)]


class PropagatorSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The propagator's settings."""

    common: CommonSettings = CommonSettings()
    clusters: tuple[str, ...] = ()
    cluster_selector: str = ""
    workers_per_cluster: int | None = None  # None: KubeFedConfig syncController.maxConcurrentReconciles
    member_qps: float = 100.0
    member_burst: int = 200
    read_secrets: bool = True
    refresh_period: float = 10.0
    resync_period: float = 600.0
    unschedulable_after: float = 60.0
    # health probes in flight at once: a probe's timeout counts from when it starts, not from when the
    # round starts, so a fleet of thousands is probed in waves instead of timing out all at once
    health_probe_concurrency: int = 64


async def run_propagator(settings: PropagatorSettings, **kw: Any) -> None:
    """Run the propagator service until SIGTERM (or ``stop``)."""

    async def main(ctx: ServiceContext) -> None:
        await Propagator(ctx, settings).run()

    await run_service("propagator", settings.common, main, **kw)


class Propagator:
    """Serves the member clusters selected by the settings."""

    def __init__(self, ctx: ServiceContext, settings: PropagatorSettings) -> None:
        self.ctx = ctx
        self.settings = settings
        self.decisions = PackedDecisions()
        self.index: dict[tuple[str, str, str], ObjectKey] = {}
        self._orphans: set[tuple[str, str, str, str]] = set()  # member objects whose managed label may go
        self._target_types: set[str] = set()  # resources some decision targets
        self.manager = Manager("propagator", grace_period=ctx.settings.grace_period)
        self.controllers: dict[str, Controller[ObjectKey]] = {}  # one per member: a slow one waits alone
        self.health: dict[str, ClusterHealth] = {}
        self.config: KubeFedConfigSpec = DEFAULT_KUBEFED_CONFIG_SPEC  # until read
        self.binding = HostBinding(state="decisions", action="ignored until re-decided for this host")
        selector = selector_from_string(settings.cluster_selector) if settings.cluster_selector else None
        self.registry = MemberRegistry(
            ctx.host,
            ctx.settings.kubefed_namespace,
            names=frozenset(settings.clusters),
            selector=selector,
            on_change=self._on_member_change,
            watch_namespace=self._watch_namespace,
            qps=settings.member_qps,
            burst=settings.member_burst,
        )
        self.publisher = Publisher(ctx.bus)
        self.reporter = Reporter(self.publisher)
        self.observer = Observer(
            self.registry, self.publisher, unschedulable_after=settings.unschedulable_after
        )
        self.applier = Applier(
            decisions=self.decisions,
            registry=self.registry,
            probed=self.health,
            reporter=self.reporter,
            member_changed=self.observer.changed,
            host=ctx.host,
        )
        self.replays = [
            Replayer(
                ctx.bus,
                stream=subjects.STREAM_DESIRED,
                filter_subject="kubefed.desired.>",
                name="propagator-desired",
            )
        ]
        if settings.read_secrets:
            self.replays.append(
                Replayer(
                    ctx.bus,
                    stream=subjects.STREAM_SECRETS,
                    filter_subject="kubefed.secret.>",
                    name="propagator-secrets",
                )
            )

    def _watch_namespace(self) -> str | None:
        return self.ctx.settings.kubefed_namespace if self.config.namespaced else None

    async def _read_config(self) -> None:
        with contextlib.suppress(KubefedError):  # unreadable: the configuration in force stays
            self.config = await read_kubefed_config(
                self.ctx.host, self.ctx.settings.kubefed_namespace, self.config
            )

    async def run(self) -> None:
        self.ctx.readiness.add("members", lambda: self.registry.loaded)
        self.ctx.readiness.add("replayed", self._replayed)
        await self.ctx.bus.ensure_topology()
        await self._read_config()
        while not self.ctx.stop.is_set():
            try:
                self.binding.uid = await read_host_identity(self.ctx.host)
                await self._refresh_members()
                break
            except KubefedError as exc:
                log.info("Reading member clusters failed, retrying", err=str(exc))
                await asyncio.sleep(1.0)
        m = self.manager
        # sources: decisions (and Secrets) replayed, member health probes, member/config refresh; the
        # member caches' informers feed the controllers through ``_on_member_change``
        for replay in self.replays:
            m.add_source(f"replay-{replay.stream}", functools.partial(replay.run, self._on_decision))
        m.add_source("health", self._health_loop)
        m.add_source("refresh", self._refresh_loop)
        # controllers: one per member cluster (added in _refresh_members) and the observer
        m.add_controller(self.observer.controller)
        # the reporter publishes the outcomes of the work the controllers finish while draining
        m.add_runnable("reporter", self.reporter.run)
        m.on_shutdown(self._flush_reports)
        m.on_shutdown(self.registry.close)
        await m.run(self.ctx.stop)

    async def _flush_reports(self) -> None:
        with contextlib.suppress(KubefedError):
            await self.reporter.flush()

    # -- members ---------------------------------------------------------------------------
    async def _refresh_members(self) -> None:
        changed = await self.registry.refresh()
        for name in changed:
            if name not in self.controllers:
                controller: Controller[ObjectKey] = Controller(
                    "propagator",
                    functools.partial(self._reconcile, name),
                    workers=self.worker_count(),
                    queue_name=f"propagator-{name}",
                    base_delay=0.05,
                    max_delay=30.0,
                    per_queue_histograms=False,
                )
                self.controllers[name] = controller
                self.manager.add_controller(controller)
            self.health.pop(name, None)  # a new or rebuilt client: its first probe queues every object
        self._resize_pools()
        for name in list(self.controllers):
            if name not in self.registry.members:
                await self.manager.remove_controller(self.controllers.pop(name))
                self.health.pop(name, None)

    async def _reconcile(self, cluster: str, key: ObjectKey) -> Result:
        retry = await self.applier.reconcile(cluster, key)
        return Result() if retry is None else Result(requeue=True, requeue_after=retry)

    def worker_count(self) -> int:
        """Workers per member cluster: ``--workers-per-cluster``, else KubeFedConfig's sync concurrency."""
        if self.settings.workers_per_cluster:
            return self.settings.workers_per_cluster
        return self.config.sync_concurrency

    def _resize_pools(self) -> None:
        """Grow or shrink every cluster's workers to :meth:`worker_count` (a config change applies live)."""
        target = self.worker_count()
        for controller in self.controllers.values():
            controller.resize(target)

    async def _refresh_loop(self, stop: asyncio.Event) -> None:
        """Re-read clusters and configuration; every ``resync_period`` re-verify every object (compare
        only)."""
        loop = asyncio.get_running_loop()
        last_resync = loop.time()
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.settings.refresh_period)
            if stop.is_set():
                return
            if loop.time() - last_resync >= self.settings.resync_period:
                last_resync = loop.time()
                for name, delay in resync_delays(list(self.controllers), self.settings.resync_period):
                    self._enqueue_all(name, delay=delay)
            try:
                await self._read_config()
                self._resize_pools()
                await self._refresh_members()
            except KubefedError as exc:
                log.info("Refreshing members failed", err=str(exc))

    async def _health_loop(self, stop: asyncio.Event) -> None:
        last_sent: dict[str, tuple[Any, float]] = {}
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            period = self.config.health_check_period
            timeout = self.config.health_check_timeout
            thresholds = HealthThresholds(
                failure_threshold=self.config.failure_threshold,
                success_threshold=self.config.success_threshold,
            )
            members = list(self.registry.members.values())
            results = await probe_members(
                members, self.health, thresholds, timeout, self.settings.health_probe_concurrency
            )
            for member, result in zip(members, results, strict=True):
                if isinstance(result, BaseException):
                    log.warning("Probing cluster failed", cluster=member.name, err=repr(result))
                    continue
                health, report = result
                first_probe = member.name not in self.health
                was_ready = member.ready
                self.health[member.name] = health
                member.ready = health.ready
                if first_probe:
                    # workers wait for the first probe (no ClusterNotReady flap after a restart)
                    self._enqueue_all(member.name)
                elif health.ready and not was_ready:
                    delay = self.config.available_delay
                    log.info("Cluster became ready", cluster=member.name, requeueAfter=delay)
                    self._enqueue_all(member.name, delay=delay)
                elif was_ready and not health.ready:
                    delay = self.config.unavailable_delay
                    log.info(
                        "Cluster became not ready", cluster=member.name, err=report.error, requeueAfter=delay
                    )
                    self._enqueue_all(member.name, delay=delay)
                signature = (
                    [{k: v for k, v in c.items() if k != "lastProbeTime"} for c in report.conditions],
                    report.kubernetes_version,
                    report.region,
                    report.zones,
                    report.allocatable_pods,
                    report.running_pods,
                )
                previous = last_sent.get(member.name)
                if previous is None or previous[0] != signature or loop.time() - previous[1] > 60:
                    try:
                        await self.publisher.publish(
                            subjects.health_subject(member.name), report, stream=subjects.STREAM_HEALTH
                        )
                        last_sent[member.name] = (signature, loop.time())
                    except KubefedError as exc:
                        log.info("Publishing health failed", cluster=member.name, err=str(exc))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=period)

    # -- intake ----------------------------------------------------------------------------
    async def _on_decision(self, delivery: Delivery) -> None:
        decision = delivery.message
        if not isinstance(decision, PlacementDecision) or self.binding.foreign(decision.host_uid):
            return
        key = interned_key(decision.key)
        # the member writes of this decision continue this process's consume span (itself a child of
        # the scheduler's publish), so one change reads watcher → scheduler → propagator → member
        decision = kept_decision(decision, current_carrier())
        self.decisions[key] = decision
        t = decision.target
        resource = Resource(t.group, t.version, t.plural, namespaced=t.namespaced, kind=t.kind)
        self.registry.ensure_type(resource)
        self._target_types.add(resource.qualified)
        self.observer.on_decision(decision)
        self.index[(sys.intern(resource.qualified), key.namespace if t.namespaced else "", key.name)] = key
        for controller in self.controllers.values():
            controller.add(key)

    def _replayed(self) -> bool:
        """Every decision the bus held at start has been read: an object without one is uncovered."""
        return all(r.caught_up.is_set() for r in self.replays)

    def _on_member_change(self, cluster: str, resource: Resource, namespace: str, name: str) -> None:
        self.observer.changed(cluster, resource, namespace, name)
        key = self.index.get((resource.qualified, namespace, name))
        controller = self.controllers.get(cluster)
        member = self.registry.members.get(cluster)
        if key is not None and member is not None and cluster in self.health and not member.ready:
            # a cluster not Ready yet (e.g. its cache relisted as it came back, before the probe says so):
            # reconciling now would only report ClusterNotReady for an object nobody changed; becoming
            # Ready re-queues every object after availableDelay (KubeFed's informer ignores such a cluster)
            return
        if key is not None and controller is not None:
            controller.add(key)
        elif key is None and resource.qualified in self._target_types and self._replayed():
            # a managed member object of a federated type that no decision covers: KubeFed removes its
            # managed label (not for types only observed, such as the Endpoints of managed Services)
            orphan = (cluster, resource.qualified, namespace, name)
            if orphan not in self._orphans:
                self._orphans.add(orphan)
                guarded_task(
                    self._unlabel_orphan(cluster, resource, namespace, name), name=f"orphan-{cluster}-{name}"
                )

    async def _unlabel_orphan(self, cluster: str, resource: Resource, namespace: str, name: str) -> None:
        """Remove the managed label of a member object no federated object covers (KubeFed's sync controller
        does the same), after a grace period in which its decision may still arrive."""
        try:
            await asyncio.sleep(ORPHAN_GRACE_SECONDS)
            member = self.registry.members.get(cluster)
            cache = member.cache(resource) if member is not None else None
            if (
                member is None
                or member.client is None
                or cache is None
                or (resource.qualified, namespace, name) in self.index
            ):
                return
            obj = cache.objects.get((namespace, name))
            if obj is None or ((obj.get("metadata") or {}).get("labels") or {}).get(MANAGED_LABEL) != "true":
                return
            try:
                await member.client.patch(
                    resource, name, {"metadata": {"labels": {MANAGED_LABEL: None}}}, namespace or None
                )
                log.info(
                    "Removed the managed label of an object no federated object covers",
                    cluster=cluster,
                    resource=resource.qualified,
                    object=f"{namespace}/{name}",
                )
            except KubefedError as exc:
                log.info(
                    "Removing an orphan's managed label failed",
                    cluster=cluster,
                    object=f"{namespace}/{name}",
                    err=str(exc),
                )
        finally:
            self._orphans.discard((cluster, resource.qualified, namespace, name))

    def _enqueue_all(self, cluster: str, delay: float = 0.0) -> None:
        """Re-check every object in ``cluster`` (first probe, readiness change, periodic re-verification)
        at low priority: a decision that arrives meanwhile is applied before this backlog (at 5,000
        members a periodic re-verification queues every object of every member)."""
        controller = self.controllers.get(cluster)
        if controller is not None:
            for key in self.decisions:
                controller.add(key, delay, low_priority=True)
