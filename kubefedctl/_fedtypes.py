"""Building a FederatedTypeConfig and its ``Federated<Kind>`` CRD for one target type.

Shared by ``kubefedctl enable`` (live target types found through discovery) and the generator of
``deploy/`` (KubeFed's ten default types, known statically). The federated schema follows KubeFed's
``pkg/kubefedctl/enable/validation.go``: ``placement``, ``overrides``, ``template`` (the target's schema
when the target is a CRD, free-form for built-ins), ``retainReplicas`` only when the target has an
integer ``spec.replicas``, a status subresource and the ``Propagation`` condition shape.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_FEDERATED_GROUP",
    "DEFAULT_FEDERATED_VERSION",
    "DEFAULT_TYPES",
    "TargetType",
    "federated_crd",
    "federated_type_config",
    "template_schema_from_crd",
]

DEFAULT_FEDERATED_GROUP = "types.kubefed.io"
DEFAULT_FEDERATED_VERSION = "v1beta1"


@dataclass(frozen=True)
class TargetType:
    """A type that can be federated, as discovery describes it."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    singular: str = ""
    verbs: tuple[str, ...] = field(default=(), compare=False)

    @property
    def qualified(self) -> str:
        """KubeFed's type name: ``plural[.group]`` (also the FTC name)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


# KubeFed's default set (config/enabletypedirectives), with the versions a current cluster serves.
DEFAULT_TYPES: tuple[TargetType, ...] = (
    TargetType("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    TargetType("", "v1", "ConfigMap", "configmaps", True, ("cm",)),
    TargetType("apps", "v1", "Deployment", "deployments", True, ("deploy",)),
    TargetType("networking.k8s.io", "v1", "Ingress", "ingresses", True, ("ing",)),
    TargetType("batch", "v1", "Job", "jobs", True),
    TargetType("", "v1", "Namespace", "namespaces", False, ("ns",)),
    TargetType("apps", "v1", "ReplicaSet", "replicasets", True, ("rs",)),
    TargetType("", "v1", "Secret", "secrets", True),
    TargetType("", "v1", "ServiceAccount", "serviceaccounts", True, ("sa",)),
    TargetType("", "v1", "Service", "services", True, ("svc",)),
)
_REPLICATED_KINDS = frozenset({("apps", "Deployment"), ("apps", "ReplicaSet"), ("apps", "StatefulSet")})


def _federated_scope(target: TargetType) -> str:
    # A FederatedNamespace lives in the namespace it federates.
    if target.group == "" and target.plural == "namespaces":
        return "Namespaced"
    return "Namespaced" if target.namespaced else "Cluster"


def federated_type_config(
    target: TargetType,
    *,
    federated_group: str = DEFAULT_FEDERATED_GROUP,
    federated_version: str = DEFAULT_FEDERATED_VERSION,
    namespace: str = "kube-federation-system",
) -> dict[str, Any]:
    """The FederatedTypeConfig KubeFed's ``enable`` writes for a target type."""
    target_type: dict[str, Any] = {
        "kind": target.kind,
        "pluralName": target.plural,
        "scope": "Namespaced" if target.namespaced else "Cluster",
        "version": target.version,
    }
    if target.group:
        target_type["group"] = target.group
    return {
        "apiVersion": "core.kubefed.io/v1beta1",
        "kind": "FederatedTypeConfig",
        "metadata": {"name": target.qualified, "namespace": namespace},
        "spec": {
            "federatedType": {
                "group": federated_group,
                "kind": f"Federated{target.kind}",
                "pluralName": f"federated{target.plural}",
                "scope": _federated_scope(target),
                "version": federated_version,
            },
            "propagation": "Enabled",
            "targetType": target_type,
        },
    }


def _string() -> dict[str, Any]:
    return {"type": "string"}


