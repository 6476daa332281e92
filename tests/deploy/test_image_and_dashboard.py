"""Static checks of the Dockerfile (built and run by tests/container) and the Grafana dashboard.

Dockerfile: the base a build argument (python:3.11-slim by default), `pip install .` of every package
pyproject ships (rehearsed: the COPYed
context builds a distribution with every module and the `kubefed` command), a numeric non-root
USER that matches the Deployments' runAsUser, ENTRYPOINT ["kubefed"]; .dockerignore keeps what the
build needs. Dashboard: valid Grafana JSON whose every PromQL metric exists in
shared/telemetry/_metrics.py (with its label names), covering the operators' required panels.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path
from typing import Any

import pytest

from shared.telemetry._metrics import Metrics
from tests.support.manifests import DEPLOY, OVERLAYS, ROOT, of_kind, render

pytestmark = pytest.mark.timeout(60)


# -- Dockerfile ---------------------------------------------------------------------------------------
def _instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text()
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def _final_stage() -> list[tuple[str, str]]:
    ins = _instructions()
    last_from = max(i for i, (w, _) in enumerate(ins) if w == "FROM")
    return ins[last_from:]


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_dockerfile_base_image_is_a_build_argument_defaulting_to_python_311_slim() -> None:
    """``ARG BASE=python:3.11-slim`` before the first FROM; both stages are ``FROM ${BASE}`` (the
    container tier builds on a Debian base made with debootstrap, tests/container)."""
    ins = _instructions()
    first_from = next(i for i, (w, _) in enumerate(ins) if w == "FROM")
    args = dict(rest.partition("=")[::2] for w, rest in ins[:first_from] if w == "ARG")
    assert args.get("BASE") == "python:3.11-slim", args
    froms = [rest.split()[0] for w, rest in ins if w == "FROM"]
    assert len(froms) == 2 and all(f in ("${BASE}", "$BASE") for f in froms), froms
    assert _pyproject()["project"]["requires-python"] == ">=3.11"


def test_dockerfile_installs_the_package() -> None:
    ins = _instructions()
    runs = [rest for w, rest in ins if w == "RUN"]
    assert any(re.search(r"\bpip install (\S+ )*\.(\s|$)", r) for r in runs), runs
    copied = {
        p.rstrip("/").removeprefix("./")
        for w, rest in ins
        if w == "COPY" and "--from" not in rest
        for p in rest.split()[:-1]
    }
    packages = {p.rstrip("*") for p in _pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages <= copied, f"not copied into the build: {packages - copied}"
    assert {"pyproject.toml", "README.md"} <= copied  # README.md is the project's readme
    # the runtime stage takes the installed venv and puts its bin first on PATH
    final = _final_stage()
    assert any(w == "COPY" and "--from=" in rest for w, rest in final)
    env = " ".join(rest for w, rest in final if w == "ENV")
    venv_bin = re.search(r"PATH=\"?([^:\"]+):", env)
    assert venv_bin is not None
    assert any(f"{venv_bin.group(1).rsplit('/bin', 1)[0]}" in r for r in runs), (
        "PATH points at the venv pip installed into"
    )


def test_dockerfile_build_context_packages_every_module_and_the_kubefed_command(tmp_path: Path) -> None:
    """A rehearsal of the build stage without Docker: only what the Dockerfile COPYs (minus
    .dockerignore) goes into a context, and setuptools builds the distribution `pip install .` would
    install from it: every module and data file of the shipped packages, and the `kubefed` command
    that ENTRYPOINT runs."""
    context = tmp_path / "context"
    context.mkdir()
    ignored = [
        p for p in (ROOT / ".dockerignore").read_text().splitlines() if p.strip() and not p.startswith("#")
    ]
    for word, rest in _instructions():
        if word != "COPY" or "--from" in rest:
            continue
        for src in rest.split()[:-1]:
            src = src.rstrip("/").removeprefix("./")
            origin = ROOT / src
            if origin.is_dir():
                shutil.copytree(
                    origin,
                    context / src,
                    ignore=shutil.ignore_patterns(*(i.removeprefix("**/") for i in ignored)),
                )
            else:
                shutil.copy2(origin, context / src)
    out = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-c", f"import setuptools.build_meta as b; b.build_sdist({str(out)!r})"],
        cwd=context,
        check=True,
        capture_output=True,
        timeout=120,
    )
    (sdist,) = out.glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = tar.getnames()
        entry_points = next(n for n in names if n.endswith(".egg-info/entry_points.txt"))
        scripts = tar.extractfile(entry_points).read().decode()  # type: ignore[union-attr]
    shipped = {n.split("/", 1)[1] for n in names if "/" in n}
    packages = [p.rstrip(".*") for p in _pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]]
    tracked = subprocess.run(
        ["git", "ls-files", *packages], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    wanted = {f for f in tracked if f.endswith((".py", ".yaml", ".json"))}
    assert wanted and wanted <= shipped, f"missing from the image: {sorted(wanted - shipped)[:10]}"
    assert re.search(r"^kubefed = kubefed\.cli:main$", scripts, re.M), scripts
    (entrypoint,) = [json.loads(rest) for w, rest in _final_stage() if w == "ENTRYPOINT"]
    assert entrypoint[0] == "kubefed"


def test_dockerfile_runs_as_the_deployments_non_root_user() -> None:
    final = _final_stage()
    users = [rest for w, rest in final if w == "USER"]
    assert users, "no USER in the runtime stage"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0, "numeric, so runAsNonRoot can be verified"
    assert gid.isdigit() and int(gid) != 0
    runs = " ".join(rest for w, rest in final if w == "RUN")
    assert f"--uid {uid}" in runs and f"--gid {gid}" in runs
    for overlay in OVERLAYS:
        for d in of_kind(render(f"overlays/{overlay}"), "Deployment"):
            psc = d["spec"]["template"]["spec"]["securityContext"]
            assert (psc["runAsUser"], psc["runAsGroup"]) == (int(uid), int(gid)), d["metadata"]["name"]


def test_dockerfile_entrypoint_is_kubefed() -> None:
    entry = [rest for w, rest in _final_stage() if w == "ENTRYPOINT"]
    assert entry and json.loads(entry[-1]) == ["kubefed"], "exec form, so signals reach the process"
    assert _pyproject()["project"]["scripts"]["kubefed"] == "kubefed.cli:main"
    for overlay in OVERLAYS:
        for d in of_kind(render(f"overlays/{overlay}"), "Deployment"):
            c = d["spec"]["template"]["spec"]["containers"][0]
            if c["image"].startswith("kubefed"):
                assert "command" not in c and c["args"]


def test_dockerignore_keeps_the_build_inputs() -> None:
    patterns = [
        p.strip()
        for p in (ROOT / ".dockerignore").read_text().splitlines()
        if p.strip() and not p.startswith("#")
    ]
    needed = [
        "pyproject.toml",
        "README.md",
        *(p.rstrip("*") for p in _pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]),
    ]
    for path in needed:
        assert not any(fnmatch.fnmatch(path, pat) for pat in patterns), f"{path} is ignored by {patterns}"
    for heavy in (".git", ".venv", "tests"):
        assert heavy in patterns


# -- Grafana dashboard --------------------------------------------------------------------------------
DASHBOARD = DEPLOY / "grafana" / "kubefed-dashboard.json"
# labels Prometheus' Kubernetes discovery adds to every scraped series
TARGET_LABELS = {"namespace", "pod", "container", "job", "instance", "service", "endpoint"}
PROMQL_WORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "inf",
    "nan",
}


def _exported_series() -> dict[str, set[str]]:
    """Every series name the services can export → its label names."""
    m = Metrics()
    labels_of: dict[str, tuple[str, ...]] = {}
    for value in vars(m).values():
        name = getattr(value, "_name", None)
        if name is not None:
            labels_of[name] = tuple(getattr(value, "_labelnames", ()))
    out: dict[str, set[str]] = {}
    for family in m.registry.collect():
        names = {
            "counter": [f"{family.name}_total"],
            "histogram": [f"{family.name}_bucket", f"{family.name}_sum", f"{family.name}_count"],
            "gauge": [family.name],
        }[family.type]
        base = labels_of.get(family.name) or labels_of.get(f"{family.name}_total") or ()
        for n in names:
            out[n] = set(base) | ({"le"} if n.endswith("_bucket") else set())
    return out


def _exprs(dash: dict[str, Any]) -> list[str]:
    exprs = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for p in panels:
            exprs.extend(t["expr"] for t in p.get("targets") or [])
            walk(p.get("panels") or [])

    walk(dash["panels"])
    exprs.extend(v["query"]["query"] for v in dash["templating"]["list"] if isinstance(v.get("query"), dict))
    return exprs


def _metrics_in(expr: str) -> list[tuple[str, set[str]]]:
    """(metric, label names in its selector) for every metric in a PromQL expression."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range selectors
    expr = re.sub(r"\b(by|without)\s*\([^)]*\)", "", expr)  # grouping labels
    expr = re.sub(r"label_values\(([^,]+),[^)]*\)", r"\1", expr)  # Grafana's label_values(metric, label)
    found = []
    for m in re.finditer(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*(\{[^}]*\})?\s*(\()?", expr):
        name, selector, call = m.group(1), m.group(2), m.group(3)
        if (call and not selector) or name.lower() in PROMQL_WORDS or name.startswith("__"):
            continue
        if m.start() > 0 and expr[m.start() - 1] == "$":
            continue  # Grafana variable
        label_names = set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)", selector or ""))
        found.append((name, label_names))
    return found


