"""The controller runtime: one result contract, error classes, per-key exclusivity, waiting callers,
resizing, trace context per key, the upstream metrics, and the Manager's ordered shutdown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from opentelemetry import trace

from shared.errors import NotFoundError, TemporaryError
from shared.runtime import Controller, Manager, Result, every
from shared.telemetry import current_carrier, metrics

pytestmark = pytest.mark.timeout(20)


def _sample(metric: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(metric, labels) or 0.0


async def _until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


class Running:
    """A controller running under its own stop event for one test."""

    def __init__(self, controller: Controller[Any]) -> None:
        self.controller = controller
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Controller[Any]:
        self.task = asyncio.create_task(self.controller.run(self.stop))
        return self.controller

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        assert self.task is not None
        await self.task


async def test_result_contract_and_metrics() -> None:
    calls: list[str] = []

    async def reconcile(key: str) -> Result | None:
        calls.append(key)
        if key == "after" and calls.count("after") == 1:
            return Result(requeue_after=0.05)
        return None

    ctl: Controller[str] = Controller("t-contract", reconcile, workers=2)
    async with Running(ctl):
        ctl.add("plain")
        ctl.add("after")
        await _until(lambda: calls.count("after") == 2 and "plain" in calls)
    assert _sample("controller_runtime_reconcile_total", controller="t-contract", result="success") == 2
    assert _sample("controller_runtime_reconcile_total", controller="t-contract", result="requeue_after") == 1
    assert _sample("workqueue_adds_total", name="t-contract", controller="t-contract") == 2
    assert _sample("workqueue_queue_duration_seconds_count", name="t-contract", controller="t-contract") == 3
    assert _sample("workqueue_work_duration_seconds_count", name="t-contract", controller="t-contract") == 3
    assert _sample("controller_runtime_max_concurrent_reconciles", controller="t-contract") == 2
    assert _sample("controller_runtime_active_workers", controller="t-contract") == 0


async def test_temporary_errors_back_off_permanent_ones_stop() -> None:
    calls: dict[str, int] = {"temp": 0, "perm": 0}

    async def reconcile(key: str) -> None:
        calls[key] += 1
        if key == "temp" and calls[key] < 3:
            raise TemporaryError("later", delay=0.01)
        if key == "perm":
            raise NotFoundError("gone")

    ctl: Controller[str] = Controller("t-errors", reconcile)
    async with Running(ctl):
        ctl.add("perm")
        ctl.add("temp")
        await _until(lambda: calls["temp"] == 3)
    assert calls["perm"] == 1  # terminal: never retried
    assert _sample("workqueue_retries_total", name="t-errors", controller="t-errors") == 2
    assert _sample("controller_runtime_terminal_reconcile_errors_total", controller="t-errors") == 1
    assert _sample("controller_runtime_reconcile_errors_total", controller="t-errors") == 3


async def test_one_key_is_never_reconciled_twice_at_once() -> None:
    running: set[str] = set()
    overlaps = 0
    done = 0

    async def reconcile(key: str) -> None:
        nonlocal overlaps, done
        if key in running:
            overlaps += 1
        running.add(key)
        await asyncio.sleep(0.01)
        running.discard(key)
        done += 1

    ctl: Controller[str] = Controller("t-exclusive", reconcile, workers=8)
    async with Running(ctl):
        waits = []
        for _ in range(20):
            waits.append(asyncio.create_task(ctl.reconcile_now("k")))
            await asyncio.sleep(0.003)  # some arrive while "k" is being reconciled
        await asyncio.gather(*waits)
    assert overlaps == 0
    assert 2 <= done < 20  # bursts coalesce, and every waiter saw a reconcile started after its call


async def test_a_live_key_overtakes_a_low_priority_backlog_being_worked_through() -> None:
    order: list[str] = []

    async def reconcile(key: str) -> None:
        order.append(key)
        await asyncio.sleep(0.002)

    ctl: Controller[str] = Controller("t-priority", reconcile, workers=2)
    async with Running(ctl):
        for i in range(200):
            ctl.add(f"resync-{i}", low_priority=True)
        await _until(lambda: len(order) >= 10)  # the backlog is being worked through
        started_before = len(order)
        ctl.add("live")
        await _until(lambda: "live" in order)
        # handed out as soon as a worker was free: at most one key per worker started after it was added
        assert order.index("live") <= started_before + 2, (started_before, order[:20])
        await _until(lambda: len(order) == 201)


async def test_reconcile_now_raises_the_error_and_does_not_retry_itself() -> None:
    calls = 0

    async def reconcile(key: str) -> None:
        nonlocal calls
        calls += 1
        if key == "k":
            raise TemporaryError("host down", delay=0.01)

    ctl: Controller[str] = Controller("t-wait", reconcile)
    async with Running(ctl):
        with pytest.raises(TemporaryError):
            await ctl.reconcile_now("k")
        ctl.queue.add("marker")  # a later key is processed: nothing of "k" was queued before it
        await _until(lambda: calls == 2)
        await asyncio.sleep(0.05)
    assert calls == 2
    assert len(ctl.queue) == 0


async def test_waiter_added_during_a_reconcile_waits_for_the_next_one() -> None:
    started = asyncio.Event()
    release = asyncio.Event()
    runs = 0

    async def reconcile(key: str) -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            started.set()
            await release.wait()

    ctl: Controller[str] = Controller("t-later", reconcile)
    async with Running(ctl):
        ctl.add("k")
        await started.wait()
        waiter = asyncio.create_task(ctl.reconcile_now("k"))
        await asyncio.sleep(0.01)
        assert not waiter.done()
        release.set()
        await waiter
    assert runs == 2


async def test_resize_bounds_concurrency_live() -> None:
    active = peak = 0
    gate = asyncio.Event()

    async def reconcile(key: int) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await gate.wait()
        active -= 1

    ctl: Controller[int] = Controller("t-resize", reconcile, workers=2)
    async with Running(ctl):
        for i in range(10):
            ctl.add(i)
        await _until(lambda: active == 2)
        await asyncio.sleep(0.02)
        assert peak == 2
        ctl.resize(5)
        await _until(lambda: active == 5)
        assert _sample("controller_runtime_active_workers", controller="t-resize") == 5
        ctl.resize(1)
        gate.set()
        await _until(lambda: len(ctl.queue) == 0 and ctl.idle)
    assert peak == 5
    assert _sample("controller_runtime_max_concurrent_reconciles", controller="t-resize") == 1


async def test_trace_context_travels_with_the_key() -> None:
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("test")
    seen: list[dict[str, str]] = []

    async def reconcile(key: str) -> None:
        seen.append(current_carrier())

    ctl: Controller[str] = Controller("t-trace", reconcile)
    async with Running(ctl):
        with tracer.start_as_current_span("producer") as span:
            ctl.add("k")
            trace_id = format(span.get_span_context().trace_id, "032x")
        await _until(lambda: bool(seen))
    assert trace_id in seen[0].get("traceparent", "")
    assert not trace.get_current_span().get_span_context().is_valid  # nothing leaked into the test's context


async def test_manager_stops_sources_then_drains_controllers_then_helpers() -> None:
    order: list[str] = []
    reconciled: list[int] = []

    async def reconcile(key: int) -> None:
        await asyncio.sleep(0.01)
        reconciled.append(key)

    ctl: Controller[int] = Controller("t-manager", reconcile, workers=1)

    async def source(stop: asyncio.Event) -> None:
        for i in range(5):
            ctl.add(i)
        await stop.wait()
        order.append("source")

    async def helper(stop: asyncio.Event) -> None:
        await stop.wait()
        order.append(f"helper after {len(reconciled)} reconciles")

    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        ticks += 1

    async def hook() -> None:
        order.append("hook")

    manager = Manager("t", grace_period=5.0)
    manager.add_source("source", source)
    manager.add_source("timer", every(0.01, tick, name="tick"))
    manager.add_controller(ctl)
    manager.add_runnable("helper", helper)
    manager.on_shutdown(hook)
    stop = asyncio.Event()
    run = asyncio.create_task(manager.run(stop))
    await _until(lambda: ticks >= 2)
    stop.set()
    await run
    assert order == ["source", "helper after 5 reconciles", "hook"]
    assert sorted(reconciled) == [0, 1, 2, 3, 4]


async def test_manager_ends_when_a_part_crashes() -> None:
    async def crash(stop: asyncio.Event) -> None:
        raise RuntimeError("boom")

    closed: list[bool] = []

    async def hook() -> None:
        closed.append(True)

    manager = Manager("t-crash")
    manager.add_source("crash", crash)
    manager.on_shutdown(hook)
    with pytest.raises(ExceptionGroup):
        await manager.run(asyncio.Event())
    assert closed == [True]


async def test_controllers_come_and_go_while_running() -> None:
    seen: list[str] = []

    def reconciler(name: str) -> Callable[[str], Awaitable[None]]:
        async def reconcile(key: str) -> None:
            seen.append(f"{name}:{key}")

        return reconcile

    manager = Manager("t-dynamic")
    stop = asyncio.Event()
    run = asyncio.create_task(manager.run(stop))
    await asyncio.sleep(0)
    a: Controller[str] = Controller("t-dyn", reconciler("a"), queue_name="t-dyn-a")
    manager.add_controller(a)
    a.add("x")
    await _until(lambda: "a:x" in seen)
    await manager.remove_controller(a)
    assert a not in manager.controllers
    stop.set()
    await run
