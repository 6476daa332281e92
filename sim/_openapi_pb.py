"""``/openapi/v2`` as protobuf: the gnostic ``openapi.v2.Document`` that kubectl reads.

kubectl asks for ``application/com.github.proto-openapi.spec.v2@v1.0+protobuf`` and unmarshals the
body with ``proto.Unmarshal`` into gnostic's ``openapi_v2.Document`` (github.com/google/gnostic,
``openapiv2/OpenAPIv2.proto``); a JSON body fails there (so does the ``@`` spelling as the response
content type, which Go's MIME parser rejects: the answer carries kube-openapi's dotted one). No Python
bindings of that .proto are
published, so the part of it a Kubernetes document uses is declared here as a descriptor (same
package, message names and field numbers) and encoded by the ``protobuf`` runtime. Vendor
extensions, ``default``, ``enum`` and ``example`` values travel as YAML text in ``Any.yaml``, which
kube-openapi reads with a YAML parser; they are written as JSON, a subset of YAML.

Protobuf messages concatenate: two serialized ``Document`` values parse as one whose repeated
fields are appended. :func:`encode_document` is therefore called once for the built-in types
(cached) and once per cluster for its CRDs, and the bytes are joined.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message

__all__ = ["ACCEPTED_TYPES", "MEDIA_TYPE", "decode_document", "encode_document"]

# kube-openapi's handler: kubectl asks for the deprecated "@" spelling, which Go's mime parser cannot
# read back, so the answer always carries the dotted one.
MEDIA_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
ACCEPTED_TYPES = (MEDIA_TYPE, "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")

_S, _B, _D, _I = "string", "bool", "double", "int64"
# message -> [(field, number, type or message, repeated, oneof)]; numbers from OpenAPIv2.proto.
_MESSAGES: dict[str, list[tuple[str, int, str, bool, str | None]]] = {
    "Any": [("yaml", 2, _S, False, None)],
    "NamedAny": [("name", 1, _S, False, None), ("value", 2, "Any", False, None)],
    "NamedSchema": [("name", 1, _S, False, None), ("value", 2, "Schema", False, None)],
    "Properties": [("additional_properties", 1, "NamedSchema", True, None)],
    "Definitions": [("additional_properties", 1, "NamedSchema", True, None)],
    "TypeItem": [("value", 1, _S, True, None)],
    "ItemsItem": [("schema", 1, "Schema", True, None)],
    "AdditionalPropertiesItem": [("schema", 1, "Schema", False, "oneof"), ("boolean", 2, _B, False, "oneof")],
    "Info": [("title", 1, _S, False, None), ("version", 2, _S, False, None)],
    "Schema": [
        ("_ref", 1, _S, False, None),
        ("format", 2, _S, False, None),
        ("title", 3, _S, False, None),
        ("description", 4, _S, False, None),
        ("default", 5, "Any", False, None),
        ("multiple_of", 6, _D, False, None),
        ("maximum", 7, _D, False, None),
        ("exclusive_maximum", 8, _B, False, None),
        ("minimum", 9, _D, False, None),
        ("exclusive_minimum", 10, _B, False, None),
        ("max_length", 11, _I, False, None),
        ("min_length", 12, _I, False, None),
        ("pattern", 13, _S, False, None),
        ("max_items", 14, _I, False, None),
        ("min_items", 15, _I, False, None),
        ("unique_items", 16, _B, False, None),
        ("max_properties", 17, _I, False, None),
        ("min_properties", 18, _I, False, None),
        ("required", 19, _S, True, None),
        ("enum", 20, "Any", True, None),
        ("additional_properties", 21, "AdditionalPropertiesItem", False, None),
        ("type", 22, "TypeItem", False, None),
        ("items", 23, "ItemsItem", False, None),
        ("all_of", 24, "Schema", True, None),
        ("properties", 25, "Properties", False, None),
        ("discriminator", 26, _S, False, None),
        ("read_only", 27, _B, False, None),
        ("example", 30, "Any", False, None),
        ("vendor_extension", 31, "NamedAny", True, None),
    ],
    "Operation": [
        ("tags", 1, _S, True, None),
        ("description", 3, _S, False, None),
        ("operation_id", 5, _S, False, None),
        ("produces", 6, _S, True, None),
        ("consumes", 7, _S, True, None),
        ("schemes", 10, _S, True, None),
        ("vendor_extension", 13, "NamedAny", True, None),
    ],
    "PathItem": [
        ("get", 2, "Operation", False, None),
        ("put", 3, "Operation", False, None),
        ("post", 4, "Operation", False, None),
        ("delete", 5, "Operation", False, None),
        ("patch", 8, "Operation", False, None),
    ],
    "NamedPathItem": [("name", 1, _S, False, None), ("value", 2, "PathItem", False, None)],
    "Paths": [("vendor_extension", 1, "NamedAny", True, None), ("path", 2, "NamedPathItem", True, None)],
    "Document": [
        ("swagger", 1, _S, False, None),
        ("info", 2, "Info", False, None),
        ("paths", 8, "Paths", False, None),
        ("definitions", 9, "Definitions", False, None),
    ],
}
_SCALARS = {
    _S: descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
    _B: descriptor_pb2.FieldDescriptorProto.TYPE_BOOL,
    _D: descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE,
    _I: descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
}


@cache
def _classes() -> dict[str, type[Message]]:
    f = descriptor_pb2.FileDescriptorProto(
        name="sim/openapiv2_subset.proto", package="openapi.v2", syntax="proto3"
    )
    for name, fields in _MESSAGES.items():
        m = f.message_type.add(name=name)
        oneofs: list[str] = []
        for field, number, kind, repeated, oneof in fields:
            fd = m.field.add(name=field, number=number, json_name=field)
            fd.label = (
                descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
                if repeated
                else descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
            )
            if kind in _SCALARS:
                fd.type = _SCALARS[kind]
            else:
                fd.type = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
                fd.type_name = f".openapi.v2.{kind}"
            if oneof:
                if oneof not in oneofs:
                    oneofs.append(oneof)
                    m.oneof_decl.add(name=oneof)
                fd.oneof_index = oneofs.index(oneof)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"openapi.v2.{name}"))
        for name in _MESSAGES
    }


def _yaml(value: Any) -> str:
    # JSON is YAML (flow style), and ten times faster to write than PyYAML's block style
    return json.dumps(value)


_STRINGS = {
    "$ref": "_ref",
    "format": "format",
    "title": "title",
    "description": "description",
    "pattern": "pattern",
    "discriminator": "discriminator",
}
_NUMBERS = {"multipleOf": "multiple_of", "maximum": "maximum", "minimum": "minimum"}
_INTS = {
    "maxLength": "max_length",
    "minLength": "min_length",
    "maxItems": "max_items",
    "minItems": "min_items",
    "maxProperties": "max_properties",
    "minProperties": "min_properties",
}
_BOOLS = {
    "exclusiveMaximum": "exclusive_maximum",
    "exclusiveMinimum": "exclusive_minimum",
    "uniqueItems": "unique_items",
    "readOnly": "read_only",
}


def _schema(src: Mapping[str, Any], msg: Any) -> None:
    for key, value in src.items():
        if key in _STRINGS:
            setattr(msg, _STRINGS[key], str(value))
        elif key in _NUMBERS:
            setattr(msg, _NUMBERS[key], float(value))
        elif key in _INTS:
            setattr(msg, _INTS[key], int(value))
        elif key in _BOOLS:
            setattr(msg, _BOOLS[key], bool(value))
        elif key == "type":
            msg.type.value.extend([value] if isinstance(value, str) else value)
        elif key == "required":
            msg.required.extend(value)
        elif key == "enum":
            for v in value:
                msg.enum.add(yaml=_yaml(v))
        elif key in ("default", "example"):
            getattr(msg, key).yaml = _yaml(value)
        elif key == "properties":
            for name, prop in value.items():
                named = msg.properties.additional_properties.add(name=name)
                _schema(prop, named.value)
        elif key == "additionalProperties":
            if isinstance(value, bool):
                msg.additional_properties.boolean = value
            else:
                _schema(value, msg.additional_properties.schema)
        elif key == "items":
            for item in value if isinstance(value, list) else [value]:
                _schema(item, msg.items.schema.add())
        elif key == "allOf":
            for part in value:
                _schema(part, msg.all_of.add())
        elif key.startswith("x-"):
            msg.vendor_extension.add(name=key).value.yaml = _yaml(value)
        # anything else (oneOf, anyOf, not, nullable) has no place in Swagger 2.0 and is left out


def _operation(src: Mapping[str, Any], msg: Any) -> None:
    for key in ("tags", "produces", "consumes", "schemes"):
        getattr(msg, key).extend(src.get(key) or ())
    if src.get("operationId"):
        msg.operation_id = src["operationId"]
    if src.get("description"):
        msg.description = src["description"]
    for key, value in src.items():
        if key.startswith("x-"):
            msg.vendor_extension.add(name=key).value.yaml = _yaml(value)


def encode_document(doc: Mapping[str, Any]) -> bytes:
    """A Swagger 2.0 document (``swagger``, ``info``, ``paths``, ``definitions``) as gnostic protobuf.

    Only the fields present are written, so a document holding just ``definitions`` (or ``paths``)
    can be appended to a full one.
    """
    msg: Any = _classes()["Document"]()
    if "swagger" in doc:
        msg.swagger = doc["swagger"]
    if "info" in doc:
        msg.info.title = doc["info"].get("title", "")
        msg.info.version = doc["info"].get("version", "")
    for path, item in (doc.get("paths") or {}).items():
        named = msg.paths.path.add(name=path)
        for verb in ("get", "put", "post", "delete", "patch"):
            if verb in item:
                _operation(item[verb], getattr(named.value, verb))
    for name, schema in (doc.get("definitions") or {}).items():
        _schema(schema, msg.definitions.additional_properties.add(name=name).value)
    return bytes(msg.SerializeToString())


def decode_document(data: bytes) -> Any:
    """Parse a served document back (tests and debugging): an ``openapi.v2.Document`` message."""
    msg: Any = _classes()["Document"]()
    msg.ParseFromString(data)
    return msg
