"""``kubefedctl preview`` and ``kubefedctl explain``: ask the scheduler over NATS request/reply.

Beyond KubeFed. ``preview -f FILE`` first sends every object to the host API server as a server-side
apply with ``dryRun=All`` (nothing is stored), so bad input fails with exactly the errors a real apply
gets; the objects the API server returned (defaulted, validated) then go to the scheduler on
``kubefed.query.preview``, which computes placement, the replica split and the rendered object per
cluster and diffs it against what the current decision renders there, storing nothing. ``explain``
asks ``kubefed.query.explain`` for the current placement with a reason per cluster and, with
``--history``, the last decisions from the object's history on the bus. Building rows is pure
(:func:`preview_rows`, :func:`explain_rows`, :func:`history_rows`).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import yaml

from kubefedctl._common import CommandError, Options, connect, echo
from kubefedctl._output import dump_json, print_table
from shared import subjects
from shared.bus import Bus, BusSettings, ask
from shared.errors import ApiError, KubefedError
from shared.k8s import KubeClient, Resource
from shared.messages import (
    ClusterReason,
    DecisionRecord,
    ExplainReply,
    ExplainRequest,
    PreviewObject,
    PreviewReply,
    PreviewRequest,
    decode_query,
    encode_query,
)
from shared.telemetry import configure_logging

__all__ = ["explain", "explain_rows", "history_rows", "preview", "preview_rows"]

FIELD_MANAGER = "kubectl"  # what `kubectl apply --server-side` would use


@contextlib.asynccontextmanager
async def connect_bus(settings: BusSettings) -> AsyncIterator[Bus]:
    configure_logging(level="warning", fmt="console")  # the bus client's logs: stderr, problems only
    try:
        bus = await Bus.connect(settings)
    except KubefedError as exc:
        raise CommandError(str(exc)) from exc
    try:
        yield bus
    finally:
        await bus.close()


def read_documents(filename: str) -> list[dict[str, Any]]:
    """Every YAML document of ``filename`` (``-``: stdin); a List's items count one by one."""
    try:
        text = sys.stdin.read() if filename == "-" else Path(filename).read_text()
        docs = [d for d in yaml.safe_load_all(text) if d]
    except (OSError, yaml.YAMLError) as exc:
        raise CommandError(f"cannot read {filename}: {exc}") from exc
    out: list[dict[str, Any]] = []
    for doc in docs:
        if not isinstance(doc, dict):
            raise CommandError(f"{filename}: every document must be an object")
        if str(doc.get("kind") or "").endswith("List") and isinstance(doc.get("items"), list):
            out.extend(i for i in doc["items"] if isinstance(i, dict))
        else:
            out.append(doc)
    if not out:
        raise CommandError(f"{filename}: no objects")
    return out


async def _resource_of(host: KubeClient, doc: dict[str, Any]) -> Resource:
    api_version, kind = str(doc.get("apiVersion") or ""), str(doc.get("kind") or "")
    if not api_version or not kind:
        raise CommandError("error validating data: apiVersion and kind must be set")
    group, _, version = api_version.rpartition("/")
    path = f"/apis/{api_version}" if group else f"/api/{version}"
    try:
        listing = await host.request("GET", path)
    except KubefedError as exc:
        raise CommandError(
            f'resource mapping not found for kind "{kind}" in version "{api_version}"'
        ) from exc
    for res in listing.get("resources") or []:
        if res.get("kind") == kind and "/" not in str(res.get("name")):
            return Resource(
                group, version, str(res["name"]), namespaced=bool(res.get("namespaced")), kind=kind
            )
    raise CommandError(f'resource mapping not found for kind "{kind}" in version "{api_version}"')


async def dry_run_apply(host: KubeClient, doc: dict[str, Any], default_namespace: str) -> dict[str, Any]:
    """Server-side apply with ``dryRun=All``: the object as a real apply would store it, or the API
    server's error (``Error from server (Invalid): ...``), nothing stored."""
    resource = await _resource_of(host, doc)
    meta = dict(doc.get("metadata") or {})
    name = str(meta.get("name") or "")
    if not name:
        raise CommandError("error validating data: metadata.name must be set")
    namespace = str(meta.get("namespace") or default_namespace) if resource.namespaced else None
    if namespace:
        doc = {**doc, "metadata": {**meta, "namespace": namespace}}
    path = resource.path(namespace, name)
    try:
        result: dict[str, Any] = await host.request(
            "PATCH",
            path,
            query={"dryRun": "All", "fieldManager": FIELD_MANAGER, "force": "true"},
            body=doc,
            content_type="application/apply-patch+yaml",
        )
    except ApiError as exc:
        message = str(exc).removeprefix(f"PATCH {path} on cluster {host.name}: ")
        # as kubectl prints it: the Status reason in brackets, none when the server gave none (a real
        # kube-apiserver's 500 for a patch it cannot type against the schema)
        label = f"Error from server ({exc.reason})" if exc.reason else "Error from server"
        raise CommandError(f"{label}: {message}") from exc
    return result


