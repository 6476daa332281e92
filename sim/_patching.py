"""The four PATCH flavours, as pure functions on plain dicts.

* JSON patch (RFC 6902) is delegated to the ``jsonpatch`` package.
* Merge patch (RFC 7386): ``null`` deletes, lists are replaced.
* Strategic merge patch follows the Go types' ``patchMergeKey`` tags (spec 4.6.3). We have no Go
  structs, so the merge key is chosen by field name (and, for ``ports``, by where the list sits),
  which covers every type this simulator serves. Directives: ``$patch`` (delete/replace/merge),
  ``$setElementOrder/<f>``, ``$retainKeys``, ``$deleteFromPrimitiveList/<f>``.
* Server-side apply merges as a strategic (built-ins) or merge (custom resources) patch; which
  fields each manager owns, conflicts and removals are ``sim._ownership``'s and the store's.
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
        raise bad_request(
            f"error decoding patch: json: cannot unmarshal {_json_kind(ops)} into Go value of type "
            "[]handlers.jsonPatchOp"
        )
    try:
        result: dict[str, Any] = jsonpatch.JsonPatch(ops).apply(obj, in_place=False)
        return result
    except (
        jsonpatch.JsonPatchException,
        jsonpatch.JsonPointerException,
        TypeError,
        KeyError,
        IndexError,
        ValueError,
    ) as exc:
        # the apiserver hides evanphx/json-patch's reason behind this one sentence
        raise ApiError(
            422, "Invalid", "the server rejected our request due to an error in our request", {}
        ) from exc


def _json_kind(value: Any) -> str:
    """How Go's encoding/json names a JSON value's type in "cannot unmarshal X" errors."""
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "null"


def not_an_object(value: Any) -> ApiError:
    """400 for a merge or strategic patch whose body is not a JSON object."""
    return bad_request(
        f"error decoding patch: json: cannot unmarshal {_json_kind(value)} into Go value of type "
        "map[string]interface {}"
    )


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
        merged = _deduplicate([*current, *patch])
        in_patch = [x for x in merged if x in patch]
        return _merge_sorted(
            [x for x in merged if x not in patch], _sort_by(in_patch, patch, None), current, None
        )
    key = merge_key(field, path, kind)
    if key is None:
        return [copy.deepcopy(x) for x in patch if not (isinstance(x, dict) and "$patch" in x)]
    original = list(current)
    plain = []
    for item in patch:
        if isinstance(item, dict) and item.get("$patch") == "delete":
            original = [x for x in original if not (isinstance(x, dict) and x.get(key) == item.get(key))]
        elif not (isinstance(item, dict) and "$patch" in item):
            plain.append(item)
    merged = list(original)
    for item in plain:
        if not isinstance(item, dict):
            merged.append(item)
            continue
        idx = next(
            (i for i, x in enumerate(merged) if isinstance(x, dict) and x.get(key) == item.get(key)), None
        )
        if idx is None:
            merged.append(item)
        else:
            merged[idx] = strategic_merge(merged[idx], item, "", (*path, field))
    keys = {x.get(key) for x in plain if isinstance(x, dict)}
    from_patch = [x for x in merged if isinstance(x, dict) and x.get(key) in keys]
    server_only = [x for x in merged if not (isinstance(x, dict) and x.get(key) in keys)]
    return _merge_sorted(
        _sort_by(server_only, original, key), _sort_by(from_patch, plain, key), original, key
    )


def _index(items: list[Any], value: Any, key: str | None) -> int:
    want = value.get(key) if key and isinstance(value, dict) else value
    for i, x in enumerate(items):
        if (x.get(key) if key and isinstance(x, dict) else x) == want:
            return i
    return -1


def _sort_by(items: list[Any], order: list[Any], key: str | None) -> list[Any]:
    return sorted(items, key=lambda x: (_index(order, x, key) < 0, _index(order, x, key)))


def _merge_sorted(left: list[Any], right: list[Any], server_order: list[Any], key: str | None) -> list[Any]:
    """apimachinery's mergeSortedSlice: interleave server-only items (left) into the patch's (right), keeping
    each list's order; a left item goes first only when both are in the live list and it came earlier."""
    out: list[Any] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            out.append(right[j])
            j += 1
        elif j >= len(right):
            out.append(left[i])
            i += 1
        else:
            li, ri = _index(server_order, left[i], key), _index(server_order, right[j], key)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out


def _deduplicate(items: list[Any]) -> list[Any]:
    """apimachinery's deduplicateScalars, swap-with-last order included."""
    s = list(items)
    length = len(s) - 1
    i = 0
    while i < length:
        j = i + 1
        while j <= length:
            if s[i] == s[j]:
                s[j] = s[length]
                s = s[:length]
                length -= 1
                j -= 1
            j += 1
        i += 1
    return s


def _apply_order(items: list[Any], order: list[Any], key: str | None) -> list[Any]:
    """Reorder ``items`` per ``$setElementOrder``: listed ones first in that order, others after."""

    def ident(x: Any) -> Any:
        return x.get(key) if key and isinstance(x, dict) else x

    pos: dict[str, int] = {}
    for i, o in enumerate(order):
        pos.setdefault(repr(ident(o) if isinstance(o, dict) else o), i)
    ranked = sorted(enumerate(items), key=lambda p: pos.get(repr(ident(p[1])), len(order) + p[0]))
    return [x for _, x in ranked]
