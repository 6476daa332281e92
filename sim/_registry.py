"""Resource registry: what each cluster serves.

Built-in types live in one module-level table shared by every cluster (1,000 clusters must not
each hold a copy); a cluster's :class:`Registry` only owns the entries its CRD controller adds.
Objects are stored by ``(group, plural)``, independent of the version, so that every served
version of a CRD reads the same storage (conversion strategy ``None``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
# the order the apiextensions apiserver lists a custom resource's verbs in
CR_VERBS = ("delete", "deletecollection", "get", "list", "patch", "create", "update", "watch")


@dataclass(eq=False)
class ResourceType:
    """One served resource (all its versions share ``group``/``plural`` storage)."""

    group: str
    versions: tuple[str, ...]
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    status: bool = False
    scale: bool = False
    generation: bool = False
    builtin: bool = True
    verbs: tuple[str, ...] = tuple(VERBS)
    # Custom resources only: version -> openAPIV3Schema (None = anything goes).
    schemas: dict[str, Any] = field(default_factory=dict)
    # Custom resources only: version -> additionalPrinterColumns (server-side Table output).
    printer_columns: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def gp(self) -> tuple[str, str]:
        return (self.group, self.plural)

    @property
    def storage_version(self) -> str:
        return self.versions[0]

    def api_version(self, version: str | None = None) -> str:
        v = version or self.versions[0]
        return f"{self.group}/{v}" if self.group else v

    @property
    def list_kind(self) -> str:
        return self.kind + "List"


def _rt(group: str, version: str, plural: str, kind: str, namespaced: bool = True, **kw: Any) -> ResourceType:
    return ResourceType(group, (version,), plural, kw.pop("singular", kind.lower()), kind, namespaced, **kw)


BUILTINS: list[ResourceType] = [
    _rt(
        "",
        "v1",
        "namespaces",
        "Namespace",
        False,
        short_names=("ns",),
        status=True,
        verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
    ),
    _rt("", "v1", "configmaps", "ConfigMap", short_names=("cm",)),
    _rt("", "v1", "secrets", "Secret"),
    _rt("", "v1", "services", "Service", short_names=("svc",), categories=("all",), status=True),
    _rt("", "v1", "endpoints", "Endpoints", short_names=("ep",), singular="endpoints"),
    _rt("", "v1", "serviceaccounts", "ServiceAccount", short_names=("sa",)),
    _rt("", "v1", "pods", "Pod", short_names=("po",), categories=("all",), status=True),
    _rt("", "v1", "nodes", "Node", False, short_names=("no",), status=True),
    _rt("", "v1", "events", "Event", short_names=("ev",)),
    _rt("events.k8s.io", "v1", "events", "Event", short_names=("ev",)),
    _rt(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        short_names=("deploy",),
        categories=("all",),
        status=True,
        scale=True,
        generation=True,
    ),
    _rt(
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        short_names=("rs",),
        categories=("all",),
        status=True,
        scale=True,
        generation=True,
    ),
    _rt(
        "apps",
        "v1",
        "statefulsets",
        "StatefulSet",
        short_names=("sts",),
        categories=("all",),
        status=True,
        scale=True,
        generation=True,
    ),
    _rt(
        "apps",
        "v1",
        "daemonsets",
        "DaemonSet",
        short_names=("ds",),
        categories=("all",),
        status=True,
        generation=True,
    ),
    _rt("batch", "v1", "jobs", "Job", categories=("all",), status=True, generation=True),
    _rt(
        "networking.k8s.io", "v1", "ingresses", "Ingress", short_names=("ing",), status=True, generation=True
    ),
    _rt("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    _rt("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    _rt("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    _rt("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    _rt("coordination.k8s.io", "v1", "leases", "Lease"),
    _rt(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        False,
        short_names=("crd", "crds"),
        categories=("api-extensions",),
        status=True,
    ),
    # Create-only reviews, answered "allowed" (RBAC is stored, not enforced): `kubectl auth can-i`.
    _rt(
        "authorization.k8s.io",
        "v1",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
        False,
        verbs=("create",),
    ),
    _rt(
        "authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", False, verbs=("create",)
    ),
    _rt(
        "authorization.k8s.io",
        "v1",
        "localsubjectaccessreviews",
        "LocalSubjectAccessReview",
        verbs=("create",),
    ),
]

_BUILTIN_INDEX: dict[tuple[str, str, str], ResourceType] = {
    (rt.group, v, rt.plural): rt for rt in BUILTINS for v in rt.versions
}
_BUILTIN_GP: dict[tuple[str, str], ResourceType] = {rt.gp: rt for rt in BUILTINS}
NAMESPACES = _BUILTIN_GP[("", "namespaces")]
CRDS = _BUILTIN_GP[("apiextensions.k8s.io", "customresourcedefinitions")]


def builtin(group: str, plural: str) -> ResourceType:
    """The built-in type stored under ``(group, plural)``."""
    return _BUILTIN_GP[(group, plural)]


class Registry:
    """Built-ins plus this cluster's established CRDs."""

    __slots__ = ("_crd_gp", "_crds", "generation")

    def __init__(self) -> None:
        self._crds: dict[tuple[str, str, str], ResourceType] | None = None
        self._crd_gp: dict[tuple[str, str], ResourceType] | None = None
        self.generation = 0  # bumped by every CRD change (derived documents such as OpenAPI follow it)

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        rt = _BUILTIN_INDEX.get((group, version, plural))
        if rt is None and self._crds:
            rt = self._crds.get((group, version, plural))
        return rt

    def by_gp(self, group: str, plural: str) -> ResourceType | None:
        rt = _BUILTIN_GP.get((group, plural))
        if rt is None and self._crd_gp:
            rt = self._crd_gp.get((group, plural))
        return rt

    def add_crd(self, rt: ResourceType) -> None:
        self.remove_crd(rt.group, rt.plural)
        self.generation += 1
        if self._crds is None:
            self._crds, self._crd_gp = {}, {}
        assert self._crd_gp is not None
        self._crd_gp[rt.gp] = rt
        for v in rt.versions:
            self._crds[(rt.group, v, rt.plural)] = rt

    def remove_crd(self, group: str, plural: str) -> ResourceType | None:
        if not self._crd_gp:
            return None
        rt = self._crd_gp.pop((group, plural), None)
        if rt is not None:
            self.generation += 1
        if rt is not None and self._crds is not None:
            for v in rt.versions:
                self._crds.pop((group, v, plural), None)
        return rt

    def all(self) -> list[ResourceType]:
        return BUILTINS + (list(self._crd_gp.values()) if self._crd_gp else [])

    def group_versions(self) -> dict[str, list[str]]:
        """group -> served versions (preferred first), core group excluded."""
        out: dict[str, list[str]] = {}
        for rt in self.all():
            if rt.group:
                vs = out.setdefault(rt.group, [])
                for v in rt.versions:
                    if v not in vs:
                        vs.append(v)
        return out

    def resources_in(self, group: str, version: str) -> list[ResourceType]:
        return [rt for rt in self.all() if rt.group == group and version in rt.versions]


