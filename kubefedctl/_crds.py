"""The CRDs and default objects of ``deploy/``, generated from Python definitions.

``python -m kubefedctl._crds [DIR]`` rewrites ``DIR/crds/*.yaml`` and ``DIR/config/*.yaml`` (default
``deploy``). The schemas come from the Structs in :mod:`shared.kubefed_api` (see :mod:`._schema`);
names, short names, scopes, printer columns and subresources are listed here as KubeFed's chart had
them. ``tests/kubefedctl/test_api_and_crds.py`` fails when the files on disk differ from what this produces.

PropagatedVersion/ClusterPropagatedVersion and FederatedServiceStatus are deliberately absent: our
propagator keeps its bookkeeping elsewhere (docs/compatibility.md).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kubefedctl._fedtypes import DEFAULT_TYPES, federated_crd, federated_type_config
from kubefedctl._schema import structural_schema
from shared import kubefed_api as api

__all__ = ["CrdDef", "CRD_DEFS", "SHIPPED_SYNC_CONCURRENCY", "crd_document", "generate", "render_files"]

# The shipped KubeFedConfig's syncController.maxConcurrentReconciles. Here it counts writes in flight
# per member cluster in each propagator (KubeFed: reconciles per federated type), and KubeFed's default
# of 1 leaves most of a member's API budget unused; a config without the field still defaults to 1.
SHIPPED_SYNC_CONCURRENCY = 16


@dataclass(frozen=True)
class CrdDef:
    """Everything about one CRD that is not its schema."""

    group: str
    version: str
    kind: str
    plural: str
    struct: type
    short_names: tuple[str, ...] = ()
    status: bool = True
    columns: tuple[tuple[str, str, str], ...] = ()
    file: str = ""
    scope: str = "Namespaced"

    @property
    def name(self) -> str:
        return f"{self.plural}.{self.group}"


CRD_DEFS: tuple[CrdDef, ...] = (
    CrdDef(
        "core.kubefed.io",
        "v1beta1",
        "KubeFedCluster",
        "kubefedclusters",
        api.KubeFedCluster,
        ("kfc",),
        columns=(
            ("age", "date", ".metadata.creationTimestamp"),
            ("ready", "string", ".status.conditions[?(@.type=='Ready')].status"),
            ("kubernetes-version", "string", ".status.kubernetesVersion"),
        ),
    ),
    CrdDef("core.kubefed.io", "v1beta1", "KubeFedConfig", "kubefedconfigs", api.KubeFedConfig, status=False),
    CrdDef(
        "core.kubefed.io",
        "v1beta1",
        "FederatedTypeConfig",
        "federatedtypeconfigs",
        api.FederatedTypeConfig,
        ("ftc",),
    ),
    CrdDef("core.kubefed.io", "v1alpha1", "PropagatedVersion", "propagatedversions", api.PropagatedVersion),
    CrdDef(
        "core.kubefed.io",
        "v1alpha1",
        "ClusterPropagatedVersion",
        "clusterpropagatedversions",
        api.PropagatedVersion,
        scope="Cluster",
    ),
    CrdDef(
        "scheduling.kubefed.io",
        "v1alpha1",
        "ReplicaSchedulingPreference",
        "replicaschedulingpreferences",
        api.ReplicaSchedulingPreference,
        ("rsp",),
        status=False,
    ),
    CrdDef("multiclusterdns.kubefed.io", "v1alpha1", "Domain", "domains", api.Domain, status=False),
    CrdDef(
        "multiclusterdns.kubefed.io",
        "v1alpha1",
        "ServiceDNSRecord",
        "servicednsrecords",
        api.ServiceDNSRecord,
    ),
    CrdDef(
        "multiclusterdns.kubefed.io",
        "v1alpha1",
        "IngressDNSRecord",
        "ingressdnsrecords",
        api.IngressDNSRecord,
    ),
    CrdDef("multiclusterdns.kubefed.io", "v1alpha1", "DNSEndpoint", "dnsendpoints", api.DNSEndpoint),
)


def crd_document(d: CrdDef) -> dict[str, Any]:
    """The CustomResourceDefinition for one definition."""
    schema = structural_schema(d.struct)
    props = {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"}}
    props.update(schema.get("properties") or {})
    root: dict[str, Any] = {"type": "object", "properties": props}
    if schema.get("description"):
        root["description"] = schema["description"]
    if schema.get("required"):
        root["required"] = schema["required"]
    version: dict[str, Any] = {
        "name": d.version,
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": root},
    }
    if d.columns:
        version["additionalPrinterColumns"] = [{"name": n, "type": t, "jsonPath": p} for n, t, p in d.columns]
    if d.status:
        version["subresources"] = {"status": {}}
    names: dict[str, Any] = {
        "kind": d.kind,
        "listKind": f"{d.kind}List",
        "plural": d.plural,
        "singular": d.kind.lower(),
    }
    if d.short_names:
        names["shortNames"] = list(d.short_names)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": d.name},
        "spec": {"group": d.group, "names": names, "scope": d.scope, "versions": [version]},
    }


def _dump(docs: list[dict[str, Any]]) -> str:
    header = "# Generated by `python -m kubefedctl._crds`; do not edit by hand.\n"
    return header + "---\n".join(yaml.safe_dump(doc, sort_keys=False) for doc in docs)


def render_files(namespace: str = api.DEFAULT_KUBEFED_NAMESPACE) -> dict[str, str]:
    """Relative path → file content for everything under ``deploy/``."""
    files: dict[str, str] = {}
    for group in sorted({d.group for d in CRD_DEFS}):
        files[f"crds/{group}.yaml"] = _dump([crd_document(d) for d in CRD_DEFS if d.group == group])
    files["crds/types.kubefed.io.yaml"] = _dump([federated_crd(t) for t in DEFAULT_TYPES])
    files["config/00-namespace.yaml"] = _dump(
        [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}]
    )
    config = api.default_kubefed_config(
        {
            "apiVersion": "core.kubefed.io/v1beta1",
            "kind": "KubeFedConfig",
            "metadata": {"name": api.KUBEFED_CONFIG_NAME, "namespace": namespace},
            "spec": {
                "scope": "Cluster",
                "syncController": {"maxConcurrentReconciles": SHIPPED_SYNC_CONCURRENCY},
            },
        }
    )
    files["config/10-kubefedconfig.yaml"] = _dump([config])
    files["config/20-federatedtypeconfigs.yaml"] = _dump(
        [federated_type_config(t, namespace=namespace) for t in DEFAULT_TYPES]
    )
    return files


def generate(root: Path) -> list[Path]:
    """Write every generated file under ``root``; returns the paths written."""
    written = []
    for rel, text in render_files().items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover - developer entry point
    for p in generate(Path(sys.argv[1] if len(sys.argv) > 1 else "deploy")):
        print(p)
