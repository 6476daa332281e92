"""Server-side ``Table`` output (``Accept: ...;as=Table;g=meta.k8s.io``) for ``kubectl get``.

Without it kubectl prints only NAME and AGE. The columns and cells are the real printers'
(``pkg/printers/internalversion``, the CRD table convertor) for every built-in kind served here, wide
columns included (kubectl shows the priority-1 ones with ``-o wide``); a kind without a printer gets
the apiserver's default table (Name, Created At), a custom resource its ``additionalPrinterColumns``.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Callable
from typing import Any

from ._registry import ResourceType

Obj = dict[str, Any]


def wants_table(accept: str) -> bool:
    return "as=Table" in accept


def human_age(ts: str | None) -> str:
    """kubectl's HumanDuration of now - ts."""
    if not ts:
        return "<unknown>"
    try:
        then = calendar.timegm(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return "<unknown>"
    s = max(0, int(time.time() - then))
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    d = h // 24
    return f"{d}d{h % 24}h" if d < 8 and h % 24 else f"{d}d"


def _st(o: Obj) -> Obj:
    return o.get("status") or {}


def _sp(o: Obj) -> Obj:
    return o.get("spec") or {}


def _age(o: Obj) -> str:
    return human_age(o["metadata"].get("creationTimestamp"))


def _labels(labels: dict[str, str] | None) -> str:
    """``labels.FormatLabels``: sorted ``k=v`` pairs, ``<none>`` when empty."""
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items())) or "<none>"


def _selector(sel: Obj | None) -> str:
    """``metav1.FormatLabelSelector``."""
    if not sel:
        return "<none>"
    parts = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items())]
    for e in sel.get("matchExpressions") or []:
        op, key, values = e.get("operator"), e.get("key"), e.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts) or "<none>"


def _containers(o: Obj) -> list[str]:
    """``layoutContainerCells`` of a pod template: names and images, comma-separated."""
    cs = ((_sp(o).get("template") or {}).get("spec") or {}).get("containers") or []
    return [",".join(c.get("name", "") for c in cs), ",".join(c.get("image", "") for c in cs)]


def _pod_cells(o: Obj) -> list[Any]:
    st, sp = _st(o), _sp(o)
    phase = st.get("phase", "")
    reason = st.get("reason") or phase
    ready = restarts = 0
    has_running = False
    for c in reversed(st.get("containerStatuses") or []):
        restarts += c.get("restartCount", 0)
        state = c.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif state.get("terminated") is not None:
            t = state["terminated"]
            reason = t.get("reason") or (
                f"Signal:{t['signal']}" if t.get("signal") else f"ExitCode:{t.get('exitCode', 0)}"
            )
        elif c.get("ready") and state.get("running") is not None:
            has_running = True
            ready += 1
    if reason == "Completed" and has_running:
        reason = (
            "Running"
            if any(c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or [])
            else "NotReady"
        )
    if o["metadata"].get("deletionTimestamp") and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"
    ips = st.get("podIPs") or []
    gates = sp.get("readinessGates") or []
    return [
        f"{ready}/{len(sp.get('containers') or [])}",
        reason,
        str(restarts),
        _age(o),
        (ips[0].get("ip") if ips else "") or "<none>",
        sp.get("nodeName") or "<none>",
        st.get("nominatedNodeName") or "<none>",
        f"0/{len(gates)}" if gates else "<none>",
    ]


def _lb_addresses(ingress: list[Obj]) -> str:
    return ",".join(
        sorted({str(i.get("ip") or i.get("hostname")) for i in ingress if i.get("ip") or i.get("hostname")})
    )


def _svc_cells(o: Obj) -> list[Any]:
    sp = _sp(o)
    kind = sp.get("type", "ClusterIP")
    external = ",".join(sp.get("externalIPs") or [])
    if kind in ("ClusterIP", "NodePort"):
        ext = external or "<none>"
    elif kind == "LoadBalancer":
        lb = _lb_addresses((_st(o).get("loadBalancer") or {}).get("ingress") or [])
        ext = ",".join(x for x in (lb, external) if x) or "<pending>"
    elif kind == "ExternalName":
        ext = sp.get("externalName", "")
    else:
        ext = "<unknown>"
    ports = (
        ",".join(
            f"{p.get('port')}:{p['nodePort']}/{p.get('protocol', 'TCP')}"
            if p.get("nodePort")
            else f"{p.get('port')}/{p.get('protocol', 'TCP')}"
            for p in sp.get("ports") or []
        )
        or "<none>"
    )
    ips = sp.get("clusterIPs") or []
    return [kind, ips[0] if ips else "<none>", ext, ports, _age(o), _labels(sp.get("selector"))]


