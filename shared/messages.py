"""Every message that crosses the bus: the only contract between the services.

Messages are frozen, tagged msgspec Structs with a ``schema`` version. They carry *keys and decisions*,
never watch diffs: a consumer that gets a :class:`HostChange` re-reads the object from the API server
(level-triggered, like controller-runtime's ``reconcile.Request``), so redelivery and coalescing are
harmless.

Why one :class:`PlacementDecision` per federated object instead of one message per object × cluster:
nats-py publishes roughly 4,500 acknowledged messages per second on our machines, so a per-cluster
fan-out costs seconds per thousand objects at fleet scale. The decision carries the template, the
placement and the per-cluster overrides; every propagator renders it for its own clusters. Outcomes
travel back in :class:`StatusReport` batches, one per cluster and flush interval.

Trace context travels in NATS headers (W3C ``traceparent``); decisions and outcomes additionally carry
the carrier of the change that caused them in ``trace``, so that a batched status report can still
attribute each outcome to the trace of its change.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = [
    "SCHEMA_VERSION",
    "ClusterHealthReport",
    "ClusterOutcome",
    "ClusterReason",
    "DecisionRecord",
    "ExplainReply",
    "ExplainRequest",
    "HostChange",
    "LeaseRecord",
    "Message",
    "MemberObservation",
    "ObjectKey",
    "PlacementDecision",
    "PreviewObject",
    "PreviewReply",
    "PreviewRequest",
    "REMOVED_OPS",
    "ResourceRelisted",
    "StatusReport",
    "TargetType",
    "WorkloadObservation",
    "decode",
    "decode_query",
    "encode",
    "encode_query",
]

SCHEMA_VERSION = 1


class ObjectKey(msgspec.Struct, frozen=True, kw_only=True, order=True):
    """Identifies one object: ``resource`` is ``plural.group`` (``configmaps`` for the core group)."""

    resource: str
    namespace: str = ""
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


class TargetType(msgspec.Struct, frozen=True, kw_only=True):
    """The member-cluster type a federated type propagates (FederatedTypeConfig ``spec.targetType``)."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def resource(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


class HostChange(msgspec.Struct, frozen=True, kw_only=True, tag="host.change"):
    """A host object changed or disappeared; consumers re-read it."""

    schema: int = SCHEMA_VERSION
    key: ObjectKey
    resource_version: str = ""
    generation: int = 0
    deleted: bool = False


class ResourceRelisted(msgspec.Struct, frozen=True, kw_only=True, tag="host.relisted"):
    """The watcher relisted a resource (start or 410 Gone): objects may have vanished meanwhile."""

    schema: int = SCHEMA_VERSION
    resource: str
    resource_version: str
    count: int


class PlacementDecision(msgspec.Struct, frozen=True, kw_only=True, tag="desired"):
    """The scheduler's decision for one federated object, rendered per cluster by the propagators.

    ``host_uid`` binds the decision to the host cluster it was derived from (the UID of its
    ``kube-system`` namespace, :mod:`shared.runtime._host`): a decision of another host is never acted
    on. ``source_uid`` is the UID of the federated object it was derived from, so an object deleted and
    created again under the same name gets a new decision. ``source_rv`` is for people and equality
    only: resourceVersions are opaque and are never ordered.
    """

    schema: int = SCHEMA_VERSION
    key: ObjectKey
    target: TargetType
    template: dict[str, Any] = {}
    clusters: list[str] = []
    overrides: dict[str, list[dict[str, Any]]] = {}
    cluster_errors: dict[str, str] = {}
    retain_replicas: bool = False
    adopt: bool = True
    deleting: bool = False
    orphan: bool = False
    delete_options: dict[str, Any] | None = None
    collect_status: bool = False
    generation: int = 0
    source_rv: str = ""
    source_uid: str = ""
    host_uid: str = ""
    template_hash: str = ""
    aggregate_reason: str = ""
    # a native workload under a policy with ``propagateDeps``: the ConfigMaps, Secrets, ServiceAccounts
    # and PVCs its pod template references, which follow it to its clusters (propagators ignore this)
    dependencies: list[ObjectKey] = []
    attempt: int = 0
    decided_at: float = 0.0
    trace: dict[str, str] = {}


class ClusterOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What a propagator did for one object in one cluster.

    ``status`` is KubeFed's per-cluster status value (``""`` when OK); ``op`` is what happened
    (created, updated, unchanged, deleted, absent, unlabelled, failed, skipped).
    """

    key: ObjectKey
    cluster: str
    status: str = ""
    op: str = ""
    generation: int = 0
    template_hash: str = ""
    message: str = ""
    remote_status: dict[str, Any] | None = None
    trace: dict[str, str] = {}
    # the member object's version after this outcome, as KubeFed records it in PropagatedVersions:
    # "gen:<generation>" when the object has one, else "rv:<resourceVersion>"; "" when absent or failed
    version: str = ""


# ClusterOutcome ops that mean the member no longer holds the object as a managed one
REMOVED_OPS = frozenset({"deleted", "absent", "unlabelled"})


class StatusReport(msgspec.Struct, frozen=True, kw_only=True, tag="status.report"):
    """A batch of outcomes from one propagator for one cluster."""

    schema: int = SCHEMA_VERSION
    cluster: str
    outcomes: list[ClusterOutcome] = []


class ClusterHealthReport(msgspec.Struct, frozen=True, kw_only=True, tag="health"):
    """One health probe of a member cluster (KubeFed's ``/healthz`` + ``/version`` + node topology)."""

    schema: int = SCHEMA_VERSION
    cluster: str
    reachable: bool
    healthy: bool
    config_malformed: bool = False
    error: str = ""
    kubernetes_version: str = ""
    region: str = ""
    zones: list[str] = []
    probed_at: str = ""
    ready: bool = False
    conditions: list[dict[str, Any]] = []
    # pods the cluster's nodes can hold (sum of allocatable ``pods``) and pods not finished on it: their
    # difference is Karmada's "available replicas" for ``dynamicWeight: AvailableReplicas`` (None: unknown)
    allocatable_pods: int | None = None
    running_pods: int | None = None


class MemberObservation(msgspec.Struct, frozen=True, kw_only=True, tag="member.observation"):
    """The part of a member object the DNS service needs (Service, Endpoints or Ingress)."""

    schema: int = SCHEMA_VERSION
    cluster: str
    kind: str
    namespace: str
    name: str
    deleted: bool = False
    lb_ips: list[str] = []
    lb_hostnames: list[str] = []
    ready_addresses: int = 0
    trace: dict[str, str] = {}


class WorkloadObservation(msgspec.Struct, frozen=True, kw_only=True, tag="member.workload"):
    """The replica state of one managed member Deployment/ReplicaSet, for replica scheduling (§2.7).

    Counts only, evaluated by the propagator that sees the pods: ``current`` is KubeFed's running-
    and-ready count, ``capacity`` is ``replicas - unschedulable`` when pods have stayed unschedulable
    longer than the threshold (``None``: unconstrained), ``recheck`` says younger unschedulable pods
    exist (the propagator observes again when they cross the threshold).
    """

    schema: int = SCHEMA_VERSION
    cluster: str
    kind: str
    namespace: str
    name: str
    deleted: bool = False
    replicas: int = 0
    ready_replicas: int = 0
    current: int = 0
    capacity: int | None = None
    recheck: bool = False
    trace: dict[str, str] = {}


class LeaseRecord(msgspec.Struct, frozen=True, kw_only=True):
    """The value of a leader-election key in the ``kubefed-leases`` bucket (client-go's LeaderElectionRecord).

    Candidates judge expiry on their own monotonic clock from the moment they last saw the record
    change, never by comparing ``renew_time`` with their wall clock, so clock skew between replicas
    cannot hand the lease to two holders. The times are for people (``kubefedctl status``, logs).
    """

    schema: int = SCHEMA_VERSION
    holder_identity: str
    lease_duration_seconds: float
    acquire_time: str = ""
    renew_time: str = ""
    leader_transitions: int = 0


class ClusterReason(msgspec.Struct, frozen=True, kw_only=True):
    """Why one cluster is (not) part of a decision; ``replicas`` for divided placement."""

    cluster: str
    selected: bool
    reason: str
    replicas: int | None = None


class DecisionRecord(msgspec.Struct, frozen=True, kw_only=True, tag="history.decision"):
    """One entry of an object's decision history (``kubefed.history.<res>.<ns>.<name>``).

    ``source`` is ``placement`` (the scheduler published a new :class:`PlacementDecision`) or
    ``replicas`` (the replica scheduler wrote a new RSP plan, failover included). ``summary`` holds what
    :func:`shared.planning.decision_changes` compares (clusters, replicas, template/override digests,
    evicted clusters); ``changes`` is that comparison with the previous record of the same object;
    ``inputs`` the RSP plan inputs (weights, capacity, current, ready clusters, evictions);
    ``manager``/``operation`` the host object's latest managedFields entry; ``trace_id`` the W3C trace
    of the change that caused the decision. Never carries templates or Secret data.
    """

    schema: int = SCHEMA_VERSION
    key: ObjectKey
    source: str
    decided_at: float
    generation: int = 0
    source_rv: str = ""
    clusters: list[str] = []
    reasons: list[ClusterReason] = []
    summary: dict[str, Any] = {}
    changes: list[str] = []
    inputs: dict[str, Any] = {}
    manager: str = ""
    operation: str = ""
    trace_id: str = ""


class PreviewRequest(msgspec.Struct, frozen=True, kw_only=True, tag="query.preview"):
    """``kubefedctl preview``: objects as a real apply would store them (already validated by a dry-run
    apply on the host); the scheduler computes their effect and stores nothing."""

    schema: int = SCHEMA_VERSION
    objects: list[dict[str, Any]] = []


class PreviewObject(msgspec.Struct, frozen=True, kw_only=True):
    """The effect of one previewed object on one federated object: clusters with reasons, replica split,
    and per cluster the rendered object and its diff against what the current decision renders there."""

    key: ObjectKey
    kind: str
    input_kind: str
    clusters: list[ClusterReason] = []
    replicas: dict[str, int] = {}
    rendered: dict[str, dict[str, Any]] = {}
    diffs: dict[str, str] = {}
    inputs: dict[str, Any] = {}
    errors: list[str] = []


class PreviewReply(msgspec.Struct, frozen=True, kw_only=True, tag="query.preview.reply"):
    schema: int = SCHEMA_VERSION
    results: list[PreviewObject] = []
    error: str = ""


class ExplainRequest(msgspec.Struct, frozen=True, kw_only=True, tag="query.explain"):
    """``kubefedctl explain <type>/<name>``: ``type_name`` is a federated or target kind, plural or
    ``plural.group``; ``history`` the number of past decisions wanted (0: the current one only)."""

    schema: int = SCHEMA_VERSION
    type_name: str
    namespace: str = ""
    name: str
    cluster: str = ""
    history: int = 0


class ExplainReply(msgspec.Struct, frozen=True, kw_only=True, tag="query.explain.reply"):
    schema: int = SCHEMA_VERSION
    key: ObjectKey | None = None
    kind: str = ""
    clusters: list[ClusterReason] = []
    status: dict[str, str] = {}
    current: DecisionRecord | None = None
    history: list[DecisionRecord] = []
    error: str = ""


Query = PreviewRequest | PreviewReply | ExplainRequest | ExplainReply

Message = (
    HostChange
    | ResourceRelisted
    | PlacementDecision
    | StatusReport
    | ClusterHealthReport
    | MemberObservation
    | WorkloadObservation
    | DecisionRecord
)

_encoder = msgspec.json.Encoder()
_decoder: msgspec.json.Decoder[Message] = msgspec.json.Decoder(Message)


def encode(message: Message) -> bytes:
    """Serialise a message to JSON bytes."""
    return _encoder.encode(message)


def decode(data: bytes) -> Message:
    """Parse JSON bytes into the tagged message type; raises ``msgspec.ValidationError`` on bad input."""
    return _decoder.decode(data)


_query_decoder: msgspec.json.Decoder[Query] = msgspec.json.Decoder(Query)


def encode_query(query: Query) -> bytes:
    """Serialise a request/reply message (``kubefed.query.*``) to JSON bytes."""
    return _encoder.encode(query)


def decode_query(data: bytes) -> Query:
    """Parse a request/reply message; raises ``msgspec.ValidationError`` / ``DecodeError`` on bad input."""
    return _query_decoder.decode(data)
