"""The only package that talks to NATS (nats-py): connection, streams, publishing, consuming, leases."""

from shared.bus._connection import Bus, BusSettings
from shared.bus._consume import Delivery, PullConsumer, Replayer
from shared.bus._denials import PermissionDeniedError
from shared.bus._leases import LeaseElector, LeaseTimings, may_take_lease
from shared.bus._publish import Publisher
from shared.bus._query import ask, read_subject_history, serve_queries

__all__ = [
    "Bus",
    "BusSettings",
    "PermissionDeniedError",
    "Delivery",
    "LeaseElector",
    "LeaseTimings",
    "Publisher",
    "may_take_lease",
    "PullConsumer",
    "Replayer",
    "ask",
    "read_subject_history",
    "serve_queries",
]
