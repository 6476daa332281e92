"""Pins the public surface of ``shared.policy`` and keeps it pure.

Covers: ``__all__`` equals the public names of the package, every name resolves, and importing the
package pulls in no asyncio, logging, NATS or Kubernetes client (the cores are decisions only).
"""

from __future__ import annotations

import subprocess
import sys

import shared.policy as policy

EXPECTED = {
    "AGGREGATED_KINDS", "CLAIM_LABELS", "CLUSTER_OVERRIDE_POLICY", "CLUSTER_PROPAGATION_POLICY",
    "MEMBER_STATUS_ANNOTATION", "OVERRIDE_POLICY", "PROPAGATION_POLICY",
    "Dependency", "DependencyPlacement", "Override", "OverriderError", "Policy", "PolicyChoice",
    "PolicyCluster", "PolicyRef", "PolicySet", "ReplicaDivisionError", "ResourceTemplate",
    "aggregate_status", "apply_overriders", "breakdown_annotation", "candidate_clusters", "choose_policy",
    "claim_from_labels", "cluster_matches", "describe", "dependencies_of", "dependency_removals",
    "divide_replicas", "is_divided", "is_system_namespace", "match_rank", "matching_overrides", "parse_image",
    "plan_dependencies", "policy_set",
}  # fmt: skip


def test_all_is_pinned_and_resolves() -> None:
    assert set(policy.__all__) == EXPECTED
    public = {n for n in vars(policy) if not n.startswith("_")}
    assert public - {"annotations"} >= EXPECTED
    for name in policy.__all__:
        assert getattr(policy, name) is not None


def test_importing_the_cores_starts_no_io() -> None:
    code = (
        "import sys, shared.policy, shared.karmada_api; "
        "print(sorted(m for m in ('asyncio', 'logging', 'nats', 'kubernetes_asyncio', 'aiohttp') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
