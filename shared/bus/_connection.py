"""Connecting to NATS and declaring the JetStream topology idempotently.

Connections reconnect forever (``max_reconnect_attempts=-1``): a restarted nats-server must never take
a service down. Credentials are whatever the operator configured: token, user/password, an nkey seed
file, a ``.creds`` file, and TLS with an optional client certificate. Shutdown drains the connection
(``nc.drain()``): subscriptions stop taking messages, in-flight acks and publishes are flushed.

Stream declarations live in :data:`STREAM_CONFIGS` (one place, documented in docs/architecture.md):
``add_stream`` is idempotent for an identical config, and an existing stream with a different config
is updated in place.
"""

from __future__ import annotations

import dataclasses
import ssl
from dataclasses import dataclass, field
from typing import Any

import msgspec
import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATSClient
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

from shared import subjects
from shared.errors import BusError
from shared.telemetry import get_logger

__all__ = ["STREAM_CONFIGS", "Bus", "BusSettings"]

log = get_logger(__name__)


class BusSettings(msgspec.Struct, frozen=True, kw_only=True):
    """How to reach NATS; built from flags/environment by each service."""

    url: str = "nats://127.0.0.1:4222"
    name: str = "kubefed"
    token: str | None = None
    user: str | None = None
    password: str | None = None
    nkey_seed_file: str | None = None
    creds_file: str | None = None
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    stream_replicas: int = 1
    max_in_flight: int = 512

    def __repr__(self) -> str:  # never print secrets
        return f"BusSettings(url={self.url!r}, name={self.name!r})"


@dataclass(frozen=True)
class _StreamSpec:
    name: str
    last_per_subject: bool
    max_age: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


STREAM_CONFIGS: tuple[_StreamSpec, ...] = (
    _StreamSpec(subjects.STREAM_HOST, last_per_subject=True),
    _StreamSpec(subjects.STREAM_DESIRED, last_per_subject=True),
    _StreamSpec(subjects.STREAM_SECRETS, last_per_subject=True),
    _StreamSpec(subjects.STREAM_STATUS, last_per_subject=False, max_age=3600.0),
    _StreamSpec(subjects.STREAM_HEALTH, last_per_subject=True),
    _StreamSpec(subjects.STREAM_MEMBER, last_per_subject=True),
)


def _tls_context(s: BusSettings) -> ssl.SSLContext | None:
    if not (s.tls_ca_file or s.tls_cert_file or s.url.startswith("tls://")):
        return None
    ctx = ssl.create_default_context(cafile=s.tls_ca_file)
    if s.tls_cert_file:
        ctx.load_cert_chain(s.tls_cert_file, s.tls_key_file)
    return ctx


