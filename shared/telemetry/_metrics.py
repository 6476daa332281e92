"""Prometheus metrics with the names operators' dashboards already know.

Work-queue and reconcile metrics copy controller-runtime's names and labels verbatim
(``workqueue_*``, ``controller_runtime_reconcile_*``) with our service names as the ``controller`` label,
so standard operator dashboards work unchanged. Domain metrics share the single prefix ``kubefed_``.
No label ever carries an object name or a concrete subject (cardinality). Per member cluster a
propagator exports counters and gauges and one histogram (``kubefed_propagation_latency_seconds``, for
the per-cluster SLO); request and work-queue latencies of member clusters are one histogram for the
fleet. No ``*_created`` series (Go's clients export none; they were a sample per counter and histogram).
"""

from __future__ import annotations

from typing import Any, TypeVar

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

__all__ = ["Metrics", "metrics"]

disable_created_metrics()  # type: ignore[no-untyped-call]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
RECONCILE_RESULTS = ("success", "error", "requeue", "requeue_after")
_M = TypeVar("_M", Counter, Gauge, Histogram)


class Metrics:
    """One registry per process holding every metric the services export."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self._series: dict[tuple[Any, tuple[str, ...]], Any] = {}
        self.workqueue_depth = Gauge(
            "workqueue_depth", "Current depth of workqueue", ["name", "controller"], registry=r
        )
        self.workqueue_adds = Counter(
            "workqueue_adds_total", "Total adds handled by workqueue", ["name", "controller"], registry=r
        )
        self.workqueue_queue_duration = Histogram(
            "workqueue_queue_duration_seconds",
            "How long an item stays in workqueue before being requested",
            ["name", "controller"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.workqueue_work_duration = Histogram(
            "workqueue_work_duration_seconds",
            "How long processing an item from workqueue takes",
            ["name", "controller"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.workqueue_retries = Counter(
            "workqueue_retries_total",
            "Total retries handled by workqueue",
            ["name", "controller"],
            registry=r,
        )
        self.reconcile_total = Counter(
            "controller_runtime_reconcile_total",
            "Total number of reconciliations per controller",
            ["controller", "result"],
            registry=r,
        )
        self.reconcile_errors = Counter(
            "controller_runtime_reconcile_errors_total",
            "Total number of reconciliation errors per controller",
            ["controller"],
            registry=r,
        )
        self.terminal_errors = Counter(
            "controller_runtime_terminal_reconcile_errors_total",
            "Total number of terminal reconciliation errors per controller",
            ["controller"],
            registry=r,
        )
        self.reconcile_time = Histogram(
            "controller_runtime_reconcile_time_seconds",
            "Length of time per reconciliation per controller",
            ["controller"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.active_workers = Gauge(
            "controller_runtime_active_workers",
            "Number of currently used workers per controller",
            ["controller"],
            registry=r,
        )
        self.max_concurrent = Gauge(
            "controller_runtime_max_concurrent_reconciles",
            "Maximum number of concurrent reconciles per controller",
            ["controller"],
            registry=r,
        )
        self.leader = Gauge(
            "leader_election_master_status",
            "Whether this process is the leader (1) or not (0)",
            ["name"],
            registry=r,
        )
        self.rest_requests = Counter(
            "rest_client_requests_total",
            "Number of HTTP requests, by status code, method and host",
            ["code", "method", "host"],
            registry=r,
        )
        self.rest_duration = Histogram(
            "rest_client_request_duration_seconds",
            "Request latency in seconds, by verb and host",
            ["verb", "host"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        # domain metrics
        self.propagations = Counter(
            "kubefed_propagations_total",
            "Member-cluster operations by cluster, operation and result",
            ["cluster", "op", "result"],
            registry=r,
        )
        self.propagation_latency = Histogram(
            "kubefed_propagation_latency_seconds",
            "Time from the scheduler's decision to the member write",
            ["cluster"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.cluster_ready = Gauge(
            "kubefed_member_cluster_ready", "1 if the member cluster is Ready", ["cluster"], registry=r
        )
        self.messages_published = Counter(
            "kubefed_messages_published_total", "Messages published by stream", ["stream"], registry=r
        )
        self.messages_consumed = Counter(
            "kubefed_messages_consumed_total",
            "Messages processed by stream and outcome",
            ["stream", "outcome"],
            registry=r,
        )
        self.consumer_pending = Gauge(
            "kubefed_consumer_pending_messages", "Messages waiting in a consumer", ["consumer"], registry=r
        )
        self.host_status_writes = Counter(
            "kubefed_host_status_writes_total",
            "Status writes on the host cluster by kind",
            ["kind"],
            registry=r,
        )
        self.scheduler_replicas = Gauge(
            "kubefed_scheduler_replicas_planned",
            "Replicas planned per cluster by RSP",
            ["cluster"],
            registry=r,
        )
        self.nats_connected = Gauge(
            "kubefed_nats_connected",
            "1 while the service's NATS connection is up, 0 while it is lost or reconnecting",
            ["service"],
            registry=r,
        )
        self.events_dropped = Counter(
            "kubefed_events_dropped_total",
            "Events not recorded because the recorder queue was full",
            registry=r,
        )
        self.build_info = Gauge("kubefed_build_info", "Build information", ["version", "service"], registry=r)

    def series(self, metric: _M, *labels: str) -> _M:
        """``metric.labels(*labels)``, looked up once per process (``labels`` validates and locks on every
        call: several times per member write). Only for series that are never removed, i.e. every metric
        but ``nats_connected`` and ``scheduler_replicas``; clear them with :meth:`clear_series`, not with
        ``metric.clear()``."""
        key = (metric, labels)
        child = self._series.get(key)
        if child is None:
            child = self._series[key] = metric.labels(*labels)
        return child

    def clear_series(self) -> None:
        """Drop every labelled series (and the children :meth:`series` looked up, which would otherwise
        keep counting outside the registry)."""
        for value in vars(self).values():
            if getattr(value, "_labelnames", ()):
                value.clear()
        self._series.clear()

    def init_controller(self, controller: str) -> None:
        """Pre-initialise every result label at 0 so ``rate()`` works from the first scrape."""
        for result in RECONCILE_RESULTS:
            self.reconcile_total.labels(controller, result)
        self.reconcile_errors.labels(controller)
        self.terminal_errors.labels(controller)

    def render(self) -> bytes:
        """The exposition text for ``/metrics``."""
        return generate_latest(self.registry)


metrics = Metrics()
