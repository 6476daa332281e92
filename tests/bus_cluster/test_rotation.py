"""Rotating a service's NATS password without downtime, as docs/security.md describes it.

Covers the three steps against a real nats-server running the shipped ``auth.conf`` and
``permissions.conf``, while the propagator's user publishes status reports without pause: (1) a
second user with the same permissions is added and the server reloads its configuration (SIGHUP, as a
changed ConfigMap does); (2) the service rolls onto the new user and password, keeping its inbox prefix;
(3) the old user is removed and the server reloads again. Not one publish fails or is lost, the new
connection never reconnects, and the old password is refused afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
from pathlib import Path

import pytest

from kubefed.natsd import NatsServer
from shared import subjects
from shared.bus import Bus, BusSettings, Publisher
from shared.errors import BusError
from shared.messages import StatusReport
from tests.support.bus_plane import AUTH_DIR, password, password_env, user_settings

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]  # a nats-server reloaded by the test

OLD = "kubefed-propagator"
NEW = "kubefed-propagator-2"
OLD_LINE = (
    "{ user: kubefed-propagator, password: $KUBEFED_NATS_PASSWORD_PROPAGATOR, "
    "permissions: $KUBEFED_PROPAGATOR_PERMISSIONS }"
)
NEW_LINE = (
    "{ user: kubefed-propagator-2, password: $KUBEFED_NATS_PASSWORD_PROPAGATOR_2, "
    "permissions: $KUBEFED_PROPAGATOR_PERMISSIONS }"
)


class Reporter:
    """A propagator's status reports, one awaited publish after another, on its own connection."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.stored = 0
        self.failed: list[BaseException] = []
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        publisher = Publisher(self.bus)
        while not self.stop.is_set():
            try:
                await publisher.publish(
                    subjects.status_subject("cluster1"),
                    StatusReport(cluster="cluster1", outcomes=[]),
                    stream=subjects.STREAM_STATUS,
                )
                self.stored += 1
            except BusError as exc:
                self.failed.append(exc)
            await asyncio.sleep(0.02)

    async def finish(self) -> None:
        self.stop.set()
        await self.task


def _reloads(server: NatsServer) -> int:
    return Path(server.log_file).read_text().count("Reloaded server configuration")


def _reload(server: NatsServer, auth: Path, text: str) -> int:
    """Write the new ``auth.conf`` and signal a reload; returns the reloads logged before."""
    before = _reloads(server)
    auth.write_text(text)
    server.signal(signal.SIGHUP)
    return before


async def _reloaded(server: NatsServer, before: int) -> None:
    for _ in range(100):
        if _reloads(server) > before:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("nats-server did not reload its configuration")


async def test_a_nats_password_is_rotated_while_the_service_publishes() -> None:
    env = {**password_env(), "KUBEFED_NATS_PASSWORD_PROPAGATOR_2": password(NEW)}
    server = NatsServer(config="include auth.conf\n", env=env)
    auth = Path(server.store_dir) / "auth.conf"
    shutil.copy(AUTH_DIR / "auth.conf", auth)
    shutil.copy(AUTH_DIR / "permissions.conf", Path(server.store_dir) / "permissions.conf")
    shipped = auth.read_text()
    assert OLD_LINE in shipped
    server.start()
    buses: list[Bus] = []
    try:
        scheduler = await Bus.connect(user_settings(server.url, "kubefed-scheduler"))
        buses.append(scheduler)
        await scheduler.ensure_topology()
        old = await Bus.connect(user_settings(server.url, OLD))
        buses.append(old)
        old_reports = Reporter(old)
        await asyncio.sleep(0.3)

        # 1. a second user with the same permissions; the servers reload
        await _reloaded(
            server, _reload(server, auth, shipped.replace(OLD_LINE, f"{OLD_LINE}\n    {NEW_LINE}"))
        )
        await asyncio.sleep(0.3)

        # 2. the service rolls onto the new user, keeping the inbox its permissions name
        new = await Bus.connect(
            BusSettings(url=server.url, user=NEW, password=password(NEW), inbox_prefix=f"_INBOX.{OLD}")
        )
        buses.append(new)
        new_reports = Reporter(new)
        await asyncio.sleep(0.3)
        await old_reports.finish()
        await old.close()

        # 3. the old user goes; the servers reload again
        await _reloaded(server, _reload(server, auth, shipped.replace(OLD_LINE, NEW_LINE)))
        await asyncio.sleep(0.5)
        await new_reports.finish()

        assert old_reports.failed == [] and new_reports.failed == []
        assert old_reports.stored > 5 and new_reports.stored > 5
        info = await scheduler.js.stream_info(subjects.STREAM_STATUS)
        assert info.state.messages == old_reports.stored + new_reports.stored
        assert new.nc.stats["reconnects"] == 0
        with pytest.raises(BusError, match="refused"):
            await Bus.connect(user_settings(server.url, OLD))
    finally:
        for bus in buses:
            with contextlib.suppress(Exception):
                await bus.close()
        server.close()
