"""Pure tests (no HTTP) of the OpenAPI documents and the service-account token issuer.

Covers: the conversion of Kubernetes' JSON Schema definitions back to Swagger 2.0; the shipped
built-in schemas define every served kind and its list, if listable (with
``x-kubernetes-group-version-kind``); the v2 protobuf round-trips through the gnostic field numbers,
with the CRD part appended to the cached built-in part; CRD schemas made Swagger-2.0-safe as the
apiserver publishes them (nullable, preserve-unknown-fields, int-or-string, oneOf, item-less arrays);
CRD names, ``metadata`` references and list schemas in v2 and v3, v3 documents carrying the
ObjectMeta closure; documents following CRD changes; TokenRequest and legacy JWT claims and their
rejection when expired, not yet valid, for another audience, signed by another cluster, tampered
with, or when the service account, bound Secret or token Secret is gone or recreated.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import yaml

from sim._openapi import ClusterOpenAPI, builtin_definitions, definition_name
from sim._openapi_pb import decode_document, encode_document
from sim._openapi_source import convert
from sim._registry import BUILTINS, Registry, crd_resource_type
from sim._satokens import ISSUER, ServiceAccountIssuer

CRD = {
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "description": "A widget.",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["size"],
                                "properties": {
                                    "size": {"type": "integer", "minimum": 1},
                                    "port": {
                                        "x-kubernetes-int-or-string": True,
                                        "anyOf": [{"type": "integer"}, {"type": "string"}],
                                    },
                                    "note": {"type": "string", "nullable": True},
                                    "blob": {
                                        "type": "object",
                                        "x-kubernetes-preserve-unknown-fields": True,
                                        "properties": {"a": {"type": "string"}},
                                    },
                                    "anything": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "x-kubernetes-preserve-unknown-fields": True,
                                        },
                                    },
                                    "tags": {"type": "object", "additionalProperties": {"type": "string"}},
                                },
                            },
                        },
                    }
                },
            }
        ],
    },
}


def _registry() -> Registry:
    registry = Registry()
    registry.add_crd(crd_resource_type(CRD))
    return registry


def test_builtin_schemas_define_every_served_kind() -> None:
    served = {
        (g["group"], g["version"], g["kind"])
        for schema in builtin_definitions().values()
        for g in schema.get("x-kubernetes-group-version-kind") or ()
    }
    for rt in BUILTINS:
        for v in rt.versions:
            assert (rt.group, v, rt.kind) in served, rt
            assert (rt.group, v, rt.list_kind) in served or "list" not in rt.verbs, rt
    cm = builtin_definitions()["io.k8s.api.core.v1.ConfigMap"]
    assert cm["properties"]["data"] == {
        "additionalProperties": {"type": "string"},
        "type": "object",
        "description": cm["properties"]["data"]["description"],
    }
    assert "enum" not in cm["properties"]["kind"]
    assert (
        builtin_definitions()["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["format"] == "int-or-string"
    )


def test_shipped_schemas_are_converted_back_to_swagger() -> None:
    defs = {
        "io.k8s.api.core.v1.ConfigMap": {
            "type": ["object", "null"],
            "x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": "ConfigMap"}],
            "properties": {
                "kind": {"type": ["string", "null"], "enum": ["ConfigMap"]},
                "metadata": {"$ref": "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
                "port": {"$ref": "#/$defs/io.k8s.apimachinery.pkg.util.intstr.IntOrString"},
            },
        },
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": {"type": ["object", "null"], "properties": {}},
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"oneOf": [{"type": ["string", "null"]}]},
        "io.k8s.api.core.v1.Unused": {"type": ["object", "null"]},
    }
    out = convert(defs, {("", "v1", "ConfigMap")})
    assert sorted(out) == [
        "io.k8s.api.core.v1.ConfigMap",
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
    ]
    cm = out["io.k8s.api.core.v1.ConfigMap"]
    assert cm["type"] == "object" and cm["properties"]["kind"] == {"type": "string"}
    assert cm["properties"]["metadata"] == {
        "$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    }
    assert out["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["format"] == "int-or-string"


def test_v2_protobuf_round_trips_with_the_crd_part_appended() -> None:
    docs = ClusterOpenAPI(_registry())
    doc = decode_document(docs.v2_protobuf())
    assert doc.swagger == "2.0" and doc.info.title == "Kubernetes"
    names = [d.name for d in doc.definitions.additional_properties]
    assert "io.k8s.api.core.v1.ConfigMap" in names and "com.example.v1.Widget" in names
    assert len(names) == len(set(names)) == len(json.loads(docs.v2_json())["definitions"])
    widget = next(d.value for d in doc.definitions.additional_properties if d.name == "com.example.v1.Widget")
    ext = {e.name: yaml.safe_load(e.value.yaml) for e in widget.vendor_extension}
    assert ext["x-kubernetes-group-version-kind"] == [
        {"group": "example.com", "kind": "Widget", "version": "v1"}
    ]
    spec = next(p.value for p in widget.properties.additional_properties if p.name == "spec")
    assert list(spec.required) == ["size"]
    size = next(p.value for p in spec.properties.additional_properties if p.name == "size")
    assert list(size.type.value) == ["integer"] and size.minimum == 1
    tags = next(p.value for p in spec.properties.additional_properties if p.name == "tags")
    assert list(tags.additional_properties.schema.type.value) == ["string"]
    meta = next(p.value for p in widget.properties.additional_properties if p.name == "metadata")
    assert meta._ref == "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    paths = {p.name: p.value for p in doc.paths.path}
    patch = paths["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"].patch
    assert "application/strategic-merge-patch+json" not in patch.consumes
    cm_patch = paths["/api/v1/namespaces/{namespace}/configmaps/{name}"].patch
    assert "application/strategic-merge-patch+json" in cm_patch.consumes
    assert (
        decode_document(encode_document({"definitions": {"x": {"additionalProperties": False}}}))
        .definitions.additional_properties[0]
        .value.additional_properties.WhichOneof("oneof")
        == "boolean"
    )


def test_crd_schemas_in_v2_are_swagger_safe() -> None:
    widget = json.loads(ClusterOpenAPI(_registry()).v2_json())["definitions"]["com.example.v1.Widget"]
    props = widget["properties"]["spec"]["properties"]
    assert props["port"] == {"x-kubernetes-int-or-string": True}
    assert props["note"] == {}
    assert props["blob"] == {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    assert props["anything"] == {
        "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "type": "array",
    }
    assert widget["description"] == "A widget." and widget["type"] == "object"
    assert set(widget["properties"]) == {"apiVersion", "kind", "metadata", "spec"}
    listed = json.loads(ClusterOpenAPI(_registry()).v2_json())["definitions"]["com.example.v1.WidgetList"]
    assert listed["properties"]["items"]["items"] == {"$ref": "#/definitions/com.example.v1.Widget"}
    schemaless = Registry()
    schemaless.add_crd(
        crd_resource_type(
            {**CRD, "spec": {**CRD["spec"], "versions": [{"name": "v1", "served": True, "storage": True}]}}
        )
    )
    bare = json.loads(ClusterOpenAPI(schemaless).v2_json())["definitions"]["com.example.v1.Widget"]
    assert bare == {
        "type": "object",
        "x-kubernetes-group-version-kind": [{"group": "example.com", "kind": "Widget", "version": "v1"}],
    }


def test_v3_documents_follow_crd_changes() -> None:
    registry = _registry()
    docs = ClusterOpenAPI(registry)
    index = json.loads(docs.v3_index())["paths"]
    assert "apis/example.com/v1" in index and "api/v1" in index
    doc = json.loads(docs.v3_doc("apis/example.com/v1") or b"")
    schemas = doc["components"]["schemas"]
    assert definition_name("example.com", "v1", "Widget") in schemas
    assert {
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "io.k8s.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry",
        "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta",
    } <= set(schemas)
    widget = schemas["com.example.v1.Widget"]
    assert widget["properties"]["metadata"]["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    ]
    assert widget["properties"]["spec"]["properties"]["note"]["nullable"] is True  # v3 keeps the schema as is
    patch = doc["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"]
    assert patch["parameters"][0]["name"] == "fieldValidation"
    configmap = json.loads(docs.v3_doc("api/v1") or b"")["components"]["schemas"][
        "io.k8s.api.core.v1.ConfigMap"
    ]
    assert configmap["properties"]["metadata"]["allOf"][0]["$ref"].startswith("#/components/schemas/")
    before = index["apis/example.com/v1"]
    registry.remove_crd("example.com", "widgets")
    assert "apis/example.com/v1" not in json.loads(docs.v3_index())["paths"]
    assert docs.v3_doc("apis/example.com/v1") is None
    registry.add_crd(crd_resource_type(CRD))
    assert json.loads(docs.v3_index())["paths"]["apis/example.com/v1"] == before
    assert (
        definition_name("types.kubefed.io", "v1beta1", "FederatedDeployment")
        == "io.kubefed.types.v1beta1.FederatedDeployment"
    )


# ---- service-account tokens ------------------------------------------------------------------
def _meta(name: str, uid: str, ns: str = "team") -> dict[str, Any]:
    return {"name": name, "namespace": ns, "uid": uid}


class Objects:
    """The ``peek`` the issuer reads, over a dict."""

    def __init__(self) -> None:
        self.objects: dict[tuple[tuple[str, str], str, str], dict[str, Any]] = {}

    def put(self, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
        self.objects[(("", plural), obj["metadata"]["namespace"], obj["metadata"]["name"])] = obj
        return obj

    def peek(self, gp: tuple[str, str], ns: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((gp, ns, name))


SA_USER = (
    "system:serviceaccount:team:app",
    ("system:serviceaccounts", "system:serviceaccounts:team", "system:authenticated"),
)


def test_token_request_claims_and_rejections() -> None:
    issuer, objects = ServiceAccountIssuer(), Objects()
    sa = objects.put("serviceaccounts", {"metadata": _meta("app", "sa-1")})
    token, exp = issuer.request_token(sa, 3600, [ISSUER], now=1_000_000)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (
        claims
        == {
            "aud": [ISSUER],
            "exp": 1_003_600,
            "iat": 1_000_000,
            "iss": ISSUER,
            "jti": claims["jti"],
            "kubernetes.io": {"namespace": "team", "serviceaccount": {"name": "app", "uid": "sa-1"}},
            "nbf": 1_000_000,
            "sub": "system:serviceaccount:team:app",
        }
        and exp == 1_003_600
    )
    assert jwt.get_unverified_header(token)["kid"] == issuer.jwks()["keys"][0]["kid"]
    assert issuer.authenticate(token, objects, now=1_000_001) == SA_USER
    assert issuer.authenticate(token, objects, now=1_003_600) is None  # expired
    assert issuer.authenticate(token, objects, now=999_999) is None  # not yet valid
    vault, _ = issuer.request_token(sa, 3600, ["vault"], now=1_000_000)
    assert issuer.authenticate(vault, objects, now=1_000_001) is None  # not for the API
    assert ServiceAccountIssuer().authenticate(token, objects, now=1_000_001) is None  # never signed there
    other = ServiceAccountIssuer()
    foreign, _ = other.request_token(sa, 3600, [ISSUER], now=1_000_000)
    assert issuer.authenticate(foreign, objects, now=1_000_001) is None  # another cluster's key
    head, _, sig = token.split(".")
    forged = (
        base64.urlsafe_b64encode(json.dumps({**claims, "sub": "system:admin"}).encode()).rstrip(b"=").decode()
    )
    assert issuer.authenticate(f"{head}.{forged}.{sig}", objects, now=1_000_001) is None
    secret = objects.put("secrets", {"metadata": _meta("bound", "s-1")})
    bound, _ = issuer.request_token(sa, 3600, [ISSUER], {"kind": "Secret", **secret}, now=1_000_000)
    assert jwt.decode(bound, options={"verify_signature": False})["kubernetes.io"]["secret"] == {
        "name": "bound",
        "uid": "s-1",
    }
    assert issuer.authenticate(bound, objects, now=1_000_001) == SA_USER
    objects.put("secrets", {"metadata": _meta("bound", "s-2")})  # deleted and recreated
    assert issuer.authenticate(bound, objects, now=1_000_001) is None
    objects.put("serviceaccounts", {"metadata": _meta("app", "sa-2")})
    assert issuer.authenticate(token, objects, now=1_000_001) is None


def test_legacy_secret_token_lives_as_long_as_its_secret() -> None:
    issuer, objects = ServiceAccountIssuer(), Objects()
    sa = objects.put("serviceaccounts", {"metadata": _meta("app", "sa-1")})
    token = issuer.legacy_token(sa, "app-token")
    claims = jwt.decode(token, issuer.key.public_key(), algorithms=["RS256"])
    assert claims == {
        "iss": "kubernetes/serviceaccount",
        "kubernetes.io/serviceaccount/namespace": "team",
        "kubernetes.io/serviceaccount/secret.name": "app-token",
        "kubernetes.io/serviceaccount/service-account.name": "app",
        "kubernetes.io/serviceaccount/service-account.uid": "sa-1",
        "sub": "system:serviceaccount:team:app",
    }
    assert issuer.authenticate(token, objects) is None  # no Secret holds it yet
    objects.put(
        "secrets",
        {"metadata": _meta("app-token", "s-1"), "data": {"token": base64.b64encode(token.encode()).decode()}},
    )
    assert issuer.authenticate(token, objects) == SA_USER
    objects.put("secrets", {"metadata": _meta("app-token", "s-2"), "data": {"token": "b3RoZXI="}})
    assert issuer.authenticate(token, objects) is None
