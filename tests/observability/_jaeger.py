"""The pinned Jaeger v2 (``python -m sim.real jaeger``) on loopback for tests: in-memory storage, the
OTLP/HTTP receiver and the query API, each on a free port, nothing else listening.

``trace(id)`` reads ``/api/v3/traces/{id}`` (Jaeger's OTLP-shaped query API) and flattens it into
:class:`Span` records with their resource (service) attributes.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubefed.natsd import free_port

KINDS = {1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}


@dataclass(frozen=True)
class Span:
    span_id: str
    parent_id: str
    name: str
    kind: str
    service: str
    resource: dict[str, Any] = field(hash=False)
    attributes: dict[str, Any] = field(hash=False)
    start: int = 0
    links: tuple[str, ...] = ()  # span ids this span links to


def _value(v: dict[str, Any]) -> Any:
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in v:
            return v[key]
    if "intValue" in v:
        return int(v["intValue"])
    return v


def _attrs(items: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {a["key"]: _value(a.get("value") or {}) for a in items or []}


def _hex(value: str) -> str:
    """Span ids come hex-encoded (OTLP JSON) or base64 (protobuf JSON mapping); normalise to hex."""
    if not value:
        return ""
    if len(value) in (16, 32) and all(c in "0123456789abcdefABCDEF" for c in value):
        return value.lower()
    return base64.b64decode(value).hex()


def _kind(raw: Any) -> str:
    if isinstance(raw, int):
        return KINDS.get(raw, str(raw))
    return str(raw).removeprefix("SPAN_KIND_")


def config(otlp_http: int, query_http: int, query_grpc: int, health: int) -> dict[str, Any]:
    return {
        "service": {
            "extensions": ["jaeger_storage", "jaeger_query", "healthcheckv2"],
            "pipelines": {
                "traces": {
                    "receivers": ["otlp"],
                    "processors": ["batch"],
                    "exporters": ["jaeger_storage_exporter"],
                }
            },
            "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "warn"}},
        },
        "extensions": {
            "jaeger_query": {
                "storage": {"traces": "memstore"},
                "http": {"endpoint": f"127.0.0.1:{query_http}"},
                "grpc": {"endpoint": f"127.0.0.1:{query_grpc}"},
            },
            "jaeger_storage": {"backends": {"memstore": {"memory": {"max_traces": 100000}}}},
            "healthcheckv2": {"use_v2": True, "http": {"endpoint": f"127.0.0.1:{health}"}},
        },
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{otlp_http}"}}}},
        "processors": {"batch": {"timeout": "200ms"}},
        "exporters": {"jaeger_storage_exporter": {"trace_storage": "memstore"}},
    }


class Jaeger:
    def __init__(self, binary: str, workdir: Path) -> None:
        self.otlp_port, self.query_port, grpc, self.health_port = (
            free_port(),
            free_port(),
            free_port(),
            free_port(),
        )
        workdir.mkdir(parents=True, exist_ok=True)
        path = workdir / "jaeger.yaml"
        path.write_text(yaml.safe_dump(config(self.otlp_port, self.query_port, grpc, self.health_port)))
        self.otlp_endpoint = f"http://127.0.0.1:{self.otlp_port}"
        self.query_url = f"http://127.0.0.1:{self.query_port}"
        self.log = (workdir / "jaeger.log").open("wb")
        self.proc = subprocess.Popen(
            [binary, "--config", f"file:{path}"], stdout=self.log, stderr=subprocess.STDOUT
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"jaeger exited {self.proc.returncode}: {Path(self.log.name).read_text()[-3000:]}"
                )
            try:
                with urllib.request.urlopen(f"{self.query_url}/api/services", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"jaeger not ready: {Path(self.log.name).read_text()[-3000:]}")

    def raw_trace(self, trace_id: str) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"{self.query_url}/api/v3/traces/{trace_id}", timeout=5) as r:
                return dict(json.loads(r.read()))
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def trace(self, trace_id: str) -> list[Span]:
        body = self.raw_trace(trace_id)
        if not body:
            return []
        result = body.get("result", body)
        spans = []
        for rs in result.get("resourceSpans") or []:
            resource = _attrs((rs.get("resource") or {}).get("attributes"))
            for ss in rs.get("scopeSpans") or []:
                for s in ss.get("spans") or []:
                    spans.append(
                        Span(
                            span_id=_hex(s.get("spanId", "")),
                            parent_id=_hex(s.get("parentSpanId", "")),
                            name=s.get("name", ""),
                            kind=_kind(s.get("kind", 0)),
                            service=str(resource.get("service.name", "")),
                            resource=resource,
                            attributes=_attrs(s.get("attributes")),
                            start=int(s.get("startTimeUnixNano") or 0),
                            links=tuple(_hex(link.get("spanId", "")) for link in s.get("links") or []),
                        )
                    )
        return sorted(spans, key=lambda s: s.start)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
