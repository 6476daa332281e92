"""``kubefedctl enable`` and ``disable``: FederatedTypeConfig plus the generated Federated CRD.

enable: resolve the target through discovery (or read EnableTypeDirective files), take the template
schema from the target CRD when it is one, then create-or-update the CRD and create-or-merge-patch
the FTC, refusing the conflicts KubeFed refuses (an FTC with another federated type, an equivalent
deprecated API already enabled, a CRD name owned by another FTC). With ``-o yaml`` nothing is
written. disable: stop propagation, wait for the controller to report ``NotRunning`` (only when a
controller has ever reported a state), optionally delete the CRD (refused while federated objects
exist) and wait for it to be gone, then delete the FTC. Member objects are never touched.

A real API server deletes a CRD asynchronously: the CRD lingers with a ``deletionTimestamp`` until
apiextensions has deleted its objects. disable waits for it (up to ``CRD_DELETION_TIMEOUT``), so that
an ``enable`` right after creates a fresh CRD instead of updating one about to vanish; KubeFed
returned at once. On timeout the FTC is kept (propagation Disabled) and disable can be run again.
enable likewise waits for a Federated CRD that is still terminating before creating it again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kubefedctl._common import (
    CommandError,
    Options,
    connect,
    dig,
    echo,
    list_type_configs,
    terminating,
    wait_deleted,
    warn,
)
from kubefedctl._fedtypes import (
    DEFAULT_FEDERATED_GROUP,
    DEFAULT_FEDERATED_VERSION,
    TargetType,
    federated_crd,
    federated_type_config,
    template_schema_from_crd,
)
from kubefedctl._output import dump_yaml_docs
from kubefedctl._resolve import SUCCESSORS, discover, resolve
from shared.errors import NotFoundError
from shared.k8s import CRDS, FEDERATED_TYPE_CONFIGS, KubeClient, Resource
from shared.kubefed_api import aggregate, default_federated_type_config, validate_federated_type_config

__all__ = ["Directive", "disable", "enable", "enable_target", "read_directives", "target_resource"]

CRD_DELETION_TIMEOUT = 60.0


@dataclass(frozen=True)
class Directive:
    """An EnableTypeDirective (file-only input)."""

    name: str
    target_version: str | None = None
    federated_group: str = DEFAULT_FEDERATED_GROUP
    federated_version: str = DEFAULT_FEDERATED_VERSION


def read_directives(path: str) -> list[Directive]:
    """EnableTypeDirectives from a YAML file (one or several documents)."""
    try:
        text = Path(path).read_text()
        docs = [d for d in yaml.safe_load_all(text) if d]
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise CommandError(f"{path} is not valid YAML: {exc}") from exc
    out = []
    for doc in docs:
        if not isinstance(doc, dict) or doc.get("kind") != "EnableTypeDirective":
            raise CommandError(f"{path}: expected kind EnableTypeDirective, got {dig(doc, 'kind')!r}")
        name = dig(doc, "metadata", "name")
        if not name:
            raise CommandError(f"{path}: EnableTypeDirective has no metadata.name")
        spec = doc.get("spec") or {}
        out.append(
            Directive(
                str(name),
                spec.get("targetVersion") or None,
                spec.get("federatedGroup") or DEFAULT_FEDERATED_GROUP,
                spec.get("federatedVersion") or DEFAULT_FEDERATED_VERSION,
            )
        )
    return out


def target_resource(t: TargetType) -> Resource:
    return Resource(t.group, t.version, t.plural, t.namespaced, t.kind)


async def _template_schema(host: KubeClient, t: TargetType) -> dict[str, Any] | None:
    if not t.group or "." not in t.group:
        return None
    crd = await host.get_or_none(CRDS, t.qualified)
    return template_schema_from_crd(crd, t.version) if crd else None


async def build(
    host: KubeClient, directive: Directive, ns: str
) -> tuple[TargetType, dict[str, Any], dict[str, Any]]:
    """Resolve a directive against the host: the target, its FTC and its Federated CRD."""
    types = discover(await host.api_resources(), directive.target_version)
    target = resolve(directive.name, types, warn=warn)
    schema = await _template_schema(host, target)
    ftc = federated_type_config(
        target,
        federated_group=directive.federated_group,
        federated_version=directive.federated_version,
        namespace=ns,
    )
    crd = federated_crd(
        target,
        federated_group=directive.federated_group,
        federated_version=directive.federated_version,
        template_schema=schema,
    )
    return target, ftc, crd


async def _check_conflicts(host: KubeClient, ftc: dict[str, Any], crd: dict[str, Any], ns: str) -> None:
    name = ftc["metadata"]["name"]
    existing = await list_type_configs(host, ns)
    fed = ftc["spec"]["federatedType"]
    for other in existing:
        other_name = other["metadata"]["name"]
        other_fed = dig(other, "spec", "federatedType", default={})
        if other_name == name:
            if (other_fed.get("group"), other_fed.get("kind")) != (fed["group"], fed["kind"]):
                raise CommandError(
                    f'FederatedTypeConfig "{ns}/{name}" already exists with federated type '
                    f'"{other_fed.get("kind")}.{other_fed.get("group")}"; disable it first'
                )
            continue
        if SUCCESSORS.get(other_name) == name or SUCCESSORS.get(name) == other_name:
            raise CommandError(
                f'cannot enable "{name}": the equivalent API "{other_name}" is already enabled; disable it '
                f"first"
            )
        if f"{other_fed.get('pluralName')}.{other_fed.get('group')}" == crd["metadata"]["name"]:
            raise CommandError(
                f'CRD "{crd["metadata"]["name"]}" is already used by FederatedTypeConfig "{ns}/{other_name}"'
            )


async def enable_target(host: KubeClient, ftc: dict[str, Any], crd: dict[str, Any], ns: str) -> None:
    """Create or update the CRD, then create or merge-patch the FTC; prints what changed."""
    errors = validate_federated_type_config(default_federated_type_config(ftc))
    if errors:
        raise CommandError(
            f'invalid FederatedTypeConfig "{ns}/{ftc["metadata"]["name"]}": {aggregate(errors)}'
        )
    await _check_conflicts(host, ftc, crd, ns)
    crd_name = crd["metadata"]["name"]
    current = await host.get_or_none(CRDS, crd_name)
    if terminating(current):  # updating it would be lost with it: wait, then create it afresh
        await wait_deleted(
            host,
            CRDS,
            crd_name,
            None,
            what=f'CRD "{crd_name}"',
            timeout=CRD_DELETION_TIMEOUT,
            hint="enable again once it is gone",
        )
        current = await host.get_or_none(CRDS, crd_name)
    if current is None:
        await host.create(CRDS, crd)
        echo(f"customresourcedefinition.apiextensions.k8s.io/{crd_name} created")
    else:
        updated = dict(
            crd, metadata={**crd["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]}
        )
        await host.replace(CRDS, updated)
        echo(f"customresourcedefinition.apiextensions.k8s.io/{crd_name} updated")
    name = ftc["metadata"]["name"]
    if await host.get_or_none(FEDERATED_TYPE_CONFIGS, name, ns) is None:
        await host.create(FEDERATED_TYPE_CONFIGS, ftc, ns)
        echo(f"federatedtypeconfig.core.kubefed.io/{name} created in namespace {ns}")
    else:
        await host.patch(FEDERATED_TYPE_CONFIGS, name, {"spec": ftc["spec"]}, ns, patch_type="merge")
        echo(f"federatedtypeconfig.core.kubefed.io/{name} updated in namespace {ns}")


async def enable(opts: Options, directives: list[Directive], *, output: str | None) -> None:
    """``kubefedctl enable``."""
    ns = opts.kubefed_namespace
    async with connect(opts) as host:
        built = [await build(host, d, ns) for d in directives]
        if output:
            echo(dump_yaml_docs(doc for _, ftc, crd in built for doc in (ftc, crd)).rstrip("\n"))
            return
        for target, ftc, crd in built:
            if opts.dry_run:
                echo(
                    f"would enable {target.qualified}: CRD {crd['metadata']['name']} and "
                    f"FederatedTypeConfig {ns}/{ftc['metadata']['name']} (dry run)"
                )
                continue
            await enable_target(host, ftc, crd, ns)


async def _wait_not_running(host: KubeClient, name: str, ns: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        ftc = await host.get(FEDERATED_TYPE_CONFIGS, name, ns)
        state = dig(ftc, "status", "propagationController")
        if state in (None, "NotRunning"):
            return
        if loop.time() >= deadline:
            raise CommandError(
                f'timed out waiting for the propagation controller of FederatedTypeConfig "{ns}/{name}" '
                "to enter the NotRunning state"
            )
        await asyncio.sleep(0.2)


async def disable(
    opts: Options, name: str, *, delete_crd: bool, federated_group: str | None, version: str | None
) -> None:
    """``kubefedctl disable``."""
    ns = opts.kubefed_namespace
    async with connect(opts) as host:
        if "." in name:
            ftc_name = name
        else:
            ftc_name = resolve(name, discover(await host.api_resources(), version), warn=warn).qualified
        ftc = await host.get_or_none(FEDERATED_TYPE_CONFIGS, ftc_name, ns)
        if ftc is None:
            raise CommandError(f'FederatedTypeConfig "{ns}/{ftc_name}" not found: the type is not enabled')
        fed = dig(ftc, "spec", "federatedType", default={})
        group = federated_group or fed.get("group") or DEFAULT_FEDERATED_GROUP
        fed_res = Resource(
            group,
            version or fed.get("version") or DEFAULT_FEDERATED_VERSION,
            str(fed.get("pluralName")),
            fed.get("scope") == "Namespaced",
            str(fed.get("kind")),
        )
        crd_name = f"{fed_res.plural}.{group}"
        if delete_crd:
            try:
                items, _ = await host.list(fed_res)
            except NotFoundError:
                items = []
            if items:
                first = items[0]["metadata"]
                raise CommandError(
                    f'cannot delete CRD "{crd_name}": {len(items)} {fed_res.kind} object(s) still exist '
                    f'(e.g. "{first.get("namespace", "")}/{first["name"]}"); delete them first'
                )
        if opts.dry_run:
            echo(
                f"would disable propagation for FederatedTypeConfig {ns}/{ftc_name}"
                + (f" and delete CRD {crd_name}" if delete_crd else "")
                + " (dry run)"
            )
            return
        await host.patch(
            FEDERATED_TYPE_CONFIGS, ftc_name, {"spec": {"propagation": "Disabled"}}, ns, patch_type="merge"
        )
        echo(f'Disabled propagation for FederatedTypeConfig "{ns}/{ftc_name}"')
        await _wait_not_running(host, ftc_name, ns)
        if delete_crd:
            try:
                await host.delete(CRDS, crd_name)
            except NotFoundError:
                warn(f'CRD "{crd_name}" was already gone')
            else:
                await wait_deleted(
                    host,
                    CRDS,
                    crd_name,
                    None,
                    what=f'CRD "{crd_name}"',
                    timeout=CRD_DELETION_TIMEOUT,
                    hint=f'FederatedTypeConfig "{ns}/{ftc_name}" is kept with propagation Disabled: run '
                    "disable again once the CRD is gone",
                )
                echo(f'customresourcedefinition.apiextensions.k8s.io "{crd_name}" deleted')
        await host.delete(FEDERATED_TYPE_CONFIGS, ftc_name, ns)
        echo(f'federatedtypeconfig.core.kubefed.io "{ftc_name}" deleted from namespace {ns}')
