"""The Helm chart's rendering against the kustomize overlay's, up to what necessarily differs."""

from __future__ import annotations

import copy
import re
from typing import Any

# labels only one of the tools writes: Helm's own (chart, version) and the manager's name
TOOL_LABELS = ("app.kubernetes.io/managed-by", "app.kubernetes.io/version", "helm.sh/chart")
# ConfigMaps kustomize generates with a content-hash suffix (Helm rolls pods with checksum annotations)
GENERATED = ("kubefed-env", "kubefed-nats-config")


def _strip_labels(meta: dict[str, Any] | None) -> None:
    if not meta:
        return
    labels = meta.get("labels")
    if labels is not None:
        for k in TOOL_LABELS:
            labels.pop(k, None)
    annotations = meta.get("annotations")
    if annotations is not None:
        for k in [k for k in annotations if k.startswith("checksum/")]:
            del annotations[k]
        if not annotations:
            del meta["annotations"]


def _unhash(text: str) -> str:
    for name in GENERATED:
        text = re.sub(rf"\b{name}-[a-z0-9]{{10}}\b", name, text)
    return text


def _walk(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _walk(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v) for v in value]
    if isinstance(value, str):
        return _unhash(value)
    return value


def _conf(text: str) -> list[str]:
    """nats.conf without comments, blank lines and indentation."""
    lines = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


def normalise(obj: dict[str, Any]) -> dict[str, Any]:
    o = _walk(copy.deepcopy(obj))
    _strip_labels(o.get("metadata"))
    spec = o.get("spec") or {}
    template = spec.get("template")
    if isinstance(template, dict) and isinstance(template.get("metadata"), dict):
        _strip_labels(template["metadata"])
    for claim in spec.get("volumeClaimTemplates") or []:
        _strip_labels(claim.get("metadata"))
    if o.get("kind") == "ConfigMap" and "nats.conf" in (o.get("data") or {}):
        o["data"]["nats.conf"] = _conf(o["data"]["nats.conf"])
    return o


def key(obj: dict[str, Any]) -> tuple[str, str, str]:
    meta = obj["metadata"]
    return obj["kind"], meta.get("namespace") or "", _unhash(meta["name"])


def differences(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[str]:
    """Human-readable differences between two renderings (empty: equal in substance)."""
    na = {key(o): normalise(o) for o in a}
    nb = {key(o): normalise(o) for o in b}
    out = [f"only in the first: {k}" for k in sorted(na.keys() - nb.keys())]
    out += [f"only in the second: {k}" for k in sorted(nb.keys() - na.keys())]
    for k in sorted(na.keys() & nb.keys()):
        out += [f"{k}: {d}" for d in _diff(na[k], nb[k], "")]
    return out


def _diff(x: Any, y: Any, path: str) -> list[str]:
    if isinstance(x, dict) and isinstance(y, dict):
        out = []
        for k in sorted(set(x) | set(y), key=str):
            if k not in x:
                out.append(f"{path}/{k}: missing in the first ({y[k]!r:.120})")
            elif k not in y:
                out.append(f"{path}/{k}: missing in the second ({x[k]!r:.120})")
            else:
                out += _diff(x[k], y[k], f"{path}/{k}")
        return out
    if isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
        return [d for i, (p, q) in enumerate(zip(x, y, strict=True)) for d in _diff(p, q, f"{path}/{i}")]
    if x != y:
        return [f"{path}: {x!r:.200} != {y!r:.200}"]
    return []
