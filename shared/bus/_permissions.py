"""Least-privilege NATS permissions for each service: the one table, rendered for nats-server.

Every service gets an allow-list of exactly the subjects its code uses; anything else is denied by
nats-server (docs/security.md has the threat model). What each entry is for:

- **its own publishes** (JetStream stores what a user publishes to a stream subject; nothing checks
  who publishes, so the publish allow-list *is* the write permission on a stream);
- ``$JS.API.STREAM.INFO.<stream>`` for every stream it uses (waiting until the scheduler declared it,
  replay start points);
- a **durable pull consumer**: ``CONSUMER.INFO`` / ``CONSUMER.CREATE`` of that one consumer name,
  ``CONSUMER.MSG.NEXT`` (fetch) and ``$JS.ACK.<stream>.<consumer>.>`` (ack/nak/term);
- an **ordered replay**: ephemeral ``CONSUMER.CREATE.<stream>`` and flow-control replies
  ``$JS.FC.<stream>.>``;
- a **KV bucket**: its stream's info, direct gets, and publishes on ``$KV.<bucket>.>``;
- **subscribe** only to its own inbox prefix (``_INBOX.<user>``): deliveries and replies go to inboxes,
  so ``_INBOX.>`` would let a user read every other service's consumers, Secrets included.

Only the scheduler may create or update streams: a user who may define a stream can mirror or source
``KUBEFED_SECRETS`` into it (the server does not check the creator's read permission on the origin) or
republish it to a subject it can read. The scheduler already reads and writes every decision.

``kubefedctl`` (``kubefedctl preview`` / ``explain``) may only publish the two query subjects; the
scheduler answers them (subscribe ``kubefed.query.*``, ``allow_responses``) and is the only user that
publishes and reads the decision history (``KUBEFED_HISTORY``).

The propagator variant ``kubefed-propagator-nosecrets`` (``kubefed propagator --no-secrets``) and the
DNS service have nothing on ``KUBEFED_SECRETS`` / ``kubefed.secret.>``: no consumer, message get, direct
get, stream info or subscription; ``tests/bus_cluster/test_permissions.py`` tries each of these paths
against a real nats-server with the shipped configuration.

A regional leaf node logs in to the hub as ``kubefed-region`` (a user only leaf node connections may
use). For a leaf node connection nats-server reads the user's permissions as what flows: its
*publish* list is what the region may send into the hub, its *subscribe* list what the hub sends into
the region. ``kubefed-region`` carries only the JetStream traffic of the regional design: the region's
mirrors of the hub's decision streams (their consumer creates, flow control) and the hub's sources
of the region's report streams (the hub's consumer creates in the region's domain, their deliveries
and flow control), plus JetStream's internal replies. A region cannot publish host changes or
decisions into the hub, call any other JetStream API of the hub (no message get, purge, stream or
consumer of another stream), nor receive the hub's other traffic (``tests/bus_cluster/test_leaf.py``).

``python -m shared.bus._permissions [<auth dir> [<leaf dir>]]`` writes ``permissions.conf`` (variables
for nats.conf, one per service user) and ``leaf-permissions.conf`` (the leaf node user's);
``deploy/kustomize/components/nats-auth`` and ``components/nats-leafnodes`` hold that output and a test
fails while it differs.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from shared import subjects

__all__ = [
    "LEAF_USER",
    "render_leaf_conf",
    "USERS",
    "Permissions",
    "leaf_permissions",
    "permissions_for",
    "render_conf",
    "variable_name",
]

_API = "$JS.API"
_KV_STREAMS = {b: f"KV_{b}" for b in (subjects.BUCKET_LEASES, subjects.BUCKET_CHECKPOINTS)}
ALL_DECLARED = (*subjects.ALL_STREAMS, *_KV_STREAMS.values())


@dataclass(frozen=True)
class Permissions:
    """Allow-lists of one NATS user (everything not listed is denied); ``allow_responses`` lets it
    answer requests it received (one reply each, to the asker's inbox, nothing else)."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    allow_responses: bool = False


def _info(*streams: str) -> list[str]:
    return [f"{_API}.STREAM.INFO.{s}" for s in streams]


def _durable(stream: str, durable: str, *, filters: int = 0) -> list[str]:
    """A durable pull consumer. nats-py creates one with a single filter subject on
    ``CONSUMER.CREATE.<stream>.<durable>.<filter>`` and one with several on ``…<durable>``; with
    ``filters`` known (``PullConsumer``'s ``filter_subjects``) only that form is granted."""
    create = f"{_API}.CONSUMER.CREATE.{stream}.{durable}"
    forms = [create] if filters > 1 else [f"{create}.>"] if filters == 1 else [create, f"{create}.>"]
    return [
        f"{_API}.CONSUMER.INFO.{stream}.{durable}",
        *forms,
        f"{_API}.CONSUMER.MSG.NEXT.{stream}.{durable}",
        f"$JS.ACK.{stream}.{durable}.>",
    ]


def _replay(stream: str) -> list[str]:
    return [f"{_API}.CONSUMER.CREATE.{stream}", f"$JS.FC.{stream}.>"]


def _kv(bucket: str) -> list[str]:
    stream = _KV_STREAMS[bucket]
    return [
        *_info(stream),
        f"{_API}.DIRECT.GET.{stream}.>",
        f"{_API}.STREAM.MSG.GET.{stream}",
        f"$KV.{bucket}.>",
    ]


def _watcher() -> list[str]:
    return [
        f"{subjects.HOST_PREFIX}.>",
        f"{subjects.RELIST_PREFIX}.>",
        *_info(subjects.STREAM_HOST),
        *_kv(subjects.BUCKET_LEASES),
        *_kv(subjects.BUCKET_CHECKPOINTS),
    ]


def _scheduler() -> list[str]:
    decisions = (subjects.STREAM_DESIRED, subjects.STREAM_SECRETS)
    return [
        f"{subjects.DESIRED_PREFIX}.>",
        f"{subjects.SECRET_PREFIX}.>",
        f"{subjects.HISTORY_PREFIX}.>",
        *(f"{_API}.STREAM.{op}.{s}" for op in ("CREATE", "UPDATE", "INFO") for s in ALL_DECLARED),
        *(f"{_API}.STREAM.PURGE.{s}" for s in decisions),
        *(
            f"{_API}.STREAM.MSG.GET.{s}"
            for s in (*decisions, subjects.STREAM_STATUS, subjects.STREAM_MEMBER, subjects.STREAM_HISTORY)
        ),
        # filter counts as in services/scheduler/_service.py: the scheduler's operator-mode JWT must fit
        # nats-server's 4 KiB CONNECT line (max_control_line), so it gets no unused create form
        *_durable(subjects.STREAM_HOST, "scheduler", filters=2),
        *_durable(subjects.STREAM_STATUS, "status-writer", filters=1),
        *_durable(subjects.STREAM_HEALTH, "health-writer", filters=1),
        *_durable(subjects.STREAM_MEMBER, "rsp", filters=2),
    ]


def _propagator(*, secrets: bool) -> list[str]:
    replays = (subjects.STREAM_DESIRED, subjects.STREAM_SECRETS) if secrets else (subjects.STREAM_DESIRED,)
    reports = (subjects.STREAM_STATUS, subjects.STREAM_HEALTH, subjects.STREAM_MEMBER)
    return [
        f"{subjects.STATUS_PREFIX}.>",
        f"{subjects.HEALTH_PREFIX}.>",
        f"{subjects.MEMBER_PREFIX}.>",
        *_info(*replays, *reports),
        *(p for s in replays for p in _replay(s)),
    ]


def _dns() -> list[str]:
    return [
        *_info(subjects.STREAM_HOST, subjects.STREAM_MEMBER),
        *_durable(subjects.STREAM_HOST, "dns"),
        *_replay(subjects.STREAM_MEMBER),
    ]


def _kubefedctl() -> list[str]:
    """``kubefedctl preview`` / ``explain``: ask the scheduler, nothing else (replies come to its inbox)."""
    return [subjects.QUERY_PREVIEW, subjects.QUERY_EXPLAIN]


# NATS user name → what it may publish; every user may subscribe to its own inbox prefix, the scheduler
# also to the query subjects it answers (queue group "scheduler"; replies need allow_responses).
_SUBSCRIBE = {"kubefed-scheduler": (f"{subjects.QUERY_PREFIX}.*",)}
_RESPONDS = frozenset({"kubefed-scheduler"})
_PUBLISH = {
    "kubefed-watcher": _watcher(),
    "kubefed-scheduler": _scheduler(),
    "kubefed-propagator": _propagator(secrets=True),
    "kubefed-propagator-nosecrets": _propagator(secrets=False),
    "kubefed-dns": _dns(),
    "kubefedctl": _kubefedctl(),
}
USERS: tuple[str, ...] = tuple(_PUBLISH)
LEAF_USER = "kubefed-region"  # the user regional leaf nodes log in to the hub with


def leaf_permissions() -> Permissions:
    """What may flow over a regional leaf node connection (publish: region → hub; subscribe: hub → region).

    Domains are wildcards (``$JS.*.API``): one user serves every region, and the hub's domain is
    configurable.
    """
    mirrored = (subjects.STREAM_DESIRED, subjects.STREAM_SECRETS)
    sourced = (subjects.STREAM_STATUS, subjects.STREAM_HEALTH, subjects.STREAM_MEMBER)

    def consumer_create(stream: str) -> list[str]:
        return [f"$JS.*.API.CONSUMER.CREATE.{stream}", f"$JS.*.API.CONSUMER.CREATE.{stream}.>"]

    def flow_control(stream: str) -> list[str]:
        return [f"$JS.FC.{stream}.>", f"$JS.FC.*.*.{stream}.>"]

    internal_replies = "$JSC.R.>"  # answers to JetStream's own API requests (mirror and source setup)
    return Permissions(
        publish=(
            *(p for s in mirrored for p in consumer_create(s)),  # the region's mirrors read the hub
            *(p for s in mirrored for p in flow_control(s)),
            "$JS.S.>",  # deliveries into the hub's sources of the region's report streams
            internal_replies,
        ),
        subscribe=(
            *(p for s in sourced for p in consumer_create(s)),  # the hub's sources read the region
            *(p for s in sourced for p in flow_control(s)),
            "$JS.M.>",  # deliveries into the region's mirrors
            internal_replies,
        ),
    )


def permissions_for(user: str, *, inbox_prefix: str | None = None) -> Permissions:
    """The allow-lists of ``user``; its inbox prefix is ``_INBOX.<user>`` unless given."""
    inbox = inbox_prefix or f"_INBOX.{user}"
    return Permissions(
        publish=tuple(_PUBLISH[user]),
        subscribe=(f"{inbox}.>", *_SUBSCRIBE.get(user, ())),
        allow_responses=user in _RESPONDS,
    )


def variable_name(user: str) -> str:
    """The nats.conf variable holding ``user``'s permissions (``KUBEFED_DNS_PERMISSIONS``)."""
    return user.upper().replace("-", "_") + "_PERMISSIONS"


def _block(values: tuple[str, ...]) -> str:
    return "".join(f'      "{v}"\n' for v in values)


def render_conf() -> str:
    """nats.conf variables, one permissions block per user, for ``include`` before ``authorization``."""
    out = [
        "# Generated by `python -m shared.bus._permissions` from shared/bus/_permissions.py; do not edit.\n",
        "# Least-privilege permissions per kubefed service (docs/security.md): allow-lists, all else "
        "denied.\n",
    ]
    for user in USERS:
        out.append(_variable(user, permissions_for(user)))
    return "".join(out)


def render_leaf_conf() -> str:
    """The nats.conf variable of :data:`LEAF_USER` (a file of its own: nats-server refuses a variable
    that no user refers to, and only hubs with leaf nodes have that user)."""
    return (
        "# Generated by `python -m shared.bus._permissions` from shared/bus/_permissions.py; do not edit.\n"
        "# What a regional leaf node may send into the hub (publish) and receive from it (subscribe).\n"
        + _variable(LEAF_USER, leaf_permissions())
    )


def _variable(user: str, p: Permissions) -> str:
    responses = "  allow_responses: true\n" if p.allow_responses else ""
    return (
        f"\n{variable_name(user)} = {{\n  publish: {{\n    allow: [\n{_block(p.publish)}    ]\n  }}\n"
        f"  subscribe: {{\n    allow: [\n{_block(p.subscribe)}    ]\n  }}\n{responses}}}\n"
    )


def main(argv: list[str]) -> None:
    """Write ``permissions.conf`` into ``argv[0]`` (nats-auth) and ``leaf-permissions.conf`` into
    ``argv[1]`` (nats-leafnodes)."""
    auth = argv[0] if argv else "deploy/kustomize/components/nats-auth"
    leaf = argv[1] if len(argv) > 1 else "deploy/kustomize/components/nats-leafnodes"
    Path(auth, "permissions.conf").write_text(render_conf())
    Path(leaf, "leaf-permissions.conf").write_text(render_leaf_conf())


if __name__ == "__main__":
    main(sys.argv[1:])
