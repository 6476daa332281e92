"""The simulator's host runs no pods for a workload a Karmada propagation policy selects
(sim/_controllers/_policies.py): Karmada's selector rules, and a policy applied after the workload
removes what the cluster ran for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sim import Fleet
from sim._controllers._policies import _selects
from sim._registry import builtin
from tests.sim.test_sim_controllers import deployment, pods_of
from tests.support.waiting import eventually

CRDS = Path(__file__).resolve().parents[2] / "deploy" / "crds" / "policy.karmada.io.yaml"


def _deploy(name: str = "web", **labels: str) -> dict[str, Any]:
    return {"kind": "Deployment", "metadata": {"name": name, "namespace": "default", "labels": labels}}


@pytest.mark.parametrize(
    ("selector", "selected"),
    [
        ({"apiVersion": "apps/v1", "kind": "Deployment"}, True),
        ({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, True),
        ({"apiVersion": "apps/v1", "kind": "Deployment", "name": "other"}, False),
        ({"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "other"}, False),
        ({"apiVersion": "apps/v1", "kind": "StatefulSet"}, False),
        (
            {"apiVersion": "apps/v1", "kind": "Deployment", "labelSelector": {"matchLabels": {"app": "web"}}},
            True,
        ),
        (
            {"apiVersion": "apps/v1", "kind": "Deployment", "labelSelector": {"matchLabels": {"app": "x"}}},
            False,
        ),
    ],
)
def test_karmada_selector_rules(selector: dict[str, Any], selected: bool) -> None:
    assert _selects(selector, _deploy(app="web"), "apps/v1") is selected


async def test_a_policy_selected_deployment_runs_no_pods(fleet: Fleet) -> None:
    host = fleet["host"]
    for crd in yaml.safe_load_all(CRDS.read_text()):
        if crd:
            host.store.create(builtin("apiextensions.k8s.io", "customresourcedefinitions"), "", crd)
    pp = await eventually(lambda: host.store.registry.by_gp("policy.karmada.io", "propagationpolicies"))
    host.store.create(builtin("apps", "deployments"), "default", deployment("web", 2))
    await eventually(lambda: len(pods_of(host, "web")) == 2)
    # a policy selecting it: the host stops running it (its ReplicaSet and pods go)
    policy = {
        "metadata": {"name": "p"},
        "spec": {"resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}]},
    }
    host.store.create(pp, "default", policy)
    await eventually(
        lambda: not pods_of(host, "web") and not host.list_objects("apps", "replicasets", "default")
    )
    # deleted and created again while selected, it never runs; an unselected one does (the positive sign)
    host.store.delete(builtin("apps", "deployments"), "default", "web")
    host.store.create(builtin("apps", "deployments"), "default", deployment("web", 2))
    host.store.create(builtin("apps", "deployments"), "default", deployment("other", 1))
    await eventually(lambda: len(pods_of(host, "other")) == 1)
    assert pods_of(host, "web") == []
