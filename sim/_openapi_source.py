"""Where the built-in OpenAPI schemas come from, and how to refresh them.

kube-apiserver publishes the schema of every built-in type (descriptions, patch strategies, list and
map types, ``x-kubernetes-group-version-kind``); kubectl needs them for ``explain``, for client-side
validation of a ``kind: List`` and for strategic merge patches. The simulator ships them for the
types it serves, in the ``/openapi/v2`` form, in ``sim/openapi-v1.37.json`` (about 600 KB; read once
per process). The file is cut from the ``/openapi/v2`` document of the pinned real kube-apiserver
v1.37.2 (``sim.real``): the definitions reachable from the served kinds (and their lists, Scale and
TokenRequest), exactly as that server publishes them (enums and their "Possible enum values"
descriptions included, which ``kubectl explain`` prints). To refresh, for example after adding a
built-in type, save a real server's document and cut it again::

    kubectl get --raw /openapi/v2 > swagger.json && python -m sim._openapi_source swagger.json

The previous source, the Kubernetes v1.37.0 definitions that the ``kubernetes-validate`` package
carries as JSON Schema, still converts (``python -m sim._openapi_source`` without an argument): nullable
type lists become one type, ``$defs`` references become ``#/definitions/``, ``IntOrString`` and
``Quantity`` get their apiserver forms, the ``enum`` added to ``apiVersion`` and ``kind`` is dropped;
that conversion loses the enums, so ``explain`` then differs from a real cluster's.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ._openapi import BUILTIN_SCHEMAS, closure

SOURCE_VERSION = "v1.37.0"

# The JSON Schema conversion made these two a oneOf and dropped their descriptions.
_SPECIAL = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {
        "description": "IntOrString is a type that can hold an int32 or a string.  When used in JSON or YAML "
        "marshalling and unmarshalling, it produces or consumes the inner type.  This allows you "
        "to have, for example, a JSON field that can accept a name or number.",
        "type": "string",
        "format": "int-or-string",
    },
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {
        "description": "Quantity is a fixed-point representation of a number. It provides convenient "
        "marshaling/unmarshaling in JSON and YAML, in addition to String() and AsInt64() "
        "accessors.",
        "type": "string",
    },
}
# Kinds served beyond the registry's own: subresources and the objects of its special endpoints.
_EXTRA_KINDS = {("autoscaling", "v1", "Scale"), ("authentication.k8s.io", "v1", "TokenRequest")}


def _to_swagger(node: Any) -> Any:
    if isinstance(node, list):
        return [_to_swagger(v) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref":
            out[key] = value.replace("#/$defs/", "#/definitions/")
        elif key == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            out[key] = types[0]
        elif key in ("properties", "patternProperties"):
            out[key] = {name: _to_swagger(prop) for name, prop in value.items()}
        else:
            out[key] = _to_swagger(value)
    return out


def convert(defs: dict[str, Any], kinds: set[tuple[str, str, str]]) -> dict[str, Any]:
    """The Swagger 2.0 definitions for ``kinds`` (group, version, kind) and everything they reference."""
    roots = [
        name
        for name, schema in defs.items()
        if any(
            (g["group"], g["version"], g["kind"]) in kinds
            for g in schema.get("x-kubernetes-group-version-kind") or ()
        )
    ]
    out = {}
    for name in closure(roots, defs):
        schema = _SPECIAL.get(name)
        if schema is None:
            schema = _to_swagger(defs[name])
            if schema.get("x-kubernetes-group-version-kind"):
                for field in ("apiVersion", "kind"):
                    (schema.get("properties") or {}).get(field, {}).pop("enum", None)
        out[name] = schema
    return out


def served_kinds() -> set[tuple[str, str, str]]:
    from ._registry import BUILTINS

    kinds = set(_EXTRA_KINDS)
    for rt in BUILTINS:
        for v in rt.versions:
            kinds |= {(rt.group, v, rt.kind), (rt.group, v, rt.list_kind)}
    return kinds


def main(argv: list[str]) -> None:
    """Regenerate the shipped schemas from kubernetes-validate's definitions (or a given
    ``_definitions.json``)."""
    if argv:
        source = Path(argv[0])
    else:
        from importlib.resources import files

        source = Path(
            str(
                files("kubernetes_validate")
                / "kubernetes-json-schema"
                / f"{SOURCE_VERSION}-local"
                / "_definitions.json"
            )
        )
    document = json.loads(source.read_text())
    if "definitions" in document:  # a real apiserver's /openapi/v2: already Swagger 2.0, cut as published
        defs = document["definitions"]
        roots = [
            name
            for name, schema in defs.items()
            if any(
                (g["group"], g["version"], g["kind"]) in served_kinds()
                for g in schema.get("x-kubernetes-group-version-kind") or ()
            )
        ]
        definitions = {name: defs[name] for name in closure(roots, defs)}
    else:
        definitions = convert(document["$defs"], served_kinds())
    BUILTIN_SCHEMAS.write_text(json.dumps(definitions, sort_keys=True, separators=(",", ":")) + "\n")
    print(f"{BUILTIN_SCHEMAS}: {len(definitions)} definitions from {source}")


if __name__ == "__main__":
    main(sys.argv[1:])