def _node_cells(o: Obj) -> list[Any]:
    st = _st(o)
    ready: Obj | None = next((c for c in st.get("conditions") or [] if c.get("type") == "Ready"), None)
    status = ["Unknown"] if ready is None else ["Ready" if ready.get("status") == "True" else "NotReady"]
    if _sp(o).get("unschedulable"):
        status.append("SchedulingDisabled")
    labels = o["metadata"].get("labels") or {}
    roles = sorted(
        {
            k.split("/", 1)[1]
            for k in labels
            if k.startswith("node-role.kubernetes.io/") and k.split("/", 1)[1]
        }
        | ({labels["kubernetes.io/role"]} if labels.get("kubernetes.io/role") else set())
    )
    info = st.get("nodeInfo") or {}
    addresses = {a.get("type"): a.get("address") for a in reversed(st.get("addresses") or [])}
    kernel = info.get("kernelVersion") or "<unknown>"
    if info.get("architecture"):
        kernel += f" ({info['architecture']})"
    return [
        ",".join(status),
        ",".join(roles) or "<none>",
        _age(o),
        info.get("kubeletVersion", ""),
        addresses.get("InternalIP") or "<none>",
        addresses.get("ExternalIP") or "<none>",
        info.get("osImage") or "<unknown>",
        kernel,
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


def _job_cells(o: Obj) -> list[Any]:
    st, sp = _st(o), _sp(o)
    conds = {c.get("type") for c in st.get("conditions") or [] if c.get("status") == "True"}
    status = (
        "Complete"
        if "Complete" in conds
        else "Failed"
        if "Failed" in conds
        else "Terminating"
        if o["metadata"].get("deletionTimestamp")
        else "Suspended"
        if "Suspended" in conds
        else "FailureTarget"
        if "FailureTarget" in conds
        else "SuccessCriteriaMet"
        if "SuccessCriteriaMet" in conds
        else "Running"
    )
    succeeded = st.get("succeeded", 0)
    if sp.get("completions") is not None:
        completions = f"{succeeded}/{sp['completions']}"
    else:
        parallelism = sp.get("parallelism") or 0
        completions = f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"
    duration = ""
    if st.get("startTime"):
        end = _epoch(st["completionTime"]) if st.get("completionTime") else time.time()
        duration = human_duration(end - _epoch(st["startTime"]))
    return [status, completions, duration, _age(o), *_containers(o), _selector(sp.get("selector"))]


def _epoch(ts: str) -> float:
    try:
        return float(calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")))
    except (ValueError, TypeError):
        return time.time()


def _ingress_cells(o: Obj) -> list[Any]:
    sp = _sp(o)
    rules = sp.get("rules") or []
    hosts = [r["host"] for r in rules[:3] if r.get("host")]
    shown = ",".join(hosts) or "*"
    if len(rules) > 3:
        shown += f" + {len(rules) - 3} more..."
    address = _lb_addresses((_st(o).get("loadBalancer") or {}).get("ingress") or [])
    return [
        sp.get("ingressClassName") or "<none>",
        shown,
        address,
        "80, 443" if sp.get("tls") else "80",
        _age(o),
    ]


def _endpoints_cells(o: Obj) -> list[Any]:
    subsets = o.get("subsets") or []
    if not subsets:
        return ["<none>", _age(o)]
    found: list[str] = []
    count = 0
    for ss in subsets:
        addresses = [a.get("ip", "") for a in ss.get("addresses") or []]
        for port in ss.get("ports") or [None]:
            count += len(addresses)
            for ip in addresses:
                if len(found) < 3:
                    found.append(
                        ip
                        if port is None
                        else (f"[{ip}]:{port.get('port')}" if ":" in ip else f"{ip}:{port.get('port')}")
                    )
    shown = ",".join(found)
    return [shown + (f" + {count - 3} more..." if count > 3 else ""), _age(o)]


def _event_cells(o: Obj) -> list[Any]:
    first = human_age(o.get("firstTimestamp") or o.get("eventTime"))
    last = human_age(o["lastTimestamp"]) if o.get("lastTimestamp") else first
    count = o.get("count") or 1
    if o.get("series"):
        last, count = human_age(o["series"].get("lastObservedTime")), o["series"].get("count", count)
    ref = o.get("involvedObject") or {}
    target = (
        f"{ref.get('kind', '').lower()}/{ref['name']}" if ref.get("name") else ref.get("kind", "").lower()
    )
    source = o.get("source") or {}
    component = source.get("component") or o.get("reportingComponent") or ""
    host = source.get("host") or o.get("reportingInstance") or ""
    return [
        last,
        o.get("type", ""),
        o.get("reason", ""),
        target,
        ref.get("fieldPath", ""),
        f"{component}, {host}" if host else component,
        (o.get("message") or "").strip(),
        first,
        count,
        o["metadata"]["name"],
    ]


def _binding_cells(o: Obj) -> list[Any]:
    ref = o.get("roleRef") or {}
    subjects = o.get("subjects") or []

    def names(kind: str) -> str:
        return ", ".join(
            (f"{s.get('namespace', '')}/{s['name']}" if kind == "ServiceAccount" else s.get("name", ""))
            for s in subjects
            if s.get("kind") == kind
        )

    return [
        f"{ref.get('kind')}/{ref.get('name')}",
        _age(o),
        names("User"),
        names("Group"),
        names("ServiceAccount"),
    ]


def _crd_cells(o: Obj) -> list[Any]:
    sp = _sp(o)
    versions = sorted(
        v["name"] + ("(storage)" if v.get("storage") else "")
        for v in sp.get("versions") or []
        if v.get("served")
    )
    established = any(
        c.get("type") == "Established" and c.get("status") == "True" for c in _st(o).get("conditions") or []
    )
    return [
        sp.get("scope", ""),
        ",".join(versions),
        o["metadata"].get("creationTimestamp", ""),
        sp.get("group", ""),
        (sp.get("names") or {}).get("kind", ""),
        ",".join((sp.get("names") or {}).get("shortNames") or []),
        established,
    ]


Column = tuple[str, str, int]  # name, type, priority
AGE: Column = ("Age", "string", 0)
_WIDE = [("Containers", "string", 1), ("Images", "string", 1), ("Selector", "string", 1)]
# The printers of pkg/printers/internalversion (and the CRD table convertor): columns after Name, and the
# cells of one object (always the wide ones: a server-side Table carries them all)
_COLUMNS: dict[tuple[str, str], tuple[list[Column], Callable[[Obj], list[Any]]]] = {
    ("", "pods"): (
        [
            ("Ready", "string", 0),
            ("Status", "string", 0),
            ("Restarts", "string", 0),
            AGE,
            ("IP", "string", 1),
            ("Node", "string", 1),
            ("Nominated Node", "string", 1),
            ("Readiness Gates", "string", 1),
        ],
        _pod_cells,
    ),
    ("apps", "deployments"): (
        [("Ready", "string", 0), ("Up-to-date", "string", 0), ("Available", "string", 0), AGE, *_WIDE],
        lambda o: [
            f"{_st(o).get('readyReplicas', 0)}/{_sp(o).get('replicas', 1)}",
            _st(o).get("updatedReplicas", 0),
            _st(o).get("availableReplicas", 0),
            _age(o),
            *_containers(o),
            _selector(_sp(o).get("selector")),
        ],
    ),
    ("apps", "replicasets"): (
        [("Desired", "integer", 0), ("Current", "integer", 0), ("Ready", "integer", 0), AGE, *_WIDE],
        lambda o: [
            _sp(o).get("replicas", 1),
            _st(o).get("replicas", 0),
            _st(o).get("readyReplicas", 0),
            _age(o),
            *_containers(o),
            _selector(_sp(o).get("selector")),
        ],
    ),
    ("apps", "statefulsets"): (
        [("Ready", "string", 0), AGE, *_WIDE[:2]],
        lambda o: [f"{_st(o).get('readyReplicas', 0)}/{_sp(o).get('replicas', 1)}", _age(o), *_containers(o)],
    ),
    ("apps", "daemonsets"): (
        [
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
            ("Up-to-date", "integer", 0),
            ("Available", "integer", 0),
            ("Node Selector", "string", 0),
            AGE,
            *_WIDE,
        ],
        lambda o: [
            _st(o).get("desiredNumberScheduled", 0),
            _st(o).get("currentNumberScheduled", 0),
            _st(o).get("numberReady", 0),
            _st(o).get("updatedNumberScheduled", 0),
            _st(o).get("numberAvailable", 0),
            _labels(((_sp(o).get("template") or {}).get("spec") or {}).get("nodeSelector")),
            _age(o),
            *_containers(o),
            _selector(_sp(o).get("selector")),
        ],
    ),
    ("batch", "jobs"): (
        [("Status", "string", 0), ("Completions", "string", 0), ("Duration", "string", 0), AGE, *_WIDE],
        _job_cells,
    ),
    ("", "services"): (
        [
            ("Type", "string", 0),
            ("Cluster-IP", "string", 0),
            ("External-IP", "string", 0),
            ("Port(s)", "string", 0),
            AGE,
            ("Selector", "string", 1),
        ],
        _svc_cells,
    ),
    ("", "nodes"): (
        [
            ("Status", "string", 0),
            ("Roles", "string", 0),
            AGE,
            ("Version", "string", 0),
            ("Internal-IP", "string", 1),
            ("External-IP", "string", 1),
            ("OS-Image", "string", 1),
            ("Kernel-Version", "string", 1),
            ("Container-Runtime", "string", 1),
        ],
        _node_cells,
    ),
    ("", "namespaces"): ([("Status", "string", 0), AGE], lambda o: [_st(o).get("phase", ""), _age(o)]),
    ("", "configmaps"): (
        [("Data", "string", 0), AGE],
        lambda o: [len(o.get("data") or {}) + len(o.get("binaryData") or {}), _age(o)],
    ),
    ("", "secrets"): (
        [("Type", "string", 0), ("Data", "string", 0), AGE],
        lambda o: [o.get("type", ""), len(o.get("data") or {}), _age(o)],
    ),
    ("", "serviceaccounts"): ([AGE], lambda o: [_age(o)]),
    ("", "endpoints"): ([("Endpoints", "string", 0), AGE], _endpoints_cells),
    ("networking.k8s.io", "ingresses"): (
        [
            ("Class", "string", 0),
            ("Hosts", "string", 0),
            ("Address", "string", 0),
            ("Ports", "string", 0),
            AGE,
        ],
        _ingress_cells,
    ),
    ("coordination.k8s.io", "leases"): (
        [("Holder", "string", 0), AGE],
        lambda o: [_sp(o).get("holderIdentity") or "", _age(o)],
    ),
    ("rbac.authorization.k8s.io", "rolebindings"): (
        [
            ("Role", "string", 0),
            AGE,
            ("Users", "string", 1),
            ("Groups", "string", 1),
            ("ServiceAccounts", "string", 1),
        ],
        _binding_cells,
    ),
    ("rbac.authorization.k8s.io", "clusterrolebindings"): (
        [
            ("Role", "string", 0),
            AGE,
            ("Users", "string", 1),
            ("Groups", "string", 1),
            ("ServiceAccounts", "string", 1),
        ],
        _binding_cells,
    ),
    ("apiextensions.k8s.io", "customresourcedefinitions"): (
        [
            ("Scope", "string", 0),
            ("Versions", "string", 0),
            ("Created At", "date", 0),
            ("Group", "string", 1),
            ("Kind", "string", 1),
            ("ShortNames", "string", 1),
            ("Established", "boolean", 1),
        ],
        _crd_cells,
    ),
}
# Core Events have no Name column first (it is the last, wide one)
_EVENT_COLUMNS: list[Column] = [
    ("Last Seen", "string", 0),
    ("Type", "string", 0),
    ("Reason", "string", 0),
    ("Object", "string", 0),
    ("Subobject", "string", 1),
    ("Source", "string", 1),
    ("Message", "string", 0),
    ("First Seen", "string", 1),
    ("Count", "string", 1),
]
# Kinds without a printer get the apiserver's default table: Name and Created At (a timestamp)
_DEFAULT: tuple[list[Column], Callable[[Obj], list[Any]]] = (
    [("Created At", "date", 0)],
    lambda o: [o["metadata"].get("creationTimestamp", "")],
)


def _columns(rt: ResourceType) -> tuple[list[Column], Callable[[Obj], list[Any]]]:
    return _COLUMNS.get(rt.gp, _DEFAULT)


def human_duration(seconds: float) -> str:
    """apimachinery's duration.HumanDuration."""
    s = max(0, int(seconds))
    if s < 120:
        return f"{s}s"
    return human_age(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - s)))


