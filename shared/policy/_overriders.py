"""Applying (Cluster)OverridePolicies to a resource template for one member cluster (pure).

Karmada's override manager (``pkg/util/overridemanager``):

* **Which policies.** An OverridePolicy applies to templates of its own namespace, a
  ClusterOverridePolicy to every template; ``resourceSelectors`` as for propagation (none: every
  template). ClusterOverridePolicies apply first, then OverridePolicies, so a namespace's policy has
  the last word; within each, the less precise match first (kind, labels, name), then by name.
* **Which rules.** Each ``overrideRules`` entry (and the deprecated top-level ``targetCluster`` +
  ``overriders``, applied after them) whose ``targetCluster`` matches the member cluster (none: all).
* **Order within a rule:** imageOverrider, commandOverrider, argsOverrider, labelsOverrider,
  annotationsOverrider, plaintext.

Overriders:

* ``plaintext``: a JSON patch (``add``/``remove``/``replace``), applied with the same code as KubeFed's
  ``spec.overrides`` (:func:`shared.planning.apply_overrides`);
* ``imageOverrider``: on ``predicate.path`` if given, else on every container image of a Pod
  (``/spec/containers``) or of a Deployment, ReplicaSet, StatefulSet, DaemonSet or Job pod template
  (``/spec/template/spec/containers``), or a CronJob's (``/spec/jobTemplate/spec/template/...``);
  an image is ``[registry/]repository[:tag|@digest]``, the registry being a first component with a
  ``.`` or ``:`` or ``localhost``. ``Registry``/``Repository``: add appends ``value`` to the part,
  replace sets it, remove clears it; ``Tag``: add and replace set the tag (``@sha256:...`` sets a
  digest), remove clears it. A kind without a known image path and no predicate is an error, not a
  silent no-op;
* ``commandOverrider``/``argsOverrider``: for the container named ``containerName``: add appends
  ``value``, remove drops the items equal to one in ``value``;
* ``labelsOverrider``/``annotationsOverrider``: add sets each key, replace sets keys that exist,
  remove deletes keys that exist.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from shared.karmada_api import (
    CommandArgsOverrider,
    ImageOverrider,
    LabelAnnotationOverrider,
    Overriders,
    OverrideSpec,
)
from shared.planning import OverridesError, apply_overrides
from shared.planning._copy import clone

from ._clusters import PolicyCluster, cluster_matches
from ._matching import NO_MATCH, ResourceTemplate, match_rank

__all__ = [
    "CLUSTER_OVERRIDE_POLICY",
    "OVERRIDE_POLICY",
    "Override",
    "OverriderError",
    "apply_overriders",
    "matching_overrides",
    "parse_image",
]

OVERRIDE_POLICY: Final = "OverridePolicy"
CLUSTER_OVERRIDE_POLICY: Final = "ClusterOverridePolicy"


class OverriderError(ValueError):
    """An overrider cannot be applied to the object (path missing, unknown image location...)."""


@dataclass(frozen=True)
class Override:
    kind: Literal["OverridePolicy", "ClusterOverridePolicy"]
    name: str
    spec: OverrideSpec
    namespace: str = ""


_POD_TEMPLATE_KINDS = {"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job"}


def _rank(override: Override, obj: ResourceTemplate) -> int:
    if override.kind == OVERRIDE_POLICY and obj.namespace != override.namespace:
        return NO_MATCH
    if not override.spec.resourceSelectors:
        return 1
    return match_rank(override.spec.resourceSelectors, obj)


def matching_overrides(obj: ResourceTemplate, overrides: Sequence[Override]) -> list[Override]:
    """The overrides that apply to ``obj``, in the order they are applied."""
    ranked = [(o, _rank(o, obj)) for o in overrides]
    hits = [(o, r) for o, r in ranked if r > NO_MATCH]
    hits.sort(key=lambda orr: (orr[0].kind == OVERRIDE_POLICY, orr[1], orr[0].name))
    return [o for o, _ in hits]


# --- images --------------------------------------------------------------------------------------
def parse_image(image: str) -> tuple[str, str, str]:
    """``(registry, repository, tag-or-digest)``; the last keeps its ``:``/``@`` prefix."""
    registry = ""
    rest = image
    first, sep, remainder = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, rest = first, remainder
    if "@" in rest:
        repo, _, digest = rest.partition("@")
        return registry, repo, "@" + digest
    repo, colon, tag = rest.rpartition(":")
    if colon and "/" not in tag:
        return registry, repo, ":" + tag
    return registry, rest, ""


def _join_image(registry: str, repository: str, tag: str) -> str:
    return (registry + "/" if registry else "") + repository + tag


def _override_image(image: str, rule: ImageOverrider) -> str:
    registry, repo, tag = parse_image(image)
    value = rule.value or ""
    if rule.component == "Registry":
        registry = {"add": registry + value, "replace": value, "remove": ""}[rule.operator]
    elif rule.component == "Repository":
        repo = {"add": repo + value, "replace": value, "remove": ""}[rule.operator]
    else:
        new_tag = value if value.startswith("@") else ":" + value
        tag = "" if rule.operator == "remove" else new_tag
    return _join_image(registry, repo, tag)


def _container_list_path(kind: str) -> str | None:
    if kind == "Pod":
        return "/spec/containers"
    if kind in _POD_TEMPLATE_KINDS:
        return "/spec/template/spec/containers"
    if kind == "CronJob":
        return "/spec/jobTemplate/spec/template/spec/containers"
    return None


def _resolve(doc: Any, path: str) -> Any:
    node = doc
    for token in (t.replace("~1", "/").replace("~0", "~") for t in path.strip("/").split("/")):
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    path = _container_list_path(str(doc.get("kind", "")))
    if path is None:
        raise OverriderError(f"no known container path for kind {doc.get('kind')!r}")
    found = _resolve(doc, path)
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def _apply_image(doc: dict[str, Any], rule: ImageOverrider) -> dict[str, Any]:
    if rule.predicate is not None:
        current = _resolve(doc, rule.predicate.path)
        if not isinstance(current, str):
            raise OverriderError(
                f"imageOverrider predicate path {rule.predicate.path!r} is not an image string"
            )
        return apply_overrides(
            doc, [{"op": "replace", "path": rule.predicate.path, "value": _override_image(current, rule)}]
        )
    if _container_list_path(str(doc.get("kind", ""))) is None:
        raise OverriderError(
            f"imageOverrider without predicate does not know where images are in kind {doc.get('kind')!r}; "
            "give predicate.path"
        )
    for container in _containers(doc):
        if isinstance(container.get("image"), str):
            container["image"] = _override_image(container["image"], rule)
    return doc


def _apply_command_args(doc: dict[str, Any], rule: CommandArgsOverrider, field: str) -> None:
    for container in _containers(doc):
        if container.get("name") != rule.containerName:
            continue
        items = list(container.get(field) or [])
        values = list(rule.value or [])
        if rule.operator == "add":
            items.extend(values)
        else:
            items = [i for i in items if i not in values]
        container[field] = items


def _apply_map(doc: dict[str, Any], rule: LabelAnnotationOverrider, field: str) -> None:
    meta = doc.setdefault("metadata", {})
    current = dict(meta.get(field) or {})
    for k, v in (rule.value or {}).items():
        if rule.operator == "add":
            current[k] = v
        elif rule.operator == "replace" and k in current:
            current[k] = v
        elif rule.operator == "remove":
            current.pop(k, None)
    if current:
        meta[field] = current
    else:
        meta.pop(field, None)


def _apply_overriders(doc: dict[str, Any], overriders: Overriders) -> dict[str, Any]:
    for image_rule in overriders.imageOverrider or ():
        doc = _apply_image(doc, image_rule)
    for command_rule in overriders.commandOverrider or ():
        _apply_command_args(doc, command_rule, "command")
    for args_rule in overriders.argsOverrider or ():
        _apply_command_args(doc, args_rule, "args")
    for label_rule in overriders.labelsOverrider or ():
        _apply_map(doc, label_rule, "labels")
    for annotation_rule in overriders.annotationsOverrider or ():
        _apply_map(doc, annotation_rule, "annotations")
    if overriders.plaintext:
        ops = [
            {"op": p.operator, "path": p.path, **({} if p.operator == "remove" else {"value": p.value})}
            for p in overriders.plaintext
        ]
        try:
            doc = apply_overrides(doc, ops)
        except OverridesError as exc:
            raise OverriderError(str(exc)) from exc
    return doc


def apply_overriders(
    obj: Mapping[str, Any], cluster: PolicyCluster, overrides: Sequence[Override]
) -> dict[str, Any]:
    """``obj`` as it should be in ``cluster`` after every matching override; ``obj`` is left untouched.

    Raises:
        OverriderError: naming the policy whose overrider failed.
    """
    doc: dict[str, Any] = clone(dict(obj))
    template = ResourceTemplate.of(obj)
    for override in matching_overrides(template, overrides):
        rules = [(r.targetCluster, r.overriders) for r in override.spec.overrideRules or ()]
        if override.spec.overriders is not None:
            rules.append((override.spec.targetCluster, override.spec.overriders))
        for target, overriders in rules:
            if not cluster_matches(target, cluster):
                continue
            try:
                doc = _apply_overriders(doc, overriders)
            except (OverriderError, OverridesError) as exc:
                where = f"{override.namespace}/{override.name}" if override.namespace else override.name
                raise OverriderError(f"{override.kind} {where}: {exc}") from exc
    return doc
