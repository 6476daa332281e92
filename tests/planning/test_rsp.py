"""Replica scheduling (``shared.planning._rsp``), contract §2.7.

Covers: FNV-1 32 hash values; the documented outcomes from KubeFed's user guide (A1:B2 with
C unlisted; min/max example; 50 over `*` with C max 20, then B offline); empty preferences
defaulting to ``*`` weight 1; capacity limits and overflow (KubeFed mode vs capacity-aware);
rebalance=False keeping running replicas and trimming overflow; preferences decoding;
capacity estimation from pods (Unschedulable > 60 s, younger ones ask for a recheck);
writing the result into placement and /spec/replicas overrides. Properties: sum == total
when maxes/capacity allow, min/max respected, deterministic under cluster order,
rebalance=False never reduces a cluster below its current count when the total allows,
capacity never exceeded and capacity-aware never over-provisions.
"""

import copy
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from shared.planning import (
    ClusterPreference,
    apply_rsp_result,
    count_running_ready,
    estimate_capacity,
    fnv32,
    member_replica_state,
    plan_replicas,
    rsp_preferences_from_spec,
    scheduling_result,
)

P = ClusterPreference
KEY = "default/web"


def test_fnv32_matches_go_hash_fnv_new32() -> None:
    assert fnv32(b"") == 0x811C9DC5
    assert fnv32(b"a") == 0x050C5D7E
    assert fnv32(b"foobar") == 0x31F0B262


def test_documented_weights_with_unlisted_cluster() -> None:
    plan, overflow = plan_replicas(
        total=9, preferences={"A": P(weight=1), "B": P(weight=2)}, clusters=["A", "B", "C"], key=KEY
    )
    assert plan == {"A": 3, "B": 6, "C": 0}
    assert overflow == {}


def test_documented_min_max() -> None:
    plan, _ = plan_replicas(
        total=9,
        preferences={
            "A": P(min_replicas=4, max_replicas=6, weight=1),
            "B": P(min_replicas=4, max_replicas=8, weight=2),
        },
        clusters=["A", "B"],
        key=KEY,
    )
    assert plan == {"A": 4, "B": 5}


@pytest.mark.parametrize("key", ["default/web", "ns/other", "x/y"])
def test_documented_star_with_max(key: str) -> None:
    prefs = {"*": P(weight=1), "C": P(max_replicas=20, weight=1)}
    plan, _ = plan_replicas(total=50, preferences=prefs, clusters=["A", "B", "C"], key=key)
    assert sorted(plan.values()) == [16, 17, 17]
    assert set(plan) == {"A", "B", "C"}
    assert plan["C"] <= 20
    after, _ = plan_replicas(total=50, preferences=prefs, clusters=["A", "C"], key=key)
    assert after == {"A": 30, "C": 20}


def test_tie_break_follows_hash() -> None:
    plan, _ = plan_replicas(total=1, preferences={}, clusters=["A", "B", "C"], key=KEY)
    winner = min(["A", "B", "C"], key=lambda c: fnv32((c + KEY).encode()))
    assert plan == {c: int(c == winner) for c in "ABC"}


def test_empty_preferences_mean_star_weight_one() -> None:
    plan, _ = plan_replicas(total=6, preferences={}, clusters=["A", "B", "C"], key=KEY)
    assert plan == {"A": 2, "B": 2, "C": 2}


def test_zero_weight_gets_only_min() -> None:
    plan, _ = plan_replicas(
        total=10, preferences={"A": P(min_replicas=2), "B": P(weight=1)}, clusters=["A", "B"], key=KEY
    )
    assert plan == {"A": 2, "B": 8}


def test_capacity_overflow_kubefed_vs_capacity_aware() -> None:
    prefs = {"*": P(weight=1)}
    plan, overflow = plan_replicas(
        total=10, preferences=prefs, clusters=["A", "B"], key=KEY, capacity={"A": 2}
    )
    assert plan == {"A": 2, "B": 8}
    assert overflow == {"A": 3}  # KubeFed reports the excess although B took it
    assert sum(scheduling_result(plan, overflow).values()) == 13
    plan2, overflow2 = plan_replicas(
        total=10, preferences=prefs, clusters=["A", "B"], key=KEY, capacity={"A": 2}, capacity_aware=True
    )
    assert plan2 == {"A": 2, "B": 8}
    assert overflow2 == {}
    plan3, overflow3 = plan_replicas(
        total=10,
        preferences=prefs,
        clusters=["A", "B"],
        key=KEY,
        capacity={"A": 2, "B": 3},
        capacity_aware=True,
    )
    assert plan3 == {"A": 2, "B": 3}
    assert sum(overflow3.values()) == 5


def test_rebalance_false_keeps_running_replicas() -> None:
    prefs = {"*": P(weight=1)}
    plan, _ = plan_replicas(
        total=10,
        preferences=prefs,
        clusters=["A", "B", "C"],
        key=KEY,
        current={"A": 7, "B": 3},
        rebalance=False,
    )
    assert plan == {"A": 7, "B": 3, "C": 0}
    rebalanced, _ = plan_replicas(
        total=10,
        preferences=prefs,
        clusters=["A", "B", "C"],
        key=KEY,
        current={"A": 7, "B": 3},
        rebalance=True,
    )
    assert sorted(rebalanced.values()) == [2, 4, 4]  # ceil rounding: 4, 4, then the rest