def _change(diff: str, rendered: bool) -> str:
    if not diff:
        return "unchanged"
    if diff.startswith("--- /dev/null"):
        return "created"
    if not rendered and "+++ /dev/null" in diff:
        return "removed"
    return "updated"


def preview_rows(result: PreviewObject) -> list[list[str]]:
    """One row per cluster: placed, replicas, what would change there, and why (pure)."""
    rows: list[list[str]] = []
    for reason in result.clusters:
        replicas = result.replicas.get(reason.cluster)
        rows.append(
            [
                reason.cluster,
                "yes" if reason.selected else "no",
                "" if replicas is None or not reason.selected else str(replicas),
                _change(result.diffs.get(reason.cluster, ""), reason.cluster in result.rendered),
                reason.reason,
            ]
        )
    return rows


async def preview(
    opts: Options,
    filename: str,
    namespace: str | None,
    bus_settings: BusSettings,
    *,
    output: str | None,
    timeout: float,
) -> None:
    docs = read_documents(filename)
    async with connect(opts) as host:
        stored = [await dry_run_apply(host, doc, namespace or "default") for doc in docs]
    async with connect_bus(bus_settings) as bus:
        raw = await ask(
            bus, subjects.QUERY_PREVIEW, encode_query(PreviewRequest(objects=stored)), timeout=timeout
        )
    reply = decode_query(raw)
    if not isinstance(reply, PreviewReply):
        raise CommandError(f"unexpected answer from the scheduler: {type(reply).__name__}")
    if reply.error:
        raise CommandError(f"preview failed: {reply.error}")
    if output:
        data = msgspec.to_builtins(reply.results)
        echo(dump_json(data) if output == "json" else yaml.safe_dump(data, sort_keys=False).rstrip("\n"))
        return
    for result in reply.results:
        source = "" if result.input_kind == result.kind else f" (from {result.input_kind})"
        title = f"{result.kind} {result.key}{source}: preview, nothing stored"
        print_table(title, ["CLUSTER", "PLACED", "REPLICAS", "CHANGE", "REASON"], preview_rows(result))
        for error in result.errors:
            echo(f"error: {error}")
        for cluster, diff in sorted(result.diffs.items()):
            if diff:
                echo(f"\n# {cluster}\n{diff.rstrip()}")
        echo("")


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def explain_rows(clusters: Sequence[ClusterReason], status: dict[str, str]) -> list[list[str]]:
    """One row per cluster of the current placement (pure)."""
    return [
        [
            c.cluster,
            "yes" if c.selected else "no",
            "" if c.replicas is None or not c.selected else str(c.replicas),
            status.get(c.cluster, "-"),
            c.reason,
        ]
        for c in clusters
    ]


def history_rows(records: Sequence[DecisionRecord], cluster: str = "") -> list[list[str]]:
    """One row per recorded decision, oldest first (pure); with ``cluster``, its reason appended."""
    rows = []
    for r in records:
        who = f"{r.manager} ({r.operation})" if r.manager else "-"
        what = "; ".join(r.changes)
        if cluster:
            mine = next((c for c in r.reasons if c.cluster == cluster), None)
            if mine is not None:
                what += f" | {cluster}: {mine.reason}"
        rows.append([_when(r.decided_at), r.source, f"gen {r.generation}", what, who, r.trace_id or "-"])
    return rows


async def explain(
    target: str,
    namespace: str | None,
    bus_settings: BusSettings,
    *,
    cluster: str,
    history: int,
    output: str | None,
    timeout: float,
) -> None:
    type_name, sep, name = target.partition("/")
    if not sep or not type_name or not name:
        raise CommandError(f'"{target}" is not <kind>/<name>')
    request = ExplainRequest(
        type_name=type_name, namespace=namespace or "default", name=name, cluster=cluster, history=history
    )
    async with connect_bus(bus_settings) as bus:
        raw = await ask(bus, subjects.QUERY_EXPLAIN, encode_query(request), timeout=timeout)
    reply = decode_query(raw)
    if isinstance(reply, PreviewReply) and reply.error:
        raise CommandError(reply.error)
    if not isinstance(reply, ExplainReply):
        raise CommandError(f"unexpected answer from the scheduler: {type(reply).__name__}")
    if reply.error:
        raise CommandError(reply.error)
    if output:
        data = msgspec.to_builtins(reply)
        echo(dump_json(data) if output == "json" else yaml.safe_dump(data, sort_keys=False).rstrip("\n"))
        return
    print_table(
        f"{reply.kind} {reply.key}: current placement",
        ["CLUSTER", "PLACED", "REPLICAS", "STATUS", "REASON"],
        explain_rows(reply.clusters, reply.status),
    )
    if history:
        echo("")
        print_table(
            f"Last {len(reply.history)} decisions (oldest first)",
            ["TIME", "SOURCE", "GENERATION", "CHANGES", "CHANGED BY", "TRACE ID"],
            history_rows(reply.history, cluster),
        )
