"""kubefedctl when a deletion it depends on has not finished: a namespace or CRD still terminating.

On a real cluster deleting a namespace or a CRD only starts the work (the namespace controller
empties the namespace, apiextensions deletes the CRD's objects); until finalizers are done the object
lingers with a ``deletionTimestamp`` and a namespace refuses new content. The simulator finishes such
deletions within a tick, so these tests hold them with a finalizer of their own and release it while
kubefedctl waits (tests/real/test_kubefedctl_real.py runs them on real clusters too).

Covers: join after an unjoin whose member namespace is still terminating (dry run says so; a timeout
is one clear error and writes nothing; otherwise one progress line, then a fresh namespace);
``disable --delete-crd`` waits for the CRD to be gone (timeout: one clear error, the FTC kept with
propagation Disabled, and disable can be run again); ``enable`` waits for a terminating Federated
CRD and creates it afresh instead of updating it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import kubefedctl._enable as enable_module
import kubefedctl._join as join_module
from tests.kubefedctl._fleet import FleetThread, Kubectl
from tests.kubefedctl.test_scenario import DEPLOY, NS, kf, kubectl_apply, snapshot

pytestmark = pytest.mark.kubectl

CLUSTER, CONTEXT = "cluster3", "c3"
HOLD = "kubefed.io/test-hold"
RELEASE = json.dumps({"metadata": {"finalizers": None}})
CRD = "federatedstatefulsets.types.kubefed.io"


@pytest.fixture(scope="module")
def fleet() -> Iterator[FleetThread]:
    f = FleetThread(["host", CONTEXT]).start()
    try:
        yield f
    finally:
        f.stop()


@pytest.fixture(scope="module")
def kubectl(fleet: FleetThread) -> Kubectl:
    return Kubectl(fleet.kubeconfig)


@pytest.fixture(scope="module")
def installed(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", str(DEPLOY / "crds"))
    kubectl("apply", "-f", str(DEPLOY / "config"))


def release_once_waiting(
    monkeypatch: pytest.MonkeyPatch, module: Any, release: Callable[[], Any]
) -> list[str]:
    """Run ``release`` shortly after ``module``'s ``wait_deleted`` starts waiting; returns what it waited
    for."""
    original = module.wait_deleted
    waited: list[str] = []

    async def wait_deleted(*args: Any, **kwargs: Any) -> None:
        waited.append(kwargs["what"])
        timer = threading.Timer(0.5, release)
        timer.start()
        try:
            await original(*args, **kwargs)
        finally:
            timer.join()

    monkeypatch.setattr(module, "wait_deleted", wait_deleted)
    return waited


def eventually(predicate: Callable[[], Any], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def test_join_waits_for_the_member_namespace_of_an_unjoin(
    fleet: FleetThread, kubectl: Kubectl, installed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    kf(fleet, "join", CLUSTER, "--cluster-context", CONTEXT)
    kubectl_apply(
        kubectl,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "hold", "namespace": NS, "finalizers": [HOLD]},
        },
        context=CONTEXT,
    )
    old_uid = fleet.get(CONTEXT, "", "namespaces", None, NS)["metadata"]["uid"]
    kf(fleet, "unjoin", CLUSTER, "--cluster-context", CONTEXT)
    assert fleet.get(CONTEXT, "", "namespaces", None, NS)["metadata"].get("deletionTimestamp")
    # the namespace controller has emptied it but for the held ConfigMap (so snapshots below are stable)
    eventually(
        lambda: (
            fleet.get(CONTEXT, "", "configmaps", NS, "hold")["metadata"].get("deletionTimestamp")
            and not fleet.list(CONTEXT, "", "serviceaccounts", NS)
            and not fleet.list(CONTEXT, "", "secrets", NS)
        )
    )

    dry = kf(fleet, "join", CLUSTER, "--cluster-context", CONTEXT, "--dry-run")
    assert f'once namespace "{NS}" has finished terminating there (dry run)' in dry.stdout

    before = snapshot(fleet, "host", CONTEXT)
    monkeypatch.setattr(join_module, "NAMESPACE_DELETION_TIMEOUT", 1.0)
    timed_out = kf(fleet, "join", CLUSTER, "--cluster-context", CONTEXT, ok=False)
    assert (
        f'Error: namespace "{NS}" in cluster "{CLUSTER}" is still being deleted after 1s' in timed_out.stderr
    )
    assert "nothing was written; join again once it is gone" in timed_out.stderr
    assert snapshot(fleet, "host", CONTEXT) == before
    monkeypatch.undo()

    def release() -> None:
        kubectl("patch", "configmap", "hold", "-n", NS, "--type=merge", "-p", RELEASE, context=CONTEXT)

    waited = release_once_waiting(monkeypatch, join_module, release)
    joined = kf(fleet, "join", CLUSTER, "--cluster-context", CONTEXT)
    assert waited == [f'namespace "{NS}" in cluster "{CLUSTER}"']
    lines = joined.stdout.splitlines()
    assert lines[0] == f'Waiting up to 60s for namespace "{NS}" in cluster "{CLUSTER}" to finish deleting'
    assert lines[-1] == f'Cluster "{CLUSTER}" joined to host "host"'
    ns = fleet.get(CONTEXT, "", "namespaces", None, NS)
    assert ns["metadata"]["uid"] != old_uid and not ns["metadata"].get("deletionTimestamp")
    assert fleet.get(CONTEXT, "", "serviceaccounts", NS, f"{CLUSTER}-host") is not None
    assert fleet.get(CONTEXT, "", "configmaps", NS, "hold") is None
    kf(fleet, "unjoin", CLUSTER, "--cluster-context", CONTEXT)


def _hold_crd(kubectl: Kubectl) -> None:
    kubectl("patch", "crd", CRD, "--type=merge", "-p", json.dumps({"metadata": {"finalizers": [HOLD]}}))


def _release_crd(kubectl: Kubectl) -> None:
    kubectl("patch", "crd", CRD, "--type=merge", "-p", RELEASE)


def test_disable_delete_crd_and_enable_wait_for_a_terminating_crd(
    fleet: FleetThread, kubectl: Kubectl, installed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    kf(fleet, "enable", "statefulsets")
    old_uid = fleet.get("host", "apiextensions.k8s.io", "customresourcedefinitions", None, CRD)["metadata"][
        "uid"
    ]
    _hold_crd(kubectl)
    monkeypatch.setattr(enable_module, "CRD_DELETION_TIMEOUT", 1.0)
    timed_out = kf(fleet, "disable", "statefulsets", "--delete-crd", ok=False)
    assert f'Error: CRD "{CRD}" is still being deleted after 1s (finalizers: {HOLD}' in timed_out.stderr
    assert (
        f'FederatedTypeConfig "{NS}/statefulsets.apps" is kept with propagation Disabled' in timed_out.stderr
    )
    assert "deleted" not in timed_out.stdout
    assert (
        fleet.get("host", "core.kubefed.io", "federatedtypeconfigs", NS, "statefulsets.apps")["spec"][
            "propagation"
        ]
        == "Disabled"
    )
    assert fleet.get("host", "apiextensions.k8s.io", "customresourcedefinitions", None, CRD)["metadata"][
        "deletionTimestamp"
    ]

    # enable while the CRD is still terminating: wait, then create it afresh (an update would vanish with it)
    blocked = kf(fleet, "enable", "statefulsets", ok=False)
    assert f'Error: CRD "{CRD}" is still being deleted after 1s' in blocked.stderr
    monkeypatch.undo()
    waited = release_once_waiting(monkeypatch, enable_module, lambda: _release_crd(kubectl))
    enabled = kf(fleet, "enable", "statefulsets")
    assert waited == [f'CRD "{CRD}"']
    assert f"customresourcedefinition.apiextensions.k8s.io/{CRD} created" in enabled.stdout
    crd = fleet.get("host", "apiextensions.k8s.io", "customresourcedefinitions", None, CRD)
    assert crd["metadata"]["uid"] != old_uid and not crd["metadata"].get("deletionTimestamp")
    assert (
        fleet.get("host", "core.kubefed.io", "federatedtypeconfigs", NS, "statefulsets.apps")["spec"][
            "propagation"
        ]
        == "Enabled"
    )

    _hold_crd(kubectl)
    monkeypatch.undo()
    waited = release_once_waiting(monkeypatch, enable_module, lambda: _release_crd(kubectl))
    disabled = kf(fleet, "disable", "statefulsets", "--delete-crd")
    assert waited == [f'CRD "{CRD}"']
    lines = disabled.stdout.splitlines()
    assert f'Waiting up to 60s for CRD "{CRD}" to finish deleting' in lines
    assert lines.index(f'customresourcedefinition.apiextensions.k8s.io "{CRD}" deleted') > lines.index(
        f'Waiting up to 60s for CRD "{CRD}" to finish deleting'
    )
    assert fleet.get("host", "apiextensions.k8s.io", "customresourcedefinitions", None, CRD) is None
    assert fleet.get("host", "core.kubefed.io", "federatedtypeconfigs", NS, "statefulsets.apps") is None
