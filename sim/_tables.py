"""Server-side ``Table`` output (``Accept: ...;as=Table;g=meta.k8s.io``) for ``kubectl get``.

Without it kubectl prints only NAME and AGE. The columns copy the real printers
(``pkg/printers/internalversion``) for the kinds people look at by hand; other kinds get NAME/AGE.
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


def _pod_cells(o: Obj) -> list[Any]:
    st = _st(o)
    cs = st.get("containerStatuses") or []
    total = len(_sp(o).get("containers") or [])
    ready = sum(1 for c in cs if c.get("ready"))
    phase = st.get("phase", "Pending")
    if o["metadata"].get("deletionTimestamp"):
        phase = "Terminating"
    elif phase == "Succeeded":
        phase = "Completed"
    return [f"{ready}/{total}", phase, sum(c.get("restartCount", 0) for c in cs), st.get("podIP", "<none>"),
            _sp(o).get("nodeName", "<none>")]


def _svc_cells(o: Obj) -> list[Any]:
    sp = _sp(o)
    ing = (_st(o).get("loadBalancer") or {}).get("ingress") or []
    ext = ",".join(i.get("ip") or i.get("hostname", "") for i in ing) or (
        "<pending>" if sp.get("type") == "LoadBalancer" else "<none>")
    ports = ",".join(f"{p.get('port')}{':' + str(p['nodePort']) if p.get('nodePort') else ''}/{p.get('protocol', 'TCP')}"
                     for p in sp.get("ports") or []) or "<none>"
    return [sp.get("type", "ClusterIP"), sp.get("clusterIP", "<none>"), ext, ports]


def _node_cells(o: Obj) -> list[Any]:
    ready: Obj = next((c for c in _st(o).get("conditions") or [] if c.get("type") == "Ready"), {})
    roles = [k.split("/", 1)[1] for k in o["metadata"].get("labels") or {} if k.startswith("node-role.kubernetes.io/")]
    return ["Ready" if ready.get("status") == "True" else "NotReady", ",".join(roles) or "<none>",
            (_st(o).get("nodeInfo") or {}).get("kubeletVersion", "")]


def _job_cells(o: Obj) -> list[Any]:
    conds = {c.get("type"): c.get("status") for c in _st(o).get("conditions") or []}
    status = "Complete" if conds.get("Complete") == "True" else "Failed" if conds.get("Failed") == "True" else "Running"
    return [status, f"{_st(o).get('succeeded', 0)}/{_sp(o).get('completions', 1)}"]


Column = tuple[str, str, int]
AGE: Column = ("Age", "string", 0)
_COLUMNS: dict[tuple[str, str], tuple[list[Column], Callable[[Obj], list[Any]]]] = {
    ("", "pods"): ([("Ready", "string", 0), ("Status", "string", 0), ("Restarts", "string", 0), AGE,
                    ("IP", "string", 1), ("Node", "string", 1)], _pod_cells),
    ("apps", "deployments"): ([("Ready", "string", 0), ("Up-to-date", "integer", 0), ("Available", "integer", 0)],
                              lambda o: [f"{_st(o).get('readyReplicas', 0)}/{_sp(o).get('replicas', 1)}",
                                         _st(o).get("updatedReplicas", 0), _st(o).get("availableReplicas", 0)]),
    ("apps", "replicasets"): ([("Desired", "integer", 0), ("Current", "integer", 0), ("Ready", "integer", 0)],
                              lambda o: [_sp(o).get("replicas", 1), _st(o).get("replicas", 0),
                                         _st(o).get("readyReplicas", 0)]),
    ("apps", "statefulsets"): ([("Ready", "string", 0)],
                               lambda o: [f"{_st(o).get('readyReplicas', 0)}/{_sp(o).get('replicas', 1)}"]),
    ("apps", "daemonsets"): ([("Desired", "integer", 0), ("Current", "integer", 0), ("Ready", "integer", 0)],
                             lambda o: [_st(o).get("desiredNumberScheduled", 0), _st(o).get("currentNumberScheduled", 0),
                                        _st(o).get("numberReady", 0)]),
    ("batch", "jobs"): ([("Status", "string", 0), ("Completions", "string", 0)], _job_cells),
    ("", "services"): ([("Type", "string", 0), ("Cluster-IP", "string", 0), ("External-IP", "string", 0),
                        ("Port(s)", "string", 0)], _svc_cells),
    ("", "nodes"): ([("Status", "string", 0), ("Roles", "string", 0), AGE, ("Version", "string", 0)], _node_cells),
    ("", "namespaces"): ([("Status", "string", 0)], lambda o: [_st(o).get("phase", "Active")]),
    ("", "configmaps"): ([("Data", "integer", 0)],
                         lambda o: [len(o.get("data") or {}) + len(o.get("binaryData") or {})]),
    ("", "secrets"): ([("Type", "string", 0), ("Data", "integer", 0)],
                      lambda o: [o.get("type", "Opaque"), len(o.get("data") or {})]),
}


def _columns(rt: ResourceType) -> tuple[list[Column], Callable[[Obj], list[Any]] | None]:
    cols, fn = _COLUMNS.get(rt.gp, ([], None))
    return (cols if AGE in cols else [*cols, AGE]), fn


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
            current = [x for c in lists for x in c] if idx == "*" else [c[int(idx)] for c in lists if int(idx) < len(c)]
        else:
            return []
        rest = rest[m.end():]
    return current


def _printer_columns(rt: ResourceType, version: str | None) -> list[Obj]:
    return rt.printer_columns.get(version or rt.storage_version) or []


def _definitions(rt: ResourceType) -> list[Obj]:
    if rt.printer_columns:
        printer = _printer_columns(rt, None)
        defs = [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}]
        return defs + [{"name": c.get("name", ""), "type": c.get("type", "string"), "format": c.get("format", ""),
                        "description": c.get("description", ""), "priority": c.get("priority", 0)} for c in printer]
    cols, _ = _columns(rt)
    defs = [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}]
    defs += [{"name": n, "type": t, "format": "", "description": n, "priority": p} for n, t, p in cols]
    return defs


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
    else:
        cols, fn = _columns(rt)
        values = list(fn(obj)) if fn else []
        values.insert(cols.index(AGE), human_age(meta.get("creationTimestamp")))
        cells = [meta["name"], *values]
    if include == "None":
        return {"cells": cells}
    if include == "Object":
        return {"cells": cells, "object": obj}
    return {"cells": cells, "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                       "metadata": meta}}


def table(rt: ResourceType, items: list[Obj], list_meta: Obj, include: str = "Metadata", headers: bool = True) -> Obj:
    """A meta.k8s.io/v1 Table of ``items``."""
    out: Obj = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta,
                "rows": [_row(o, rt, include) for o in items]}
    if headers:
        out["columnDefinitions"] = _definitions(rt)
    return out
