"""``kubefed``: one command, one sub-command per service (plus the simulator, all-in-one and demo)."""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

import click

from kubefed._options import common_options, common_settings
from shared.version import version


class _LazyGroup(click.Group):
    """A group whose commands in ``_LAZY_COMMANDS`` are imported only when invoked or listed in help."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in _LAZY_COMMANDS and cmd_name not in self.commands:
            module_name, attr = _LAZY_COMMANDS[cmd_name].split(":")
            command: click.Command = getattr(importlib.import_module(module_name), attr)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
@click.option(
    "--workers",
    envvar="KUBEFED_WORKERS",
    default=8,
    show_default=True,
    type=int,
    help="Decision reconciles in flight in this process (host messages and requeues alike).",
)
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
    "--health-probe-concurrency",
    envvar="KUBEFED_HEALTH_PROBE_CONCURRENCY",
    default=64,
    show_default=True,
    type=click.IntRange(min=1),
    help="Member health probes in flight at once (each probe's timeout starts when it is sent).",
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
    health_probe_concurrency: int,
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
        health_probe_concurrency=health_probe_concurrency,
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


# Loaded on first use: the simulator alone imports ~30 MB (aiohttp.web, PyJWT, cryptography, the
# OpenAPI protobufs) that no service needs, and every service starts through this module.
_LAZY_COMMANDS = {
    "sim": "sim.cli:sim_command",
    "up": "kubefed._up:up_command",
    "demo": "kubefed._demo:demo_command",
}
