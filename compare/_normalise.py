"""What the differential harness compares: member objects, host status and Event reasons, with the values
that differ between any two runs (uids, resourceVersions, timestamps, allocated addresses) taken out.

Pure functions from API objects to comparable JSON values; the harness snapshots both planes with them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

UID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
# metadata the API server (not a controller) sets, or that differs on every run
VOLATILE_METADATA = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "managedFields",
    "generation",
    "selfLink",
)
# annotations this project writes on objects and KubeFed does not (none on member objects today)
OUR_ANNOTATION_PREFIXES = ("kubefed.io/trace-id",)
# values the member cluster allocates at random (a Service's addresses and node ports)
ALLOCATED_SPEC = ("clusterIP", "clusterIPs")


def scrub(value: Any) -> Any:
    """Uids become ``<uid>``, RFC 3339 times ``<time>``, recursively."""
    if isinstance(value, Mapping):
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        if TIMESTAMP.match(value):
            return "<time>"
        return UID.sub("<uid>", value)
    return value


def member_object(obj: Mapping[str, Any] | None, plural: str = "") -> Any:
    """A member object as the harness compares it: metadata without volatile fields, spec without
    allocated addresses, no status (the member cluster's controllers write it, not the federation)."""
    if obj is None:
        return None
    out = {k: v for k, v in obj.items() if k != "status"}
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in VOLATILE_METADATA}
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if not k.startswith(OUR_ANNOTATION_PREFIXES)
    }
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    if "deletionTimestamp" in meta:
        meta["deletionTimestamp"] = "<set>"
    out["metadata"] = meta
    spec = out.get("spec")
    # items of a LIST carry no kind: the caller names the resource
    if (obj.get("kind") == "Service" or plural == "services") and isinstance(spec, Mapping):
        spec = {k: v for k, v in spec.items() if k not in ALLOCATED_SPEC}
        spec["ports"] = [{k: v for k, v in p.items() if k != "nodePort"} for p in spec.get("ports") or []]
        out["spec"] = spec
    return scrub(out)


def _condition(c: Mapping[str, Any]) -> dict[str, Any]:
    return {k: c[k] for k in ("type", "status", "reason") if c.get(k) not in (None, "")}


def host_status(obj: Mapping[str, Any] | None) -> Any:
    """A federated object's status: conditions (type, status, reason), per-cluster status (name, status,
    whether remote status was collected), observedGeneration, plus its placement and overrides (which a
    ReplicaSchedulingPreference rewrites); or None when the object is gone."""
    if obj is None:
        return None
    status = obj.get("status") or {}
    clusters = sorted(
        (
            {
                "name": c.get("name"),
                **({"status": c["status"]} if c.get("status") else {}),
                **({"remoteStatus": "<collected>"} if c.get("remoteStatus") else {}),
            }
            for c in status.get("clusters") or []
        ),
        key=lambda c: str(c["name"]),
    )
    out: dict[str, Any] = {
        "conditions": sorted((_condition(c) for c in status.get("conditions") or []), key=str),
        "clusters": clusters,
    }
    if "observedGeneration" in status:
        out["observedGeneration"] = status["observedGeneration"]
    spec = obj.get("spec") or {}
    if "placement" in spec:  # KubeFed's RSP scheduler writes placement and overrides into the host object
        out["placement"] = scrub(spec["placement"])
    if "overrides" in spec:  # in Go map order, different on every write: compared sorted by cluster
        out["overrides"] = scrub(sorted(spec["overrides"] or [], key=lambda o: str(o.get("clusterName"))))
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        out["deleting"] = True
    return out


def cluster_status(obj: Mapping[str, Any] | None) -> Any:
    """A KubeFedCluster's conditions (type, status, reason)."""
    if obj is None:
        return None
    return sorted((_condition(c) for c in (obj.get("status") or {}).get("conditions") or []), key=str)


def event_reasons(events: Sequence[Mapping[str, Any]]) -> list[str]:
    """The distinct ``Kind/name type reason`` of Events, sorted (counts and messages differ by timing)."""
    seen = {
        f"{(e.get('involvedObject') or {}).get('kind')}/{(e.get('involvedObject') or {}).get('name')} "
        f"{e.get('type')} {e.get('reason')}"
        for e in events
    }
    return sorted(seen)


def event_messages(events: Sequence[Mapping[str, Any]], limit: int = 3) -> dict[str, list[str]]:
    """The messages of each distinct event of :func:`event_reasons` (a few, scrubbed): the evidence a report
    keeps for an event difference; not compared."""
    out: dict[str, set[str]] = {}
    for e in events:
        key = (
            f"{(e.get('involvedObject') or {}).get('kind')}/{(e.get('involvedObject') or {}).get('name')} "
            f"{e.get('type')} {e.get('reason')}"
        )
        out.setdefault(key, set()).add(str(scrub(e.get("message") or ""))[:300])
    return {k: sorted(v)[:limit] for k, v in sorted(out.items())}


def differences(ours: Any, theirs: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """(path, ours, kubefed) for every leaf that differs; lists of equal length compared item by item."""
    if isinstance(ours, Mapping) and isinstance(theirs, Mapping):
        out: list[tuple[str, Any, Any]] = []
        for key in sorted(set(ours) | set(theirs), key=str):
            out += differences(ours.get(key), theirs.get(key), f"{path}/{key}")
        return out
    if isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        out = []
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            out += differences(a, b, f"{path}/{i}")
        return out
    return [] if ours == theirs else [(path or "/", ours, theirs)]
