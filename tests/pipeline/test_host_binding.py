"""Bus state belongs to one host cluster (issue #11, defect 1).

Covers: a federation run against one simulated fleet, stopped, and the same NATS store reused (server
restarted on it) with a brand-new fleet whose host gets the same names again: the recreated
FederatedNamespace and FederatedConfigMap get the finalizer, status and their member objects, a
placement change reaches the new members, an object only the old host had is not propagated, its
decision is discarded and a ``HostClusterChanged`` Event on the KubeFedConfig says so; a new host
cluster serving the same members: an object only the old host had stays in the members, and the objects
the new host has again are re-verified without member writes; the binding refuses only state naming
another host (state naming none, or any state with the binding off, is accepted) and reports each
foreign identity once; on one host, an
object deleted and created again under the same name (new UID) while the scheduler was down is handled
as a new object (finalizer, status); ``kubefed up`` keeps its embedded store in a per-user state folder
(not the current directory), prints it, and ``--fresh`` empties it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from shared import subjects
from shared.bus import Bus, BusSettings
from shared.planning import SYNC_FINALIZER
from sim import run_fleet
from tests.support.plane import (
    NS,
    ControlPlane,
    cluster_status,
    eventually,
    fed_configmap,
    propagation_reason,
)

pytestmark = pytest.mark.timeout(150)

FAST_HEALTH = {
    "clusterHealthCheck": {"period": "1s"},
    "controllerDuration": {"availableDelay": "1s", "unavailableDelay": "1s"},
}


def fed_namespace() -> list[dict[str, Any]]:
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "fed"}},
        {
            "apiVersion": "types.kubefed.io/v1beta1",
            "kind": "FederatedNamespace",
            "metadata": {"name": "fed", "namespace": "fed"},
            "spec": {"placement": {"clusterSelector": {}}},
        },
    ]


def finalized_with_status(cp: ControlPlane, plural: str, name: str, expected: dict[str, str]) -> bool:
    obj = cp.host_object("types.kubefed.io", plural, "fed", name) or {}
    return (
        SYNC_FINALIZER in ((obj.get("metadata") or {}).get("finalizers") or [])
        and cluster_status(cp, plural, "fed", name) == expected
        and propagation_reason(cp, plural, "fed", name) == ""
    )


async def test_same_names_on_a_new_host_with_the_old_bus_state(
    control_plane: ControlPlane, fresh_nats: Any, tmp_path: Path
) -> None:
    old = control_plane
    await old.start_federation()
    await old.akubectl(
        "apply",
        "-f",
        "-",
        input=yaml.safe_dump_all(
            [
                *fed_namespace(),
                fed_configmap("app", placement={"clusters": [{"name": "cluster1"}]}, data={"life": "first"}),
                fed_configmap("only-old", data={"life": "first"}),
            ]
        ),
    )
    await eventually(
        lambda: (
            finalized_with_status(old, "federatedconfigmaps", "app", {"cluster1": ""})
            and finalized_with_status(
                old, "federatedconfigmaps", "only-old", {"cluster1": "", "cluster2": ""}
            )
        )
    )
    await old.stop_all()
    fresh_nats.restart()  # the same store, as a second `kubefed up` in the same state folder

    (tmp_path / "new").mkdir()
    async with run_fleet(
        ["host", "cluster1", "cluster2"], tls=True, kubeconfig_path=tmp_path / "new" / "kubeconfig"
    ) as fleet:
        new = ControlPlane(fleet, fresh_nats.url, tmp_path / "new")
        try:
            await new.install_kubefed_api(FAST_HEALTH)
            await new.start_federation()
            await new.akubectl(
                "apply",
                "-f",
                "-",
                input=yaml.safe_dump_all(
                    [
                        *fed_namespace(),
                        fed_configmap(
                            "app", placement={"clusters": [{"name": "cluster1"}]}, data={"life": "second"}
                        ),
                    ]
                ),
            )
            await eventually(
                lambda: finalized_with_status(
                    new, "federatednamespaces", "fed", {"cluster1": "", "cluster2": ""}
                ),
                timeout=30,
            )
            await eventually(
                lambda: finalized_with_status(new, "federatedconfigmaps", "app", {"cluster1": ""})
            )
            assert new.member_object("cluster1", "", "configmaps", "fed", "app")["data"] == {"life": "second"}

            await new.akubectl(
                "patch",
                "federatedconfigmap",
                "app",
                "-n",
                "fed",
                "--type=merge",
                "-p",
                json.dumps(
                    {"spec": {"placement": {"clusters": [{"name": "cluster1"}, {"name": "cluster2"}]}}}
                ),
            )
            await eventually(
                lambda: (
                    (new.member_object("cluster2", "", "configmaps", "fed", "app") or {}).get("data")
                    == {"life": "second"}
                )
            )
            await eventually(
                lambda: finalized_with_status(
                    new, "federatedconfigmaps", "app", {"cluster1": "", "cluster2": ""}
                )
            )

            # the old host's state was discarded, said so once, and never acted on
            def host_changed_events() -> list[dict[str, Any]]:
                return [
                    e
                    for e in fleet["host"].list_objects("", "events", NS)
                    if e.get("reason") == "HostClusterChanged"
                    and e["involvedObject"]["kind"] == "KubeFedConfig"
                ]

            events = await eventually(host_changed_events)
            assert len(events) == 1 and events[0]["type"] == "Warning"
            bus = await Bus.connect(BusSettings(url=fresh_nats.url, name="test"))
            try:
                only_old = subjects.desired_subject("federatedconfigmaps.types.kubefed.io", "fed", "only-old")
                await eventually(lambda: _missing(bus, only_old))
            finally:
                await bus.close()
            for cluster in ("cluster1", "cluster2"):
                assert new.member_object(cluster, "", "configmaps", "fed", "only-old") is None
        finally:
            await new.stop_all()


async def _missing(bus: Bus, subject: str) -> bool:
    return await bus.get_last(subjects.STREAM_DESIRED, subject) is None


class _OtherHost:
    """The fleet as a control plane sees it whose host is ``host2``: the same member clusters."""

    def __init__(self, fleet: Any, kubeconfig_path: Path) -> None:
        self._fleet = fleet
        self.kubeconfig_path = kubeconfig_path
        config = fleet.kubeconfig()
        for context in config["contexts"]:
            if context["name"] == "host":
                context["context"] = {"cluster": "host2", "user": "host2"}
        kubeconfig_path.parent.mkdir(parents=True, exist_ok=True)
        kubeconfig_path.write_text(yaml.safe_dump(config))

    def __getitem__(self, name: str) -> Any:
        return self._fleet["host2" if name == "host" else name]


async def test_new_host_keeps_members_of_objects_it_lacks_and_rewrites_nothing(
    fresh_nats: Any, tmp_path: Path
) -> None:
    async with run_fleet(
        ["host", "host2", "cluster1", "cluster2"], tls=True, kubeconfig_path=tmp_path / "kubeconfig"
    ) as fleet:
        old = ControlPlane(fleet, fresh_nats.url, tmp_path / "old")
        try:
            await old.install_kubefed_api(FAST_HEALTH)
            await old.start_federation()
            await old.akubectl(
                "apply",
                "-f",
                "-",
                input=yaml.safe_dump_all(
                    [
                        *fed_namespace(),
                        fed_configmap("app"),
                        fed_configmap("only-old"),
                    ]
                ),
            )
            await eventually(
                lambda: (
                    finalized_with_status(old, "federatedconfigmaps", "app", {"cluster1": "", "cluster2": ""})
                    and finalized_with_status(
                        old, "federatedconfigmaps", "only-old", {"cluster1": "", "cluster2": ""}
                    )
                )
            )
        finally:
            await old.stop_all()
        writes = {c: fleet[c].write_count for c in ("cluster1", "cluster2")}

        new = ControlPlane(
            _OtherHost(fleet, tmp_path / "new" / "kubeconfig"), fresh_nats.url, tmp_path / "new"
        )  # type: ignore[arg-type]
        try:
            await new.install_kubefed_api(FAST_HEALTH)
            await new.start_federation()
            await new.akubectl(
                "apply", "-f", "-", input=yaml.safe_dump_all([*fed_namespace(), fed_configmap("app")])
            )
            await eventually(
                lambda: finalized_with_status(
                    new, "federatednamespaces", "fed", {"cluster1": "", "cluster2": ""}
                ),
                timeout=30,
            )
            await eventually(
                lambda: finalized_with_status(
                    new, "federatedconfigmaps", "app", {"cluster1": "", "cluster2": ""}
                )
            )
            bus = await Bus.connect(BusSettings(url=fresh_nats.url, name="test"))
            try:
                only_old = subjects.desired_subject("federatedconfigmaps.types.kubefed.io", "fed", "only-old")
                await eventually(lambda: _missing(bus, only_old))
            finally:
                await bus.close()
            # the object only the old host had stays in the members (nothing on the new host asked to
            # delete it), and the converged ones were re-verified without a single member write
            for cluster in ("cluster1", "cluster2"):
                assert new.member_object(cluster, "", "configmaps", "fed", "only-old")["data"] == {"k": "v"}
                assert fleet[cluster].write_count == writes[cluster], cluster
        finally:
            await new.stop_all()


async def test_recreated_under_the_same_name_is_a_new_object(running: ControlPlane) -> None:
    cp = running
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(fed_configmap("again")))
    await eventually(
        lambda: finalized_with_status(cp, "federatedconfigmaps", "again", {"cluster1": "", "cluster2": ""})
    )
    first_uid = cp.host_object("types.kubefed.io", "federatedconfigmaps", "fed", "again")["metadata"]["uid"]

    await cp.stop("scheduler")
    await cp.akubectl(
        "patch",
        "federatedconfigmap",
        "again",
        "-n",
        "fed",
        "--type=merge",
        "-p",
        '{"metadata":{"finalizers":null}}',
    )
    await cp.akubectl("delete", "federatedconfigmap", "again", "-n", "fed")
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(fed_configmap("again")))
    second = cp.host_object("types.kubefed.io", "federatedconfigmaps", "fed", "again")
    assert second["metadata"]["uid"] != first_uid and not second.get("status")
    cp.start("scheduler", "scheduler")

    await eventually(
        lambda: finalized_with_status(cp, "federatedconfigmaps", "again", {"cluster1": "", "cluster2": ""})
    )
    assert (
        cp.host_object("types.kubefed.io", "federatedconfigmaps", "fed", "again")["metadata"]["uid"]
        == second["metadata"]["uid"]
    )
    assert cp.member_object("cluster1", "", "configmaps", "fed", "again")["data"] == {"k": "v"}


def test_binding_refuses_only_state_of_another_host_and_reports_it_once() -> None:
    """Pure: state naming no host, and any state with the binding off, is accepted."""
    from shared.runtime import HostBinding

    reported: list[str] = []
    binding = HostBinding("new", state="decisions", action="re-decided", on_foreign=reported.append)
    assert not binding.foreign("new") and not binding.foreign("")
    assert binding.foreign("old") and binding.foreign("old") and binding.foreign("older")
    assert reported == ["old", "older"]
    assert not HostBinding("", state="decisions", action="none").foreign("old")


def test_up_keeps_its_store_in_a_user_state_folder_and_fresh_empties_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kubefed._up as up

    started: list[Path] = []

    async def no_services(
        common: Any, clusters: Any, selector: str, store: Path | None, embedded: bool
    ) -> None:
        started.append(Path(store) if store is not None else Path("<none>"))

    monkeypatch.setattr(up, "_up", no_services)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    cwd = tmp_path / "project"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    runner = CliRunner()

    first = runner.invoke(up.up_command, ["--http-port", "0"])
    assert first.exit_code == 0, first.output
    store = started[-1]
    assert store.is_relative_to(tmp_path / "state") and not store.is_relative_to(cwd)
    assert str(store) in first.output
    assert not any(cwd.iterdir())
    (store / "leftover").write_text("from an earlier life")

    kept = runner.invoke(up.up_command, ["--http-port", "0"])
    assert kept.exit_code == 0, kept.output
    assert started[-1] == store and (store / "leftover").exists()

    fresh = runner.invoke(up.up_command, ["--http-port", "0", "--fresh"])
    assert fresh.exit_code == 0, fresh.output
    assert started[-1] == store and store.is_dir() and not any(store.iterdir())
    assert str(store) in fresh.output
