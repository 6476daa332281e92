"""Pure cores of the policy engine: Karmada's ``policy.karmada.io/v1alpha1`` on KubeFed's clusters (#16).

Like :mod:`shared.planning`, everything here is a decision, not an action: no I/O, no clocks, no
logging. Each private module is one rule set: matching templates to propagation policies with
Karmada's priority, tie and preemption rules (``_matching``), cluster affinity (``_clusters``),
replica division on KubeFed's planner (``_replicas``), overriders (``_overriders``), aggregated status
(``_aggregate``), ``propagateDeps`` dependencies (``_dependencies``) and the parsed set of host
policies (``_policyset``). The API types and their validation are :mod:`shared.karmada_api`. The
scheduler calls them (``services/scheduler/_native.py``); docs/compatibility.md lists the subset.
"""

from ._aggregate import AGGREGATED_KINDS, MEMBER_STATUS_ANNOTATION, aggregate_status, breakdown_annotation
from ._clusters import PolicyCluster, candidate_clusters, cluster_matches
from ._dependencies import (
    Dependency,
    DependencyPlacement,
    dependencies_of,
    dependency_removals,
    plan_dependencies,
)
from ._matching import (
    CLAIM_LABELS,
    CLUSTER_PROPAGATION_POLICY,
    PROPAGATION_POLICY,
    Policy,
    PolicyChoice,
    PolicyRef,
    ResourceTemplate,
    choose_policy,
    claim_from_labels,
    is_system_namespace,
    match_rank,
)
from ._overriders import (
    CLUSTER_OVERRIDE_POLICY,
    OVERRIDE_POLICY,
    Override,
    OverriderError,
    apply_overriders,
    matching_overrides,
    parse_image,
)
from ._policyset import PolicySet, describe, policy_set
from ._replicas import ReplicaDivisionError, divide_replicas, is_divided

__all__ = [
    "AGGREGATED_KINDS",
    "CLAIM_LABELS",
    "CLUSTER_OVERRIDE_POLICY",
    "CLUSTER_PROPAGATION_POLICY",
    "MEMBER_STATUS_ANNOTATION",
    "OVERRIDE_POLICY",
    "PROPAGATION_POLICY",
    "Dependency",
    "DependencyPlacement",
    "Override",
    "OverriderError",
    "Policy",
    "PolicyChoice",
    "PolicyCluster",
    "PolicyRef",
    "PolicySet",
    "ReplicaDivisionError",
    "ResourceTemplate",
    "aggregate_status",
    "apply_overriders",
    "breakdown_annotation",
    "candidate_clusters",
    "choose_policy",
    "describe",
    "claim_from_labels",
    "cluster_matches",
    "dependencies_of",
    "dependency_removals",
    "divide_replicas",
    "is_divided",
    "is_system_namespace",
    "match_rank",
    "matching_overrides",
    "parse_image",
    "plan_dependencies",
    "policy_set",
]
