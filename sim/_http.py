"""The thin aiohttp layer: URL parsing, auth, faults, (de)serialisation and watch streaming.

One catch-all route per cluster application; the path is split by hand because the Kubernetes URL
space (``/api/v1/namespaces/{ns}/{plural}/{name}/{sub}``, plus ``/apis/{g}/{v}/...``) is easier
to parse than to express as hundreds of routes, and this is the hot path. Semantics live in the
store; this module only maps HTTP to store calls and ``ApiError`` to ``Status`` responses.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from typing import TYPE_CHECKING, Any

import msgspec
import yaml
from aiohttp import web

from . import _discovery as disco
from . import _errors as err
from ._openapi import ClusterOpenAPI
from ._openapi_pb import ACCEPTED_TYPES as OPENAPI_V2_PROTOBUF_TYPES
from ._openapi_pb import MEDIA_TYPE as OPENAPI_V2_PROTOBUF
from ._patching import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    PATCH_TYPES,
    STRATEGIC_PATCH,
    json_patch,
    merge_patch,
    strategic_merge,
)
from ._protobuf import ProtobufError
from ._protobuf import decode as decode_protobuf
from ._rbac import Attributes, access, authorize, decode_review_spec, forbidden, request_verb
from ._registry import BUILTINS, ResourceType, builtin
from ._satokens import API_AUDIENCE
from ._selectors import parse_field_selector, parse_label_selector
from ._tables import table, wants_table

if TYPE_CHECKING:
    from ._state import ClusterState

_TRUE = frozenset({"1", "t", "T", "true", "TRUE", "True"})
_FALSE = frozenset({"0", "f", "F", "false", "FALSE", "False"})
_OPEN = frozenset(
    {"/healthz", "/livez", "/readyz", "/version", "/version/", "/healthz/", "/livez/", "/readyz/"}
)
_JSON = "application/json"
_PROTOBUF = "application/vnd.kubernetes.protobuf"
_BODY_TYPES = [_JSON, "application/yaml", _PROTOBUF]
_NON_RESOURCE = frozenset({"openapi", "openid", ".well-known"})
ANONYMOUS = ("system:anonymous", ("system:unauthenticated",))
_BUILTIN_GROUPS = frozenset(rt.group for rt in BUILTINS)  # first path segments outside the API groups
_MIN_TOKEN_SECONDS = 600
_encode = msgspec.json.encode
_decode = msgspec.json.decode


class _YamlLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe YAML without the timestamp type: like sigs.k8s.io/yaml, dates stay strings. Keys given twice
    in a mapping are noted in ``duplicates`` as go-yaml's strict decoder words them (the apiserver warns)."""

    duplicates: list[str]

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if not hasattr(self, "duplicates"):
            self.duplicates = []
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, bool):
                key = "true" if key else "false"
            if key in seen:
                shown = json.dumps(key) if isinstance(key, str) and key not in ("true", "false") else key
                self.duplicates.append(f"line {key_node.start_mark.line + 1}: key {shown} already set in map")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_YamlLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
# YAML 1.1 as go-yaml v2 reads it: y/Y/n/N are booleans too (so an unquoted key `y` becomes "true").
_YamlLoader.bool_values = {**yaml.SafeLoader.bool_values, "y": True, "n": False}
for _first in "yYnN":
    _YamlLoader.yaml_implicit_resolvers[_first] = [
        ("tag:yaml.org,2002:bool", re.compile(r"^(?:y|Y|n|N)$")),
        *_YamlLoader.yaml_implicit_resolvers.get(_first, []),
    ]


