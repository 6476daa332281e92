"""``kubefed up``: every service in one process, for a laptop.

With no ``--nats`` URL an embedded nats-server (JetStream) is started on a free loopback port. Its store
lives in a per-user state folder (``$XDG_STATE_HOME/kubefed/up``, by default
``~/.local/state/kubefed/up``; a temporary folder when that cannot be created) or under ``--data-dir``,
never in the current directory, and the command prints where; ``--fresh`` empties it first. A store
kept from a run against another host cluster is safe to reuse (the services discard state of another
host, :mod:`shared.runtime._host`), but ``--fresh`` starts without it.

Each service still talks to the others only through NATS, exactly as when they run as separate
processes; they share the process, the event loop and one ``/metrics`` registry (the ``controller``
label keeps them apart). SIGTERM/SIGINT stops all of them with the usual grace period.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any

import click
import msgspec

from kubefed._options import common_options, common_settings


def default_data_dir() -> Path:
    """The per-user state folder of ``kubefed up`` (XDG base directories)."""
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "kubefed" / "up"


def prepare_store(data_dir: str | None, *, fresh: bool) -> Path:
    """The embedded nats-server's store folder, created (and emptied first with ``fresh``)."""
    store = Path(data_dir).resolve() / "nats" if data_dir else default_data_dir() / "nats"
    try:
        if fresh:
            shutil.rmtree(store, ignore_errors=True)
        store.mkdir(parents=True, exist_ok=True)
    except OSError:
        if data_dir:
            raise
        store = Path(tempfile.mkdtemp(prefix="kubefed-up-")) / "nats"
        store.mkdir()
    return store


async def _up(
    common: Any, clusters: tuple[str, ...], selector: str, store: Path | None, embedded: bool
) -> None:
    from kubefed.natsd import NatsServer
    from services.dns import DNSSettings, run_dns
    from services.propagator import PropagatorSettings, run_propagator
    from services.scheduler import SchedulerSettings, run_scheduler
    from services.watcher import WatcherSettings, run_watcher

    nats = None
    if embedded and store is not None:
        nats = NatsServer(store_dir=str(store)).start()
        click.echo(f"Started embedded nats-server at {nats.url} (store {store})")
        common = msgspec.structs.replace(common, bus=msgspec.structs.replace(common.bus, url=nats.url))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def with_port(offset: int) -> Any:
        port = common.http_port + offset if common.http_port else 0
        return msgspec.structs.replace(common, http_port=port)

    def announce(ctx: Any) -> None:
        click.echo(f"{ctx.name} ready, /healthz /readyz /metrics on port {ctx.health_port}")

    kw: dict[str, Any] = {"stop": stop, "install_signals": False, "on_ready": announce}
    runs = [
        run_watcher(WatcherSettings(common=with_port(0)), **kw),
        run_scheduler(SchedulerSettings(common=with_port(1)), **kw),
        run_propagator(
            PropagatorSettings(common=with_port(2), clusters=clusters, cluster_selector=selector), **kw
        ),
        run_dns(DNSSettings(common=with_port(3)), **kw),
    ]
    try:
        results = await asyncio.gather(*runs, return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise click.ClickException(f"a service failed: {r!r}")
    finally:
        if nats is not None:
            nats.stop()


@click.command("up")
@common_options
@click.option(
    "--embedded-nats/--no-embedded-nats",
    default=None,
    help="Start a nats-server (default: when --nats is not given).",
)
@click.option(
    "--data-dir",
    default=None,
    help="Where the embedded nats-server keeps its store [default: $XDG_STATE_HOME/kubefed/up, i.e. "
    "~/.local/state/kubefed/up].",
)
@click.option("--fresh", is_flag=True, help="Empty the embedded nats-server's store before starting.")
@click.option("--clusters", default="", help="Member clusters the propagator serves (default: all).")
@click.option("--cluster-selector", default="", help="Serve clusters whose labels match.")
def up_command(
    embedded_nats: bool | None,
    data_dir: str | None,
    fresh: bool,
    clusters: str,
    cluster_selector: str,
    **kw: Any,
) -> None:
    """Run watcher, scheduler, propagator and dns in one process (ports --http-port .. +3; 0 = any free
    ports)."""
    ctx = click.get_current_context()
    nats_given = ctx.get_parameter_source("nats_url") not in (click.core.ParameterSource.DEFAULT, None)
    embedded = (not nats_given) if embedded_nats is None else embedded_nats
    common = common_settings(kw)
    store = None
    if embedded:
        store = prepare_store(data_dir, fresh=fresh)
        click.echo(f"Embedded nats-server store: {store}{' (emptied: --fresh)' if fresh else ''}")
    asyncio.run(_up(common, tuple(c for c in clusters.split(",") if c), cluster_selector, store, embedded))
