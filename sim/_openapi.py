"""The OpenAPI documents of one cluster: ``/openapi/v2`` and ``/openapi/v3``, built-in types and CRDs.

kubectl reads them for three things: ``explain`` (v3: the schema whose
``x-kubernetes-group-version-kind`` names the kind), client-side validation of a ``kind: List``
(v2, protobuf: each item against its kind's definition, unknown fields refused) and the
``fieldValidation`` check (v3: PATCH operations that take the parameter). Built-in schemas are
Kubernetes v1.37's own (:mod:`sim._openapi_source`); CRD schemas are derived as kube-apiserver's
CRD OpenAPI builder does: the ``openAPIV3Schema`` of each served version under the name
``<reversed group>.<version>.<Kind>``, with ``apiVersion``, ``kind`` and a ``metadata`` reference to
``ObjectMeta`` added, plus ``<Kind>List``. In v2 the schema is first made Swagger-2.0-safe the way the
apiserver's ``ToStructuralOpenAPIV2`` does (no ``oneOf``/``anyOf``/``allOf``/``not``; ``nullable``
and ``x-kubernetes-preserve-unknown-fields`` drop ``properties`` and ``items``; int-or-string and
item-less arrays lose their type), so kubectl does not refuse what the server accepts.

Built-in documents are the same for every cluster and built once per process; a cluster with CRDs
builds its part again only after a CRD change (:attr:`Registry.generation`).
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from ._discovery import KUBE_VERSION
from ._openapi_pb import encode_document
from ._registry import BUILTINS, Registry, ResourceType

__all__ = ["ClusterOpenAPI"]

BUILTIN_SCHEMAS = Path(__file__).with_name("openapi-v1.37.json")  # made by sim._openapi_source

_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
_API_VERSION_DOC = (
    "APIVersion defines the versioned schema of this representation of an object. Servers should "
    "convert recognized schemas to the latest internal value, and may reject unrecognized values. "
    "More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"
    "#resources"
)
_KIND_DOC = (
    "Kind is a string value representing the REST resource this object represents. Servers may infer "
    "this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"
)
_METADATA_DOC = (
    "Standard object's metadata. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)
_LIST_METADATA_DOC = (
    "Standard list metadata. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"
    "#types-kinds"
)
_FIELD_VALIDATION = {
    "name": "fieldValidation",
    "in": "query",
    "type": "string",
    "uniqueItems": True,
    "description": "fieldValidation instructs the server on how to handle objects in the request "
    "(POST/PUT/PATCH) containing unknown or duplicate fields.",
}
_PATCH_TYPES = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
]


@cache
def builtin_definitions() -> dict[str, Any]:
    """Swagger 2.0 definitions of the built-in types (shared; do not mutate)."""
    data: dict[str, Any] = json.loads(BUILTIN_SCHEMAS.read_text())
    return data


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found.add(ref.rsplit("/", 1)[-1])
        for v in node.values():
            _refs(v, found)
    elif isinstance(node, list):
        for v in node:
            _refs(v, found)


def closure(roots: list[str], defs: dict[str, Any]) -> list[str]:
    """``roots`` and every definition they reference, transitively (sorted)."""
    keep: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in keep or name not in defs:
            continue
        keep.add(name)
        found: set[str] = set()
        _refs(defs[name], found)
        todo.extend(found - keep)
    return sorted(keep)


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def definition_name(group: str, version: str, kind: str) -> str:
    """kube-openapi's name of a CRD kind: ``types.kubefed.io`` -> ``io.kubefed.types.v1beta1.Kind``."""
    return ".".join([*reversed(group.split(".")), version, kind])


def _gvk(group: str, version: str, kind: str) -> list[dict[str, str]]:
    return [{"group": group, "kind": kind, "version": version}]


# ---- schema forms ----------------------------------------------------------------------------------
def _v3(node: Any) -> Any:
    """A Swagger 2.0 schema in OpenAPI 3 form: component references, ``allOf`` around described refs."""
    if isinstance(node, list):
        return [_v3(v) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: _v3(prop) for name, prop in value.items()}
        elif key != "$ref":
            out[key] = _v3(value)
    ref = node.get("$ref")
    if isinstance(ref, str):
        target = {"$ref": ref.replace("#/definitions/", "#/components/schemas/")}
        if not out:
            return target
        out["allOf"] = [target]
    return out


_V2_DROPPED = ("oneOf", "anyOf", "allOf", "not", "nullable", "x-kubernetes-validations")


