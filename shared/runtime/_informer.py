"""One informer: list, then watch from the list's resourceVersion, relist on 410, back off on errors.

client-go's reflector in asyncio terms, used by the watcher (host types, checkpointed, published to the
bus) and by the propagator's member caches (label-selected managed objects). What the events mean is
the :class:`InformerHandler`'s business; the informer only guarantees the order:

- ``on_list(items, rv)`` after every (re)list: the complete set as of ``rv``;
- ``on_event(type, obj)`` for each ADDED / MODIFIED / DELETED, in order;
- ``on_progress(rv, bookmark=...)`` after every event and every BOOKMARK, and with ``bookmark=True``
  when a watch ends normally; it returns whether everything up to ``rv`` is durable (published and
  acknowledged, checkpointed), which makes ``rv`` the point a failed watch resumes from.

A 410 Gone (or ResourceVersionTooLarge) relists. A type the server does not serve (404) counts as
synced and is looked at again every ``not_found_delay`` seconds. Other errors back off exponentially
(``backoff`` doubled per failure, capped at ``max_backoff``, reset by a watch that worked) and either
resume from the last durable resourceVersion (the default: nothing acknowledged is re-read, nothing
unacknowledged is skipped) or, with ``relist_on_error``, relist (a member cluster that comes back is
re-read whole).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from shared.errors import GoneError, KubefedError, NotFoundError
from shared.k8s import KubeClient, Resource
from shared.telemetry import get_logger

__all__ = ["Informer", "InformerHandler"]

log = get_logger(__name__)


class InformerHandler(Protocol):
    async def on_list(self, items: list[dict[str, Any]], resource_version: str) -> None: ...

    async def on_event(self, event_type: str, obj: dict[str, Any]) -> None: ...

    async def on_progress(self, resource_version: str, *, bookmark: bool) -> bool: ...


class Informer:
    """Follows one resource (optionally one namespace, one label selector) for one handler."""

    def __init__(
        self,
        client: KubeClient,
        resource: Resource,
        handler: InformerHandler,
        *,
        namespace: str | Callable[[], str | None] | None = None,
        label_selector: str | None = None,
        resource_version: str = "",
        watch_timeout: int = 300,
        active: Callable[[], bool] = lambda: True,
        relist_on_error: bool = False,
        backoff: float = 0.2,
        max_backoff: float = 5.0,
        not_found_delay: float = 5.0,
        name: str = "",
    ) -> None:
        self.client = client
        self.resource = resource
        self.handler = handler
        self._namespace = namespace
        self.label_selector = label_selector
        self.resource_version = resource_version
        self._durable = resource_version  # where a failed watch resumes
        self.watch_timeout = watch_timeout
        self._active = active
        self.relist_on_error = relist_on_error
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.not_found_delay = not_found_delay
        self.name = name or resource.qualified
        self.synced = asyncio.Event()
        self.relists = 0

    def namespace(self) -> str | None:
        return self._namespace() if callable(self._namespace) else self._namespace

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Follow until ``stop`` is set or ``active()`` turns false (or the task is cancelled)."""
        delay = self.backoff

        def going() -> bool:
            return not (stop is not None and stop.is_set()) and self._active()

        while going():
            try:
                namespace = self.namespace()
                if not self.resource_version:
                    items, rv = await self.client.list(
                        self.resource, namespace, label_selector=self.label_selector
                    )
                    await self.handler.on_list(items, rv)
                    self.resource_version = self._durable = rv
                    self.relists += 1
                self.synced.set()
                async for event in self.client.watch(
                    self.resource,
                    namespace,
                    resource_version=self.resource_version,
                    label_selector=self.label_selector,
                    timeout_seconds=self.watch_timeout,
                ):
                    if not going():
                        break
                    rv = str((event.object.get("metadata") or {}).get("resourceVersion") or "")
                    if event.type != "BOOKMARK":
                        await self.handler.on_event(event.type, event.object)
                    if rv:
                        self.resource_version = rv
                    await self._progress(bookmark=event.type == "BOOKMARK")
                    delay = self.backoff
                await self._progress(bookmark=True)
                delay = self.backoff
            except GoneError:
                log.info("Watch expired, relisting", informer=self.name)
                self.resource_version = ""
            except NotFoundError:
                self.synced.set()  # not served (a CRD not installed yet): nothing to follow, look again
                self.resource_version = ""
                await _sleep(stop, self.not_found_delay)
            except KubefedError as exc:
                log.info("Watch interrupted", informer=self.name, err=str(exc), retryIn=delay)
                self.resource_version = "" if self.relist_on_error else self._durable
                await _sleep(stop, delay)
                delay = min(delay * 2, self.max_backoff)

    async def _progress(self, *, bookmark: bool) -> None:
        # the resourceVersion handed over, not the one current when the handler returns: with
        # make_durable beside the watch loop, events may be handled while the handler waits, and those
        # are not durable yet
        rv = self.resource_version
        if await self.handler.on_progress(rv, bookmark=bookmark):
            self._durable = rv

    @property
    def behind(self) -> bool:
        """Events were handled past the last durable resourceVersion (the handler makes progress
        durable at its own pace, e.g. once a second)."""
        return bool(self.resource_version) and self.resource_version != self._durable

    async def make_durable(self) -> None:
        """Ask the handler to make the current resourceVersion durable now, as at a bookmark: for a
        watch that went quiet (no further event would carry it) and before stopping."""
        if self.behind:
            await self._progress(bookmark=True)


async def _sleep(stop: asyncio.Event | None, seconds: float) -> None:
    if stop is None:
        await asyncio.sleep(seconds)
        return
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass
