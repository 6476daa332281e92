"""Subject names, stream names and the token encoding that keeps any Kubernetes name safe in a subject.

NATS subjects use ``.`` as the token separator and reserve ``*`` and ``>`` as wildcards; Kubernetes
names (``plural.group``, DNS-1123 subdomains such as ``my.app``) contain dots. Every variable part of a
subject therefore goes through :func:`encode_token`, a percent-encoding of every character outside
``[A-Za-z0-9-]``; the empty string (cluster-scoped objects have no namespace) becomes ``_``, which
percent-encoding can never produce. :func:`decode_token` reverses it exactly.

Span names must stay low-cardinality (OpenTelemetry messaging conventions), so every subject family
also has a *template* (``kubefed.desired.{resource}.{namespace}.{name}``) used in span names, while the
concrete subject goes into ``messaging.destination.name``.

Streams (created idempotently by :mod:`shared.bus`):

==================  ==============================  ===================================================
stream              subjects                        semantics
==================  ==============================  ===================================================
KUBEFED_HOST        kubefed.host.<res>.<ns>.<name>  last change per host object (max 1 msg/subject):
                    kubefed.relist.<res>            bursts on one object coalesce; level-triggered keys
KUBEFED_DESIRED     kubefed.desired.<res>.<ns>.<n>  the scheduler's current decision per object; the
                                                    propagators replay it on start (last per subject)
KUBEFED_SECRETS     kubefed.secret.<res>.<ns>.<n>   decisions for Secret objects, in their own stream so
                                                    NATS permissions can hide them from other services
KUBEFED_STATUS      kubefed.status.<cluster>        batched per-cluster outcomes (work queue)
KUBEFED_HEALTH      kubefed.health.<cluster>        latest health probe result per cluster
KUBEFED_MEMBER      kubefed.member.<cluster>.<kind>.<ns>.<name>  latest observation of member objects
                                                    the DNS service needs (Services, Endpoints, Ingresses,
                                                    node topology)
KUBEFED_HISTORY     kubefed.history.<res>.<ns>.<n>  the last N decisions of each federated object with
                                                    their reasons (``kubefedctl explain --history``)
==================  ==============================  ===================================================

Request/reply (no stream; the scheduler answers, queue group ``scheduler``): ``kubefed.query.preview``
(``kubefedctl preview``: computes, stores nothing) and ``kubefed.query.explain`` (``kubefedctl explain``).
"""

from __future__ import annotations

import base64
import re
import string

__all__ = [
    "ALL_STREAMS",
    "BUCKET_CHECKPOINTS",
    "BUCKET_LEASES",
    "STREAM_DESIRED",
    "QUERY_EXPLAIN",
    "QUERY_PREVIEW",
    "STREAM_HEALTH",
    "STREAM_HISTORY",
    "STREAM_HOST",
    "STREAM_MEMBER",
    "STREAM_SECRETS",
    "STREAM_STATUS",
    "SubjectParts",
    "decode_token",
    "desired_subject",
    "encode_token",
    "health_subject",
    "history_subject",
    "host_filter",
    "kv_key",
    "host_subject",
    "member_filter",
    "member_subject",
    "parse_member_subject",
    "parse_object_subject",
    "relist_subject",
    "status_subject",
    "template_of",
]

_SAFE = frozenset(string.ascii_letters + string.digits + "-")
_ALL_SAFE = re.compile(r"[A-Za-z0-9-]+")  # a token made of these stays as it is
EMPTY_TOKEN = "_"

STREAM_HOST = "KUBEFED_HOST"
STREAM_DESIRED = "KUBEFED_DESIRED"
STREAM_SECRETS = "KUBEFED_SECRETS"
STREAM_STATUS = "KUBEFED_STATUS"
STREAM_HEALTH = "KUBEFED_HEALTH"
STREAM_MEMBER = "KUBEFED_MEMBER"
STREAM_HISTORY = "KUBEFED_HISTORY"
ALL_STREAMS = (
    STREAM_HOST,
    STREAM_DESIRED,
    STREAM_SECRETS,
    STREAM_STATUS,
    STREAM_HEALTH,
    STREAM_MEMBER,
    STREAM_HISTORY,
)
BUCKET_LEASES = "kubefed-leases"
BUCKET_CHECKPOINTS = "kubefed-checkpoints"

HOST_PREFIX = "kubefed.host"
RELIST_PREFIX = "kubefed.relist"
DESIRED_PREFIX = "kubefed.desired"
SECRET_PREFIX = "kubefed.secret"
STATUS_PREFIX = "kubefed.status"
HEALTH_PREFIX = "kubefed.health"
MEMBER_PREFIX = "kubefed.member"
HISTORY_PREFIX = "kubefed.history"
QUERY_PREFIX = "kubefed.query"
QUERY_PREVIEW = f"{QUERY_PREFIX}.preview"
QUERY_EXPLAIN = f"{QUERY_PREFIX}.explain"

STREAM_SUBJECTS: dict[str, tuple[str, ...]] = {
    STREAM_HOST: (f"{HOST_PREFIX}.>", f"{RELIST_PREFIX}.>"),
    STREAM_DESIRED: (f"{DESIRED_PREFIX}.>",),
    STREAM_SECRETS: (f"{SECRET_PREFIX}.>",),
    STREAM_STATUS: (f"{STATUS_PREFIX}.>",),
    STREAM_HEALTH: (f"{HEALTH_PREFIX}.>",),
    STREAM_MEMBER: (f"{MEMBER_PREFIX}.>",),
    STREAM_HISTORY: (f"{HISTORY_PREFIX}.>",),
}

_TEMPLATES = {
    HOST_PREFIX: f"{HOST_PREFIX}.{{resource}}.{{namespace}}.{{name}}",
    RELIST_PREFIX: f"{RELIST_PREFIX}.{{resource}}",
    DESIRED_PREFIX: f"{DESIRED_PREFIX}.{{resource}}.{{namespace}}.{{name}}",
    SECRET_PREFIX: f"{SECRET_PREFIX}.{{resource}}.{{namespace}}.{{name}}",
    STATUS_PREFIX: f"{STATUS_PREFIX}.{{cluster}}",
    HEALTH_PREFIX: f"{HEALTH_PREFIX}.{{cluster}}",
    MEMBER_PREFIX: f"{MEMBER_PREFIX}.{{cluster}}.{{kind}}.{{namespace}}.{{name}}",
    HISTORY_PREFIX: f"{HISTORY_PREFIX}.{{resource}}.{{namespace}}.{{name}}",
}


def encode_token(value: str) -> str:
    """Encode one subject token so that any string (dots, wildcards, unicode) round-trips."""
    if value == "":
        return EMPTY_TOKEN
    if _ALL_SAFE.fullmatch(value):
        return value
    out: list[str] = []
    for ch in value:
        if ch in _SAFE:
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8"))
    return "".join(out)


def kv_key(value: str) -> str:
    """A KV key for any string (KV keys allow only ``[-/_=.a-zA-Z0-9]``): unpadded base64url."""
    return base64.urlsafe_b64encode(value.encode("utf-8")).decode().rstrip("=") or "_"


def decode_token(token: str) -> str:
    """Invert :func:`encode_token`; raises ``ValueError`` on a token it could not have produced."""
    if token == EMPTY_TOKEN:
        return ""
    raw = bytearray()
    i = 0
    while i < len(token):
        ch = token[i]
        if ch == "%":
            digits = token[i + 1 : i + 3]
            if len(digits) != 2 or not all(c in string.hexdigits for c in digits):
                raise ValueError(f"bad escape in subject token {token!r}")
            raw.append(int(digits, 16))
            i += 3
        elif ch in _SAFE:
            raw.extend(ch.encode())
            i += 1
        else:
            raise ValueError(f"invalid character {ch!r} in subject token {token!r}")
    return raw.decode("utf-8")


def _object(prefix: str, resource: str, namespace: str, name: str) -> str:
    return f"{prefix}.{encode_token(resource)}.{encode_token(namespace)}.{encode_token(name)}"


def host_subject(resource: str, namespace: str, name: str) -> str:
    """Subject of a change to a host-cluster object (``resource`` is ``plural.group``)."""
    return _object(HOST_PREFIX, resource, namespace, name)


def relist_subject(resource: str) -> str:
    """Subject announcing that the watcher relisted a resource (objects may have vanished)."""
    return f"{RELIST_PREFIX}.{encode_token(resource)}"


def desired_subject(resource: str, namespace: str, name: str, *, secret: bool = False) -> str:
    """Subject of the scheduler's decision for one federated object."""
    return _object(SECRET_PREFIX if secret else DESIRED_PREFIX, resource, namespace, name)


def history_subject(resource: str, namespace: str, name: str) -> str:
    """Subject of the decision history of one federated object."""
    return _object(HISTORY_PREFIX, resource, namespace, name)


def status_subject(cluster: str) -> str:
    """Subject of a propagator's batched outcomes for one member cluster."""
    return f"{STATUS_PREFIX}.{encode_token(cluster)}"


def health_subject(cluster: str) -> str:
    """Subject of the latest health probe of one member cluster."""
    return f"{HEALTH_PREFIX}.{encode_token(cluster)}"


def member_subject(cluster: str, kind: str, namespace: str, name: str) -> str:
    """Subject of an observation of one member-cluster object (for the DNS service)."""
    return (
        f"{MEMBER_PREFIX}.{encode_token(cluster)}.{encode_token(kind)}."
        f"{encode_token(namespace)}.{encode_token(name)}"
    )


def host_filter(resource: str) -> str:
    """Filter subject matching every host change of one resource (``plural.group``)."""
    return f"{HOST_PREFIX}.{encode_token(resource)}.>"


def member_filter(kind: str) -> str:
    """Filter subject matching observations of one member kind in every cluster."""
    return f"{MEMBER_PREFIX}.*.{encode_token(kind)}.>"


def parse_member_subject(subject: str) -> tuple[str, str, str, str]:
    """Decode ``kubefed.member.<cluster>.<kind>.<ns>.<name>`` into (cluster, kind, namespace, name)."""
    parts = subject.split(".")
    if len(parts) != 6 or f"{parts[0]}.{parts[1]}" != MEMBER_PREFIX:
        raise ValueError(f"not a member subject: {subject!r}")
    cluster, kind, namespace, name = (decode_token(p) for p in parts[2:])
    return cluster, kind, namespace, name


class SubjectParts(tuple[str, str, str]):
    """(resource, namespace, name) decoded from an object subject."""

    __slots__ = ()

    @property
    def resource(self) -> str:
        return self[0]

    @property
    def namespace(self) -> str:
        return self[1]

    @property
    def name(self) -> str:
        return self[2]


def parse_object_subject(subject: str) -> SubjectParts:
    """Decode ``<prefix>.<resource>.<namespace>.<name>`` (host, desired or secret subjects)."""
    parts = subject.split(".")
    if len(parts) != 5:
        raise ValueError(f"not an object subject: {subject!r}")
    return SubjectParts((decode_token(parts[2]), decode_token(parts[3]), decode_token(parts[4])))


def template_of(subject: str) -> str:
    """The low-cardinality template of a concrete subject, for span names and metrics labels."""
    for prefix, template in _TEMPLATES.items():
        if subject.startswith(prefix + "."):
            return template
    return subject
