"""Failover planning for divided replicas (pure, no event loop, the clock is an argument).

Covers: a not-Ready cluster keeps its replicas for the toleration (default 300 s) and is evicted after
it; the fleet-wide budget lets evictions through one token at a time and says when to look again; the
guard suspends evictions while more than the configured fraction is not Ready; an evicted cluster that
is Ready again is a candidate at once, with rebalance its record ends, without rebalance its stale count
reads as 0 until the member holds none and the planner reads every cluster's count from the plan the
eviction wrote, not from observations that lag it; settings come from KubeFedConfig and the RSP; the
annotation round-trips and a malformed one reads as none; managedFields and decision changes for explain.
"""

from __future__ import annotations

from shared.planning import (
    EVICTIONS_ANNOTATION,
    ClusterInfo,
    ClusterPreference,
    ClusterReadiness,
    EvictionBudget,
    EvictionRecord,
    FailoverSettings,
    decision_changes,
    decode_evictions,
    encode_evictions,
    failover_settings,
    last_manager,
    not_ready_since,
    placed_replicas,
    placement_reasons,
    plan_failover,
    plan_replicas,
)

T0 = 1_000_000.0


def fleet(*down: str, n: int = 4, since: float = T0) -> list[ClusterReadiness]:
    return [
        ClusterReadiness(
            name=f"c{i}", ready=f"c{i}" not in down, not_ready_since=since if f"c{i}" in down else None
        )
        for i in range(1, n + 1)
    ]


PLACED = {"c1": 3, "c2": 3, "c3": 2, "c4": 2}


def plan(
    clusters, *, now, previous=None, budget=1, rebalance=False, observed=None, settings=FailoverSettings()
):
    return plan_failover(
        clusters=clusters,
        placed=PLACED,
        previous=previous or {},
        observed_current=observed or {},
        settings=settings,
        rebalance=rebalance,
        budget=budget,
        now=now,
        budget_wait=2.0,
    )


def test_not_ready_cluster_is_tolerated_for_300_seconds_then_evicted() -> None:
    held = plan(fleet("c2"), now=T0 + 299)
    assert held.candidates == ("c1", "c2", "c3", "c4") and held.evict == ()
    assert held.recheck_after == 1.0
    assert "tolerated for 300s" in held.reasons["c2"]
    moved = plan(fleet("c2"), now=T0 + 301)
    assert moved.candidates == ("c1", "c3", "c4") and moved.evict == ("c2",)
    assert (
        moved.evictions["c2"].at == T0 + 301
        and "longer than the toleration of 300s" in moved.evictions["c2"].reason
    )
    # once evicted it stays out while not Ready, and is not evicted (nor counted) again
    again = plan(fleet("c2"), now=T0 + 400, previous=moved.evictions, budget=0)
    assert again.candidates == ("c1", "c3", "c4") and again.evict == () and again.recheck_after is None


def test_cluster_holding_no_replicas_is_simply_left_out() -> None:
    result = plan_failover(
        clusters=fleet("c2"),
        placed={"c1": 5},
        previous={},
        observed_current={},
        settings=FailoverSettings(),
        rebalance=False,
        budget=1,
        now=T0,
    )
    assert result.candidates == ("c1", "c3", "c4") and result.evict == ()
    assert result.reasons["c2"] == "not Ready and holds no replicas"


def test_budget_rate_limits_evictions_fleet_wide() -> None:
    settings = FailoverSettings(max_unhealthy_fraction=0.9)
    first = plan(fleet("c1", "c2"), now=T0 + 400, budget=1, settings=settings)
    assert first.evict == ("c1",) and "c2" in first.candidates
    assert first.reasons["c2"] == "eviction waits for the fleet-wide eviction rate limit"
    assert first.recheck_after == 2.0
    budget = EvictionBudget(per_minute=30)
    assert budget.available(100.0) == 1
    budget.take(1, 100.0)
    assert budget.available(100.0) == 0 and budget.wait(100.0) == 2.0
    assert budget.available(101.0) == 0 and budget.available(102.0) == 1
    assert budget.available(1000.0) == 1  # burst 1: a long quiet time does not allow a stampede


