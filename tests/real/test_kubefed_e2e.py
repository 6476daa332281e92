"""KubeFed v0.10.0's own e2e specs against this control plane: every spec recorded as passing in
bench/results/kubefed-e2e.json (written by ``make kubefed-e2e``) must still pass, so a regression in
behaviour KubeFed's suite checks fails CI. The specs run one by one against one real fleet (host +
cluster1, the host joined as a member as KubeFed's suite expects) with our services and NATS.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compare import _e2e, _planes
from sim.real import all_built, binary_path

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "kubefed-e2e.json"
PROGRAMS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "e2e.test")

pytestmark = pytest.mark.timeout(1200)


def test_kubefed_e2e_specs_that_passed_still_pass(tmp_path: Path) -> None:
    if not all_built(PROGRAMS):
        pytest.fail(f"KubeFed's e2e binary is not built ({binary_path('e2e.test')}): run `make real-k8s`")
    recorded = json.loads(RESULTS.read_text())
    specs = recorded["passed"]
    assert specs, "no passing spec recorded"
    with _planes.ours(["host", "cluster1"], tmp_path) as plane:
        result = _e2e.run_suite(plane, specs)
    assert result.failed == {}, result.failed
    assert sorted(result.passed) == sorted(specs)
