"""A dynamic Kubernetes client for one cluster: any resource, plain dicts, our error tree.

Federation handles types it learns at run time (every ``Federated<Kind>`` and its target), so the
generated per-kind APIs of kubernetes-asyncio do not fit; we reuse its ``ApiClient`` for what it does
well (kubeconfig, auth, TLS, proxies, connection pool) and issue raw requests through ``call_api``.

Every request passes one place, :meth:`KubeClient.request`, which
- waits on the cluster's token bucket (``qps``/``burst``, client-go's defaults are 5/10; KubeFed 0.9
  raised them to 100/200), so one busy member never starves the others;
- opens an HTTP CLIENT span (the member API call is a child of the apply that caused it);
- counts ``rest_client_requests_total`` / ``rest_client_request_duration_seconds``;
- translates failures into :mod:`shared.errors` with the Kubernetes Status message.

Custom-object patches are sent with an explicit content type: kubernetes-asyncio's generated
CustomObjectsApi would send a dict as JSON patch (kubernetes-client/python#2119).
"""

from __future__ import annotations

import builtins
import contextlib
import json
import ssl
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit

import aiohttp
import msgspec
from aiolimiter import AsyncLimiter
from kubernetes_asyncio.client import ApiClient
from opentelemetry.trace import SpanKind, StatusCode

from shared.errors import (
    AlreadyExistsError,
    ApiUnavailableError,
    ConflictError,
    GoneError,
    InvalidError,
    KubefedError,
    NotFoundError,
    UnauthorizedError,
)
from shared.k8s._resources import Resource
from shared.telemetry import metrics, tracer

__all__ = ["KubeClient", "PatchType", "WatchEvent"]


class _Json:
    """msgspec's JSON codec (much faster than json + kubernetes-asyncio's sanitizer)."""

    _encoder = msgspec.json.Encoder()
    _decoder = msgspec.json.Decoder()

    def encode(self, value: Any) -> bytes:
        return self._encoder.encode(value)

    def decode(self, raw: bytes) -> Any:
        return self._decoder.decode(raw)


_json = _Json()

PatchType = Literal["merge", "json", "strategic", "apply"]
_PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}


@dataclass(frozen=True)
class WatchEvent:
    """One watch event: ``type`` is ADDED, MODIFIED, DELETED or BOOKMARK."""

    type: str
    object: dict[str, Any]


def _status_error(status: int, body: str, what: str) -> KubefedError:
    try:
        doc = json.loads(body) if body else {}
    except ValueError:
        doc = {}
    message = str(doc.get("message") or body[:300] or f"HTTP {status}")
    reason = str(doc.get("reason") or "")
    text = f"{what}: {message}"
    if status == 404:
        return NotFoundError(text)
    if status == 409:
        return AlreadyExistsError(text) if reason == "AlreadyExists" else ConflictError(text)
    causes = (doc.get("details") or {}).get("causes") if isinstance(doc, dict) else None
    if status == 410 or any(
        isinstance(c, dict) and c.get("reason") == "ResourceVersionTooLarge" for c in causes or []
    ):
        # too large: the resourceVersion is from a history the server does not have (a host restored
        # from a backup, or another host); like client-go's reflector, relist instead of waiting for it
        return GoneError(text)
    if status in (401, 403):
        return UnauthorizedError(text, status=status, reason=reason)
    if status in (400, 415, 422):
        return InvalidError(text, status=status, reason=reason or "Invalid")
    delay = 1.0
    retry = (doc.get("details") or {}).get("retryAfterSeconds") if isinstance(doc, dict) else None
    if isinstance(retry, (int, float)) and retry > 0:
        delay = float(retry)
    return ApiUnavailableError(text, status=status, reason=reason, delay=delay)


def _environment_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url`` (``HTTPS_PROXY``/``HTTP_PROXY``, ``NO_PROXY``), or None."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host or urllib.request.proxy_bypass(host):
        return None
    return urllib.request.getproxies().get(parts.scheme or "https")


_TRANSPORT_ERRORS = (aiohttp.ClientError, OSError, TimeoutError)


