"""``kubefed scheduler --workers`` bounds the decision reconciles in flight: host messages (which wait
for their reconcile before acking) and requeues share the one pool."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from services.scheduler._reconciler import Reconciler
from shared.messages import ObjectKey

pytestmark = pytest.mark.timeout(10)


async def test_workers_bound_message_and_requeue_reconciles() -> None:
    state: Any = SimpleNamespace(binding=SimpleNamespace(on_foreign=None))
    bus: Any = SimpleNamespace(settings=SimpleNamespace(max_in_flight=1))
    reconciler = Reconciler(bus, state, workers=3)
    active = peak = done = 0

    async def slow(key: ObjectKey) -> None:
        nonlocal active, peak, done
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.01)
        active -= 1
        done += 1

    reconciler._reconcile = slow  # type: ignore[method-assign]
    stop = asyncio.Event()
    run = asyncio.create_task(reconciler.controller.run(stop))
    keys = [ObjectKey(resource="r", namespace="ns", name=f"o{i}") for i in range(20)]
    for key in keys[10:]:
        reconciler.controller.add(key)  # requeues
    await asyncio.gather(*(reconciler.controller.reconcile_now(k) for k in keys[:10]))  # messages
    while done < 20:
        await asyncio.sleep(0.01)
    stop.set()
    await run
    assert peak == 3
