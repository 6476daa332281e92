"""A plane for native resources under Karmada's policies: host + member1..3 (Karmada's sample names),
the three services running, every member Ready. ``member1`` holds 8 pods, ``member2`` 4, ``member3``
20, so ``dynamicWeight: AvailableReplicas`` has something to weigh."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.fixtures import make_plane
from tests.support.plane import ControlPlane, eventually, ready

__all__ = ["make_plane", "policy_plane"]

MEMBERS = ["member1", "member2", "member3"]
CAPACITY = {"member1": 8, "member2": 4, "member3": 20}


@pytest.fixture
async def policy_plane(make_plane: Any) -> ControlPlane:
    cp: ControlPlane = await make_plane(MEMBERS, capacity=CAPACITY)
    for service in ("watcher", "scheduler", "propagator"):
        cp.start(service, service)
    await eventually(lambda: all(ready(cp, m) for m in MEMBERS), timeout=30)
    return cp
