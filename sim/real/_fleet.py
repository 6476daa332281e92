"""A fleet of real Kubernetes clusters on loopback, laid out like the simulator's.

One etcd serves every cluster (a key prefix each: one process instead of N, see
docs/real-clusters.md); each cluster is a kube-apiserver (TLS from the fleet's CA, a static admin
token, RBAC, a service-account issuer and signing key), a kube-controller-manager (GC, namespaces,
service accounts and tokens, workloads, EndpointSlices), a kube-scheduler and KWOK, which keeps fake
nodes Ready and runs the pods bound to them. Nodes carry ``topology.kubernetes.io/region|zone``
labels and a pod capacity, so the real scheduler leaves over-capacity pods Unschedulable.

LoadBalancer Services get an address from the simulator's RFC 5737 pool, written by a small loop in
the launcher (no cloud provider runs here). The kubeconfig has one context per cluster named after
it, exactly as ``kubefed sim`` writes it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import shutil
import ssl
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from kubefed.ports import free_port

from .._controllers.service import POOL
from .._fleet import default_node_labels, kubeconfig_for, write_kubeconfig_file
from . import _pki
from ._binaries import FLEET_PROGRAMS, asset_dir, locate
from ._process import Program, ProgramFailed, tail

SERVICE_CIDR = "10.0.0.0/24"
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
COMPONENTS = ("kube-controller-manager", "kube-scheduler", "kwok")

# Mutating requests of clients (not of the cluster's own components) go to an audit log, so tests can
# count member writes the way the simulator's ``write_count`` does.
AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
- level: None
  users: [kube-controller-manager, kube-scheduler, kwok, "system:apiserver", "system:kube-controller-manager",
          "system:kube-scheduler"]
- level: None
  userGroups: ["system:nodes"]
- level: None
  verbs: [get, list, watch]
- level: Metadata
"""


def _path(
    group: str, version: str | None, plural: str, namespace: str | None, name: str | None = None
) -> str:
    base = f"/api/{version or 'v1'}" if not group else f"/apis/{group}/{version}"
    if namespace:
        base += f"/namespaces/{namespace}"
    base += f"/{plural}"
    return base + (f"/{name}" if name else "")


def etcd_program(
    label: str, data_dir: Path, client_port: int, peer_port: int, log: Path, *extra: str
) -> Program:
    """A single-member throw-away etcd on loopback (no fsync)."""
    client, peer = f"http://127.0.0.1:{client_port}", f"http://127.0.0.1:{peer_port}"
    return Program(
        label,
        [
            str(locate("etcd")),
            f"--name={label}",
            f"--data-dir={data_dir}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster={label}={peer}",
            "--unsafe-no-fsync",
            "--log-level=warn",
            *extra,
        ],
        log,
    )


# kube-controller-manager's controllers on a host without workload controllers: the list Karmada's
# installer runs on its host, plus ``serviceaccount`` for the default ServiceAccount. Namespaces,
# garbage collection, tokens and certificates; nothing that turns a workload into pods.
CONTROL_PLANE_CONTROLLERS = (
    "namespace,garbagecollector,serviceaccount,serviceaccount-token,ttl-after-finished,bootstrapsigner,"
    "csrapproving,csrcleaner,csrsigning,clusterrole-aggregation"
)


