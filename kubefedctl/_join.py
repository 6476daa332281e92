"""``kubefedctl join`` and ``unjoin``: credentials in the member, a KubeFedCluster on the host.

join checks everything it can before writing anything (both clusters reachable, KubeFedConfig
present, nothing pre-existing when ``--error-on-existing``), then records each object it creates in
an undo log; if a later step fails (the token never appears, the host refuses the KubeFedCluster) the
log is replayed backwards so the clusters are left as they were. Objects that already existed and
were only updated are not rolled back (KubeFed does not either). A member namespace that is still
terminating (deleted by an unjoin just before: on a real cluster the namespace controller empties it
asynchronously, and until then it refuses new content) is waited for, up to
``NAMESPACE_DELETION_TIMEOUT``, before anything is written; KubeFed failed on it ("unable to create
new content in namespace ... because it is being terminated").

unjoin deletes the member-side objects (unless the member is unreachable and ``--force`` is given),
then the host Secret and the KubeFedCluster. The member's system namespace is kept when it is the
host's own (same UID). It does not wait for the namespace to be gone (KubeFed does not either);
a join that follows does.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from kubefedctl import _rbac as rbac
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
from shared.errors import KubefedError, NotFoundError
from shared.k8s import (
    KUBEFED_CLUSTERS,
    KUBEFED_CONFIGS,
    NAMESPACES,
    SECRETS,
    KubeClient,
    Resource,
    kubeconfig_details,
)
from shared.kubefed_api import KUBEFED_CONFIG_NAME, aggregate, validate_kubefed_cluster

__all__ = ["JoinRequest", "join", "unjoin"]

SERVICE_ACCOUNTS = Resource("", "v1", "serviceaccounts", kind="ServiceAccount")
CLUSTER_ROLES = Resource(rbac.RBAC_GROUP, "v1", "clusterroles", False, "ClusterRole")
CLUSTER_ROLE_BINDINGS = Resource(rbac.RBAC_GROUP, "v1", "clusterrolebindings", False, "ClusterRoleBinding")
ROLES = Resource(rbac.RBAC_GROUP, "v1", "roles", kind="Role")
ROLE_BINDINGS = Resource(rbac.RBAC_GROUP, "v1", "rolebindings", kind="RoleBinding")
TOKEN_TIMEOUT = 30.0
NAMESPACE_DELETION_TIMEOUT = 60.0
# Namespace conditions the namespace controller sets True while something keeps a deletion from finishing.
NAMESPACE_DELETION_CONDITIONS = (
    "NamespaceDeletionDiscoveryFailure",
    "NamespaceDeletionGroupVersionParsingFailure",
    "NamespaceDeletionContentFailure",
    "NamespaceContentRemaining",
    "NamespaceFinalizersRemaining",
)


@dataclass(frozen=True)
class JoinRequest:
    cluster: str
    cluster_context: str | None = None
    host_cluster_name: str | None = None
    secret_name: str | None = None
    error_on_existing: bool = True
    least_privilege: bool = False


@dataclass
class _UndoLog:
    steps: list[tuple[str, Callable[[], Awaitable[Any]]]] = field(default_factory=list)

    def add(self, what: str, undo: Callable[[], Awaitable[Any]]) -> None:
        self.steps.append((what, undo))

    async def rollback(self) -> None:
        for what, undo in reversed(self.steps):
            try:
                await undo()
            except NotFoundError:
                pass
            except KubefedError as exc:
                warn(f"rollback could not delete {what}: {exc}")


def host_cluster_name(opts: Options, flag: str | None) -> str:
    """KubeFed's rule: the host context name, unless it holds ':' or '/' (then the flag is required)."""
    if flag:
        if ":" in flag or "/" in flag:
            raise CommandError(f'--host-cluster-name "{flag}" must not contain ":" or "/"')
        return flag
    ctx = opts.host_context()
    if ":" in ctx or "/" in ctx:
        raise CommandError(
            f'host context "{ctx}" contains ":" or "/"; give a valid cluster name with --host-cluster-name'
        )
    return ctx


async def _kubefed_scope(host: KubeClient, ns: str) -> str:
    config = await host.get_or_none(KUBEFED_CONFIGS, KUBEFED_CONFIG_NAME, ns)
    if config is None:
        raise CommandError(
            f'KubeFedConfig "{ns}/{KUBEFED_CONFIG_NAME}" not found on the host cluster: install the control '
            "plane first (kubectl apply -f deploy/config/)"
        )
    return str(dig(config, "spec", "scope", default="Cluster"))