def _placement_schema() -> dict[str, Any]:
    expression = {
        "type": "object",
        "required": ["key", "operator"],
        "properties": {
            "key": _string(),
            "operator": _string(),
            "values": {"type": "array", "items": _string()},
        },
    }
    return {
        "type": "object",
        "properties": {
            "clusters": {
                "type": "array",
                "items": {"type": "object", "required": ["name"], "properties": {"name": _string()}},
            },
            "clusterSelector": {
                "type": "object",
                "properties": {
                    "matchExpressions": {"type": "array", "items": expression},
                    "matchLabels": {"type": "object", "additionalProperties": _string()},
                },
            },
        },
    }


def _overrides_schema() -> dict[str, Any]:
    patch = {
        "type": "object",
        "required": ["path"],
        "properties": {
            "op": {"type": "string", "pattern": "^(add|remove|replace)?$"},
            "path": _string(),
            "value": {"x-kubernetes-preserve-unknown-fields": True},
        },
    }
    return {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {"clusterName": _string(), "clusterOverrides": {"type": "array", "items": patch}},
        },
    }


def _status_schema() -> dict[str, Any]:
    condition = {
        "type": "object",
        "required": ["type", "status"],
        "properties": {
            "lastTransitionTime": {"type": "string", "format": "date-time"},
            "lastUpdateTime": {"type": "string", "format": "date-time"},
            "reason": _string(),
            "status": _string(),
            "type": _string(),
        },
    }
    cluster = {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": _string(),
            "status": _string(),
            "remoteStatus": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
    }
    return {
        "type": "object",
        "properties": {
            "clusters": {"type": "array", "items": cluster},
            "conditions": {"type": "array", "items": condition},
            "observedGeneration": {"type": "integer", "format": "int64"},
        },
    }


def template_schema_from_crd(crd: dict[str, Any], version: str | None = None) -> dict[str, Any] | None:
    """The template schema for a CRD target: its version's schema without apiVersion/kind/status."""
    versions = (crd.get("spec") or {}).get("versions") or []
    chosen = next((v for v in versions if v.get("name") == version), None) if version else None
    chosen = chosen or (versions[0] if versions else None)
    root = ((chosen or {}).get("schema") or {}).get("openAPIV3Schema")
    if not isinstance(root, dict):
        return None
    schema = copy.deepcopy(root)
    props = schema.get("properties") or {}
    for key in ("apiVersion", "kind", "status"):
        props.pop(key, None)
    # Below the root, "metadata" is not special any more: keep labels etc. instead of pruning them.
    props["metadata"] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    schema["properties"] = props
    schema["type"] = "object"
    schema.pop("required", None)
    schema.pop("description", None)
    return schema


def federated_crd(
    target: TargetType,
    *,
    federated_group: str = DEFAULT_FEDERATED_GROUP,
    federated_version: str = DEFAULT_FEDERATED_VERSION,
    template_schema: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``Federated<Kind>`` CRD for a target type."""
    template = template_schema or {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    spec_props: dict[str, Any] = {
        "placement": _placement_schema(),
        "overrides": _overrides_schema(),
        "template": template,
    }
    replicas = (((template.get("properties") or {}).get("spec") or {}).get("properties") or {}).get(
        "replicas"
    )
    if (template_schema is None and (target.group, target.kind) in _REPLICATED_KINDS) or (
        isinstance(replicas, dict) and replicas.get("type") == "integer"
    ):
        spec_props["retainReplicas"] = {"type": "boolean"}
    names: dict[str, Any] = {
        "kind": f"Federated{target.kind}",
        "listKind": f"Federated{target.kind}List",
        "plural": f"federated{target.plural}",
        "singular": f"federated{target.kind.lower()}",
    }
    if target.short_names:
        names["shortNames"] = [f"f{s}" for s in target.short_names]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"federated{target.plural}.{federated_group}"},
        "spec": {
            "group": federated_group,
            "names": names,
            "scope": _federated_scope(target),
            "versions": [
                {
                    "name": federated_version,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": _string(),
                                "kind": _string(),
                                "metadata": {"type": "object"},
                                "spec": {"type": "object", "properties": spec_props},
                                "status": _status_schema(),
                            },
                        }
                    },
                }
            ],
        },
    }
