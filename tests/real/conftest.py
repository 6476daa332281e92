"""The real-cluster tier (``pytest -m real``): etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and KWOK built by ``make real-k8s``.

Every test here is marked ``real``. A missing binary is a failure, not a skip: ``make test`` builds
them first, and CI must run this tier.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sim.real import RealFleet, run_real_fleet
from tests.support.real import require_programs


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.real)


@pytest.fixture(scope="module")
def real_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealFleet]:
    """host + cluster1 + cluster2, real programs, one per test module."""
    require_programs()
    tmp = tmp_path_factory.mktemp("real")
    fleet = RealFleet(
        ["host", "cluster1", "cluster2"],
        kubeconfig_path=tmp / "kubeconfig",
        capacity=20,
        workdir=tmp / "fleet",
    )
    fleet.start()
    try:
        yield fleet
    finally:
        fleet.close()


# ---- the pipeline suites on real clusters --------------------------------------------------------
# The same ControlPlane the simulator-backed suites use, over a RealFleet (same kubeconfig layout, same
# get_object/list_objects/go_offline/go_online/write_count surface). One fresh fleet per test: no state
# leaks between scenarios, at about 8 s of start-up each.

import contextlib  # noqa: E402
import itertools  # noqa: E402
from collections.abc import AsyncIterator  # noqa: E402
from typing import Any  # noqa: E402

from tests.support.fixtures import running as running  # noqa: E402  (fixture re-export)
from tests.support.plane import ControlPlane, MakePlane, plane_factory  # noqa: E402


@pytest.fixture
async def control_plane(fresh_nats: Any, tmp_path: Path) -> AsyncIterator[ControlPlane]:
    require_programs()
    async with run_real_fleet(
        ["host", "cluster1", "cluster2"], kubeconfig_path=tmp_path / "kubeconfig", workdir=tmp_path / "fleet"
    ) as fleet:
        cp = ControlPlane(fleet, fresh_nats.url, tmp_path)  # type: ignore[arg-type]
        await cp.install_kubefed_api(
            {
                "clusterHealthCheck": {"period": "1s"},
                "controllerDuration": {"availableDelay": "1s", "unavailableDelay": "1s"},
            }
        )
        try:
            yield cp
        finally:
            await cp.stop_all()


@pytest.fixture
async def make_plane(fresh_nats: Any, tmp_path: Path) -> AsyncIterator[MakePlane]:
    """tests/rsp's ``make_plane`` over real clusters (``capacity`` and ``node_labels`` as the simulator's)."""
    require_programs()
    planes = itertools.count()

    def open_fleet(names: list[str], **fleet_kw: Any) -> contextlib.AbstractAsyncContextManager[Any]:
        fleet_kw.pop("pod_ready_delay", None)  # KWOK makes pods Ready at once
        work = tmp_path / f"plane{next(planes)}"
        return run_real_fleet(names, kubeconfig_path=work / "kubeconfig", workdir=work / "fleet", **fleet_kw)

    async with plane_factory(fresh_nats.url, tmp_path, open_fleet) as make:
        yield make