def test_guard_suspends_eviction_when_too_much_of_the_fleet_is_unhealthy() -> None:
    settings = FailoverSettings(max_unhealthy_fraction=0.4)
    partition = plan(fleet("c1", "c2"), now=T0 + 1000, settings=settings)
    assert partition.evict == () and partition.guard_holds
    assert partition.candidates == ("c1", "c2", "c3", "c4")
    assert partition.reasons["c1"] == "2/4 clusters not Ready, more than 40%: eviction suspended"
    # with Karmada's default of 55 % half the fleet is not enough to hold
    assert plan(fleet("c1", "c2"), now=T0 + 1000, budget=2).evict == ("c1", "c2")
    # already evicted clusters stay evicted when the guard starts to hold
    evicted = {"c1": EvictionRecord(at=T0, reason="gone")}
    later = plan(fleet("c1", "c2", "c3"), now=T0 + 2000, previous=evicted, settings=settings)
    assert "c1" not in later.candidates and later.evict == () and later.guard_holds


def test_return_with_rebalance_ends_the_eviction() -> None:
    evicted = {"c2": EvictionRecord(at=T0, reason="gone")}
    back = plan(fleet(), now=T0 + 500, previous=evicted, rebalance=True, observed={"c2": 3})
    assert back.returned == ("c2",) and "c2" in back.candidates
    assert back.evictions == {} and back.zero_current == frozenset()


def test_return_without_rebalance_keeps_replicas_where_they_went() -> None:
    evicted = {"c2": EvictionRecord(at=T0, reason="gone")}
    back = plan(fleet(), now=T0 + 500, previous=evicted, observed={"c2": 3})
    assert back.returned == ("c2",) and "c2" in back.candidates
    assert back.zero_current == frozenset({"c2"}) and back.evictions["c2"].returned
    # next round: still 3 observed (the member not scaled down yet): no second ClusterReturned
    again = plan(fleet(), now=T0 + 501, previous=back.evictions, observed={"c2": 3})
    assert again.returned == () and again.zero_current == frozenset({"c2"})
    # the member holds none any more: the record ends
    done = plan(fleet(), now=T0 + 502, previous=again.evictions, observed={"c2": 0})
    assert done.evictions == {} and done.zero_current == frozenset() and done.returned == ()


def test_return_without_rebalance_plans_from_where_the_replicas_went_not_from_lagging_observations() -> None:
    # c2 (3 replicas) was evicted onto c1 and c3; c2 comes back before the propagators reported the
    # survivors scaled up: their observations still say what they ran before the eviction
    placed = {"c1": 5, "c3": 3, "c4": 2}
    stale = {"c1": 3, "c2": 3, "c3": 2, "c4": 2}
    evicted = {"c2": EvictionRecord(at=T0, reason="gone")}

    def at(now: float, previous, observed, rebalance=False):
        return plan_failover(
            clusters=fleet(),
            placed=placed,
            previous=previous,
            observed_current=observed,
            settings=FailoverSettings(),
            rebalance=rebalance,
            budget=1,
            now=now,
        )

    back = at(T0 + 500, evicted, stale)
    assert back.assumed_current == {"c1": 5, "c2": 0, "c3": 3, "c4": 2}
    # the planner keeps every replica where it went; read from the observations it would have handed
    # the 3 "missing" replicas out again, to c2 among others
    split, _ = plan_replicas(
        total=10,
        preferences={"*": ClusterPreference(weight=1)},
        clusters=list(back.candidates),
        key="ns/name",
        current=back.assumed_current,
        rebalance=False,
    )
    assert split == {"c1": 5, "c2": 0, "c3": 3, "c4": 2}
    lagging, _ = plan_replicas(
        total=10,
        preferences={"*": ClusterPreference(weight=1)},
        clusters=list(back.candidates),
        key="ns/name",
        current={**stale, "c2": 0},
        rebalance=False,
    )
    assert lagging != split  # what the observations alone gave
    # while c2 drains, and in the round that ends its record, the plan is still where they went
    assert at(T0 + 501, back.evictions, stale).assumed_current == back.assumed_current
    ended = at(T0 + 502, back.evictions, {**stale, "c2": 0})
    assert ended.evictions == {} and ended.assumed_current == back.assumed_current
    # afterwards (no record) and with rebalance the observations count as always
    assert at(T0 + 503, ended.evictions, stale).assumed_current is None
    assert at(T0 + 500, evicted, stale, rebalance=True).assumed_current is None


def test_settings_from_kubefedconfig_and_rsp() -> None:
    assert failover_settings({}, {}) == FailoverSettings(300.0, 30, 0.55)
    config = {
        "failover": {"tolerationSeconds": 60, "evictionsPerMinute": 6, "maxUnhealthyClusterPercent": 40}
    }
    assert failover_settings(config, {}) == FailoverSettings(60.0, 6, 0.4)
    assert failover_settings(config, {"failover": {"tolerationSeconds": 0}}) == FailoverSettings(0.0, 6, 0.4)
    assert (
        failover_settings({"failover": "bad"}, {"failover": {"tolerationSeconds": "x"}}) == FailoverSettings()
    )


