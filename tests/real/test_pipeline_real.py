"""The pipeline suites that matter, run unchanged against real clusters.

Each test below is the simulator-backed test of the same name, imported here so that pytest runs it
with this folder's fixtures: ``control_plane`` and ``make_plane`` build the same ControlPlane over a
:class:`sim.real.RealFleet` (kube-apiserver, kube-controller-manager with real garbage collection,
kube-scheduler and KWOK) instead of the simulator.
"""

from __future__ import annotations

import pytest

from tests.dns.test_dns import test_service_dns_records_follow_the_members
from tests.pipeline.test_faults import procs, test_offline_member_is_reported_and_catches_up
from tests.pipeline.test_propagation import (
    test_restart_reverifies_without_writes,
    test_sample_configmap_propagates_with_overrides_and_status,
)
from tests.pipeline.test_samples import (
    test_delete_options_reach_the_member,
    test_every_sample1_manifest_propagates,
)
from tests.pipeline.test_semantics import (
    test_adoption_managed_false_and_adopt_disabled,
    test_namespace_placement_narrows,
    test_object_placed_on_a_cluster_not_ready_since_start_reports_cluster_not_ready,
    test_orphaning_keeps_member_objects_unlabelled,
    test_remote_status_collection,
    test_selector_placement_follows_cluster_labels,
)
from tests.rsp.test_preview_explain import (
    test_explain_with_history_of_four_changes,
    test_preview_stores_nothing_and_validates_like_apply,
)
from tests.rsp.test_rsp import test_capacity_moves_replicas, test_sample_rsp_and_documented_outcomes

pytestmark = pytest.mark.timeout(300)

__all__ = [
    "procs",
    "test_adoption_managed_false_and_adopt_disabled",
    "test_capacity_moves_replicas",
    "test_delete_options_reach_the_member",
    "test_every_sample1_manifest_propagates",
    "test_explain_with_history_of_four_changes",
    "test_namespace_placement_narrows",
    "test_object_placed_on_a_cluster_not_ready_since_start_reports_cluster_not_ready",
    "test_offline_member_is_reported_and_catches_up",
    "test_orphaning_keeps_member_objects_unlabelled",
    "test_preview_stores_nothing_and_validates_like_apply",
    "test_remote_status_collection",
    "test_restart_reverifies_without_writes",
    "test_sample_configmap_propagates_with_overrides_and_status",
    "test_sample_rsp_and_documented_outcomes",
    "test_selector_placement_follows_cluster_labels",
    "test_service_dns_records_follow_the_members",
]
