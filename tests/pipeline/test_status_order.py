"""Host status stays true when status reports arrive out of order.

Covers: a member answers 500 to an update, the propagator reports ``UpdateFailed`` and, once the
member answers again, the successful retry; the report of the failure is redelivered (its first
handling failed, as when a scheduler replica is killed, its ack is lost, or a host write fails) only
after the report of the success was written. The redelivered failure must not overwrite the newer
success: the member holds the object, so its host status says OK (the chaos soak found a status left
``UpdateFailed`` for good this way).
"""

from __future__ import annotations

import asyncio

import pytest
import yaml

from services.scheduler._status_writer import StatusWriter
from shared.bus import Delivery
from shared.errors import TemporaryError
from shared.messages import StatusReport
from shared.planning import UPDATE_FAILED
from tests.support.plane import ControlPlane, cluster_status, eventually, fed_configmap

pytestmark = pytest.mark.timeout(120)

CM_WRITES = "/api/v1/namespaces/fed/configmaps"


def _names_failure(delivery: Delivery, name: str, cluster: str) -> bool:
    report = delivery.message
    return isinstance(report, StatusReport) and any(
        o.key.name == name and o.cluster == cluster and o.status == UPDATE_FAILED for o in report.outcomes
    )


async def test_a_redelivered_failure_does_not_overwrite_a_newer_success(
    running: ControlPlane, monkeypatch: pytest.MonkeyPatch
) -> None:
    cp = running
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(fed_configmap("flaky", data={"v": "1"})))
    await eventually(
        lambda: cluster_status(cp, "federatedconfigmaps", "fed", "flaky") == {"cluster1": "", "cluster2": ""}
    )

    held: list[Delivery] = []  # the failure report whose first handling fails
    redelivered = asyncio.Event()  # ... and its redelivery, handled
    handle_status = StatusWriter.handle_status

    async def first_handling_fails(self: StatusWriter, delivery: Delivery) -> None:
        if _names_failure(delivery, "flaky", "cluster2"):
            if not held:
                held.append(delivery)
                raise TemporaryError("host unavailable (injected)", delay=3.0)  # nak: redelivered in 3 s
            if delivery.stream_seq == held[0].stream_seq:
                await handle_status(self, delivery)
                redelivered.set()
                return
        await handle_status(self, delivery)

    monkeypatch.setattr(StatusWriter, "handle_status", first_handling_fails)
    await cp.stop("scheduler")
    cp.start("scheduler", "scheduler")

    cp.fleet["cluster2"].set_error_rate(1.0, 500, path_prefix=CM_WRITES)
    await cp.akubectl(
        "patch",
        "federatedconfigmap",
        "flaky",
        "-n",
        "fed",
        "--type=merge",
        "-p",
        '{"spec":{"template":{"data":{"v":"2"}}}}',
    )
    await eventually(lambda: held, timeout=20)  # the propagator reported UpdateFailed for cluster2
    cp.fleet["cluster2"].set_error_rate(0.0)
    await eventually(
        lambda: (
            (cp.member_object("cluster2", "", "configmaps", "fed", "flaky") or {}).get("data") == {"v": "2"}
        )
    )
    await eventually(redelivered.is_set, timeout=30)  # the old failure report was handled again
    assert (cp.member_object("cluster2", "", "configmaps", "fed", "flaky") or {}).get("data") == {"v": "2"}
    ok = {"cluster1": "", "cluster2": ""}
    try:
        await eventually(lambda: cluster_status(cp, "federatedconfigmaps", "fed", "flaky") == ok)
    except AssertionError:
        raise AssertionError(
            f"status.clusters {cluster_status(cp, 'federatedconfigmaps', 'fed', 'flaky')} != {ok}"
        ) from None
    # the status writer is idle and every report was handled: the status stays as the members are
    await asyncio.sleep(1.0)
    assert cluster_status(cp, "federatedconfigmaps", "fed", "flaky") == ok
