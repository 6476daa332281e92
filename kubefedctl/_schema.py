"""Turning the msgspec Structs of :mod:`shared.kubefed_api` into CRD structural schemas.

msgspec already emits JSON Schema; a CRD needs a *structural* OpenAPI v3 subset: no ``$ref``, no
``anyOf`` with ``null`` (optional = absent from ``required``), ``format: byte`` instead of
``contentEncoding``, ``x-kubernetes-preserve-unknown-fields`` for free-form values, and no JSON-Schema
extras (``title``, ``default``). This module is that translation and nothing else, so the types stay
the single source of truth for ``deploy/crds``.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["structural_schema"]

_DROP = ("title", "default", "$defs")


def structural_schema(struct_type: type) -> dict[str, Any]:
    """The structural OpenAPI schema of a Struct type (top level: an object)."""
    raw = msgspec.json.schema(struct_type)
    defs = raw.get("$defs", {})
    return _convert(raw, defs)


def _convert(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        return _convert(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        if len(options) == 1:
            return _convert(options[0], defs)
        return {"x-kubernetes-preserve-unknown-fields": True}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "properties":
            out["properties"] = {k: _convert(v, defs) for k, v in value.items()}
        elif key == "items":
            out["items"] = _convert(value, defs)
        elif key == "additionalProperties" and value is False:
            continue  # forbid_unknown_fields: a CRD prunes unknown fields instead (and forbids both keys)
        elif key == "additionalProperties":
            out["additionalProperties"] = _convert(value, defs) if isinstance(value, dict) else value
        elif key == "contentEncoding":
            out["format"] = "byte"
        else:
            out[key] = value
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    if not out or out == {"description": out.get("description")}:
        out["x-kubernetes-preserve-unknown-fields"] = True
    if out.get("type") == "object" and "properties" not in out and "additionalProperties" not in out:
        out["x-kubernetes-preserve-unknown-fields"] = True
    if out.get("type") == "object" and out.get("properties") == {}:
        del out["properties"]
        out.pop("x-kubernetes-preserve-unknown-fields", None)
    if out.get("required") == []:
        del out["required"]
    return out
