"""Debian's Prometheus on loopback for tests: configuration, process, HTTP API, and the rules and
dashboard queries in the form the tests evaluate.

``compress`` rewrites the shipped rules for a test that lasts minutes instead of hours: every range
window and ``for:`` duration is divided by ``factor`` (30: 5m → 10s, 1h → 2m, ``for: 10m`` → 20s);
nothing else of an expression changes. ``promtool test rules`` proves the shipped durations.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from kubefed.natsd import free_port

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "kubefed-rules.yaml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "tests"
DASHBOARD = ROOT / "deploy" / "grafana" / "kubefed-dashboard.json"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(duration: str) -> int:
    return sum(int(n) * _UNITS[u] for n, u in re.findall(r"(\d+)([smhd])", duration))


def _scaled(duration: str, factor: int) -> str:
    return f"{max(1, seconds(duration) // factor)}s"


def compress(rules: dict[str, Any], factor: int) -> dict[str, Any]:
    out = json.loads(json.dumps(rules))
    for group in out["groups"]:
        for rule in group["rules"]:
            rule["expr"] = re.sub(
                r"\[(\d+[smhd])\]", lambda m: f"[{_scaled(m.group(1), factor)}]", rule["expr"]
            )
            if "for" in rule:
                rule["for"] = _scaled(rule["for"], factor)
    return out


def alert_names(rules: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys(r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r))


def dashboard_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target of every panel, nested rows included."""
    out: list[tuple[str, str]] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for p in panels:
            out.extend((p.get("title", ""), t["expr"]) for t in p.get("targets") or [])
            walk(p.get("panels") or [])

    walk(dashboard["panels"])
    return out


def dashboard_variables(dashboard: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(variable, metric, label) of every ``label_values(metric, label)`` variable."""
    out = []
    for v in dashboard["templating"]["list"]:
        query = v.get("query")
        text = query.get("query") if isinstance(query, dict) else query
        m = re.fullmatch(r"label_values\(\s*([^,]+?)\s*,\s*([A-Za-z_]+)\s*\)", str(text or ""))
        if m:
            out.append((v["name"], m.group(1), m.group(2)))
    return out


class Prometheus:
    """``prometheus`` scraping ``targets`` every second, the given rule file, TSDB in ``workdir``."""

    def __init__(
        self,
        binary: str,
        workdir: Path,
        targets: list[str],
        rules: Path | None,
        *,
        labels: dict[str, str] | None = None,
        interval: str = "1s",
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        config = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "scrape_configs": [
                {"job_name": "kubefed", "static_configs": [{"targets": targets, "labels": labels or {}}]}
            ],
        }
        if rules is not None:
            config["rule_files"] = [str(rules)]
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = (workdir / "prometheus.log").open("wb")
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"prometheus exited {self.proc.returncode}: {Path(self.log.name).read_text()[-2000:]}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise TimeoutError("prometheus not ready")

    def api(self, path: str, **params: Any) -> Any:
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.loads(r.read())
        if body.get("status") != "success":
            raise AssertionError(f"{path} {params}: {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        return list(self.api("query", query=expr)["result"])

    def query_range(self, expr: str, start: float, end: float, step: float = 1.0) -> list[dict[str, Any]]:
        return list(self.api("query_range", query=expr, start=start, end=end, step=step)["result"])

    def alerts(self) -> list[dict[str, Any]]:
        """Active (pending or firing) alerts."""
        return list(self.api("alerts")["alerts"])

    def rules(self) -> list[dict[str, Any]]:
        return [r for g in self.api("rules")["groups"] for r in g["rules"]]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