def _json_keys(value: Any) -> Any:
    """Map keys as sigs.k8s.io/yaml turns them into JSON: non-strings printed (true, 1, null)."""
    if isinstance(value, dict):
        return {
            (
                k
                if isinstance(k, str)
                else "null"
                if k is None
                else str(k).lower()
                if isinstance(k, bool)
                else str(k)
            ): _json_keys(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_json_keys(v) for v in value]
    return value


BOOKMARK_INTERVAL = 60.0


def parse_bool(value: str | None, name: str) -> bool:
    """Go's strconv.ParseBool spellings; 400 otherwise."""
    if value is None or value == "":
        return False
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise err.bad_request(
        f'invalid value for {name}: "{value}": strconv.ParseBool: parsing "{value}": invalid syntax'
    )


def _not_supported(field: str, value: Any, allowed: list[str]) -> dict[str, str]:
    shown = ", ".join(f'"{a}"' for a in allowed)
    return {
        "reason": "FieldValueNotSupported",
        "field": field,
        "message": f"Unsupported value: {err.go_value(value)}: supported values: {shown}",
    }


_FIELD_VALIDATION = ["", "Ignore", "Strict", "Warn"]


def write_options(q: Any, kind: str, patch_type: str | None = None) -> tuple[bool, str | None]:
    """Validate the query options of a write as the apiserver's ``Validate<Kind>Options`` do (422 with
    ``<Kind>.meta.k8s.io``); return (dryRun, fieldValidation)."""
    causes: list[dict[str, str]] = []
    if patch_type == APPLY_PATCH and not q.get("fieldManager"):
        causes.append(
            {
                "reason": "FieldValueRequired",
                "field": "fieldManager",
                "message": "Required value: is required for apply patch",
            }
        )
    elif patch_type is not None and patch_type != APPLY_PATCH and "force" in q:
        causes.append(
            {
                "reason": "FieldValueForbidden",
                "field": "force",
                "message": "Forbidden: may not be specified for non-apply patch",
            }
        )
    manager = q.get("fieldManager") or ""
    if len(manager) > 128:
        causes.append(
            {
                "reason": "FieldValueTooLong",
                "field": "fieldManager",
                "message": "Too long: may not be more than 128 bytes",
            }
        )
    dry = q.getall("dryRun", []) if hasattr(q, "getall") else ([q["dryRun"]] if "dryRun" in q else [])
    if any(d != "All" for d in dry):
        causes.append(_not_supported("dryRun", dry, ["All"]))
    validation = q.get("fieldValidation")
    if kind != "DeleteOptions" and validation is not None and validation not in _FIELD_VALIDATION:
        causes.append(_not_supported("fieldValidation", validation, _FIELD_VALIDATION))
    if causes:
        raise err.invalid_options(kind, causes)
    return bool(dry), validation


def list_options(q: Any, watch: bool) -> None:
    """``ValidateListOptions``: 422 ``ListOptions.meta.k8s.io`` for combinations a real server refuses."""
    causes: list[dict[str, str]] = []
    match = q.get("resourceVersionMatch") or ""
    initial = "sendInitialEvents" in q
    if watch:
        if initial and match != "NotOlderThan":
            causes.append(
                {
                    "reason": "FieldValueForbidden",
                    "field": "resourceVersionMatch",
                    "message": "Forbidden: sendInitialEvents requires setting resourceVersionMatch to "
                    "NotOlderThan",
                }
            )
        if match:
            if not initial:
                causes.append(
                    {
                        "reason": "FieldValueForbidden",
                        "field": "resourceVersionMatch",
                        "message": "Forbidden: resourceVersionMatch is forbidden for watch unless "
                        "sendInitialEvents is provided",
                    }
                )
            if match != "NotOlderThan":
                causes.append(_not_supported("resourceVersionMatch", match, ["NotOlderThan"]))
    else:
        if match:
            if not q.get("resourceVersion"):
                causes.append(
                    {
                        "reason": "FieldValueForbidden",
                        "field": "resourceVersionMatch",
                        "message": "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is "
                        "provided",
                    }
                )
            if q.get("continue"):
                causes.append(
                    {
                        "reason": "FieldValueForbidden",
                        "field": "resourceVersionMatch",
                        "message": "Forbidden: resourceVersionMatch is forbidden when continue is provided",
                    }
                )
            if match not in ("Exact", "NotOlderThan"):
                causes.append(_not_supported("resourceVersionMatch", match, ["Exact", "NotOlderThan", ""]))
            if match == "Exact" and q.get("resourceVersion") == "0":
                causes.append(
                    {
                        "reason": "FieldValueForbidden",
                        "field": "resourceVersionMatch",
                        "message": 'Forbidden: resourceVersionMatch "exact" is forbidden for '
                        'resourceVersion "0"',
                    }
                )
        if initial:
            causes.append(
                {
                    "reason": "FieldValueForbidden",
                    "field": "sendInitialEvents",
                    "message": "Forbidden: sendInitialEvents is forbidden for list",
                }
            )
    if causes:
        raise err.invalid_options("ListOptions", causes)


def _manager(request: web.Request) -> str:
    """The field manager of a write: ``fieldManager``, else the User-Agent's product, as the apiserver derives
    it."""
    return request.query.get("fieldManager") or request.headers.get("User-Agent", "").split("/", 1)[0]


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=_encode(obj), status=status, content_type=_JSON, headers=headers)


def _with_warnings(resp: web.Response, warnings: list[str]) -> web.Response:
    """Move the store's fieldValidation=Warn findings into ``Warning`` headers (RFC 7234 style)."""
    for w in warnings:
        resp.headers.add("Warning", '299 - "' + w.replace('"', '\\"') + '"')
    warnings.clear()
    return resp


def error_response(e: err.ApiError) -> web.Response:
    if e.reason == "NotFound" and e.message == PAGE_NOT_FOUND:  # Go's http.NotFound, not a Status
        return web.Response(
            status=404,
            text=PAGE_NOT_FOUND + "\n",
            content_type="text/plain",
            headers={"X-Content-Type-Options": "nosniff"},
        )
    return json_response(e.status(), e.code, e.headers or None)


PAGE_NOT_FOUND = "404 page not found"


def page_not_found() -> err.ApiError:
    """What kube-apiserver answers outside its API groups (unknown group, a CRD group's bad path)."""
    return err.ApiError(404, "NotFound", PAGE_NOT_FOUND)


def _out(obj: dict[str, Any], api_version: str) -> dict[str, Any]:
    return obj if obj.get("apiVersion") == api_version else {**obj, "apiVersion": api_version}


