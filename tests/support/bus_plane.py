"""Planes for the bus tests (tests/bus_cluster): least-privilege NATS users, bad input, a clustered
JetStream.

:class:`BusPlane` is the pipeline plane of :mod:`tests.support.plane` (simulated host + members over TLS, the
services in-process) with every service connecting as its own NATS user (``users`` maps a service
instance to a user of ``deploy/kustomize/components/nats-auth/auth.conf``), the DNS service available,
and each service's :class:`~shared.runtime.ServiceContext` kept once it is ready (readiness, health
port). :func:`auth_server` starts a nats-server with the shipped ``auth.conf`` + ``permissions.conf``.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubefed.natsd import NatsServer
from services.dns import DNSSettings, run_dns
from services.propagator import PropagatorSettings, run_propagator
from services.scheduler import SchedulerSettings, run_scheduler
from services.watcher import WatcherSettings, run_watcher
from shared.bus import Bus, BusSettings
from shared.runtime import CommonSettings, ServiceContext
from tests.support.plane import ROOT, ControlPlane, eventually, ready

AUTH_DIR = ROOT / "deploy" / "kustomize" / "components" / "nats-auth"
USERS = (
    "kubefed-watcher",
    "kubefed-scheduler",
    "kubefed-propagator",
    "kubefed-propagator-nosecrets",
    "kubefed-dns",
)


def password(user: str) -> str:
    return f"pw-{user}"


def password_env() -> dict[str, str]:
    """The environment auth.conf reads its passwords from (the Secret kubefed-nats-users in deploy/)."""
    return {
        "KUBEFED_NATS_PASSWORD_" + u.removeprefix("kubefed-").upper().replace("-", "_"): password(u)
        for u in USERS
    }


def auth_server(*, extra: str = "", auth_file: str = "auth.conf", http_port: int | None = None) -> NatsServer:
    """A nats-server (not started) running the shipped ``auth.conf`` and ``permissions.conf``
    (``http_port``: its monitoring endpoints, :meth:`NatsServer.monitor`)."""
    server = NatsServer(config=f"include {auth_file}\n{extra}", env=password_env(), http_port=http_port)
    for name in ("auth.conf", "permissions.conf"):
        shutil.copy(AUTH_DIR / name, Path(server.store_dir) / name)
    return server


def user_settings(url: str, user: str, **kw: Any) -> BusSettings:
    return BusSettings(url=url, user=user, password=password(user), **kw)


async def connect_as(url: str, user: str, **kw: Any) -> Bus:
    return await Bus.connect(user_settings(url, user, **kw))


@dataclass
class BusPlane(ControlPlane):
    """A ControlPlane whose services log in as NATS users and expose their contexts."""

    users: dict[str, str] = field(default_factory=dict)  # service instance name → NATS user
    contexts: dict[str, ServiceContext] = field(default_factory=dict)
    bus_extra: dict[str, Any] = field(default_factory=dict)
    per_service: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # BusSettings fields (and "url") by instance

    def common(self, name: str) -> CommonSettings:
        user = self.users.get(name)
        extra = {**self.bus_extra, **self.per_service.get(name, {})}
        url = extra.pop("url", self.nats_url)
        bus = BusSettings(url=url, **extra)
        if user:
            bus = BusSettings(url=url, user=user, password=password(user), **extra)
        return CommonSettings(
            bus=bus,
            kubeconfig=str(self.fleet.kubeconfig_path),
            context="host",
            http_port=0,
            grace_period=5.0,
            identity=name,
        )

    def start(self, name: str, kind: str, **extra: Any) -> None:
        stop = asyncio.Event()
        common = self.common(name)

        def on_ready(ctx: ServiceContext) -> None:
            self.contexts[name] = ctx

        kw: dict[str, Any] = {"stop": stop, "install_signals": False, "on_ready": on_ready}
        if kind == "watcher":
            coro = run_watcher(WatcherSettings(common=common, checkpoint_interval=0.2, **extra), **kw)
        elif kind == "scheduler":
            coro = run_scheduler(SchedulerSettings(common=common, **extra), **kw)
        elif kind == "dns":
            coro = run_dns(DNSSettings(common=common, **extra), **kw)
        else:
            coro = run_propagator(PropagatorSettings(common=common, refresh_period=1.0, **extra), **kw)
        self.contexts.pop(name, None)
        self.stops[name] = stop
        self.tasks[name] = asyncio.create_task(coro, name=name)

    def service_ready(self, name: str) -> bool:
        ctx = self.contexts.get(name)
        task = self.tasks.get(name)
        return ctx is not None and task is not None and not task.done() and ctx.readiness.ready

    def alive(self) -> dict[str, bool]:
        """Which service tasks are still running (a crashed service's task is done)."""
        return {name: not task.done() for name, task in self.tasks.items()}


async def make_bus_plane(
    fleet: Any, nats_url: str, tmp: Path, *, users: dict[str, str] | None = None, **kw: Any
) -> BusPlane:
    cp = BusPlane(fleet, nats_url, tmp, users=users or {}, **kw)
    await cp.install_kubefed_api(
        {
            "clusterHealthCheck": {"period": "1s"},
            "controllerDuration": {"availableDelay": "1s", "unavailableDelay": "1s"},
        }
    )
    return cp


async def federate(cp: ControlPlane, namespace: str = "fed") -> None:
    await cp.akubectl(
        "apply",
        "-f",
        "-",
        input=yaml.safe_dump_all(
            [
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
                {
                    "apiVersion": "types.kubefed.io/v1beta1",
                    "kind": "FederatedNamespace",
                    "metadata": {"name": namespace, "namespace": namespace},
                    "spec": {"placement": {"clusterSelector": {}}},
                },
            ]
        ),
    )
    await eventually(
        lambda: all(cp.member_object(c, "", "namespaces", None, namespace) for c in ("cluster1", "cluster2")),
        timeout=30,
    )


async def start_all(cp: BusPlane, services: dict[str, str], *, timeout: float = 40.0) -> None:
    """Join cluster1/cluster2, start ``services`` (instance name → kind), wait until all are ready and
    both members are Ready on the host."""
    for member in ("cluster1", "cluster2"):
        await cp.join(member)
    for name, kind in services.items():
        cp.start(name, kind)
    await eventually(lambda: all(cp.service_ready(n) for n in services), timeout=timeout)
    await eventually(lambda: ready(cp, "cluster1") and ready(cp, "cluster2"), timeout=timeout)
