"""The project's error tree: what failed, and whether retrying can help.

Third-party exceptions (``kubernetes_asyncio.client.ApiException``, ``aiohttp`` errors, ``nats.errors``)
are translated once, at the adapter boundary (:mod:`shared.k8s`, :mod:`shared.bus`), with
``raise ... from exc``; code above the adapters only sees this tree::

    KubefedError
    ├── TemporaryError(delay)         retry later: nak with delay / requeue with backoff
    │   ├── ApiUnavailableError       connection refused, timeout, 5xx, 429
    │   ├── ConflictError             409 Conflict (stale resourceVersion)
    │   └── BusError                  NATS unavailable or a publish not acknowledged
    └── PermanentError                retrying the same input cannot help: term + status + counter
        ├── NotFoundError             404
        ├── AlreadyExistsError        409 AlreadyExists
        ├── InvalidError              422 / 400 (the server rejected the object)
        ├── UnauthorizedError         401 / 403
        ├── GoneError                 410 or ResourceVersionTooLarge (relist; permanent for that watch)
        ├── ConfigError               bad settings, kubeconfig or KubeFedCluster
        └── MessageTooLargeError      a message exceeds the server's max_payload
"""

from __future__ import annotations

__all__ = [
    "AlreadyExistsError",
    "ApiError",
    "ApiUnavailableError",
    "BusError",
    "ConfigError",
    "ConflictError",
    "GoneError",
    "InvalidError",
    "KubefedError",
    "MessageTooLargeError",
    "NotFoundError",
    "PermanentError",
    "TemporaryError",
    "UnauthorizedError",
]


class KubefedError(Exception):
    """Root of every error the project raises on purpose."""


class TemporaryError(KubefedError):
    """The operation may succeed if retried after ``delay`` seconds."""

    def __init__(self, message: str, *, delay: float = 1.0) -> None:
        super().__init__(message)
        self.delay = delay


class PermanentError(KubefedError):
    """Retrying the same input cannot succeed."""


class ApiError(KubefedError):
    """Mixin carrying the Kubernetes Status of a failed API call."""

    status: int = 0
    reason: str = ""


class ApiUnavailableError(TemporaryError, ApiError):
    """The API server could not be reached, timed out, throttled us or failed (5xx, 429)."""

    def __init__(self, message: str, *, status: int = 0, reason: str = "", delay: float = 1.0) -> None:
        super().__init__(message, delay=delay)
        self.status = status
        self.reason = reason


class ConflictError(TemporaryError, ApiError):
    """409 Conflict: the object changed since it was read."""

    status = 409
    reason = "Conflict"


class BusError(TemporaryError):
    """NATS could not take or deliver a message."""


class _PermanentApiError(PermanentError, ApiError):
    def __init__(self, message: str, *, status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        if status:
            self.status = status
        if reason:
            self.reason = reason


class NotFoundError(_PermanentApiError):
    """404 NotFound."""

    status = 404
    reason = "NotFound"


class AlreadyExistsError(_PermanentApiError):
    """409 AlreadyExists."""

    status = 409
    reason = "AlreadyExists"


class InvalidError(_PermanentApiError):
    """422 Invalid or 400 BadRequest: the server refused the object itself."""

    status = 422
    reason = "Invalid"


class UnauthorizedError(_PermanentApiError):
    """401 Unauthorized or 403 Forbidden."""

    status = 401
    reason = "Unauthorized"


class GoneError(_PermanentApiError):
    """410 Gone / Expired, or ResourceVersionTooLarge: the resourceVersion is outside the server's history."""

    status = 410
    reason = "Expired"


class ConfigError(PermanentError):
    """Settings, a kubeconfig or a KubeFedCluster cannot be used."""


class MessageTooLargeError(PermanentError):
    """A message is larger than the NATS server accepts (``max_payload``)."""
