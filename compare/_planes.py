"""Control planes on real fleets, for comparisons with KubeFed: ours (the four services, NATS) or
KubeFed v0.10.0's controller-manager, each on its own :class:`sim.real.RealFleet`.

Both are joined the KubeFed way: the host cluster is a member too, under its kubeconfig context name
(KubeFed's e2e framework finds the host's KubeFedCluster by that name).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubefed.natsd import NatsServer
from sim.real import RealFleet, locate
from sim.real._process import Program
from sim.testing import find_kubectl

ROOT = Path(__file__).resolve().parents[1]
NS = "kube-federation-system"
BIN = Path(sys.executable).parent
KUBEFED_E2E_GATES = ("PushReconciler", "RawResourceStatusCollection", "SchedulerPreferences")


@dataclass
class Plane:
    fleet: RealFleet
    work: Path
    name: str = "ours"  # or "kubefed"
    kubefedctl_path: Path = BIN / "kubefedctl"
    config_path: Path | None = None  # KubeFed reads its KubeFedConfig from this file at start only
    procs: dict[str, Program] = field(default_factory=dict)
    helper_pids: dict[str, int] = field(default_factory=dict)  # part of the plane, not restarted (NATS)

    def controller_pids(self) -> dict[str, int]:
        """The control plane's processes (ours: the services and NATS; KubeFed: its controller-manager)."""
        pids = {name: p.proc.pid for name, p in self.procs.items() if p.proc is not None and p.running}
        return {**pids, **self.helper_pids}

    @property
    def kubeconfig(self) -> Path:
        return self.fleet.kubeconfig_path

    def kubectl(self, *args: str, context: str = "host", input: str | None = None) -> str:
        r = subprocess.run(
            [find_kubectl(), "--kubeconfig", str(self.kubeconfig), "--context", context, *args],
            capture_output=True,
            text=True,
            input=input,
            timeout=120,
        )
        if r.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        """A child that dies with us (a killed comparison leaves no service behind)."""
        self.procs[name] = Program(name, argv, self.work / f"{name}.log", env=env).start()

    def restart(self, name: str) -> None:
        """Stop one child and start it again with the same command line (a controller restart)."""
        old = self.procs[name]
        old.stop(grace=15)
        self.procs[name] = Program(name, old.argv, old.log, env=old.env).start()

    def kubefedctl(self, *args: str) -> str:
        """This plane's own kubefedctl (ours or KubeFed's) on the fleet's kubeconfig, host context."""
        r = subprocess.run(
            [
                str(self.kubefedctl_path),
                *args,
                "--host-cluster-context",
                "host",
                f"--kubeconfig={self.kubeconfig}",
            ],
            capture_output=True,
            text=True,
            timeout=180,
        )
        if r.returncode != 0:
            raise RuntimeError(f"{self.name} kubefedctl {' '.join(args)}: {r.stderr.strip()[-2000:]}")
        return r.stdout

    def set_adopt_resources(self, value: str) -> None:
        """``syncController.adoptResources`` Enabled or Disabled. KubeFed's controller-manager reads its file
        once, so it is rewritten and restarted. Our services apply a KubeFedConfig change as they see it, but
        an object created right after the change may be decided before the scheduler has seen it (one run
        adopted with Disabled just set), and no status says when it has: they are restarted too, so the
        step after the change starts from the new configuration on both planes."""
        self._reconfigure({"syncController": {"adoptResources": value}}, restart_ours=True)

    def set_scope(self, scope: str) -> None:
        """KubeFedConfig ``scope`` (Cluster or Namespaced). Scope is fixed for a running control plane
        (KubeFed's webhook makes it immutable; our watcher chooses its watches by it when it starts), so
        both planes are restarted on the new configuration: a fresh control plane of that scope over the
        same fleet."""
        self._reconfigure({"scope": scope}, restart_ours=True)

    def _reconfigure(self, spec: dict[str, Any], *, restart_ours: bool) -> None:
        self.kubectl(
            "patch", "kubefedconfig", "kubefed", "-n", NS, "--type=merge", "-p", json.dumps({"spec": spec})
        )
        if self.config_path is not None:
            import yaml

            config = yaml.safe_load(self.config_path.read_text())
            for key, value in spec.items():
                if isinstance(value, dict):
                    config["spec"].setdefault(key, {}).update(value)
                else:
                    config["spec"][key] = value
            self.config_path.write_text(yaml.safe_dump(config))
            self.restart("controller-manager")
        elif restart_ours:
            for service in ("watcher", "scheduler", "propagator"):
                self.restart(service)

    def stop(self) -> None:
        for program in self.procs.values():
            program.stop(grace=15)
        self.procs.clear()