def _v2_safe(node: Any) -> Any:
    """A CRD's structural schema as the apiserver publishes it in v2 (see the module docstring)."""
    if not isinstance(node, dict):
        return node
    out = {
        k: v
        for k, v in node.items()
        if k not in _V2_DROPPED and k not in ("properties", "items", "additionalProperties")
    }
    if node.get("nullable") or node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
    if not node.get("nullable") and not node.get("x-kubernetes-preserve-unknown-fields"):
        if isinstance(node.get("properties"), dict):
            out["properties"] = {name: _v2_safe(prop) for name, prop in node["properties"].items()}
        if isinstance(node.get("items"), dict):
            out["items"] = _v2_safe(node["items"])
    if isinstance(out.get("properties"), dict) and isinstance(out.get("required"), list):
        nullable = {
            name
            for name, prop in node["properties"].items()
            if isinstance(prop, dict) and prop.get("nullable")
        }
        out["required"] = [name for name in out["required"] if name not in nullable]
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        if extra.get("nullable"):  # keeps its type, loses what a null value cannot have
            extra = {k: v for k, v in extra.items() if k not in ("nullable", "properties", "items")}
        out["additionalProperties"] = _v2_safe(extra)
    elif isinstance(extra, bool):
        out["additionalProperties"] = extra
    if out.get("type") == "array" and "items" not in out:
        out.pop("type")
    return out


def _crd_kind_schema(rt: ResourceType, version: str, v2: bool) -> dict[str, Any]:
    raw = rt.schemas.get(version)
    gvk = _gvk(rt.group, version, rt.kind)
    if not isinstance(raw, dict) or (v2 and raw.get("x-kubernetes-preserve-unknown-fields")):
        # as the apiserver: no properties at all, or kubectl would refuse every field but the three
        return {"type": "object", "x-kubernetes-group-version-kind": gvk}
    schema: dict[str, Any] = _v2_safe(raw) if v2 else copy.deepcopy(raw)
    props = schema.setdefault("properties", {})
    props["apiVersion"] = {"description": _API_VERSION_DOC, "type": "string"}
    props["kind"] = {"description": _KIND_DOC, "type": "string"}
    ref = {"$ref": ("#/definitions/" if v2 else "#/components/schemas/") + f"{_META}ObjectMeta"}
    props["metadata"] = (
        {**ref, "description": _METADATA_DOC} if v2 else {"allOf": [ref], "description": _METADATA_DOC}
    )
    schema.setdefault("type", "object")
    schema["x-kubernetes-group-version-kind"] = gvk
    return schema


def _crd_list_schema(rt: ResourceType, version: str, v2: bool) -> dict[str, Any]:
    prefix = "#/definitions/" if v2 else "#/components/schemas/"
    item = {"$ref": prefix + definition_name(rt.group, version, rt.kind)}
    meta = {"$ref": f"{prefix}{_META}ListMeta", "description": _LIST_METADATA_DOC}
    return {
        "description": f"{rt.list_kind} is a list of {rt.kind}",
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"description": _API_VERSION_DOC, "type": "string"},
            "items": {
                "description": f"List of {rt.plural}. More info: "
                "https://git.k8s.io/community/contributors/devel/sig-architecture/"
                "api-conventions.md",
                "type": "array",
                "items": item if v2 else {"allOf": [item]},
            },
            "kind": {"description": _KIND_DOC, "type": "string"},
            "metadata": meta
            if v2
            else {"allOf": [{"$ref": meta["$ref"]}], "description": meta["description"]},
        },
        "x-kubernetes-group-version-kind": _gvk(rt.group, version, rt.list_kind),
    }


def _crd_definitions(rt: ResourceType, version: str, v2: bool) -> dict[str, Any]:
    return {
        definition_name(rt.group, version, rt.kind): _crd_kind_schema(rt, version, v2),
        definition_name(rt.group, version, rt.list_kind): _crd_list_schema(rt, version, v2),
    }


def _builtin_names(rts: list[ResourceType], version: str) -> list[str]:
    """Definition names of the built-in kinds (and their lists) in one group/version."""
    wanted = {(rt.group, version, k) for rt in rts for k in (rt.kind, rt.list_kind)}
    return [
        name
        for name, schema in builtin_definitions().items()
        if any(
            (g["group"], g["version"], g["kind"]) in wanted
            for g in schema.get("x-kubernetes-group-version-kind") or ()
        )
    ]


# ---- paths -------------------------------------------------------------------------------------
def _paths(rts: list[ResourceType], group: str, version: str, v2: bool) -> dict[str, Any]:
    """PATCH, PUT and POST of each resource: what kubectl's fieldValidation check looks for."""
    prefix = "/" + _gv_path(group, version)
    param: dict[str, Any] = dict(_FIELD_VALIDATION)
    if not v2:  # OpenAPI 3 puts the parameter's type under "schema"
        param = {k: v for k, v in param.items() if k not in ("type", "uniqueItems")}
        param["schema"] = {"type": "string", "uniqueItems": True}
    paths: dict[str, Any] = {}
    for rt in rts:
        gvk = {"group": group, "version": version, "kind": rt.kind}
        item = (
            f"{prefix}/namespaces/{{namespace}}/{rt.plural}/{{name}}"
            if rt.namespaced
            else f"{prefix}/{rt.plural}/{{name}}"
        )
        op: dict[str, Any] = {
            "operationId": f"patch{rt.kind}",
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": gvk,
            "parameters": [param],
            "responses": {"200": {"description": "OK"}},
        }
        if v2:
            op["consumes"] = _PATCH_TYPES if rt.builtin else [t for t in _PATCH_TYPES if "strategic" not in t]
            op["produces"] = ["application/json", "application/yaml"]
        body = {k: v for k, v in op.items() if k != "consumes"}
        if v2:
            body["consumes"] = ["*/*"]
        paths[item] = {
            "patch": op,
            "put": {**body, "operationId": f"replace{rt.kind}", "x-kubernetes-action": "put"},
        }
        paths[item.rsplit("/", 1)[0]] = {
            "post": {**body, "operationId": f"create{rt.kind}", "x-kubernetes-action": "post"}
        }
    return paths


