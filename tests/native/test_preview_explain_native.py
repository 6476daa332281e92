"""``kubefedctl preview`` and ``explain`` for a native Deployment under a Karmada policy (issue #17's
missing piece, on #16's pipeline).

Covers: previewing a changed Deployment shows the policy's clusters with their Divided replicas, the
cluster left out with its reason, and the diff of the changed image per cluster, while nothing is
stored (the host object, the decision stream and the members are unchanged; the reply is the positive
sign that the scheduler computed it); a Deployment no policy selects is previewed with that error;
``explain deployment/<name>`` gives the current placement with the reason for each cluster and each
cluster's propagation status, and ``--history`` the decisions with what changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared import subjects
from tests.native.helpers import apply, member_deployment, nginx, policy, replicas_in
from tests.rsp.test_preview_explain import _stream_last_seq, kubefedctl
from tests.support.plane import ControlPlane, eventually

pytestmark = pytest.mark.timeout(180)

MEMBERS = ["member1", "member2", "member3"]
DIVIDED = {
    "replicaScheduling": {
        "replicaSchedulingType": "Divided",
        "weightPreference": {
            "staticWeightList": [
                {"targetCluster": {"clusterNames": ["member1"]}, "weight": 2},
                {"targetCluster": {"clusterNames": ["member2"]}, "weight": 1},
            ]
        },
    }
}


async def test_preview_and_explain_a_native_deployment(policy_plane: ControlPlane, tmp_path: Path) -> None:
    cp = policy_plane
    await apply(cp, policy("divided", ["member1", "member2"], placement=DIVIDED), nginx(replicas=3))
    await eventually(lambda: replicas_in(cp, MEMBERS, "nginx") == {"member1": 2, "member2": 1}, timeout=30)
    await eventually(
        lambda: (
            ((cp.host_object("apps", "deployments", "default", "nginx") or {}).get("status") or {}).get(
                "readyReplicas"
            )
            == 3
        ),
        timeout=30,
    )
    host_rv = (cp.host_object("apps", "deployments", "default", "nginx") or {})["metadata"]["resourceVersion"]
    desired = await _stream_last_seq(cp.nats_url, subjects.STREAM_DESIRED)

    changed = tmp_path / "changed.yaml"
    changed.write_text(
        yaml.safe_dump(
            {
                **nginx(replicas=6, image="nginx:1.27"),
                "metadata": {"name": "nginx", "namespace": "default", "labels": {"app": "nginx"}},
            }
        )
    )
    _, out, _ = await kubefedctl(cp, cp.nats_url, "preview", "-f", str(changed), "-o", "json")
    [result] = json.loads(out)
    assert result["kind"] == "Deployment" and result["key"]["resource"] == "deployments.apps"
    assert result["replicas"] == {"member1": 4, "member2": 2}
    reasons = {c["cluster"]: c for c in result["clusters"]}
    assert (
        reasons["member1"]["selected"]
        and "placed by PropagationPolicy/default/divided" in reasons["member1"]["reason"]
    )
    assert reasons["member1"]["replicas"] == 4
    assert not reasons["member3"]["selected"] and "not selected by" in reasons["member3"]["reason"]
    added = [line for line in result["diffs"]["member1"].splitlines() if line.startswith("+")]
    assert any("image: nginx:1.27" in line for line in added), result["diffs"]["member1"]
    assert any("replicas: 4" in line for line in added), result["diffs"]["member1"]
    assert result["diffs"]["member3"] == ""
    assert result["errors"] == []
    # nothing stored: the reply came, and the host, the decisions and the members are as they were
    assert (cp.host_object("apps", "deployments", "default", "nginx") or {})["metadata"][
        "resourceVersion"
    ] == host_rv
    assert await _stream_last_seq(cp.nats_url, subjects.STREAM_DESIRED) == desired
    assert (member_deployment(cp, "member1", "nginx") or {})["spec"]["template"]["spec"]["containers"][0][
        "image"
    ] == "nginx"

    # a Deployment no policy selects
    other = tmp_path / "other.yaml"
    other.write_text(
        yaml.safe_dump({**nginx("other"), "metadata": {"name": "other", "namespace": "default"}})
    )
    _, out, _ = await kubefedctl(cp, cp.nats_url, "preview", "-f", str(other), "-o", "json")
    assert "no propagation policy selects it" in json.loads(out)[0]["errors"]

    # explain: the current placement, reasons and each cluster's propagation status
    _, out, _ = await kubefedctl(
        cp, cp.nats_url, "explain", "deployment/nginx", "-n", "default", "-o", "json"
    )
    reply = json.loads(out)
    assert reply["kind"] == "Deployment"
    by_cluster = {c["cluster"]: c for c in reply["clusters"]}
    assert by_cluster["member2"]["selected"] and by_cluster["member2"]["replicas"] == 1
    assert not by_cluster["member3"]["selected"]
    assert reply["status"] == {"member1": "Propagated", "member2": "Propagated"}
    _, out, _ = await kubefedctl(cp, cp.nats_url, "explain", "deployment/nginx", "-n", "default")
    assert "Deployment default/nginx: current placement" in out

    # applied for real: explain --history lists both decisions and what changed
    await apply(cp, nginx(replicas=6, image="nginx:1.27"))
    await eventually(lambda: replicas_in(cp, MEMBERS, "nginx") == {"member1": 4, "member2": 2}, timeout=30)

    async def history() -> list[dict[str, Any]]:
        _, out, _ = await kubefedctl(
            cp, cp.nats_url, "explain", "deployment/nginx", "-n", "default", "--history", "-o", "json"
        )
        records: list[dict[str, Any]] = json.loads(out)["history"]
        return records if len(records) >= 2 else []

    records = await eventually(history, timeout=30)
    assert records[-1]["summary"]["replicas"] == {"member1": 4, "member2": 2}
    assert records[-1]["inputs"]["policy"] == "PropagationPolicy/default/divided"
    assert any("replicas" in change for change in records[-1]["changes"]), records[-1]["changes"]
