"""Fields of a member object that an update must keep (contract §2.5.5).

Member-side controllers own some fields of the objects KubeFed propagates; overwriting
them with the template would fight those controllers or be rejected by the API server.
KubeFed (``pkg/controller/sync/dispatch/retain.go``) therefore copies from the live object:

* every kind: ``metadata.resourceVersion`` (optimistic concurrency), ``metadata.finalizers``
  and ``metadata.annotations`` (use overrides to change them);
* Service: ``spec.clusterIP``, ``spec.clusterIPs``, ``spec.healthCheckNodePort`` (> 0), and the
  ``nodePort`` of each port matching on name + protocol + port;
* ServiceAccount: ``secrets`` (filled by the token controller) unless the template sets a
  non-empty list;
* any other kind, when ``spec.retainReplicas`` is true: ``spec.replicas`` (for member HPAs).

Deliberate difference: KubeFed compares the port ``protocol`` literally, so a template port
without ``protocol`` never matches the server-defaulted ``TCP`` and its nodePort is lost on
every update. We treat a missing protocol as ``TCP`` (the API default).

Malformed objects (e.g. ``spec`` not an object) raise ``ValueError``, which the caller
reports as ``FieldRetentionFailed``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ._copy import clone


def _port_key(port: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    return (port.get("name") or "", port.get("protocol") or "TCP", port.get("port"))


def _retain_service(desired: dict[str, Any], live: Mapping[str, Any]) -> None:
    live_spec = live.get("spec") or {}
    spec = desired.setdefault("spec", {})
    hc = live_spec.get("healthCheckNodePort")
    if isinstance(hc, int) and hc > 0:
        spec["healthCheckNodePort"] = hc
    if live_spec.get("clusterIP"):
        spec["clusterIP"] = live_spec["clusterIP"]
    if live_spec.get("clusterIPs"):
        spec["clusterIPs"] = copy.deepcopy(live_spec["clusterIPs"])
    live_ports = live_spec.get("ports") or []
    node_ports = {
        _port_key(p): p["nodePort"] for p in live_ports if isinstance(p, Mapping) and "nodePort" in p
    }
    for port in spec.get("ports") or []:
        if isinstance(port, dict) and _port_key(port) in node_ports:
            port["nodePort"] = node_ports[_port_key(port)]


def _retain_service_account(desired: dict[str, Any], live: Mapping[str, Any]) -> None:
    if desired.get("secrets"):
        return
    if live.get("secrets"):
        desired["secrets"] = copy.deepcopy(live["secrets"])


def _retain_replicas(desired: dict[str, Any], live: Mapping[str, Any]) -> None:
    live_spec = live.get("spec") or {}
    if "replicas" in live_spec:
        desired.setdefault("spec", {})["replicas"] = live_spec["replicas"]


def retain_cluster_fields(
    kind: str, desired: Mapping[str, Any], live: Mapping[str, Any], *, retain_replicas: bool
) -> dict[str, Any]:
    """Return a copy of ``desired`` carrying the fields the member cluster owns.

    Raises:
        ValueError: ``desired`` or ``live`` is malformed (status ``FieldRetentionFailed``).
    """
    try:
        return _retain(kind, desired, live, retain_replicas=retain_replicas)
    except (AttributeError, TypeError, KeyError) as exc:
        raise ValueError(f"cannot retain {kind} fields: {exc}") from exc


def _retain(
    kind: str, desired: Mapping[str, Any], live: Mapping[str, Any], *, retain_replicas: bool
) -> dict[str, Any]:
    out: dict[str, Any] = clone(dict(desired))
    meta = out.setdefault("metadata", {})
    live_meta = live.get("metadata") or {}
    for key in ("resourceVersion", "finalizers", "annotations"):
        if live_meta.get(key):
            meta[key] = clone(live_meta[key])
        else:
            meta.pop(key, None)
    if kind == "Service":
        _retain_service(out, live)
    elif kind == "ServiceAccount":
        _retain_service_account(out, live)
    elif retain_replicas:
        _retain_replicas(out, live)
    return out
