"""Pins the public surface of ``shared.planning``.

Covers: ``__all__`` equals the set of public names defined in the package namespace, every
exported name resolves, and the package imports no asyncio/logging (purity guard).
"""

import sys

import shared.planning as planning

EXPECTED = {
    "SelectorError", "match_label_selector", "parse_selector_string", "selector_from_string",
    "ClusterInfo", "compute_placement", "narrow_by_namespace",
    "FORBIDDEN_PATHS", "OverridesError", "apply_overrides", "parse_overrides",
    "retain_cluster_fields",
    "DELETE_OPTIONS_ANNOTATION", "MANAGED_LABEL", "ORPHAN_ANNOTATION", "SYNC_FINALIZER",
    "add_managed_label", "is_explicitly_unmanaged", "is_orphaning", "object_for_cluster",
    "parse_delete_options", "render_for_cluster",
    "content_hash", "go_json", "has_drift", "needs_update", "needs_write", "object_version",
    "overrides_version", "template_version",
    "AGGREGATE_SUCCESS", "ALREADY_EXISTS", "APPLY_OVERRIDES_FAILED", "CACHED_RETRIEVAL_FAILED",
    "CHECK_CLUSTERS", "CLIENT_RETRIEVAL_FAILED", "CLUSTER_NOT_READY", "CLUSTER_PROPAGATION_OK",
    "CLUSTER_RETRIEVAL_FAILED", "COMPUTE_PLACEMENT_FAILED", "COMPUTE_RESOURCE_FAILED", "CREATION_FAILED",
    "CREATION_TIMED_OUT", "DELETION_FAILED", "DELETION_TIMED_OUT", "FIELD_RETENTION_FAILED",
    "LABEL_REMOVAL_FAILED", "LABEL_REMOVAL_TIMED_OUT", "MANAGED_LABEL_FALSE", "NAMESPACE_NOT_FEDERATED",
    "PROPAGATION_CONDITION", "RECOVERABLE_STATUSES", "RETRIEVAL_FAILED", "UPDATE_FAILED", "UPDATE_TIMED_OUT",
    "VERSION_RETRIEVAL_FAILED", "WAITING_FOR_REMOVAL", "aggregate_propagation_status", "is_recoverable",
    "next_status", "resolve_timed_out",
    "ClusterHealth", "HealthThresholds", "ProbeResult", "conditions_ready", "next_cluster_health",
    "probe_conditions",
    "ClusterPreference", "apply_rsp_result", "count_running_ready", "estimate_capacity", "fnv32",
    "member_replica_state", "plan_replicas", "rsp_preferences_from_spec", "scheduling_result",
    "ClusterDNSInfo", "Endpoint", "MemberServiceState", "dedupe_and_merge", "dns_infos_from_status",
    "ingress_endpoints", "ingress_record_status", "service_endpoints", "service_record_status",
    "topology_from_node_labels",
}  # fmt: skip


def test_all_matches_expected_surface() -> None:
    assert set(planning.__all__) == EXPECTED
    assert len(planning.__all__) == len(set(planning.__all__))


def test_every_public_name_is_exported() -> None:
    public = {n for n in vars(planning) if not n.startswith("_")}
    assert public == set(planning.__all__)
    for name in planning.__all__:
        assert getattr(planning, name) is not None


def test_planning_modules_do_not_import_io_machinery() -> None:
    for name, module in list(sys.modules.items()):
        if name.startswith("shared.planning"):
            source = vars(module)
            assert "asyncio" not in source
            assert "logging" not in source