def _wait(check, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise RuntimeError(f"timed out waiting for {what}")


def _members_ready(plane: Plane, names: list[str]) -> bool:
    for name in names:
        kfc = plane.fleet["host"].get_object("core.kubefed.io", "kubefedclusters", NS, name) or {}
        conditions = (kfc.get("status") or {}).get("conditions") or []
        if not any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
            return False
    return True


@contextlib.contextmanager
def ours(clusters: list[str], work: Path) -> Iterator[Plane]:
    """Our control plane: deploy/ installed with kubectl, clusters joined with our kubefedctl, NATS and the
    watcher, scheduler and propagator as processes."""
    work.mkdir(parents=True, exist_ok=True)
    fleet = RealFleet(clusters, kubeconfig_path=work / "kubeconfig", workdir=work / "fleet")
    nats = NatsServer(store_dir=str(work / "nats"))
    plane = Plane(fleet, work)
    try:
        fleet.start()
        nats.start()
        if nats.pid is not None:
            plane.helper_pids["nats-server"] = nats.pid
        plane.kubectl("apply", "--server-side", "-f", str(ROOT / "deploy" / "crds"))
        plane.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        plane.kubectl("apply", "-f", str(ROOT / "deploy" / "config"))
        # the gates KubeFed's e2e configuration enables (its config/kubefedconfig.yaml): all of KubeFed's
        plane.kubectl(
            "patch",
            "kubefedconfig",
            "kubefed",
            "-n",
            NS,
            "--type=merge",
            "-p",
            json.dumps(
                {
                    "spec": {
                        "featureGates": [{"name": g, "configuration": "Enabled"} for g in KUBEFED_E2E_GATES]
                    }
                }
            ),
        )
        for name in clusters:
            r = subprocess.run(
                [
                    str(BIN / "kubefedctl"),
                    "join",
                    name,
                    "--cluster-context",
                    name,
                    "--host-cluster-context",
                    "host",
                    "--kubeconfig",
                    str(plane.kubeconfig),
                ],
                capture_output=True,
                text=True,
                timeout=120,
            )
            if r.returncode != 0:
                raise RuntimeError(f"kubefedctl join {name}: {r.stderr.strip()}")
        common = [
            "--nats",
            nats.url,
            "--kubeconfig",
            str(plane.kubeconfig),
            "--context",
            "host",
            "--http-port",
            "0",
        ]
        extra = {"scheduler": ["--propagated-versions"]}  # KubeFed's e2e suite reads them
        for service in ("watcher", "scheduler", "propagator"):
            plane.spawn(
                service,
                [str(BIN / "kubefed"), service, *common, *extra.get(service, [])],
                env={"KUBEFED_LOG_LEVEL": "warning"},
            )
        _wait(lambda: _members_ready(plane, clusters), 60, "members Ready")
        yield plane
    finally:
        plane.stop()
        nats.close()
        fleet.close()


@contextlib.contextmanager
def kubefed(clusters: list[str], work: Path) -> Iterator[Plane]:
    """KubeFed v0.10.0: its CRDs and default FederatedTypeConfigs from its module, clusters joined with its
    own kubefedctl, its controller-manager as a process with its complete default KubeFedConfig (leader
    election at the chart's 15 s / 10 s / 5 s, see :func:`kubefed_manifests`).

    Its FederatedTypeConfigs and KubeFedConfig go into the KubeFed namespace, as KubeFed's chart installs
    them: its FTC controller watches only that namespace. (Applied without a namespace they landed in
    ``default``, no type was ever reconciled, and the run looked like a hung controller-manager.) When it
    is stopped it logs "leader election lost" / "lost lease": that is its normal exit on SIGTERM."""
    from ._kubefed_module import kubefed_manifests

    work.mkdir(parents=True, exist_ok=True)
    fleet = RealFleet(clusters, kubeconfig_path=work / "kubeconfig", workdir=work / "fleet")
    plane = Plane(fleet, work, name="kubefed", kubefedctl_path=locate("kubefedctl"))
    try:
        fleet.start()
        manifests = kubefed_manifests(work / "kubefed")
        plane.config_path = manifests.config
        plane.kubectl("create", "namespace", NS)
        plane.kubectl("apply", "--server-side", "-f", str(manifests.crds))
        plane.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        # the FederatedTypeConfigs carry no namespace; KubeFed's FTC controller watches only its own
        # namespace, so applied to "default" (the context's namespace) none of them would ever be reconciled
        plane.kubectl("apply", "-n", NS, "-f", str(manifests.type_configs))
        plane.kubectl("apply", "-n", NS, "-f", str(manifests.config))
        plane.spawn(
            "controller-manager",
            [
                str(locate("controller-manager")),
                f"--kubeconfig={plane.kubeconfig}",
                f"--kubefed-namespace={NS}",
                f"--kubefed-config={manifests.config}",
                "--healthz-addr=127.0.0.1:0",
                "--metrics-addr=127.0.0.1:0",
                "-v=2",
            ],
        )
        for name in clusters:
            r = subprocess.run(
                [
                    str(locate("kubefedctl")),
                    "join",
                    name,
                    "--cluster-context",
                    name,
                    "--host-cluster-context",
                    "host",
                    f"--kubeconfig={plane.kubeconfig}",
                    "--v=2",
                ],
                capture_output=True,
                text=True,
                timeout=180,
            )
            if r.returncode != 0:
                raise RuntimeError(f"KubeFed kubefedctl join {name}: {r.stderr.strip()[-2000:]}")
        _wait(lambda: _members_ready(plane, clusters), 90, "members Ready")
        yield plane
    finally:
        plane.stop()
        fleet.close()
