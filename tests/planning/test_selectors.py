"""Label selectors (``shared.planning._selectors``).

Covers: metav1.LabelSelector dict semantics (None/{} , matchLabels, In/NotIn/Exists/
DoesNotExist, NotIn with absent key, ANDing), validation errors, the string syntax parser
(all term kinds, whitespace, bad syntax) and its conversion to a LabelSelector dict, plus a
property that the string form and the dict form agree.
"""

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.planning import SelectorError, match_label_selector, parse_selector_string, selector_from_string

LABELS = {"region": "eu", "tier": "gold", "env": "prod"}


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        (None, LABELS, False),
        (None, {}, False),
        ({}, LABELS, True),
        ({}, {}, True),
        ({"matchLabels": {"region": "eu"}}, LABELS, True),
        ({"matchLabels": {"region": "us"}}, LABELS, False),
        ({"matchLabels": {"region": "eu", "tier": "silver"}}, LABELS, False),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["gold", "x"]}]}, LABELS, True),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["x"]}]}, LABELS, False),
        ({"matchExpressions": [{"key": "nokey", "operator": "In", "values": ["x"]}]}, LABELS, False),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["gold"]}]}, LABELS, False),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["x"]}]}, LABELS, True),
        ({"matchExpressions": [{"key": "absent", "operator": "NotIn", "values": ["x"]}]}, LABELS, True),
        ({"matchExpressions": [{"key": "env", "operator": "Exists"}]}, LABELS, True),
        ({"matchExpressions": [{"key": "absent", "operator": "Exists"}]}, LABELS, False),
        ({"matchExpressions": [{"key": "env", "operator": "DoesNotExist"}]}, LABELS, False),
        ({"matchExpressions": [{"key": "absent", "operator": "DoesNotExist"}]}, LABELS, True),
        (
            {
                "matchLabels": {"region": "eu"},
                "matchExpressions": [{"key": "env", "operator": "In", "values": ["dev"]}],
            },
            LABELS,
            False,
        ),
    ],
)
def test_match_label_selector(
    selector: dict[str, Any] | None, labels: dict[str, Any], expected: bool
) -> None:
    assert match_label_selector(selector, labels) is expected


@pytest.mark.parametrize(
    "selector",
    [
        {"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]},
        {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
        {"matchExpressions": [{"key": "a", "operator": "NotIn"}]},
        {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
        {"matchExpressions": [{"key": "a", "operator": "DoesNotExist", "values": ["x"]}]},
        {"matchExpressions": [{"operator": "Exists"}]},
        {"matchLabels": ["a"]},
    ],
)
def test_invalid_selectors_raise(selector: dict[str, Any]) -> None:
    with pytest.raises(SelectorError):
        match_label_selector(selector, {})


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("", LABELS, True),
        ("region=eu", LABELS, True),
        ("region==eu", LABELS, True),
        ("region=us", LABELS, False),
        ("region!=us", LABELS, True),
        ("region!=eu", LABELS, False),
        ("absent!=x", LABELS, True),
        ("tier in (gold, silver)", LABELS, True),
        ("tier in (silver)", LABELS, False),
        ("tier notin (silver)", LABELS, True),
        ("absent notin (silver)", LABELS, True),
        ("env", LABELS, True),
        ("absent", LABELS, False),
        ("!absent", LABELS, True),
        ("!env", LABELS, False),
        ("region=eu,tier in (gold),env,!absent", LABELS, True),
        (" region = eu , tier notin (gold) ", LABELS, False),
        ("kubernetes.io/os=linux", {"kubernetes.io/os": "linux"}, True),
    ],
)
def test_parse_selector_string(text: str, labels: dict[str, Any], expected: bool) -> None:
    assert parse_selector_string(text)(labels) is expected


@pytest.mark.parametrize(
    "text", ["=eu", "a in ()", "a in (x", "a in x)", "a notin", "a==b==c", "a,,b", "a in ((x))", "a b"]
)
def test_bad_string_syntax_raises(text: str) -> None:
    with pytest.raises(SelectorError):
        parse_selector_string(text)


def test_empty_value_is_valid_syntax() -> None:
    assert parse_selector_string("region=")({"region": ""}) is True
    assert parse_selector_string("region=")({"region": "eu"}) is False


def test_selector_from_string() -> None:
    assert selector_from_string("region=eu,tier in (a,b)") == {
        "matchLabels": {"region": "eu"},
        "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}],
    }
    assert selector_from_string("") == {}
    assert selector_from_string("a!=b,!c,d") == {
        "matchExpressions": [
            {"key": "a", "operator": "NotIn", "values": ["b"]},
            {"key": "c", "operator": "DoesNotExist"},
            {"key": "d", "operator": "Exists"},
        ]
    }
    assert selector_from_string("a=1,a=2") == {
        "matchLabels": {"a": "1"},
        "matchExpressions": [{"key": "a", "operator": "In", "values": ["2"]}],
    }
    with pytest.raises(SelectorError):
        selector_from_string("a in (")


_keys = st.sampled_from(["a", "b", "c"])
_vals = st.sampled_from(["x", "y", "z"])
_term = st.one_of(
    st.builds(lambda k, v: f"{k}={v}", _keys, _vals),
    st.builds(lambda k, v: f"{k}!={v}", _keys, _vals),
    st.builds(lambda k, vs: f"{k} in ({','.join(vs)})", _keys, st.lists(_vals, min_size=1, max_size=3)),
    st.builds(lambda k, vs: f"{k} notin ({','.join(vs)})", _keys, st.lists(_vals, min_size=1, max_size=3)),
    _keys,
    st.builds(lambda k: f"!{k}", _keys),
)


@settings(max_examples=150, deadline=None)
@given(terms=st.lists(_term, max_size=4), labels=st.dictionaries(_keys, _vals))
def test_string_and_dict_forms_agree(terms: list[str], labels: dict[str, str]) -> None:
    text = ",".join(terms)
    assert parse_selector_string(text)(labels) == match_label_selector(selector_from_string(text), labels)
