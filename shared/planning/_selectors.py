"""Kubernetes label-selector semantics, written once and shared by every planner.

KubeFed selects member clusters with a ``metav1.LabelSelector`` over KubeFedCluster labels
(``spec.placement.clusterSelector``, contract §1.3/§2.5.2) and ``kubefedctl`` accepts the
string form (``--cluster-selector``). No maintained Python package implements either, so
this module does, following apimachinery's rules:

* ``None`` matches nothing, ``{}`` matches everything; terms are ANDed.
* ``NotIn`` and ``DoesNotExist`` are true when the key is absent.
* ``In``/``NotIn`` need a non-empty ``values``; ``Exists``/``DoesNotExist`` must not have
  values. Anything else is a :class:`SelectorError` (KubeFed reports it as
  ``ComputePlacementFailed``) instead of silently matching nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

_OPERATORS = frozenset({"In", "NotIn", "Exists", "DoesNotExist"})


class SelectorError(ValueError):
    """A label selector (dict or string form) is malformed."""


def _requirement(key: Any, operator: Any, values: Any) -> Callable[[Mapping[str, str]], bool]:
    if not isinstance(key, str) or not key:
        raise SelectorError(f"selector requirement has an invalid key: {key!r}")
    if operator not in _OPERATORS:
        raise SelectorError(f"selector requirement for key {key!r} has invalid operator {operator!r}")
    vals: Sequence[Any] = values or ()
    if not isinstance(vals, Sequence) or isinstance(vals, str):
        raise SelectorError(f"selector requirement for key {key!r} has non-list values")
    if operator in ("In", "NotIn"):
        if not vals:
            raise SelectorError(f"operator {operator} for key {key!r} requires non-empty values")
        allowed = frozenset(str(v) for v in vals)
        if operator == "In":
            return lambda labels: key in labels and labels[key] in allowed
        return lambda labels: key not in labels or labels[key] not in allowed
    if vals:
        raise SelectorError(f"operator {operator} for key {key!r} must not have values")
    if operator == "Exists":
        return lambda labels: key in labels
    return lambda labels: key not in labels


def _compile(selector: Mapping[str, Any]) -> list[Callable[[Mapping[str, str]], bool]]:
    checks: list[Callable[[Mapping[str, str]], bool]] = []
    match_labels = selector.get("matchLabels") or {}
    if not isinstance(match_labels, Mapping):
        raise SelectorError("matchLabels must be an object")
    for key, value in match_labels.items():
        checks.append(_requirement(key, "In", [value]))
    expressions = selector.get("matchExpressions") or []
    if not isinstance(expressions, Sequence) or isinstance(expressions, str):
        raise SelectorError("matchExpressions must be a list")
    for expr in expressions:
        if not isinstance(expr, Mapping):
            raise SelectorError("each matchExpressions entry must be an object")
        checks.append(_requirement(expr.get("key"), expr.get("operator"), expr.get("values")))
    return checks


def match_label_selector(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Return whether ``labels`` satisfy a ``metav1.LabelSelector`` dict.

    Raises:
        SelectorError: the selector is malformed (checked even when labels are empty).
    """
    if selector is None:
        return False
    return all(check(labels) for check in _compile(selector))


# One requirement of the string syntax, e.g. ``a=b``, ``a!=b``, ``a in (x,y)``, ``a``, ``!a``.
_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET_RE = re.compile(rf"^\s*(?P<key>{_KEY})\s+(?P<op>in|notin)\s*\((?P<vals>[^()]*)\)\s*$")
_EQ_RE = re.compile(rf"^\s*(?P<key>{_KEY})\s*(?P<op>==|=|!=)\s*(?P<val>{_VALUE})\s*$")
_EXISTS_RE = re.compile(rf"^\s*(?P<neg>!?)\s*(?P<key>{_KEY})\s*$")
_VALUE_RE = re.compile(rf"^{_VALUE}$")


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    terms: list[str] = []
    depth = 0
    current: list[str] = []
    for ch in text:
        if ch == "(":
            depth += 1
            if depth > 1:
                raise SelectorError(f"nested parentheses in selector {text!r}")
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise SelectorError(f"unbalanced parentheses in selector {text!r}")
        if ch == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(ch)
    if depth != 0:
        raise SelectorError(f"unbalanced parentheses in selector {text!r}")
    terms.append("".join(current))
    return terms


def _parse_requirements(text: str) -> list[dict[str, Any]]:
    """Parse the string syntax into ``matchExpressions``-shaped requirements."""
    if not text.strip():
        return []
    requirements: list[dict[str, Any]] = []
    for term in _split_terms(text):
        if m := _SET_RE.match(term):
            values = [v.strip() for v in m["vals"].split(",")]
            if not values or any(not v or not _VALUE_RE.match(v) for v in values):
                raise SelectorError(f"invalid value list in selector term {term.strip()!r}")
            op = "In" if m["op"] == "in" else "NotIn"
            requirements.append({"key": m["key"], "operator": op, "values": values})
        elif m := _EQ_RE.match(term):
            op = "NotIn" if m["op"] == "!=" else "In"
            requirements.append({"key": m["key"], "operator": op, "values": [m["val"]]})
        elif m := _EXISTS_RE.match(term):
            op = "DoesNotExist" if m["neg"] else "Exists"
            requirements.append({"key": m["key"], "operator": op})
        else:
            raise SelectorError(f"invalid selector term {term.strip()!r}")
    return requirements


def parse_selector_string(s: str) -> Callable[[Mapping[str, str]], bool]:
    """Compile ``a=b,c!=d,e in (x,y),f notin (z),g,!h`` into a label predicate.

    The empty string matches everything, as in ``kubectl -l ''``.
    """
    checks = [_requirement(r["key"], r["operator"], r.get("values")) for r in _parse_requirements(s)]
    return lambda labels: all(check(labels) for check in checks)


def selector_from_string(s: str) -> dict[str, Any]:
    """Convert the string syntax into a ``metav1.LabelSelector`` dict.

    Plain equalities become ``matchLabels``; everything else becomes ``matchExpressions``
    (a repeated equality key falls back to an expression so no term is lost).
    """
    match_labels: dict[str, str] = {}
    expressions: list[dict[str, Any]] = []
    for term, req in zip(_split_terms(s) if s.strip() else [], _parse_requirements(s), strict=True):
        is_equality = _EQ_RE.match(term) is not None and req["operator"] == "In"
        if is_equality and req["key"] not in match_labels:
            match_labels[req["key"]] = req["values"][0]
        else:
            expressions.append(req)
    selector: dict[str, Any] = {}
    if match_labels:
        selector["matchLabels"] = match_labels
    if expressions:
        selector["matchExpressions"] = expressions
    return selector
