"""Wiring of the DNS service (the record controllers arrive with the DNS issue).

For now the service connects, declares the topology, replays the member observations the
propagators publish and reports ready once it has caught up.
"""

from __future__ import annotations

from typing import Any

import msgspec

from shared import subjects
from shared.bus import Delivery, Replayer
from shared.runtime import CommonSettings, ServiceContext, guarded_task, run_service, stop_tasks

__all__ = ["DNSSettings", "run_dns"]


class DNSSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The DNS service's settings."""

    common: CommonSettings = CommonSettings()


async def run_dns(settings: DNSSettings, **kw: Any) -> None:
    """Run the DNS service until SIGTERM (or ``stop``)."""

    async def main(ctx: ServiceContext) -> None:
        await ctx.bus.ensure_topology()
        observations: dict[str, object] = {}

        async def on_observation(delivery: Delivery) -> None:
            observations[delivery.subject] = delivery.message

        replay = Replayer(ctx.bus, stream=subjects.STREAM_MEMBER, filter_subject="kubefed.member.>", name="dns-members")
        ctx.readiness.add("replayed", replay.caught_up.is_set)
        task = guarded_task(replay.run(on_observation, ctx.stop), name="dns-replay")
        await ctx.stop.wait()
        await stop_tasks([task], timeout=5)

    await run_service("dns", settings.common, main, **kw)
