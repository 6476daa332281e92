"""Structural-schema validation and pruning of custom resources (spec 4.12).

One walk does three jobs, like the apiserver's decoder: type/required/enum checks (422 causes),
pruning of fields the schema does not declare (unless ``x-kubernetes-preserve-unknown-fields``),
and collection of those unknown paths for ``fieldValidation=Strict`` (400).
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from ._errors import go_value

_TOP_LEVEL = ("apiVersion", "kind", "metadata")
_TYPE_NAMES = {
    "object": "object",
    "array": "array",
    "string": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
}


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


def validate(
    obj: dict[str, Any], schema: dict[str, Any] | None
) -> tuple[dict[str, Any], list[dict[str, str]], list[str]]:
    """Return (pruned object, 422 causes, unknown field paths)."""
    if not schema:
        return obj, [], []
    causes: list[dict[str, str]] = []
    unknown: list[str] = []
    out = dict(obj)
    props = schema.get("properties") or {}
    preserve = schema.get("x-kubernetes-preserve-unknown-fields", False)
    for key in list(out):
        if key in _TOP_LEVEL:
            continue
        if key not in props and not preserve:
            unknown.append(key)
            del out[key]
        elif out[key] is None and key in props and not props[key].get("nullable"):
            del out[key]
    for key in sorted(out):
        if key not in _TOP_LEVEL and key in props:
            out[key] = _walk(out[key], props[key], key, causes, unknown)
    for req in schema.get("required") or []:
        if req not in out and req not in _TOP_LEVEL:
            causes.append({"reason": "FieldValueRequired", "message": "Required value", "field": req})
    return out, causes, unknown


def _num(value: Any) -> str:
    """Go's %v of a float64 bound: 10, not 10.0."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _invalid(path: str, value: Any, detail: str) -> dict[str, str]:
    return {
        "reason": "FieldValueInvalid",
        "field": path,
        "message": f"Invalid value: {go_value(value)}: {detail}",
    }


def _checks(value: Any, schema: dict[str, Any], path: str, causes: list[dict[str, str]]) -> None:
    """The value keywords of kube-openapi's validators, converted as apiextensions converts them."""
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(f'"{e}"' if isinstance(e, str) else f'"{json.dumps(e)}"' for e in schema["enum"])
        causes.append(
            {
                "reason": "FieldValueNotSupported",
                "field": path,
                "message": f"Unsupported value: {go_value(value)}: supported values: {allowed}",
            }
        )
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        high, low = schema.get("maximum"), schema.get("minimum")
        if high is not None:
            if schema.get("exclusiveMaximum") and value >= high:
                causes.append(_invalid(path, value, f"{path} in body should be less than {_num(high)}"))
            elif value > high:
                causes.append(
                    _invalid(path, value, f"{path} in body should be less than or equal to {_num(high)}")
                )
        if low is not None:
            if schema.get("exclusiveMinimum") and value <= low:
                causes.append(_invalid(path, value, f"{path} in body should be greater than {_num(low)}"))
            elif value < low:
                causes.append(
                    _invalid(path, value, f"{path} in body should be greater than or equal to {_num(low)}")
                )
        step = schema.get("multipleOf")
        if step and (value / step) != int(value / step):
            causes.append(_invalid(path, value, f"{path} in body should be a multiple of {_num(step)}"))
    elif isinstance(value, str):  # go-openapi's string validator stops at the first failure
        if schema.get("maxLength") is not None and len(value.encode()) > schema["maxLength"]:
            causes.append(
                {
                    "reason": "FieldValueTooLong",
                    "field": path,
                    "message": f"Too long: may not be more than {schema['maxLength']} bytes",
                }
            )
        elif schema.get("minLength") is not None and len(value) < schema["minLength"]:
            causes.append(
                _invalid(path, value, f"{path} in body should be at least {schema['minLength']} chars long")
            )
        elif schema.get("pattern") is not None and not re.search(schema["pattern"], value):
            causes.append(_invalid(path, value, f"{path} in body should match '{schema['pattern']}'"))
    elif isinstance(value, list):
        if schema.get("maxItems") is not None and len(value) > schema["maxItems"]:
            causes.append(
                {
                    "reason": "FieldValueTooMany",
                    "field": path,
                    "message": f"Too many: {len(value)}: must have at most {schema['maxItems']} items",
                }
            )
        if schema.get("minItems") is not None and len(value) < schema["minItems"]:
            causes.append(
                _invalid(path, value, f"{path} in body should have at least {schema['minItems']} items")
            )
    elif isinstance(value, dict):
        if schema.get("maxProperties") is not None and len(value) > schema["maxProperties"]:
            causes.append(
                {
                    "reason": "FieldValueTooMany",
                    "field": path,
                    "message": f"Too many: {len(value)}: must have at most {schema['maxProperties']} items",
                }
            )
        if schema.get("minProperties") is not None and len(value) < schema["minProperties"]:
            causes.append(
                _invalid(
                    path, value, f"{path} in body should have at least {schema['minProperties']} properties"
                )
            )


