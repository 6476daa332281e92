"""Resolving a type name the way kubectl and KubeFed's ``LookupAPIResource`` do.

A name matches a served resource by plural, singular, lower-cased kind, short name or ``plural.group``
(case-insensitive), over the *preferred* version of every group (or over every version equal to
``--version`` when given). Several matches are an error ("A group-qualified plural name must be
provided"), except that a match in the core group wins, as the reference notes for KubeFed.

Beyond KubeFed: a group-qualified name of a removed API (``ingresses.extensions``, the name KubeFed's
example directives still use) resolves to its successor when only the successor is served, with a
warning, so KubeFed's directive files keep working on current clusters.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kubefedctl._common import CommandError
from kubefedctl._fedtypes import TargetType

__all__ = ["SUCCESSORS", "discover", "matches", "resolve"]

# Removed API (plural.group) -> the API that replaced it.
SUCCESSORS = {
    "ingresses.extensions": "ingresses.networking.k8s.io",
    "deployments.extensions": "deployments.apps",
    "replicasets.extensions": "replicasets.apps",
    "daemonsets.extensions": "daemonsets.apps",
    "networkpolicies.extensions": "networkpolicies.networking.k8s.io",
}


def discover(
    resources: Iterable[tuple[str, dict[str, Any], bool]], version: str | None = None
) -> list[TargetType]:
    """TargetTypes from ``KubeClient.api_resources()``: preferred versions, or those named ``version``."""
    out: list[TargetType] = []
    for group_version, res, preferred in resources:
        group, _, ver = group_version.rpartition("/")
        if (version and ver != version) or (not version and not preferred):
            continue
        out.append(
            TargetType(
                group=group,
                version=ver,
                kind=str(res.get("kind") or ""),
                plural=str(res.get("name") or ""),
                namespaced=bool(res.get("namespaced")),
                short_names=tuple(res.get("shortNames") or ()),
                singular=str(res.get("singularName") or ""),
                verbs=tuple(res.get("verbs") or ()),
            )
        )
    return out


def matches(name: str, t: TargetType) -> bool:
    """KubeFed's ``NameMatchesResource``."""
    key = name.lower()
    return key in (t.plural, t.singular, t.kind.lower(), f"{t.plural}.{t.group}") or key in (
        s.lower() for s in t.short_names
    )


def resolve(name: str, types: list[TargetType], *, warn: Any = None) -> TargetType:
    """The one served type ``name`` designates; CommandError if none or several."""
    found = [t for t in types if matches(name, t)]
    if not found and name.lower() in SUCCESSORS:
        successor = SUCCESSORS[name.lower()]
        found = [t for t in types if t.qualified == successor]
        if found and warn is not None:
            warn(f'"{name}" is not served any more; using its successor "{successor}"')
    unique = list(dict.fromkeys(found))
    if len(unique) > 1:
        core = [t for t in unique if t.group == ""]
        if len(core) == 1:
            return core[0]
        names = ", ".join(t.qualified for t in unique)
        raise CommandError(
            f'Multiple resources are matched by "{name}": {names}. A group-qualified plural name must be '
            f"provided."
        )
    if not unique:
        raise CommandError(f'Unable to find api resource named "{name}".')
    return unique[0]
