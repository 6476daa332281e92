"""Connecting to NATS and declaring the JetStream topology idempotently.

Connections reconnect forever (``max_reconnect_attempts=-1``): a restarted nats-server must never take
a service down. Credentials are whatever the operator configured: token, user/password, an nkey seed
file, a ``.creds`` file, and TLS with an optional client certificate. Shutdown drains the connection
(``nc.drain()``): subscriptions stop taking messages, in-flight acks and publishes are flushed.

Stream declarations live in :data:`STREAM_CONFIGS` (one place, documented in docs/architecture.md):
``add_stream`` is idempotent for an identical config, and an existing stream with a different config
is updated in place. Under least-privilege NATS users (docs/security.md) only the scheduler may create
or change streams (a user who may define a stream could source ``KUBEFED_SECRETS`` into it): every
other service declares nothing, waits until the streams it can see exist and skips the ones it may not
see (:meth:`Bus.ensure_topology`).

**Regions (leaf nodes).** A region's propagators connect to a nats-server in their region that is a
leaf node of the hub with its own JetStream domain (``hub_domain`` names the hub's). There
:meth:`Bus.ensure_topology` declares ``KUBEFED_DESIRED`` and ``KUBEFED_SECRETS`` as mirrors of the hub's
streams (``$JS.<hub>.API``) and local ``KUBEFED_STATUS`` / ``HEALTH`` / ``MEMBER`` streams; the hub's
report streams *source* each region's (``regions`` lists their domains). A cut link stalls the mirror
and the sources, nothing else: propagators keep the decisions they hold (and replay them from the
local mirror after a restart), their reports wait in the regional streams and are copied to the hub
when the link returns. The leaf's remote must deny exporting ``kubefed.status.>``, ``kubefed.health.>``
and ``kubefed.member.>`` to the hub, so reports reach the hub only through the sources (once).

Each connection uses its own inbox prefix, ``_INBOX.<user>`` (``_INBOX.<connection name>`` without a
user name, or ``inbox_prefix``): replies and pull-consumer deliveries go to inboxes, so a user allowed
to subscribe to ``_INBOX.>`` would read every other service's messages, Secrets included.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import re
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATSClient
from nats.js import JetStreamContext
from nats.js.api import (
    DiscardPolicy,
    ExternalStream,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    StreamSource,
)

from shared import subjects
from shared.bus._denials import Denials, PermissionDeniedError
from shared.errors import BusError
from shared.telemetry import get_logger

__all__ = ["STREAM_CONFIGS", "Bus", "BusSettings"]

log = get_logger(__name__)

T = TypeVar("T")


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
    inbox_prefix: str | None = None
    ping_interval: int = 5  # a server that stops answering (frozen, partitioned) is left after ~3 pings
    hub_domain: str | None = None  # connected to a regional leaf node; the hub's JetStream domain
    regions: tuple[str, ...] = ()  # on the hub: JetStream domains of the regional leaf nodes
    history_depth: int = 20  # decisions kept per object in KUBEFED_HISTORY
    history_max_age: float = 7 * 24 * 3600.0  # seconds a history entry is kept (0: no limit)

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
    _StreamSpec(subjects.STREAM_HISTORY, last_per_subject=False),  # depth and age from BusSettings
)


# what a regional leaf node holds: the hub's decisions (mirrored) and its propagators' reports (sourced
# into the hub's streams of the same names)
READ_RETRY_BUDGET = 20.0  # seconds an idempotent read is retried through a leader election
DECLARE_PATIENCE = 60.0  # seconds a stream declaration is retried while JetStream is not ready
REGIONAL_MIRRORS = (subjects.STREAM_DESIRED, subjects.STREAM_SECRETS)
REGIONAL_REPORT_STREAMS = (subjects.STREAM_STATUS, subjects.STREAM_HEALTH, subjects.STREAM_MEMBER)


def _tls_context(s: BusSettings) -> ssl.SSLContext | None:
    if not (s.tls_ca_file or s.tls_cert_file or s.url.startswith("tls://")):
        return None
    ctx = ssl.create_default_context(cafile=s.tls_ca_file)
    if s.tls_cert_file:
        ctx.load_cert_chain(s.tls_cert_file, s.tls_key_file)
    return ctx


def inbox_prefix(s: BusSettings) -> str:
    """The connection's inbox prefix: ``inbox_prefix``, else ``_INBOX.<user>``, else ``_INBOX.<name>``."""
    if s.inbox_prefix:
        return s.inbox_prefix
    return "_INBOX." + re.sub(r"[^A-Za-z0-9_-]", "_", s.user or s.name or "kubefed")