async def _ensure(
    client: KubeClient,
    res: Resource,
    obj: dict[str, Any],
    ns: str | None,
    *,
    error_on_existing: bool,
    log: _UndoLog,
    cluster: str,
) -> dict[str, Any]:
    """Create ``obj``; when it exists, error or update it (bindings with another roleRef are re-created)."""
    name = obj["metadata"]["name"]
    where = f'{res.kind} "{f"{ns}/" if ns else ""}{name}" in cluster "{cluster}"'
    current = await client.get_or_none(res, name, ns)
    if current is None:
        created = await client.create(res, obj, ns)
        log.add(where, lambda: client.delete(res, name, ns))
        return created
    if error_on_existing:
        raise CommandError(f"{where} already exists (use --error-on-existing=false to reuse it)")
    if "roleRef" in obj and current.get("roleRef") != obj["roleRef"]:
        await client.delete(res, name, ns)
        return await client.create(res, obj, ns)
    updated = {**current, **{k: v for k, v in obj.items() if k != "metadata"}}
    return await client.replace(res, updated)


async def _wait_for_token(member: KubeClient, name: str, ns: str, cluster: str) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TOKEN_TIMEOUT
    while True:
        secret = await member.get_or_none(SECRETS, name, ns)
        if secret is not None and dig(secret, "data", "token"):
            return secret
        if loop.time() >= deadline:
            raise CommandError(
                f"timed out after {TOKEN_TIMEOUT:.0f}s waiting for the token of service account secret "
                f'"{ns}/{name}" in cluster "{cluster}" (is the token controller running?)'
            )
        await asyncio.sleep(0.2)


async def _member_side(
    member: KubeClient,
    req: JoinRequest,
    sa: str,
    ns: str,
    scope: str,
    rules: list[dict[str, Any]],
    log: _UndoLog,
) -> dict[str, Any]:
    cluster = req.cluster

    async def ensure(res: Resource, obj: dict[str, Any], namespace: str | None) -> dict[str, Any]:
        return await _ensure(
            member, res, obj, namespace, error_on_existing=req.error_on_existing, log=log, cluster=cluster
        )

    if await member.get_or_none(NAMESPACES, ns) is None:
        await member.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        log.add(f'namespace "{ns}" in cluster "{cluster}"', lambda: member.delete(NAMESPACES, ns))
    await ensure(
        SERVICE_ACCOUNTS,
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "automountServiceAccountToken": False,
            "metadata": {
                "name": sa,
                "namespace": ns,
                "annotations": {"kubernetes.io/enforce-mountable-secrets": "true"},
            },
        },
        ns,
    )
    await ensure(
        SECRETS,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/service-account-token",
            "metadata": {
                "name": sa,
                "namespace": ns,
                "annotations": {"kubernetes.io/service-account.name": sa},
            },
        },
        ns,
    )
    name = rbac.role_name(sa)
    if scope == "Namespaced":
        await ensure(
            ROLES,
            rbac.role("Role", name, rbac.namespace_role_rules(), ns),
            ns,
        )
        await ensure(
            ROLE_BINDINGS,
            rbac.binding("RoleBinding", name, "Role", sa, ns, ns),
            ns,
        )
        hc = rbac.healthcheck_name(ns, sa)
        await ensure(
            CLUSTER_ROLES,
            rbac.role("ClusterRole", hc, rbac.healthcheck_rules()),
            None,
        )
        await ensure(
            CLUSTER_ROLE_BINDINGS,
            rbac.binding("ClusterRoleBinding", hc, "ClusterRole", sa, ns),
            None,
        )
    else:
        await ensure(
            CLUSTER_ROLES,
            rbac.role("ClusterRole", name, rules),
            None,
        )
        await ensure(
            CLUSTER_ROLE_BINDINGS,
            rbac.binding("ClusterRoleBinding", name, "ClusterRole", sa, ns),
            None,
        )
    return await _wait_for_token(member, sa, ns, cluster)


