"""Label and field selectors in the string syntax of the list/watch query parameters.

Parsing happens once per request; the returned predicates are plain closures over tuples so that a
list or a watch fan-out pays only a few dict lookups per object.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ._errors import bad_request, go_value
from ._validation import label_value, qualified_name

Predicate = Callable[[dict[str, Any]], bool]

_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")
_TOKENS = {
    ")": "CLOSE",
    ",": "COMMA",
    "!": "NOT",
    "==": "DEQ",
    "=": "EQ",
    ">": "GT",
    "in": "IN",
    "<": "LT",
    "!=": "NEQ",
    "notin": "NOTIN",
    "(": "OPEN",
}
_BINARY = "in, notin, =, ==, !=, gt, lt"


def _lex(text: str) -> list[tuple[str, str]]:
    """apimachinery's label-selector lexer: (token, literal) pairs ending with ("END", "")."""
    items: list[tuple[str, str]] = []
    pos, n = 0, len(text)
    while True:
        while pos < n and text[pos] in _WHITESPACE:
            pos += 1
        if pos >= n:
            items.append(("END", ""))
            return items
        if text[pos] in _SPECIAL:
            buf, last = "", None
            while pos < n and text[pos] in _SPECIAL:
                buf += text[pos]
                if buf in _TOKENS:
                    last = (_TOKENS[buf], buf)
                    pos += 1
                elif last is not None:
                    break
                else:
                    pos += 1
            items.append(last or ("ERROR", f"error expected: keyword found '{buf}'"))
        else:
            start = pos
            while pos < n and text[pos] not in _SPECIAL and text[pos] not in _WHITESPACE:
                pos += 1
            word = text[start:pos]
            items.append((_TOKENS.get(word, "ID"), word))


class _Parser:
    """apimachinery's label-selector parser, with its error messages."""

    def __init__(self, text: str) -> None:
        self.items = _lex(text)
        self.pos = 0

    def _peek(self, values: bool = True) -> tuple[str, str]:
        tok, lit = self.items[self.pos]
        return ("ID" if values and tok in ("IN", "NOTIN") else tok), lit

    def _next(self, values: bool = True) -> tuple[str, str]:
        item = self._peek(values)
        self.pos += 1
        return item

    def parse(self) -> list[tuple[str, str, Any]]:
        checks: list[tuple[str, str, Any]] = []
        while True:
            tok, lit = self._peek()
            if tok in ("ID", "NOT"):
                try:
                    checks.append(self._requirement())
                except ValueError as exc:
                    raise bad_request(f"unable to parse requirement: {exc}") from exc
                tok, lit = self._next()
                if tok == "END":
                    return checks
                if tok == "COMMA":
                    tok2, lit2 = self._peek()
                    if tok2 not in ("ID", "NOT"):
                        raise bad_request(f"found '{lit2}', expected: identifier after ','")
                else:
                    raise bad_request(f"found '{lit}', expected: ',' or 'end of string'")
            elif tok == "END":
                return checks
            else:
                raise bad_request(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def _requirement(self) -> tuple[str, str, Any]:
        tok, key = self._next()
        negated = tok == "NOT"
        if negated:
            tok, key = self._next()
        if tok != "ID":
            raise ValueError(f"found '{key}', expected: identifier")
        errs = qualified_name(key)
        if errs:
            raise ValueError(f"<nil>: Invalid value: {go_value(key)}: {'; '.join(errs)}")
        if self._peek()[0] in ("END", "COMMA"):
            return ("!" if negated else "exists", key, None)
        tok, lit = self._next(values=False)
        ops = {"IN": "in", "NOTIN": "notin", "EQ": "=", "DEQ": "=", "NEQ": "!=", "GT": "gt", "LT": "lt"}
        if tok not in ops:
            raise ValueError(f"found '{lit}', expected: {_BINARY}")
        op = ops[tok]
        values = self._values() if op in ("in", "notin") else self._exact()
        causes = []
        if op in ("gt", "lt"):
            for i, v in enumerate(values):
                if not re.fullmatch(r"[+-]?\d+", v):
                    causes.append(
                        f"values[{i}]: Invalid value: {go_value(v)}: for 'Gt', 'Lt' operators, the value "
                        "must be an integer"
                    )
        for i, v in enumerate(values):
            errs = label_value(v)
            if errs:
                causes.append(f"values[{i}][{key}]: Invalid value: {go_value(v)}: {'; '.join(errs)}")
        if causes:
            raise ValueError(causes[0] if len(causes) == 1 else "[" + ", ".join(causes) + "]")
        if op in ("in", "notin"):
            return (op, key, frozenset(values))
        if op in ("gt", "lt"):
            return (op, key, int(values[0]))
        return (op, key, values[0])

    def _values(self) -> list[str]:
        tok, lit = self._next()
        if tok != "OPEN":
            raise ValueError(f"found '{lit}' expected: '('")
        tok, lit = self._peek()
        if tok == "CLOSE":
            self._next()
            return [""]
        if tok not in ("ID", "COMMA"):
            raise ValueError(f"found '{lit}', expected: ',', ')' or identifier")
        found: list[str] = []
        while True:
            tok, lit = self._next()
            if tok == "ID":
                found.append(lit)
                tok2, lit2 = self._peek()
                if tok2 == "COMMA":
                    continue
                if tok2 == "CLOSE":
                    break
                raise ValueError(f"found '{lit2}', expected: ',' or ')'")
            if tok == "COMMA":
                if not found:
                    found.append("")
                tok2, _ = self._peek()
                if tok2 in ("CLOSE", "COMMA"):
                    found.append("")
                    if tok2 == "CLOSE":
                        break
                continue
            raise ValueError(f"found '{lit}', expected: ',', or identifier")
        tok, _ = self._next()
        if tok != "CLOSE":
            raise ValueError(f"found '{lit}', expected: ')'")
        return sorted(set(found))

    def _exact(self) -> list[str]:
        tok, _ = self._peek()
        if tok in ("END", "COMMA"):
            return [""]
        tok, lit = self._next()
        if tok == "ID":
            return [lit]
        raise ValueError(f"found '{lit}', expected: identifier")


def parse_label_selector(text: str | None) -> Predicate | None:
    """Compile ``k=v,k!=v,k in (a,b),k notin (a),k,!k,k>1``; None when empty. 400 with apimachinery's
    parser messages on bad syntax."""
    if not text or not text.strip():
        return None
    return _label_predicate(_Parser(text).parse())


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
        elif op in ("gt", "lt"):
            try:
                number = int(have) if have is not None else None
            except ValueError:
                return False
            if number is None or (number <= val if op == "gt" else number >= val):
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
    ("", "pods"): frozenset(
        {
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        }
    ),
    ("", "secrets"): frozenset({"type"}),
    ("", "events"): frozenset(
        {
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "source",
            "type",
            "reportingComponent",
        }
    ),
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
            if gp in EXTRA_FIELDS:  # kinds with their own field-label conversion
                raise bad_request(f"field label not supported: {key}")
            raise bad_request(
                f'"{key}" is not a known field selector: only "metadata.name", "metadata.namespace"'
            )
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
