"""Simulated cluster controllers (like KWOK): one work queue and one task per cluster.

The store calls :meth:`ControllerManager.dispatch` synchronously on every committed event; each
controller's ``on_event`` only enqueues keys. One worker task drains the de-duplicated queue and
calls the controllers' synchronous ``reconcile`` (the store is synchronous too), so reconciles of a
cluster never interleave and need no locks. A write made by a reconcile feeds back as events, and
no-op writes produce no events, so the loop settles. Delays (pod start-up) are timers that
enqueue later.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from .._errors import ApiError
from .._store import Event, Obj, Store
from ._base import Controller, Key
from .crd import CrdController
from .gc import GarbageCollector
from .kubelet import Kubelet
from .namespace import NamespaceController
from .service import ServiceController
from .token import TokenController
from .workloads import WorkloadController

log = logging.getLogger("sim.controllers")

__all__ = ["ControllerManager", "Settings"]


class Settings:
    """Per-cluster knobs of the simulated behaviour (mutable at run time)."""

    def __init__(
        self,
        cluster_name: str = "cluster",
        index: int = 0,
        capacity: int = 110,
        pod_ready_delay: float = 0.1,
        nodes: int = 1,
        node_labels: dict[str, str] | None = None,
        ca_pem: bytes | None = None,
    ) -> None:
        self.cluster_name = cluster_name
        self.index = index
        self.capacity = capacity
        self.pod_ready_delay = pod_ready_delay
        self.nodes = nodes
        self.node_labels = dict(node_labels or {})
        self.ca_pem = ca_pem


class ControllerManager:
    """Owns the controllers and the worker task of one cluster."""

    def __init__(self, store: Store, settings: Settings, tokens: Any) -> None:
        self.store = store
        self.settings = settings
        self.tokens = tokens
        self._pending: dict[tuple[Controller, Key], None] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._timers: set[asyncio.TimerHandle] = set()
        self.errors = 0
        self.kubelet = Kubelet(self)
        self.controllers: list[Controller] = [
            NamespaceController(self),
            GarbageCollector(self),
            CrdController(self),
            TokenController(self),
            ServiceController(self),
            WorkloadController(self),
            self.kubelet,
        ]
        store.subscribe(self.dispatch)
        ns_ctrl = self.controllers[0]
        for ns in store.iter_objects(("", "namespaces"), ""):
            self.enqueue(ns_ctrl, ("sa", ns["metadata"]["name"]))
        self.kubelet.create_nodes()

    def dispatch(self, ev: Event) -> None:
        for c in self.controllers:
            c.on_event(ev)

    def enqueue(self, ctrl: Controller, key: Key, delay: float = 0.0) -> None:
        if delay > 0:
            loop = asyncio.get_running_loop()
            handle: asyncio.TimerHandle

            def fire() -> None:
                self._timers.discard(handle)
                self.enqueue(ctrl, key)

            handle = loop.call_later(delay, fire)
            self._timers.add(handle)
            return
        self._pending[(ctrl, key)] = None
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"sim-controllers-{self.settings.cluster_name}"
            )

    async def stop(self) -> None:
        for t in self._timers:
            t.cancel()
        self._timers.clear()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def run_pending(self, limit: int = 10_000) -> int:
        """Process queued work synchronously (also handy in pure-store tests)."""
        done = 0
        while self._pending and done < limit:
            (ctrl, key) = next(iter(self._pending))
            del self._pending[(ctrl, key)]
            done += 1
            try:
                ctrl.reconcile(key)
            except ApiError as e:
                if e.code not in (404, 409):
                    log.debug("Reconcile failed", extra={"key": key, "err": e.message})
                if e.code != 404:
                    self.enqueue(ctrl, key, 0.05)
            except Exception:
                self.errors += 1
                log.exception("Reconcile crashed", extra={"key": key})
        return done

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                self.run_pending(200)
                await asyncio.sleep(0)

    def write_status(self, gp: tuple[str, str], obj: Obj, status: dict[str, Any]) -> Obj:
        """Replace ``.status`` through the status subresource (no-op when equal)."""
        if obj.get("status") == status:
            return obj
        rt = self.store.registry.by_gp(*gp)
        assert rt is not None
        meta = obj["metadata"]
        return self.store.update(
            rt,
            meta.get("namespace", ""),
            meta["name"],
            {**obj, "status": status},
            subresource="status" if rt.status else None,
        )
