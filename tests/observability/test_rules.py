"""Alert rules checked and unit-tested by promtool (tier ``prometheus``).

``promtool check rules`` accepts deploy/prometheus/kubefed-rules.yaml; ``promtool test rules`` passes
for every file in deploy/prometheus/tests; every alert has its own unit-test file that both leaves it
silent and makes it fire (with its labels and annotations); the Helm chart ships the same rules.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.observability._prom import RULE_TESTS, RULES, alert_names
from tests.support.tools import require

pytestmark = [pytest.mark.prometheus, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def promtool() -> str:
    return require("promtool", tier="prometheus")["promtool"]


def test_promtool_accepts_the_rules(promtool: str) -> None:
    proc = subprocess.run(
        [promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_promtool_unit_tests_pass(promtool: str) -> None:
    files = sorted(RULE_TESTS.glob("*.yaml"))
    assert files
    proc = subprocess.run(
        [promtool, "test", "rules", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=RULE_TESTS,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("SUCCESS") == len(files), proc.stdout


def test_every_unit_test_file_orders_the_groups_recording_rules_first() -> None:
    """promtool evaluates rule groups in Go map order unless told; an alert reading a recording rule
    then sees the previous evaluation's value now and then (CI saw 24.68 % for 25.5 % once)."""
    groups = [group["name"] for group in yaml.safe_load(RULES.read_text())["groups"]]
    recording = [g for g in groups if g != "kubefed-alerts"]
    for path in sorted(RULE_TESTS.glob("*.yaml")):
        order = yaml.safe_load(path.read_text()).get("group_eval_order")
        assert order == [*recording, "kubefed-alerts"], path


def test_every_alert_has_a_unit_test_that_fires_it_and_one_that_does_not() -> None:
    rules = yaml.safe_load(RULES.read_text())
    alerts = alert_names(rules)
    assert set(alerts) == {
        "KubefedPropagationLatencySLOBurn",
        "KubefedMemberClusterNotReady",
        "KubefedConsumerBacklog",
        "KubefedDecisionsFailing",
        "KubefedEventsDropped",
        "KubefedNATSDisconnected",
        "KubefedLeaderMissing",
    }
    fired: dict[str, set[str]] = {a: set() for a in alerts}
    silent: dict[str, set[str]] = {a: set() for a in alerts}
    for path in RULE_TESTS.glob("*.yaml"):
        doc = yaml.safe_load(path.read_text())
        assert doc["rule_files"] == ["../kubefed-rules.yaml"], path.name
        for test in doc["tests"]:
            for case in test.get("alert_rule_test") or []:
                (fired if case.get("exp_alerts") else silent)[case["alertname"]].add(path.name)
    for alert in alerts:
        assert fired[alert], f"no unit test makes {alert} fire"
        assert silent[alert], f"no unit test shows {alert} silent"
        # each alert has a file of its own (named after it)
        assert len(fired[alert]) == 1, (alert, fired[alert])
    severities = {r["labels"]["severity"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    assert severities <= {"critical", "warning", "info"}
    for g in rules["groups"]:
        for r in g["rules"]:
            if "alert" in r:
                assert {"summary", "description"} <= set(r["annotations"]), r["alert"]
