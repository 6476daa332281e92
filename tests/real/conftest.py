"""The real-cluster tier (``pytest -m real``): etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and KWOK built by ``make real-k8s``.

Every test here is marked ``real``. A missing binary is a failure, not a skip: ``make test`` builds
them first, and CI must run this tier.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sim.real import RealFleet, all_built, binary_path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.real)


def require_programs() -> None:
    if not all_built():
        pytest.fail(f"real Kubernetes programs are not built (e.g. {binary_path('kube-apiserver')}): run `make real-k8s`")


@pytest.fixture(scope="module")
def real_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealFleet]:
    """host + cluster1 + cluster2, real programs, one per test module."""
    require_programs()
    tmp = tmp_path_factory.mktemp("real")
    fleet = RealFleet(["host", "cluster1", "cluster2"], kubeconfig_path=tmp / "kubeconfig", capacity=20,
                      workdir=tmp / "fleet")
    fleet.start()
    try:
        yield fleet
    finally:
        fleet.close()
