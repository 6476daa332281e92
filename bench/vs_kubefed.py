"""``python -m bench --against kubefed``: this control plane and KubeFed v0.10.0 on real fleets of the same
size (host + cluster1 + cluster2, every cluster joined), one after the other in the same run, with the same
objects and the same independent member watches.

Measured per plane: propagation p50/p99 at light load, burst member writes per second, restart resync
(seconds until a change made after the restart arrives, and member writes caused by the restart), status
latency, controller RSS and CPU-seconds per 1,000 member writes. The ratios ours ÷ KubeFed go to
bench/results/vs-kubefed.json and, with ``--markdown``, into docs/performance.md.

The clock for "arrived" is our own watch on each member (one thread per member, timestamps taken when the
event line is read), never a controller's log. Member writes are counted in each member API server's audit
log (``RealCluster.write_count``: mutating requests of clients, the cluster's own components excluded).
"""

from __future__ import annotations

import functools
import http.client
import json
import os
import platform
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from compare import _planes, _report
from sim.real import RealCluster

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "vs-kubefed.json"
CLUSTERS = ["host", "cluster1", "cluster2"]
MEMBERS = ["cluster1", "cluster2"]
NS = "bench"
SIZES = {
    "quick": {"latency_samples": 20, "latency_rate": 2.0, "burst": 100, "resync_objects": 50},
    "full": {"latency_samples": 100, "latency_rate": 2.0, "burst": 400, "resync_objects": 200},
}
GOALS = {"p99_ratio_max": 0.5, "burst_ratio_min": 2.0, "resync_member_writes": 0, "rss_ratio_max": 1.0}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


class Watch(threading.Thread):
    """An independent watch of one resource in one namespace on one cluster (list, then watch from its
    resourceVersion); ``on_event(kind, time, obj)`` is called for each event as its line is read."""

    def __init__(
        self, cluster: RealCluster, path: str, on_event: Callable[[str, float, dict[str, Any]], None]
    ):
        super().__init__(daemon=True, name=f"watch-{cluster.name}")
        self.cluster, self.path, self.on_event = cluster, path, on_event
        self.opened = threading.Event()
        self.stopped = False
        self.events = 0

    def _connection(self) -> http.client.HTTPSConnection:
        ctx = ssl.create_default_context(cadata=self.cluster.ca_pem.decode())
        return http.client.HTTPSConnection("127.0.0.1", self.cluster.port, context=ctx, timeout=300)

    def run(self) -> None:
        _, body = self.cluster.request("GET", self.path)
        rv = body["metadata"]["resourceVersion"]
        while not self.stopped:
            conn = self._connection()
            try:
                conn.request(
                    "GET",
                    f"{self.path}?watch=true&resourceVersion={rv}&allowWatchBookmarks=true",
                    headers={"Authorization": f"Bearer {self.cluster.admin_token}"},
                )
                resp = conn.getresponse()
                self.opened.set()
                while not self.stopped:
                    line = resp.readline()
                    now = time.perf_counter()
                    if not line:
                        break
                    ev = json.loads(line)
                    obj = ev.get("object") or {}
                    rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                    if ev.get("type") in ("BOOKMARK", "ERROR"):
                        continue
                    self.events += 1
                    self.on_event(ev["type"], now, obj)
            except (OSError, http.client.HTTPException, ValueError):
                time.sleep(0.2)
            finally:
                conn.close()