def test_rebalance_false_trims_overflow_to_unplaced() -> None:
    prefs = {"*": P(weight=1)}
    plan, overflow = plan_replicas(
        total=10, preferences=prefs, clusters=["A", "B"], key=KEY, capacity={"A": 2}, rebalance=False
    )
    assert plan == {"A": 2, "B": 8}
    assert overflow == {}


def test_rsp_preferences_from_spec() -> None:
    assert rsp_preferences_from_spec({}) == {"*": P(weight=1)}
    assert rsp_preferences_from_spec({"clusters": {}}) == {"*": P(weight=1)}
    assert rsp_preferences_from_spec(
        {"clusters": {"A": {"minReplicas": 1, "maxReplicas": 5, "weight": 2}, "*": {"weight": 1}, "B": {}}}
    ) == {"A": P(1, 5, 2), "*": P(weight=1), "B": P()}


def _pod(phase: str, conditions: list[dict[str, Any]]) -> dict[str, Any]:
    return {"status": {"phase": phase, "conditions": conditions}}


NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def _unsched(seconds_ago: int) -> dict[str, Any]:
    when = f"2025-12-31T23:{59 - seconds_ago // 60:02d}:{(60 - seconds_ago % 60) % 60:02d}Z"
    return _pod(
        "Pending",
        [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "lastTransitionTime": when}],
    )


def test_estimate_capacity() -> None:
    old = _pod(
        "Pending",
        [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "lastTransitionTime": "2025-12-31T23:58:00Z",
            }
        ],
    )
    young = _pod(
        "Pending",
        [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "lastTransitionTime": "2025-12-31T23:59:50Z",
            }
        ],
    )
    running = _pod("Running", [{"type": "Ready", "status": "True"}])
    pending_other = _pod("Pending", [{"type": "PodScheduled", "status": "True"}])
    assert estimate_capacity(replicas=5, pods=[running, pending_other], now=NOW) == (None, False)
    assert estimate_capacity(replicas=5, pods=[running, old, old], now=NOW) == (3, False)
    assert estimate_capacity(replicas=5, pods=[running, young], now=NOW) == (None, True)
    assert estimate_capacity(replicas=5, pods=[old, young], now=NOW) == (4, True)
    assert estimate_capacity(replicas=5, pods=[old], now=NOW, unschedulable_after=600) == (None, True)


def test_count_running_ready_ignores_condition_status() -> None:
    pods = [
        _pod("Running", [{"type": "Ready", "status": "True"}]),
        _pod("Running", [{"type": "Ready", "status": "False"}]),  # KubeFed quirk: still counted
        _pod("Running", []),
        _pod("Pending", [{"type": "Ready", "status": "True"}]),
    ]
    assert count_running_ready(pods) == 2


def test_scheduling_result() -> None:
    assert scheduling_result({"A": 3, "B": 0}, {"A": 1}, clusters_with_objects=["C"]) == {
        "C": 0,
        "A": 4,
        "B": 0,
    }


FED = {
    "spec": {
        "template": {"spec": {"replicas": 1}},
        "placement": {"clusterSelector": {"matchLabels": {"a": "b"}}},
        "overrides": [
            {
                "clusterName": "A",
                "clusterOverrides": [
                    {"path": "/spec/replicas", "value": 1},
                    {"path": "/metadata/labels/x", "value": "y"},
                ],
            },
            {"clusterName": "Z", "clusterOverrides": [{"path": "/spec/replicas", "value": 9}]},
        ],
    }
}


def test_apply_rsp_result() -> None:
    original = copy.deepcopy(FED)
    spec = apply_rsp_result(FED, {"A": 3, "B": 0})
    assert FED == original
    assert spec is not None
    assert spec["placement"] == {
        "clusterSelector": {"matchLabels": {"a": "b"}},
        "clusters": [{"name": "A"}, {"name": "B"}],
    }
    assert spec["overrides"] == [
        {
            "clusterName": "A",
            "clusterOverrides": [
                {"path": "/spec/replicas", "value": 3},
                {"path": "/metadata/labels/x", "value": "y"},
            ],
        },
        {"clusterName": "Z", "clusterOverrides": []},
        {"clusterName": "B", "clusterOverrides": [{"path": "/spec/replicas", "value": 0}]},
    ]
    assert apply_rsp_result({"spec": spec}, {"A": 3, "B": 0}) is None
    assert apply_rsp_result({"spec": spec}, {"B": 0, "A": 3}) is None
    changed = apply_rsp_result({"spec": spec}, {"A": 2, "B": 1})
    assert changed is not None
    assert changed["placement"]["clusters"] == [{"name": "A"}, {"name": "B"}]


_prefs = st.builds(
    lambda mn, extra, w: P(min_replicas=mn, max_replicas=None if extra is None else mn + extra, weight=w),
    st.integers(0, 5),
    st.none() | st.integers(0, 10),
    st.integers(0, 4),
)
_clusters = st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), min_size=1, max_size=5, unique=True)


