"""``kubefedctl federate``: turn existing objects (or YAML files) into Federated<Kind> objects.

The conversion itself (:func:`federated_object`) is pure and follows the reference exactly: the
template is the object minus apiVersion/kind/status/metadata (labels kept), minus what the member
cluster allocates (Service ``clusterIP``/``clusterIPs``/``nodePort``, ServiceAccount ``secrets``,
Namespace ``spec.finalizers``); placement selects all clusters. A FederatedNamespace lives in the
namespace it federates. ``--contents`` walks every namespaced type of the namespace (latest version of
each group-qualified type) minus KubeFed's skip list and ``--skip-api-resources``.
"""

from __future__ import annotations

import asyncio
import copy
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from kubefedctl._common import CommandError, Options, connect, dig, echo, list_type_configs, warn
from kubefedctl._enable import Directive, build, enable_target, target_resource
from kubefedctl._fedtypes import DEFAULT_TYPES, TargetType, federated_type_config
from kubefedctl._output import dump_yaml_docs
from kubefedctl._resolve import discover, matches, resolve
from shared.errors import AlreadyExistsError, NotFoundError
from shared.k8s import FEDERATED_TYPE_CONFIGS, KubeClient, Resource

__all__ = ["federate", "federate_files", "federated_object"]

_SKIPPED_TYPES = frozenset(
    {"endpoints", "events", "events.events.k8s.io", "propagatedversions.core.kubefed.io"}
)
_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
CREATE_RETRY_SECONDS = 10.0
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def federated_object(obj: dict[str, Any], ftc: dict[str, Any]) -> dict[str, Any]:
    """The Federated<Kind> for ``obj`` under the type config ``ftc`` (pure)."""
    fed = dig(ftc, "spec", "federatedType", default={})
    target = dig(ftc, "spec", "targetType", default={})
    meta = obj.get("metadata") or {}
    template = copy.deepcopy(
        {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "status", "metadata")}
    )
    if meta.get("labels"):
        template["metadata"] = {"labels": dict(meta["labels"])}
    kind = target.get("kind") or obj.get("kind")
    group = target.get("group") or ""
    spec = template.get("spec")
    if group == "" and kind == "Namespace" and isinstance(spec, dict):
        spec.pop("finalizers", None)
        if not spec:
            template.pop("spec")
    elif group == "" and kind == "ServiceAccount":
        template.pop("secrets", None)
    elif group == "" and kind == "Service" and isinstance(spec, dict):
        spec.pop("clusterIP", None)
        spec.pop("clusterIPs", None)
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.pop("nodePort", None)
    namespace = meta.get("name") if (group == "" and kind == "Namespace") else meta.get("namespace")
    fed_meta: dict[str, Any] = {"name": meta.get("name")}
    if fed.get("scope") == "Namespaced" and namespace:
        fed_meta["namespace"] = namespace
    return {
        "apiVersion": f"{fed.get('group')}/{fed.get('version')}",
        "kind": fed.get("kind"),
        "metadata": fed_meta,
        "spec": {"template": template, "placement": {"clusterSelector": {"matchLabels": {}}}},
    }


def _fed_resource(ftc: dict[str, Any]) -> Resource:
    fed = dig(ftc, "spec", "federatedType", default={})
    return Resource(
        str(fed.get("group")),
        str(fed.get("version")),
        str(fed.get("pluralName")),
        fed.get("scope") == "Namespaced",
        str(fed.get("kind")),
    )


async def _type_config(
    host: KubeClient, opts: Options, target: TargetType, *, enable_type: bool, output: bool
) -> dict[str, Any] | None:
    ns = opts.kubefed_namespace
    ftc = await host.get_or_none(FEDERATED_TYPE_CONFIGS, target.qualified, ns)
    if ftc is not None:
        return ftc
    if output:
        return federated_type_config(target, namespace=ns)
    if enable_type:
        _, ftc, crd = await build(host, Directive(target.qualified, target.version), ns)
        if opts.dry_run:
            echo(f"would enable {target.qualified} (dry run)")
        else:
            await enable_target(host, ftc, crd, ns)
        return ftc
    return None


async def _create(host: KubeClient, ftc: dict[str, Any], fed_obj: dict[str, Any]) -> None:
    res = _fed_resource(ftc)
    meta = fed_obj["metadata"]
    ref = f'{res.kind} "{meta.get("namespace", "") + "/" if meta.get("namespace") else ""}{meta["name"]}"'
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CREATE_RETRY_SECONDS
    while True:
        try:
            await host.create(res, fed_obj, meta.get("namespace"))
            break
        except AlreadyExistsError as exc:
            raise CommandError(f"{ref} already exists") from exc
        except NotFoundError:
            # A freshly enabled CRD may not be served yet.
            if loop.time() >= deadline:
                raise CommandError(
                    f"cannot create {ref}: type {res.qualified} is not served by the host"
                ) from None
            await asyncio.sleep(0.2)
    echo(
        f"{res.kind.lower()}.{res.group}/{meta['name']} created"
        + (f" in namespace {meta['namespace']}" if meta.get("namespace") else "")
    )


