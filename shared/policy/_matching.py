"""Which (Cluster)PropagationPolicy propagates a resource template: Karmada's matching and preemption.

Karmada's resource detector (``pkg/detector``), as a pure function of the template, the policies and
the policy that claimed the template before (a claim is recorded on the template; see :data:`CLAIM_LABELS`):

* **Selectors.** A selector needs the template's ``apiVersion`` and ``kind``; a ``namespace`` that is
  set must be the template's; then ``name`` decides if set (``labelSelector`` is ignored), else the
  ``labelSelector`` if set, else the selector matches every template of the kind. A policy's match is
  its most precise matching selector: name (3) > labelSelector (2) > kind only (1).
* **Scope.** A PropagationPolicy selects templates of its own namespace only; a ClusterPropagationPolicy
  selects cluster-scoped templates and those of any namespace. Templates in system namespaces
  (``kube-*`` and the KubeFed namespace) are never selected.
* **Choice for an unclaimed template.** PropagationPolicies first: if any matches, the best of them
  wins, and a ClusterPropagationPolicy is considered only when none does. Best = highest ``priority``
  (default 0), then the most precise match, then the alphabetically first name.
* **A claim sticks.** A claimed template stays with its policy while that policy exists and still
  matches, even if a better policy appears, unless that policy has ``preemption: Always`` and may
  preempt: a PropagationPolicy preempts a PropagationPolicy of lower priority, and preempts a
  ClusterPropagationPolicy regardless of priority; a ClusterPropagationPolicy preempts only a
  ClusterPropagationPolicy of lower priority. Among several preemptors the best (as above) wins.
* **Policy changes.** Re-evaluated on every change (level-based): a placement change re-schedules the
  template under the same claim; a policy that is deleted or no longer matches releases it, and it
  is matched again as unclaimed (``moved`` to another policy, or ``released`` to none: as with
  Karmada, releasing a template does not delete what was propagated).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from shared.karmada_api import LabelSelector, PropagationSpec, ResourceSelector
from shared.planning import match_label_selector

__all__ = [
    "CLAIM_LABELS",
    "PROPAGATION_POLICY",
    "CLUSTER_PROPAGATION_POLICY",
    "Policy",
    "PolicyChoice",
    "PolicyRef",
    "ResourceTemplate",
    "choose_policy",
    "claim_from_labels",
    "is_system_namespace",
    "match_rank",
    "selector_dict",
]

PROPAGATION_POLICY: Final = "PropagationPolicy"
CLUSTER_PROPAGATION_POLICY: Final = "ClusterPropagationPolicy"
PolicyKind = Literal["PropagationPolicy", "ClusterPropagationPolicy"]

# Karmada's claim labels (v1.x before permanent IDs): which policy propagates a template.
CLAIM_LABELS = {
    "namespace": "propagationpolicy.karmada.io/namespace",
    "name": "propagationpolicy.karmada.io/name",
    "cluster": "clusterpropagationpolicy.karmada.io/name",
}

MATCH_NAME, MATCH_LABELS, MATCH_KIND, NO_MATCH = 3, 2, 1, 0


@dataclass(frozen=True, order=True)
class PolicyRef:
    """A policy's identity (namespace ``""`` for a ClusterPropagationPolicy)."""

    kind: PolicyKind
    name: str
    namespace: str = ""

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace + '/' if self.namespace else ''}{self.name}"


@dataclass(frozen=True)
class Policy:
    ref: PolicyRef
    spec: PropagationSpec

    @property
    def priority(self) -> int:
        return self.spec.priority or 0

    @property
    def preempts(self) -> bool:
        return self.spec.preemption == "Always"


@dataclass(frozen=True)
class ResourceTemplate:
    """A native object on the host, as the matcher sees it."""

    api_version: str
    kind: str
    name: str
    namespace: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ResourceTemplate:
        meta = obj.get("metadata") or {}
        return cls(
            api_version=str(obj.get("apiVersion", "")),
            kind=str(obj.get("kind", "")),
            name=str(meta.get("name", "")),
            namespace=str(meta.get("namespace") or ""),
            labels=dict(meta.get("labels") or {}),
        )


@dataclass(frozen=True)
class PolicyChoice:
    """What the detector decides for one template.

    ``action``: ``keep`` (claimed policy stays), ``claim`` (unclaimed template gets ``policy``),
    ``preempt`` (``policy`` takes it from ``previous``), ``moved`` (``previous`` was deleted or no
    longer matches; ``policy`` claims it), ``released`` (``previous`` gone, no policy matches),
    ``none`` (unclaimed and unmatched).
    """

    action: Literal["keep", "claim", "preempt", "moved", "released", "none"]
    policy: PolicyRef | None = None
    previous: PolicyRef | None = None


def is_system_namespace(namespace: str, kubefed_namespace: str) -> bool:
    return namespace.startswith("kube-") or namespace == kubefed_namespace


