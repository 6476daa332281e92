"""What a propagator's ``/metrics`` costs per member cluster.

A propagator serving 2,500 members (of 5,000, two regions) exported 240,716 series, about 96 per
member: the request-latency histogram per member and verb, the queue and work duration histograms of
each member's queue, and a ``*_created`` sample per counter and histogram. Now a member costs its
counters, its gauges and one histogram, ``kubefed_propagation_latency_seconds`` (the per-cluster SLO's):
this test propagates to a fleet and counts, in the exposition text, the series that name a member (by
cluster, queue name or API server address).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import yaml

from shared.k8s import MEMBERS_LATENCY_HOST
from shared.telemetry import metrics
from tests.support.plane import MakePlane, eventually, fed_configmap, federate_namespace, ready

pytestmark = pytest.mark.timeout(120)

MEMBERS = [f"card{i}" for i in range(1, 7)]
PER_MEMBER_LIMIT = 30  # series that name one member, all metrics together


def _labels(line: str) -> dict[str, str]:
    inner = line[line.index("{") + 1 : line.rindex("}")]
    out = {}
    for part in inner.split('",'):
        k, _, v = part.partition('="')
        out[k.strip()] = v.rstrip('"')
    return out


async def test_member_costs_its_counters_gauges_and_one_histogram(make_plane: MakePlane) -> None:
    # the registry is the process's: series of earlier tests stay, and a loopback port of one of their
    # clusters may be a member's port here; a series recorded by this test is new or has changed
    earlier = set(metrics.render().decode().splitlines())
    cp = await make_plane(MEMBERS)
    cp.start("watcher", "watcher")
    cp.start("scheduler", "scheduler")
    cp.start("propagator", "propagator")
    await eventually(lambda: all(ready(cp, m) for m in MEMBERS))
    await federate_namespace(cp, "fed")
    for i in range(3):
        await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(fed_configmap(f"cm{i}")))
    await eventually(
        lambda: all(
            cp.member_object(m, "", "configmaps", "fed", f"cm{i}") for m in MEMBERS for i in range(3)
        ),
        timeout=60,
    )
    addresses = {urlsplit(cp.fleet[m].url).netloc: m for m in MEMBERS}

    def member_of(labels: dict[str, str]) -> str | None:
        for value in labels.values():
            if value in MEMBERS:
                return value
            if value in addresses:
                return addresses[value]
            if value.startswith("propagator-") and value.removeprefix("propagator-") in MEMBERS:
                return value.removeprefix("propagator-")
        return None

    # the positive sign that every member's requests, queue and writes were recorded
    text = metrics.render().decode()
    per_member: dict[str, list[str]] = {m: [] for m in MEMBERS}
    for line in text.splitlines():
        if line.startswith("#") or "{" not in line or line in earlier:
            continue
        member = member_of(_labels(line))
        if member is not None:
            per_member[member].append(line)
    for m in MEMBERS:
        names = {line.split("{")[0] for line in per_member[m]}
        assert {
            "rest_client_requests_total",
            "workqueue_adds_total",
            "workqueue_depth",
            "kubefed_propagations_total",
            "kubefed_propagation_latency_seconds_bucket",
        } <= names, names

    # one histogram per member; the members' request and queue latencies are one histogram each
    for m, lines in per_member.items():
        histograms = {line.split("{")[0].removesuffix("_bucket") for line in lines if "_bucket{" in line}
        assert histograms == {"kubefed_propagation_latency_seconds"}, (m, histograms)
        assert len(lines) <= PER_MEMBER_LIMIT, (m, len(lines), lines)
    assert f'host="{MEMBERS_LATENCY_HOST}"' in text
    assert 'workqueue_work_duration_seconds_count{controller="propagator",name="propagator"}' in text
    assert "_created" not in text
