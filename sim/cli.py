"""``kubefed sim`` / ``python -m sim``: serve simulated clusters until SIGINT or SIGTERM.

The signal handlers only set a stop event; shutdown then stops the admin endpoint and every
cluster in order (one path, whatever the signal).
"""

from __future__ import annotations

import asyncio
import signal
import threading
from pathlib import Path

import click

from ._fleet import run_fleet


async def serve(
    names: list[str],
    kubeconfig: Path,
    tls: bool,
    capacity: int,
    admin_port: int,
    pod_ready_delay: float,
    nodes: int,
    anonymous: bool = False,
    ready_message: bool = True,
    rbac: bool = False,
) -> None:
    """Run the fleet until a signal arrives."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with run_fleet(
            names,
            tls=tls,
            kubeconfig_path=kubeconfig,
            capacity=capacity,
            pod_ready_delay=pod_ready_delay,
            nodes=nodes,
            admin_port=admin_port,
            anonymous=anonymous,
            rbac=rbac,
        ) as fleet:
            if ready_message:
                click.echo(f"kubeconfig: {fleet.kubeconfig_path}")
                click.echo(f"admin: {fleet.admin_url}")
                for c in fleet:
                    click.echo(f"cluster {c.name} {c.url}")
                click.echo("ready", nl=True)
            await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


@click.command("sim")
@click.option("--clusters", "clusters", default=None, help="Comma-separated cluster names, e.g. host,c1,c2.")
@click.option(
    "--count", type=int, default=None, help="Number of clusters named <prefix>1..N (instead of --clusters)."
)
@click.option("--prefix", default="member", show_default=True, help="Name prefix for --count.")
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the kubeconfig (one context per cluster).",
)
@click.option("--tls/--no-tls", default=True, show_default=True, help="Serve HTTPS with a generated CA.")
@click.option(
    "--capacity", type=int, default=110, show_default=True, help="Maximum running pods per cluster."
)
@click.option(
    "--admin-port", type=int, default=0, show_default=True, help="Admin endpoint port (0 = any free)."
)
@click.option(
    "--pod-ready-delay", type=float, default=1.0, show_default=True, help="Seconds until pods are Ready."
)
@click.option("--nodes", type=int, default=1, show_default=True, help="Nodes per cluster.")
@click.option(
    "--anonymous/--no-anonymous",
    default=None,
    help="Serve requests without a token (default: on with --no-tls, since kubectl sends no "
    "bearer token over plain HTTP).",
)
@click.option(
    "--rbac/--no-rbac",
    default=False,
    show_default=True,
    help="Enforce the stored RBAC objects for service-account tokens (the kubeconfig's admin "
    "tokens stay cluster-admin).",
)
@click.option(
    "--real",
    is_flag=True,
    default=False,
    help="Run real clusters instead (etcd, kube-apiserver, kube-controller-manager, kube-scheduler "
    "and KWOK built by `make real-k8s`); same kubeconfig layout.",
)
def sim_command(
    clusters: str | None,
    count: int | None,
    prefix: str,
    kubeconfig: Path,
    tls: bool,
    capacity: int,
    admin_port: int,
    pod_ready_delay: float,
    nodes: int,
    anonymous: bool | None,
    rbac: bool,
    real: bool,
) -> None:
    """Serve Kubernetes-API-compatible simulated clusters (like KWOK) until interrupted."""
    if clusters and count:
        raise click.UsageError("use either --clusters or --count")
    if count:
        names = [f"{prefix}{i}" for i in range(1, count + 1)]
    else:
        names = [n.strip() for n in (clusters or "host,member1,member2").split(",") if n.strip()]
    if not names:
        raise click.UsageError("no clusters given")
    if real:
        _serve_real(
            names,
            kubeconfig,
            tls=tls,
            capacity=capacity,
            nodes=nodes,
            anonymous=bool(anonymous),
            admin_port=admin_port,
        )
        return
    if anonymous is None:
        anonymous = not tls
    asyncio.run(
        serve(names, kubeconfig, tls, capacity, admin_port, pod_ready_delay, nodes, anonymous, rbac=rbac)
    )


def _serve_real(
    names: list[str],
    kubeconfig: Path,
    *,
    tls: bool,
    capacity: int,
    nodes: int,
    anonymous: bool,
    admin_port: int,
) -> None:
    """``--real``: the same contract with real programs; options a real API server cannot honour are
    errors."""
    from .real import MissingProgram, ProgramFailed, RealFleet

    if not tls:
        raise click.UsageError("--real clusters always serve HTTPS: drop --no-tls")
    if anonymous:
        raise click.UsageError("--real clusters never serve anonymous requests: drop --anonymous")
    if admin_port:
        raise click.UsageError(
            "--real has no admin endpoint (faults are injected by stopping programs): drop --admin-port"
        )
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        fleet = RealFleet(names, kubeconfig_path=kubeconfig, capacity=capacity, nodes=nodes)
    except MissingProgram as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        try:
            fleet.start()
        except ProgramFailed as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"kubeconfig: {fleet.kubeconfig_path}")
        for c in fleet:
            click.echo(f"cluster {c.name} {c.url}")
        click.echo(f"ready in {fleet.started_seconds:.1f} s")
        click.echo("ready", nl=True)
        while not stop.wait(1.0):
            try:
                fleet.check_alive()
            except ProgramFailed as exc:
                raise click.ClickException(str(exc)) from exc
    finally:
        fleet.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main() -> None:
    sim_command()
