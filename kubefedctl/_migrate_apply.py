"""``kubefedctl migrate`` without ``--dry-run``: carry out a :class:`~kubefedctl._migration.MigrationPlan`.

One object at a time, in the plan's order but every ``FederatedNamespace`` last (KubeFed places a
namespace's other federated objects nowhere once its FederatedNamespace is gone), each in these steps:

1. ``policies``: the OverridePolicy, then the PropagationPolicy (``conflictResolution: Overwrite``), are
   created (one of the same name is kept if it already sets the plan's spec, else the step fails).
   They select nothing while the host lacks the native object. When the host already has it (plan
   action ``keep``/``update``), the PropagationPolicy waits for step 4, so the policy engine never
   manages the member objects while KubeFed still does;
2. ``orphan``: the ``Federated<Kind>`` is annotated ``kubefed.io/orphan: "true"`` and deleted; the step
   waits until it is gone (KubeFed's propagator removed the managed label from the member objects and
   then its finalizer): the member objects stay, unmanaged;
3. ``native``: the native object is created on the host (``update``: the plan's fields merged into the
   host's copy; ``keep``: nothing), and the policy adopts the member objects in place;
4. ``propagation-policy`` (only when deferred from step 1);
5. ``rsp``: its ReplicaSchedulingPreference, now replaced by ``replicaScheduling``, is deleted.

A failure in steps 1-4 rolls that object back: the policies created for it are deleted, and its
``Federated<Kind>`` is recreated from the copy read before step 2 (or its orphan annotation removed if it
still exists), so KubeFed takes its member objects back; then the command stops with an error naming
the object and the step. Objects migrated before stay migrated, the rest stay under KubeFed. Step 5
failing leaves the object migrated (its RSP acts on nothing) and is reported.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kubefedctl._common import CommandError
from kubefedctl._migration import ORPHAN_ANNOTATION, MigrationItem, MigrationPlan
from shared.errors import AlreadyExistsError, KubefedError, NotFoundError
from shared.k8s import (
    CLUSTER_OVERRIDE_POLICIES,
    CLUSTER_PROPAGATION_POLICIES,
    OVERRIDE_POLICIES,
    PROPAGATION_POLICIES,
    KubeClient,
    Resource,
)
from shared.planning import needs_write

__all__ = ["MigrationFailed", "TypeResources", "execute_plan", "migration_order"]

POLICY_RESOURCES = {
    "PropagationPolicy": PROPAGATION_POLICIES,
    "ClusterPropagationPolicy": CLUSTER_PROPAGATION_POLICIES,
    "OverridePolicy": OVERRIDE_POLICIES,
    "ClusterOverridePolicy": CLUSTER_OVERRIDE_POLICIES,
}
_SERVER_SET_METADATA = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "managedFields",
    "finalizers",
    "selfLink",
)


@dataclass(frozen=True)
class TypeResources:
    """The host resources of one federated type: the ``Federated<Kind>`` and its native target."""

    federated: Resource
    target: Resource


class MigrationFailed(CommandError):
    """A step failed for one object; it was rolled back to KubeFed."""


def migration_order(plan: MigrationPlan) -> list[MigrationItem]:
    """The plan's items in execution order: every FederatedNamespace after the other objects."""
    return sorted(plan.items, key=lambda i: i.source.get("kind") == "FederatedNamespace")


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _ns(obj: Mapping[str, Any]) -> str | None:
    return _meta(obj).get("namespace") or None


def recreation_copy(source: Mapping[str, Any]) -> dict[str, Any]:
    """The federated object as it can be created again: no server-set fields, no orphan annotation."""
    obj = copy.deepcopy(dict(source))
    obj.pop("status", None)
    meta = obj.setdefault("metadata", {})
    for key in _SERVER_SET_METADATA:
        meta.pop(key, None)
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != ORPHAN_ANNOTATION}
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    return obj


