"""The periodic re-verification of every member is spread over a tenth of the period (at most a
minute) instead of queued at once (issue #18: at 2,500 members per propagator the burst made the host
time out and ended a propagator)."""

from __future__ import annotations

from itertools import pairwise

from services.propagator._service import resync_delays


def test_members_start_one_after_another_within_a_tenth_of_the_period() -> None:
    members = [f"m{i}" for i in range(2500)]
    delays = resync_delays(members, 300.0)
    assert [name for name, _ in delays] == members
    assert delays[0][1] == 0.0
    assert all(a < b for (_, a), (_, b) in pairwise(delays))
    assert max(d for _, d in delays) < 30.0


def test_the_spread_is_at_most_a_minute_and_empty_fleets_are_fine() -> None:
    assert max(d for _, d in resync_delays(["a", "b", "c", "d"], 3600.0)) == 45.0
    assert resync_delays([], 600.0) == []
    assert resync_delays(["only"], 2.0) == [("only", 0.0)]
