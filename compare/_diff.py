"""The differential harness: the same scenario on KubeFed v0.10.0 and on this control plane, each on its own
real fleet (host + cluster1 + cluster2, the host joined as a member too), then after each step, once both
have settled, member objects, host status and Event reasons compared (:mod:`compare._normalise`).

A scenario is a function of a :class:`Step` context; it runs twice at the same time, once per plane, in
its own namespace. Every difference found is either matched by an entry of
:data:`compare._scenarios.EXPLAINED` (its reason goes into the report) or is unexplained, which fails
``make compare`` and the CI subset (tests/real/test_compare_fast.py).

Settling (:meth:`Step.checkpoint`) waits for positive signs, never for a quiet spell alone: every federated
object of the scenario reconciled at its current generation (``status.observedGeneration`` equal to
``metadata.generation``, a Propagation condition, no cluster still ``WaitingForRemoval``, no object still
being deleted) and the checkpoint's own expectation (the member objects, replicas or status the step must
lead to), then one confirming snapshot equal to the first. A plane that does not get there within the
checkpoint's timeout is recorded as it is, with what it was still waiting for, and that is a finding.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import _normalise as norm
from ._planes import NS, Plane
from ._planes import kubefed as start_kubefed
from ._planes import ours as start_ours

CLUSTERS = ["host", "cluster1", "cluster2"]
FED_GROUP = "types.kubefed.io"
Snapshot = dict[str, Any]


@dataclass(frozen=True)
class Scenario:
    name: str
    run: Callable[[Step], None]
    namespace: str
    members: tuple[tuple[str, str], ...]  # namespaced target types (group, plural) snapshotted in namespace
    federated: tuple[str, ...]  # namespaced federated plurals (types.kubefed.io) in namespace
    cluster_scoped: tuple[tuple[str, str, str], ...] = ()  # (group, plural, name), members and host
    kubefed_clusters: bool = False  # snapshot the KubeFedClusters' conditions too
    fast: bool = False  # in the CI subset
    covers: str = ""
    also: tuple[str, ...] = ()  # further namespaces snapshotted like ``namespace``
    names: tuple[str, ...] = ()  # when set, only objects of these names (a namespace shared with others)
    unwatched: tuple[str, ...] = ()  # host status keys of objects out of the control plane's scope

    @property
    def namespaces(self) -> tuple[str, ...]:
        return (self.namespace, *self.also)


@dataclass(frozen=True)
class Explained:
    """A known difference: scenario and path patterns, what differs and why, and whose behaviour it is."""

    scenario: str
    path: str
    reason: str
    verdict: str  # "fixed in ours", "ours by design", "KubeFed behaviour", "timing", "not a difference"
    checkpoint: str = ".*"
    # for an event difference: every message the report kept for the event, on each plane that recorded
    # it, must match (the explanation covers one cause of the event, not every failure with its reason)
    message: str = ""

    def matches(
        self,
        scenario: str,
        path: str,
        checkpoint: str = "",
        messages: Mapping[str, Sequence[str]] | None = None,
    ) -> bool:
        return bool(
            re.fullmatch(self.scenario, scenario)
            and re.search(self.path, path)
            and re.fullmatch(self.checkpoint, checkpoint)
            and (
                not self.message
                or (
                    bool(messages)
                    and all(re.search(self.message, m) for ms in (messages or {}).values() for m in ms)
                )
            )
        )


def explanation(
    explained: list[Explained],
    scenario: str,
    path: str,
    checkpoint: str = "",
    messages: Mapping[str, Sequence[str]] | None = None,
) -> Explained | None:
    """The first explanation that covers this difference (None: it is a finding)."""
    return next((e for e in explained if e.matches(scenario, path, checkpoint, messages)), None)


@dataclass
class Checkpoint:
    label: str
    snapshot: Snapshot
    settled_seconds: float
    settled: bool
    pending: list[str] = field(default_factory=list)  # what an unsettled plane was still waiting for
    event_messages: dict[str, list[str]] = field(default_factory=dict)  # evidence for event differences


# per-cluster statuses KubeFed and ours move on from by themselves: not a settled state
TRANSIENT_CLUSTER_STATUS = frozenset({"WaitingForRemoval"})


@dataclass
class Step:
    """What a scenario does to one plane: kubectl on the host or a member, fleet faults, and checkpoints."""

    plane: Plane
    scenario: Scenario
    checkpoints: list[Checkpoint] = field(default_factory=list)
    event_messages: dict[str, list[str]] = field(default_factory=dict)  # of the last snapshot, not compared

    @property
    def ns(self) -> str:
        return self.scenario.namespace

    def kubectl(self, *args: str, context: str = "host", input: str | None = None) -> str:
        return self.plane.kubectl(*args, context=context, input=input)

    def apply(self, text: str, context: str = "host") -> None:
        self.kubectl("apply", "-f", "-", context=context, input=text)

    def federated_namespace(self, clusters: list[str] | None = None) -> None:
        """The scenario's namespace on the host and a FederatedNamespace placing it (all clusters by
        default: ``clusterSelector: {}``)."""
        placement: dict[str, Any] = (
            {"clusters": [{"name": c} for c in clusters]} if clusters is not None else {"clusterSelector": {}}
        )
        self.apply(f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {self.ns}\n")
        self.apply(
            _yaml(
                {
                    "apiVersion": f"{FED_GROUP}/v1beta1",
                    "kind": "FederatedNamespace",
                    "metadata": {"name": self.ns, "namespace": self.ns},
                    "spec": {"placement": placement},
                }
            )
        )

    def snapshot(self) -> Snapshot:
        return self.observe()[0]

    def observe(self) -> tuple[Snapshot, list[str]]:
        """The normalised snapshot, and why this plane has not settled yet (empty: every federated object
        of the scenario reconciled at its current generation, none still being removed or deleted)."""
        fleet, sc = self.plane.fleet, self.scenario
        members: dict[str, Any] = {}
        for cluster in CLUSTERS:
            c = fleet[cluster]
            if not c.online:
                members[f"{cluster} (offline)"] = True
                continue
            for namespace in sc.namespaces:
                for group, plural in sc.members:
                    for obj in c.list_objects(group, plural, namespace):
                        name = obj["metadata"]["name"]
                        if name == "kube-root-ca.crt" or (plural == "serviceaccounts" and name == "default"):
                            continue
                        if sc.names and name not in sc.names:
                            continue
                        key = f"{cluster} {plural} {name}"
                        members[key if namespace == sc.namespace else f"{key} ({namespace})"] = (
                            norm.member_object(obj, plural)
                        )
            for group, plural, name in sc.cluster_scoped:
                if group == FED_GROUP:
                    continue
                members[f"{cluster} {plural} {name}"] = norm.member_object(
                    c.get_object(group, plural, None, name), plural
                )
        host = fleet["host"]
        status: dict[str, Any] = {}
        raw: dict[str, dict[str, Any]] = {}
        for namespace in sc.namespaces:
            for plural in sc.federated:
                for obj in host.list_objects(FED_GROUP, plural, namespace):
                    if sc.names and obj["metadata"]["name"] not in sc.names:
                        continue
                    key = f"{plural} {obj['metadata']['name']}"
                    key = key if namespace == sc.namespace else f"{key} ({namespace})"
                    status[key], raw[key] = norm.host_status(obj), obj
        for group, plural, name in sc.cluster_scoped:
            if group == FED_GROUP:
                found = host.get_object(group, plural, None, name)
                status[f"{plural} {name}"] = norm.host_status(found)
                if found is not None:
                    raw[f"{plural} {name}"] = found
        if sc.kubefed_clusters:
            for obj in host.list_objects("core.kubefed.io", "kubefedclusters", NS):
                status[f"kubefedclusters {obj['metadata']['name']}"] = norm.cluster_status(obj)
        names = {name for _, _, name in sc.cluster_scoped}
        events = [
            e
            for e in host.list_objects("", "events", sc.namespace)
            + [e for ns in (*sc.also, "default") for e in host.list_objects("", "events", ns)]
            if str((e.get("involvedObject") or {}).get("kind", "")).startswith("Federated")
            and (
                e["metadata"]["namespace"] in sc.namespaces
                or (e.get("involvedObject") or {}).get("name") in names
            )
            and (not sc.names or (e.get("involvedObject") or {}).get("name") in sc.names)
        ]
        # one key per distinct event, so a difference names the event (and an explanation can match it)
        snap = {"members": members, "host": status, "events": dict.fromkeys(norm.event_reasons(events), True)}
        self.event_messages = norm.event_messages(events)
        return snap, unreconciled(raw, frozenset(sc.unwatched))

    def checkpoint(
        self,
        label: str,
        expect: Callable[[Snapshot], bool] | None = None,
        timeout: float = 90.0,
        confirm: float = 1.5,
    ) -> None:
        """Wait for this plane to settle, then record the snapshot.

        Settled means positive signs, not a quiet spell: every federated object of the scenario reconciled
        at its current generation (:func:`unreconciled` is empty) and ``expect`` (the state this step
        must lead to: member objects, replicas, a per-cluster status) holds; then a second snapshot
        ``confirm`` seconds later must be equal (events are written after the change they report). A plane
        that does not settle in ``timeout`` is recorded as it is, marked unsettled, with what it was still
        waiting for; the report counts that as a finding."""
        started = time.monotonic()
        candidate: Snapshot | None = None
        snap: Snapshot = {}
        pending: list[str] = ["no snapshot yet"]
        while time.monotonic() - started < timeout:
            snap, pending = self.observe()
            if expect is not None and not expect(snap):
                pending = [*pending, "the checkpoint's expected state not reached"]
            if pending:
                candidate = None
            elif candidate == snap:
                self.checkpoints.append(
                    Checkpoint(
                        label,
                        snap,
                        round(time.monotonic() - started, 1),
                        True,
                        event_messages=self.event_messages,
                    )
                )
                return
            else:
                candidate = snap
                time.sleep(confirm)
                continue
            time.sleep(0.5)
        if not pending:
            pending = ["the snapshot kept changing"]
        self.checkpoints.append(
            Checkpoint(
                label,
                snap,
                round(time.monotonic() - started, 1),
                False,
                pending=pending[:10],
                event_messages=self.event_messages,
            )
        )

    def wait(self, what: str, check: Callable[[], bool], timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(1.0)
        raise RuntimeError(f"{self.plane.name}: timed out waiting for {what}")

    def cluster_ready(self, name: str) -> bool | None:
        kfc = self.plane.fleet["host"].get_object("core.kubefed.io", "kubefedclusters", NS, name) or {}
        for c in (kfc.get("status") or {}).get("conditions") or []:
            if c.get("type") == "Ready":
                return bool(c.get("status") == "True")
        return None


def unreconciled(objects: dict[str, dict[str, Any]], unwatched: frozenset[str] = frozenset()) -> list[str]:
    """Why these federated host objects (snapshot key → object) are not reconciled yet (pure): each must
    report a Propagation condition at its current generation, no cluster may still be WaitingForRemoval,
    and none may be half-deleted. Objects named in ``unwatched`` are out of the control plane's scope and
    must stay untouched (no status) instead."""
    out = []
    for key, obj in sorted(objects.items()):
        meta, status = obj.get("metadata") or {}, obj.get("status") or {}
        if key in unwatched:
            if status:
                out.append(f"{key}: has status, but is out of scope")
            continue
        if meta.get("deletionTimestamp"):
            out.append(f"{key}: still being deleted")
            continue
        generation, observed = meta.get("generation"), status.get("observedGeneration")
        if generation is not None and observed != generation:
            out.append(f"{key}: observedGeneration {observed}, generation {generation}")
        if not any(c.get("type") == "Propagation" for c in status.get("conditions") or []):
            out.append(f"{key}: no Propagation condition")
        waiting = sorted(
            str(c.get("name"))
            for c in status.get("clusters") or []
            if c.get("status") in TRANSIENT_CLUSTER_STATUS
        )
        if waiting:
            out.append(f"{key}: still removing from {', '.join(waiting)}")
    return out


def _yaml(obj: Any) -> str:
    import json

    return json.dumps(obj)  # JSON is YAML; kubectl reads it from stdin either way


@contextlib.contextmanager
def planes(work: Path) -> Iterator[dict[str, Plane]]:
    """Both planes on their own fleets, started at the same time."""
    with contextlib.ExitStack() as stack, concurrent.futures.ThreadPoolExecutor(2) as pool:
        futures = {
            "ours": pool.submit(stack.enter_context, start_ours(CLUSTERS, work / "ours")),
            "kubefed": pool.submit(stack.enter_context, start_kubefed(CLUSTERS, work / "kubefed")),
        }
        result = {name: f.result() for name, f in futures.items()}
        yield result


# Scenarios run in these two threads, which live as long as the process: a program a scenario starts (a
# restarted controller-manager, an API server brought back online) is killed with PR_SET_PDEATHSIG when
# the *thread* that started it ends, so a pool per scenario killed them as soon as the scenario was over.
_RUNNERS = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="scenario")


def run_scenario(scenario: Scenario, both: dict[str, Plane], explained: list[Explained]) -> dict[str, Any]:
    """Run one scenario on both planes at once and compare their checkpoints."""
    started = time.monotonic()
    steps = {name: Step(plane, scenario) for name, plane in both.items()}
    errors: dict[str, str] = {}
    futures = {name: _RUNNERS.submit(scenario.run, step) for name, step in steps.items()}
    for name, f in futures.items():
        try:
            f.result()
        except Exception as exc:  # a scenario that fails on one plane is a finding, not a crash
            errors[name] = f"{type(exc).__name__}: {exc}"[:1000]
    checkpoints = []
    ours_cps, theirs_cps = steps["ours"].checkpoints, steps["kubefed"].checkpoints
    for a, b in zip(ours_cps, theirs_cps, strict=False):
        diffs = []
        for path, x, y in norm.differences(a.snapshot, b.snapshot):
            event = path.removeprefix("/events/")
            messages = {
                plane: cp.event_messages[event]
                for plane, cp in (("ours", a), ("kubefed", b))
                if event != path and event in cp.event_messages
            }
            reason = explanation(explained, scenario.name, path, a.label, messages)
            diffs.append(
                {
                    "path": path,
                    "ours": x,
                    "kubefed": y,
                    **({"explained": reason.reason, "verdict": reason.verdict} if reason else {}),
                    **({"messages": messages} if messages else {}),
                }
            )
        checkpoints.append(
            {
                "label": a.label,
                "settled": {"ours": a.settled, "kubefed": b.settled},
                "settle_seconds": {"ours": a.settled_seconds, "kubefed": b.settled_seconds},
                **(
                    {
                        "pending": {
                            plane: c.pending for plane, c in (("ours", a), ("kubefed", b)) if not c.settled
                        }
                    }
                    if not (a.settled and b.settled)
                    else {}
                ),
                "compared": _leaves(a.snapshot),
                "differences": diffs,
            }
        )
        explain_unsettled(scenario.name, checkpoints[-1], explained)
    if len(ours_cps) != len(theirs_cps):
        errors.setdefault("harness", f"checkpoints: ours {len(ours_cps)}, kubefed {len(theirs_cps)}")
    return {
        "scenario": scenario.name,
        "covers": scenario.covers,
        "seconds": round(time.monotonic() - started, 1),
        "errors": errors,
        "checkpoints": checkpoints,
    }


def explain_unsettled(scenario: str, checkpoint: dict[str, Any], explained: list[Explained]) -> None:
    """Attach the explanation of a plane that did not settle (an :class:`Explained` whose path is
    ``settle/<plane>``); an unsettled plane without one is a finding (:func:`unexplained`)."""
    checkpoint.pop("unsettled_explained", None)
    reasons = {
        plane: match.reason
        for plane, ok in checkpoint["settled"].items()
        if not ok and (match := explanation(explained, scenario, f"settle/{plane}", checkpoint["label"]))
    }
    if reasons:
        checkpoint["unsettled_explained"] = reasons


def _leaves(value: Any) -> int:
    if isinstance(value, dict):
        return sum(_leaves(v) for v in value.values()) or 1
    if isinstance(value, list):
        return sum(_leaves(v) for v in value) or 1
    return 1


def unexplained(report: dict[str, Any]) -> list[str]:
    """One line per unexplained difference or scenario error of a report."""
    out = []
    for sc in report["scenarios"]:
        out += [f"{sc['scenario']}: error on {plane}: {err}" for plane, err in sc["errors"].items()]
        for cp in sc["checkpoints"]:
            out += [
                f"{sc['scenario']} [{cp['label']}] did not settle on {plane} in "
                f"{cp['settle_seconds'][plane]} s: {'; '.join((cp.get('pending') or {}).get(plane) or [])}"
                for plane, ok in (cp.get("settled") or {}).items()
                if not ok and not (cp.get("unsettled_explained") or {}).get(plane)
            ]
            out += [
                f"{sc['scenario']} [{cp['label']}] {d['path']}: ours {d['ours']!r}, kubefed {d['kubefed']!r}"
                + (f" (messages: {d['messages']})" if d.get("messages") else "")
                for d in cp["differences"]
                if "explained" not in d
            ]
    return out
