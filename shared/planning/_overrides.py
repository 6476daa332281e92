"""Per-cluster overrides: validation and JSON-patch application (contract §2.5.4).

KubeFed groups ``spec.overrides[]`` by ``clusterName`` and treats the whole set as invalid
(per-cluster status ``ApplyOverridesFailed``) when a cluster appears twice, a path repeats
within one cluster, a path is one of the identity fields it forbids, or ``op`` is not
``add``/``remove``/``replace``/empty.

Patches are applied with evanphx/json-patch **v4** semantics, which differ from RFC 6902
(and from the ``jsonpatch`` package) in ways users rely on:

* a missing ``op`` means ``replace``;
* ``replace`` of a missing *object* key simply sets it, provided the parent exists
  (RFC 6902 and ``jsonpatch`` reject that), so ``replace`` is done here by hand;
* ``add`` and ``remove`` behave as in RFC 6902, so the ``jsonpatch`` package does them:
  insertion by index or ``-``, and removal of a missing key fails.

Deliberate difference: a negative array index crashed KubeFed before v0.9 (#1467) and is
accepted by later json-patch versions as "from the end"; we reject it with a clear
:class:`OverridesError` rather than guess.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import jsonpatch

from ._copy import clone

FORBIDDEN_PATHS = frozenset({"/metadata/namespace", "/metadata/name", "/metadata/generateName", "/kind"})
_VALID_OPS = frozenset({"", "add", "remove", "replace"})


class OverridesError(ValueError):
    """The override set is invalid or a patch cannot be applied."""


def parse_overrides(overrides: Sequence[Mapping[str, Any]] | None) -> dict[str, list[dict[str, Any]]]:
    """Validate ``spec.overrides`` and group the patch operations by cluster name.

    Raises:
        OverridesError: naming the cluster and path at fault.
    """
    result: dict[str, list[dict[str, Any]]] = {}
    for entry in overrides or ():
        if not isinstance(entry, Mapping):
            raise OverridesError("each spec.overrides entry must be an object")
        cluster = entry.get("clusterName")
        if not isinstance(cluster, str) or not cluster:
            raise OverridesError("spec.overrides entry without a clusterName")
        if cluster in result:
            raise OverridesError(f"cluster {cluster!r} appears more than once in spec.overrides")
        ops: list[dict[str, Any]] = []
        seen_paths: set[str] = set()
        for raw in entry.get("clusterOverrides") or ():
            if not isinstance(raw, Mapping):
                raise OverridesError(f"cluster {cluster!r}: each clusterOverrides entry must be an object")
            path = raw.get("path")
            if not isinstance(path, str) or not path:
                raise OverridesError(f"cluster {cluster!r}: override without a path")
            if path in FORBIDDEN_PATHS:
                raise OverridesError(f"cluster {cluster!r}: override path {path!r} is not permitted")
            if path in seen_paths:
                raise OverridesError(f"cluster {cluster!r}: override path {path!r} appears more than once")
            seen_paths.add(path)
            op = raw.get("op") or ""
            if op not in _VALID_OPS:
                raise OverridesError(
                    f"cluster {cluster!r}: override path {path!r} has invalid op {op!r} "
                    "(must be add, remove or replace)"
                )
            ops.append(dict(raw))
        result[cluster] = ops
    return result


def _split(path: str) -> list[str]:
    if not path.startswith("/"):
        raise OverridesError(f"override path {path!r} must start with '/'")
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]
    for token in tokens:
        if token.startswith("-") and token[1:].isdigit():
            raise OverridesError(f"override path {path!r} has a negative array index")
    return tokens


def _parent(doc: Any, tokens: list[str], path: str) -> Any:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            raise OverridesError(f"override path {path!r}: parent does not exist")
    return node


def _replace(doc: Any, path: str, value: Any) -> None:
    tokens = _split(path)
    parent = _parent(doc, tokens, path)
    key = tokens[-1]
    if isinstance(parent, dict):
        parent[key] = copy.deepcopy(value)
    elif isinstance(parent, list):
        if not key.isdigit() or int(key) >= len(parent):
            raise OverridesError(f"override path {path!r}: array index out of range")
        parent[int(key)] = copy.deepcopy(value)
    else:
        raise OverridesError(f"override path {path!r}: parent is not an object or array")


def apply_overrides(obj: Mapping[str, Any], ops: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Return a patched deep copy of ``obj``; ``obj`` itself is left untouched.

    Raises:
        OverridesError: an operation does not apply (missing parent, missing key to
            remove, index out of range, negative index, unknown op).
    """
    doc: dict[str, Any] = clone(dict(obj))
    for raw in ops:
        op = raw.get("op") or "replace"
        path = raw.get("path")
        if not isinstance(path, str):
            raise OverridesError("override without a path")
        if op == "replace":
            _replace(doc, path, raw.get("value"))
            continue
        if op not in ("add", "remove"):
            raise OverridesError(f"override path {path!r} has invalid op {op!r}")
        _split(path)  # rejects negative indices before jsonpatch sees them
        patch_op: dict[str, Any] = {"op": op, "path": path}
        if op == "add":
            patch_op["value"] = copy.deepcopy(raw.get("value"))
        try:
            jsonpatch.JsonPatch([patch_op]).apply(doc, in_place=True)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, KeyError) as exc:
            raise OverridesError(f"override {op} at {path!r} failed: {exc}") from exc
    return doc
