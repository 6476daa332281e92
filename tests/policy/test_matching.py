"""Matching resource templates to (Cluster)PropagationPolicies: Karmada's tie, claim and preemption rules.

Covers: selector precision (name > labelSelector > kind only; a name selector ignores labels), priority
before precision before name, PropagationPolicy before ClusterPropagationPolicy for unclaimed templates,
namespace scope and system namespaces, a claim that sticks against a better policy without preemption,
preemption between two policies (PP over lower PP, PP over any CPP, CPP only over lower CPP, never on
equal priority), and policy changes: deletion, selector change (moved / released), lowered priority.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from shared.karmada_api import PropagationSpec
from shared.policy import (
    CLAIM_LABELS,
    CLUSTER_PROPAGATION_POLICY,
    PROPAGATION_POLICY,
    Policy,
    PolicyRef,
    ResourceTemplate,
    choose_policy,
    claim_from_labels,
)

NGINX = ResourceTemplate("apps/v1", "Deployment", "nginx", "default", {"app": "nginx", "tier": "web"})


def _policy(name: str, *, cluster: bool = False, namespace: str = "default", **spec: Any) -> Policy:
    spec.setdefault("resourceSelectors", [{"apiVersion": "apps/v1", "kind": "Deployment"}])
    ref = (
        PolicyRef(CLUSTER_PROPAGATION_POLICY, name)
        if cluster
        else PolicyRef(PROPAGATION_POLICY, name, namespace)
    )
    return Policy(ref, msgspec.convert(spec, PropagationSpec))


BY_NAME = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "nginx"}]
BY_LABEL = [
    {"apiVersion": "apps/v1", "kind": "Deployment", "labelSelector": {"matchLabels": {"app": "nginx"}}}
]


def test_precision_decides_between_equal_priorities() -> None:
    kind_only = _policy("a-kind")
    by_label = _policy("b-label", resourceSelectors=BY_LABEL)
    by_name = _policy("c-name", resourceSelectors=BY_NAME)
    assert choose_policy(NGINX, [kind_only, by_label, by_name], None).policy == by_name.ref
    assert choose_policy(NGINX, [kind_only, by_label], None).policy == by_label.ref
    assert choose_policy(NGINX, [kind_only], None).policy == kind_only.ref


def test_priority_wins_over_precision_and_name_breaks_the_last_tie() -> None:
    precise = _policy("a", resourceSelectors=BY_NAME)
    important = _policy("z", priority=1)
    assert choose_policy(NGINX, [precise, important], None).policy == important.ref
    twins = [_policy("foo"), _policy("bar")]
    assert choose_policy(NGINX, twins, None).policy == PolicyRef(PROPAGATION_POLICY, "bar", "default")


def test_name_selector_ignores_labels_and_label_selector_must_match() -> None:
    named = _policy(
        "named",
        resourceSelectors=[
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "nginx",
                "labelSelector": {"matchLabels": {"x": "y"}},
            }
        ],
    )
    assert choose_policy(NGINX, [named], None).action == "claim"
    other = _policy(
        "other", resourceSelectors=[{**BY_LABEL[0], "labelSelector": {"matchLabels": {"app": "db"}}}]
    )
    assert choose_policy(NGINX, [other], None).action == "none"
    wrong_version = _policy("v", resourceSelectors=[{"apiVersion": "apps/v1beta1", "kind": "Deployment"}])
    assert choose_policy(NGINX, [wrong_version], None).action == "none"


def test_namespace_scope_and_system_namespaces() -> None:
    elsewhere = _policy("pp", namespace="other")
    cpp = _policy("cpp", cluster=True)
    assert choose_policy(NGINX, [elsewhere], None).action == "none"
    assert choose_policy(NGINX, [elsewhere, cpp], None).policy == cpp.ref
    pinned = _policy("pinned", cluster=True, resourceSelectors=[{**BY_NAME[0], "namespace": "other"}])
    assert choose_policy(NGINX, [pinned], None).action == "none"
    for ns in ("kube-system", "kube-federation-system"):
        obj = ResourceTemplate("apps/v1", "Deployment", "nginx", ns)
        assert choose_policy(obj, [cpp, _policy("pp", namespace=ns)], None).action == "none"
    namespace_obj = ResourceTemplate("v1", "Namespace", "default")
    ns_pp = _policy("pp", resourceSelectors=[{"apiVersion": "v1", "kind": "Namespace"}])
    ns_cpp = _policy("cpp", cluster=True, resourceSelectors=[{"apiVersion": "v1", "kind": "Namespace"}])
    assert choose_policy(namespace_obj, [ns_pp], None).action == "none"  # cluster-scoped: CPP only
    assert choose_policy(namespace_obj, [ns_pp, ns_cpp], None).policy == ns_cpp.ref


def test_propagation_policy_beats_cluster_policy_of_higher_priority_when_unclaimed() -> None:
    pp = _policy("pp")
    cpp = _policy("cpp", cluster=True, priority=100, resourceSelectors=BY_NAME)
    assert choose_policy(NGINX, [cpp, pp], None).policy == pp.ref


def test_claim_sticks_without_preemption() -> None:
    low = _policy("low")
    high = _policy("high", priority=10, resourceSelectors=BY_NAME)  # preemption defaults to Never
    choice = choose_policy(NGINX, [low, high], low.ref)
    assert (choice.action, choice.policy) == ("keep", low.ref)


def test_priority_and_preemption_between_two_policies() -> None:
    low = _policy("low", priority=1)
    high = _policy("high", priority=5, preemption="Always")
    choice = choose_policy(NGINX, [low, high], low.ref)
    assert (choice.action, choice.policy, choice.previous) == ("preempt", high.ref, low.ref)
    # once claimed by the higher one, the lower one cannot take it back
    assert choose_policy(NGINX, [low, high], high.ref).action == "keep"
    # equal priority never preempts
    equal = _policy("equal", priority=1, preemption="Always")
    assert choose_policy(NGINX, [low, equal], low.ref).action == "keep"
    # a preemptor must match the template
    blind = _policy("blind", priority=9, preemption="Always", resourceSelectors=[{**BY_NAME[0], "name": "x"}])
    assert choose_policy(NGINX, [low, blind], low.ref).action == "keep"


def test_preemption_across_policy_kinds() -> None:
    cpp = _policy("cpp", cluster=True, priority=100)
    pp = _policy("pp", priority=0, preemption="Always")
    assert choose_policy(NGINX, [cpp, pp], cpp.ref).policy == pp.ref  # PP preempts any CPP
    cpp_low = _policy("cpp-low", cluster=True, priority=1)
    cpp_high = _policy("cpp-high", cluster=True, priority=2, preemption="Always")
    assert choose_policy(NGINX, [cpp_low, cpp_high], cpp_low.ref).policy == cpp_high.ref
    pp_claimed = _policy("mine", priority=0)
    cpp_greedy = _policy("greedy", cluster=True, priority=1000, preemption="Always")
    assert (
        choose_policy(NGINX, [pp_claimed, cpp_greedy], pp_claimed.ref).action == "keep"
    )  # CPP never preempts PP


def test_policy_changes_move_or_release_the_template() -> None:
    first = _policy("first", resourceSelectors=BY_NAME)
    second = _policy("second")
    # deleted claimed policy: re-matched
    moved = choose_policy(NGINX, [second], first.ref)
    assert (moved.action, moved.policy, moved.previous) == ("moved", second.ref, first.ref)
    # selector changed so it no longer matches: re-matched too
    changed = _policy("first", resourceSelectors=[{**BY_NAME[0], "name": "other"}])
    assert choose_policy(NGINX, [changed, second], first.ref).policy == second.ref
    released = choose_policy(NGINX, [changed], first.ref)
    assert (released.action, released.policy, released.previous) == ("released", None, first.ref)


def test_lowered_priority_lets_a_preempting_policy_take_over() -> None:
    claimed = _policy("claimed", priority=5)
    waiting = _policy("waiting", priority=3, preemption="Always")
    assert choose_policy(NGINX, [claimed, waiting], claimed.ref).action == "keep"
    lowered = _policy("claimed", priority=2)
    assert choose_policy(NGINX, [lowered, waiting], claimed.ref).policy == waiting.ref


@pytest.mark.parametrize(
    ("labels", "ref"),
    [
        (
            {CLAIM_LABELS["namespace"]: "default", CLAIM_LABELS["name"]: "p"},
            PolicyRef(PROPAGATION_POLICY, "p", "default"),
        ),
        ({CLAIM_LABELS["cluster"]: "c"}, PolicyRef(CLUSTER_PROPAGATION_POLICY, "c")),
        ({"app": "x"}, None),
    ],
)
def test_claim_is_read_from_karmadas_labels(labels: dict[str, str], ref: PolicyRef | None) -> None:
    assert claim_from_labels(labels) == ref


def test_template_from_an_object() -> None:
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "n", "namespace": "ns", "labels": {"a": "b"}},
    }
    assert ResourceTemplate.of(obj) == ResourceTemplate("apps/v1", "Deployment", "n", "ns", {"a": "b"})
