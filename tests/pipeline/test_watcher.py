"""The watcher's restart safety.

Covers: a federated object that vanished while the watcher was down, with the watch history expired
(410 Gone on resume), is removed from the members after the watcher relists, and the relist decides
every object once (not again for the relist, nor for its FederatedNamespace announced unchanged); a
converged object's host status is not rewritten (its resourceVersion stays put while nothing changes);
a checkpoint the server's history does not reach (ResourceVersionTooLarge, a host restored from a
backup) means relist, like 410; a change whose publish failed (refused at once, or never acknowledged
by JetStream) is published again and reaches the members: nothing counts as seen before JetStream
stored it.
"""

from __future__ import annotations

import json

import pytest
import yaml

from shared import subjects
from shared.bus import Publisher
from shared.errors import BusError
from shared.messages import Message
from shared.subjects import kv_key
from shared.telemetry import metrics
from tests.support.plane import (
    ControlPlane,
    bus_client,
    cluster_status,
    eventually,
    fed_configmap,
    host_change_seq,
    scheduler_handled,
)

pytestmark = pytest.mark.timeout(120)


async def _delete_while_watcher_down(cp: ControlPlane, name: str) -> None:
    """Stop the watcher, delete FederatedConfigMap ``name`` past our finalizer, expire the host's watch
    history (the watcher's resume then gets 410 Gone and relists)."""
    await cp.stop("watcher")
    await cp.akubectl(
        "patch",
        "federatedconfigmap",
        name,
        "-n",
        "fed",
        "--type=merge",
        "-p",
        '{"metadata":{"finalizers":null}}',
    )
    await cp.akubectl("delete", "federatedconfigmap", name, "-n", "fed")
    assert cp.host_object("types.kubefed.io", "federatedconfigmaps", "fed", name) is None
    cp.fleet["host"].compact_history()


async def test_vanished_while_down_and_history_expired_is_removed(running: ControlPlane) -> None:
    cp = running
    await cp.akubectl(
        "apply", "-f", "-", input=yaml.safe_dump_all([fed_configmap("gone"), fed_configmap("stays")])
    )
    await eventually(
        lambda: (
            cp.member_object("cluster1", "", "configmaps", "fed", "gone")
            and cp.member_object("cluster1", "", "configmaps", "fed", "stays")
        )
    )
    await _delete_while_watcher_down(cp, "gone")
    cp.start("watcher", "watcher")
    await eventually(
        lambda: cp.member_object("cluster1", "", "configmaps", "fed", "gone") is None, timeout=30
    )
    await eventually(lambda: cp.member_object("cluster2", "", "configmaps", "fed", "gone") is None)
    assert cp.member_object("cluster1", "", "configmaps", "fed", "stays") is not None


