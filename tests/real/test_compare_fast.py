"""The differential harness' fast subset in the real tier: the scenarios marked ``fast`` in
compare/_scenarios.py run on KubeFed v0.10.0 and on this control plane, each on its own real fleet (host +
cluster1 + cluster2), and every checkpoint must settle on both planes with no unexplained difference and
no scenario error. ``make compare`` runs every scenario and writes the report the docs are generated from;
this test writes its report under its temporary folder only.

Like the rest of the real tier, a program that is not built is a failure, not a skip (``make test-real``
builds them first, and does not run the tier at all only when neither Go nor the built programs exist).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from compare import _diff, _report
from compare.__main__ import DIFF_PROGRAMS
from compare._scenarios import EXPLAINED, NOT_COVERED, SCENARIOS
from sim.real import all_built, binary_path

pytestmark = pytest.mark.timeout(600)


def test_fast_scenarios_behave_as_kubefed(tmp_path: Path) -> None:
    if not all_built(DIFF_PROGRAMS):
        pytest.fail(
            f"KubeFed's or Kubernetes' programs are not built ({binary_path('controller-manager')}): run "
            "`make real-k8s`"
        )
    scenarios = [s for s in SCENARIOS if s.fast]
    assert len(scenarios) >= 3, [s.name for s in scenarios]
    started = time.monotonic()
    with _diff.planes(tmp_path / "planes") as both:
        results = [_diff.run_scenario(s, both, EXPLAINED) for s in scenarios]
    report = _report.build(results, NOT_COVERED, wall_seconds=time.monotonic() - started)
    (tmp_path / "compare-fast.json").write_text(json.dumps(report, indent=2) + "\n")
    problems = _diff.unexplained(report)
    assert not problems, "\n".join(problems)
    # something was compared at every checkpoint of every scenario, and both planes settled there
    assert [r["scenario"] for r in results] == [s.name for s in scenarios]
    for r in results:
        assert r["checkpoints"], r["scenario"]
        for cp in r["checkpoints"]:
            assert cp["settled"] == {"ours": True, "kubefed": True}, (r["scenario"], cp)
            assert cp["compared"] > 1, (r["scenario"], cp["label"])
