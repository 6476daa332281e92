"""Field validation of built-in kinds, with kube-apiserver v1.37's exact messages.

Each function returns a list of ``causes`` (``reason``/``field``/``message``), in the order the Go
validation appends them, so that a 422 reads the same as on a real cluster (the differential suite,
tests/real/test_differential*.py, compares them). The rules are ports of
k8s.io/apimachinery/pkg/util/validation (names, label keys and values), .../api/validation
(ObjectMeta) and the per-kind ``validation.go`` of k8s.io/kubernetes/pkg/apis for the fields this
simulator checks; the messages of a bad value go through :func:`sim._errors.go_value`.
"""

from __future__ import annotations

import re
from typing import Any

from ._errors import go_value

Cause = dict[str, str]

_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_LABEL_KEY_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT = f"({_LABEL_KEY_FMT})?"
_DNS1123_LABEL = re.compile(f"^{_DNS1123_LABEL_FMT}$")
_DNS1123_SUBDOMAIN = re.compile(f"^{_DNS1123_SUBDOMAIN_FMT}$")
_DNS1035_LABEL = re.compile(f"^{_DNS1035_LABEL_FMT}$")
_LABEL_KEY = re.compile(f"^{_LABEL_KEY_FMT}$")
_LABEL_VALUE = re.compile(f"^{_LABEL_VALUE_FMT}$")
_LABEL_KEY_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character"
)
STANDARD_FINALIZERS = frozenset({"kubernetes", "orphan", "foregroundDeletion"})


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def dns1123_label(value: str) -> list[str]:
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not _DNS1123_LABEL.match(value):
        if _DNS1123_SUBDOMAIN.match(value):
            errs.append("must not contain dots")
        else:
            errs.append(
                regex_error(
                    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
                    "or '-', and must start and end with an alphanumeric character",
                    _DNS1123_LABEL_FMT,
                    "my-name",
                    "123-abc",
                )
            )
    return errs


def dns1123_subdomain(value: str, unit: str = "characters") -> list[str]:
    errs = []
    if len(value) > 253:
        errs.append(f"must be no more than 253 {unit}")
    if not _DNS1123_SUBDOMAIN.match(value):
        errs.append(
            regex_error(
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                "'-' or '.', and must start and end with an alphanumeric character",
                _DNS1123_SUBDOMAIN_FMT,
                "example.com",
            )
        )
    return errs


def dns1035_label(value: str) -> list[str]:
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not _DNS1035_LABEL.match(value):
        errs.append(
            regex_error(
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
                "with an alphabetic character, and end with an alphanumeric character",
                _DNS1035_LABEL_FMT,
                "my-name",
                "abc-123",
            )
        )
    return errs


def qualified_name(value: str) -> list[str]:
    """A label key (``IsQualifiedName``): an optional DNS subdomain prefix and a name."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs += ["prefix part " + m for m in dns1123_subdomain(prefix, "bytes")]
    else:
        return [
            "a valid label key "
            f"{regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, 'MyName', 'my.name', '123-abc')} with an "
            "optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part must be no more than 63 bytes")
    if not _LABEL_KEY.match(name):
        errs.append(
            "name part " + regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, "MyName", "my.name", "123-abc")
        )
    return errs


def label_value(value: str) -> list[str]:
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 bytes")
    if not _LABEL_VALUE.match(value):
        errs.append(
            regex_error(
                "a valid label must be an empty string or consist of alphanumeric characters, '-', "
                "'_' or '.', and must start and end with an alphanumeric character",
                _LABEL_VALUE_FMT,
                "MyValue",
                "my_value",
                "12345",
            )
        )
    return errs


def path_segment(value: str) -> list[str]:
    """``ValidatePathSegmentName``: RBAC objects may be named almost anything."""
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in value]


def name_rule(group: str, plural: str) -> Any:
    """The ``ValidateNameFunc`` of a built-in resource."""
    if group == "rbac.authorization.k8s.io":
        return path_segment
    if group == "" and plural in ("namespaces", "services"):  # services: RelaxedServiceNameValidation (GA)
        return dns1123_label
    return dns1123_subdomain


def invalid(field: str, value: Any, detail: str) -> Cause:
    return {
        "reason": "FieldValueInvalid",
        "field": field,
        "message": f"Invalid value: {go_value(value)}: {detail}",
    }


def required(field: str, detail: str = "") -> Cause:
    return {
        "reason": "FieldValueRequired",
        "field": field,
        "message": f"Required value: {detail}" if detail else "Required value",
    }


def forbidden(field: str, detail: str) -> Cause:
    return {"reason": "FieldValueForbidden", "field": field, "message": f"Forbidden: {detail}"}


def not_supported(field: str, value: Any, allowed: list[str]) -> Cause:
    shown = ", ".join(f'"{a}"' for a in allowed)
    return {
        "reason": "FieldValueNotSupported",
        "field": field,
        "message": f"Unsupported value: {go_value(value)}: supported values: {shown}",
    }


def object_meta(meta: dict[str, Any], name_fn: Any, *, create: bool, builtin: bool) -> list[Cause]:
    """``ValidateObjectMeta`` (create) or the metadata part of ``ValidateObjectMetaUpdate``."""
    causes: list[Cause] = []
    if create:
        name = meta.get("name") or ""
        if meta.get("generateName"):
            causes += [
                invalid("metadata.generateName", meta["generateName"], m)
                for m in name_fn(meta["generateName"])
            ]
        if not name:
            causes.append(required("metadata.name", "name or generateName is required"))
        else:
            causes += [invalid("metadata.name", name, m) for m in name_fn(name)]
    for key, value in (meta.get("labels") or {}).items():
        causes += [invalid("metadata.labels", key, m) for m in qualified_name(key)]
        causes += [invalid("metadata.labels", value, m) for m in label_value(str(value))]
    for key in meta.get("annotations") or {}:
        causes += [invalid("metadata.annotations", key, m) for m in qualified_name(key.lower())]
    for i, ref in enumerate(meta.get("ownerReferences") or []):
        path = f"metadata.ownerReferences[{i}]"
        for f in ("apiVersion", "kind", "name", "uid"):
            if not ref.get(f):
                causes.append(required(f"{path}.{f}", "must not be empty"))
    finalizers = meta.get("finalizers") or []
    for f in finalizers:
        causes += [invalid("metadata.finalizers", f, m) for m in qualified_name(f)]
    if "orphan" in finalizers and "foregroundDeletion" in finalizers:
        causes.append(
            invalid(
                "metadata.finalizers",
                finalizers,
                "finalizer orphan and foregroundDeletion cannot be both set",
            )
        )
    if builtin:
        for i, f in enumerate(finalizers):
            if "/" not in f and f not in STANDARD_FINALIZERS:
                causes.append(
                    invalid(
                        f"metadata.finalizers[{i}]",
                        f,
                        "name is neither a standard finalizer name nor is it fully qualified",
                    )
                )
    return causes