def _scheduler_sample(metric: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(metric, labels) or 0.0


async def test_a_relist_decides_each_object_once(running: ControlPlane) -> None:
    """The watcher's relist announces every object (each is re-decided as its change arrives) and that it
    relisted (only decided objects no longer on the host are re-decided for that): an object is not
    decided twice, nor again because its FederatedNamespace was announced unchanged."""
    cp = running
    kept = [f"kept-{i}" for i in range(5)]
    await cp.akubectl(
        "apply", "-f", "-", input=yaml.safe_dump_all([fed_configmap(n) for n in [*kept, "vanishing"]])
    )
    await eventually(
        lambda: all(
            cp.member_object(c, "", "configmaps", "fed", n)
            for c in ("cluster1", "cluster2")
            for n in [*kept, "vanishing"]
        ),
        timeout=30,
    )
    await _delete_while_watcher_down(cp, "vanishing")

    def idle() -> bool:
        return (
            _scheduler_sample("workqueue_depth", name="scheduler-decisions", controller="scheduler") == 0
            and _scheduler_sample("controller_runtime_active_workers", controller="scheduler") == 0
        )

    await eventually(idle)
    decided = _scheduler_sample(
        "controller_runtime_reconcile_total", controller="scheduler", result="success"
    )
    cp.start("watcher", "watcher")
    for cluster in ("cluster1", "cluster2"):
        await eventually(
            lambda c=cluster: cp.member_object(c, "", "configmaps", "fed", "vanishing") is None, timeout=30
        )
    async with bus_client(cp) as bus:
        last = (await bus.js.stream_info(subjects.STREAM_HOST)).state.last_seq
        await eventually(lambda: scheduler_handled(bus, last))
    await eventually(idle)
    again = (
        _scheduler_sample("controller_runtime_reconcile_total", controller="scheduler", result="success")
        - decided
    )
    # each kept object once (its change), the FederatedNamespace once, the vanished object once
    assert again <= len(kept) + 2, again
    assert all(cp.member_object("cluster1", "", "configmaps", "fed", n) for n in kept)


async def test_converged_status_is_not_rewritten(running: ControlPlane) -> None:
    cp = running
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(fed_configmap("quiet")))

    def settled() -> str | None:
        obj = cp.host_object("types.kubefed.io", "federatedconfigmaps", "fed", "quiet") or {}
        clusters = (obj.get("status") or {}).get("clusters") or []
        return obj["metadata"]["resourceVersion"] if len(clusters) == 2 else None

    rv = await eventually(settled)
    # a marker changed after ``quiet`` settled: once its status is written, a rewrite of ``quiet``
    # (from the watcher republishing our own status write, or a late outcome) would have happened
    async with bus_client(cp) as bus:
        await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(fed_configmap("quiet-marker")))
        await eventually(
            lambda: (
                cluster_status(cp, "federatedconfigmaps", "fed", "quiet-marker")
                == {"cluster1": "", "cluster2": ""}
            )
        )
        # and the scheduler has acknowledged every host change up to the marker's (ours included)
        marker = await host_change_seq(bus, "federatedconfigmaps.types.kubefed.io", "fed", "quiet-marker")
        await eventually(lambda: scheduler_handled(bus, marker))
    assert (
        cp.host_object("types.kubefed.io", "federatedconfigmaps", "fed", "quiet")["metadata"][
            "resourceVersion"
        ]
        == rv
    )


def test_status_only_changes_of_our_own_writes_are_not_published() -> None:
    """The watcher's fingerprint ignores what the control plane writes itself (pure)."""
    from services.watcher._resources import change_fingerprint
    from shared.k8s import KUBEFED_CLUSTERS, Resource

    fed = Resource("types.kubefed.io", "v1beta1", "federatedconfigmaps", kind="FederatedConfigMap")
    obj = {
        "metadata": {"name": "a", "resourceVersion": "1", "labels": {"x": "1"}},
        "spec": {"template": {}},
        "status": {"clusters": []},
    }
    status_written = {
        **obj,
        "metadata": {**obj["metadata"], "resourceVersion": "2"},
        "status": {"clusters": [{"name": "c1"}]},
    }
    relabelled = {**obj, "metadata": {**obj["metadata"], "labels": {"x": "2"}}}
    assert change_fingerprint(fed, obj) == change_fingerprint(fed, status_written)
    assert change_fingerprint(fed, obj) != change_fingerprint(fed, relabelled)
    kfc = {
        "metadata": {"name": "c1"},
        "spec": {},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }
    not_ready = {**kfc, "status": {"conditions": [{"type": "Ready", "status": "False"}]}}
    assert change_fingerprint(KUBEFED_CLUSTERS, kfc) != change_fingerprint(KUBEFED_CLUSTERS, not_ready)


def test_resource_version_too_large_means_relist() -> None:
    """kube-apiserver's answer to a watch from a resourceVersion it does not have yet (pure)."""
    import json

    from shared.errors import GoneError
    from shared.k8s._client import _status_error

    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "code": 504,
        "reason": "Timeout",
        "message": "Timeout: Too large resource version: 1000, current: 500",
        "details": {
            "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
            "retryAfterSeconds": 1,
        },
    }
    assert isinstance(_status_error(504, json.dumps(body), "watch"), GoneError)
    body["details"] = {"retryAfterSeconds": 1}
    assert not isinstance(_status_error(504, json.dumps(body), "watch"), GoneError)