def _walk(
    value: Any, schema: dict[str, Any], path: str, causes: list[dict[str, str]], unknown: list[str]
) -> Any:
    if value is None:
        if not schema.get("nullable"):
            typ = schema.get("type", "object")
            causes.append(
                {
                    "reason": "FieldValueTypeInvalid",
                    "field": path,
                    "message": f'Invalid value: "null": {path} in body must be of type {typ}: "null"',
                }
            )
        return value
    typ = schema.get("type", "")
    int_or_string = bool(schema.get("x-kubernetes-int-or-string"))
    if typ == "integer" and isinstance(value, float) and not value.is_integer():
        # the number validator's range check runs too, and reports without a field path
        causes.append(
            {
                "reason": "FieldValueInvalid",
                "field": "<nil>",
                "message": f'Invalid value: "": Checked value must be of type integer (default format) in '
                f"{path}",
            }
        )
    if (typ or int_or_string) and not _type_ok(value, typ, int_or_string):
        actual = _go_type(value)
        wanted = "integer,string" if int_or_string else typ
        causes.append(
            {
                "reason": "FieldValueTypeInvalid",
                "field": path,
                "message": f'Invalid value: "{actual}": {path} in body must be of type {wanted}: "{actual}"',
            }
        )
        return value
    _checks(value, schema, path, causes)
    if isinstance(value, dict):
        props = schema.get("properties")
        addl = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields", False)
        out = dict(value)
        for key in list(out):
            known = props.get(key) if props and key in props else addl if isinstance(addl, dict) else None
            if out[key] is None and known is not None and not known.get("nullable"):
                del out[key]  # a null for a field that is not nullable is pruned, not refused
                continue
            if props and key in props:
                continue
            if isinstance(addl, dict) or addl is True or preserve or (props is None and typ != "object"):
                continue
            unknown.append(f"{path}.{key}")
            del out[key]
        for key in sorted(out):
            sub = f"{path}.{key}"
            if props and key in props:
                out[key] = _walk(out[key], props[key], sub, causes, unknown)
            elif isinstance(addl, dict):
                out[key] = _walk(out[key], addl, sub, causes, unknown)
        for req in schema.get("required") or []:
            if req not in out:
                causes.append(
                    {"reason": "FieldValueRequired", "message": "Required value", "field": f"{path}.{req}"}
                )
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_walk(v, schema["items"], f"{path}[{i}]", causes, unknown) for i, v in enumerate(value)]
    return value


# ---- built-in kinds: unknown fields, as decoding into the Go types drops them ----------------------------
_ANY = ("any",)


@cache
def _struct(name: str) -> dict[str, tuple[Any, ...]] | None:
    """The fields of one built-in definition (None: anything goes, e.g. ``RawExtension``, ``JSON``)."""
    from ._openapi import builtin_definitions

    schema = builtin_definitions().get(name)
    if (
        schema is None
        or ("properties" not in schema and schema.get("type") != "object")
        or schema.get("x-kubernetes-preserve-unknown-fields")
        or "additionalProperties" in schema
    ):
        return None
    return {key: _node(prop) for key, prop in (schema.get("properties") or {}).items()}


def _node(schema: dict[str, Any]) -> tuple[Any, ...]:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return ("ref", ref.rsplit("/", 1)[-1])
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        return ("array", _node(schema["items"]))
    if isinstance(schema.get("additionalProperties"), dict):
        return ("map", _node(schema["additionalProperties"]))
    return _ANY


def _prune(value: Any, node: tuple[Any, ...], path: str, unknown: list[str]) -> Any:
    kind = node[0]
    if kind == "ref":
        fields = _struct(node[1])
        if fields is None or not isinstance(value, dict):
            return value
        out = None
        for key, sub in value.items():
            child = fields.get(key)
            where = f"{path}.{key}" if path else key
            if child is None or sub is None:  # a JSON null decodes to the Go zero value: not stored
                if child is None:
                    unknown.append(where)
                if out is None:
                    out = dict(value)
                del out[key]
                continue
            pruned = _prune(sub, child, where, unknown)
            if pruned is not sub:
                if out is None:
                    out = dict(value)
                out[key] = pruned
        return value if out is None else out
    if kind == "array" and isinstance(value, list):
        items = [_prune(v, node[1], f"{path}[{i}]", unknown) for i, v in enumerate(value)]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if kind == "map" and isinstance(value, dict) and node[1] is not _ANY:
        entries = {k: _prune(v, node[1], f"{path}.{k}", unknown) for k, v in value.items()}
        return value if all(entries[k] is value[k] for k in value) else entries
    return value


def prune_builtin(obj: dict[str, Any], definition: str) -> tuple[dict[str, Any], list[str]]:
    """Drop what the built-in type ``definition`` does not declare, and JSON nulls (the Go decoder's zero
    values; defaulting puts back the few fields serialised as ``null``): (object, sorted unknown paths)."""
    if _struct(definition) is None:
        return obj, []
    unknown: list[str] = []
    pruned = _prune(obj, ("ref", definition), "", unknown)
    return pruned, sorted(unknown)


@cache
def builtin_definition(group: str, version: str, kind: str) -> str | None:
    """The name of the OpenAPI definition of a built-in kind."""
    from ._openapi import builtin_definitions

    for name, schema in builtin_definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind") or ():
            if (gvk.get("group", ""), gvk.get("version"), gvk.get("kind")) == (group, version, kind):
                return name
    return None
