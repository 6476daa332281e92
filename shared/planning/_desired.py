"""Building the object written to a member cluster (contract §2.5.3, §1.1, §2.5.6).

KubeFed's ``ObjectForCluster`` starts from a copy of ``spec.template`` (an empty template is
allowed), drops ``metadata.annotations`` and ``metadata.finalizers`` (member controllers own
them; KubeFed records ``AnnotationsNotSupported``/``FinalizersNotSupported`` events), sets
name and namespace from the federated resource (a Namespace target is cluster-scoped, so it
gets no namespace), kind from the FTC target, and apiVersion from the template when set.

On update the order is fixed: template → retention → overrides → managed label, so an
override can still edit retained annotations and the managed label always wins.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ._copy import clone
from ._overrides import apply_overrides
from ._retention import retain_cluster_fields

MANAGED_LABEL = "kubefed.io/managed"
ORPHAN_ANNOTATION = "kubefed.io/orphan"
DELETE_OPTIONS_ANNOTATION = "kubefed.io/deleteoption"
SYNC_FINALIZER = "kubefed.io/sync-controller"

_DELETE_OPTION_FIELDS = ("gracePeriodSeconds", "propagationPolicy", "preconditions")


def object_for_cluster(
    template: Mapping[str, Any] | None,
    *,
    api_version: str,
    kind: str,
    name: str,
    namespace: str | None,
) -> dict[str, Any]:
    """Return the desired member object before retention, overrides and labelling."""
    obj: dict[str, Any] = clone(dict(template or {}))
    meta = obj.get("metadata")
    meta = dict(meta) if isinstance(meta, Mapping) else {}
    meta.pop("annotations", None)
    meta.pop("finalizers", None)
    meta["name"] = name
    if kind == "Namespace" or not namespace:
        meta.pop("namespace", None)
    else:
        meta["namespace"] = namespace
    obj["metadata"] = meta
    obj["apiVersion"] = obj.get("apiVersion") or api_version
    obj["kind"] = kind
    return obj


def add_managed_label(obj: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of ``obj`` labelled ``kubefed.io/managed: "true"``."""
    out: dict[str, Any] = clone(dict(obj))
    meta = out.setdefault("metadata", {})
    labels = dict(meta.get("labels") or {})
    labels[MANAGED_LABEL] = "true"
    meta["labels"] = labels
    return out


def is_explicitly_unmanaged(obj: Mapping[str, Any]) -> bool:
    """True when a member object carries ``kubefed.io/managed: "false"`` (``ManagedLabelFalse``)."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels.get(MANAGED_LABEL) == "false"


def is_orphaning(fed_obj: Mapping[str, Any]) -> bool:
    """True when the federated resource asks for its member objects to be kept on deletion."""
    annotations = (fed_obj.get("metadata") or {}).get("annotations") or {}
    return annotations.get(ORPHAN_ANNOTATION) == "true"


def parse_delete_options(annotation_value: str | None) -> dict[str, Any]:
    """Decode ``kubefed.io/deleteoption``, keeping only the fields KubeFed passes on.

    Raises:
        ValueError: the annotation is not a JSON object.
    """
    if not annotation_value:
        return {}
    try:
        decoded = json.loads(annotation_value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid {DELETE_OPTIONS_ANNOTATION} annotation: {exc}") from exc
    if not isinstance(decoded, dict):
        raise ValueError(f"invalid {DELETE_OPTIONS_ANNOTATION} annotation: not a JSON object")
    return {k: decoded[k] for k in _DELETE_OPTION_FIELDS if decoded.get(k) is not None}


def render_for_cluster(
    template: Mapping[str, Any] | None,
    overrides_for_cluster: Sequence[Mapping[str, Any]],
    *,
    api_version: str,
    kind: str,
    name: str,
    namespace: str | None,
    live: Mapping[str, Any] | None,
    retain_replicas: bool,
) -> dict[str, Any]:
    """Build the full desired member object in KubeFed's order.

    Raises:
        OverridesError: an override does not apply (status ``ApplyOverridesFailed``).
    """
    obj = object_for_cluster(template, api_version=api_version, kind=kind, name=name, namespace=namespace)
    if live is not None:
        obj = retain_cluster_fields(kind, obj, live, retain_replicas=retain_replicas)
    if overrides_for_cluster:
        obj = apply_overrides(obj, overrides_for_cluster)
    return add_managed_label(obj)