async def _read_body(
    request: web.Request,
    allowed: tuple[str, ...] | list[str],
    what: str = "",
    kind: str = "",
    warnings: list[str] | None = None,
) -> Any:
    ctype = request.content_type
    raw = await request.read()
    if ctype not in allowed and not (ctype == "application/octet-stream" and not raw):
        raise err.unsupported_media_type(ctype, list(allowed), what)
    if not raw:
        return None
    if ctype == _PROTOBUF:
        try:
            return decode_protobuf(raw)
        except ProtobufError as exc:
            raise err.unsupported_media_type(ctype, [_JSON, "application/yaml"]) from exc
    try:
        if ctype in ("application/yaml", APPLY_PATCH):
            loader = _YamlLoader(raw)
            try:
                data = loader.get_single_data()
            finally:
                loader.dispose()
            if warnings is not None:
                warnings.extend(getattr(loader, "duplicates", ()))
            return _json_keys(data)
        return _decode(raw)
    except (msgspec.DecodeError, yaml.YAMLError) as exc:
        if ctype == _JSON and kind:
            raise err.bad_request(
                f"the object provided is unrecognized (must be of type {kind}): couldn't get "
                f"version/kind; json parse error: {go_json_error(raw)} ({_summary(raw)})"
            ) from exc
        raise err.bad_request(f"the body of the request could not be decoded: {exc}") from exc


def _summary(raw: bytes) -> str:
    """apiserver's summarizeData(body, 30)."""
    if raw[:1] == b"{":
        return raw[:30].decode(errors="replace") + (" ..." if len(raw) > 30 else "")
    return raw[:30].hex() + (" ..." if len(raw) > 30 else "")


def go_json_error(raw: bytes) -> str:
    """The error Go's encoding/json gives for a malformed document (the common cases)."""
    try:
        json.loads(raw)
    except json.JSONDecodeError as exc:
        text = exc.doc
        at = exc.pos
        if at >= len(text) or exc.msg.startswith("Unterminated"):
            return "unexpected end of JSON input"
        ch = text[at]
        shown = "'\\''" if ch == "'" else f"'{ch}'" if ch.isprintable() else f"'\\u{ord(ch):04x}'"
        where = {
            "Expecting property name enclosed in double quotes": "looking for beginning of object key string",
            "Expecting ':' delimiter": "after object key",
            "Extra data": "after top-level value",
        }.get(exc.msg)
        if where is None and exc.msg == "Expecting ',' delimiter":
            depth = [c for c in text[:at] if c in "{["]
            where = "after array element" if depth and depth[-1] == "[" else "after object key:value pair"
        return f"invalid character {shown} {where or 'looking for beginning of value'}"
    except (UnicodeDecodeError, ValueError):
        return "invalid character looking for beginning of value"
    return "unexpected end of JSON input"


