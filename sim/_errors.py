"""Kubernetes ``Status`` errors.

Every failure the simulator reports is an :class:`ApiError` carrying the exact ``Status`` body a
real kube-apiserver would send (spec 4.15), so that kubectl prints the same messages and
kubernetes-asyncio raises ``ApiException`` with the same ``status``. The store raises them; the
HTTP layer only serialises them.
"""

from __future__ import annotations

import json
from typing import Any


class ApiError(Exception):
    """An HTTP error answered as a ``Status`` object."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict[str, Any]:
        """The ``Status`` body for this error."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
        }
        if self.reason:  # an internal error has none
            body["reason"] = self.reason
        body["code"] = self.code
        if self.details is not None:
            body["details"] = self.details
        return body


def qualified(plural: str, group: str) -> str:
    """``configmaps`` or ``deployments.apps``: how messages name a resource."""
    return f"{plural}.{group}" if group else plural


def details(name: str, group: str, kind: str) -> dict[str, Any]:
    """``StatusDetails`` as Go serialises it: empty name and group are omitted."""
    out: dict[str, Any] = {}
    if name:
        out["name"] = name
    if group:
        out["group"] = group
    out["kind"] = kind
    return out


def go_value(value: Any) -> str:
    """A bad value as apimachinery's field errors print it: ``%q`` strings, plain numbers and
    booleans, ``null``, and JSON (sorted map keys, no spaces) for everything else."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def not_found(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        404, "NotFound", f'{qualified(plural, group)} "{name}" not found', details(name, group, plural)
    )


def namespace_not_found(ns: str) -> ApiError:
    return ApiError(404, "NotFound", f'namespaces "{ns}" not found', {"name": ns, "kind": "namespaces"})


def path_not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def already_exists(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{qualified(plural, group)} "{name}" already exists',
        details(name, group, plural),
    )


def conflict(plural: str, group: str, name: str, detail: str | None = None) -> ApiError:
    detail = detail or (
        "the object has been modified; please apply your changes to the latest version and try again"
    )
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified(plural, group)} "{name}": {detail}',
        details(name, group, plural),
    )


def invalid(kind: str, group: str, name: str, causes: list[dict[str, str]]) -> ApiError:
    """422 Invalid; ``causes`` items have ``reason``, ``message`` and ``field``."""
    parts = [f"{c['field']}: {c['message']}" for c in causes]
    text = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    return ApiError(
        422,
        "Invalid",
        f'{kind}.{group} "{name}" is invalid: {text}' if group else f'{kind} "{name}" is invalid: {text}',
        {**details(name, group, kind), "causes": causes},
    )


def invalid_options(kind: str, causes: list[dict[str, str]]) -> ApiError:
    """422 for bad query options (``CreateOptions``, ``ListOptions``...), as the apiserver validates them."""
    return invalid(kind, "meta.k8s.io", "", causes)


def internal(message: str) -> ApiError:
    """A 500 without a reason: what the apiserver answers for some storage-level refusals."""
    return ApiError(500, "", message)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def forbidden(message: str, causes: list[dict[str, str]] | None = None) -> ApiError:
    return ApiError(403, "Forbidden", message, {"causes": causes} if causes else None)


def method_not_allowed() -> ApiError:
    return ApiError(
        405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {}
    )


def expired(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def unsupported_media_type(content_type: str, accepted: list[str], what: str = "") -> ApiError:
    prefix = f"{content_type} is not supported by {what}: " if what else ""
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"{prefix}the body of the request was in an unknown format - accepted media types include: "
        + ", ".join(accepted),
    )


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


INJECTED_REASONS = {
    429: ("TooManyRequests", "Too many requests, please try again later."),
    500: ("InternalError", "Internal error occurred: injected fault"),
    503: ("ServiceUnavailable", "The server is currently unable to handle the request"),
    504: ("Timeout", "The server was unable to return a response in the time allotted"),
}


def injected(code: int) -> ApiError:
    """The error a fault-injection rule answers with (429/503 carry Retry-After)."""
    reason, message = INJECTED_REASONS.get(code, ("InternalError", "Internal error occurred: injected fault"))
    details: dict[str, Any] | None = None
    headers: dict[str, str] = {}
    if code in (429, 503):
        details = {"retryAfterSeconds": 1}
        headers["Retry-After"] = "1"
    return ApiError(code, reason, message, details, headers)
