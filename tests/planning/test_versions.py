"""Versions and update decisions (``shared.planning._versions``), contract §2.5.8.

Covers: Go-compatible JSON encoding (sorted keys, compact, HTML-safe escapes, float forms),
template/overrides MD5 over exact byte strings, object_version gen/rv, content_hash
stability and sensitivity, needs_update (unknown/mismatched version, meta differences with
empty == None, rv-versioned objects trust the version, drift on fields desired sets,
server-populated fields ignored, list length/bool-vs-int differences); properties:
content_hash ignores key order and needs_update is False for live == desired.
"""

import hashlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.planning import (
    content_hash,
    go_json,
    has_drift,
    needs_update,
    object_version,
    overrides_version,
    template_version,
)
from shared.planning._versions import _go_json_slow


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"b": 1, "a": [True, None, "x"]}, '{"a":[true,null,"x"],"b":1}'),
        ("<a&b>", '"\\u003ca\\u0026b\\u003e"'),
        ("line\nbreak\t\u2028é", '"line\\nbreak\\t\\u2028é"'),
        (2.0, "2"),
        (0.5, "0.5"),
        (1e21, "1e+21"),
        (1.5e-7, "1.5e-7"),
        (1e-5, "0.00001"),
        (123456789.125, "123456789.125"),
        (-0.0, "0"),
        ({}, "{}"),
        ([], "[]"),
    ],
)
def test_go_json(value: object, expected: str) -> None:
    assert go_json(value) == expected


def test_template_and_overrides_versions() -> None:
    template = {"spec": {"replicas": 3}, "metadata": {"labels": {"a": "b"}}}
    expected = hashlib.md5(b'{"metadata":{"labels":{"a":"b"}},"spec":{"replicas":3}}').hexdigest()
    assert template_version(template) == expected
    overrides = [{"clusterName": "c1", "clusterOverrides": [{"path": "/spec/replicas", "value": 1}]}]
    expected_ov = hashlib.md5(
        b'{"overrides":[{"clusterName":"c1","clusterOverrides":[{"path":"/spec/replicas","value":1}]}]}'
    ).hexdigest()
    assert overrides_version(overrides) == expected_ov
    assert overrides_version(None) == hashlib.md5(b'{"overrides":null}').hexdigest()
    assert template_version({"a": 1}) != template_version({"a": 2})


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"metadata": {"generation": 4, "resourceVersion": "99"}}, "gen:4"),
        ({"metadata": {"generation": 0, "resourceVersion": "99"}}, "rv:99"),
        ({"metadata": {"resourceVersion": "12"}}, "rv:12"),
    ],
)
def test_object_version(obj: dict[str, Any], expected: str) -> None:
    assert object_version(obj) == expected


def test_content_hash() -> None:
    a = {"x": 1, "y": {"z": [1, 2]}}
    assert content_hash(a) == content_hash({"y": {"z": [1, 2]}, "x": 1})
    assert content_hash(a) != content_hash({"x": 1, "y": {"z": [2, 1]}})
    assert len(content_hash(a)) == 64


DESIRED = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "d", "namespace": "ns", "labels": {"kubefed.io/managed": "true"}},
    "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": "i:1"}]}}},
}


def _live(**changes: object) -> dict[str, Any]:
    live: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "d",
            "namespace": "ns",
            "labels": {"kubefed.io/managed": "true"},
            "generation": 3,
            "resourceVersion": "100",
            "uid": "u",
        },
        "spec": {
            "replicas": 2,
            "strategy": {"type": "RollingUpdate"},
            "template": {
                "spec": {"containers": [{"name": "c", "image": "i:1", "imagePullPolicy": "IfNotPresent"}]}
            },
        },
        "status": {"readyReplicas": 2},
    }
    for path, value in changes.items():
        node: Any = live
        keys = path.split("__")
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return live


@pytest.mark.parametrize(
    ("live", "recorded", "expected"),
    [
        (_live(), "gen:3", False),
        (_live(), None, True),
        (_live(), "gen:2", True),
        (_live(metadata__labels={"kubefed.io/managed": "true", "extra": "x"}), "gen:3", True),
        (_live(metadata__annotations={"a": "b"}), "gen:3", True),
        (_live(metadata__annotations={}), "gen:3", False),
        (_live(spec__replicas=5), "gen:3", True),
        (_live(status={"readyReplicas": 0}), "gen:3", False),
        (_live(spec__template={"spec": {"containers": [{"name": "c", "image": "i:2"}]}}), "gen:3", True),
        (_live(spec__template={"spec": {"containers": []}}), "gen:3", True),
    ],
)
def test_needs_update(live: dict[str, Any], recorded: str | None, expected: bool) -> None:
    assert needs_update(DESIRED, live, recorded) is expected