class Bus:
    """A connected NATS client with its JetStream context."""

    def __init__(self, nc: NATSClient, settings: BusSettings, denials: Denials | None = None) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream(publish_async_max_pending=settings.max_in_flight)
        self.settings = settings
        self.denials = denials or Denials()

    @classmethod
    async def connect(cls, settings: BusSettings, *, connect_timeout: float = 5.0) -> Bus:
        """Connect (retrying the first connection too, the server may start later) and return the bus.

        Credentials the server refuses end the first connection attempt with :class:`BusError` (the
        process exits and the operator sees why) instead of retrying them forever.
        """
        denials = Denials()
        refused: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        async def on_error(exc: Exception) -> None:
            if not refused.done() and "authorization violation" in str(exc).lower():
                refused.set_result(str(exc))
            await _on_error(denials, exc)

        options: dict[str, Any] = {
            "servers": [u.strip() for u in settings.url.split(",")],
            "name": settings.name,
            "connect_timeout": connect_timeout,
            "reconnect_time_wait": 0.5,
            "ping_interval": settings.ping_interval,
            "max_outstanding_pings": 2,
            "max_reconnect_attempts": -1,
            "drain_timeout": 5,
            "allow_reconnect": True,
            "error_cb": on_error,
            "inbox_prefix": inbox_prefix(settings),
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
        nc = NATSClient()
        connecting = asyncio.ensure_future(nc.connect(**options))
        try:
            either: set[asyncio.Future[Any]] = {connecting, refused}
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if not connecting.done():
                connecting.cancel()
                await nc.close()
                raise BusError(
                    f"NATS at {settings.url} refused the credentials of {settings.user or settings.name}: "
                    f"{refused.result()}"
                )
            connecting.result()
        except (nats.errors.Error, OSError) as exc:
            raise BusError(f"cannot connect to NATS at {settings.url}: {exc}") from exc
        finally:
            if not connecting.done():
                connecting.cancel()
        return cls(nc, settings, denials)

    async def guard(self, subject: str, awaitable: Awaitable[T]) -> T:
        """Await a request on ``subject``; :class:`PermissionDeniedError` as soon as the server denies it."""
        return await self.denials.guard(subject, awaitable)

    @property
    def connected(self) -> bool:
        return bool(self.nc.is_connected)

    @property
    def max_payload(self) -> int:
        return int(self.nc.max_payload or 1024 * 1024)

    async def ensure_topology(self) -> None:
        """Create or update every stream and KV bucket the services use, as far as this user may.

        A stream this user may not create is someone else's to declare: wait until it exists if the
        user may see it (``STREAM.INFO``), skip it otherwise (it is none of this service's business).
        """
        if self.settings.hub_domain:
            await self._ensure_regional_topology(self.settings.hub_domain)
            return
        for spec in STREAM_CONFIGS:
            cfg = StreamConfig(
                name=spec.name,
                subjects=list(subjects.STREAM_SUBJECTS[spec.name]),
                retention=RetentionPolicy.LIMITS,
                storage=StorageType.FILE,
                discard=DiscardPolicy.OLD,
                **{
                    "max_msgs_per_subject": 1 if spec.last_per_subject else -1,
                    "max_age": spec.max_age or None,
                    **self._history_limits(spec.name),
                },
                duplicate_window=120.0,
                num_replicas=self.settings.stream_replicas,
                sources=self._region_sources(spec.name) or None,
                **spec.extra,
            )
            await self._declare(
                spec.name,
                functools.partial(self.js.add_stream, cfg),
                functools.partial(self._update_keeping_sources, cfg),
            )
        for bucket in (subjects.BUCKET_LEASES, subjects.BUCKET_CHECKPOINTS):
            create = functools.partial(
                self.js.create_key_value, bucket=bucket, history=1, replicas=self.settings.stream_replicas
            )
            await self._declare(f"KV_{bucket}", create, functools.partial(self._drop_bucket_ttl, bucket))

    def _region_sources(self, stream: str) -> list[StreamSource]:
        if stream not in REGIONAL_REPORT_STREAMS:
            return []
        return [
            StreamSource(name=stream, external=ExternalStream(api=f"$JS.{r}.API"))
            for r in self.settings.regions
        ]

    async def _update_keeping_sources(self, cfg: StreamConfig) -> None:
        """Update a stream; sources another service (with other ``regions``) added stay."""
        info = await self.js.stream_info(cfg.name or "")
        ours = {(s.name, s.external.api if s.external else None) for s in cfg.sources or []}
        kept = [
            s
            for s in info.config.sources or []
            if (s.name, s.external.api if s.external else None) not in ours
        ]
        if kept or cfg.sources:
            cfg = dataclasses.replace(cfg, sources=[*(cfg.sources or []), *kept])
        await self.js.update_stream(cfg)

    async def _ensure_regional_topology(self, hub: str) -> None:
        """On a regional leaf node: mirrors of the hub's decision streams and local report streams."""
        for spec in STREAM_CONFIGS:
            common: dict[str, Any] = {
                "name": spec.name,
                "retention": RetentionPolicy.LIMITS,
                "storage": StorageType.FILE,
                "discard": DiscardPolicy.OLD,
                "max_msgs_per_subject": 1 if spec.last_per_subject else -1,
                "max_age": spec.max_age or None,
                "num_replicas": self.settings.stream_replicas,
            }
            if spec.name in REGIONAL_MIRRORS:
                cfg = StreamConfig(
                    **common,
                    mirror=StreamSource(name=spec.name, external=ExternalStream(api=f"$JS.{hub}.API")),
                )
            elif spec.name in REGIONAL_REPORT_STREAMS:
                cfg = StreamConfig(
                    **common, subjects=list(subjects.STREAM_SUBJECTS[spec.name]), duplicate_window=120.0
                )
            else:
                continue
            await self._declare(
                spec.name,
                functools.partial(self.js.add_stream, cfg),
                functools.partial(self.js.update_stream, cfg),
            )

    def _history_limits(self, stream: str) -> dict[str, Any]:
        if stream != subjects.STREAM_HISTORY:
            return {}
        return {
            "max_msgs_per_subject": max(self.settings.history_depth, 1),
            "max_age": self.settings.history_max_age or None,
        }

    async def _declare(
        self, stream: str, create: Callable[[], Awaitable[Any]], update: Callable[[], Awaitable[Any]]
    ) -> None:
        """Create or update one stream; a JetStream that is not ready yet (a cluster electing its meta
        leader, peers catching up: timeouts, 503, "insufficient resources") is retried for a minute."""
        deadline = time.monotonic() + DECLARE_PATIENCE
        while True:
            try:
                try:
                    await self.guard(f"$JS.API.STREAM.CREATE.{stream}", create())
                except nats.js.errors.BadRequestError:  # exists with another configuration
                    await self.guard(f"$JS.API.STREAM.UPDATE.{stream}", update())
                return
            except PermissionDeniedError:
                await self._await_stream(stream)
                return
            except (nats.errors.Error, TimeoutError) as exc:
                if isinstance(exc, nats.js.errors.BadRequestError) or time.monotonic() > deadline:
                    raise BusError(f"cannot declare stream {stream}: {exc}") from exc
                log.info(
                    "Declaring stream failed, retrying", stream=stream, err=str(exc) or type(exc).__name__
                )
                await asyncio.sleep(1.0)

    async def _await_stream(self, stream: str) -> None:
        """Wait until another service has declared ``stream``; return at once if we may not see it."""
        logged = 0.0
        while True:
            try:
                await self.guard(f"$JS.API.STREAM.INFO.{stream}", self.js.stream_info(stream))
                return
            except PermissionDeniedError:
                log.debug("Skipped stream this user may not see", stream=stream)
                return
            except nats.js.errors.NotFoundError:
                if time.monotonic() - logged > 10.0:
                    log.info("Waiting for stream declared by another service", stream=stream)
                    logged = time.monotonic()
            except (nats.errors.Error, TimeoutError) as exc:
                log.info("Reading stream info failed, retrying", stream=stream, err=str(exc))
            await asyncio.sleep(0.5)

    async def _drop_bucket_ttl(self, bucket: str) -> None:
        """Buckets made by earlier versions may carry a TTL (leases had 6 s); expiry is now in the value."""
        try:
            info = await self.js.stream_info(f"KV_{bucket}")
            if info.config.max_age:
                await self.guard(
                    f"$JS.API.STREAM.UPDATE.KV_{bucket}",
                    self.js.update_stream(dataclasses.replace(info.config, max_age=0.0)),
                )
        except nats.errors.Error as exc:
            raise BusError(f"cannot update bucket {bucket}: {exc}") from exc

    async def retrying(self, op: Callable[[], Awaitable[T]], *, budget: float = READ_RETRY_BUDGET) -> T:
        """Run an idempotent request (a read, a plain KV put), again after a timeout or "no responders"
        while a clustered stream elects a leader, for up to ``budget`` seconds."""
        deadline = time.monotonic() + budget
        delay = 0.25
        while True:
            try:
                return await op()
            except (
                nats.errors.TimeoutError,
                nats.errors.NoRespondersError,
                nats.js.errors.ServiceUnavailableError,
                TimeoutError,
            ):
                if time.monotonic() + delay > deadline:
                    raise
                await asyncio.sleep(delay)
                delay = min(2.0, delay * 2)

    async def get_last(self, stream: str, subject: str) -> tuple[bytes, dict[str, str], int] | None:
        """The last message on ``subject`` (data, headers, sequence) or None."""
        try:
            raw = await self.retrying(lambda: self.js.get_last_msg(stream, subject))
        except nats.js.errors.NotFoundError:
            return None
        except nats.errors.Error as exc:
            raise BusError(f"cannot read {subject}: {exc}") from exc
        return raw.data or b"", dict(raw.headers or {}), int(raw.seq or 0)

    async def get_next(self, stream: str, subject: str, seq: int) -> tuple[bytes, int] | None:
        """The first message on ``subject`` at or after sequence ``seq`` (data, sequence) or None."""
        try:
            raw = await self.retrying(lambda: self.js.get_msg(stream, seq=seq, subject=subject, next=True))
        except nats.js.errors.NotFoundError:
            return None
        except nats.errors.Error as exc:
            raise BusError(f"cannot read {subject} from {seq}: {exc}") from exc
        return raw.data or b"", int(raw.seq or 0)

    async def kv_get(self, bucket: str, key: str) -> bytes | None:
        """Read one KV value (None when missing or deleted)."""

        async def get() -> Any:
            kv = await self.js.key_value(bucket)
            return await kv.get(key)

        try:
            entry = await self.retrying(get)
        except (
            nats.js.errors.KeyNotFoundError,
            nats.js.errors.KeyDeletedError,
            nats.js.errors.NotFoundError,
        ):
            return None
        except nats.errors.Error as exc:
            raise BusError(f"cannot read {bucket}/{key}: {exc}") from exc
        value: bytes | None = entry.value
        return value

    async def kv_put(self, bucket: str, key: str, value: bytes) -> None:
        """Write one KV value."""

        async def put() -> None:
            kv = await self.js.key_value(bucket)
            await kv.put(key, value)

        try:
            await self.retrying(put)
        except nats.errors.Error as exc:
            raise BusError(f"cannot write {bucket}/{key}: {exc}") from exc

    async def subjects_in(self, stream: str, filter_subject: str) -> list[str]:
        """The subjects that currently hold messages in ``stream`` and match ``filter_subject``."""
        try:
            info = await self.retrying(lambda: self.js.stream_info(stream, subjects_filter=filter_subject))
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


async def _on_error(denials: Denials, exc: Exception) -> None:
    if denials.report(str(exc)):
        return  # a denial a caller waits for (and handles)
    log.warning("NATS connection error", err=str(exc))


async def _on_disconnect() -> None:
    log.info("Disconnected from NATS")


async def _on_reconnect() -> None:
    log.info("Reconnected to NATS")
