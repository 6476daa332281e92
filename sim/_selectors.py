"""Label and field selectors in the string syntax of the list/watch query parameters.

Parsing happens once per request; the returned predicates are plain closures over tuples so that a
list or a watch fan-out pays only a few dict lookups per object.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ._errors import bad_request

Predicate = Callable[[dict[str, Any]], bool]

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_SET_RE = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s*\(([^)]*)\)\s*$")
_EQ_RE = re.compile(rf"^\s*({_KEY})\s*(==|=|!=)\s*([-A-Za-z0-9_.]*)\s*$")
_EXISTS_RE = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")


def _split_terms(text: str) -> list[str]:
    terms: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    terms.append("".join(cur))
    return [t for t in terms if t.strip()]


def parse_label_selector(text: str | None) -> Predicate | None:
    """Compile ``k=v,k!=v,k in (a,b),k notin (a),k,!k``; None when empty. 400 on bad syntax."""
    if not text or not text.strip():
        return None
    checks: list[tuple[str, str, Any]] = []
    for term in _split_terms(text):
        m = _SET_RE.match(term)
        if m:
            values = frozenset(v.strip() for v in m.group(4).split(",") if v.strip())
            checks.append((m.group(3), m.group(1), values))
            continue
        m = _EQ_RE.match(term)
        if m:
            op = "!=" if m.group(3) == "!=" else "="
            checks.append((op, m.group(1), m.group(4)))
            continue
        m = _EXISTS_RE.match(term)
        if m:
            checks.append(("!" if m.group(1) else "exists", m.group(2), None))
            continue
        raise bad_request(f"unable to parse requirement: invalid label selector: {text!r}")
    return _label_predicate(checks)


def _label_predicate(checks: list[tuple[str, str, Any]]) -> Predicate:
    def match(obj: dict[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return labels_match(labels, checks)

    return match


def labels_match(labels: dict[str, str], checks: list[tuple[str, str, Any]]) -> bool:
    for op, key, val in checks:
        have = labels.get(key)
        if op == "=":
            if have != val:
                return False
        elif op == "!=":
            if have == val:
                return False
        elif op == "in":
            if have is None or have not in val:
                return False
        elif op == "notin":
            if have is not None and have in val:
                return False
        elif op == "exists":
            if key not in labels:
                return False
        elif key in labels:
            return False
    return True


def match_label_selector(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """Structured ``LabelSelector`` (matchLabels + matchExpressions); empty matches all, None none."""
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


# Field selectors supported beyond metadata.name / metadata.namespace, per (group, plural).
EXTRA_FIELDS: dict[tuple[str, str], frozenset[str]] = {
    ("", "pods"): frozenset({"spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                             "spec.serviceAccountName", "status.phase", "status.podIP", "status.nominatedNodeName"}),
    ("", "secrets"): frozenset({"type"}),
    ("", "events"): frozenset({"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                               "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                               "involvedObject.fieldPath", "reason", "source", "type", "reportingComponent"}),
    ("", "namespaces"): frozenset({"status.phase"}),
    ("", "nodes"): frozenset({"spec.unschedulable"}),
    ("", "services"): frozenset({"spec.clusterIP", "spec.type"}),
    ("batch", "jobs"): frozenset({"status.successful"}),
    ("apps", "replicasets"): frozenset({"status.replicas"}),
}


def _field_value(obj: dict[str, Any], path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def parse_field_selector(text: str | None, gp: tuple[str, str]) -> Predicate | None:
    """Compile ``metadata.name=x,status.phase!=Running``; 400 for unsupported fields."""
    if not text or not text.strip():
        return None
    allowed = EXTRA_FIELDS.get(gp, frozenset())
    checks: list[tuple[str, bool, str]] = []
    for term in text.split(","):
        term = term.strip()
        if not term:
            continue
        if "!=" in term:
            key, val = term.split("!=", 1)
            neg = True
        elif "==" in term:
            key, val = term.split("==", 1)
            neg = False
        elif "=" in term:
            key, val = term.split("=", 1)
            neg = False
        else:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
        key = key.strip()
        if key not in ("metadata.name", "metadata.namespace") and key not in allowed:
            raise bad_request(f'field label not supported: {key}')
        checks.append((key, neg, val.strip()))

    def match(obj: dict[str, Any]) -> bool:
        for key, neg, val in checks:
            if key == "metadata.name":
                have = obj["metadata"].get("name", "")
            elif key == "metadata.namespace":
                have = obj["metadata"].get("namespace", "")
            else:
                have = _field_value(obj, key)
            if (have == val) == neg:
                return False
        return True

    return match


def field_selector_name(text: str | None) -> str | None:
    """The single ``metadata.name=X`` of a selector, if that is all it says (fast path)."""
    if text and text.startswith("metadata.name=") and "," not in text and "!" not in text:
        return text.split("=", 1)[1].lstrip("=")
    return None
