"""A bounded chaos soak: the pipeline on a clustered JetStream while everything around it fails.

``python -m bench.soak`` (``make soak``; ``SOAK_SECONDS``, default 600) runs watcher ×2, scheduler ×2
and a propagator as processes against three nats-servers (streams at 3 replicas) and a simulated host
with three members. For ``SOAK_SECONDS`` a generator creates, updates and deletes FederatedConfigMaps
and changes their placement, while a fault injector, one fault at a time, kills (SIGKILL) and restarts
services and nats-servers, freezes a nats-server (SIGSTOP) past its route timeout, takes a member
offline, drops a member's watches, and makes a member answer 429 or 500 to a share of requests or
answer slowly.

Then the faults stop (every member back, every server and service running) and the invariant checker
polls until it holds, or ``SOAK_CONVERGE_SECONDS`` (240) passed:

- every member holds exactly the ConfigMaps its placement asks for, with the current data;
- no orphaned member object (deleted, placed elsewhere, or unknown) and no host object left of a
  deletion;
- every federated object's host status lists exactly its placement clusters, all OK, Propagation True;
  every KubeFedCluster is Ready;
- no durable consumer holds a pending or unacknowledged message;
- no service process exited that the injector did not kill.

It prints one summary line and writes ``bench/results/soak.json`` (operations, faults by kind,
convergence time after the last fault, violations); the exit status is 1 with violations.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._env import NS as SYSTEM_NS  # noqa: E402
from bench._env import Env, log  # noqa: E402

RESULTS = ROOT / "bench" / "results"
NS = "soak"
FCM_PATH = f"/apis/types.kubefed.io/v1beta1/namespaces/{NS}/federatedconfigmaps"
MANAGED = "kubefed.io%2Fmanaged%3Dtrue"
CONSUMERS = (
    ("KUBEFED_HOST", "scheduler"),
    ("KUBEFED_STATUS", "status-writer"),
    ("KUBEFED_HEALTH", "health-writer"),
    ("KUBEFED_MEMBER", "rsp"),
)
SERVICES = {
    "watcher": "watcher",
    "watcher-2": "watcher",
    "scheduler": "scheduler",
    "scheduler-2": "scheduler",
    "propagator": "propagator",
}
FAULTS = (
    "kill-service",
    "kill-nats",
    "freeze-nats",
    "member-offline",
    "drop-watches",
    "errors-429",
    "errors-500",
    "latency",
)


@dataclass
class Desired:
    data: str
    clusters: list[str]
    deleted: bool = False


@dataclass
class Soak:
    env: Env
    rng: random.Random
    model: dict[str, Desired] = field(default_factory=dict)
    operations: collections.Counter[str] = field(default_factory=collections.Counter)
    faults: collections.Counter[str] = field(default_factory=collections.Counter)
    killed: set[str] = field(default_factory=set)  # services the injector is restarting right now
    exits: list[str] = field(default_factory=list)  # services that exited by themselves
    last_fault_end: float = 0.0
    next_name: int = 0

    # -- the generator ------------------------------------------------------------------------
    def _placement(self) -> list[str]:
        members = self.env.member_names
        if self.rng.random() < 0.4:
            return list(members)
        return sorted(self.rng.sample(members, self.rng.randint(1, len(members))))

    @staticmethod
    def _body(name: str, d: Desired) -> dict[str, Any]:
        return {
            "apiVersion": "types.kubefed.io/v1beta1",
            "kind": "FederatedConfigMap",
            "metadata": {"name": name, "namespace": NS},
            "spec": {
                "template": {"data": {"v": d.data}},
                "placement": {"clusters": [{"name": c} for c in d.clusters]},
            },
        }

    async def operate(self) -> None:
        live = [n for n, d in self.model.items() if not d.deleted]
        roll = self.rng.random()
        if not live or (roll < 0.35 and len(live) < 60):
            name = f"cm-{self.next_name:04d}"
            self.next_name += 1
            d = Desired(data=str(self.rng.randint(0, 10**6)), clusters=self._placement())
            await self.env.create(FCM_PATH, self._body(name, d))
            self.model[name] = d
            self.operations["create"] += 1
        elif roll < 0.65:
            name = self.rng.choice(live)
            data = str(self.rng.randint(0, 10**6))
            await self.env.patch(f"{FCM_PATH}/{name}", {"spec": {"template": {"data": {"v": data}}}})
            self.model[name].data = data
            self.operations["update"] += 1
        elif roll < 0.85:
            name = self.rng.choice(live)
            clusters = self._placement()
            await self.env.patch(
                f"{FCM_PATH}/{name}", {"spec": {"placement": {"clusters": [{"name": c} for c in clusters]}}}
            )
            self.model[name].clusters = clusters
            self.operations["placement"] += 1
        else:
            name = self.rng.choice(live)
            await self.env.request(self.env.host, "DELETE", f"{FCM_PATH}/{name}", ok=(200, 202))
            self.model[name].deleted = True
            self.operations["delete"] += 1

    async def generate(self, until: float, rate: float) -> None:
        while time.monotonic() < until:
            try:
                await self.operate()
            except Exception as exc:  # the host is never faulted: a failed operation is a soak bug
                self.operations["failed"] += 1
                log(f"  soak: operation failed: {exc!r}")
            await asyncio.sleep(self.rng.expovariate(rate))

    # -- the fault injector -------------------------------------------------------------------
    async def _admin(self, cluster: str, action: str, **query: Any) -> None:
        assert self.env.plain is not None
        q = "&".join(f"{k}={v}" for k, v in query.items())
        async with self.env.plain.post(
            f"{self.env.sim.admin}/clusters/{cluster}/{action}" + (f"?{q}" if q else "")
        ) as r:
            if r.status != 200:
                raise RuntimeError(f"admin {cluster}/{action}: {r.status} {await r.text()}")

    async def restart_service(self, name: str) -> None:
        kind, args = self.env.services[name].kind, self.env.services[name].args
        self.killed.add(name)
        try:
            svc = self.env.services.pop(name)
            if svc.proc.returncode is None:
                svc.proc.kill()
                await svc.proc.wait()
            await asyncio.sleep(self.rng.uniform(0.5, 3.0))
            await self.env.start_service(name, kind, *args)
        finally:
            self.killed.discard(name)

    async def inject(self, kind: str) -> str:
        cluster = self.env.nats
        member = self.rng.choice(self.env.member_names)
        hold = self.rng.uniform(5.0, 12.0)
        if kind == "kill-service":
            name = self.rng.choice(list(SERVICES))
            await self.restart_service(name)
            return name
        if kind == "kill-nats":
            server = self.rng.choice(cluster.servers)
            server.kill()
            await asyncio.sleep(hold)
            await asyncio.to_thread(server.start, 60.0)
            return str(server.server_name)
        if kind == "freeze-nats":
            server = self.rng.choice(cluster.servers)
            server.pause()
            await asyncio.sleep(hold)
            server.resume()
            return str(server.server_name)
        if kind == "member-offline":
            await self._admin(member, "offline")
            await asyncio.sleep(hold)
            await self._admin(member, "online")
        elif kind == "drop-watches":
            await self._admin(member, "drop-watches")
        elif kind in ("errors-429", "errors-500"):
            await self._admin(member, "errors", rate=0.3, status=kind.split("-")[1])
            await asyncio.sleep(hold)
            await self._admin(member, "errors", rate=0)
        elif kind == "latency":
            await self._admin(member, "latency", seconds=0.3)
            await asyncio.sleep(hold)
            await self._admin(member, "latency", seconds=0)
        return member

    async def chaos(self, until: float) -> None:
        await asyncio.sleep(self.rng.uniform(2.0, 5.0))
        while time.monotonic() < until:
            kind = self.rng.choice(FAULTS)
            target = await self.inject(kind)
            self.faults[kind] += 1
            self.last_fault_end = time.monotonic()
            log(f"  soak: fault {kind} on {target}")
            await asyncio.sleep(self.rng.uniform(2.0, 6.0))

    async def watch_exits(self, stop: asyncio.Event) -> None:
        """A service that exits without the injector killing it is a violation; restart it to go on."""
        while not stop.is_set():
            for name, svc in list(self.env.services.items()):
                if name not in self.killed and svc.proc.returncode is not None:
                    self.exits.append(f"{name} exited by itself with {svc.proc.returncode}")
                    log(f"  soak: {self.exits[-1]}")
                    self.env.services.pop(name)
                    await self.env.start_service(name, svc.kind, *svc.args)
            await asyncio.sleep(0.5)

    # -- the invariant checker ----------------------------------------------------------------
    async def violations(self, bus: Any) -> list[str]:
        env = self.env
        out: list[str] = []
        host = {i["metadata"]["name"]: i for i in (await env.request(env.host, "GET", FCM_PATH))["items"]}
        for name, d in self.model.items():
            obj = host.get(name)
            if d.deleted:
                if obj is not None:
                    out.append(f"host {name}: deleted but still present")
                continue
            if obj is None:
                out.append(f"host {name}: missing")
                continue
            status = obj.get("status") or {}
            clusters = {c["name"]: c.get("status", "") for c in status.get("clusters") or []}
            if clusters != dict.fromkeys(d.clusters, ""):
                out.append(f"host {name}: status.clusters {clusters} for placement {d.clusters}")
            cond: dict[str, Any] = next(
                (c for c in status.get("conditions") or [] if c.get("type") == "Propagation"), {}
            )
            if cond.get("status") != "True":
                out.append(f"host {name}: Propagation {cond.get('status')} {cond.get('reason', '')}")
        for member in env.member_names:
            got = await env.request(
                env.member(member), "GET", f"/api/v1/namespaces/{NS}/configmaps?labelSelector={MANAGED}"
            )
            objs = {i["metadata"]["name"]: i for i in got["items"]}
            for name, d in self.model.items():
                want = not d.deleted and member in d.clusters
                if want and name not in objs:
                    out.append(f"{member} {name}: missing")
                elif want and (objs[name].get("data") or {}).get("v") != d.data:
                    out.append(f"{member} {name}: data {objs[name].get('data')} != {d.data}")
                elif not want and name in objs:
                    out.append(f"{member} {name}: orphaned ({'deleted' if d.deleted else 'not placed here'})")
            out += [f"{member} {n}: unknown object" for n in objs if n not in self.model]
        kfcs = await env.request(
            env.host, "GET", f"/apis/core.kubefed.io/v1beta1/namespaces/{SYSTEM_NS}/kubefedclusters"
        )
        for kfc in kfcs["items"]:
            ready = any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (kfc.get("status") or {}).get("conditions") or []
            )
            if not ready:
                out.append(f"KubeFedCluster {kfc['metadata']['name']}: not Ready")
        for stream, durable in CONSUMERS:
            try:
                info = await bus.js.consumer_info(stream, durable)
            except Exception as exc:
                out.append(f"consumer {durable}: {exc!r}")
                continue
            if info.num_pending or info.num_ack_pending:
                out.append(
                    f"consumer {durable}: {info.num_pending} pending, {info.num_ack_pending} unacknowledged"
                )
        out += self.exits
        out += [
            f"{name}: not running" for name, svc in env.services.items() if svc.proc.returncode is not None
        ]
        return out


async def soak(seconds: float, converge: float, seed: int, rate: float) -> dict[str, Any]:
    from shared.bus import Bus, BusSettings

    env = Env(3, label="soak", nats_servers=3)
    rng = random.Random(seed)
    s = Soak(env, rng)
    started = time.monotonic()
    bus = None
    try:
        await env.start(health_period="2s")
        await env.kubectl(
            "patch",
            "kubefedconfig",
            "kubefed",
            "-n",
            SYSTEM_NS,
            "--type=merge",
            "-p",
            json.dumps({"spec": {"controllerDuration": {"availableDelay": "2s", "unavailableDelay": "2s"}}}),
        )
        await env.join()
        for name, kind in SERVICES.items():
            await env.start_service(name, kind)
        await env.wait_services_ready(timeout=300)
        await env.wait_ready_members(timeout=300)
        await env.federate_namespace(NS)
        bus = await Bus.connect(BusSettings(url=env.nats.url, name="kubefed-soak"))
        log(f"soak: {seconds:.0f}s of changes and faults (seed {seed})")
        until = time.monotonic() + seconds
        stop = asyncio.Event()
        exits = asyncio.create_task(s.watch_exits(stop))
        await asyncio.gather(s.generate(until, rate), s.chaos(until))
        # faults end: every member back to normal, every server and service running
        for member in env.member_names:
            await s._admin(member, "reset")
        for server in env.nats.servers:
            if server.pid is None:
                await asyncio.to_thread(server.start, 60.0)
            server.resume()
        s.last_fault_end = time.monotonic()
        log(
            f"soak: faults stopped; {sum(s.operations.values())} operations, {sum(s.faults.values())} "
            "faults; checking invariants"
        )
        deadline = s.last_fault_end + converge
        found: list[str] = []
        converged_after: float | None = None
        while time.monotonic() < deadline:
            try:
                found = await s.violations(bus)
            except Exception as exc:
                found = [f"checker: {exc!r}"]
            if not found:
                converged_after = time.monotonic() - s.last_fault_end
                break
            await asyncio.sleep(2.0)
        stop.set()
        await exits
        return {
            "seconds": seconds,
            "seed": seed,
            "members": len(env.member_names),
            "nats_servers": 3,
            "services": dict(SERVICES),
            "operations": dict(s.operations),
            "faults": dict(s.faults),
            "objects": len(s.model),
            "live_objects": sum(not d.deleted for d in s.model.values()),
            "convergence_seconds": round(converged_after, 1) if converged_after is not None else None,
            "violations": found[:200],
            "violation_count": len(found),
            "wall_seconds": round(time.monotonic() - started, 1),
        }
    finally:
        if bus is not None:
            await bus.close()
        await env.close()


def main() -> None:
    seconds = float(os.environ.get("SOAK_SECONDS", "600"))
    converge = float(os.environ.get("SOAK_CONVERGE_SECONDS", "240"))
    seed = int(os.environ.get("SOAK_SEED", str(int(time.time()))))
    rate = float(os.environ.get("SOAK_RATE", "4"))
    out = Path(os.environ.get("SOAK_OUT", str(RESULTS / "soak.json")))

    from shared.telemetry import configure_logging

    configure_logging(level="error")  # the soak prints one summary line; services log to their files

    async def run() -> dict[str, Any]:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)  # type: ignore[union-attr]
        return await soak(seconds, converge, seed, rate)

    res = asyncio.run(run())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    ops, faults = sum(res["operations"].values()), sum(res["faults"].values())
    print(
        f"soak: {res['seconds']:.0f}s, {ops} operations, {faults} faults "
        f"({', '.join(f'{k} {v}' for k, v in sorted(res['faults'].items()))}), converged "
        f"{res['convergence_seconds']} s after the last fault, {res['violation_count']} violations -> {out}"
    )
    sys.exit(1 if res["violation_count"] else 0)


if __name__ == "__main__":
    main()
