"""kubefedctl against real clusters: tests/kubefedctl/test_scenario.py, unchanged, on a RealFleet.

Join (default and ``--least-privilege``) now gets its tokens from the real token machinery
(kube-controller-manager's token controller and TokenRequest), enable's generated CRDs meet the real
API server's structural-schema validation, federate, status and unjoin read back real objects.
Then tests/kubefedctl/test_deletions_in_progress.py: join after an unjoin whose member namespace the
real namespace controller has not emptied yet, and ``disable --delete-crd``/``enable`` while a CRD
is still terminating.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sim.real import RealFleet
from tests.kubefedctl import test_deletions_in_progress as deletions
from tests.kubefedctl import test_scenario as scenario
from tests.kubefedctl.test_scenario import installed, joined, kubectl
from tests.support.real import require_programs

pytestmark = pytest.mark.timeout(180)


class RealFleetView:
    """The surface of tests/kubefedctl's FleetThread (kubeconfig, get, list) over a RealFleet."""

    def __init__(self, fleet: RealFleet) -> None:
        self.fleet = fleet

    @property
    def kubeconfig(self) -> str:
        return str(self.fleet.kubeconfig_path)

    def get(
        self, cluster: str, group: str, plural: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        return self.fleet[cluster].get_object(group, plural, namespace, name)

    def list(
        self, cluster: str, group: str, plural: str, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        return sorted(
            self.fleet[cluster].list_objects(group, plural, namespace),
            key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]),
        )


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealFleetView]:
    require_programs()
    tmp: Path = tmp_path_factory.mktemp("kubefedctl-real")
    real = RealFleet(["host", "c1", "c2", "c3"], kubeconfig_path=tmp / "kubeconfig", workdir=tmp / "fleet")
    real.start()
    try:
        yield RealFleetView(real)
    finally:
        real.close()


# the scenario's steps, in its order (they are steps of one session)
test_install_deploy_with_kubectl = scenario.test_install_deploy_with_kubectl
test_join_three_members = scenario.test_join_three_members
test_join_twice = scenario.test_join_twice
test_join_unreachable_member_changes_nothing = scenario.test_join_unreachable_member_changes_nothing
test_join_rolls_back_when_a_late_step_fails = scenario.test_join_rolls_back_when_a_late_step_fails
test_enable_default_directives = scenario.test_enable_default_directives
test_apply_sample1_unchanged_with_kubectl = scenario.test_apply_sample1_unchanged_with_kubectl
test_enable_crd_target_copies_its_schema = scenario.test_enable_crd_target_copies_its_schema
test_unknown_and_ambiguous_type_names = scenario.test_unknown_and_ambiguous_type_names
test_invalid_kubefedconfig_is_rejected = scenario.test_invalid_kubefedconfig_is_rejected
test_federate_namespace_with_contents = scenario.test_federate_namespace_with_contents
test_federate_output_and_missing_object = scenario.test_federate_output_and_missing_object
test_orphaning_deletion = scenario.test_orphaning_deletion
test_status = scenario.test_status
test_unjoin = scenario.test_unjoin
test_join_namespaced_scope_uses_roles = scenario.test_join_namespaced_scope_uses_roles
test_kubectl_plugin_and_watch = scenario.test_kubectl_plugin_and_watch
test_disable = scenario.test_disable
# then, on the same fleet (cluster3/c3 is unjoined by now)
test_join_waits_for_the_member_namespace_of_an_unjoin = (
    deletions.test_join_waits_for_the_member_namespace_of_an_unjoin
)
test_disable_delete_crd_and_enable_wait_for_a_terminating_crd = (
    deletions.test_disable_delete_crd_and_enable_wait_for_a_terminating_crd
)

__all__ = ["fleet", "installed", "joined", "kubectl"]