def _skip_matches(skips: list[str], t: TargetType) -> bool:
    return any(matches(s, t) or s.lower() == t.group for s in skips)


async def _contents(
    host: KubeClient, types: list[TargetType], namespace: str, skips: list[str], federated_groups: set[str]
) -> list[tuple[TargetType, dict[str, Any]]]:
    found: list[tuple[TargetType, dict[str, Any]]] = []
    for t in types:
        if (
            not t.namespaced
            or "list" not in t.verbs
            or t.group == "extensions"
            or t.group in federated_groups
            or t.qualified in _SKIPPED_TYPES
            or _skip_matches(skips, t)
        ):
            continue
        items, _ = await host.list(target_resource(t), namespace)
        for item in items:
            name = str(item["metadata"]["name"])
            if _DNS1123.match(name):
                found.append((t, item))
            else:
                warn(f'skipped {t.kind} "{namespace}/{name}": the name is not a DNS-1123 subdomain')
    return found


async def federate(
    opts: Options,
    type_name: str,
    name: str,
    *,
    namespace: str | None,
    output: bool,
    enable_type: bool,
    contents: bool,
    skip: list[str],
) -> None:
    """``kubefedctl federate TYPE NAME``."""
    if output and enable_type:
        raise CommandError("--enable-type cannot be used with --output")
    async with connect(opts) as host:
        types = discover(await host.api_resources())
        target = resolve(type_name, types, warn=warn)
        is_namespace = target.group == "" and target.plural == "namespaces"
        if contents and not is_namespace:
            raise CommandError("--contents can only be used when federating a namespace")
        ns = None if not target.namespaced else (namespace or opts.context_namespace())
        obj = await host.get_or_none(target_resource(target), name, ns)
        if obj is None:
            where = f'"{ns}/{name}"' if ns else f'"{name}"'
            raise CommandError(f"{target.kind} {where} not found in the host cluster")
        pending: list[tuple[TargetType, dict[str, Any]]] = [(target, obj)]
        if contents:
            ftcs = await list_type_configs(host, opts.kubefed_namespace)
            fed_groups = {str(dig(f, "spec", "federatedType", "group")) for f in ftcs} | {"types.kubefed.io"}
            pending += await _contents(host, types, name, skip, fed_groups)
        converted: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for t, item in pending:
            ftc = await _type_config(host, opts, t, enable_type=enable_type, output=output)
            if ftc is None:
                if t is target:
                    raise CommandError(
                        f'type "{t.qualified}" is not enabled for federation: no FederatedTypeConfig '
                        f'"{opts.kubefed_namespace}/{t.qualified}" (run "kubefedctl enable '
                        f'{t.qualified}" or use --enable-type)'
                    )
                warn(
                    f'skipped {t.kind} "{name}/{item["metadata"]["name"]}": type {t.qualified} is not enabled'
                )
                continue
            if set(dig(item, "metadata", "annotations", default={}) or {}) - {_LAST_APPLIED}:
                warn(f'annotations of {t.kind} "{item["metadata"]["name"]}" are not federated')
            converted.append((ftc, federated_object(item, ftc)))
        if output:
            echo(dump_yaml_docs(fed for _, fed in converted).rstrip("\n"))
            return
        for ftc, fed in converted:
            if opts.dry_run:
                echo(
                    f"would create {fed['kind']} "
                    f'"{fed["metadata"].get("namespace", "")}/{fed["metadata"]["name"]}" (dry run)'
                )
                continue
            await _create(host, ftc, fed)


def _offline_target(obj: dict[str, Any]) -> TargetType:
    api_version = str(obj.get("apiVersion") or "")
    group, _, version = api_version.rpartition("/")
    kind = str(obj.get("kind") or "")
    if not kind or not version:
        raise CommandError(f'object "{dig(obj, "metadata", "name")}" has no apiVersion or kind')
    known = next((t for t in DEFAULT_TYPES if t.kind == kind and t.group == group), None)
    if known is not None:
        return TargetType(group, version, kind, known.plural, known.namespaced)
    plural = kind.lower() + ("es" if kind.lower().endswith("s") else "s")
    return TargetType(group, version, kind, plural, True)


def federate_files(path: str, namespace: str | None) -> str:
    """Offline conversion of a YAML file (``-`` = stdin), assuming default type configs."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
        docs = [d for d in yaml.safe_load_all(text) if d]
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise CommandError(f"{path} is not valid YAML: {exc}") from exc
    out = []
    for doc in docs:
        items = doc.get("items") if doc.get("kind", "").endswith("List") else [doc]
        for obj in items or []:
            target = _offline_target(obj)
            obj = copy.deepcopy(obj)
            if target.namespaced and not dig(obj, "metadata", "namespace"):
                obj.setdefault("metadata", {})["namespace"] = namespace or "default"
            out.append(federated_object(obj, federated_type_config(target)))
    return dump_yaml_docs(out).rstrip("\n")