def test_rv_versioned_objects_trust_the_version() -> None:
    desired = {"metadata": {"name": "c"}, "data": {"k": "v"}}
    live = {"metadata": {"name": "c", "resourceVersion": "5", "labels": {"x": "y"}}, "data": {"k": "other"}}
    assert needs_update(desired, live, "rv:5") is False
    assert needs_update(desired, live, "rv:4") is True


def test_has_drift_details() -> None:
    assert not has_drift({"spec": {"a": None, "b": {}, "c": []}}, {"spec": {}})
    assert has_drift({"spec": {"flag": True}}, {"spec": {"flag": 1}})
    assert has_drift({"spec": {"n": 1}}, {"spec": {"n": "1"}})
    assert not has_drift({"spec": {"n": 1}}, {"spec": {"n": 1.0}})
    assert has_drift({"data": {"k": "v"}}, {})
    assert not has_drift({"status": {"x": 1}}, {})


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=100, deadline=None)
@given(obj=st.dictionaries(st.text(max_size=4), _json, max_size=4))
def test_content_hash_ignores_key_order(obj: dict[str, Any]) -> None:
    reordered = dict(reversed(list(obj.items())))
    assert content_hash(obj) == content_hash(reordered)


@settings(max_examples=100, deadline=None)
@given(spec=st.dictionaries(st.text(max_size=4), _json, max_size=4))
def test_identical_live_needs_no_update(spec: dict[str, Any]) -> None:
    desired = {"metadata": {"name": "n", "labels": {"a": "b"}}, "spec": spec}
    live = {"metadata": {"name": "n", "labels": {"a": "b"}, "generation": 1}, "spec": spec}
    assert needs_update(desired, live, "gen:1") is False


_any_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=8)
    | st.sampled_from(["<", ">", "&", "\u2028", "\u2029", "\x7f", "\x00", "\b", '"', "\\", "é", "😀"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=500, deadline=None)
@given(value=_any_json)
def test_go_json_fast_path_encodes_exactly_as_the_reference(value: Any) -> None:
    """The msgspec path gives the reference encoder's exact text (hashes on the bus stay valid), or
    defers to it (floats, tuples)."""
    assert go_json(value) == _go_json_slow(value)


@pytest.mark.parametrize("value", [{1: "a"}, {"a": {2, 3}}, {"a": float("nan")}, ("a", 1.5)])
def test_go_json_defers_what_it_cannot_encode_like_go(value: Any) -> None:
    try:
        expected: object = _go_json_slow(value)
    except (TypeError, ValueError) as exc:
        expected = type(exc)
    try:
        got: object = go_json(value)
    except (TypeError, ValueError) as exc:
        got = type(exc)
    assert got == expected


# -- needs_write: the propagator's decision, with no recorded version --------------------------------

from shared.planning import needs_write  # noqa: E402


def _cm(data: dict[str, str], labels: dict[str, str] | None = None, **meta: object) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "a", "namespace": "n", "labels": labels or {}, **meta},
        "data": data,
    }


def test_needs_write_ignores_server_fields_and_extra_labels() -> None:
    desired = _cm({"k": "v"}, {"kubefed.io/managed": "true"})
    live = _cm(
        {"k": "v"},
        {"kubefed.io/managed": "true", "added-by-server": "x"},
        uid="u",
        resourceVersion="9",
        creationTimestamp="t",
    )
    assert needs_write(desired, live) is False


def test_needs_write_detects_drift_and_missing_labels() -> None:
    desired = _cm({"k": "v"}, {"kubefed.io/managed": "true"})
    assert needs_write(desired, _cm({"k": "edited"}, {"kubefed.io/managed": "true"})) is True
    assert needs_write(desired, _cm({"k": "v"}, {})) is True
    # fields the template does not set belong to the member (server defaults, controllers): not drift
    assert needs_write(desired, _cm({"k": "v", "extra": "1"}, {"kubefed.io/managed": "true"})) is False
