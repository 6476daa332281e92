"""The ``helm`` tier: the chart deploy/helm/kubefed-ng with the pinned helm (``pytest -m helm``).

helm (helm.sh/helm/v3, the version of sim/real's PROGRAMS table) comes from the pinned-build cache
(``python -m sim.real helm``); the fixture builds it when Go is there. The Prometheus Operator CRDs
(for the chart's ServiceMonitor and PrometheusRule) come from the pinned Go module
github.com/prometheus-operator/prometheus-operator (``go mod download``, checked against the Go
checksum database) and are kept in the same cache. Missing tools fail under ``CI=true`` and skip
elsewhere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from sim.real import MissingProgram, build, locate
from sim.real._binaries import cache_dir, go_available
from tests.support.tools import missing_tool

PROMETHEUS_OPERATOR = ("github.com/prometheus-operator/prometheus-operator", "v0.85.0")
OPERATOR_CRDS = ("monitoring.coreos.com_servicemonitors.yaml", "monitoring.coreos.com_prometheusrules.yaml")


@pytest.fixture(scope="session")
def helm() -> str:
    try:
        return str(locate("helm"))
    except MissingProgram:
        pass
    if not go_available():
        missing_tool("tier 'helm' needs the pinned helm (python -m sim.real helm), which needs Go to build")
    try:
        build(["helm"])
    except MissingProgram as exc:
        missing_tool(f"tier 'helm': building helm failed: {exc}")
    return str(locate("helm"))


@pytest.fixture(scope="session")
def operator_crds() -> list[Path]:
    """The ServiceMonitor and PrometheusRule CRDs of the pinned Prometheus Operator."""
    module, version = PROMETHEUS_OPERATOR
    target = cache_dir() / "crds" / f"prometheus-operator-{version}"
    wanted = [target / name for name in OPERATOR_CRDS]
    if all(p.is_file() for p in wanted):
        return wanted
    if not go_available():
        missing_tool(f"tier 'helm' needs {module}@{version}'s CRDs (go mod download), and Go is missing")
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}
    proc = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        capture_output=True,
        text=True,
        env=env,
        cwd=cache_dir() if cache_dir().is_dir() else None,
        timeout=600,
    )
    info = json.loads(proc.stdout or "{}")
    if proc.returncode != 0 or not info.get("Dir"):
        missing_tool(f"go mod download {module}@{version} failed: {info.get('Error') or proc.stderr[-500:]}")
    target.mkdir(parents=True, exist_ok=True)
    for name in OPERATOR_CRDS:
        shutil.copyfile(Path(info["Dir"]) / "example" / "prometheus-operator-crd" / name, target / name)
    return wanted