def test_annotation_round_trip_and_helpers() -> None:
    records = {
        "c2": EvictionRecord(at=5.0, reason="gone", returned=True),
        "c1": EvictionRecord(at=4.0, reason="x"),
    }
    value = encode_evictions(records)
    assert decode_evictions({EVICTIONS_ANNOTATION: value}) == records
    assert encode_evictions({}) is None
    assert decode_evictions({EVICTIONS_ANNOTATION: "{not json"}) == {}
    kfc = {
        "status": {
            "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": "1970-01-01T00:01:40Z"}]
        }
    }
    assert not_ready_since(kfc) == 100.0
    assert not_ready_since({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}) is None
    offline = {
        "status": {
            "conditions": [
                {"type": "Offline", "status": "True", "lastTransitionTime": "1970-01-01T00:00:50Z"}
            ]
        }
    }
    assert not_ready_since(offline) == 50.0
    fed = {
        "spec": {
            "placement": {"clusters": [{"name": "a"}, {"name": "b"}]},
            "overrides": [
                {"clusterName": "a", "clusterOverrides": [{"path": "/spec/replicas", "value": 4}]},
                {"clusterName": "z", "clusterOverrides": [{"path": "/spec/replicas", "value": 9}]},
            ],
        }
    }
    assert placed_replicas(fed) == {"a": 4, "b": 1}


def test_reasons_managers_and_changes() -> None:
    clusters = [ClusterInfo(name="a", labels={"env": "prod"}, ready=True), ClusterInfo(name="b", labels={})]
    reasons = placement_reasons(
        {"clusterSelector": {"matchLabels": {"env": "prod"}}}, clusters, selected=frozenset({"a"})
    )
    assert reasons == {
        "a": "labels match clusterSelector env=prod",
        "b": "labels do not match clusterSelector env=prod",
    }
    listed = placement_reasons(
        {"clusters": [{"name": "b"}]},
        clusters,
        selected=frozenset(),
        namespace_placement=frozenset({"a"}),
        namespace_rule=True,
    )
    assert listed["b"] == "listed in spec.placement.clusters; but not in the FederatedNamespace's placement"
    fed = {
        "metadata": {
            "managedFields": [
                {
                    "manager": "kubectl-client-side-apply",
                    "operation": "Update",
                    "time": "2026-01-01T00:00:00Z",
                },
                {"manager": "kubefed", "operation": "Update", "time": "2026-01-01T00:00:05Z"},
                {"manager": "kubectl", "operation": "Apply", "time": "2026-01-01T00:00:03Z"},
            ]
        }
    }
    assert last_manager(fed) == ("kubefed", "Update")
    # a status write in the same second (a real API server sorts equal times by manager name) is not
    # the change: subresource entries are left out
    patched = {
        "metadata": {
            "managedFields": [
                {"manager": "kubectl-patch", "operation": "Update", "time": "2026-01-01T00:00:09Z"},
                {
                    "manager": "kubefed",
                    "operation": "Update",
                    "subresource": "status",
                    "time": "2026-01-01T00:00:09Z",
                },
            ]
        }
    }
    assert last_manager(patched) == ("kubectl-patch", "Update")
    assert last_manager({}) == ("", "")
    before = {"clusters": ["a"], "replicas": {"a": 4}, "template": "t1", "overrides": {"a": "o1"}}
    after = {
        "clusters": ["a", "b"],
        "replicas": {"a": 2, "b": 2},
        "template": "t2",
        "overrides": {"a": "o1", "b": "o2"},
    }
    assert decision_changes(None, before) == ["first decision", "replicas a=4"]
    assert decision_changes(None, {"clusters": ["b", "a"]}) == ["first decision", "clusters a, b"]
    assert decision_changes(before, after) == [
        "clusters added: b",
        "replicas a 4→2, b 0→2",
        "template changed",
        "overrides changed for b",
    ]
    assert decision_changes(before, before) == ["no change in placement"]
    back = {**before, "evicted": ["b"], "returned": ["b"], "generation": 4}
    assert decision_changes({**before, "evicted": ["b"], "generation": 3}, back) == [
        "Ready again after eviction: b"
    ]
    assert decision_changes({**before, "generation": 3}, {**before, "generation": 4}) == [
        "no change in placement (generation 3→4)"
    ]
