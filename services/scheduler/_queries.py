"""The scheduler's answers on ``kubefed.query.*``: placement preview and explain (request/reply).

Both reuse what a real reconcile runs — :func:`decide` for placement and
:meth:`ReplicaScheduler.plan` (failover included) for replicas — with reads only: a preview publishes no
decision, writes nothing to the host and takes nothing from the eviction budget. Input reaching the
scheduler was already validated by a dry-run apply on the host (``kubefedctl preview`` sends what the
API server returned), so bad input got the API server's own errors; what only the scheduler checks
(overrides, selectors, RSP clusters) comes back as ``errors`` of the result, worded as in the object's
status.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import msgspec

from services.scheduler._decide_native import divided_replicas_of, native_reasons
from services.scheduler._history import placement_reasons_for, placement_summary
from services.scheduler._native import native_decision_subject
from services.scheduler._native_status import PROPAGATION, read_breakdown
from services.scheduler._preview import diff_objects, render_decision
from services.scheduler._reconciler import Reconciler, decision_subject
from services.scheduler._rsp import RSPS, TARGET_KINDS, PlannedReplicas, ReplicaScheduler, replicas_record
from services.scheduler._state import FederatedType, HostState, NativeType
from shared import subjects
from shared.bus import Bus, read_subject_history
from shared.errors import KubefedError
from shared.messages import (
    ClusterReason,
    DecisionRecord,
    ExplainReply,
    ExplainRequest,
    ObjectKey,
    PlacementDecision,
    PreviewObject,
    PreviewReply,
    PreviewRequest,
    decode,
    decode_query,
    encode_query,
)
from shared.planning import rsp_preferences_from_spec
from shared.telemetry import get_logger

__all__ = ["QueryServer", "merge_reasons"]

log = get_logger(__name__)

HISTORY_SCAN = 200  # records read back for explain (the stream keeps --history-depth per object)


def merge_reasons(
    placement: list[ClusterReason], replicas: list[ClusterReason] | None, result: Mapping[str, int] | None
) -> list[ClusterReason]:
    """Placement reasons with the RSP's reason and replica count of each cluster appended (pure)."""
    if not replicas:
        return placement
    by_cluster = {r.cluster: r for r in replicas}
    out: list[ClusterReason] = []
    for reason in placement:
        rsp = by_cluster.get(reason.cluster)
        if rsp is None:
            out.append(reason)
            continue
        count = (result or {}).get(reason.cluster, rsp.replicas)
        out.append(
            ClusterReason(
                cluster=reason.cluster,
                selected=reason.selected,
                reason=f"{reason.reason}; RSP: {rsp.reason}",
                replicas=count,
            )
        )
    return out


