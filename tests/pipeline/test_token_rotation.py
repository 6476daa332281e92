"""Rotating a member cluster's token without downtime, as docs/security.md describes it.

Covers: cluster1 is joined with a token of its own (not the simulator's admin token); while a
FederatedConfigMap is updated without pause, a second token is written into the host Secret the
KubeFedCluster names, the propagator's refresh picks it up, and the first token is revoked in the
member. Every update reaches both members, no status ever reports an error for cluster1, the
KubeFedCluster stays Ready throughout, and an update made after the revocation reaches cluster1, so
the propagator really works with the new token.
"""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
import yaml

from tests.support.objects import namespace_federated_to_all
from tests.support.plane import NS, ControlPlane, cluster_status, eventually, fed_configmap, ready

pytestmark = pytest.mark.timeout(120)

REFRESH = 1.0  # the tests' propagator --refresh-period


async def _write_token(cp: ControlPlane, cluster: str, token: str) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": f"{cluster}-token", "namespace": NS},
        "data": {"token": base64.b64encode(token.encode()).decode()},
    }
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(secret))


async def test_a_member_token_is_rotated_while_changes_propagate(control_plane: ControlPlane) -> None:
    cp = control_plane
    member = cp.fleet["cluster1"]
    old, _ = member.mint_token(bound_uid="rotation-old")
    await cp.join("cluster1")
    await cp.join("cluster2")
    await _write_token(cp, "cluster1", old)  # before any service reads it
    for service in ("watcher", "scheduler", "propagator"):
        cp.start(service, service)
    await eventually(lambda: ready(cp, "cluster1") and ready(cp, "cluster2"))
    await cp.akubectl(
        "apply",
        "-f",
        "-",
        input=yaml.safe_dump_all(
            [
                *namespace_federated_to_all(),
                fed_configmap("rotated", data={"v": "0"}),
            ]
        ),
    )

    def landed(value: str) -> bool:
        return all(
            (cp.member_object(c, "", "configmaps", "fed", "rotated") or {}).get("data") == {"v": value}
            for c in ("cluster1", "cluster2")
        )

    await eventually(lambda: landed("0"), timeout=30)
    await eventually(
        lambda: cluster_status(cp, "federatedconfigmaps", "fed", "rotated").get("cluster1") == ""
    )

    errors: list[str] = []
    stop = asyncio.Event()

    async def watch_status() -> None:
        while not stop.is_set():
            status = cluster_status(cp, "federatedconfigmaps", "fed", "rotated").get("cluster1", "")
            if status:
                errors.append(f"status {status}")
            if not ready(cp, "cluster1"):
                errors.append("KubeFedCluster cluster1 not Ready")
            await asyncio.sleep(0.1)

    version = 0

    async def update() -> None:
        nonlocal version
        version += 1
        await cp.akubectl(
            "patch",
            "federatedconfigmap",
            "rotated",
            "-n",
            "fed",
            "--type=merge",
            "-p",
            json.dumps({"spec": {"template": {"data": {"v": str(version)}}}}),
        )
        await eventually(lambda: landed(str(version)), timeout=20)

    watcher = asyncio.create_task(watch_status())
    try:
        await update()
        new, _ = member.mint_token(bound_uid="rotation-new")
        await _write_token(cp, "cluster1", new)
        for _ in range(3):  # both tokens valid: a few refresh periods of changes
            await update()
            await asyncio.sleep(REFRESH)
        member.tokens.revoke_bound("rotation-old")
        assert not member.check_token(old) and member.check_token(new)
        for _ in range(3):  # only the new token is valid now
            await update()
            await asyncio.sleep(REFRESH)
    finally:
        stop.set()
        await watcher
    assert errors == []
    assert ready(cp, "cluster1")
