"""The four PATCH flavours, as pure functions on plain dicts.

* JSON patch (RFC 6902) is delegated to the ``jsonpatch`` package.
* Merge patch (RFC 7386): ``null`` deletes, lists are replaced.
* Strategic merge patch follows the Go types' ``patchMergeKey`` tags (spec 4.6.3). We have no Go
  structs, so the merge key is chosen by field name (and, for ``ports``, by where the list sits),
  which covers every type this simulator serves. Directives: ``$patch`` (delete/replace/merge),
  ``$setElementOrder/<f>``, ``$retainKeys``, ``$deleteFromPrimitiveList/<f>``.
* Server-side apply is approximated as a strategic (built-ins) or merge (custom resources) patch
  without field ownership.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch

from ._errors import ApiError, bad_request

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
APPLY_PATCH_CBOR = "application/apply-patch+cbor"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH)

# Lists merged element-wise, by this key.
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "imagePullSecrets": "name",
    "secrets": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "conditions": "type",
    "ownerReferences": "uid",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
    "schedulingGates": "name",
    "addresses": "type",
}
# Primitive lists merged as sets.
MERGE_SETS = frozenset({"finalizers"})


def merge_key(field: str, path: tuple[str, ...], kind: str) -> str | None:
    """The patchMergeKey of list ``field`` found at ``path`` in an object of ``kind``."""
    if field == "ports":
        return "port" if kind == "Service" and path == ("spec",) else "containerPort"
    if field == "addresses" and kind != "Node":
        return None
    return MERGE_KEYS.get(field)


def json_patch(obj: dict[str, Any], ops: Any) -> dict[str, Any]:
    if not isinstance(ops, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    try:
        result: dict[str, Any] = jsonpatch.JsonPatch(ops).apply(obj, in_place=False)
        return result
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: {exc}") from exc
    except (TypeError, KeyError, IndexError, ValueError) as exc:
        raise bad_request(f"invalid JSON patch: {exc}") from exc


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def strategic_merge(target: Any, patch: Any, kind: str = "", path: tuple[str, ...] = ()) -> Any:
    """Apply a strategic merge patch to ``target`` (never mutated)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    out = dict(target)
    retain = patch.get("$retainKeys")
    orders: dict[str, list[Any]] = {}
    for k, v in patch.items():
        if k in ("$patch", "$retainKeys"):
            continue
        if k.startswith("$setElementOrder/"):
            orders[k.split("/", 1)[1]] = v or []
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            field = k.split("/", 1)[1]
            if isinstance(out.get(field), list):
                out[field] = [x for x in out[field] if x not in (v or [])]
            continue
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict):
            merged = strategic_merge(out.get(k), v, kind, (*path, k))
            if merged is None:
                out.pop(k, None)
            else:
                out[k] = merged
        elif isinstance(v, list):
            out[k] = _merge_list(out.get(k), v, k, path, kind)
        else:
            out[k] = v
    for field, order in orders.items():
        if isinstance(out.get(field), list):
            out[field] = _apply_order(out[field], order, merge_key(field, path, kind))
    if isinstance(retain, list):
        out = {k: v for k, v in out.items() if k in retain}
    return out


def _merge_list(current: Any, patch: list[Any], field: str, path: tuple[str, ...], kind: str) -> list[Any]:
    current = current if isinstance(current, list) else []
    if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in patch):
        return [copy.deepcopy(x) for x in patch if not (isinstance(x, dict) and "$patch" in x)]
    if field in MERGE_SETS:
        out = list(current)
        for x in patch:
            if x not in out:
                out.append(x)
        return out
    key = merge_key(field, path, kind)
    if key is None:
        return [copy.deepcopy(x) for x in patch if not (isinstance(x, dict) and "$patch" in x)]
    out = list(current)
    for item in patch:
        if not isinstance(item, dict):
            out.append(item)
            continue
        kv = item.get(key)
        idx = next((i for i, x in enumerate(out) if isinstance(x, dict) and x.get(key) == kv), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            out.append({k: v for k, v in item.items() if k != "$patch"})
        else:
            out[idx] = strategic_merge(out[idx], item, "", (*path, field))
    return out


def _apply_order(items: list[Any], order: list[Any], key: str | None) -> list[Any]:
    """Reorder ``items`` per ``$setElementOrder``: listed ones first in that order, others after."""
    def ident(x: Any) -> Any:
        return x.get(key) if key and isinstance(x, dict) else x

    pos: dict[str, int] = {}
    for i, o in enumerate(order):
        pos.setdefault(repr(ident(o) if isinstance(o, dict) else o), i)
    ranked = sorted(enumerate(items), key=lambda p: (pos.get(repr(ident(p[1])), len(order) + p[0])))
    return [x for _, x in ranked]


def drop_unapplied(current: Any, previous: Any, applied: Any, kind: str = "", path: tuple[str, ...] = ()) -> Any:
    """Remove from ``current`` what a manager applied in ``previous`` but no longer in ``applied``.

    This is the part of server-side apply's field ownership that users notice (deleting a line
    from a manifest removes the field), without tracking co-ownership between managers.
    """
    if not isinstance(current, dict) or not isinstance(previous, dict):
        return current
    applied = applied if isinstance(applied, dict) else {}
    out = dict(current)
    for key, old_value in previous.items():
        if key not in applied:
            if not path and key in ("apiVersion", "kind", "metadata"):
                continue
            out.pop(key, None)
        elif isinstance(old_value, dict) and isinstance(applied[key], dict):
            out[key] = drop_unapplied(out.get(key), old_value, applied[key], kind, (*path, key))
        elif isinstance(old_value, list) and isinstance(applied[key], list) and isinstance(out.get(key), list):
            mk = merge_key(key, path, kind)
            if mk:
                gone = {x.get(mk) for x in old_value if isinstance(x, dict)} - {
                    x.get(mk) for x in applied[key] if isinstance(x, dict)}
                out[key] = [x for x in out[key] if not (isinstance(x, dict) and x.get(mk) in gone)]
            elif key in MERGE_SETS:
                dropped = [x for x in old_value if x not in applied[key]]
                out[key] = [x for x in out[key] if x not in dropped]
    return out
