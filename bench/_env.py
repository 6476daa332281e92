"""The benchmark's environment: a simulated fleet in its own process, a real nats-server, the KubeFed
CRDs and config installed with kubectl, joined members, and the services as separate processes.

Everything talks real HTTP (TLS, bearer tokens) and real NATS; nothing here imports the services, so
what the benchmark observes is only what any outside client could observe.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from kubefed.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
KUBECTL = str(BIN / "kubectl")
KUBEFED = str(BIN / "kubefed")
NS = "kube-federation-system"
CLK_TCK = os.sysconf("SC_CLK_TCK")
# BENCH_PROFILE=propagator[,scheduler,...]: run those services under cProfile; the .prof files land in
# $BENCH_PROFILE_DIR (default /tmp/kubefed-bench-profiles), outside the repository.
PROFILE = {x.strip() for x in os.environ.get("BENCH_PROFILE", "").split(",") if x.strip()}
# The host request budget of each scheduler replica. KubeFed's default (100 QPS, burst 200) caps a burst at
# about 30 new federated objects per second and replica (three host requests each); the benchmark
# measures the pipeline with the budget an operator of a large fleet would give it (docs/deploy.md).
SCHEDULER_ARGS = tuple(
    os.environ.get("BENCH_SCHEDULER_ARGS", "--rest-config-qps=500 --rest-config-burst=1000").split()
)
# BENCH_KEEP_WORK=1: keep the work directory (service and simulator logs, NATS store) after the run;
# BENCH_SERVICE_LOG_LEVEL (default warning): the services' log level.
PROFILE_DIR = Path(os.environ.get("BENCH_PROFILE_DIR", "/tmp/kubefed-bench-profiles"))
# BENCH_TRACEMALLOC=propagator[,scheduler]: run those services with tracemalloc on; SIGUSR2 makes them
# dump a snapshot into $BENCH_PROFILE_DIR (bench/_tracemalloc_run.py, used by bench/memprofile.py).
TRACEMALLOC = {x.strip() for x in os.environ.get("BENCH_TRACEMALLOC", "").split(",") if x.strip()}
PAGE = os.sysconf("SC_PAGE_SIZE")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def proc_usage(pid: int) -> tuple[float, float]:
    """(RSS MiB, CPU seconds user+system) of a process, from /proc."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            rss = int(f.read().split()[1]) * PAGE / 2**20
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
        return rss, cpu
    except (OSError, IndexError, ValueError):
        return 0.0, 0.0


class Cluster:
    """One simulated cluster as an outside client sees it (URL, token, CA)."""

    def __init__(self, name: str, url: str, token: str, ca_pem: bytes) -> None:
        self.name, self.url, self.token, self.ca_pem = name, url, token, ca_pem
        self.headers = {"Authorization": f"Bearer {token}"}


MEMBERS_PER_SIMULATOR = 2000  # about 5 descriptors each within a 20,000 open-file limit


class SimProcess:
    """``python -m sim`` in a child process (so the simulator does not share the benchmark's loop)."""

    def __init__(self, names: list[str], work: Path, pod_ready_delay: float = 0.05, suffix: str = "") -> None:
        self.names, self.work, self.pod_ready_delay, self.suffix = names, work, pod_ready_delay, suffix
        self.kubeconfig = work / f"kubeconfig{suffix}"
        self.ca_pem = b""
        self.proc: asyncio.subprocess.Process | None = None
        self.admin = ""
        self.clusters: dict[str, Cluster] = {}
        self.ssl: ssl.SSLContext | None = None

    async def start(self) -> None:
        names_file = ",".join(self.names)
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "sim",
            "--clusters",
            names_file,
            "--kubeconfig",
            str(self.kubeconfig),
            "--tls",
            "--pod-ready-delay",
            str(self.pod_ready_delay),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=open(self.work / f"sim{self.suffix}.log", "ab"),  # noqa: ASYNC230
        )
        assert self.proc.stdout is not None
        while True:
            line = (await asyncio.wait_for(self.proc.stdout.readline(), 300)).decode().strip()
            if line.startswith("admin: "):
                self.admin = line.split(" ", 1)[1]
            if line == "ready":
                break
            if not line and self.proc.stdout.at_eof():
                raise RuntimeError(
                    f"simulator exited: {(self.work / f'sim{self.suffix}.log').read_text()[-2000:]}"
                )
        # keep draining stdout so the child never blocks on a full pipe
        asyncio.get_running_loop().create_task(self._drain())
        cfg = yaml.safe_load(self.kubeconfig.read_text())
        tokens = {u["name"]: u["user"]["token"] for u in cfg["users"]}
        ctx_user = {c["name"]: c["context"]["user"] for c in cfg["contexts"]}
        ctx_cluster = {c["context"]["cluster"]: c["name"] for c in cfg["contexts"]}
        ca = b""
        for c in cfg["clusters"]:
            name = ctx_cluster.get(c["name"], c["name"])
            ca = base64.b64decode(c["cluster"].get("certificate-authority-data", ""))
            self.clusters[name] = Cluster(name, c["cluster"]["server"], tokens[ctx_user.get(name, name)], ca)
        self.ca_pem = ca
        self.ssl = ssl.create_default_context(cadata=ca.decode())

    async def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while await self.proc.stdout.read(65536):
            pass

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc else 0

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