_FILTER = re.compile(r"""^\[\?\(@\.([\w.]+)\s*==\s*['"]([^'"]*)['"]\)\]""")
_INDEX = re.compile(r"^\[(\d+|\*)\]")
_FIELD = re.compile(r"^\.([\w-]+)")


def json_path(obj: Any, path: str) -> list[Any]:
    """The subset of kubectl JSONPath used by printer columns: ``.a.b``, ``[0]``, ``[*]``,
    ``[?(@.type=='Ready')]``. Returns every match."""
    current = [obj]
    rest = path.strip().strip("{}")
    while rest:
        m = _FIELD.match(rest)
        if m:
            current = [c.get(m.group(1)) for c in current if isinstance(c, dict) and m.group(1) in c]
        elif (m := _FILTER.match(rest)) is not None:
            keys, want = m.group(1).split("."), m.group(2)
            out = []
            for c in current:
                for item in c if isinstance(c, list) else ():
                    v: Any = item
                    for k in keys:
                        v = v.get(k) if isinstance(v, dict) else None
                    if str(v) == want:
                        out.append(item)
            current = out
        elif (m := _INDEX.match(rest)) is not None:
            idx = m.group(1)
            lists = [c for c in current if isinstance(c, list)]
            current = (
                [x for c in lists for x in c]
                if idx == "*"
                else [c[int(idx)] for c in lists if int(idx) < len(c)]
            )
        else:
            return []
        rest = rest[m.end() :]
    return current