async def _host_secret(
    host: KubeClient,
    req: JoinRequest,
    ns: str,
    token_b64: str,
    existing_cluster: dict[str, Any] | None,
    log: _UndoLog,
) -> str:
    name = req.secret_name or (
        dig(existing_cluster, "spec", "secretRef", "name") if existing_cluster else None
    )
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"namespace": ns},
        "data": {"token": token_b64},
    }
    if name:
        current = await host.get_or_none(SECRETS, name, ns)
        if current is not None:
            if req.error_on_existing:
                raise CommandError(f'Secret "{ns}/{name}" already exists in the host cluster')
            if dig(current, "data", "token") != token_b64:
                await host.patch(SECRETS, name, {"data": {"token": token_b64}}, ns, patch_type="merge")
            return str(name)
        body["metadata"]["name"] = name
    else:
        body["metadata"]["generateName"] = f"{req.cluster}-"
    created = await host.create(SECRETS, body, ns)
    created_name = created["metadata"]["name"]
    log.add(
        f'secret "{ns}/{created_name}" in the host cluster', lambda: host.delete(SECRETS, created_name, ns)
    )
    return str(created_name)


async def join(opts: Options, req: JoinRequest) -> None:
    """``kubefedctl join``."""
    ns = opts.kubefed_namespace
    host_name = host_cluster_name(opts, req.host_cluster_name)
    member_ctx = req.cluster_context or req.cluster
    sa = f"{req.cluster}-{host_name}"
    async with connect(opts) as host:
        scope = await _kubefed_scope(host, ns)
        host_ns = await host.get_or_none(NAMESPACES, ns)
        if host_ns is None:
            raise CommandError(f'namespace "{ns}" not found in the host cluster')
        if terminating(host_ns):
            raise CommandError(
                f'namespace "{ns}" is being deleted in the host cluster; install the control plane '
                "again once it is gone (kubectl apply -f deploy/config/)"
            )
        existing = await host.get_or_none(KUBEFED_CLUSTERS, req.cluster, ns)
        if existing is not None and req.error_on_existing:
            raise CommandError(
                f'KubeFedCluster "{ns}/{req.cluster}" already exists: cluster "{req.cluster}" '
                "is already joined (use --error-on-existing=false to update it)"
            )
        details = kubeconfig_details(opts.kubeconfig, member_ctx)
        errors = validate_kubefed_cluster(
            {
                "spec": {
                    "apiEndpoint": details["server"],
                    "secretRef": {"name": req.secret_name or f"{req.cluster}-x"},
                    **({"proxyURL": details["proxyURL"]} if details.get("proxyURL") else {}),
                }
            }
        )
        if errors:
            raise CommandError(
                f'cannot join cluster "{req.cluster}": invalid KubeFedCluster: {aggregate(errors)}'
            )
        async with connect(opts, member_ctx, role="member") as member:
            # A namespace still terminating (an unjoin just before, on a real cluster) refuses new
            # content: wait for it to be gone, then join creates it afresh. What is in it now is going.
            member_ns_going = terminating(await member.get_or_none(NAMESPACES, ns))
            if (
                req.error_on_existing
                and not member_ns_going
                and await member.get_or_none(SERVICE_ACCOUNTS, sa, ns) is not None
            ):
                raise CommandError(
                    f'ServiceAccount "{ns}/{sa}" already exists in cluster "{req.cluster}" '
                    "(use --error-on-existing=false to reuse it)"
                )
            rules = rbac.cluster_role_rules()
            if req.least_privilege:
                ftcs = await list_type_configs(host, ns)
                rules = rbac.least_privilege_rules(ftcs)
            if opts.dry_run:
                echo(
                    f'would join cluster "{req.cluster}" (context "{member_ctx}", {details["server"]}) to '
                    f"host "
                    f'"{host_name}" with service account "{ns}/{sa}"'
                    + (f' once namespace "{ns}" has finished terminating there' if member_ns_going else "")
                    + " (dry run)"
                )
                return
            if member_ns_going:
                await wait_deleted(
                    member,
                    NAMESPACES,
                    ns,
                    None,
                    what=f'namespace "{ns}" in cluster "{req.cluster}"',
                    timeout=NAMESPACE_DELETION_TIMEOUT,
                    conditions=NAMESPACE_DELETION_CONDITIONS,
                    hint="nothing was written; join again once it is gone",
                )
            log = _UndoLog()
            try:
                secret = await _member_side(member, req, sa, ns, scope, rules, log)
                token_b64 = str(secret["data"]["token"])
                secret_name = await _host_secret(host, req, ns, token_b64, existing, log)
                spec: dict[str, Any] = {"apiEndpoint": details["server"], "secretRef": {"name": secret_name}}
                ca = details.get("caData") or dig(secret, "data", "ca.crt")
                if ca:
                    spec["caBundle"] = ca if isinstance(ca, str) else base64.b64encode(ca).decode()
                if details.get("insecure"):
                    spec["disabledTLSValidations"] = ["*"]
                if details.get("proxyURL"):
                    spec["proxyURL"] = details["proxyURL"]
                if existing is None:
                    await host.create(
                        KUBEFED_CLUSTERS,
                        {
                            "apiVersion": "core.kubefed.io/v1beta1",
                            "kind": "KubeFedCluster",
                            "metadata": {"name": req.cluster, "namespace": ns},
                            "spec": spec,
                        },
                        ns,
                    )
                    verb = "created"
                else:
                    await host.patch(KUBEFED_CLUSTERS, req.cluster, {"spec": spec}, ns, patch_type="merge")
                    verb = "updated"
            except BaseException:
                await log.rollback()
                raise
    echo(f"kubefedcluster.core.kubefed.io/{req.cluster} {verb} in namespace {ns}")
    echo(f'Cluster "{req.cluster}" joined to host "{host_name}"')


