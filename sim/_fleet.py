"""A fleet of simulated clusters in one event loop, and the kubeconfig that reaches them.

``run_fleet`` is the in-process entry point for tests and tools; the CLI wraps the same thing.
The kubeconfig is written only once every cluster listens, so a client that sees the file can
connect at once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import tempfile
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import yaml

from ._cluster import ClusterServer
from ._limits import DESCRIPTORS_PER_MEMBER, ensure_open_files
from ._tls import TlsMaterial, make_tls

REGIONS = ("us-east-1", "eu-west-1", "ap-south-1", "us-west-2", "eu-central-1", "ap-northeast-1")
ZONES = "abc"


def default_node_labels(index: int) -> dict[str, str]:
    """Region from the cluster index (round-robin over six regions), zone a/b/c within it."""
    region = REGIONS[index % len(REGIONS)]
    zone = f"{region}{ZONES[(index // len(REGIONS)) % len(ZONES)]}"
    return {"topology.kubernetes.io/region": region, "topology.kubernetes.io/zone": zone}


def kubeconfig_for(clusters: Iterable[Any]) -> dict[str, Any]:
    """A kubeconfig with one cluster, user (the admin token) and context per cluster, all named after it;
    the first is current. Simulated and real fleets (``sim.real``) write the same layout."""
    entries, users, contexts = [], [], []
    for c in clusters:
        entry: dict[str, Any] = {"server": c.url}
        if c.ca_pem:
            entry["certificate-authority-data"] = base64.b64encode(c.ca_pem).decode()
        entries.append({"name": c.name, "cluster": entry})
        users.append({"name": c.name, "user": {"token": c.admin_token}})
        contexts.append({"name": c.name, "context": {"cluster": c.name, "user": c.name}})
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "current-context": contexts[0]["name"] if contexts else "",
        "clusters": entries,
        "users": users,
        "contexts": contexts,
    }


def write_kubeconfig_file(path: Path, config: dict[str, Any]) -> Path:
    """Write atomically with mode 0600: a client that sees the file sees all of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump(config, sort_keys=False))
    tmp.chmod(0o600)
    tmp.replace(path)
    return path


