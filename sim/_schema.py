"""Structural-schema validation and pruning of custom resources (spec 4.12).

One walk does three jobs, like the apiserver's decoder: type/required/enum checks (422 causes),
pruning of fields the schema does not declare (unless ``x-kubernetes-preserve-unknown-fields``),
and collection of those unknown paths for ``fieldValidation=Strict`` (400).
"""

from __future__ import annotations

from typing import Any

_TOP_LEVEL = ("apiVersion", "kind", "metadata")
_TYPE_NAMES = {"object": "object", "array": "array", "string": "string", "integer": "integer",
               "number": "number", "boolean": "boolean"}


def _type_ok(value: Any, typ: str, int_or_string: bool) -> bool:
    if int_or_string:
        return isinstance(value, (int, str)) and not isinstance(value, bool)
    if typ == "object":
        return isinstance(value, dict)
    if typ == "array":
        return isinstance(value, list)
    if typ == "string":
        return isinstance(value, str)
    if typ == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if typ == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if typ == "boolean":
        return isinstance(value, bool)
    return True


def _go_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def validate(obj: dict[str, Any], schema: dict[str, Any] | None) -> tuple[dict[str, Any], list[dict[str, str]], list[str]]:
    """Return (pruned object, 422 causes, unknown field paths)."""
    if not schema:
        return obj, [], []
    causes: list[dict[str, str]] = []
    unknown: list[str] = []
    out = dict(obj)
    props = schema.get("properties") or {}
    preserve = schema.get("x-kubernetes-preserve-unknown-fields", False)
    for req in schema.get("required") or []:
        if req not in out and req not in _TOP_LEVEL:
            causes.append({"reason": "FieldValueRequired", "message": "Required value", "field": req})
    for key in list(out):
        if key in _TOP_LEVEL:
            continue
        if key in props:
            out[key] = _walk(out[key], props[key], key, causes, unknown)
        elif not preserve:
            unknown.append(key)
            del out[key]
    return out, causes, unknown


def _walk(value: Any, schema: dict[str, Any], path: str, causes: list[dict[str, str]], unknown: list[str]) -> Any:
    if value is None:
        if not schema.get("nullable"):
            causes.append({"reason": "FieldValueInvalid", "field": path,
                           "message": f'Invalid value: "null": {path} in body must be of type {schema.get("type", "object")}: "null"'})
        return value
    typ = schema.get("type", "")
    int_or_string = bool(schema.get("x-kubernetes-int-or-string"))
    if (typ or int_or_string) and not _type_ok(value, typ, int_or_string):
        shown = f"{value}" if not isinstance(value, (dict, list)) else _go_type(value)
        causes.append({"reason": "FieldValueInvalid", "field": path,
                       "message": f'Invalid value: "{shown}": {path} in body must be of type {typ or "integer or string"}: "{_go_type(value)}"'})
        return value
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(f'"{e}"' for e in schema["enum"])
        causes.append({"reason": "FieldValueNotSupported", "field": path,
                       "message": f'Unsupported value: "{value}": supported values: {allowed}'})
    if isinstance(value, dict):
        props = schema.get("properties")
        addl = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields", False)
        out = dict(value)
        for req in schema.get("required") or []:
            if req not in out:
                causes.append({"reason": "FieldValueRequired", "message": "Required value", "field": f"{path}.{req}"})
        for key in list(out):
            sub = f"{path}.{key}"
            if props and key in props:
                out[key] = _walk(out[key], props[key], sub, causes, unknown)
            elif isinstance(addl, dict):
                out[key] = _walk(out[key], addl, sub, causes, unknown)
            elif addl is True or preserve or (props is None and typ != "object"):
                continue
            elif props is None and not preserve and addl is None and typ == "object" and not schema.get("properties"):
                unknown.append(sub)
                del out[key]
            else:
                unknown.append(sub)
                del out[key]
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_walk(v, schema["items"], f"{path}[{i}]", causes, unknown) for i, v in enumerate(value)]
    return value