def selector_dict(selector: LabelSelector) -> dict[str, Any]:
    """A decoded label selector as the dict :func:`shared.planning.match_label_selector` reads."""
    out: dict[str, Any] = {}
    if selector.matchLabels is not None:
        out["matchLabels"] = dict(selector.matchLabels)
    if selector.matchExpressions is not None:
        out["matchExpressions"] = [
            {"key": r.key, "operator": r.operator, "values": list(r.values or [])}
            for r in selector.matchExpressions
        ]
    return out


def _selector_rank(sel: ResourceSelector, obj: ResourceTemplate) -> int:
    if sel.apiVersion != obj.api_version or sel.kind != obj.kind:
        return NO_MATCH
    if sel.namespace and sel.namespace != obj.namespace:
        return NO_MATCH
    if sel.name:
        return MATCH_NAME if sel.name == obj.name else NO_MATCH
    if sel.labelSelector is not None:
        return (
            MATCH_LABELS if match_label_selector(selector_dict(sel.labelSelector), obj.labels) else NO_MATCH
        )
    return MATCH_KIND


def match_rank(selectors: Iterable[ResourceSelector], obj: ResourceTemplate) -> int:
    """The most precise match among ``selectors`` (0: none matches)."""
    return max((_selector_rank(s, obj) for s in selectors), default=NO_MATCH)


def _in_scope(policy: Policy, obj: ResourceTemplate) -> bool:
    if policy.ref.kind == PROPAGATION_POLICY:
        return bool(obj.namespace) and obj.namespace == policy.ref.namespace
    return True


def _rank(policy: Policy, obj: ResourceTemplate) -> int:
    return match_rank(policy.spec.resourceSelectors, obj) if _in_scope(policy, obj) else NO_MATCH


def _best(candidates: Iterable[Policy], obj: ResourceTemplate) -> Policy | None:
    ranked = [(p, _rank(p, obj)) for p in candidates]
    matching = [(p, r) for p, r in ranked if r > NO_MATCH]
    if not matching:
        return None
    return min(matching, key=lambda pr: (-pr[0].priority, -pr[1], pr[0].ref.name))[0]


def claim_from_labels(labels: Mapping[str, str]) -> PolicyRef | None:
    """The policy that claimed a template, from Karmada's claim labels."""
    if labels.get(CLAIM_LABELS["name"]):
        return PolicyRef(
            PROPAGATION_POLICY, labels[CLAIM_LABELS["name"]], labels.get(CLAIM_LABELS["namespace"], "")
        )
    if labels.get(CLAIM_LABELS["cluster"]):
        return PolicyRef(CLUSTER_PROPAGATION_POLICY, labels[CLAIM_LABELS["cluster"]])
    return None


def _unclaimed(obj: ResourceTemplate, policies: Sequence[Policy]) -> Policy | None:
    namespaced = _best((p for p in policies if p.ref.kind == PROPAGATION_POLICY), obj)
    return namespaced or _best((p for p in policies if p.ref.kind == CLUSTER_PROPAGATION_POLICY), obj)


def _preemptor(claimed: Policy, obj: ResourceTemplate, policies: Sequence[Policy]) -> Policy | None:
    others = [p for p in policies if p.preempts and p.ref != claimed.ref]
    pps = [p for p in others if p.ref.kind == PROPAGATION_POLICY]
    if claimed.ref.kind == CLUSTER_PROPAGATION_POLICY:
        best_pp = _best(pps, obj)
        if best_pp is not None:
            return best_pp
        cpps = [
            p for p in others if p.ref.kind == CLUSTER_PROPAGATION_POLICY and p.priority > claimed.priority
        ]
        return _best(cpps, obj)
    return _best((p for p in pps if p.priority > claimed.priority), obj)


def choose_policy(
    obj: ResourceTemplate,
    policies: Sequence[Policy],
    claimed: PolicyRef | None,
    *,
    kubefed_namespace: str = "kube-federation-system",
) -> PolicyChoice:
    """Decide which policy propagates ``obj`` now (see the module docstring for the rules)."""
    if obj.namespace and is_system_namespace(obj.namespace, kubefed_namespace):
        return PolicyChoice("released", previous=claimed) if claimed else PolicyChoice("none")
    by_ref = {p.ref: p for p in policies}
    current = by_ref.get(claimed) if claimed else None
    if current is not None and _rank(current, obj) > NO_MATCH:
        preemptor = _preemptor(current, obj, policies)
        if preemptor is not None:
            return PolicyChoice("preempt", preemptor.ref, current.ref)
        return PolicyChoice("keep", current.ref, current.ref)
    best = _unclaimed(obj, policies)
    if claimed is not None:
        return (
            PolicyChoice("moved", best.ref, claimed) if best else PolicyChoice("released", previous=claimed)
        )
    return PolicyChoice("claim", best.ref) if best else PolicyChoice("none")