class _FailsOnce(Publisher):
    """The watcher's publisher, failing the first publish of one subject like a lost connection
    (``send`` refused) or a lost ack (``flush`` reports a message that was never stored)."""

    subject = ""
    mode = ""
    failed = False

    async def send(self, subject: str, message: Message, *, msg_id: str = "", stream: str = "") -> None:
        if subject == _FailsOnce.subject and not _FailsOnce.failed:
            _FailsOnce.failed = True
            if _FailsOnce.mode == "send":
                raise BusError(f"publish to {subject} failed: injected")
            self._lost = True  # handed over, never stored: flush must say so
            return
        await super().send(subject, message, msg_id=msg_id, stream=stream)

    async def flush(self, timeout: float = 30.0) -> None:
        await super().flush(timeout)
        if getattr(self, "_lost", False):
            self._lost = False
            raise BusError("publish not stored: injected")


@pytest.mark.parametrize("mode", ["send", "ack"])
async def test_a_change_whose_publish_failed_is_published_again(
    running: ControlPlane, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cp = running
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(fed_configmap("before")))
    await eventually(lambda: cp.member_object("cluster1", "", "configmaps", "fed", "before"))
    monkeypatch.setattr(
        _FailsOnce, "subject", subjects.host_subject("federatedconfigmaps.types.kubefed.io", "fed", "flaky")
    )
    monkeypatch.setattr(_FailsOnce, "mode", mode)
    monkeypatch.setattr(_FailsOnce, "failed", False)
    # the running watcher's loops made their publishers already: a new leader makes new ones
    monkeypatch.setattr("services.watcher._publishing.Publisher", _FailsOnce)
    await cp.stop("watcher")
    cp.start("watcher", "watcher")
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(fed_configmap("flaky")))
    await eventually(lambda: _FailsOnce.failed, timeout=30)
    await eventually(lambda: cp.member_object("cluster1", "", "configmaps", "fed", "flaky"), timeout=30)
    await eventually(lambda: cp.member_object("cluster2", "", "configmaps", "fed", "flaky"))


async def test_the_checkpoint_reaches_the_last_event_of_a_burst_without_a_further_event(
    running: ControlPlane,
) -> None:
    """The watcher saves its checkpoint at most once a second while events come; the last events of a
    burst (here the status writes that follow it) must still be checkpointed once the watch is quiet,
    not only at the next bookmark a minute later: a restart would resume from before them, and a short
    watch history may no longer hold that point (410 Gone, a relist, every object decided again)."""
    cp = running
    names = [f"burst-{i}" for i in range(8)]
    burst = {"apiVersion": "v1", "kind": "List", "items": [fed_configmap(n) for n in names]}
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(burst))
    for n in names:
        await eventually(
            lambda n=n: (
                cluster_status(cp, "federatedconfigmaps", "fed", n) == {"cluster1": "", "cluster2": ""}
            )
        )

    def newest_event() -> int:
        # the newest event of the watched type: the highest resourceVersion of its objects (none deleted)
        return max(
            int(o["metadata"]["resourceVersion"])
            for o in cp.fleet["host"].list_objects("types.kubefed.io", "federatedconfigmaps", "fed")
        )

    async with bus_client(cp) as bus:

        async def checkpointed() -> tuple[int, int] | None:
            raw = await bus.kv_get("kubefed-checkpoints", kv_key("federatedconfigmaps.types.kubefed.io."))
            saved = int(json.loads(raw)["rv"]) if raw else 0
            newest = newest_event()
            return (saved, newest) if saved >= newest else None

        # the status is written (the burst's last events) well within a second; no further event comes
        await eventually(checkpointed, timeout=10)
