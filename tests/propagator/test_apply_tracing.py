"""Spans of the propagator's reconciles: a member write has its own ``apply <Kind>`` span under the
decision's trace; a re-verification that writes nothing (``unchanged``) starts none, and its outcome
carries the decision's trace so the status write still joins that trace (issue #18: spans were about a
sixth of the propagator's CPU while a restart re-verified 300,000 member objects)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.propagator._apply import Applier
from services.propagator._compact import CompactObjects
from services.propagator._plan import render
from shared.k8s import KubeClient
from shared.messages import ClusterOutcome, ObjectKey, PlacementDecision, TargetType

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
KEY = ObjectKey(resource="federatedconfigmaps.types.kubefed.io", namespace="fed", name="web")
DECISION = PlacementDecision(
    key=KEY,
    target=TargetType(group="", version="v1", kind="ConfigMap", plural="configmaps", namespaced=True),
    template={"data": {"k": "v"}},
    clusters=["c1"],
    trace={"traceparent": TRACEPARENT},
)


class _Member:
    def __init__(self, live: dict[str, Any]) -> None:
        self.ready = True
        self.replaced: list[dict[str, Any]] = []
        self.client = SimpleNamespace(replace=self._replace)
        synced = asyncio.Event()
        synced.set()
        self._cache = SimpleNamespace(synced=synced, objects=CompactObjects({("fed", "web"): live}))

    def cache(self, resource: object) -> Any:
        return self._cache

    async def _replace(self, resource: object, obj: dict[str, Any]) -> dict[str, Any]:
        self.replaced.append(obj)
        return {**obj, "metadata": {**obj["metadata"], "resourceVersion": "2"}}


def _applier(member: _Member, outcomes: list[ClusterOutcome]) -> Applier:
    return Applier(
        decisions={KEY: DECISION},
        registry=cast(Any, SimpleNamespace(members={"c1": member})),
        probed={"c1"},
        reporter=cast(Any, SimpleNamespace(add=outcomes.append)),
        member_changed=lambda *a: None,
        host=cast(KubeClient, None),
    )


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    return exporter


def _live(data: dict[str, str]) -> dict[str, Any]:
    obj = render(DECISION, "c1", None)
    return {**obj, "data": data, "metadata": {**obj["metadata"], "resourceVersion": "1"}}


async def test_an_unchanged_member_object_starts_no_span_and_reports_under_the_decisions_trace(
    spans: InMemorySpanExporter,
) -> None:
    member, outcomes = _Member(_live({"k": "v"})), list[ClusterOutcome]()
    assert await _applier(member, outcomes).reconcile("c1", KEY) is None
    assert [o.op for o in outcomes] == ["unchanged"] and not member.replaced
    assert outcomes[0].trace == {"traceparent": TRACEPARENT}
    assert spans.get_finished_spans() == ()


async def test_a_member_write_has_its_span_in_the_decisions_trace(spans: InMemorySpanExporter) -> None:
    member, outcomes = _Member(_live({"k": "drifted"})), list[ClusterOutcome]()
    assert await _applier(member, outcomes).reconcile("c1", KEY) is None
    assert [o.op for o in outcomes] == ["updated"] and member.replaced[0]["data"] == {"k": "v"}
    (span,) = spans.get_finished_spans()
    assert span.name == "apply ConfigMap" and span.attributes is not None
    assert span.attributes["kubefed.action"] == "update"
    assert format(span.context.trace_id, "032x") == TRACEPARENT.split("-")[1]
    assert outcomes[0].trace["traceparent"].split("-")[2] == format(span.context.span_id, "016x")
