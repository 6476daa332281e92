"""Member credentials never leave Secrets and memory; federated Secrets travel only on their own stream.

Covers: after joining members and propagating a FederatedSecret, no member token appears in any NATS
message of any stream, in any exported span attribute, in any host Event, or in the services' logs; the
FederatedSecret's decision is on ``kubefed.secret.>`` and not on ``kubefed.desired.>``.
"""

from __future__ import annotations

import base64

import nats.js.errors
import pytest
import yaml
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared import subjects
from shared.bus import Bus, BusSettings
from shared.telemetry import configure_tracing
from tests.support.plane import ControlPlane, eventually

pytestmark = pytest.mark.timeout(120)


async def _all_stream_payloads(url: str) -> dict[str, list[bytes]]:
    bus = await Bus.connect(BusSettings(url=url))
    out: dict[str, list[bytes]] = {}
    try:
        for stream in subjects.ALL_STREAMS:
            info = await bus.js.stream_info(stream)
            msgs = []
            first = (
                info.state.first_seq if info.state.messages else info.state.last_seq + 1
            )  # empty stream: none
            for seq in range(first, info.state.last_seq + 1):
                try:
                    raw = await bus.js.get_msg(stream, seq)
                except nats.js.errors.NotFoundError:
                    continue  # purged or superseded by a newer message on its subject
                msgs.append((raw.data or b"") + repr(raw.headers).encode())
            out[stream] = msgs
    finally:
        await bus.close()
    return out


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    """Spans of everything from here on: requested before ``running``, so it sees the join and probes."""
    spans = InMemorySpanExporter()
    configure_tracing("kubefed-test", extra_processors=(SimpleSpanProcessor(spans),))
    return spans


async def test_credentials_stay_out_of_bus_traces_events_and_logs(
    exporter: InMemorySpanExporter, running: ControlPlane, capfd: pytest.CaptureFixture[str]
) -> None:
    cp = running
    secret_value = "s3cr3t-payload-value"
    await cp.akubectl(
        "apply",
        "-f",
        "-",
        input=yaml.safe_dump(
            {
                "apiVersion": "types.kubefed.io/v1beta1",
                "kind": "FederatedSecret",
                "metadata": {"name": "creds", "namespace": "fed"},
                "spec": {
                    "placement": {"clusterSelector": {}},
                    "template": {
                        "type": "Opaque",
                        "data": {"password": base64.b64encode(secret_value.encode()).decode()},
                    },
                },
            }
        ),
    )
    await eventually(lambda: cp.member_object("cluster2", "", "secrets", "fed", "creds"))
    tokens = [cp.fleet[c].admin_token for c in ("cluster1", "cluster2")]
    payloads = await _all_stream_payloads(cp.nats_url)
    for stream, msgs in payloads.items():
        for data in msgs:
            for token in tokens:
                assert token.encode() not in data, f"member token found in {stream}"
    encoded = base64.b64encode(secret_value.encode())
    assert any(encoded in m for m in payloads[subjects.STREAM_SECRETS]), (
        "the Secret decision should be on its own stream"
    )
    assert not any(encoded in m for m in payloads[subjects.STREAM_DESIRED])
    for span in exporter.get_finished_spans():
        text = repr(dict(span.attributes or {})) + repr([dict(e.attributes or {}) for e in span.events])
        assert not any(t in text for t in tokens)
    events = cp.fleet["host"].list_objects("", "events", None)
    assert not any(any(t in repr(e) for t in tokens) for e in events)
    out, err = capfd.readouterr()
    assert not any(t in out or t in err for t in tokens)
