"""Field ownership for server-side apply: which field manager owns which field, and apply conflicts.

A field is a path of elements, as structured-merge-diff names them: ``("f", name)`` for a struct field
or a map key, ``("k", ((key, value), ...))`` for an item of an associative list (``x-kubernetes-list-type:
map``, keyed by its ``x-kubernetes-list-map-keys``), ``("v", json)`` for a member of a set. Atomic
lists and maps, and scalars, are leaves. An associative item also gets a ``("item",)`` pseudo-leaf:
whoever applied the item owns it, so it goes when no manager owns it any more.

The list and map types come from the schemas: the built-in OpenAPI definitions (``sim/openapi-v1.37.json``)
or a CRD version's ``openAPIV3Schema`` (lists atomic unless declared otherwise, as the apiserver
defaults them). Identity metadata (name, namespace, uid...), ``apiVersion``, ``kind`` and ``status``
are never owned here.

This module is pure: the store keeps the owner sets and decides when to use them.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

Path = tuple[tuple[Any, ...], ...]
Manager = tuple[str, str]  # (name, "Apply" | "Update")
_ITEM = ("item",)
_META_FIELDS = frozenset({"labels", "annotations", "finalizers", "ownerReferences"})


# ---- schema adapters -----------------------------------------------------------------------------------
@cache
def _definition(name: str) -> dict[str, Any]:
    from ._openapi import builtin_definitions

    return builtin_definitions().get(name) or {}


def _resolve(schema: dict[str, Any] | None) -> dict[str, Any]:
    """Follow a ``$ref`` into the built-in definitions (the referring node's extensions win)."""
    if not schema:
        return {}
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return {**_definition(ref.rsplit("/", 1)[-1]), **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _object_meta() -> dict[str, Any]:
    return _definition("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")


def _child(schema: dict[str, Any], key: str) -> dict[str, Any] | None:
    props = schema.get("properties")
    if props and key in props:
        return _resolve(props[key])
    addl = schema.get("additionalProperties")
    if isinstance(addl, dict):
        return _resolve(addl)
    return None


def _kind(schema: dict[str, Any], value: Any) -> str:
    if isinstance(value, dict):
        if schema.get("x-kubernetes-map-type") == "atomic":
            return "leaf"
        return "object"
    if isinstance(value, list):
        list_type = schema.get("x-kubernetes-list-type")
        if list_type == "map" and schema.get("x-kubernetes-list-map-keys"):
            return "list-map"
        if list_type == "set":
            return "list-set"
    return "leaf"


# ---- leaves --------------------------------------------------------------------------------------------
def _walk(value: Any, schema: dict[str, Any], path: Path, out: dict[Path, Any]) -> None:
    kind = _kind(schema, value)
    if kind == "object":
        if not value:
            out[path] = value
            return
        for key, sub in value.items():
            _walk(sub, _child(schema, key) or {}, (*path, ("f", key)), out)
    elif kind == "list-map":
        keys = schema["x-kubernetes-list-map-keys"]
        items = _resolve(schema.get("items"))
        for item in value:
            if not isinstance(item, dict):
                continue
            where = (*path, ("k", tuple((k, json.dumps(item.get(k), sort_keys=True)) for k in keys)))
            out[(*where, _ITEM)] = True
            _walk(item, items, where, out)
    elif kind == "list-set":
        for item in value:
            out[(*path, ("v", json.dumps(item, sort_keys=True)))] = item
    else:
        out[path] = value


def leaves(obj: dict[str, Any], schema: dict[str, Any] | None) -> dict[Path, Any]:
    """Every owned field of ``obj`` (a whole object or an apply configuration) with its value."""
    out: dict[Path, Any] = {}
    meta: dict[str, Any] = obj["metadata"] if isinstance(obj.get("metadata"), dict) else {}
    for key in _META_FIELDS & set(meta):
        _walk(
            meta[key],
            _resolve((_object_meta().get("properties") or {}).get(key)),
            (("f", "metadata"), ("f", key)),
            out,
        )
    root = _resolve(schema) if schema else {}
    for key, value in obj.items():
        if key in ("apiVersion", "kind", "metadata", "status"):
            continue
        _walk(value, _child(root, key) or {}, (("f", key),), out)
    return out


def builtin_schema(definition: str | None) -> dict[str, Any] | None:
    return _definition(definition) if definition else None


# ---- editing -------------------------------------------------------------------------------------------
def _find(items: list[Any], keyvals: tuple[tuple[str, str], ...]) -> int:
    for i, item in enumerate(items):
        if isinstance(item, dict) and all(json.dumps(item.get(k), sort_keys=True) == v for k, v in keyvals):
            return i
    return -1


def remove(obj: dict[str, Any], path: Path) -> None:
    """Delete the field at ``path`` from ``obj`` (in place; containers along the path must be private)."""
    if path[-1] == _ITEM:
        path = path[:-1]
    cur: Any = obj
    for i, element in enumerate(path):
        last = i == len(path) - 1
        if element[0] == "f":
            if not isinstance(cur, dict) or element[1] not in cur:
                return
            if last:
                del cur[element[1]]
                return
            cur = cur[element[1]]
        elif element[0] == "k":
            if not isinstance(cur, list):
                return
            at = _find(cur, element[1])
            if at < 0:
                return
            if last:
                del cur[at]
                return
            cur = cur[at]
        elif element[0] == "v":
            if isinstance(cur, list):
                cur[:] = [x for x in cur if json.dumps(x, sort_keys=True) != element[1]]
            return


def path_string(path: Path) -> str:
    """structured-merge-diff's ``Path.String()``: ``.data.a``, ``.spec.containers[name="c"].image``."""
    out = []
    for element in path:
        if element[0] == "f":
            out.append("." + element[1])
        elif element[0] == "k":
            out.append("[" + ",".join(f"{k}={v}" for k, v in element[1]) + "]")
        elif element[0] == "v":
            out.append(f"[={element[1]}]")
    return "".join(out)


def manager_string(manager: Manager, api_version: str) -> str:
    """How conflict messages print a manager (Update managers with the version they wrote)."""
    name, operation = manager
    return f'"{name}" using {api_version}' if operation == "Update" else f'"{name}"'