_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ApiHandler:
    """Serves one cluster's Kubernetes API."""

    def __init__(self, cluster: ClusterState) -> None:
        self.cluster = cluster
        self._openapi: ClusterOpenAPI | None = None

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        if request.method not in _WRITE_METHODS:
            return await self._serve(request)
        cluster = self.cluster
        cluster.writes_in_flight += 1
        cluster.peak_writes_in_flight = max(cluster.peak_writes_in_flight, cluster.writes_in_flight)
        try:
            resp = await self._serve(request)
            cluster.writes_by_outcome[(request.method, resp.status)] += 1
            return resp
        finally:
            cluster.writes_in_flight -= 1

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        cluster = self.cluster
        cluster.request_count += 1
        cluster.requests_by_method[request.method] += 1
        faults = cluster.faults
        if faults.latency:
            await asyncio.sleep(faults.latency)
        path = request.path
        try:
            auth = request.headers.get("Authorization")
            if auth is not None and (
                not auth.startswith("Bearer ") or not cluster.check_token(auth[7:].strip())
            ):
                raise err.unauthorized()  # a bad token is refused everywhere, /healthz and /version included
            if path in _OPEN:
                return self._open(path)
            if faults.error_rate:
                e = faults.injected_error(path, request.method)
                if e is not None:
                    raise e
            who: tuple[str, tuple[str, ...]] | None = None  # None: admin (or RBAC off)
            if auth is None:
                if not cluster.anonymous:
                    who = ANONYMOUS  # authorized like any user, with no bindings: 403 but for public info
            elif cluster.rbac:
                who = cluster.identify(auth[7:].strip())
            resp = await self._route(request, path, who)
            if cluster.store.warnings:
                if isinstance(resp, web.Response):
                    return _with_warnings(resp, cluster.store.warnings)
                cluster.store.warnings.clear()  # a watch stream: its headers are gone
            return resp
        except err.ApiError as e:
            # like the apiserver, warnings gathered before the failure go out with it
            return _with_warnings(error_response(e), cluster.store.warnings)

    def _open(self, path: str) -> web.Response:
        if path.startswith("/version"):
            return json_response(disco.KUBE_VERSION)
        if self.cluster.faults.unhealthy:
            return web.Response(
                status=500,
                text="[-]etcd failed: reason withheld\nhealthz check failed",
                content_type="text/plain",
            )
        return web.Response(text="ok", content_type="text/plain")

    def _authorize(
        self,
        who: tuple[str, tuple[str, ...]],
        verb: str,
        rt: ResourceType | None = None,
        ns: str = "",
        name: str = "",
        sub: str = "",
        path: str | None = None,
    ) -> None:
        """RBAC (only for service-account identities of a fleet run with ``rbac=True``): 403 if denied."""
        a = Attributes(
            who[0], who[1], verb, rt.group if rt else "", rt.plural if rt else "", sub, ns, name, path
        )
        if not authorize(self.cluster.store, a):
            self.cluster.denied.append(access(a))
            raise forbidden(a)
        self.cluster.granted[access(a)] += 1

    async def _route(
        self, request: web.Request, path: str, who: tuple[str, tuple[str, ...]] | None = None
    ) -> web.StreamResponse:
        segs = [s for s in path.split("/") if s]
        registry = self.cluster.store.registry
        if who is not None and (
            len(segs) < 3 or segs[0] in _NON_RESOURCE or (segs[0] == "apis" and len(segs) == 3)
        ):
            # discovery, openapi, the issuer's documents and the root: non-resource requests
            self._authorize(who, request.method.lower(), path=path)
        if not segs:
            return json_response(
                {
                    "paths": [
                        "/.well-known/openid-configuration",
                        "/api",
                        "/api/v1",
                        "/apis",
                        "/healthz",
                        "/livez",
                        "/openapi/v2",
                        "/openapi/v3",
                        "/openid/v1/jwks",
                        "/readyz",
                        "/version",
                    ]
                }
            )
        head = segs[0]
        if head == "api":
            if len(segs) == 1:
                return json_response(disco.api_versions())
            group, version, rest = "", segs[1], segs[2:]
        elif head == "apis":
            if len(segs) == 1:
                return json_response(disco.api_group_list(registry))
            if len(segs) == 2:
                doc = disco.api_group(registry, segs[1])
                if doc is None:
                    raise err.path_not_found() if segs[1] in _BUILTIN_GROUPS else page_not_found()
                return json_response(doc)
            group, version, rest = segs[1], segs[2], segs[3:]
        elif head == "openapi":
            return self._openapi_response(request, segs)
        elif path in ("/openid/v1/jwks", "/.well-known/openid-configuration") and request.method == "GET":
            issuer = self.cluster.tokens.issuer
            if segs[0] == "openid":
                return web.Response(body=_encode(issuer.jwks()), content_type="application/jwk-set+json")
            return json_response(issuer.discovery(self.cluster.url))
        else:
            raise page_not_found()
        # the apiextensions handler serves CRD groups and hands whatever it does not serve to Go's NotFound
        not_found = err.path_not_found if group in _BUILTIN_GROUPS else page_not_found
        if not rest:
            doc = disco.resource_list(registry, group, version)
            if doc is None:
                raise not_found()
            return json_response(doc)
        force_watch = False
        if rest[0] == "watch":
            force_watch, rest = True, rest[1:]
        ns: str | None = None
        if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
            ns, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            raise not_found()
        rt = registry.lookup(group, version, rest[0])
        if rt is None:
            raise not_found()
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if ns is not None and not rt.namespaced:
            raise not_found()
        if name is not None and rt.namespaced and ns is None:
            raise not_found()
        method = request.method
        if who is not None:
            watch = force_watch or (method == "GET" and parse_bool(request.query.get("watch"), "watch"))
            # like kube-apiserver, a namespace's own requests carry it as their namespace
            self._authorize(
                who,
                request_verb(method, name is not None, watch),
                rt,
                name if rt.gp == ("", "namespaces") and name else ns or "",
                name or "",
                sub or "",
            )
        av = rt.api_version(version)
        if rt.gp == ("", "endpoints"):
            self.cluster.store.warnings.append(
                "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice"
            )
        if name is None:
            if method == "GET":
                q = request.query
                if force_watch or parse_bool(q.get("watch"), "watch"):
                    return await self._watch(request, rt, ns, av)
                return self._list(rt, ns, q, av, wants_table(request.headers.get("Accept", "")))
            if method == "POST":
                if rt.namespaced and ns is None:
                    raise err.method_not_allowed()
                if rt.group == "authorization.k8s.io":
                    return await self._access_review(request, rt, ns, av, who)
                return await self._create(request, rt, ns or "", version, av)
            if method == "DELETE" and "deletecollection" in rt.verbs:
                return await self._delete_collection(request, rt, ns, av)
            raise err.method_not_allowed()
        return await self._item(request, rt, ns or "", name, sub, version, av)

    def _openapi_response(self, request: web.Request, segs: list[str]) -> web.Response:
        registry = self.cluster.store.registry
        if self._openapi is None or self._openapi.registry is not registry:  # a reset cluster has a new one
            self._openapi = ClusterOpenAPI(registry)
        docs = self._openapi
        if len(segs) == 2 and segs[1] == "v2":
            # kubectl asks for gnostic protobuf (and cannot read JSON there); other clients get JSON
            accept = request.headers.get("Accept", "")
            if any(t in accept for t in OPENAPI_V2_PROTOBUF_TYPES):
                return web.Response(body=docs.v2_protobuf(), content_type=OPENAPI_V2_PROTOBUF)
            return web.Response(body=docs.v2_json(), content_type=_JSON)
        if len(segs) >= 2 and segs[1] == "v3":
            if len(segs) == 2:
                return web.Response(body=docs.v3_index(), content_type=_JSON)
            doc = docs.v3_doc("/".join(segs[2:]))
            if doc is not None:
                return web.Response(body=doc, content_type=_JSON)
        raise err.path_not_found()

    # ---- collections -------------------------------------------------------------------------
    def _list(
        self, rt: ResourceType, ns: str | None, q: Any, av: str, as_table: bool = False
    ) -> web.Response:
        list_options(q, watch=False)
        label = parse_label_selector(q.get("labelSelector"))
        field = parse_field_selector(q.get("fieldSelector"), rt.gp)
        limit = q.get("limit")
        try:
            lim = int(limit) if limit else None
        except ValueError as exc:
            raise err.bad_request(f'strconv.ParseInt: parsing "{limit}": invalid syntax') from exc
        store = self.cluster.store
        rv = q.get("resourceVersion")
        if rv and not rv.isdigit():
            raise err.bad_request(
                f'invalid resource version: resourceVersion: Invalid value: "{rv}": '
                f'strconv.ParseUint: parsing "{rv}": invalid syntax'
            )
        at = int(rv) if rv and q.get("resourceVersionMatch") == "Exact" else None
        items, list_rv, token, remaining = store.list(rt, ns, label, field, lim, q.get("continue"), at)
        if not rt.builtin:
            items = [_out(o, av) for o in items]
        meta: dict[str, Any] = {"resourceVersion": list_rv}
        if token:
            meta["continue"] = token
        if remaining is not None:
            meta["remainingItemCount"] = remaining
        if as_table:
            return json_response(table(rt, items, meta, q.get("includeObject", "Metadata")))
        return json_response({"kind": rt.list_kind, "apiVersion": av, "metadata": meta, "items": items})

    async def _create(
        self, request: web.Request, rt: ResourceType, ns: str, version: str, av: str
    ) -> web.Response:
        dry_run, validation = write_options(request.query, "CreateOptions")
        body = await _read_body(request, _BODY_TYPES, kind=rt.kind, warnings=self.cluster.store.warnings)
        obj = self.cluster.store.create(
            rt,
            ns,
            body,
            dry_run=dry_run,
            validation=validation,
            version=version,
            field_manager=_manager(request),
        )
        return json_response(_out(obj, av), 201)

    async def _access_review(
        self,
        request: web.Request,
        rt: ResourceType,
        ns: str | None,
        av: str,
        who: tuple[str, tuple[str, ...]] | None = None,
    ) -> web.Response:
        """Access reviews: evaluated by RBAC when the fleet enforces it, otherwise always allowed."""
        try:
            body = await _read_body(request, _BODY_TYPES)
        except err.ApiError:
            body = None  # a protobuf review the generic decoder does not know
        spec = (body or {}).get("spec") or {} if isinstance(body, dict) else {}
        if body is None and request.content_type == _PROTOBUF:
            spec = decode_review_spec(await request.read()) or {}
        meta = {"namespace": ns} if ns else {}
        status: dict[str, Any] = {"allowed": True, "reason": "the simulator does not enforce RBAC"}
        if self.cluster.rbac:
            status = self._review(rt, spec, who)
        return json_response(
            {"kind": rt.kind, "apiVersion": av, "metadata": meta, "spec": spec, "status": status}, 201
        )

    def _review(
        self, rt: ResourceType, spec: dict[str, Any], who: tuple[str, tuple[str, ...]] | None
    ) -> dict[str, Any]:
        if rt.plural != "selfsubjectaccessreviews":  # SubjectAccessReview: the subject is in the spec
            who = (spec.get("user") or "", tuple(spec.get("groups") or ()))
        if who is None:
            return {"allowed": True, "reason": "cluster admin"}
        res, non = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
        if isinstance(res, dict):
            a = Attributes(
                who[0],
                who[1],
                res.get("verb") or "",
                res.get("group") or "",
                res.get("resource") or "",
                res.get("subresource") or "",
                res.get("namespace") or "",
                res.get("name") or "",
            )
        elif isinstance(non, dict):
            a = Attributes(who[0], who[1], non.get("verb") or "", path=non.get("path") or "")
        else:
            return {"allowed": False, "reason": "no resourceAttributes or nonResourceAttributes"}
        if authorize(self.cluster.store, a):
            return {"allowed": True, "reason": "allowed by RBAC"}
        return {"allowed": False}

    async def _delete_options(self, request: web.Request) -> dict[str, Any]:
        opts: dict[str, Any] = {}
        if request.can_read_body:
            body = await _read_body(request, [_JSON, "application/yaml", "application/octet-stream"])
            if isinstance(body, dict):
                opts.update(body)
        q = request.query
        if "propagationPolicy" in q:
            opts["propagationPolicy"] = q["propagationPolicy"]
        orphan = opts.pop("orphanDependents", None)
        if "orphanDependents" in q:
            orphan = parse_bool(q["orphanDependents"], "orphanDependents")
        dry_run, _ = write_options(q, "DeleteOptions")
        if dry_run:
            opts["dryRun"] = ["All"]
        elif any(d != "All" for d in opts.get("dryRun") or ()):
            raise err.invalid_options("DeleteOptions", [_not_supported("dryRun", opts["dryRun"], ["All"])])
        pre = dict(opts.get("preconditions") or {})
        for key in ("uid", "resourceVersion"):
            if f"preconditions.{key}" in q:
                pre[key] = q[f"preconditions.{key}"]
        opts["preconditions"] = pre
        policy = opts.get("propagationPolicy")
        causes = []
        if policy is not None and orphan is not None:
            causes.append(
                {
                    "reason": "FieldValueInvalid",
                    "field": "propagationPolicy",
                    "message": f"Invalid value: {err.go_value(policy)}: orphanDependents and "
                    "deletionPropagation cannot be both set",
                }
            )
        if policy not in (None, "Background", "Foreground", "Orphan"):
            causes.append(
                _not_supported("propagationPolicy", policy, ["Foreground", "Background", "Orphan", "nil"])
            )
        if causes:
            raise err.invalid_options("DeleteOptions", causes)
        if orphan is not None and policy is None:
            opts["propagationPolicy"] = "Orphan" if orphan else "Background"
        return opts

    async def _delete_collection(
        self, request: web.Request, rt: ResourceType, ns: str | None, av: str
    ) -> web.Response:
        opts = await self._delete_options(request)
        q = request.query
        label = parse_label_selector(q.get("labelSelector"))
        field = parse_field_selector(q.get("fieldSelector"), rt.gp)
        store = self.cluster.store
        items, _, _, _ = store.list(rt, ns, label, field)
        deleted = []
        for obj in items:
            meta = obj["metadata"]
            try:
                res, removed = store.delete(
                    rt,
                    meta.get("namespace", ""),
                    meta["name"],
                    propagation=opts.get("propagationPolicy"),
                    dry_run="All" in (opts.get("dryRun") or ()),
                )
            except err.ApiError as e:
                if e.code == 404:
                    continue
                raise
            deleted.append(_out(obj if removed else res, av))
        return json_response(
            {
                "kind": rt.list_kind,
                "apiVersion": av,
                "metadata": {"resourceVersion": str(store.rv)},
                "items": deleted,
            }
        )

    # ---- items ---------------------------------------------------------------------------------
    async def _item(
        self,
        request: web.Request,
        rt: ResourceType,
        ns: str,
        name: str,
        sub: str | None,
        version: str,
        av: str,
    ) -> web.Response:
        store = self.cluster.store
        method = request.method
        q = request.query
        if method == "PUT":
            dry_run, validation = write_options(q, "UpdateOptions")
        elif method == "PATCH":
            dry_run, validation = write_options(q, "PatchOptions", request.content_type)
        else:
            dry_run, validation = False, None
        if sub is not None:
            if sub == "scale" and rt.scale:
                return await self._scale(request, rt, ns, name)
            if sub == "token" and rt.gp == ("", "serviceaccounts") and method == "POST":
                return await self._token_request(request, ns, name)
            if sub == "finalize" and rt.gp == ("", "namespaces"):
                if method != "PUT":
                    raise err.method_not_allowed()
                body = await _read_body(request, _BODY_TYPES)
                spec = (body or {}).get("spec") or {} if isinstance(body, dict) else {}
                current = store.get(rt, "", name)
                return json_response(
                    _out(
                        store.update(
                            rt,
                            "",
                            name,
                            {
                                **current,
                                "spec": {**(current.get("spec") or {}), "finalizers": spec.get("finalizers")},
                            },
                            dry_run=dry_run,
                        ),
                        av,
                    )
                )
            if sub != "status" or not rt.status:
                raise err.path_not_found()
        if method == "GET":
            obj = _out(store.get(rt, ns, name), av)
            if sub is None and wants_table(request.headers.get("Accept", "")):
                return json_response(
                    table(
                        rt,
                        [obj],
                        {"resourceVersion": obj["metadata"]["resourceVersion"]},
                        q.get("includeObject", "Metadata"),
                    )
                )
            return json_response(obj)
        if method == "PUT":
            body = await _read_body(request, _BODY_TYPES, kind=rt.kind, warnings=store.warnings)
            obj = store.update(
                rt,
                ns,
                name,
                body,
                subresource=sub,
                dry_run=dry_run,
                validation=validation,
                version=version,
                field_manager=_manager(request),
            )
            return json_response(_out(obj, av))
        if method == "PATCH":
            ctype = request.content_type
            if ctype not in PATCH_TYPES:
                raise err.ApiError(415, "UnsupportedMediaType", "415: Unsupported Media Type", {})
            if ctype == STRATEGIC_PATCH and not rt.builtin:
                raise err.unsupported_media_type(ctype, [JSON_PATCH, MERGE_PATCH, APPLY_PATCH])
            force = parse_bool(q.get("force"), "force")
            body = await _read_body(request, PATCH_TYPES, warnings=store.warnings)
            obj, created = store.patch(
                rt,
                ns,
                name,
                ctype,
                body,
                subresource=sub,
                field_manager=q.get("fieldManager") if ctype == APPLY_PATCH else _manager(request),
                dry_run=dry_run,
                validation=validation,
                version=version,
                force=force,
            )
            return json_response(_out(obj, av), 201 if created else 200)
        if method == "DELETE" and sub is None:
            opts = await self._delete_options(request)
            res, removed = store.delete(
                rt,
                ns,
                name,
                propagation=opts.get("propagationPolicy"),
                preconditions=opts.get("preconditions"),
                dry_run="All" in (opts.get("dryRun") or ()),
            )
            return json_response(res if removed else _out(res, av))
        raise err.method_not_allowed()

    async def _scale(self, request: web.Request, rt: ResourceType, ns: str, name: str) -> web.Response:
        store = self.cluster.store
        method = request.method
        obj = store.get(rt, ns, name)
        if method == "GET":
            return json_response(scale_of(obj))
        if method == "PUT":
            body = await _read_body(request, _BODY_TYPES)
            new_scale = body if isinstance(body, dict) else {}
        elif method == "PATCH":
            ctype = request.content_type
            if ctype not in PATCH_TYPES:
                raise err.unsupported_media_type(ctype, list(PATCH_TYPES))
            body = await _read_body(request, PATCH_TYPES)
            cur = scale_of(obj)
            if ctype == JSON_PATCH:
                new_scale = json_patch(cur, body)
            elif ctype == STRATEGIC_PATCH:
                new_scale = strategic_merge(cur, body, "Scale")
            else:
                new_scale = merge_patch(cur, body)
        else:
            raise err.method_not_allowed()
        rv = (new_scale.get("metadata") or {}).get("resourceVersion")
        if rv and rv != obj["metadata"]["resourceVersion"]:
            raise err.conflict(rt.plural, rt.group, name)
        replicas = (new_scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise err.invalid(
                "Scale",
                "autoscaling",
                name,
                [
                    {
                        "reason": "FieldValueInvalid",
                        "field": "spec.replicas",
                        "message": f"Invalid value: {replicas}: must be greater than or equal to 0",
                    }
                ],
            )
        updated, _ = store.patch(rt, ns, name, MERGE_PATCH, {"spec": {"replicas": replicas}})
        return json_response(scale_of(updated))

    async def _token_request(self, request: web.Request, ns: str, name: str) -> web.Response:
        """TokenRequest: a service-account JWT (kube-apiserver's defaults and validation)."""
        store = self.cluster.store
        sa = store.get(builtin("", "serviceaccounts"), ns, name)
        body = await _read_body(request, _BODY_TYPES, "TokenRequest")
        spec = dict((body or {}).get("spec") or {})
        seconds = int(spec.get("expirationSeconds") or 3600)
        if seconds < _MIN_TOKEN_SECONDS or seconds > 1 << 32:
            limit = "less than 10 minutes" if seconds < _MIN_TOKEN_SECONDS else "larger than 2^32 seconds"
            raise err.invalid(
                "TokenRequest",
                "authentication.k8s.io",
                "",
                [
                    {
                        "reason": "FieldValueInvalid",
                        "field": "spec.expirationSeconds",
                        "message": f"Invalid value: {seconds}: may not specify a duration {limit}",
                    }
                ],
            )
        spec["expirationSeconds"] = seconds
        spec.setdefault("boundObjectRef", None)
        if not spec.get("audiences"):
            spec["audiences"] = [API_AUDIENCE]
        bound = None
        ref = spec.get("boundObjectRef")
        if ref:
            kinds = {"Secret": "secrets", "Pod": "pods"}
            if ref.get("kind") not in kinds:
                raise err.bad_request(
                    f'cannot bind token for serviceaccount "{name}" to object of type {ref.get("kind")}'
                )
            bound = {
                "kind": ref["kind"],
                **store.get(builtin("", kinds[ref["kind"]]), ns, ref.get("name", "")),
            }
            if ref.get("uid") and ref["uid"] != bound["metadata"]["uid"]:
                raise err.conflict(
                    kinds[ref["kind"]],
                    "",
                    ref.get("name", ""),
                    f"the UID in the bound object reference ({ref['uid']}) does not match the UID "
                    f"in record. The object might have been deleted and then recreated",
                )
        token, exp = self.cluster.tokens.issuer.request_token(sa, seconds, list(spec["audiences"]), bound)
        return json_response(
            {
                "kind": "TokenRequest",
                "apiVersion": "authentication.k8s.io/v1",
                "metadata": {
                    "name": name,
                    "namespace": ns,
                    "creationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                },
                "spec": spec,
                "status": {
                    "token": token,
                    "expirationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(exp)),
                },
            },
            201,
        )

    # ---- watch ---------------------------------------------------------------------------------
    async def _watch(
        self, request: web.Request, rt: ResourceType, ns: str | None, av: str
    ) -> web.StreamResponse:
        q = request.query
        list_options(q, watch=True)
        store = self.cluster.store
        label = parse_label_selector(q.get("labelSelector"))
        field = parse_field_selector(q.get("fieldSelector"), rt.gp)
        bookmarks = parse_bool(q.get("allowWatchBookmarks"), "allowWatchBookmarks")
        initial = parse_bool(q.get("sendInitialEvents"), "sendInitialEvents")
        as_table = wants_table(request.headers.get("Accept", ""))
        include = q.get("includeObject", "Metadata")
        first_table = True
        timeout_s = q.get("timeoutSeconds")
        try:
            timeout = float(timeout_s) if timeout_s else random.uniform(1800, 3600)
        except ValueError as exc:
            raise err.bad_request(f"invalid timeoutSeconds: {timeout_s}") from exc
        rv = q.get("resourceVersion")
        if rv and not rv.isdigit():
            raise err.internal(
                f'resourceVersion: Invalid value: "{rv}": strconv.ParseUint: parsing "{rv}": invalid syntax'
            )
        resp = web.StreamResponse(status=200, headers={"Content-Type": _JSON, "Cache-Control": "no-cache"})
        resp.enable_chunked_encoding()
        try:
            watcher = store.watch(rt, ns, label, field, q.get("resourceVersion"), initial)
        except err.ApiError as e:
            if e.code != 410:
                raise
            await resp.prepare(request)
            await resp.write(_encode({"type": "ERROR", "object": e.status()}) + b"\n")
            await resp.write_eof()
            return resp
        loop = asyncio.get_running_loop()
        queue = watcher.queue
        end = loop.call_later(timeout, lambda: queue.put_nowait(("END", store.rv)))  # type: ignore[arg-type]
        deadline = loop.time() + timeout
        ticker: asyncio.TimerHandle | None = None

        def schedule(first: bool = False) -> None:
            # as kube-apiserver v1.37 was measured to do: the first bookmark a minute in (a watch shorter
            # than that gets none), then every minute and once more 2 s before the watch times out
            nonlocal ticker
            now = loop.time()
            at = now + BOOKMARK_INTERVAL if first else min(now + BOOKMARK_INTERVAL, deadline - 2)
            if at > now:
                ticker = loop.call_at(at, tick)

        def tick() -> None:
            queue.put_nowait(("TICK", store.rv))  # type: ignore[arg-type]
            schedule()

        if bookmarks:
            schedule(first=True)
        self.cluster.open_watches.add(resp)
        try:
            await resp.prepare(request)
            while True:
                item = await queue.get()
                chunks = []
                while item is not None:
                    etype, ev = item
                    if etype in ("TICK", "END"):
                        # ``ev`` is the store RV when the marker was queued: everything before it is sent.
                        if bookmarks and etype == "TICK":
                            chunks.append(
                                _encode(
                                    {
                                        "type": "BOOKMARK",
                                        "object": {
                                            "kind": rt.kind,
                                            "apiVersion": av,
                                            "metadata": {"resourceVersion": str(ev)},
                                        },
                                    }
                                )
                                + b"\n"
                            )
                        if etype == "END":
                            item = None
                            break
                    elif etype == "BOOKMARK":
                        if bookmarks or initial:
                            chunks.append(ev.encode("BOOKMARK", av))
                    elif as_table:
                        obj = _out(ev.obj, av)
                        tab = table(
                            rt,
                            [obj],
                            {"resourceVersion": obj["metadata"]["resourceVersion"]},
                            include,
                            headers=first_table,
                        )
                        first_table = False
                        chunks.append(_encode({"type": etype, "object": tab}) + b"\n")
                    else:
                        chunks.append(ev.encode(etype, av))
                    if queue.empty():
                        break
                    item = queue.get_nowait()
                if chunks:
                    await resp.write(b"".join(chunks))
                if item is None:
                    break
            await resp.write_eof()
        except ConnectionError:
            pass
        finally:
            end.cancel()
            if ticker is not None:
                ticker.cancel()
            store.unwatch(watcher)
            self.cluster.open_watches.discard(resp)
        return resp


def scale_of(obj: dict[str, Any]) -> dict[str, Any]:
    """The autoscaling/v1 Scale view of a workload."""
    meta = obj["metadata"]
    sel = (obj.get("spec") or {}).get("selector") or {}
    selector = ",".join(f"{k}={v}" for k, v in (sel.get("matchLabels") or {}).items())
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta.get("namespace", ""),
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
            "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
        "status": {"replicas": (obj.get("status") or {}).get("replicas", 0), "selector": selector},
    }
