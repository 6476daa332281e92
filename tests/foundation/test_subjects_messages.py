"""Subjects and messages: token encoding round-trips for awkward names; messages round-trip typed.

Covers: encode/decode of names with dots, wildcards, unicode and the empty string; subjects parse back
to their parts; templates stay low-cardinality; every message kind survives encode/decode; a bad
payload is rejected.
"""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared import subjects
from shared.messages import (
    ClusterHealthReport,
    ClusterOutcome,
    HostChange,
    MemberObservation,
    ObjectKey,
    PlacementDecision,
    ResourceRelisted,
    StatusReport,
    TargetType,
    decode,
    encode,
)

AWKWARD = [
    "",
    "a",
    "my.app",
    "deployments.apps",
    "x*y",
    "a>b",
    "_",
    "%",
    "%25",
    "a b",
    "ünï",
    "a.b.c.d",
    "-",
    "..",
    "x_y",
]


@pytest.mark.parametrize("name", AWKWARD)
def test_awkward_names_round_trip(name: str) -> None:
    token = subjects.encode_token(name)
    assert "." not in token and "*" not in token and ">" not in token and " " not in token
    assert subjects.decode_token(token) == name


@given(st.text(max_size=80))
def test_any_text_round_trips(name: str) -> None:
    assert subjects.decode_token(subjects.encode_token(name)) == name


@given(st.text(max_size=30), st.text(max_size=30), st.text(min_size=1, max_size=30))
def test_object_subjects_parse_back(resource: str, namespace: str, name: str) -> None:
    subject = subjects.desired_subject(resource, namespace, name)
    assert subject.count(".") == 4
    assert subjects.parse_object_subject(subject) == (resource, namespace, name)


def test_templates_hide_object_names() -> None:
    s = subjects.host_subject("federateddeployments.types.kubefed.io", "ns.with.dots", "web")
    assert subjects.template_of(s) == "kubefed.host.{resource}.{namespace}.{name}"
    assert subjects.template_of(subjects.status_subject("c1")) == "kubefed.status.{cluster}"


def test_invalid_tokens_are_rejected() -> None:
    for bad in ("a.b", "%4", "%zz", "a*"):
        with pytest.raises(ValueError):
            subjects.decode_token(bad)


def test_every_message_round_trips() -> None:
    key = ObjectKey(resource="federatedconfigmaps.types.kubefed.io", namespace="ns", name="cm.one")
    target = TargetType(group="", version="v1", kind="ConfigMap", plural="configmaps", namespaced=True)
    messages = [
        HostChange(key=key, resource_version="12", generation=3),
        ResourceRelisted(resource=key.resource, resource_version="99", count=4),
        PlacementDecision(
            key=key,
            target=target,
            template={"data": {"a": "1"}},
            clusters=["c1"],
            overrides={"c1": [{"path": "/data/a", "value": "2"}]},
        ),
        StatusReport(cluster="c1", outcomes=[ClusterOutcome(key=key, cluster="c1", op="created")]),
        ClusterHealthReport(cluster="c1", reachable=True, healthy=True, ready=True),
        MemberObservation(cluster="c1", kind="Service", namespace="ns", name="web", lb_ips=["192.0.2.1"]),
    ]
    for m in messages:
        data = encode(m)
        assert decode(data) == m
        assert msgspec.json.decode(data)["type"]  # tagged
        assert msgspec.json.decode(data)["schema"] == 1


def test_bad_payload_is_rejected() -> None:
    with pytest.raises(msgspec.ValidationError):
        decode(b'{"type": "host.change", "key": {"name": 1}}')
    with pytest.raises(msgspec.DecodeError):
        decode(b"not json")


def test_target_type_names() -> None:
    t = TargetType(group="apps", version="v1", kind="Deployment", plural="deployments", namespaced=True)
    assert (t.api_version, t.resource) == ("apps/v1", "deployments.apps")
    core = TargetType(group="", version="v1", kind="Secret", plural="secrets", namespaced=True)
    assert (core.api_version, core.resource) == ("v1", "secrets")