# ---- v3 ----------------------------------------------------------------------------------------
def _v3_doc(group: str, version: str, builtins: list[ResourceType], crds: list[ResourceType]) -> bytes:
    defs = builtin_definitions()
    names = _builtin_names(builtins, version) if builtins else []
    crd_schemas: dict[str, Any] = {}
    for rt in crds:
        crd_schemas.update(_crd_definitions(rt, version, v2=False))
    if crds:
        names += [f"{_META}ObjectMeta", f"{_META}ListMeta"]
    schemas = {name: _v3(defs[name]) for name in closure(names, defs)}
    schemas.update(crd_schemas)
    doc = {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBE_VERSION["gitVersion"]},
        "paths": _paths(builtins + crds, group, version, v2=False),
        "components": {"schemas": dict(sorted(schemas.items()))},
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def _builtin_by_gv() -> dict[tuple[str, str], list[ResourceType]]:
    out: dict[tuple[str, str], list[ResourceType]] = {}
    for rt in BUILTINS:
        for v in rt.versions:
            out.setdefault((rt.group, v), []).append(rt)
    return out


@cache
def _builtin_v3() -> dict[str, bytes]:
    return {_gv_path(g, v): _v3_doc(g, v, rts, []) for (g, v), rts in _builtin_by_gv().items()}


def _hash(body: bytes) -> str:
    return hashlib.sha512(body).hexdigest()[:128].upper()


# ---- v2 ----------------------------------------------------------------------------------------
@cache
def _builtin_v2() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for (g, v), rts in _builtin_by_gv().items():
        paths.update(_paths(rts, g, v, v2=True))
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": KUBE_VERSION["gitVersion"]},
        "paths": paths,
        "definitions": builtin_definitions(),
    }


@cache
def _builtin_v2_json() -> bytes:
    return json.dumps(_builtin_v2(), separators=(",", ":")).encode()


@cache
def _builtin_v2_pb() -> bytes:
    return encode_document(_builtin_v2())


@dataclass
class _CrdDocs:
    """What a cluster's CRDs add, for one registry generation."""

    generation: int
    v3: dict[str, bytes] = field(default_factory=dict)
    v2_paths: dict[str, Any] = field(default_factory=dict)
    v2_definitions: dict[str, Any] = field(default_factory=dict)
    v2_pb: bytes | None = None


class ClusterOpenAPI:
    """The OpenAPI documents of one cluster's registry (built-ins cached process-wide)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._crd: _CrdDocs | None = None

    def _crds(self) -> _CrdDocs:
        gen = self.registry.generation
        if self._crd is not None and self._crd.generation == gen:
            return self._crd
        docs = _CrdDocs(gen)
        by_gv: dict[tuple[str, str], list[ResourceType]] = {}
        for rt in self.registry.all():
            if not rt.builtin:
                for v in rt.versions:
                    by_gv.setdefault((rt.group, v), []).append(rt)
        builtins = _builtin_by_gv()
        for (g, v), rts in by_gv.items():
            docs.v3[_gv_path(g, v)] = _v3_doc(g, v, builtins.get((g, v), []), rts)
            docs.v2_paths.update(_paths(rts, g, v, v2=True))
            for rt in rts:
                docs.v2_definitions.update(_crd_definitions(rt, v, v2=True))
        self._crd = docs
        return docs

    # ---- v3
    def v3_index(self) -> bytes:
        docs = {**_builtin_v3(), **self._crds().v3}
        paths = {
            p: {"serverRelativeURL": f"/openapi/v3/{p}?hash={_hash(body)}"}
            for p, body in sorted(docs.items())
        }
        return json.dumps({"paths": paths}).encode()

    def v3_doc(self, path: str) -> bytes | None:
        return self._crds().v3.get(path) or _builtin_v3().get(path)

    # ---- v2
    def v2_json(self) -> bytes:
        crds = self._crds()
        if not crds.v2_definitions:
            return _builtin_v2_json()
        base = _builtin_v2()
        doc = {
            **base,
            "paths": {**base["paths"], **crds.v2_paths},
            "definitions": {**base["definitions"], **crds.v2_definitions},
        }
        return json.dumps(doc, separators=(",", ":")).encode()

    def v2_protobuf(self) -> bytes:
        crds = self._crds()
        if not crds.v2_definitions:
            return _builtin_v2_pb()
        if crds.v2_pb is None:
            crds.v2_pb = encode_document({"paths": crds.v2_paths, "definitions": crds.v2_definitions})
        return _builtin_v2_pb() + crds.v2_pb
