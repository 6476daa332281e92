"""Cluster health (``shared.planning._health``), contract §2.2.

Covers: the exact KubeFed condition sets, reasons and messages per probe outcome (error text
appended to the Offline message), first probe reported as is; our threshold semantics
(failure_threshold consecutive failures before Ready → not ready, success_threshold for the
way back, held results refresh only lastProbeTime, unchanged readiness keeps
lastTransitionTime, alternating results never flip a ready cluster); KubeFed's quirk mode
reproducing its unit-tested behaviour (first failure after ≥3 ready probes flips at once);
property: with thresholds 1/1 the reported readiness always equals the last probe.
"""

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.planning import (
    ClusterHealth,
    HealthThresholds,
    ProbeResult,
    next_cluster_health,
    probe_conditions,
)

OK = ProbeResult(reachable=True, healthy=True)
NOT_OK = ProbeResult(reachable=True, healthy=False)
DOWN = ProbeResult(reachable=False, healthy=False, error="dial tcp: timeout")
MALFORMED = ProbeResult(reachable=False, healthy=False, config_malformed=True)
TH = HealthThresholds()


def _t(i: int) -> str:
    return f"2026-01-01T00:00:{i:02d}Z"


def test_condition_sets() -> None:
    now = _t(0)
    assert probe_conditions(OK, now) == (
        {
            "type": "Ready",
            "status": "True",
            "lastProbeTime": now,
            "lastTransitionTime": now,
            "reason": "ClusterReady",
            "message": "/healthz responded with ok",
        },
    )
    ready, offline = probe_conditions(NOT_OK, now)
    assert (ready["type"], ready["status"], ready["reason"], ready["message"]) == (
        "Ready",
        "False",
        "ClusterNotReady",
        "/healthz responded without ok",
    )
    assert (offline["type"], offline["status"], offline["reason"], offline["message"]) == (
        "Offline",
        "False",
        "ClusterReachable",
        "cluster is reachable",
    )
    (down,) = probe_conditions(DOWN, now)
    assert (down["type"], down["status"], down["reason"]) == ("Offline", "True", "ClusterNotReachable")
    assert down["message"] == "cluster is not reachable: dial tcp: timeout"
    (down_no_err,) = probe_conditions(ProbeResult(reachable=False, healthy=False), now)
    assert down_no_err["message"] == "cluster is not reachable"
    (bad,) = probe_conditions(MALFORMED, now)
    assert (bad["type"], bad["status"], bad["reason"], bad["message"]) == (
        "ConfigMalformed",
        "True",
        "ClusterConfigMalformed",
        "cluster's configuration may be malformed",
    )


def _run(probes: list[ProbeResult], th: HealthThresholds = TH) -> list[ClusterHealth]:
    out: list[ClusterHealth] = []
    health = None
    for i, probe in enumerate(probes):
        health = next_cluster_health(health, probe, th, _t(i))
        out.append(health)
    return out


def test_first_probe_reported_as_is() -> None:
    (h,) = _run([DOWN])
    assert h.ready is False
    assert h.conditions[0]["type"] == "Offline"


def test_failure_threshold_needs_consecutive_failures() -> None:
    hs = _run([OK, OK, OK, OK, DOWN, DOWN, DOWN])
    assert [h.ready for h in hs] == [True, True, True, True, True, True, False]
    held = hs[5]
    assert held.conditions[0]["type"] == "Ready"
    assert held.conditions[0]["lastProbeTime"] == _t(5)
    assert held.conditions[0]["lastTransitionTime"] == _t(0)
    flipped = hs[6]
    assert flipped.conditions[0]["lastTransitionTime"] == _t(6)
    assert flipped.run == 0


def test_success_threshold_one_recovers_at_once() -> None:
    hs = _run([DOWN, OK])
    assert [h.ready for h in hs] == [False, True]
    assert hs[1].conditions[0]["lastTransitionTime"] == _t(1)


def test_success_threshold_two() -> None:
    hs = _run([DOWN, OK, OK], HealthThresholds(failure_threshold=3, success_threshold=2))
    assert [h.ready for h in hs] == [False, False, True]


def test_alternating_results_never_flip_ready_cluster() -> None:
    hs = _run([OK, DOWN, DOWN, OK, DOWN, DOWN, OK, DOWN])
    assert all(h.ready for h in hs)


def test_unchanged_readiness_keeps_transition_time_but_refreshes_reasons() -> None:
    hs = _run([DOWN, NOT_OK, MALFORMED])
    assert [h.ready for h in hs] == [False, False, False]
    assert hs[1].conditions[0]["reason"] == "ClusterNotReady"
    assert hs[2].conditions[0]["type"] == "ConfigMalformed"
    assert all(c["lastTransitionTime"] == _t(0) for c in hs[2].conditions)
    assert all(c["lastProbeTime"] == _t(2) for c in hs[2].conditions)


def test_kubefed_quirk_mode() -> None:
    quirk = HealthThresholds(kubefed_run_counting=True)
    # KubeFed: ready for >= 3 probes, then the first failure is reported immediately.
    hs = _run([OK, OK, OK, DOWN], quirk)
    assert [h.ready for h in hs] == [True, True, True, False]
    assert [h.run for h in hs] == [1, 2, 3, 1]
    # Soon after a reported change, a failure is held (only lastProbeTime refreshed), but the
    # run keeps counting through successes, so a single later failure flips the cluster.
    hs = _run([DOWN, OK, DOWN, OK, DOWN], quirk)
    assert [h.ready for h in hs] == [False, True, True, True, False]
    assert [h.run for h in hs] == [1, 1, 2, 3, 1]
    assert hs[2].conditions[0]["type"] == "Ready"
    assert hs[2].conditions[0]["lastProbeTime"] == _t(2)
    assert hs[2].conditions[0]["lastTransitionTime"] == _t(1)
    assert [h.ready for h in _run([DOWN, OK, DOWN, OK, DOWN])] == [False, True, True, True, True]
    # Our default holds the same sequence ready until three consecutive failures.
    assert [h.ready for h in _run([OK, OK, OK, DOWN])] == [True, True, True, True]


@settings(max_examples=100, deadline=None)
@given(probes=st.lists(st.sampled_from([OK, NOT_OK, DOWN, MALFORMED]), min_size=1, max_size=12))
def test_thresholds_of_one_follow_every_probe(probes: list[ProbeResult]) -> None:
    hs = _run(probes, HealthThresholds(failure_threshold=1, success_threshold=1))
    assert [h.ready for h in hs] == [p.healthy and p.reachable and not p.config_malformed for p in probes]


@settings(max_examples=100, deadline=None)
@given(probes=st.lists(st.booleans(), min_size=1, max_size=15), threshold=st.integers(1, 4))
def test_change_requires_threshold_consecutive_disagreeing_probes(probes: list[bool], threshold: int) -> None:
    th = HealthThresholds(failure_threshold=threshold, success_threshold=threshold)
    hs = _run([OK if p else DOWN for p in probes], th)
    reported = probes[0]
    streak = 0
    for probe, h in zip(probes[1:], hs[1:], strict=True):
        streak = streak + 1 if probe != reported else 0
        if streak >= threshold:
            reported, streak = probe, 0
        assert h.ready == reported
