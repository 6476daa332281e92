"""The informer: list then watch from the list's resourceVersion, bookmarks as progress, 410 relists,
errors back off and resume from the last durable resourceVersion (or relist, when asked), a type
the server does not serve counts as synced."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from shared.errors import ApiUnavailableError, GoneError, NotFoundError
from shared.k8s import Resource
from shared.k8s._client import WatchEvent
from shared.runtime import Informer

pytestmark = pytest.mark.timeout(10)

CM = Resource("", "v1", "configmaps", kind="ConfigMap")


def _obj(name: str, rv: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": rv}}


class ScriptedClient:
    """Answers ``list`` and ``watch`` from scripts; records the resourceVersion each watch started at."""

    def __init__(self, lists: list[Any], watches: list[Any]) -> None:
        self.lists = lists
        self.watches = watches
        self.watched_from: list[str] = []
        self.listed = 0
        self.done = asyncio.Event()

    async def list(self, resource: Resource, namespace: str | None, **kw: Any) -> tuple[list[Any], str]:
        self.listed += 1
        answer = self.lists.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def watch(self, resource: Resource, namespace: str | None, **kw: Any) -> AsyncIterator[WatchEvent]:
        self.watched_from.append(kw["resource_version"])
        if not self.watches:
            self.done.set()
            await asyncio.Event().wait()
        script = self.watches.pop(0)
        for item in script:
            if isinstance(item, Exception):
                raise item
            yield item


class Recorder:
    def __init__(self, durable: bool = True) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.durable = durable

    async def on_list(self, items: list[dict[str, Any]], resource_version: str) -> None:
        self.calls.append(("list", [i["metadata"]["name"] for i in items], resource_version))

    async def on_event(self, event_type: str, obj: dict[str, Any]) -> None:
        self.calls.append((event_type, obj["metadata"]["name"]))

    async def on_progress(self, resource_version: str, *, bookmark: bool) -> bool:
        self.calls.append(("progress", resource_version, bookmark))
        return self.durable or bookmark


async def _run(client: ScriptedClient, handler: Recorder, **kw: Any) -> Informer:
    informer = Informer(client, CM, handler, backoff=0.001, not_found_delay=0.001, **kw)  # type: ignore[arg-type]
    task = asyncio.create_task(informer.run())
    await client.done.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return informer


async def test_list_then_watch_with_bookmarks_and_relist_on_410() -> None:
    client = ScriptedClient(
        lists=[([_obj("a", "5")], "10"), ([_obj("a", "5"), _obj("b", "30")], "40")],
        watches=[
            [
                WatchEvent("ADDED", _obj("b", "11")),
                WatchEvent("BOOKMARK", _obj("", "20")),
                GoneError("too old"),
            ],
            [WatchEvent("DELETED", _obj("a", "41"))],
        ],
    )
    handler = Recorder()
    informer = await _run(client, handler)
    assert client.watched_from == ["10", "40", "41"]
    assert client.listed == 2
    assert handler.calls == [
        ("list", ["a"], "10"),
        ("ADDED", "b"),
        ("progress", "11", False),
        ("progress", "20", True),
        ("list", ["a", "b"], "40"),
        ("DELETED", "a"),
        ("progress", "41", False),
        ("progress", "41", True),  # the watch ended normally
    ]
    assert informer.synced.is_set()


async def test_an_error_resumes_from_the_last_durable_version() -> None:
    client = ScriptedClient(
        lists=[],
        watches=[
            [
                WatchEvent("MODIFIED", _obj("a", "11")),
                WatchEvent("BOOKMARK", _obj("", "12")),
                WatchEvent("MODIFIED", _obj("a", "13")),  # not durable yet when the watch breaks
                ApiUnavailableError("connection reset"),
            ]
        ],
    )
    handler = Recorder(durable=False)  # only bookmarks make progress durable (like a checkpoint)
    await _run(client, handler, resource_version="10")
    assert client.listed == 0  # a checkpoint to start from: nothing is relisted
    assert client.watched_from == ["10", "12"]  # "13" is seen again, nothing is skipped


async def test_relist_on_error_and_not_found_counts_as_synced() -> None:
    client = ScriptedClient(
        lists=[NotFoundError("no such type"), ([], "7"), ([_obj("x", "8")], "9")],
        watches=[[ApiUnavailableError("member down")]],
    )
    handler = Recorder()
    informer = await _run(client, handler, relist_on_error=True)
    assert informer.synced.is_set()
    assert client.listed == 3  # after 404, and again after the error: a returning member is re-read
    assert client.watched_from == ["7", "9"]
    assert handler.calls[0] == ("list", [], "7")
    assert handler.calls[1] == ("list", ["x"], "9")


async def test_stops_when_no_longer_active() -> None:
    active = True
    client = ScriptedClient(
        lists=[([], "1")],
        watches=[[WatchEvent("ADDED", _obj("a", "2")), WatchEvent("ADDED", _obj("b", "3"))]],
    )
    handler = Recorder()

    async def on_event(event_type: str, obj: dict[str, Any]) -> None:
        nonlocal active
        handler.calls.append((event_type, obj["metadata"]["name"]))
        active = False  # e.g. the lease was lost

    handler.on_event = on_event  # type: ignore[method-assign]
    informer = Informer(client, CM, handler, active=lambda: active)  # type: ignore[arg-type]
    await asyncio.wait_for(informer.run(), timeout=2)
    assert ("ADDED", "b") not in handler.calls


async def test_make_durable_records_the_version_it_handed_over_not_a_later_one() -> None:
    """make_durable runs beside the watch loop: events handled while the handler saves are not durable."""
    release = asyncio.Event()
    handed: list[str] = []

    class SlowSave:
        async def on_list(self, items: list[dict[str, Any]], resource_version: str) -> None: ...

        async def on_event(self, event_type: str, obj: dict[str, Any]) -> None: ...

        async def on_progress(self, resource_version: str, *, bookmark: bool) -> bool:
            handed.append(resource_version)
            await release.wait()
            return True

    informer = Informer(None, CM, SlowSave(), resource_version="5")  # type: ignore[arg-type]
    informer.resource_version = "6"  # an event handled after the start
    assert informer.behind
    saving = asyncio.create_task(informer.make_durable())
    await asyncio.sleep(0)
    informer.resource_version = "7"  # handled while the handler saves "6"
    release.set()
    await saving
    assert handed == ["6"]
    assert informer.behind  # "7" is not durable yet
    await informer.make_durable()
    assert handed == ["6", "7"] and not informer.behind