def crd_resource_type(crd: dict[str, Any]) -> ResourceType:
    """Build the served type from a CRD object (storage version first, then the other served ones)."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    served = [v for v in spec.get("versions") or [] if v.get("served", True)]
    served.sort(key=lambda v: not v.get("storage", False))
    versions = tuple(v["name"] for v in served)
    schemas = {v["name"]: (v.get("schema") or {}).get("openAPIV3Schema") for v in served}
    status = any("status" in (v.get("subresources") or {}) for v in served)
    scale = any("scale" in (v.get("subresources") or {}) for v in served)
    return ResourceType(
        group=spec.get("group", ""),
        versions=versions,
        plural=names.get("plural", ""),
        singular=names.get("singular") or names.get("kind", "").lower(),
        kind=names.get("kind", ""),
        namespaced=spec.get("scope", "Namespaced") == "Namespaced",
        short_names=tuple(names.get("shortNames") or ()),
        categories=tuple(names.get("categories") or ()),
        status=status,
        scale=scale,
        generation=True,
        builtin=False,
        schemas=schemas,
        printer_columns={v["name"]: _printer_columns(v) for v in served},
        verbs=CR_VERBS,
    )


def _printer_columns(version: dict[str, Any]) -> list[dict[str, Any]]:
    cols = version.get("additionalPrinterColumns")
    if cols is None:  # the apiserver's default for custom resources
        return [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]
    return list(cols)
