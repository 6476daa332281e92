"""Offline schema validation of built-in Kubernetes objects against the API's generated models.

kubernetes-asyncio 36 (Kubernetes 1.36 API) ships one model class per schema with ``openapi_types``
(field → type) and ``attribute_map`` (field → JSON name); its constructors reject missing required
fields and values outside enums. Walking an object through them is a strict structural check like
kube-apiserver's ``fieldValidation=Strict``: unknown fields, wrong primitive types, missing required
fields. The simulator validates custom resources against their CRDs but not built-in kinds, hence this.
"""

from __future__ import annotations

import re
from typing import Any

from kubernetes_asyncio.client import Configuration
from kubernetes_asyncio.client import models as k8s_models

_PRIMITIVES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "datetime": (str,),
    "date": (str,),
}
_STRICT = Configuration()
_STRICT.client_side_validation = True


def model_name(obj: dict[str, Any]) -> str | None:
    """``apps/v1`` + ``Deployment`` → ``V1Deployment`` when the model exists, else None (custom kinds)."""
    version = str(obj.get("apiVersion", "")).rsplit("/", 1)[-1]
    name = version[:1].upper() + version[1:] + str(obj.get("kind", ""))
    group = str(obj.get("apiVersion", "")).rsplit("/", 1)[0] if "/" in str(obj.get("apiVersion", "")) else ""
    if group.endswith(".kubefed.io") or group.endswith(".coreos.com"):
        return None
    return name if hasattr(k8s_models, name) else None


def validate(obj: dict[str, Any]) -> list[str]:
    """Problems of ``obj`` (empty when valid); raises KeyError for kinds without a model."""
    name = model_name(obj)
    if name is None:
        raise KeyError(f"no model for {obj.get('apiVersion')} {obj.get('kind')}")
    errors: list[str] = []
    _check(obj, name, str(obj.get("kind")), errors)
    return errors


def _check(value: Any, typ: str, path: str, errors: list[str]) -> None:
    if value is None:
        return
    if typ == "object":
        return  # IntOrString, RawExtension, JSON: any value
    m = re.fullmatch(r"list\[(.+)\]", typ)
    if m:
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list, got {type(value).__name__}")
            return
        for i, item in enumerate(value):
            _check(item, m.group(1), f"{path}[{i}]", errors)
        return
    m = re.fullmatch(r"dict\(([^,]+), (.+)\)", typ)
    if m:
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a map, got {type(value).__name__}")
            return
        for k, v in value.items():
            _check(v, m.group(2), f"{path}.{k}", errors)
        return
    if typ in _PRIMITIVES:
        ok = isinstance(value, _PRIMITIVES[typ]) and not (typ in ("int", "float") and isinstance(value, bool))
        if not ok:
            errors.append(f"{path}: expected {typ}, got {type(value).__name__} {value!r}")
        return
    cls = getattr(k8s_models, typ)
    if not isinstance(value, dict):
        errors.append(f"{path}: expected an object ({typ}), got {type(value).__name__}")
        return
    by_json = {json_name: attr for attr, json_name in cls.attribute_map.items()}
    kwargs = {}
    for key, v in value.items():
        attr = by_json.get(key)
        if attr is None:
            errors.append(f"{path}.{key}: unknown field (not in {typ})")
            continue
        kwargs[attr] = v
        _check(v, cls.openapi_types[attr], f"{path}.{key}", errors)
    try:  # required fields and enums
        cls(local_vars_configuration=_STRICT, **kwargs)
    except ValueError as exc:
        errors.append(f"{path}: {exc}")