class Service:
    """One ``kubefed <service>`` process with its own /metrics port."""

    def __init__(
        self, name: str, kind: str, args: list[str], port: int, proc: asyncio.subprocess.Process
    ) -> None:
        self.name, self.kind, self.args, self.port, self.proc = name, kind, args, port, proc

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def usage(self) -> tuple[float, float]:
        return proc_usage(self.proc.pid)


def parse_metrics(text: str, names: tuple[str, ...]) -> float:
    """Sum of all samples of the given metric names (all labels)."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in names:
            try:
                total += float(line.rsplit(" ", 1)[1])
            except ValueError:
                pass
    return total


class Env:
    """A whole control plane for one scenario."""

    def __init__(
        self,
        members: int,
        *,
        prefix: str = "m",
        pod_ready_delay: float = 0.05,
        label: str = "",
        nats_servers: int = 1,
    ) -> None:
        self.label = label or str(members)
        self.nats_servers = (
            nats_servers  # 3: a clustered JetStream (kubefed.natsd.NatsCluster), streams at 3 replicas
        )
        self.work = Path(tempfile.mkdtemp(prefix=f"kubefed-bench-{self.label}-"))
        self.member_names = [f"{prefix}{i}" for i in range(1, members + 1)]
        # the host and the first members in one simulator process, the rest in more of them, each
        # within one process's open-file limit (a member is a listening socket plus its clients'
        # connections: a pool and a watch per resource)
        n = MEMBERS_PER_SIMULATOR
        chunks = [self.member_names[i : i + n] for i in range(0, len(self.member_names), n)] or [[]]
        self.sims = [
            SimProcess(
                ["host", *chunk] if i == 0 else chunk, self.work, pod_ready_delay, "" if i == 0 else f"-{i}"
            )
            for i, chunk in enumerate(chunks)
        ]
        self.sim = self.sims[0]  # serves the host: its kubeconfig is the services' and kubectl's
        self._clusters: dict[str, Cluster] = {}
        self.nats: Any = None
        self.services: dict[str, Service] = {}
        self.session: aiohttp.ClientSession | None = None
        self.plain: aiohttp.ClientSession | None = None

    # ---- lifecycle -------------------------------------------------------------------------------
    async def start(self, *, health_period: str = "10s") -> None:
        from kubefed.natsd import NatsCluster, NatsServer

        t0 = time.perf_counter()
        if self.nats_servers > 1:
            self.nats = NatsCluster(
                self.nats_servers, root=str(self.work / "nats"), config='ping_interval: "1s"\nping_max: 3\n'
            ).start()
        else:
            self.nats = NatsServer(store_dir=str(self.work / "nats")).start()
        await asyncio.gather(*(sim.start() for sim in self.sims))
        self._clusters = {name: c for sim in self.sims for name, c in sim.clusters.items()}
        client_ssl: ssl.SSLContext | bool = True
        if self.sim.ssl is not None:
            client_ssl = ssl.create_default_context()
            for sim in self.sims:
                client_ssl.load_verify_locations(cadata=sim.ca_pem.decode())
        conn = aiohttp.TCPConnector(limit=0, ssl=client_ssl)
        self.session = aiohttp.ClientSession(
            connector=conn,
            timeout=aiohttp.ClientTimeout(total=None, sock_read=None),
            json_serialize=json.dumps,
        )
        self.plain = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        await self.kubectl("apply", "-f", str(ROOT / "deploy" / "crds"))
        await asyncio.sleep(0.3)
        await self.kubectl("apply", "-f", str(ROOT / "deploy" / "config"))
        await self.kubectl(
            "patch",
            "kubefedconfig",
            "kubefed",
            "-n",
            NS,
            "--type=merge",
            "-p",
            json.dumps({"spec": {"clusterHealthCheck": {"period": health_period}}}),
        )
        log(
            f"fleet of {len(self.member_names)} members + host, nats-server up in "
            f"{time.perf_counter() - t0:.1f}s ({self.work})"
        )

    async def close(self) -> None:
        # the environment is thrown away: no graceful shutdown needed (profiled services still get SIGTERM
        # so cProfile can write its file)
        for svc in self.services.values():
            if svc.proc.returncode is None:
                svc.proc.send_signal(signal.SIGTERM if PROFILE and svc.kind in PROFILE else signal.SIGKILL)
        for svc in self.services.values():
            try:
                await asyncio.wait_for(svc.proc.wait(), 30)
            except TimeoutError:
                svc.proc.kill()
                await svc.proc.wait()
        self.services.clear()
        if self.session:
            await self.session.close()
        if self.plain:
            await self.plain.close()
        await asyncio.gather(*(sim.stop() for sim in self.sims))
        if self.nats is not None:
            self.nats.close()
        if os.environ.get("BENCH_KEEP_WORK"):
            log(f"kept {self.work} (BENCH_KEEP_WORK)")
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    async def kubectl(self, *args: str, stdin: str | None = None) -> str:
        cmd = [
            KUBECTL,
            "--kubeconfig",
            str(self.sim.kubeconfig),
            "--context",
            "host",
            "--cache-dir",
            str(self.work / "kcache"),
            *args,
        ]

        def run() -> str:
            r = subprocess.run(cmd, capture_output=True, text=True, input=stdin, timeout=120)
            if r.returncode != 0:
                raise RuntimeError(f"kubectl {' '.join(args)}: {r.stderr.strip()}")
            return r.stdout

        return await asyncio.to_thread(run)

    # ---- host API ----------------------------------------------------------------------------------
    @property
    def host(self) -> Cluster:
        return self._clusters["host"]

    def member(self, name: str) -> Cluster:
        return self._clusters[name]

    async def request(
        self, cluster: Cluster, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200, 201)
    ) -> Any:
        assert self.session is not None
        async with self.session.request(method, cluster.url + path, json=body, headers=cluster.headers) as r:
            data = await r.read()
            if r.status not in ok:
                raise RuntimeError(f"{method} {path} on {cluster.name}: {r.status} {data[:300]!r}")
            return json.loads(data) if data else None

    async def patch(self, path: str, body: Any, cluster: Cluster | None = None) -> Any:
        assert self.session is not None
        c = cluster or self.host
        async with self.session.patch(
            c.url + path,
            data=json.dumps(body),
            headers={**c.headers, "Content-Type": "application/merge-patch+json"},
        ) as r:
            data = await r.read()
            if r.status != 200:
                raise RuntimeError(f"PATCH {path}: {r.status} {data[:300]!r}")
            return json.loads(data)

    async def create(self, path: str, body: dict[str, Any], cluster: Cluster | None = None) -> Any:
        return await self.request(cluster or self.host, "POST", path, body)

    async def create_many(
        self, items: list[tuple[str, dict[str, Any]]], concurrency: int = 16, progress: str = ""
    ) -> None:
        it = iter(items)
        done = 0

        async def worker() -> None:
            nonlocal done
            for path, body in it:
                await self.create(path, body)
                done += 1
                if progress and done % 1000 == 0:
                    log(f"  {progress}: {done}/{len(items)}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    async def join(
        self, names: list[str] | None = None, labels: dict[str, dict[str, str]] | None = None
    ) -> None:
        """Register members the way ``kubefedctl join`` leaves them: token Secret + KubeFedCluster."""
        names = names or self.member_names
        items: list[tuple[str, dict[str, Any]]] = []
        for n in names:
            m = self.member(n)
            items.append(
                (
                    f"/api/v1/namespaces/{NS}/secrets",
                    {
                        "apiVersion": "v1",
                        "kind": "Secret",
                        "metadata": {"name": f"{n}-token", "namespace": NS},
                        "data": {"token": base64.b64encode(m.token.encode()).decode()},
                    },
                )
            )
            items.append(
                (
                    f"/apis/core.kubefed.io/v1beta1/namespaces/{NS}/kubefedclusters",
                    {
                        "apiVersion": "core.kubefed.io/v1beta1",
                        "kind": "KubeFedCluster",
                        "metadata": {"name": n, "namespace": NS, "labels": (labels or {}).get(n, {})},
                        "spec": {
                            "apiEndpoint": m.url,
                            "secretRef": {"name": f"{n}-token"},
                            "caBundle": base64.b64encode(m.ca_pem).decode(),
                        },
                    },
                )
            )
        await self.create_many(items, concurrency=8)

    async def wait_ready_members(self, names: list[str] | None = None, timeout: float = 120) -> float:
        names = names or self.member_names
        t0 = time.perf_counter()
        while True:
            data = await self.request(
                self.host, "GET", f"/apis/core.kubefed.io/v1beta1/namespaces/{NS}/kubefedclusters"
            )
            ready = {
                i["metadata"]["name"]
                for i in data["items"]
                if any(
                    c.get("type") == "Ready" and c.get("status") == "True"
                    for c in (i.get("status") or {}).get("conditions") or []
                )
            }
            if set(names) <= ready:
                return time.perf_counter() - t0
            if time.perf_counter() - t0 > timeout:
                raise RuntimeError(f"members not Ready after {timeout}s: {len(set(names) - ready)} missing")
            await asyncio.sleep(0.5)

    async def federate_namespace(self, ns: str) -> None:
        await self.create(
            "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
        )
        await self.create(
            f"/apis/types.kubefed.io/v1beta1/namespaces/{ns}/federatednamespaces",
            {
                "apiVersion": "types.kubefed.io/v1beta1",
                "kind": "FederatedNamespace",
                "metadata": {"name": ns, "namespace": ns},
                "spec": {"placement": {"clusterSelector": {}}},
            },
        )

    # ---- services ----------------------------------------------------------------------------------
    async def start_service(self, name: str, kind: str, *args: str) -> Service:
        port = free_port()
        logf = open(self.work / f"{name}.log", "ab")  # noqa: ASYNC230
        env = {
            **os.environ,
            "KUBEFED_LOG_LEVEL": os.environ.get("BENCH_SERVICE_LOG_LEVEL", "warning"),
            "OTEL_SERVICE_NAME": f"kubefed-{name}",
        }
        env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
        prefix: list[str] = [KUBEFED]
        if kind in PROFILE:
            os.makedirs(PROFILE_DIR, exist_ok=True)
            prefix = [
                sys.executable,
                "-m",
                "cProfile",
                "-o",
                str(PROFILE_DIR / f"{self.label}-{name}-{time.strftime('%H%M%S')}.prof"),
                KUBEFED,
            ]
        elif kind in TRACEMALLOC:
            os.makedirs(PROFILE_DIR, exist_ok=True)
            env["BENCH_TRACEMALLOC_OUT"] = str(PROFILE_DIR / f"{self.label}-{name}")
            prefix = [sys.executable, "-m", "bench._tracemalloc_run"]
        proc = await asyncio.create_subprocess_exec(
            *prefix,
            kind,
            "--nats",
            self.nats.url,
            "--stream-replicas",
            "3" if self.nats_servers > 1 else "1",
            "--kubeconfig",
            str(self.sim.kubeconfig),
            "--context",
            "host",
            "--http-port",
            str(port),
            "--grace-period",
            "10",
            *args,
            stdout=logf,
            stderr=logf,
            env=env,
            cwd=ROOT,
        )
        svc = Service(name, kind, list(args), port, proc)
        self.services[name] = svc
        return svc

    async def start_pipeline(
        self,
        propagators: dict[str, str] | None = None,
        schedulers: int = 1,
        propagator_selectors: dict[str, str] | None = None,
    ) -> None:
        """Watcher, ``schedulers`` schedulers and the propagators: one serving every member by default,
        or one per entry of ``propagators`` (name → comma-separated members) or of
        ``propagator_selectors`` (name → ``--cluster-selector``, e.g. ``region=r1``)."""
        await self.start_service("watcher", "watcher")
        for i in range(schedulers):
            await self.start_service(
                "scheduler" if i == 0 else f"scheduler-{i + 1}", "scheduler", *SCHEDULER_ARGS
            )
        if propagator_selectors:
            for name, selector in propagator_selectors.items():
                await self.start_service(name, "propagator", "--cluster-selector", selector)
            return
        for name, clusters in (propagators or {"propagator": ""}).items():
            await self.start_service(name, "propagator", *(["--clusters", clusters] if clusters else []))

    async def stop_service(self, name: str) -> None:
        svc = self.services.pop(name)
        if svc.proc.returncode is None:
            svc.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(svc.proc.wait(), 20)
            except TimeoutError:
                svc.proc.kill()
                await svc.proc.wait()

    def check_alive(self) -> None:
        """Raise if a service exited that nobody stopped (a crash must end the run, not stall it: a
        5,000-member run once waited on the half of the fleet whose propagator had died)."""
        for s in self.services.values():
            if s.proc.returncode is not None:
                raise RuntimeError(
                    f"{s.name} exited ({s.proc.returncode}): "
                    f"{(self.work / f'{s.name}.log').read_text()[-2000:]}"
                )

    async def stop_services(self, kinds: tuple[str, ...] = ("watcher", "scheduler", "propagator")) -> None:
        names = [n for n, s in self.services.items() if s.kind in kinds]
        await asyncio.gather(*(self.stop_service(n) for n in names))

    async def readyz(self, svc: Service) -> bool:
        assert self.plain is not None
        try:
            async with self.plain.get(svc.url + "/readyz") as r:
                return r.status == 200
        except (TimeoutError, aiohttp.ClientError):
            return False  # a service busy starting up may answer slowly: not ready yet

    async def wait_services_ready(
        self, kinds: tuple[str, ...] = ("watcher", "scheduler", "propagator"), timeout: float = 120
    ) -> float:
        t0 = time.perf_counter()
        while True:
            svcs = [s for s in self.services.values() if s.kind in kinds]
            self.check_alive()
            oks = await asyncio.gather(*(self.readyz(s) for s in svcs))
            if all(oks):
                return time.perf_counter() - t0
            if time.perf_counter() - t0 > timeout:
                raise RuntimeError(
                    f"services not ready after {timeout}s: "
                    f"{[s.name for s, ok in zip(svcs, oks, strict=True) if not ok]}"
                )
            await asyncio.sleep(0.1)

    async def metric(self, svc: Service, *names: str) -> float:
        assert self.plain is not None
        try:
            async with self.plain.get(svc.url + "/metrics") as r:
                return parse_metrics(await r.text(), names)
        except (TimeoutError, aiohttp.ClientError):
            return float("nan")

    async def work_counters(
        self, kinds: tuple[str, ...] = ("watcher", "scheduler", "propagator")
    ) -> tuple[float, ...]:
        """Counters that move while a service still works (propagations, reconciles, queue adds,
        publishes)."""
        names = (
            "kubefed_propagations_total",
            "controller_runtime_reconcile_total",
            "kubefed_messages_published_total",
            "workqueue_adds_total",
            "kubefed_host_status_writes_total",
        )
        return tuple(
            await asyncio.gather(*(self.metric(s, *names) for s in self.services.values() if s.kind in kinds))
        )

    async def exposition_size(self, svc: Service) -> dict[str, int]:
        """What one scrape of the service's ``/metrics`` holds: ``series`` (samples) and ``bytes``."""
        assert self.plain is not None
        async with self.plain.get(svc.url + "/metrics") as r:
            body = await r.read()
        series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
        return {"series": series, "bytes": len(body)}

    async def rest_requests(self, svc: Service) -> dict[str, float]:
        """The service's own ``rest_client_requests_total`` summed by method (all hosts)."""
        assert self.plain is not None
        async with self.plain.get(svc.url + "/metrics") as r:
            text = await r.text()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith("rest_client_requests_total{"):
                method = line.split('method="', 1)[1].split('"', 1)[0]
                out[method] = out.get(method, 0.0) + float(line.rsplit(" ", 1)[1])
        return out

    async def sim_stats(self) -> dict[str, dict[str, Any]]:
        """The simulator's per-cluster counters: ``requests``, and ``resourceVersion``, which moves once
        per write that changed something."""
        assert self.plain is not None
        out: dict[str, dict[str, Any]] = {}
        for sim in self.sims:
            async with self.plain.get(sim.admin + "/stats") as r:
                out.update((await r.json())["perCluster"])
        return out

    def usage(self) -> dict[str, tuple[float, float]]:
        out = {name: s.usage() for name, s in self.services.items()}
        per_sim = [proc_usage(sim.pid) for sim in self.sims]  # "sim": all simulator processes together
        out["sim"] = (sum(rss for rss, _ in per_sim), sum(cpu for _, cpu in per_sim))
        for server in getattr(self.nats, "servers", [self.nats] if self.nats is not None else []):
            if server.pid is not None:
                out[f"nats-server-{server.server_name}" if server.server_name else "nats-server"] = (
                    proc_usage(server.pid)
                )
        return out