class RealCluster:
    """One real cluster: its programs, its address and an admin client for tests and tools."""

    def __init__(
        self,
        fleet: RealFleet,
        name: str,
        index: int,
        *,
        capacity: int,
        nodes: int,
        node_labels: dict[str, str],
        workload_controllers: bool = True,
    ) -> None:
        self.fleet = fleet
        self.workload_controllers = workload_controllers
        self.name = name
        self.index = index
        self.capacity = capacity
        self.nodes = nodes
        self.node_labels = node_labels
        self.port = free_port()
        self.dir = fleet.dir / name
        self.admin_token = _pki.new_token()
        self.component_tokens = {c: _pki.new_token() for c in COMPONENTS}
        self.ca_pem: bytes = fleet.ca.pem
        self._ssl = ssl.create_default_context(cadata=self.ca_pem.decode())
        self.apiserver: Program | None = None
        self.controllers: list[Program] = []
        self._versions: dict[tuple[str, str], str] = {}

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def online(self) -> bool:
        return self.apiserver is not None and self.apiserver.running

    # ---- files and processes -------------------------------------------------------------------
    def _write_files(self) -> None:
        d = self.dir
        cert, key = self.fleet.ca.issue_serving(f"kube-apiserver-{self.name}")
        _pki.write(d / "apiserver.crt", cert)
        _pki.write(d / "apiserver.key", key)
        sa_private, sa_public = _pki.service_account_key()
        _pki.write(d / "sa.key", sa_private)
        _pki.write(d / "sa.pub", sa_public)
        _pki.write(d / "ca.crt", self.ca_pem)
        lines = [f'{self.admin_token},kubefed-admin,kubefed-admin,"system:masters"']
        lines += [f'{token},{user},{user},"system:masters"' for user, token in self.component_tokens.items()]
        _pki.write(d / "tokens.csv", "\n".join(lines) + "\n")
        _pki.write(d / "audit-policy.yaml", AUDIT_POLICY)
        for user, token in self.component_tokens.items():
            kubeconfig = {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": self.name,
                "clusters": [
                    {
                        "name": self.name,
                        "cluster": {
                            "server": self.url,
                            "certificate-authority-data": base64.b64encode(self.ca_pem).decode(),
                        },
                    }
                ],
                "users": [{"name": user, "user": {"token": token}}],
                "contexts": [{"name": self.name, "context": {"cluster": self.name, "user": user}}],
            }
            _pki.write(d / f"{user}.kubeconfig", yaml.safe_dump(kubeconfig))

    def _apiserver_program(self) -> Program:
        d = self.dir
        argv = [
            str(locate("kube-apiserver")),
            f"--etcd-servers={self.fleet.etcd_url}",
            f"--etcd-prefix=/clusters/{self.name}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.port}",
            f"--cert-dir={d}",
            f"--tls-cert-file={d / 'apiserver.crt'}",
            f"--tls-private-key-file={d / 'apiserver.key'}",
            f"--client-ca-file={d / 'ca.crt'}",
            f"--token-auth-file={d / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            f"--service-account-issuer={self.url}",
            f"--service-account-key-file={d / 'sa.pub'}",
            f"--service-account-signing-key-file={d / 'sa.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--allow-privileged=true",
            "--profiling=false",
            "--endpoint-reconciler-type=none",
            f"--audit-policy-file={d / 'audit-policy.yaml'}",
            f"--audit-log-path={self.audit_log}",
            "--audit-log-mode=blocking",
            "--audit-log-format=json",
        ]
        return Program(f"kube-apiserver[{self.name}]", argv, d / "kube-apiserver.log")

    @property
    def audit_log(self) -> Path:
        return self.dir / "audit.log"

    def _controller_programs(self) -> list[Program]:
        d = self.dir
        return [
            Program(
                f"kube-controller-manager[{self.name}]",
                [
                    str(locate("kube-controller-manager")),
                    f"--kubeconfig={d / 'kube-controller-manager.kubeconfig'}",
                    "--leader-elect=false",
                    f"--service-account-private-key-file={d / 'sa.key'}",
                    f"--root-ca-file={d / 'ca.crt'}",
                    "--use-service-account-credentials=false",
                    "--secure-port=0",
                    "--profiling=false",
                    f"--controllers={'*' if self.workload_controllers else CONTROL_PLANE_CONTROLLERS}",
                ],
                d / "kube-controller-manager.log",
            ),
            Program(
                f"kube-scheduler[{self.name}]",
                [
                    str(locate("kube-scheduler")),
                    f"--kubeconfig={d / 'kube-scheduler.kubeconfig'}",
                    "--leader-elect=false",
                    "--secure-port=0",
                    "--profiling=false",
                ],
                d / "kube-scheduler.log",
            ),
            Program(
                f"kwok[{self.name}]",
                [
                    str(locate("kwok")),
                    f"--kubeconfig={d / 'kwok.kubeconfig'}",
                    "--manage-all-nodes=false",
                    *(f"--config={f}" for f in sorted(asset_dir("kwok", "stages").glob("*.yaml"))),
                    f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake",
                    f"--cidr=10.{64 + self.index % 128}.0.1/16",
                    "--node-ip=127.0.0.1",
                    "--server-address=",
                ],
                d / "kwok.log",
            ),
        ]

    def start_apiserver(self) -> None:
        self.apiserver = self._apiserver_program().start()

    def wait_apiserver(self, timeout: float) -> None:
        assert self.apiserver is not None
        self.apiserver.wait_ready(lambda: self._probe("/readyz"), timeout)

    def start_controllers(self) -> None:
        self.controllers = [p.start() for p in self._controller_programs()]

    def check_alive(self) -> None:
        for p in [self.apiserver, *self.controllers]:
            if p is not None:
                p.check_alive()

    def stop(self) -> None:
        for p in reversed(self.controllers):
            p.stop()
        self.controllers = []
        if self.apiserver is not None:
            self.apiserver.stop()

    def take_offline(self) -> None:
        """Stop the API server (the cluster stops answering, as a member that went away)."""
        if self.apiserver is not None:
            self.apiserver.stop()

    def bring_online(self, timeout: float = 60.0) -> None:
        """Start the API server again on the same port, with the same data."""
        self.start_apiserver()
        self.wait_apiserver(timeout)

    async def go_offline(self) -> None:
        """The simulator's name for :meth:`take_offline`, so suites run unchanged on either."""
        await asyncio.to_thread(self.take_offline)

    async def go_online(self) -> None:
        await asyncio.to_thread(self.bring_online)

    @property
    def write_count(self) -> int:
        """Mutating requests of clients (POST, PUT, PATCH, DELETE; the cluster's own components excluded),
        counted from the API server's audit log, as the simulator's ``write_count``."""
        try:
            with self.audit_log.open("rb") as f:
                return sum(1 for line in f if b'"stage":"ResponseComplete"' in line)
        except FileNotFoundError:
            return 0

    # ---- a small admin client ------------------------------------------------------------------
    def _probe(self, path: str) -> bool:
        try:
            return self.request("GET", path, timeout=2)[0] == 200
        except OSError:
            return False

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        timeout: float = 10,
        content_type: str = "application/json",
    ) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.admin_token}",
                "Accept": "application/json",
                **({"Content-Type": content_type} if data is not None else {}),
            },
        )
        try:
            with urllib.request.urlopen(req, context=self._ssl, timeout=timeout) as resp:
                raw = resp.read()
                status = resp.status
        except urllib.error.HTTPError as err:
            raw, status = err.read(), err.code
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def _version_of(self, group: str, plural: str) -> str:
        """The version serving ``group``/``plural``: the group's preferred one if it serves the resource,
        else the first that does (discovery, cached; a group may serve kinds at different versions)."""
        if not group:
            return "v1"
        key = (group, plural)
        if key not in self._versions:
            status, body = self.request("GET", f"/apis/{group}")
            if status != 200:
                raise LookupError(f"{self.name}: group {group} is not served")
            preferred = body["preferredVersion"]["version"]
            versions = [preferred] + [
                v["version"] for v in body.get("versions") or [] if v["version"] != preferred
            ]
            for version in versions:
                status, resources = self.request("GET", f"/apis/{group}/{version}")
                if status == 200 and any(r.get("name") == plural for r in resources.get("resources") or []):
                    self._versions[key] = version
                    break
            else:
                raise LookupError(f"{self.name}: {plural}.{group} is not served")
        return self._versions[key]

    def get_object(self, group: str, plural: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist (the simulator's ``get_object``)."""
        try:
            version = self._version_of(group, plural)
        except LookupError:
            return None
        status, body = self.request("GET", _path(group, version, plural, namespace, name))
        if status == 404:
            return None
        if status != 200:
            raise RuntimeError(f"{self.name}: GET {group}/{plural} {namespace}/{name}: {status} {body}")
        return body  # type: ignore[no-any-return]

    def list_objects(self, group: str, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """The objects of a resource, or [] when the cluster does not serve it (the simulator's
        ``list_objects``)."""
        try:
            version = self._version_of(group, plural)
        except LookupError:
            return []
        status, body = self.request("GET", _path(group, version, plural, namespace))
        if status == 404:
            return []
        if status != 200:
            raise RuntimeError(f"{self.name}: LIST {group}/{plural}: {status} {body}")
        return list(body.get("items") or [])

    # ---- what the launcher sets up once the API server answers -----------------------------------
    def create_nodes(self) -> None:
        for i in range(self.nodes):
            node = {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": f"{self.name}-node-{i}",
                    "annotations": {KWOK_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
                    "labels": {
                        **self.node_labels,
                        "kubernetes.io/hostname": f"{self.name}-node-{i}",
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "type": "kwok",
                    },
                },
                "spec": {},
                "status": {
                    "allocatable": {"cpu": "32", "memory": "256Gi", "pods": str(self.capacity)},
                    "capacity": {"cpu": "32", "memory": "256Gi", "pods": str(self.capacity)},
                    "nodeInfo": {
                        "architecture": "amd64",
                        "operatingSystem": "linux",
                        "kubeletVersion": "fake",
                        "kubeProxyVersion": "fake",
                    },
                },
            }
            status, body = self.request("POST", "/api/v1/nodes", node)
            if status not in (201, 409):
                raise ProgramFailed(f"{self.name}: creating node failed: {status} {body}")

    def controllers_ready(self) -> bool:
        """kube-controller-manager has made the default ServiceAccount, KWOK has made the nodes Ready."""
        if self.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")[0] != 200:
            return False
        status, body = self.request("GET", "/api/v1/nodes")
        if status != 200:
            return False
        ready = [
            n
            for n in body.get("items") or []
            if any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (n.get("status") or {}).get("conditions") or []
            )
        ]
        return len(ready) >= self.nodes

    def assign_load_balancers(self, used: set[str]) -> None:
        """One pass of a cloud provider's service controller: every LoadBalancer Service without an address
        gets one from the pool; a Service that is no longer a LoadBalancer loses its address."""
        status, body = self.request("GET", "/api/v1/services")
        if status != 200:
            return
        live: set[str] = set()
        for svc in body.get("items") or []:
            meta = svc["metadata"]
            status_path = f"/api/v1/namespaces/{meta['namespace']}/services/{meta['name']}/status"
            ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
            if (svc.get("spec") or {}).get("type") != "LoadBalancer":
                if ingress:  # no longer a load balancer: release the address, as a cloud controller does
                    self.request(
                        "PATCH",
                        status_path,
                        {"status": {"loadBalancer": None}},
                        content_type="application/merge-patch+json",
                    )
                continue
            if ingress:
                live.update(i["ip"] for i in ingress if i.get("ip"))
                continue
            ip = next((a for a in POOL[(self.index * 37) % len(POOL) :] + POOL if a not in used), None)
            if ip is None:
                continue
            used.add(ip)
            live.add(ip)
            self.request(
                "PATCH",
                status_path,
                {"status": {"loadBalancer": {"ingress": [{"ip": ip}]}}},
                content_type="application/merge-patch+json",
            )
        used.intersection_update(live)  # addresses of deleted or changed Services go back to the pool


class RealFleet:
    """Named real clusters sharing one etcd; ``fleet["m1"]`` is a :class:`RealCluster`."""

    def __init__(
        self,
        names: Iterable[str],
        *,
        kubeconfig_path: Path | str | None = None,
        capacity: dict[str, int] | int = 110,
        nodes: int = 1,
        node_labels: dict[str, dict[str, str]] | None = None,
        workdir: Path | None = None,
        without_workload_controllers: Iterable[str] = (),
    ) -> None:
        """``without_workload_controllers``: clusters whose kube-controller-manager runs only the
        control-plane controllers (:data:`CONTROL_PLANE_CONTROLLERS`), as Karmada's API server host
        does: a Deployment stored there is a template that no controller turns into pods."""
        names = list(names)
        bare = set(without_workload_controllers)
        if bare - set(names):
            raise ValueError(
                f"without_workload_controllers names unknown clusters: {sorted(bare - set(names))}"
            )
        if len(set(names)) != len(names) or not names:
            raise ValueError("cluster names must be unique and at least one")
        for program in FLEET_PROGRAMS:
            locate(program)  # a missing binary is one clear error before anything starts
        self._own_dir = workdir is None
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="kubefed-real-"))
        self.ca = _pki.CertificateAuthority.create()
        self.etcd_port, self.etcd_peer_port = free_port(), free_port()
        self.etcd: Program | None = None
        self.kubeconfig_path = Path(kubeconfig_path) if kubeconfig_path else self.dir / "kubeconfig"
        self.clusters: dict[str, RealCluster] = {}
        for index, name in enumerate(names):
            cap = capacity.get(name, 110) if isinstance(capacity, dict) else capacity
            labels = (node_labels or {}).get(name) or default_node_labels(index)
            self.clusters[name] = RealCluster(
                self,
                name,
                index,
                capacity=cap,
                nodes=nodes,
                node_labels=labels,
                workload_controllers=name not in bare,
            )
        self._stop = threading.Event()
        self._lb_thread: threading.Thread | None = None
        self.started_seconds = 0.0

    @property
    def etcd_url(self) -> str:
        return f"http://127.0.0.1:{self.etcd_port}"

    @property
    def names(self) -> list[str]:
        return list(self.clusters)

    def __getitem__(self, name: str) -> RealCluster:
        return self.clusters[name]

    def __iter__(self) -> Iterator[RealCluster]:
        return iter(self.clusters.values())

    def __len__(self) -> int:
        return len(self.clusters)

    def _etcd_program(self) -> Program:
        return etcd_program(
            "etcd",
            self.dir / "etcd",
            self.etcd_port,
            self.etcd_peer_port,
            self.dir / "etcd.log",
            "--quota-backend-bytes=4294967296",
        )

    def _etcd_healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.etcd_url + "/health", timeout=1) as resp:
                return bool(json.loads(resp.read()).get("health") == "true")
        except (OSError, ValueError):
            return False

    def start(self, timeout: float = 90.0) -> RealFleet:
        started = time.monotonic()
        try:
            self.etcd = self._etcd_program().start()
            self.etcd.wait_ready(self._etcd_healthy, 20)
            for cluster in self:
                cluster._write_files()
                cluster.start_apiserver()
            for cluster in self:
                cluster.wait_apiserver(timeout)
            for cluster in self:
                cluster.create_nodes()
                cluster.start_controllers()
            deadline = time.monotonic() + timeout
            pending = list(self)
            while pending:
                for cluster in pending:
                    cluster.check_alive()
                pending = [c for c in pending if not c.controllers_ready()]
                if pending and time.monotonic() > deadline:
                    c = pending[0]
                    raise ProgramFailed(
                        f"{c.name}: controllers not ready after {timeout:.0f} s; "
                        f"kube-controller-manager log:\n{tail(c.dir / 'kube-controller-manager.log')}\n"
                        f"kwok log:\n{tail(c.dir / 'kwok.log')}"
                    )
                time.sleep(0.2)
            self.write_kubeconfig()
            self._lb_thread = threading.Thread(
                target=self._load_balancer_loop, name="real-fleet-lb", daemon=True
            )
            self._lb_thread.start()
        except BaseException:
            self.stop()
            raise
        self.started_seconds = time.monotonic() - started
        return self

    def _load_balancer_loop(self) -> None:
        used: dict[str, set[str]] = {c.name: set() for c in self}
        while not self._stop.wait(0.5):
            for cluster in self:
                if cluster.online:
                    with contextlib.suppress(OSError, ValueError, KeyError):
                        cluster.assign_load_balancers(used[cluster.name])

    def check_alive(self) -> None:
        """Raise :class:`ProgramFailed` if any program of the fleet has exited by itself."""
        if self.etcd is not None:
            self.etcd.check_alive()
        for cluster in self:
            cluster.check_alive()

    def stop(self) -> None:
        self._stop.set()
        if self._lb_thread is not None:
            self._lb_thread.join(5)
        for cluster in self:
            cluster.stop()
        if self.etcd is not None:
            self.etcd.stop()
            self.etcd = None

    def close(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RealFleet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- kubeconfig (the simulator's layout) -----------------------------------------------------
    def kubeconfig(self) -> dict[str, Any]:
        return kubeconfig_for(self)

    def write_kubeconfig(self) -> Path:
        return write_kubeconfig_file(self.kubeconfig_path, self.kubeconfig())


@contextlib.asynccontextmanager
async def run_real_fleet(names: Iterable[str], **kw: Any) -> AsyncIterator[RealFleet]:
    """``sim.run_fleet``'s counterpart: start the real fleet off the event loop, close it on exit."""
    fleet = RealFleet(names, **kw)
    await asyncio.to_thread(fleet.start)
    try:
        yield fleet
    finally:
        await asyncio.to_thread(fleet.close)