@settings(max_examples=200, deadline=None)
@given(total=st.integers(0, 60), clusters=_clusters, data=st.data())
def test_properties(total: int, clusters: list[str], data: st.DataObject) -> None:
    prefs = data.draw(st.dictionaries(st.sampled_from([*clusters, "*"]), _prefs, max_size=6))
    plan, overflow = plan_replicas(total=total, preferences=prefs, clusters=clusters, key=KEY)
    effective = (
        {c: prefs.get(c) or prefs.get("*") for c in clusters} if prefs else {c: P(weight=1) for c in clusters}
    )
    assert set(plan) == set(clusters)
    assert overflow == {}
    assert sum(plan.values()) <= total
    mins = sum(p.min_replicas for p in effective.values() if p is not None)
    for c, p in effective.items():
        if p is None:
            assert plan[c] == 0
            continue
        if p.max_replicas is not None:
            assert plan[c] <= max(p.max_replicas, p.min_replicas)
        if mins <= total:
            assert plan[c] >= p.min_replicas
    if any(p is not None and p.weight > 0 and p.max_replicas is None for p in effective.values()):
        assert sum(plan.values()) == total
    shuffled = data.draw(st.permutations(clusters))
    assert plan_replicas(total=total, preferences=prefs, clusters=shuffled, key=KEY) == (plan, overflow)


@settings(max_examples=200, deadline=None)
@given(total=st.integers(0, 60), clusters=_clusters, data=st.data())
def test_rebalance_false_never_reduces_running(total: int, clusters: list[str], data: st.DataObject) -> None:
    prefs = {"*": data.draw(_prefs)}
    current = data.draw(st.dictionaries(st.sampled_from(clusters), st.integers(0, 20)))
    pref = prefs["*"]
    targets = {
        c: min(n, pref.max_replicas) if pref.max_replicas is not None else n for c, n in current.items()
    }
    needed = sum(max(pref.min_replicas, targets.get(c, 0)) for c in clusters)
    assume(needed <= total)
    plan, _ = plan_replicas(
        total=total, preferences=prefs, clusters=clusters, key=KEY, current=current, rebalance=False
    )
    for c, target in targets.items():
        assert plan[c] >= target


@settings(max_examples=200, deadline=None)
@given(total=st.integers(0, 60), clusters=_clusters, data=st.data())
def test_capacity_respected(total: int, clusters: list[str], data: st.DataObject) -> None:
    prefs = data.draw(st.dictionaries(st.sampled_from([*clusters, "*"]), _prefs, max_size=6))
    capacity = data.draw(st.dictionaries(st.sampled_from(clusters), st.integers(0, 15)))
    plan, _ = plan_replicas(total=total, preferences=prefs, clusters=clusters, key=KEY, capacity=capacity)
    for c, cap in capacity.items():
        assert plan[c] <= cap
    plan2, overflow2 = plan_replicas(
        total=total, preferences=prefs, clusters=clusters, key=KEY, capacity=capacity, capacity_aware=True
    )
    assert plan2 == plan
    assert sum(plan2.values()) + sum(overflow2.values()) <= total
    assert set(overflow2) <= set(capacity)


def test_member_replica_state() -> None:
    running = {
        "metadata": {"labels": {"app": "web"}},
        "status": {"phase": "Running", "conditions": [{"type": "Ready"}]},
    }
    stuck = {
        "metadata": {"labels": {"app": "web"}},
        "status": {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "lastTransitionTime": "2025-12-31T23:50:00Z",
                }
            ],
        },
    }
    other_app = {**running, "metadata": {"labels": {"app": "db"}}}
    workload = {
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}},
        "status": {"readyReplicas": 1},
    }
    assert member_replica_state(workload=workload, pods=[running, stuck, other_app], now=NOW) == (1, 2, False)
    settled = {"spec": {"replicas": 2}, "status": {"readyReplicas": 2}}
    assert member_replica_state(workload=settled, pods=[stuck], now=NOW) == (2, None, False)


def test_apply_rsp_result_keeps_selector_placement_when_sets_match() -> None:
    fed: dict[str, Any] = {"spec": {"placement": {"clusterSelector": {}}}}
    assert apply_rsp_result(fed, {}) is None
    spec = apply_rsp_result(fed, {"A": 1})
    assert spec is not None
    assert spec["placement"]["clusters"] == [{"name": "A"}]
    assert spec["overrides"] == [
        {"clusterName": "A", "clusterOverrides": [{"path": "/spec/replicas", "value": 1}]}
    ]


def test_min_above_max_is_trimmed_like_kubefed() -> None:
    # KubeFed assigns min first, then its distribution loop caps every open cluster at max,
    # handing the difference back to weighted clusters.
    plan, _ = plan_replicas(
        total=10,
        preferences={"A": P(min_replicas=6, max_replicas=2, weight=0), "B": P(weight=1)},
        clusters=["A", "B"],
        key=KEY,
    )
    assert plan == {"A": 2, "B": 8}
