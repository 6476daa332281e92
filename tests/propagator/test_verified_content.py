"""Members holding the same content are verified once (issue #18: a restart re-verifies every member's
copy of every object; at 100,000 objects x 10 members rendering and comparing was a fifth of the
propagator's CPU). The propagator remembers, on the shared content, the fingerprint of the decision it
found it up to date with; the other members then report ``unchanged`` without rendering. A member whose
copy was edited (other content), a new decision and a member with overrides of its own (another
fingerprint) are rendered and compared as before. A verified copy is not even decoded: its own fields
(resourceVersion, uid) and status are read without its content."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

import msgspec
import pytest

import services.propagator._compact as compact_module
import services.propagator._plan as plan_module
from services.propagator._apply import Applier
from services.propagator._compact import CompactObjects, SharedContents
from services.propagator._plan import render
from shared.k8s import KubeClient
from shared.messages import ClusterOutcome, ObjectKey, PlacementDecision, TargetType

KEY = ObjectKey(resource="federatedconfigmaps.types.kubefed.io", namespace="fed", name="web")
MEMBERS = ["c1", "c2", "c3", "c4"]
DECISION = PlacementDecision(
    key=KEY,
    target=TargetType(group="", version="v1", kind="ConfigMap", plural="configmaps", namespaced=True),
    template={"data": {"k": "v"}},
    clusters=MEMBERS,
    template_hash="h1",
)


class _Member:
    def __init__(self, name: str, live: dict[str, Any], contents: SharedContents) -> None:
        self.name = name
        self.ready = True
        self.replaced: list[dict[str, Any]] = []
        self.client = SimpleNamespace(replace=self._replace)
        synced = asyncio.Event()
        synced.set()
        self._cache = SimpleNamespace(
            synced=synced, objects=CompactObjects({("fed", "web"): live}, contents=contents)
        )

    def cache(self, resource: object) -> Any:
        return self._cache

    async def _replace(self, resource: object, obj: dict[str, Any]) -> dict[str, Any]:
        self.replaced.append(obj)
        return {**obj, "metadata": {**obj["metadata"], "resourceVersion": "9", "uid": f"uid-{self.name}"}}


def _live(
    decision: PlacementDecision, cluster: str, uid: str, data: dict[str, str] | None = None
) -> dict[str, Any]:
    """The member's copy as its API server returns it: its own uid and resourceVersion."""
    obj = render(decision, cluster, None)
    if data is not None:
        obj["data"] = data
    return {**obj, "metadata": {**obj["metadata"], "uid": uid, "resourceVersion": "1"}}


class _Fleet:
    def __init__(self, decision: PlacementDecision, lives: dict[str, dict[str, Any]]) -> None:
        contents = SharedContents()
        self.members = {name: _Member(name, live, contents) for name, live in lives.items()}
        self.outcomes: list[ClusterOutcome] = []
        self.decisions = {KEY: decision}
        self.applier = Applier(
            decisions=self.decisions,
            registry=cast(Any, SimpleNamespace(members=self.members)),
            probed=set(self.members),
            reporter=cast(Any, SimpleNamespace(add=self.outcomes.append)),
            member_changed=lambda *a: None,
            host=cast(KubeClient, None),
        )

    async def reconcile_all(self) -> dict[str, str]:
        self.outcomes.clear()
        for name in self.members:
            assert await self.applier.reconcile(name, KEY) is None
        return {o.cluster: o.op for o in self.outcomes}


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The clusters the propagator rendered the decision for, in order."""
    seen: list[str] = []
    real = plan_module.render

    def counting(decision: PlacementDecision, cluster: str, live: dict[str, Any] | None) -> dict[str, Any]:
        seen.append(cluster)
        return real(decision, cluster, live)

    monkeypatch.setattr(plan_module, "render", counting)
    return seen


async def test_equal_copies_are_rendered_once_and_all_report_unchanged(renders: list[str]) -> None:
    fleet = _Fleet(DECISION, {m: _live(DECISION, m, f"uid-{m}") for m in MEMBERS})
    assert await fleet.reconcile_all() == dict.fromkeys(MEMBERS, "unchanged")
    assert renders == ["c1"]
    # each member's own version is reported, not the first member's
    assert {o.cluster: o.version for o in fleet.outcomes} == dict.fromkeys(MEMBERS, "rv:1")


async def test_verified_copies_are_not_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[str] = []
    real = compact_module.join

    def counting(content: bytes, own: bytes) -> dict[str, Any]:
        obj = real(content, own)
        decoded.append(obj["metadata"]["uid"])
        return obj

    monkeypatch.setattr(compact_module, "join", counting)
    fleet = _Fleet(DECISION, {m: _live(DECISION, m, f"uid-{m}") for m in MEMBERS})
    decoded.clear()  # the fleet's caches were filled (and read back) above
    assert await fleet.reconcile_all() == dict.fromkeys(MEMBERS, "unchanged")
    assert decoded == ["uid-c1"]  # the first member's copy, rendered and compared
    assert {o.cluster: o.version for o in fleet.outcomes} == dict.fromkeys(MEMBERS, "rv:1")


async def test_an_edited_copy_is_compared_and_written(renders: list[str]) -> None:
    lives = {m: _live(DECISION, m, f"uid-{m}") for m in MEMBERS}
    lives["c3"] = _live(DECISION, "c3", "uid-c3", data={"k": "edited by hand"})
    fleet = _Fleet(DECISION, lives)
    ops = await fleet.reconcile_all()
    assert ops == {"c1": "unchanged", "c2": "unchanged", "c3": "updated", "c4": "unchanged"}
    assert renders == ["c1", "c3"]
    assert fleet.members["c3"].replaced[0]["data"] == {"k": "v"}


async def test_a_new_decision_is_rendered_again(renders: list[str]) -> None:
    fleet = _Fleet(DECISION, {m: _live(DECISION, m, f"uid-{m}") for m in MEMBERS})
    await fleet.reconcile_all()
    renders.clear()
    fleet.decisions[KEY] = msgspec.structs.replace(
        DECISION, template={"data": {"k": "new"}}, template_hash="h2"
    )
    ops = await fleet.reconcile_all()
    assert ops == dict.fromkeys(MEMBERS, "updated")
    assert renders == MEMBERS


async def test_a_member_with_overrides_of_its_own_is_not_taken_as_verified(renders: list[str]) -> None:
    """c2's override sets the value the others have from the template: c2's copy has the same content
    as theirs, yet c2 must be rendered (its override may differ from what its copy holds)."""
    override = [{"path": "/data/k", "value": "from-override"}]
    decision = msgspec.structs.replace(DECISION, overrides={"c2": override})
    lives = {m: _live(decision, "c1", f"uid-{m}") for m in MEMBERS}  # every copy as the template renders
    fleet = _Fleet(decision, lives)
    ops = await fleet.reconcile_all()
    assert ops == {"c1": "unchanged", "c2": "updated", "c3": "unchanged", "c4": "unchanged"}
    assert renders == ["c1", "c2"]
    assert fleet.members["c2"].replaced[0]["data"] == {"k": "from-override"}