class _Run:
    """The execution of one item, remembering what to undo."""

    def __init__(
        self, host: KubeClient, item: MigrationItem, res: TypeResources, say: Callable[[str], None]
    ) -> None:
        self.host, self.item, self.res, self.say = host, item, res, say
        self.created_policies: list[tuple[Resource, str, str | None]] = []
        self.federated_deleted = False
        self.step = ""

    async def apply_policy(self, policy: Mapping[str, Any]) -> None:
        """Create ``policy``; one of that name that already sets every field of it (an earlier run
        stopped before its rollback) is kept; a different one is never overwritten: the step fails."""
        res = POLICY_RESOURCES[str(policy["kind"])]
        name, ns = str(_meta(policy)["name"]), _ns(policy)
        ref = f"{policy['kind']} {ns + '/' if ns else ''}{name}"
        try:
            await self.host.create(res, policy, ns)
        except AlreadyExistsError:
            live = await self.host.get_or_none(res, name, ns)
            if live is not None and not needs_write(policy, {**live, "metadata": _meta(policy)}):
                self.say(f"  {ref} exists with this spec, kept")
                return
            raise CommandError(f"{ref} already exists with another spec (not overwritten)") from None
        self.created_policies.append((res, name, ns))
        self.say(f"  created {ref}")

    async def orphan_delete(self, timeout: float) -> None:
        fed, name, ns = self.res.federated, str(_meta(self.item.source)["name"]), _ns(self.item.source)
        await self.host.patch(fed, name, {"metadata": {"annotations": {ORPHAN_ANNOTATION: "true"}}}, ns)
        try:
            await self.host.delete(fed, name, ns)
        except NotFoundError:
            pass
        self.federated_deleted = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while await self.host.get_or_none(fed, name, ns) is not None:
            if loop.time() > deadline:
                raise CommandError(
                    f"it was still being deleted after {timeout:g}s (KubeFed's propagator must remove the "
                    "managed label from its member objects and then its finalizer)"
                )
            await asyncio.sleep(0.2)
        self.say(f"  {self.item.source['kind']} deleted, its member objects orphaned")

    async def native(self) -> None:
        native, action = self.item.native, self.item.native_action
        assert native is not None
        target, name, ns = self.res.target, str(_meta(native)["name"]), _ns(native)
        if action == "create":
            await self.host.create(target, native, ns)
        elif action == "update":
            await self.host.patch(target, name, {k: v for k, v in native.items() if k != "apiVersion"}, ns)
        self.say(
            f"  {native['kind']} {ns + '/' if ns else ''}{name} {action}d on the host"
            if action != "keep"
            else f"  {native['kind']} {ns + '/' if ns else ''}{name} kept as it is on the host"
        )

    async def rollback(self) -> str:
        """Undo this item's steps; returns what was done, for the error message."""
        done = []
        for res, name, ns in reversed(self.created_policies):
            try:
                await self.host.delete(res, name, ns)
                done.append(f"{res.kind} {name} deleted")
            except NotFoundError:
                pass
            except KubefedError as exc:
                done.append(f"{res.kind} {name} NOT deleted ({exc})")
        fed, source = self.res.federated, self.item.source
        name, ns = str(_meta(source)["name"]), _ns(source)
        live = await self.host.get_or_none(fed, name, ns)
        if live is None and self.federated_deleted:
            await self.host.create(fed, recreation_copy(source), ns)
            done.append(f"{source['kind']} recreated (KubeFed takes its member objects back)")
        elif live is not None and _meta(live).get("deletionTimestamp"):
            done.append(
                f"{source['kind']} is still being deleted: recreate it once it is gone to hand its member "
                "objects back to KubeFed"
            )
        elif live is not None and ORPHAN_ANNOTATION in (_meta(live).get("annotations") or {}):
            await self.host.patch(fed, name, {"metadata": {"annotations": {ORPHAN_ANNOTATION: None}}}, ns)
            done.append(f"{source['kind']} kept, its orphan annotation removed")
        else:
            done.append(f"{source['kind']} untouched, still in charge")
        return "; ".join(done)


async def _migrate_item(run: _Run, timeout: float) -> None:
    item = run.item
    assert item.propagation_policy is not None
    defer_propagation = item.native_action != "create"
    run.step = "policies"
    if item.override_policy is not None:
        await run.apply_policy(item.override_policy)
    if not defer_propagation:
        await run.apply_policy(item.propagation_policy)
    run.step = "orphan"
    await run.orphan_delete(timeout)
    run.step = "native"
    await run.native()
    if defer_propagation:
        run.step = "propagation-policy"
        await run.apply_policy(item.propagation_policy)


async def _delete_rsp(
    host: KubeClient, rsps: Resource, item: MigrationItem, say: Callable[[str], None]
) -> None:
    if item.rsp is None:
        return
    name, ns = str(_meta(item.rsp)["name"]), _ns(item.rsp)
    try:
        await host.delete(rsps, name, ns)
    except NotFoundError:
        pass
    except KubefedError as exc:
        raise CommandError(
            f"{item.key}: migrated, but deleting its ReplicaSchedulingPreference {ns}/{name} failed "
            f"(step rsp): {exc}; delete it by hand (it no longer acts on anything)"
        ) from exc
    say(f"  ReplicaSchedulingPreference {ns}/{name} deleted (replaced by replicaScheduling)")


async def execute_plan(
    host: KubeClient,
    plan: MigrationPlan,
    resources: Mapping[str, TypeResources],
    rsps: Resource,
    *,
    say: Callable[[str], None],
    timeout: float = 60.0,
) -> int:
    """Migrate every item of ``plan`` (none may be refused); returns how many were migrated.

    ``resources``: by federated kind. Raises :class:`MigrationFailed` naming the object and the step at
    the first failure, after rolling that object back.
    """
    assert not plan.refused
    order = migration_order(plan)
    for index, item in enumerate(order):
        run = _Run(host, item, resources[str(item.source.get("kind"))], say)
        say(f"{item.key} ({index + 1}/{len(order)}): migrating")
        try:
            await _migrate_item(run, timeout)
        except KubefedError as exc:
            try:
                undone = await run.rollback()
            except KubefedError as undo_exc:
                undone = f"rollback failed too: {undo_exc}"
            raise MigrationFailed(
                f"{item.key}: step {run.step} failed: {exc}; rolled back: {undone}; "
                f"{index} object(s) migrated before it stay migrated, {len(order) - index - 1} not "
                "attempted stay under KubeFed"
            ) from exc
        await _delete_rsp(host, rsps, item, say)
        say(f"{item.key}: migrated")
    return len(order)
