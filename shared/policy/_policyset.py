"""The host's policies as the engine sees them: parsed, validated, and the types they select (pure).

The four ``policy.karmada.io`` kinds arrive as plain API objects. Each is checked with
:mod:`shared.karmada_api`'s validators: an invalid one (the API server's CEL check missed it, or a
rule the schema cannot express) is left out of matching and named in ``invalid`` with its field
errors, never half-applied. ``selected_types`` is what the watcher follows and the scheduler decides:
every ``(apiVersion, kind)`` a valid (Cluster)PropagationPolicy selects.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.karmada_api import decode_override_spec, decode_propagation_spec

from ._matching import CLUSTER_PROPAGATION_POLICY, PROPAGATION_POLICY, Policy, PolicyRef
from ._overriders import CLUSTER_OVERRIDE_POLICY, OVERRIDE_POLICY, Override

__all__ = ["DEPENDENCY_TYPES", "PolicySet", "policy_set"]

# what ``propagateDeps`` makes follow a workload (:mod:`shared.policy._dependencies`)
DEPENDENCY_TYPES = frozenset(
    {("v1", "ConfigMap"), ("v1", "Secret"), ("v1", "ServiceAccount"), ("v1", "PersistentVolumeClaim")}
)


@dataclass(frozen=True)
class PolicySet:
    """Valid propagation and override policies; ``invalid`` maps ``(kind, namespace, name)`` of each
    invalid policy to its field errors."""

    policies: tuple[Policy, ...] = ()
    overrides: tuple[Override, ...] = ()
    invalid: Mapping[tuple[str, str, str], str] = field(default_factory=dict)

    def selected_types(self) -> frozenset[tuple[str, str]]:
        """Every ``(apiVersion, kind)`` some propagation policy selects, and the kinds a pod template
        depends on when a policy has ``propagateDeps``."""
        selected = {(s.apiVersion, s.kind) for p in self.policies for s in p.spec.resourceSelectors}
        if any(p.spec.propagateDeps for p in self.policies):
            selected |= DEPENDENCY_TYPES
        return frozenset(selected)

    @functools.cached_property
    def by_ref(self) -> dict[PolicyRef, Policy]:
        """Each policy by its reference; built once per set (the set is replaced, never changed, when a
        policy changes), not once per decision."""
        return {p.ref: p for p in self.policies}


def _where(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    meta = obj.get("metadata") or {}
    return str(obj.get("kind", "")), str(meta.get("namespace") or ""), str(meta.get("name", ""))


def describe(kind: str, namespace: str, name: str) -> str:
    return f"{kind} {namespace + '/' if namespace else ''}{name}"


def policy_set(objects: Iterable[Mapping[str, Any]]) -> PolicySet:
    """Parse PropagationPolicies, ClusterPropagationPolicies, OverridePolicies and ClusterOverridePolicies
    (any mix, any order); objects being deleted are left out."""
    policies: list[Policy] = []
    overrides: list[Override] = []
    invalid: dict[tuple[str, str, str], str] = {}
    for obj in objects:
        kind, namespace, name = _where(obj)
        if (obj.get("metadata") or {}).get("deletionTimestamp"):
            continue
        if kind == CLUSTER_PROPAGATION_POLICY:
            namespace = ""
        try:
            if kind in (PROPAGATION_POLICY, CLUSTER_PROPAGATION_POLICY):
                ref = PolicyRef(kind, name, namespace)  # type: ignore[arg-type]
                policies.append(Policy(ref, decode_propagation_spec(obj)))
            elif kind in (OVERRIDE_POLICY, CLUSTER_OVERRIDE_POLICY):
                ns = namespace if kind == OVERRIDE_POLICY else ""
                overrides.append(Override(kind, name, decode_override_spec(obj), ns))  # type: ignore[arg-type]
        except ValueError as exc:
            invalid[(kind, namespace, name)] = str(exc)
    return PolicySet(
        tuple(sorted(policies, key=lambda p: p.ref)),
        tuple(sorted(overrides, key=lambda o: (o.kind, o.namespace, o.name))),
        invalid,
    )
