"""A member object labelled ``kubefed.io/managed=true`` that no federated object covers loses the label, as
KubeFed's sync controller removes it (KubeFed's e2e "should have the managed label removed if not
managed"); objects that a decision covers keep theirs.
"""

from __future__ import annotations

import yaml

from tests.support.plane import ControlPlane, eventually, fed_configmap


def _labels(cp: ControlPlane, cluster: str, name: str) -> dict[str, str] | None:
    obj = cp.member_object(cluster, "", "configmaps", "fed", name)
    return None if obj is None else (obj["metadata"].get("labels") or {})


async def test_managed_label_is_removed_from_objects_no_federated_object_covers(
    running: ControlPlane,
) -> None:
    cp = running
    # a covered object first, so the propagator's member cache for ConfigMaps runs
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(fed_configmap("covered")))
    await eventually(lambda: (_labels(cp, "cluster1", "covered") or {}).get("kubefed.io/managed") == "true")
    stray = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "data": {"k": "v"},
        "metadata": {
            "name": "stray",
            "namespace": "fed",
            "labels": {"kubefed.io/managed": "true", "app": "x"},
        },
    }
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(stray), context="cluster1")
    assert await eventually(lambda: _labels(cp, "cluster1", "stray") == {"app": "x"}, timeout=30)
    assert (_labels(cp, "cluster1", "covered") or {}).get("kubefed.io/managed") == "true"
    assert cp.member_object("cluster1", "", "configmaps", "fed", "stray")["data"] == {"k": "v"}  # not deleted