async def _delete_quiet(
    client: KubeClient, res: Resource, name: str, ns: str | None, done: list[str]
) -> None:
    try:
        await client.delete(res, name, ns)
        done.append(f"{res.kind} {f'{ns}/' if ns else ''}{name}")
    except NotFoundError:
        pass


async def _unjoin_member(member: KubeClient, host: KubeClient, sa: str, ns: str) -> list[str]:
    done: list[str] = []
    for res, name in (
        (CLUSTER_ROLE_BINDINGS, rbac.role_name(sa)),
        (CLUSTER_ROLES, rbac.role_name(sa)),
        (CLUSTER_ROLE_BINDINGS, rbac.healthcheck_name(ns, sa)),
        (CLUSTER_ROLES, rbac.healthcheck_name(ns, sa)),
    ):
        await _delete_quiet(member, res, name, None, done)
    for res, name in (
        (ROLE_BINDINGS, rbac.role_name(sa)),
        (ROLES, rbac.role_name(sa)),
        (SECRETS, sa),
        (SERVICE_ACCOUNTS, sa),
    ):
        await _delete_quiet(member, res, name, ns, done)
    member_ns = await member.get_or_none(NAMESPACES, ns)
    host_ns = await host.get_or_none(NAMESPACES, ns)
    same = (
        member_ns is not None
        and host_ns is not None
        and member_ns["metadata"].get("uid") == host_ns["metadata"].get("uid")
    )
    if member_ns is not None and not same:
        await _delete_quiet(member, NAMESPACES, ns, None, done)
    return done


async def unjoin(
    opts: Options, cluster: str, *, cluster_context: str | None, host_name_flag: str | None, force: bool
) -> None:
    """``kubefedctl unjoin``."""
    ns = opts.kubefed_namespace
    host_name = host_cluster_name(opts, host_name_flag)
    sa = f"{cluster}-{host_name}"
    member_ctx = cluster_context or cluster
    async with connect(opts) as host:
        kfc = await host.get_or_none(KUBEFED_CLUSTERS, cluster, ns)
        if kfc is None and not force:
            raise CommandError(
                f'KubeFedCluster "{ns}/{cluster}" not found: cluster "{cluster}" is not joined '
                "(use --force to clean up its member side anyway)"
            )
        if opts.dry_run:
            echo(f'would unjoin cluster "{cluster}" from host "{host_name}" (dry run)')
            return
        try:
            async with connect(opts, member_ctx, role="member") as member:
                for line in await _unjoin_member(member, host, sa, ns):
                    echo(f'Deleted {line} in cluster "{cluster}"')
        except KubefedError as exc:
            if not force:
                raise CommandError(f"{exc} (use --force to unjoin anyway)") from exc
            warn(f'skipped the member side of cluster "{cluster}": {exc}')
        if kfc is not None:
            secret = dig(kfc, "spec", "secretRef", "name")
            if secret:
                try:
                    await host.delete(SECRETS, secret, ns)
                except NotFoundError:
                    pass
            try:
                await host.delete(KUBEFED_CLUSTERS, cluster, ns)
            except NotFoundError:
                pass
    echo(f'Cluster "{cluster}" unjoined from host "{host_name}"')