def test_dashboard_is_grafana_json() -> None:
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] and dash["title"] and dash["schemaVersion"] >= 36
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    assert any(v["type"] == "datasource" and v["query"] == "prometheus" for v in dash["templating"]["list"])
    for p in dash["panels"]:
        assert {"x", "y", "w", "h"} <= set(p["gridPos"]) and p["gridPos"]["x"] + p["gridPos"]["w"] <= 24
        for t in p.get("targets") or []:
            assert t["refId"] and t["expr"] and t["datasource"]["uid"] == "${datasource}"


def test_dashboard_uses_only_metrics_the_services_export() -> None:
    series = _exported_series()
    dash = json.loads(DASHBOARD.read_text())
    used = set()
    for expr in _exprs(dash):
        found = _metrics_in(expr)
        assert found, f"no metric found in {expr!r}"
        for name, label_names in found:
            assert name in series, f"{name} (in {expr!r}) is not defined in shared/telemetry/_metrics.py"
            unknown = label_names - series[name] - TARGET_LABELS
            assert not unknown, f"{name} has no labels {unknown} (in {expr!r})"
            used.add(name)
        for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
            names = {g.strip() for g in group.split(",") if g.strip()}
            allowed = set().union(*(series[n] for n, _ in found)) | TARGET_LABELS
            assert names <= allowed, f"grouping by {names - allowed} in {expr!r}"
    required = {
        "kubefed_propagation_latency_seconds_bucket",
        "kubefed_propagations_total",
        "kubefed_consumer_pending_messages",
        "workqueue_depth",
        "kubefed_member_cluster_ready",
        "kubefed_build_info",  # scheduler replicas: one series per scraped process
        "controller_runtime_reconcile_total",
        "controller_runtime_reconcile_errors_total",
    }
    assert required <= used, required - used


def test_metric_parser_sees_through_promql() -> None:
    got = _metrics_in(
        "histogram_quantile(0.99, sum by (cluster, le) "
        '(rate(kubefed_propagation_latency_seconds_bucket{cluster=~"$cluster"}[$__rate_interval])))'
    )
    assert got == [("kubefed_propagation_latency_seconds_bucket", {"cluster"})]
    assert [n for n, _ in _metrics_in('count(up{job=~".*scheduler.*"}) or vector(0)')] == ["up"]
    assert "up" not in _exported_series()