def _printer_columns(rt: ResourceType, version: str | None) -> list[Obj]:
    return rt.printer_columns.get(version or rt.storage_version) or []


def _definitions(rt: ResourceType) -> list[Obj]:
    name = {"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}
    if rt.printer_columns:
        printer = _printer_columns(rt, None)
        return [name] + [
            {
                "name": c.get("name", ""),
                "type": c.get("type", "string"),
                "format": c.get("format", ""),
                "description": c.get("description", ""),
                "priority": c.get("priority", 0),
            }
            for c in printer
        ]
    if rt.gp == ("", "events"):
        cols = [*_EVENT_COLUMNS, ("Name", "string", 1)]
        return [
            {"name": n, "type": t, "format": "name" if n == "Name" else "", "description": n, "priority": p}
            for n, t, p in cols
        ]
    cols, _ = _columns(rt)
    return [name] + [
        {"name": n, "type": t, "format": "", "description": n, "priority": p} for n, t, p in cols
    ]


def _cell(obj: Obj, column: Obj) -> Any:
    found = json_path(obj, column.get("jsonPath", ""))
    if not found:
        return None
    if column.get("type") == "date" and isinstance(found[0], str):
        return human_age(found[0])
    return found[0] if len(found) == 1 else ",".join(str(f) for f in found)


def _row(obj: Obj, rt: ResourceType, include: str) -> Obj:
    meta = obj["metadata"]
    if rt.printer_columns:
        cells = [meta["name"], *(_cell(obj, c) for c in _printer_columns(rt, None))]
    elif rt.gp == ("", "events"):
        cells = _event_cells(obj)
    else:
        cells = [meta["name"], *_columns(rt)[1](obj)]
    if include == "None":
        return {"cells": cells}
    if include == "Object":
        return {"cells": cells, "object": obj}
    return {
        "cells": cells,
        "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta},
    }


def table(
    rt: ResourceType, items: list[Obj], list_meta: Obj, include: str = "Metadata", headers: bool = True
) -> Obj:
    """A meta.k8s.io/v1 Table of ``items``."""
    out: Obj = {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "rows": [_row(o, rt, include) for o in items],
    }
    if headers:
        out["columnDefinitions"] = _definitions(rt)
    return out
