"""kubefedctl against clusters where the control plane's API is not installed.

Covers: enable, status and join fail with one clear line naming what is missing (the CRDs or the
KubeFedConfig) and write nothing; an unknown --host-cluster-context is reported by name.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.kubefedctl._fleet import FleetThread, kubefedctl


@pytest.fixture(scope="module")
def bare() -> Iterator[FleetThread]:
    f = FleetThread(["host", "c1"]).start()
    try:
        yield f
    finally:
        f.stop()


def _error(bare: FleetThread, *args: str) -> str:
    result = kubefedctl(bare.kubeconfig, *args)
    assert result.exit_code == 1, result.stdout
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    return result.stderr


def test_enable_without_crds(bare: FleetThread) -> None:
    err = _error(bare, "enable", "configmaps", "--host-cluster-context", "host")
    assert "FederatedTypeConfigs are not served" in err and "deploy/crds" in err
    assert (
        bare.get(
            "host",
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            None,
            "federatedconfigmaps.types.kubefed.io",
        )
        is None
    )


def test_status_without_crds(bare: FleetThread) -> None:
    assert "FederatedTypeConfigs are not served" in _error(bare, "status", "--host-cluster-context", "host")


def test_join_without_kubefedconfig(bare: FleetThread) -> None:
    err = _error(bare, "join", "c1", "--host-cluster-context", "host")
    assert 'KubeFedConfig "kube-federation-system/kubefed" not found' in err
    assert bare.list("c1", "", "serviceaccounts", "kube-federation-system") == []


def test_unknown_host_context(bare: FleetThread) -> None:
    assert (
        _error(bare, "status", "--host-cluster-context", "nowhere")
        == 'Error: context "nowhere" not found in the kubeconfig\n'
    )