@contextlib.contextmanager
def _unavailable(what: str, reason: str = "Unreachable") -> Iterator[None]:
    """A transport failure (refused, reset, cut off, timed out) inside is ``ApiUnavailableError``,
    which every caller retries; a raw TimeoutError from reading a body once ended a propagator."""
    try:
        yield
    except _TRANSPORT_ERRORS as exc:
        raise ApiUnavailableError(f"{what}: {type(exc).__name__}: {exc}", reason=reason) from exc


class KubeClient:
    """One cluster's API server, shared by all tasks of a process.

    Requests are counted per server (``rest_client_requests_total{host}``); their latency is recorded
    under ``latency_host`` when given (member clients share one, :data:`MEMBERS_LATENCY_HOST`), else per
    server.
    """

    def __init__(
        self,
        api_client: ApiClient,
        *,
        name: str,
        qps: float = 100.0,
        burst: int = 200,
        timeout: float = 30.0,
        cleanup: Any = None,
        ssl_context: ssl.SSLContext | None = None,
        latency_host: str | None = None,
    ) -> None:
        self.name = name
        self._api = api_client
        self._ssl_context = ssl_context
        if ssl_context is not None:
            # kubernetes-asyncio built a session (and an SSLContext, with the system trust store when no
            # CA is given: ~0.8 MB) for this client alone; it is replaced by a connector on the shared
            # context when the client is first used. Detaching frees it now; nothing was connected yet.
            api_client.rest_client.pool_manager.detach()
        self._limiter = AsyncLimiter(max(burst, 1), max(burst, 1) / max(qps, 0.001))
        self._timeout = timeout
        self._host_label: str = str(urlsplit(api_client.configuration.host).netloc or name)
        self._latency_host = latency_host or self._host_label
        self._cleanup = cleanup
        self._session: aiohttp.ClientSession | None = None
        self._proxy: str | None = None

    @property
    def server(self) -> str:
        """The API server URL."""
        return str(self._api.configuration.host)

    async def close(self) -> None:
        """Close the connection pool (and remove temporary CA files)."""
        if self._session is not None:
            await self._session.close()
        await self._api.close()
        if self._cleanup is not None:
            self._cleanup()

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- transport --------------------------------------------------------------------------
    def _open_session(self) -> aiohttp.ClientSession:
        """A session on kubernetes-asyncio's connection pool (its TLS settings), with the proxy decided once.

        kubernetes-asyncio's own session trusts the environment, which makes aiohttp look up ``~/.netrc``
        and the proxy variables in a worker thread for every request (two thread hand-offs per member
        write in profiles). The kubeconfig's ``proxy-url`` wins; otherwise ``HTTPS_PROXY``/``NO_PROXY``
        are honoured as client-go does, read when the client is first used.
        """
        rest = self._api.rest_client
        self._proxy = rest.proxy or _environment_proxy(str(self._api.configuration.host))
        if self._ssl_context is not None:
            connector = aiohttp.TCPConnector(
                limit=self._api.configuration.connection_pool_maxsize, ssl=self._ssl_context
            )
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False, read_bufsize=2**21)
        else:
            self._session = aiohttp.ClientSession(
                connector=rest.pool_manager.connector,
                connector_owner=False,
                trust_env=False,
                read_bufsize=2**21,
            )
        return self._session

    async def _send(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None,
        body: Any,
        content_type: str | None,
        timeout: float | aiohttp.ClientTimeout | None,
    ) -> aiohttp.ClientResponse:
        """One HTTP request on the ApiClient's connection pool.

        Authentication (including exec/refreshing kubeconfig credentials) is kubernetes-asyncio's;
        the body is encoded once with msgspec instead of going through its recursive
        ``sanitize_for_serialization`` (a third of the CPU per member write in profiles).
        """
        headers: dict[str, str] = {"Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
            data = _json.encode(body)
        params = [(k, _query_value(v)) for k, v in (query or {}).items() if v is not None]
        await self._api.update_params_for_auth(headers, params, ["BearerToken"])
        url = str(self._api.configuration.host) + path
        if params:
            url += "?" + urlencode(params)
        rest = self._api.rest_client
        session = self._session or self._open_session()
        extra: dict[str, Any] = {}
        if self._proxy:
            extra["proxy"] = self._proxy
        if rest.proxy_headers:
            extra["proxy_headers"] = rest.proxy_headers
        if rest.server_hostname:
            extra["server_hostname"] = rest.server_hostname
        if timeout is None:
            timeout = self._timeout
        client_timeout = (
            timeout if isinstance(timeout, aiohttp.ClientTimeout) else aiohttp.ClientTimeout(total=timeout)
        )
        with _unavailable(f"{self.name}: {method} {path}"):
            response: aiohttp.ClientResponse = await session.request(
                method, url, data=data, headers=headers, timeout=client_timeout, **extra
            )
        return response

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Send one request and return the decoded JSON body (or text for non-JSON answers)."""
        async with self._limiter:
            pass
        started = time.perf_counter()
        with tracer().start_as_current_span(
            method,
            kind=SpanKind.CLIENT,
            attributes={
                "http.request.method": method,
                "url.path": path,
                "server.address": self._host_label,
                "k8s.cluster.name": self.name,
            },
        ) as span:
            code = "<error>"
            try:
                response = await self._send(
                    method, path, query=query, body=body, content_type=content_type, timeout=timeout
                )
                async with response:
                    code = str(response.status)
                    with _unavailable(f"{self.name}: {method} {path}: reading the response"):
                        raw = await response.read()
                    span.set_attribute("http.response.status_code", response.status)
                    if response.status >= 400:
                        span.set_status(StatusCode.ERROR)
                        raise _status_error(
                            response.status,
                            raw.decode("utf-8", "replace"),
                            f"{method} {path} on cluster {self.name}",
                        )
                    if raw[:1] in (b"{", b"["):
                        return _json.decode(raw)
                    return raw.decode("utf-8", "replace")
            except ApiUnavailableError as exc:
                span.set_attribute("error.type", exc.reason or "Unavailable")
                raise
            finally:
                self._count(code, method, time.perf_counter() - started)

    def _count(self, code: str, method: str, seconds: float) -> None:
        metrics.series(metrics.rest_requests, code, method, self._host_label).inc()
        metrics.series(metrics.rest_duration, method, self._latency_host).observe(seconds)

    # -- verbs ------------------------------------------------------------------------------
    async def get(self, resource: Resource, name: str, namespace: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", resource.path(namespace, name))
        return result

    async def get_or_none(
        self, resource: Resource, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        try:
            return await self.get(resource, name, namespace)
        except NotFoundError:
            return None

    async def list(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int = 500,
    ) -> tuple[builtins.list[dict[str, Any]], str]:
        """All items (following ``continue``) and the list's resourceVersion."""
        items: builtins.list[dict[str, Any]] = []
        cont: str | None = None
        while True:
            doc = await self.request(
                "GET",
                resource.path(namespace),
                query={
                    "labelSelector": label_selector,
                    "fieldSelector": field_selector,
                    "limit": limit,
                    "continue": cont,
                },
            )
            for item in doc.get("items") or []:
                item.setdefault("apiVersion", resource.api_version)
                if resource.kind:
                    item.setdefault("kind", resource.kind)
                items.append(item)
            meta = doc.get("metadata") or {}
            cont = meta.get("continue") or None
            if not cont:
                return items, str(meta.get("resourceVersion") or "")

    async def create(
        self,
        resource: Resource,
        obj: Mapping[str, Any],
        namespace: str | None = None,
        *,
        field_manager: str = "kubefed",
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self.request(
            "POST", resource.path(namespace), query={"fieldManager": field_manager}, body=obj
        )
        return result

    async def replace(
        self,
        resource: Resource,
        obj: Mapping[str, Any],
        *,
        subresource: str | None = None,
        field_manager: str = "kubefed",
    ) -> dict[str, Any]:
        meta = obj.get("metadata") or {}
        result: dict[str, Any] = await self.request(
            "PUT",
            resource.path(meta.get("namespace"), meta["name"], subresource),
            query={"fieldManager": field_manager},
            body=obj,
        )
        return result

    async def patch(
        self,
        resource: Resource,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: PatchType = "merge",
        subresource: str | None = None,
        field_manager: str = "kubefed",
        force: bool | None = None,
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self.request(
            "PATCH",
            resource.path(namespace, name, subresource),
            query={"fieldManager": field_manager, "force": force},
            body=patch,
            content_type=_PATCH_CONTENT_TYPES[patch_type],
        )
        return result

    async def delete(
        self,
        resource: Resource,
        name: str,
        namespace: str | None = None,
        *,
        options: Mapping[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Delete; returns the object if it lingers (finalizers) or ``None``; 404 raises NotFoundError."""
        body = {"kind": "DeleteOptions", "apiVersion": "v1", **(options or {})}
        result = await self.request("DELETE", resource.path(namespace, name), body=body)
        if isinstance(result, dict) and result.get("kind") != "Status":
            return result
        return None

    async def watch(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: int = 300,
        bookmarks: bool = True,
    ) -> AsyncIterator[WatchEvent]:
        """Stream watch events until the server closes the stream; raises GoneError on 410."""
        query = {
            "watch": "true",
            "resourceVersion": resource_version,
            "labelSelector": label_selector,
            "fieldSelector": field_selector,
            "timeoutSeconds": timeout_seconds,
            "allowWatchBookmarks": "true" if bookmarks else None,
        }
        path = resource.path(namespace)
        async with self._limiter:
            pass
        response = await self._send(
            "GET",
            path,
            query=query,
            body=None,
            content_type=None,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=timeout_seconds + 30),
        )
        async with response:
            if response.status >= 400:
                with _unavailable(f"{self.name}: watch {path}: {response.status}, body unreadable"):
                    text = await response.text()
                raise _status_error(response.status, text, f"watch {path} on cluster {self.name}")
            try:
                async for line in response.content:
                    if not line.strip():
                        continue
                    event = _json.decode(line)
                    if event.get("type") == "ERROR":
                        obj = event.get("object") or {}
                        raise _status_error(
                            int(obj.get("code") or 500),
                            json.dumps(obj),
                            f"watch {path} on cluster {self.name}",
                        )
                    yield WatchEvent(str(event.get("type")), event.get("object") or {})
            except _TRANSPORT_ERRORS as exc:
                raise ApiUnavailableError(
                    f"{self.name}: watch {path} broke: {exc}", reason="WatchBroken"
                ) from exc

    # -- non-resource endpoints ------------------------------------------------------------
    async def healthz(self, timeout: float = 3.0) -> str:
        """The body of ``GET /healthz`` (KubeFed requires ``ok``); errors raise ApiUnavailableError."""
        try:
            text = await self.request("GET", "/healthz", timeout=timeout)
        except ApiUnavailableError:
            raise
        except KubefedError as exc:
            raise ApiUnavailableError(str(exc), reason="HealthCheckFailed") from exc
        return str(text).strip()

    async def version(self, timeout: float = 3.0) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", "/version", timeout=timeout)
        return result

    async def resource_for_kind(self, api_version: str, kind: str) -> Resource | None:
        """Discovery of one type: the top-level resource serving ``kind`` in ``api_version`` (None: not
        served)."""
        group, _, version = api_version.rpartition("/")
        try:
            doc = await self.request("GET", f"/apis/{api_version}" if group else f"/api/{version}")
        except NotFoundError:
            return None
        for r in doc.get("resources") or []:
            if r.get("kind") == kind and "/" not in r.get("name", ""):
                return Resource(group, version, r["name"], namespaced=bool(r.get("namespaced")), kind=kind)
        return None

    async def api_resources(self) -> builtins.list[tuple[str, dict[str, Any], bool]]:
        """Discovery: ``(groupVersion, APIResource, preferred)`` for every served top-level resource."""
        out: builtins.list[tuple[str, dict[str, Any], bool]] = []
        core = await self.request("GET", "/api")
        for version in core.get("versions") or []:
            doc = await self.request("GET", f"/api/{version}")
            out.extend((version, r, True) for r in doc.get("resources") or [] if "/" not in r["name"])
        groups = await self.request("GET", "/apis")
        for group in groups.get("groups") or []:
            preferred = (group.get("preferredVersion") or {}).get("groupVersion")
            for v in group.get("versions") or []:
                gv = v["groupVersion"]
                try:
                    doc = await self.request("GET", f"/apis/{gv}")
                except NotFoundError:
                    continue
                out.extend(
                    (gv, r, gv == preferred) for r in doc.get("resources") or [] if "/" not in r["name"]
                )
        return out


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