class Fleet:
    """Named clusters served from one process; ``fleet["c1"]`` is a :class:`ClusterServer`."""

    def __init__(
        self,
        names: Iterable[str],
        *,
        tls: bool = True,
        kubeconfig_path: Path | str | None = None,
        node_labels: dict[str, dict[str, str]] | None = None,
        capacity: dict[str, int] | int | None = None,
        pod_ready_delay: float = 0.1,
        nodes: int = 1,
        history: int = 1000,
        admin_port: int | None = None,
        anonymous: bool = False,
        rbac: bool = False,
    ) -> None:
        self._anonymous = anonymous
        self._rbac = rbac
        self._initial = list(names)
        if len(set(self._initial)) != len(self._initial):
            raise ValueError("cluster names must be unique")
        self.tls: TlsMaterial | None = make_tls() if tls else None
        self._ssl = self.tls.server_context() if self.tls else None
        self._own_kubeconfig = kubeconfig_path is None
        if kubeconfig_path is None:
            fd, tmp = tempfile.mkstemp(prefix="kubefed-sim-", suffix=".kubeconfig")
            os.close(fd)
            kubeconfig_path = tmp
        self.kubeconfig_path = Path(kubeconfig_path)
        self._node_labels = node_labels or {}
        self._capacity = capacity
        self.pod_ready_delay = pod_ready_delay
        self._nodes = nodes
        self._history = history
        self._admin_port = admin_port
        self.admin_url: str | None = None
        self._admin_runner: Any = None
        self.clusters: dict[str, ClusterServer] = {}
        self._next_index = 0
        self._started = time.monotonic()
        self._rate = 0.0
        self._sampler: asyncio.Task[None] | None = None

    @property
    def names(self) -> list[str]:
        return list(self.clusters)

    def __getitem__(self, name: str) -> ClusterServer:
        return self.clusters[name]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.clusters.values())

    def __len__(self) -> int:
        return len(self.clusters)

    def _capacity_for(self, name: str, override: int | None) -> int:
        if override is not None:
            return override
        if isinstance(self._capacity, dict):
            return self._capacity.get(name, 110)
        return self._capacity if isinstance(self._capacity, int) else 110

    def _make(
        self, name: str, capacity: int | None = None, node_labels: dict[str, str] | None = None
    ) -> ClusterServer:
        index = self._next_index
        self._next_index += 1
        labels = node_labels or self._node_labels.get(name) or default_node_labels(index)
        return ClusterServer(
            name,
            index,
            ssl_context=self._ssl,
            ca_pem=self.tls.ca_pem if self.tls else None,
            capacity=self._capacity_for(name, capacity),
            pod_ready_delay=self.pod_ready_delay,
            node_labels=labels,
            nodes=self._nodes,
            history=self._history,
            anonymous=self._anonymous,
            rbac=self._rbac,
        )

    async def start(self) -> None:
        """Start every cluster, then the admin endpoint, then write the kubeconfig."""
        for name in self._initial:
            cluster = self._make(name)
            await cluster.start()
            self.clusters[name] = cluster
        if self._admin_port is not None:
            from ._admin import start_admin

            self._admin_runner, self.admin_url = await start_admin(self, self._admin_port)
        self._sampler = asyncio.get_running_loop().create_task(self._sample(), name="sim-request-rate")
        self.write_kubeconfig()

    async def add_cluster(
        self, name: str, *, capacity: int | None = None, node_labels: dict[str, str] | None = None
    ) -> ClusterServer:
        """Start one more cluster at run time and rewrite the kubeconfig."""
        if name in self.clusters:
            raise ValueError(f"cluster {name!r} exists")
        cluster = self._make(name, capacity, node_labels)
        await cluster.start()
        self.clusters[name] = cluster
        self.write_kubeconfig()
        return cluster

    async def reset(self) -> None:
        """Reset every cluster to its freshly started state (see :meth:`ClusterServer.reset`)."""
        for cluster in self.clusters.values():
            await cluster.reset()

    async def remove_cluster(self, name: str) -> None:
        """Stop a cluster for good and drop it from the kubeconfig."""
        cluster = self.clusters.pop(name)
        await cluster.stop()
        self.write_kubeconfig()

    async def stop(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
            self._sampler = None
        if self._admin_runner is not None:
            await self._admin_runner.cleanup()
            self._admin_runner = None
        for cluster in list(self.clusters.values()):
            await cluster.stop()
        if self._own_kubeconfig:
            with contextlib.suppress(FileNotFoundError):
                self.kubeconfig_path.unlink()

    # ---- kubeconfig ----------------------------------------------------------------------------
    def kubeconfig(self) -> dict[str, Any]:
        return kubeconfig_for(self.clusters.values())

    def write_kubeconfig(self) -> Path:
        """Write the kubeconfig atomically (context name = cluster name)."""
        return write_kubeconfig_file(self.kubeconfig_path, self.kubeconfig())

    # ---- stats ---------------------------------------------------------------------------------
    @property
    def request_count(self) -> int:
        return sum(c.request_count for c in self.clusters.values())

    @property
    def request_rate(self) -> float:
        """Requests per second over the last second (all clusters)."""
        return self._rate

    async def _sample(self) -> None:
        last, t0 = self.request_count, time.monotonic()
        while True:
            await asyncio.sleep(1.0)
            now, count = time.monotonic(), self.request_count
            self._rate = (count - last) / max(now - t0, 1e-6)
            last, t0 = count, now

    def stats(self) -> dict[str, Any]:
        return {
            "clusters": len(self.clusters),
            "requests": self.request_count,
            "requestsPerSecond": round(self._rate, 1),
            "uptimeSeconds": round(time.monotonic() - self._started, 1),
            "perCluster": {
                c.name: {
                    "requests": c.request_count,
                    "online": c.online,
                    "url": c.url,
                    "watches": c.store.watch_count,
                    "resourceVersion": c.store.rv,
                }
                for c in self.clusters.values()
            },
        }


@contextlib.asynccontextmanager
async def run_fleet(
    names: Iterable[str],
    *,
    tls: bool = True,
    kubeconfig_path: Path | str | None = None,
    node_labels: dict[str, dict[str, str]] | None = None,
    capacity: dict[str, int] | int | None = None,
    pod_ready_delay: float = 0.1,
    nodes: int = 1,
    history: int = 1000,
    admin_port: int | None = None,
    anonymous: bool = False,
    rbac: bool = False,
) -> AsyncIterator[Fleet]:
    """Start the clusters in the running loop, yield the :class:`Fleet`, stop them on exit.

    ``anonymous`` serves requests that carry no Authorization header (needed for kubectl over
    plain HTTP, which withholds bearer tokens); a wrong token is always 401. ``rbac`` enforces the
    stored RBAC objects for service-account tokens (403 ``Forbidden``, recorded in each cluster's
    ``denied``); the fleet's admin tokens and anonymous requests stay cluster-admin.
    """
    names = list(names)
    ensure_open_files(len(names) * DESCRIPTORS_PER_MEMBER + 1024)
    fleet = Fleet(
        names,
        tls=tls,
        kubeconfig_path=kubeconfig_path,
        node_labels=node_labels,
        capacity=capacity,
        pod_ready_delay=pod_ready_delay,
        nodes=nodes,
        history=history,
        admin_port=admin_port,
        anonymous=anonymous,
        rbac=rbac,
    )
    try:
        await fleet.start()
        yield fleet
    finally:
        await fleet.stop()