class Bus:
    """A connected NATS client with its JetStream context."""

    def __init__(self, nc: NATSClient, settings: BusSettings) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream(publish_async_max_pending=settings.max_in_flight)
        self.settings = settings

    @classmethod
    async def connect(cls, settings: BusSettings, *, connect_timeout: float = 5.0) -> Bus:
        """Connect (retrying the first connection too) and return the bus."""
        options: dict[str, Any] = {
            "servers": [u.strip() for u in settings.url.split(",")],
            "name": settings.name,
            "connect_timeout": connect_timeout,
            "reconnect_time_wait": 0.5,
            "max_reconnect_attempts": -1,
            "drain_timeout": 5,
            "allow_reconnect": True,
            "error_cb": _on_error,
            "disconnected_cb": _on_disconnect,
            "reconnected_cb": _on_reconnect,
        }
        if settings.token:
            options["token"] = settings.token
        if settings.user:
            options["user"] = settings.user
            options["password"] = settings.password
        if settings.nkey_seed_file:
            options["nkeys_seed"] = settings.nkey_seed_file
        if settings.creds_file:
            options["user_credentials"] = settings.creds_file
        tls = _tls_context(settings)
        if tls is not None:
            options["tls"] = tls
        try:
            nc = await nats.connect(**options)
        except (nats.errors.Error, OSError) as exc:
            raise BusError(f"cannot connect to NATS at {settings.url}: {exc}") from exc
        return cls(nc, settings)

    @property
    def connected(self) -> bool:
        return bool(self.nc.is_connected)

    @property
    def max_payload(self) -> int:
        return int(self.nc.max_payload or 1024 * 1024)

    async def ensure_topology(self) -> None:
        """Create or update every stream and KV bucket the services use."""
        for spec in STREAM_CONFIGS:
            cfg = StreamConfig(
                name=spec.name,
                subjects=list(subjects.STREAM_SUBJECTS[spec.name]),
                retention=RetentionPolicy.LIMITS,
                storage=StorageType.FILE,
                discard=DiscardPolicy.OLD,
                max_msgs_per_subject=1 if spec.last_per_subject else -1,
                max_age=spec.max_age or None,
                duplicate_window=120.0,
                num_replicas=self.settings.stream_replicas,
                **spec.extra,
            )
            try:
                await self.js.add_stream(cfg)
            except nats.js.errors.BadRequestError:
                await self.js.update_stream(cfg)
            except nats.errors.Error as exc:
                raise BusError(f"cannot declare stream {spec.name}: {exc}") from exc
        for bucket in (subjects.BUCKET_LEASES, subjects.BUCKET_CHECKPOINTS):
            try:
                await self.js.create_key_value(bucket=bucket, history=1, replicas=self.settings.stream_replicas)
            except nats.js.errors.BadRequestError:
                await self._drop_bucket_ttl(bucket)
            except nats.errors.Error as exc:
                raise BusError(f"cannot declare bucket {bucket}: {exc}") from exc

    async def _drop_bucket_ttl(self, bucket: str) -> None:
        """Buckets made by earlier versions may carry a TTL (leases had 6 s); expiry is now in the value."""
        try:
            info = await self.js.stream_info(f"KV_{bucket}")
            if info.config.max_age:
                await self.js.update_stream(dataclasses.replace(info.config, max_age=0.0))
        except nats.errors.Error as exc:
            raise BusError(f"cannot update bucket {bucket}: {exc}") from exc

    async def get_last(self, stream: str, subject: str) -> tuple[bytes, dict[str, str], int] | None:
        """The last message on ``subject`` (data, headers, sequence) or None."""
        try:
            raw = await self.js.get_last_msg(stream, subject)
        except nats.js.errors.NotFoundError:
            return None
        except nats.errors.Error as exc:
            raise BusError(f"cannot read {subject}: {exc}") from exc
        return raw.data or b"", dict(raw.headers or {}), int(raw.seq or 0)

    async def kv_get(self, bucket: str, key: str) -> bytes | None:
        """Read one KV value (None when missing or deleted)."""
        try:
            kv = await self.js.key_value(bucket)
            entry = await kv.get(key)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError, nats.js.errors.NotFoundError):
            return None
        except nats.errors.Error as exc:
            raise BusError(f"cannot read {bucket}/{key}: {exc}") from exc
        return entry.value

    async def kv_put(self, bucket: str, key: str, value: bytes) -> None:
        """Write one KV value."""
        try:
            kv = await self.js.key_value(bucket)
            await kv.put(key, value)
        except nats.errors.Error as exc:
            raise BusError(f"cannot write {bucket}/{key}: {exc}") from exc

    async def subjects_in(self, stream: str, filter_subject: str) -> list[str]:
        """The subjects that currently hold messages in ``stream`` and match ``filter_subject``."""
        try:
            info = await self.js.stream_info(stream, subjects_filter=filter_subject)
        except nats.errors.Error as exc:
            raise BusError(f"cannot list subjects of {stream}: {exc}") from exc
        return list(info.state.subjects or {})

    async def purge_subject(self, stream: str, subject: str, *, through_seq: int = 0) -> None:
        """Remove the messages of one subject (a decision that is no longer needed); with
        ``through_seq`` only those up to that sequence, so a message published since survives."""
        try:
            await self.js.purge_stream(stream, subject=subject, seq=through_seq + 1 if through_seq else None)
        except nats.errors.Error as exc:
            raise BusError(f"cannot purge {subject}: {exc}") from exc

    async def pending(self, stream: str, durable: str) -> int:
        """Messages not yet delivered to a durable consumer (the backlog)."""
        try:
            info = await self.js.consumer_info(stream, durable)
        except nats.errors.Error:
            return 0
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    async def close(self) -> None:
        """Drain and close; safe to call twice."""
        if self.nc.is_closed:
            return
        try:
            await self.nc.drain()
        except (nats.errors.Error, OSError):
            await self.nc.close()


async def _on_error(exc: Exception) -> None:
    log.warning("NATS connection error", err=str(exc))


async def _on_disconnect() -> None:
    log.info("Disconnected from NATS")


async def _on_reconnect() -> None:
    log.info("Reconnected to NATS")
