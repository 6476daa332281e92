"""Discovery documents and the minimal OpenAPI v3 that kubectl's fieldValidation check needs.

Everything is generated from the cluster's :class:`Registry`. Built-in documents are identical for
every cluster, so they are cached per (group, version) process-wide; clusters with CRDs rebuild
theirs on demand (discovery is rare compared with CRUD).
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache
from typing import Any

from ._registry import BUILTINS, Registry, ResourceType

KUBE_VERSION = {
    "major": "1",
    "minor": "37",
    "emulationMajor": "1",
    "emulationMinor": "37",
    "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "36",
    "gitVersion": "v1.37.0-sim",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-11-01T00:00:00Z",
    "goVersion": "go1.25.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def api_versions() -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
    }


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    vs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": vs, "preferredVersion": vs[0]}


def api_group_list(registry: Registry) -> dict[str, Any]:
    groups = [_group(g, vs) for g, vs in registry.group_versions().items()]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: Registry, group: str) -> dict[str, Any] | None:
    vs = registry.group_versions().get(group)
    if not vs:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(group, vs)}


def _entries(rt: ResourceType) -> list[dict[str, Any]]:
    main: dict[str, Any] = {
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        main["shortNames"] = list(rt.short_names)
    if rt.categories:
        main["categories"] = list(rt.categories)
    if "create" in rt.verbs and "list" in rt.verbs:  # the apiserver hashes only stored kinds
        main["storageVersionHash"] = storage_version_hash(
            *_STORED_AS.get(rt.gp, (rt.group, rt.storage_version, rt.kind))
        )
    out = [main]
    if rt.gp == ("", "namespaces"):
        out.append(
            {
                "name": "namespaces/finalize",
                "singularName": "",
                "namespaced": False,
                "kind": "Namespace",
                "verbs": ["update"],
            }
        )
    if rt.status:
        out.append(
            {
                "name": f"{rt.plural}/status",
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": rt.kind,
                "verbs": ["get", "patch", "update"],
            }
        )
    if rt.scale:
        out.append(
            {
                "name": f"{rt.plural}/scale",
                "singularName": "",
                "namespaced": rt.namespaced,
                "group": "autoscaling",
                "version": "v1",
                "kind": "Scale",
                "verbs": ["get", "patch", "update"],
            }
        )
    if rt.group == "" and rt.plural == "serviceaccounts":
        out.append(
            {
                "name": "serviceaccounts/token",
                "singularName": "",
                "namespaced": True,
                "group": "authentication.k8s.io",
                "version": "v1",
                "kind": "TokenRequest",
                "verbs": ["create"],
            }
        )
    return out


# kinds a real apiserver keeps in etcd under another group/version than the one served
_STORED_AS = {
    ("apiextensions.k8s.io", "customresourcedefinitions"): (
        "apiextensions.k8s.io",
        "v1beta1",
        "CustomResourceDefinition",
    ),
    ("events.k8s.io", "events"): ("", "v1", "Event"),
}


def storage_version_hash(group: str, version: str, kind: str) -> str:
    """apiserver's ``discovery.StorageVersionHash``: 8 bytes of sha256("group/version/kind"), base64."""
    return base64.b64encode(hashlib.sha256(f"{group}/{version}/{kind}".encode()).digest()[:8]).decode()


def resource_list(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    rts = registry.resources_in(group, version)
    if not rts:
        return None
    resources = [e for rt in rts for e in _entries(rt)]
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


# ---- OpenAPI v3 ----------------------------------------------------------------------------------
def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


@cache
def _builtin_gvs() -> dict[str, tuple[str, str]]:
    out = {}
    for rt in BUILTINS:
        for v in rt.versions:
            out[_gv_path(rt.group, v)] = (rt.group, v)
    return out


@cache
def openapi_doc(path: str) -> bytes | None:
    """The OpenAPI v3 document of one built-in group/version (PATCH ops with fieldValidation)."""
    gv = _builtin_gvs().get(path)
    if gv is None:
        return None
    group, version = gv
    param = {
        "name": "fieldValidation",
        "in": "query",
        "schema": {"type": "string", "uniqueItems": True},
        "description": "fieldValidation instructs the server on how to handle objects in the request "
        "containing unknown or duplicate fields.",
    }
    paths: dict[str, Any] = {}
    prefix = "/" + path
    for rt in BUILTINS:
        if rt.group != group or version not in rt.versions:
            continue
        gvk = {"group": group, "version": version, "kind": rt.kind}
        item = (
            f"{prefix}/namespaces/{{namespace}}/{rt.plural}/{{name}}"
            if rt.namespaced
            else f"{prefix}/{rt.plural}/{{name}}"
        )
        op = {
            "operationId": f"patch{rt.kind}",
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": gvk,
            "parameters": [param],
            "responses": {"200": {"description": "OK"}},
        }
        paths[item] = {
            "patch": op,
            "put": {**op, "operationId": f"replace{rt.kind}", "x-kubernetes-action": "put"},
        }
        collection = item.rsplit("/", 1)[0]
        paths[collection] = {"post": {**op, "operationId": f"create{rt.kind}", "x-kubernetes-action": "post"}}
    doc = {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBE_VERSION["gitVersion"]},
        "paths": paths,
        "components": {"schemas": {}},
    }
    return json.dumps(doc).encode()


@cache
def openapi_index() -> bytes:
    paths = {}
    for p in _builtin_gvs():
        h = hashlib.sha256(openapi_doc(p) or b"").hexdigest()[:32].upper()
        paths[p] = {"serverRelativeURL": f"/openapi/v3/{p}?hash={h}"}
    return json.dumps({"paths": paths}).encode()
