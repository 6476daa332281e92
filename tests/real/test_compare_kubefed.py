"""The differential harness' CI subset: the ``fast`` scenarios of compare/_scenarios.py on KubeFed v0.10.0
and on this control plane, each on its own real fleet (host + cluster1 + cluster2) started side by side.
Every difference must be one that compare/_scenarios.py EXPLAINED lists with its reason (``make compare``
runs every scenario and writes bench/results/compare-kubefed.json)."""

from __future__ import annotations

from pathlib import Path

import pytest

from compare import _diff, _report
from compare.__main__ import DIFF_PROGRAMS
from compare._scenarios import EXPLAINED, NOT_COVERED, SCENARIOS
from sim.real import all_built, binary_path

pytestmark = pytest.mark.timeout(300)


def test_fast_scenarios_show_no_unexplained_difference(tmp_path: Path) -> None:
    if not all_built(DIFF_PROGRAMS):
        pytest.fail(
            f"KubeFed's controller-manager is not built ({binary_path('controller-manager')}): make real-k8s"
        )
    fast = [s for s in SCENARIOS if s.fast]
    assert len(fast) >= 3
    with _diff.planes(tmp_path) as both:
        results = [_diff.run_scenario(s, both, EXPLAINED) for s in fast]
    report = _report.build(results, NOT_COVERED, wall_seconds=0)
    assert report["summary"]["checkpoints"] >= len(fast)
    assert report["summary"]["compared_values"] > 100  # the snapshots hold the propagated objects
    assert _diff.unexplained(report) == [], _report.summary_line(report)