class QueryServer:
    """Answers preview and explain requests from the scheduler's own state."""

    def __init__(self, bus: Bus, state: HostState, reconciler: Reconciler, rsp: ReplicaScheduler) -> None:
        self.bus = bus
        self.state = state
        self.reconciler = reconciler
        self.rsp = rsp

    async def handle(self, data: bytes) -> bytes:
        """One request in, one reply out (bad requests get a reply with ``error``)."""
        try:
            request = decode_query(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return encode_query(PreviewReply(error=f"bad request: {exc}"))
        try:
            if not self.state.loaded:
                await self.state.refresh()
            if isinstance(request, PreviewRequest):
                return encode_query(await self.preview(request))
            if isinstance(request, ExplainRequest):
                return encode_query(await self.explain(request))
        except KubefedError as exc:
            return encode_query(PreviewReply(error=str(exc)))
        return encode_query(PreviewReply(error=f"not a request: {type(request).__name__}"))

    # -- preview ---------------------------------------------------------------------------------
    async def preview(self, request: PreviewRequest) -> PreviewReply:
        results: list[PreviewObject] = []
        for obj in request.objects:
            results.append(await self._preview_one(obj))
        return PreviewReply(results=results)

    def _type_of(self, obj: Mapping[str, Any]) -> FederatedType | None:
        api_version = str(obj.get("apiVersion") or "")
        group = api_version.rpartition("/")[0]
        kind = str(obj.get("kind") or "")
        return next(
            (t for t in self.state.types.values() if t.resource.kind == kind and t.resource.group == group),
            None,
        )

    def _native_of(self, obj: Mapping[str, Any]) -> NativeType | None:
        """The native type of ``obj`` when a propagation policy selects its kind."""
        api_version = str(obj.get("apiVersion") or "")
        kind = str(obj.get("kind") or "")
        return next(
            (
                t
                for t in self.state.native.values()
                if t.target.api_version == api_version and t.target.kind == kind
            ),
            None,
        )

    async def _preview_native(self, native: NativeType, obj: dict[str, Any]) -> PreviewObject:
        """A native object under the policies: the decision it would get, nothing stored or claimed."""
        meta = obj.get("metadata") or {}
        key = ObjectKey(
            resource=native.resource.qualified, namespace=str(meta.get("namespace") or ""), name=meta["name"]
        )
        stream, subject = native_decision_subject(native.target, key)
        last = await self.bus.get_last(stream, subject)
        previous = decode(last[0]) if last else None
        current = previous if isinstance(previous, PlacementDecision) and not previous.deleting else None
        decision, warning, choice = await self.reconciler.native.decide_now(
            native, key, obj, current, trace={}
        )
        policy = str(choice.policy) if choice.policy else ""
        secret = native.target.kind == "Secret" and native.target.group == ""
        rendered: dict[str, dict[str, Any]] = {}
        diffs: dict[str, str] = {}
        for cluster in sorted(c.name for c in self.state.policy_clusters):
            after = render_decision(decision, cluster)
            now = render_decision(current, cluster) if current is not None else None
            if secret:
                diffs[cluster] = "" if now == after else "(Secret changes; contents not shown)"
                continue
            if after is not None:
                rendered[cluster] = after
            diffs[cluster] = diff_objects(cluster, now, after)
        errors = [warning] if warning else []
        if not policy and not decision.clusters:
            errors.append("no propagation policy selects it")
        errors += [f"{c}: {e}" for c, e in sorted(decision.cluster_errors.items())]
        return PreviewObject(
            key=key,
            kind=native.target.kind,
            input_kind=native.target.kind,
            clusters=native_reasons(decision, policy, self.state.policy_clusters),
            replicas=divided_replicas_of(decision),
            rendered=rendered,
            diffs=diffs,
            inputs={"policy": policy, "action": choice.action},
            errors=errors,
        )

    async def _preview_one(self, obj: dict[str, Any]) -> PreviewObject:
        meta = obj.get("metadata") or {}
        namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        kind = str(obj.get("kind") or "")
        if kind == RSPS.kind and str(obj.get("apiVersion") or "").startswith(RSPS.group + "/"):
            return await self._preview_rsp(obj, namespace, name)
        fed_type = self._type_of(obj)
        native = self._native_of(obj) if fed_type is None else None
        if native is not None:
            return await self._preview_native(native, obj)
        if fed_type is None:
            return PreviewObject(
                key=ObjectKey(resource="", namespace=namespace, name=name),
                kind=kind,
                input_kind=kind,
                errors=[
                    f"{obj.get('apiVersion')}/{kind} is not an enabled federated type (kubefedctl enable)"
                ],
            )
        planned: PlannedReplicas | None = None
        errors: list[str] = []
        if fed_type.resource.kind in TARGET_KINDS:
            rsp = await self.state.host.get_or_none(RSPS, name, namespace)
            rsp_spec = (rsp or {}).get("spec") or {}
            if rsp is not None and rsp_spec.get("targetKind") == fed_type.resource.kind:
                planned, errors = await self._plan(rsp_spec, obj, fed_type)
        return await self._preview_fed(fed_type, obj, kind, planned, errors)

    async def _plan(
        self, spec: dict[str, Any], fed: dict[str, Any], fed_type: FederatedType
    ) -> tuple[PlannedReplicas | None, list[str]]:
        try:
            rsp_preferences_from_spec(spec)
            return await self.rsp.plan(spec, fed, fed_type, dry_run=True), []
        except (ValueError, TypeError) as exc:
            return None, [f"RSP: {exc}"]
        except KubefedError as exc:
            return None, [f"RSP: {exc}"]

    async def _preview_rsp(self, obj: dict[str, Any], namespace: str, name: str) -> PreviewObject:
        spec = obj.get("spec") or {}
        target_kind = str(spec.get("targetKind") or "")
        key = ObjectKey(resource="", namespace=namespace, name=name)
        if target_kind not in TARGET_KINDS:
            return PreviewObject(
                key=key,
                kind=target_kind,
                input_kind=RSPS.kind,
                errors=[f"unsupported targetKind {target_kind!r}"],
            )
        fed_type = next((t for t in self.state.types.values() if t.resource.kind == target_kind), None)
        if fed_type is None:
            return PreviewObject(
                key=key, kind=target_kind, input_kind=RSPS.kind, errors=[f"{target_kind} is not enabled"]
            )
        fed = await self.state.host.get_or_none(fed_type.resource, name, namespace)
        if fed is None:
            return PreviewObject(
                key=ObjectKey(resource=fed_type.resource.qualified, namespace=namespace, name=name),
                kind=target_kind,
                input_kind=RSPS.kind,
                errors=[f"no {target_kind} {namespace}/{name} for this RSP to schedule"],
            )
        planned, errors = await self._plan(spec, fed, fed_type)
        return await self._preview_fed(fed_type, fed, RSPS.kind, planned, errors)

    async def _preview_fed(
        self,
        fed_type: FederatedType,
        fed: dict[str, Any],
        input_kind: str,
        planned: PlannedReplicas | None,
        errors: list[str],
    ) -> PreviewObject:
        meta = fed.get("metadata") or {}
        key = ObjectKey(
            resource=fed_type.resource.qualified,
            namespace=str(meta.get("namespace") or ""),
            name=meta["name"],
        )
        if planned is not None and planned.new_spec is not None:
            fed = {**copy.deepcopy(fed), "spec": planned.new_spec}
        stream, subject = decision_subject(fed_type, key)
        last = await self.bus.get_last(stream, subject)
        previous = decode(last[0]) if last else None
        current = previous if isinstance(previous, PlacementDecision) and not previous.deleting else None
        decision, ns_placement = await self.reconciler.decide_now(fed_type, key, fed, current, trace={})
        reasons = placement_reasons_for(fed, decision, self.state.clusters, ns_placement)
        inputs: dict[str, Any] = {}
        replicas = placement_summary(decision)["replicas"]
        if planned is not None:
            _, rsp_reasons, _, inputs = replicas_record(fed_type, fed, planned, self.state.clusters)
            reasons = merge_reasons(reasons, rsp_reasons, planned.result)
            replicas = dict(planned.result)
        secret = fed_type.target.kind == "Secret" and fed_type.target.group == ""
        rendered: dict[str, dict[str, Any]] = {}
        diffs: dict[str, str] = {}
        for cluster in sorted({c.name for c in self.state.clusters}):
            after = render_decision(decision, cluster)
            now = render_decision(current, cluster) if current is not None else None
            if secret:  # never send Secret contents over the query subject
                diffs[cluster] = "" if now == after else "(Secret changes; contents not shown)"
                continue
            if after is not None:
                rendered[cluster] = after
            diffs[cluster] = diff_objects(cluster, now, after)
        if decision.aggregate_reason:
            errors.append(decision.aggregate_reason)
        errors += [f"{c}: {e}" for c, e in sorted(decision.cluster_errors.items())]
        return PreviewObject(
            key=key,
            kind=fed_type.resource.kind,
            input_kind=input_kind,
            clusters=reasons,
            replicas=replicas,
            rendered=rendered,
            diffs=diffs,
            inputs=inputs,
            errors=errors,
        )

    # -- explain ---------------------------------------------------------------------------------
    def _resolve(self, type_name: str) -> FederatedType | None:
        wanted = type_name.lower()
        for fed_type in self.state.types.values():
            names = {
                fed_type.resource.kind.lower(),
                fed_type.resource.plural,
                fed_type.resource.qualified,
                fed_type.target.kind.lower(),
                fed_type.target.plural,
                fed_type.target.resource,
            }
            if wanted in names:
                return fed_type
        return None

    def _resolve_native(self, type_name: str) -> NativeType | None:
        wanted = type_name.lower()
        for native in self.state.native.values():
            if wanted in {native.target.kind.lower(), native.target.plural, native.target.resource}:
                return native
        return None

    async def _explain_native(self, native: NativeType, request: ExplainRequest) -> ExplainReply:
        """The current placement of a native object under the policies, with the reason for each cluster
        and each cluster's propagation status (from its ``kubefed.io/member-status`` breakdown)."""
        namespace = request.namespace if native.resource.namespaced else ""
        key = ObjectKey(resource=native.resource.qualified, namespace=namespace, name=request.name)
        obj = await self.state.host.get_or_none(native.resource, key.name, key.namespace or None)
        if obj is None:
            return ExplainReply(
                key=key, kind=native.target.kind, error=f"{native.target.kind} {key} not found"
            )
        obj.setdefault("apiVersion", native.resource.api_version)
        obj.setdefault("kind", native.resource.kind)
        preview = await self._preview_native(native, obj)
        status = {c: str(e.get(PROPAGATION) or "Propagated") for c, e in read_breakdown(obj).items()}
        clusters = preview.clusters
        if request.cluster:
            clusters = [c for c in clusters if c.cluster == request.cluster]
            status = {c: s for c, s in status.items() if c == request.cluster}
        records = await self._records(key)
        return ExplainReply(
            key=key,
            kind=native.target.kind,
            clusters=clusters,
            status=status,
            current=records[-1] if records else None,
            history=records[-request.history :] if request.history > 0 else [],
        )

    async def _records(self, key: ObjectKey) -> list[DecisionRecord]:
        """The decision history of ``key`` kept on the bus, oldest first."""
        subject = subjects.history_subject(key.resource, key.namespace, key.name)
        records: list[DecisionRecord] = []
        for data in await read_subject_history(
            self.bus, subjects.STREAM_HISTORY, subject, limit=HISTORY_SCAN
        ):
            try:
                record = decode(data)
            except msgspec.DecodeError:
                continue
            if isinstance(record, DecisionRecord):
                records.append(record)
        return records

    async def explain(self, request: ExplainRequest) -> ExplainReply:
        fed_type = self._resolve(request.type_name)
        native = self._resolve_native(request.type_name)
        if native is not None and fed_type is None:
            return await self._explain_native(native, request)
        if fed_type is None:
            return ExplainReply(error=f'no enabled federated type is called "{request.type_name}"')
        namespace = request.namespace if fed_type.resource.namespaced else ""
        key = ObjectKey(resource=fed_type.resource.qualified, namespace=namespace, name=request.name)
        records = await self._records(key)
        fed = await self.state.host.get_or_none(fed_type.resource, key.name, key.namespace or None)
        if fed is None and not records and native is not None:
            return await self._explain_native(native, request)  # "deployment/x": the native one exists
        if fed is None and not records:
            return ExplainReply(
                key=key, kind=fed_type.resource.kind, error=f"{fed_type.resource.kind} {key} not found"
            )
        clusters: list[ClusterReason] = []
        current = next((r for r in reversed(records) if r.source == "placement"), None)
        if fed is not None:
            preview = await self._preview_fed(fed_type, fed, fed_type.resource.kind, None, [])
            latest_rsp = next((r for r in reversed(records) if r.source == "replicas"), None)
            clusters = merge_reasons(preview.clusters, latest_rsp.reasons if latest_rsp else None, None)
        status = {
            str(c.get("name")): str(c.get("status") or "Propagated")
            for c in ((fed or {}).get("status") or {}).get("clusters") or []
            if isinstance(c, Mapping)
        }
        if request.cluster:
            clusters = [c for c in clusters if c.cluster == request.cluster]
            status = {c: s for c, s in status.items() if c == request.cluster}
        history = records[-request.history :] if request.history > 0 else []
        return ExplainReply(
            key=key,
            kind=fed_type.resource.kind,
            clusters=clusters,
            status=status,
            current=current,
            history=history,
        )
