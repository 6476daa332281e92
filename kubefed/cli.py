"""``kubefed``: one command, one sub-command per service (plus the simulator, all-in-one and demo)."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from kubefed._options import common_options, common_settings
from shared.version import version


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version(), prog_name="kubefed")
def main() -> None:
    """KubeFed-compatible federation control plane over NATS JetStream."""


@main.command()
@common_options
@click.option("--lease-name", default="kubefed-watcher", show_default=True, help="Leader-election lease.")
def watcher(lease_name: str, **kw: Any) -> None:
    """Watch the host cluster and publish changes."""
    from services.watcher import WatcherSettings, run_watcher

    asyncio.run(run_watcher(WatcherSettings(common=common_settings(kw), lease_name=lease_name)))


@main.command()
@common_options
@click.option("--workers", envvar="KUBEFED_WORKERS", default=8, show_default=True, type=int)
@click.option(
    "--resync-period", default=300.0, show_default=True, type=float, help="Seconds between full resyncs."
)
@click.option(
    "--event-qps",
    envvar="KUBEFED_EVENT_QPS",
    default=20,
    show_default=True,
    type=int,
    help="Host request budget for Events (apart from status and decisions).",
)
@click.option(
    "--propagated-versions/--no-propagated-versions",
    envvar="KUBEFED_PROPAGATED_VERSIONS",
    default=False,
    show_default=True,
    help="Also write KubeFed's PropagatedVersion records (one host write per change) "
    "for tools that read them, such as KubeFed's e2e suite.",
)
def scheduler(
    workers: int, resync_period: float, event_qps: int, propagated_versions: bool, **kw: Any
) -> None:
    """Decide placement and overrides; write federated status."""
    from services.scheduler import SchedulerSettings, run_scheduler

    asyncio.run(
        run_scheduler(
            SchedulerSettings(
                common=common_settings(kw),
                workers=workers,
                resync_period=resync_period,
                event_qps=event_qps,
                propagated_versions=propagated_versions,
            )
        )
    )


@main.command()
@common_options
@click.option(
    "--clusters", envvar="KUBEFED_CLUSTERS", default="", help="Member clusters served (comma-separated)."
)
@click.option(
    "--cluster-selector",
    envvar="KUBEFED_CLUSTER_SELECTOR",
    default="",
    help="Serve clusters whose KubeFedCluster labels match, e.g. region=eu.",
)
@click.option(
    "--workers-per-cluster",
    envvar="KUBEFED_WORKERS_PER_CLUSTER",
    default=None,
    type=click.IntRange(min=1),
    help="Concurrent writes per member cluster [default: KubeFedConfig "
    "spec.syncController.maxConcurrentReconciles].",
)
@click.option(
    "--member-qps",
    envvar="KUBEFED_MEMBER_QPS",
    default=100.0,
    show_default=True,
    type=float,
    help="Request rate limit per member cluster.",
)
@click.option(
    "--member-burst",
    envvar="KUBEFED_MEMBER_BURST",
    default=200,
    show_default=True,
    type=int,
    help="Request burst per member cluster.",
)
@click.option(
    "--no-secrets",
    is_flag=True,
    help="Do not read Secret decisions (for propagators without that permission).",
)
@click.option(
    "--unschedulable-after",
    default=60.0,
    show_default=True,
    type=float,
    help="Seconds a pod must stay unschedulable before it lowers a member's estimated capacity (RSP).",
)
def propagator(
    clusters: str,
    cluster_selector: str,
    workers_per_cluster: int | None,
    member_qps: float,
    member_burst: int,
    no_secrets: bool,
    unschedulable_after: float,
    **kw: Any,
) -> None:
    """Apply decisions to member clusters; probe their health."""
    from services.propagator import PropagatorSettings, run_propagator

    settings = PropagatorSettings(
        common=common_settings(kw),
        clusters=tuple(c.strip() for c in clusters.split(",") if c.strip()),
        cluster_selector=cluster_selector,
        workers_per_cluster=workers_per_cluster,
        member_qps=member_qps,
        member_burst=member_burst,
        read_secrets=not no_secrets,
        unschedulable_after=unschedulable_after,
    )
    asyncio.run(run_propagator(settings))


@main.command()
@common_options
@click.option(
    "--dnsendpoint-group",
    "endpoint_groups",
    multiple=True,
    envvar="KUBEFED_DNSENDPOINT_GROUPS",
    default=("multiclusterdns.kubefed.io",),
    show_default=True,
    help="API group to write DNSEndpoints in (repeat for several); external-dns v0.22 and later read "
    "only externaldns.k8s.io, so add that group when running it (docs/deploy.md).",
)
def dns(endpoint_groups: tuple[str, ...], **kw: Any) -> None:
    """Maintain DNSEndpoints for ServiceDNSRecords and IngressDNSRecords."""
    from services.dns import DNSSettings, run_dns

    asyncio.run(run_dns(DNSSettings(common=common_settings(kw), endpoint_groups=endpoint_groups)))


def _register_optional() -> None:
    try:
        from sim.cli import sim_command
    except ImportError:  # pragma: no cover - the simulator ships with the project
        return
    main.add_command(sim_command, "sim")


_register_optional()

try:
    from kubefed._up import up_command

    main.add_command(up_command, "up")
except ImportError:  # pragma: no cover
    pass

try:
    from kubefed._demo import demo_command

    main.add_command(demo_command, "demo")
except ImportError:  # pragma: no cover
    pass
