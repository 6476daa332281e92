"""The cheaper telemetry paths give what the plain OpenTelemetry / Prometheus calls give."""

from __future__ import annotations

import pytest
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.telemetry import Metrics, context_from_carrier, spans_recorded
from shared.telemetry import _nats as nats_telemetry
from shared.telemetry._tracing import RecordWhenExported

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _span_context(carrier: dict[str, str]) -> trace.SpanContext:
    return trace.get_current_span(context_from_carrier(carrier)).get_span_context()


def test_spans_are_recorded_only_once_an_exporter_is_attached(monkeypatch: pytest.MonkeyPatch) -> None:
    sampler = RecordWhenExported()
    provider = TracerProvider(sampler=sampler)
    sampler.provider = provider
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    assert spans_recorded() is False
    span = provider.get_tracer("t").start_span("unrecorded")
    assert not span.is_recording() and span.get_span_context().is_valid  # the context still travels
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    assert spans_recorded() is True
    assert provider.get_tracer("t").start_span("recorded").is_recording()


def test_spans_count_as_recorded_under_a_provider_that_is_not_ours(monkeypatch: pytest.MonkeyPatch) -> None:
    provider = TracerProvider()  # a test's or an embedding program's provider: links must be built
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    assert spans_recorded() is True


def test_a_carrier_gives_the_context_the_propagator_extracts() -> None:
    carrier = {"traceparent": TRACEPARENT, "tracestate": "vendor=x"}
    expected = trace.get_current_span(propagate.extract(dict(carrier))).get_span_context()
    assert _span_context(carrier) == expected
    assert _span_context(dict(carrier)) == expected  # again, from the reused context
    assert _span_context(carrier).trace_state.get("vendor") == "x"
    other = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"
    assert _span_context({"traceparent": other}).span_id == 0x00F067AA0BA902B7
    # headers carry other keys too: only the propagator's fields count
    assert _span_context({"traceparent": TRACEPARENT, "Nats-Msg-Id": "a"}).span_id == expected.span_id
    assert not _span_context({}).is_valid
    assert not _span_context({"traceparent": "garbage"}).is_valid


def test_reused_contexts_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nats_telemetry, "_EXTRACTED_MAX", 4)
    parents = [f"00-0af7651916cd43dd8448eb211c80319c-{i + 1:016x}-01" for i in range(10)]
    for parent in parents:
        assert _span_context({"traceparent": parent}).span_id == int(parent.split("-")[2], 16)
    assert len(nats_telemetry._extracted) <= 4


def test_a_series_is_the_labelled_child_and_is_exported() -> None:
    m = Metrics()
    series = m.series(m.rest_requests, "201", "POST", "member:443")
    assert series is m.rest_requests.labels("201", "POST", "member:443")
    assert m.series(m.rest_requests, "201", "POST", "member:443") is series
    series.inc()
    m.series(m.rest_requests, "201", "POST", "member:443").inc()
    assert b'rest_client_requests_total{code="201",host="member:443",method="POST"} 2.0' in m.render()


def test_series_looked_up_before_clear_series_count_in_the_registry_again() -> None:
    from shared.telemetry._metrics import Metrics

    m = Metrics()
    m.series(m.propagations, "c1", "created", "success").inc()
    m.clear_series()
    m.series(m.propagations, "c1", "created", "success").inc()
    exported = m.render().decode()
    assert 'kubefed_propagations_total{cluster="c1",op="created",result="success"} 1.0' in exported


def test_a_consumed_message_starts_a_span_only_when_spans_are_recorded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sampler = RecordWhenExported()
    provider = TracerProvider(sampler=sampler)
    sampler.provider = provider
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    headers = {"traceparent": TRACEPARENT}
    with nats_telemetry.consume_span("kubefed.desired.r.ns.name", headers) as span:
        # nothing records: the handler continues the publisher's context itself
        assert not span.is_recording()
        assert nats_telemetry.current_carrier()["traceparent"] == TRACEPARENT
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with nats_telemetry.consume_span("kubefed.desired.r.ns.name", headers) as span:
        assert span.is_recording()
        inner = nats_telemetry.current_carrier()["traceparent"]
    assert inner != TRACEPARENT and inner.split("-")[1] == TRACEPARENT.split("-")[1]  # a child, same trace
    (finished,) = exporter.get_finished_spans()
    assert finished.parent is not None and finished.parent.span_id == _span_context(headers).span_id