class Observer:
    """Watches FederatedConfigMap targets on the members and the federated objects' status on the host."""

    def __init__(self, plane: _planes.Plane) -> None:
        self.lock = threading.Lock()
        self.arrived: dict[str, dict[str, float]] = {}  # name -> cluster -> first ADDED
        self.data_seen: dict[tuple[str, str], float] = {}  # (name, data value) -> time on every member
        self._data: dict[tuple[str, str], set[str]] = {}
        self.status_ready: dict[str, float] = {}  # name -> time status says Propagation True on both
        fleet = plane.fleet
        self.watches = [
            Watch(fleet[m], f"/api/v1/namespaces/{NS}/configmaps", self._member(m)) for m in MEMBERS
        ] + [
            Watch(
                fleet["host"],
                f"/apis/types.kubefed.io/v1beta1/namespaces/{NS}/federatedconfigmaps",
                self._host,
            )
        ]

    def _member(self, cluster: str) -> Callable[[str, float, dict[str, Any]], None]:
        def on_event(kind: str, now: float, obj: dict[str, Any]) -> None:
            name = obj["metadata"]["name"]
            with self.lock:
                if kind in ("ADDED", "MODIFIED"):
                    self.arrived.setdefault(name, {}).setdefault(cluster, now)
                    key = (name, str((obj.get("data") or {}).get("v")))
                    seen = self._data.setdefault(key, set())
                    seen.add(cluster)
                    if len(seen) == len(MEMBERS):
                        self.data_seen.setdefault(key, now)

        return on_event

    def _host(self, kind: str, now: float, obj: dict[str, Any]) -> None:
        status = obj.get("status") or {}
        ok = any(
            c.get("type") == "Propagation" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        names = {c.get("name") for c in status.get("clusters") or []}
        if ok and set(MEMBERS) <= names:
            with self.lock:
                self.status_ready.setdefault(obj["metadata"]["name"], now)

    def start(self) -> None:
        for w in self.watches:
            w.start()
        for w in self.watches:
            if not w.opened.wait(30):
                raise RuntimeError(f"watch on {w.cluster.name} did not open")

    def stop(self) -> None:
        for w in self.watches:
            w.stopped = True

    def complete(self, name: str) -> float | None:
        with self.lock:
            clusters = self.arrived.get(name) or {}
            return max(clusters.values()) if len(clusters) == len(MEMBERS) else None

    def wait(self, check: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(0.01)
        raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def fcm(name: str, value: str) -> dict[str, Any]:
    return {
        "apiVersion": "types.kubefed.io/v1beta1",
        "kind": "FederatedConfigMap",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "template": {"data": {"v": value}},
            "placement": {"clusters": [{"name": m} for m in MEMBERS]},
        },
    }


FCM_PATH = f"/apis/types.kubefed.io/v1beta1/namespaces/{NS}/federatedconfigmaps"


def post(host: RealCluster, obj: dict[str, Any]) -> None:
    status, body = host.request("POST", FCM_PATH, obj)
    if status != 201:
        raise RuntimeError(f"POST {obj['metadata']['name']}: {status} {body}")


def proc_usage(pids: dict[str, int]) -> dict[str, dict[str, float]]:
    """RSS now and peak (MiB) and CPU seconds (user + system) of each process."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for name, pid in pids.items():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            status = dict(
                line.split(":", 1)
                for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                if ":" in line
            )
        except OSError:
            continue
        out[name] = {
            "cpu_seconds": (int(fields[11]) + int(fields[12])) / tick,
            "rss_mib": int(status["VmRSS"].split()[0]) / 1024,
            "peak_rss_mib": int(status["VmHWM"].split()[0]) / 1024,
        }
    return out


def member_writes(plane: _planes.Plane) -> int:
    return sum(plane.fleet[m].write_count for m in MEMBERS)


def measure(plane: _planes.Plane, sizes: dict[str, Any]) -> dict[str, Any]:
    host = plane.fleet["host"]
    plane.kubectl("create", "namespace", NS)
    plane.kubectl(
        "apply",
        "-f",
        "-",
        input=json.dumps(
            {
                "apiVersion": "types.kubefed.io/v1beta1",
                "kind": "FederatedNamespace",
                "metadata": {"name": NS, "namespace": NS},
                "spec": {"placement": {"clusters": [{"name": m} for m in MEMBERS]}},
            }
        ),
    )
    deadline = time.monotonic() + 120
    while not all(plane.fleet[m].get_object("", "namespaces", None, NS) for m in MEMBERS):
        if time.monotonic() > deadline:
            raise RuntimeError("the bench namespace did not reach the members")
        time.sleep(0.5)
    obs = Observer(plane)
    obs.start()
    res: dict[str, Any] = {}

    # warm-up, then propagation and status latency at light load
    post(host, fcm("warmup", "0"))
    obs.wait(lambda: obs.complete("warmup"), 120, "warm-up object")
    latencies, status_latencies = [], []
    n, rate = sizes["latency_samples"], sizes["latency_rate"]
    log(f"  {plane.name}: propagation, {n} objects at {rate}/s")
    sent: dict[str, float] = {}
    for i in range(n):
        name = f"lat{i}"
        sent[name] = time.perf_counter()
        post(host, fcm(name, "1"))
        time.sleep(1 / rate)
    for name, t0 in sent.items():
        done = obs.wait(functools.partial(obs.complete, name), 120, name)
        latencies.append((done - t0) * 1000)
        ready = obs.wait(functools.partial(obs.status_ready.get, name), 120, f"status of {name}")
        status_latencies.append((ready - t0) * 1000)
    res["propagation"] = {
        "samples": n,
        "rate_per_s": rate,
        "p50_ms": round(percentile(latencies, 50), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "max_ms": round(max(latencies), 1),
    }
    res["status"] = {
        "samples": n,
        "p50_ms": round(percentile(status_latencies, 50), 1),
        "p99_ms": round(percentile(status_latencies, 99), 1),
    }
    log(
        f"  {plane.name}: propagation p50 {res['propagation']['p50_ms']} ms p99 "
        f"{res['propagation']['p99_ms']} ms"
    )

    # burst: B objects posted as fast as 8 clients can, until every member has every one
    b = sizes["burst"]
    time.sleep(3)
    writes0, usage0 = member_writes(plane), proc_usage(plane.controller_pids())
    log(f"  {plane.name}: burst of {b} objects")
    t0 = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: post(host, fcm(f"burst{i}", "1")), range(b)))
    posted = time.perf_counter() - t0
    last = max(obs.wait(functools.partial(obs.complete, f"burst{i}"), 600, f"burst{i}") for i in range(b))
    elapsed = last - t0
    time.sleep(3)
    writes1, usage1 = member_writes(plane), proc_usage(plane.controller_pids())
    cpu = sum(usage1[k]["cpu_seconds"] - usage0.get(k, {"cpu_seconds": 0})["cpu_seconds"] for k in usage1)
    res["burst"] = {
        "objects": b,
        "member_objects": b * len(MEMBERS),
        "seconds": round(elapsed, 2),
        "post_seconds": round(posted, 2),
        "member_objects_per_s": round(b * len(MEMBERS) / elapsed, 1),
        "member_writes": writes1 - writes0,
        "member_writes_per_s": round((writes1 - writes0) / elapsed, 1),
        "cpu_seconds": round(cpu, 2),
        "cpu_seconds_per_1000_member_writes": round(cpu / max(1, writes1 - writes0) * 1000, 2),
    }
    log(f"  {plane.name}: burst {res['burst']}")

    # restart resync: every controller process restarted; then one change; member writes counted until
    # that change has arrived and the members have been quiet for 10 s
    time.sleep(5)
    writes0 = member_writes(plane)
    restarted = time.perf_counter()
    for name in list(plane.procs):
        plane.restart(name)
    post(host, fcm("after-restart", "1"))
    arrived = obs.wait(lambda: obs.complete("after-restart"), 300, "the object created after the restart")
    quiet_since, last_count = time.monotonic(), member_writes(plane)
    while time.monotonic() - quiet_since < 10:
        time.sleep(1)
        count = member_writes(plane)
        if count != last_count:
            quiet_since, last_count = time.monotonic(), count
    res["resync"] = {
        "objects": b + n + 1,
        "seconds_until_new_change_arrives": round(arrived - restarted, 2),
        "member_writes": last_count - writes0 - len(MEMBERS),  # minus the new object's own creation
    }
    log(f"  {plane.name}: resync {res['resync']}")
    usage = proc_usage(plane.controller_pids())
    res["footprint"] = {
        "processes": {k: {kk: round(vv, 1) for kk, vv in v.items()} for k, v in usage.items()},
        "rss_mib": round(sum(v["rss_mib"] for v in usage.values()), 1),
        "peak_rss_mib_after_restart": round(sum(v["peak_rss_mib"] for v in usage.values()), 1),
        "note": "after the restart: RSS holds every object of the run (the burst included)",
    }
    res["footprint"]["burst_peak_rss_mib"] = round(sum(v["peak_rss_mib"] for v in usage1.values()), 1)
    obs.stop()
    return res


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT, timeout=10
        ).stdout.strip()
    except OSError:
        return "unknown"


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def run(mode: str, out: Path = OUT) -> dict[str, Any]:
    sizes = SIZES[mode]
    planes: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-vs-kubefed-") as work:
        for name, start in (("ours", _planes.ours), ("kubefed", _planes.kubefed)):
            log(f"== {name}: starting a fleet of {len(CLUSTERS)} clusters")
            with start(CLUSTERS, Path(work) / name) as plane:
                planes[name] = measure(plane, sizes)
    o, k = planes["ours"], planes["kubefed"]
    ratios = {
        "propagation_p50": _ratio(o["propagation"]["p50_ms"], k["propagation"]["p50_ms"]),
        "propagation_p99": _ratio(o["propagation"]["p99_ms"], k["propagation"]["p99_ms"]),
        "status_p50": _ratio(o["status"]["p50_ms"], k["status"]["p50_ms"]),
        "status_p99": _ratio(o["status"]["p99_ms"], k["status"]["p99_ms"]),
        "burst_member_objects_per_s": _ratio(
            o["burst"]["member_objects_per_s"], k["burst"]["member_objects_per_s"]
        ),
        "resync_seconds": _ratio(
            o["resync"]["seconds_until_new_change_arrives"], k["resync"]["seconds_until_new_change_arrives"]
        ),
        "rss": _ratio(o["footprint"]["rss_mib"], k["footprint"]["rss_mib"]),
        "cpu_seconds_per_1000_member_writes": _ratio(
            o["burst"]["cpu_seconds_per_1000_member_writes"], k["burst"]["cpu_seconds_per_1000_member_writes"]
        ),
    }
    goals = {
        "propagation p99 <= 0.5x KubeFed": ratios["propagation_p99"] is not None
        and ratios["propagation_p99"] <= GOALS["p99_ratio_max"],
        "burst >= 2x KubeFed": ratios["burst_member_objects_per_s"] is not None
        and ratios["burst_member_objects_per_s"] >= GOALS["burst_ratio_min"],
        "resync with 0 member writes": o["resync"]["member_writes"] == GOALS["resync_member_writes"],
        "memory <= KubeFed": ratios["rss"] is not None and ratios["rss"] <= GOALS["rss_ratio_max"],
    }
    result = {
        "mode": mode,
        "sizes": sizes,
        "commit": _commit(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "fleet": {"clusters": CLUSTERS, "placed_on": MEMBERS},
        "ratios_ours_over_kubefed": ratios,
        "goals_met": goals,
        "ours": o,
        "kubefed": k,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    log(f"wrote {out}")
    return result


def markdown(result: dict[str, Any]) -> str:
    o, k, r = result["ours"], result["kubefed"], result["ratios_ours_over_kubefed"]
    rows = [
        (
            "propagation p50 (ms)",
            o["propagation"]["p50_ms"],
            k["propagation"]["p50_ms"],
            r["propagation_p50"],
            "",
        ),
        (
            "propagation p99 (ms)",
            o["propagation"]["p99_ms"],
            k["propagation"]["p99_ms"],
            r["propagation_p99"],
            "≤ 0.5",
        ),
        ("status latency p50 (ms)", o["status"]["p50_ms"], k["status"]["p50_ms"], r["status_p50"], ""),
        ("status latency p99 (ms)", o["status"]["p99_ms"], k["status"]["p99_ms"], r["status_p99"], ""),
        (
            "burst, member objects/s",
            o["burst"]["member_objects_per_s"],
            k["burst"]["member_objects_per_s"],
            r["burst_member_objects_per_s"],
            "≥ 2",
        ),
        (
            "burst, member write requests/s",
            o["burst"]["member_writes_per_s"],
            k["burst"]["member_writes_per_s"],
            "",
            "",
        ),
        (
            "restart: s until a new change arrives",
            o["resync"]["seconds_until_new_change_arrives"],
            k["resync"]["seconds_until_new_change_arrives"],
            r["resync_seconds"],
            "",
        ),
        (
            "restart: member writes",
            o["resync"]["member_writes"],
            k["resync"]["member_writes"],
            "",
            "ours = 0",
        ),
        ("controller RSS (MiB)", o["footprint"]["rss_mib"], k["footprint"]["rss_mib"], r["rss"], "≤ 1"),
        (
            "CPU-seconds per 1,000 member writes",
            o["burst"]["cpu_seconds_per_1000_member_writes"],
            k["burst"]["cpu_seconds_per_1000_member_writes"],
            r["cpu_seconds_per_1000_member_writes"],
            "",
        ),
    ]
    lines = ["| | ours | KubeFed v0.10.0 | ours ÷ KubeFed | goal |", "|---|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rows]
    met = ", ".join(f"{goal}: {'met' if ok else 'MISSED'}" for goal, ok in result["goals_met"].items())
    lines += [
        "",
        f"Run {result['when']}, commit {result['commit']}, mode {result['mode']} ({result['sizes']}), "
        f"{result['machine']['cores']} cores. {met}.",
    ]
    return "\n".join(lines)


DOC = ROOT / "docs" / "performance.md"
BEGIN = (
    "<!-- vs-kubefed: generated by `python -m bench.vs_kubefed doc` from bench/results/vs-kubefed.json -->"
)
END = "<!-- end vs-kubefed -->"


def doc_block(result: dict[str, Any]) -> str:
    return f"{BEGIN}\n\n{markdown(result)}\n\n{END}"


def splice(doc: str, block: str) -> str:
    return _report.splice_block(
        doc,
        block,
        begin=BEGIN,
        end=END,
        heading="Against KubeFed v0.10.0 (`python -m bench --against kubefed`)",
    )


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["doc"]:
        DOC.write_text(splice(DOC.read_text(), doc_block(json.loads(OUT.read_text()))))
    else:
        print(markdown(run(sys.argv[1] if len(sys.argv) > 1 else "quick")))
