"""``kubefedctl orphaning-deletion enable|disable|status``: the ``kubefed.io/orphan`` annotation.

With the annotation set, deleting the federated object leaves the member objects in place (only the
managed label is removed). The type is resolved through discovery like every other type name; a type
that is not a ``Federated*`` kind of ``types.kubefed.io`` only earns a warning, as in KubeFed.
"""

from __future__ import annotations

from kubefedctl._common import CommandError, Options, connect, dig, echo, warn
from kubefedctl._enable import target_resource
from kubefedctl._resolve import discover, resolve
from shared.planning import ORPHAN_ANNOTATION

__all__ = ["orphaning"]


async def orphaning(opts: Options, action: str, type_name: str, name: str, namespace: str | None) -> None:
    """Enable, disable or report orphaning deletion of one federated object."""
    async with connect(opts) as host:
        target = resolve(type_name, discover(await host.api_resources()), warn=warn)
        if not (target.kind.startswith("Federated") and target.group == "types.kubefed.io"):
            warn(f'{target.kind} ({target.qualified}) is not a federated type of group "types.kubefed.io"')
        res = target_resource(target)
        ns = (namespace or opts.context_namespace()) if target.namespaced else None
        ref = f'{target.kind} "{ns}/{name}"' if ns else f'{target.kind} "{name}"'
        obj = await host.get_or_none(res, name, ns)
        if obj is None:
            raise CommandError(f"{ref} not found in the host cluster")
        enabled = dig(obj, "metadata", "annotations", ORPHAN_ANNOTATION) == "true"
        if action == "status":
            echo("Enabled" if enabled else "Disabled")
            return
        want = action == "enable"
        if want == enabled:
            echo(f"Orphaning deletion is already {'enabled' if want else 'disabled'} for {ref}")
            return
        if opts.dry_run:
            echo(f"would {action} orphaning deletion for {ref} (dry run)")
            return
        patch = {"metadata": {"annotations": {ORPHAN_ANNOTATION: "true" if want else None}}}
        await host.patch(res, name, patch, ns, patch_type="merge")
        echo(f"Orphaning deletion {'enabled' if want else 'disabled'} for {ref}")
