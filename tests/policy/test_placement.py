"""Cluster affinity over KubeFedClusters and replica division (Duplicated, Divided static and dynamic).

Covers: clusterNames, exclude, labelSelector (empty selects all), fieldSelector on region and zone
(In / NotIn), not-ready clusters never chosen; Karmada's documented divisions (equal static weights,
dynamic weights 6:12:18 of 12 replicas = 2/4/6), highest matching static weight, unweighted clusters get
nothing, all-zero weights fall back to equal, not enough available replicas is an error, the sample
policies' strategies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from shared.karmada_api import ClusterAffinity, ReplicaSchedulingStrategy, decode_propagation_spec
from shared.policy import PolicyCluster, ReplicaDivisionError, candidate_clusters, divide_replicas

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "karmada-samples"

FLEET = [
    PolicyCluster("member1", {"location": "us", "tier": "gold"}, "us-east", ("us-east-1a",)),
    PolicyCluster("member2", {"location": "us"}, "us-west", ("us-west-1a", "us-west-1b")),
    PolicyCluster("member3", {"location": "eu"}, "eu-central", ("eu-central-1a",)),
    PolicyCluster("member4", {"location": "eu"}, "eu-central", (), ready=False),
]


def _aff(**kw: Any) -> ClusterAffinity:
    return msgspec.convert(kw, ClusterAffinity)


@pytest.mark.parametrize(
    ("affinity", "expected"),
    [
        (None, ["member1", "member2", "member3"]),
        ({"clusterNames": ["member1", "member3", "ghost"]}, ["member1", "member3"]),
        ({"exclude": ["member1"]}, ["member2", "member3"]),
        ({"labelSelector": {}}, ["member1", "member2", "member3"]),
        ({"labelSelector": {"matchLabels": {"location": "us"}}}, ["member1", "member2"]),
        (
            {"labelSelector": {"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}},
            ["member2", "member3"],
        ),
        (
            {
                "fieldSelector": {
                    "matchExpressions": [{"key": "region", "operator": "NotIn", "values": ["us-east"]}]
                }
            },
            ["member2", "member3"],
        ),
        (
            {
                "fieldSelector": {
                    "matchExpressions": [{"key": "zone", "operator": "In", "values": ["us-west-1a"]}]
                }
            },
            [],  # member2 also has us-west-1b: In needs all of a cluster's zones
        ),
        (
            {
                "fieldSelector": {
                    "matchExpressions": [
                        {"key": "zone", "operator": "In", "values": ["us-west-1a", "us-west-1b"]}
                    ]
                }
            },
            ["member2"],
        ),
        (
            {
                "clusterNames": ["member1", "member2"],
                "labelSelector": {"matchLabels": {"location": "us"}},
                "exclude": ["member2"],
            },
            ["member1"],
        ),
    ],
)
def test_cluster_affinity(affinity: dict[str, Any] | None, expected: list[str]) -> None:
    assert candidate_clusters(_aff(**affinity) if affinity is not None else None, FLEET) == expected


def _strategy(**kw: Any) -> ReplicaSchedulingStrategy:
    return msgspec.convert(kw, ReplicaSchedulingStrategy)


def _pick(*names: str) -> list[PolicyCluster]:
    return [c for c in FLEET if c.name in names]


def test_duplicated_divides_nothing() -> None:
    assert divide_replicas(None, 5, FLEET[:3], key="default/nginx") is None
    assert divide_replicas(_strategy(replicaSchedulingType="Duplicated"), 5, FLEET[:3], key="k") is None


def test_divided_defaults_to_equal_weights() -> None:
    plan = divide_replicas(_strategy(), 6, FLEET[:3], key="default/nginx")
    assert plan == {"member1": 2, "member2": 2, "member3": 2}
    odd = divide_replicas(
        _strategy(replicaSchedulingType="Divided"), 5, _pick("member1", "member2"), key="default/n"
    )
    assert odd is not None and sorted(odd.values()) == [2, 3] and sum(odd.values()) == 5


def test_static_weights_highest_match_and_unweighted_clusters() -> None:
    strategy = _strategy(
        replicaSchedulingType="Divided",
        replicaDivisionPreference="Weighted",
        weightPreference={
            "staticWeightList": [
                {"targetCluster": {"labelSelector": {"matchLabels": {"location": "us"}}}, "weight": 1},
                {"targetCluster": {"clusterNames": ["member1"]}, "weight": 3},
            ]
        },
    )
    assert divide_replicas(strategy, 8, FLEET[:3], key="default/nginx") == {"member1": 6, "member2": 2}
    nobody = _strategy(
        weightPreference={"staticWeightList": [{"targetCluster": {"clusterNames": ["x"]}, "weight": 2}]}
    )
    assert divide_replicas(nobody, 4, _pick("member1", "member2"), key="k") == {"member1": 2, "member2": 2}


def test_dynamic_weight_available_replicas_as_documented() -> None:
    strategy = _strategy(
        replicaSchedulingType="Divided",
        replicaDivisionPreference="Weighted",
        weightPreference={"dynamicWeight": "AvailableReplicas"},
    )
    available = {"member1": 6, "member2": 12, "member3": 18}
    assert divide_replicas(strategy, 12, FLEET[:3], key="default/nginx", available=available) == {
        "member1": 2,
        "member2": 4,
        "member3": 6,
    }
    assert divide_replicas(strategy, 3, FLEET[:3], key="k", available={"member1": 0, "member2": 3}) == {
        "member2": 3
    }
    with pytest.raises(ReplicaDivisionError, match="13 replicas wanted, 12 available"):
        divide_replicas(strategy, 13, FLEET[:3], key="k", available={"member1": 12})
    with pytest.raises(ReplicaDivisionError, match="needs the clusters' available replicas"):
        divide_replicas(strategy, 1, FLEET[:3], key="k")


def test_sample_policies_strategies() -> None:
    alpine = decode_propagation_spec(
        yaml.safe_load((SAMPLES / "samples-alpine-propagationpolicy.yaml").read_text())
    )
    placement = alpine.placement
    assert placement is not None
    clusters = [c for c in FLEET if c.name in candidate_clusters(placement.clusterAffinity, FLEET)]
    assert divide_replicas(placement.replicaScheduling, 4, clusters, key="default/echo") == {
        "member1": 2,
        "member2": 2,
    }
    echo = decode_propagation_spec(
        yaml.safe_load((SAMPLES / "samples-echo-propagationpolicy.yaml").read_text())
    )
    assert echo.placement is not None
    assert (
        divide_replicas(echo.placement.replicaScheduling, 4, FLEET[:2], key="default/echo") is None
    )  # Duplicated
