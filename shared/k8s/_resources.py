"""Resource coordinates (group, version, plural, scope) and the URL paths built from them."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

__all__ = [
    "CRDS",
    "EVENTS",
    "FEDERATED_TYPE_CONFIGS",
    "KUBEFED_CLUSTERS",
    "KUBEFED_CONFIGS",
    "LEASES",
    "NAMESPACES",
    "NODES",
    "SECRETS",
    "Resource",
]


@dataclass(frozen=True)
class Resource:
    """One served resource: enough to build every URL of it."""

    group: str
    version: str
    plural: str
    namespaced: bool = True
    kind: str = ""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """``plural.group`` (just ``plural`` for the core group): KubeFed's type name."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{quote(name, safe='')}"
            if subresource:
                base += f"/{subresource}"
        return base


NAMESPACES = Resource("", "v1", "namespaces", namespaced=False, kind="Namespace")
SECRETS = Resource("", "v1", "secrets", kind="Secret")
NODES = Resource("", "v1", "nodes", namespaced=False, kind="Node")
EVENTS = Resource("", "v1", "events", kind="Event")
LEASES = Resource("coordination.k8s.io", "v1", "leases", kind="Lease")
CRDS = Resource(
    "apiextensions.k8s.io",
    "v1",
    "customresourcedefinitions",
    namespaced=False,
    kind="CustomResourceDefinition",
)
KUBEFED_CLUSTERS = Resource("core.kubefed.io", "v1beta1", "kubefedclusters", kind="KubeFedCluster")
KUBEFED_CONFIGS = Resource("core.kubefed.io", "v1beta1", "kubefedconfigs", kind="KubeFedConfig")
FEDERATED_TYPE_CONFIGS = Resource(
    "core.kubefed.io", "v1beta1", "federatedtypeconfigs", kind="FederatedTypeConfig"
)

# Karmada's policy API (policy.karmada.io/v1alpha1, deploy/crds/policy.karmada.io.yaml)
PROPAGATION_POLICIES = Resource(
    "policy.karmada.io", "v1alpha1", "propagationpolicies", kind="PropagationPolicy"
)
CLUSTER_PROPAGATION_POLICIES = Resource(
    "policy.karmada.io",
    "v1alpha1",
    "clusterpropagationpolicies",
    namespaced=False,
    kind="ClusterPropagationPolicy",
)
OVERRIDE_POLICIES = Resource("policy.karmada.io", "v1alpha1", "overridepolicies", kind="OverridePolicy")
CLUSTER_OVERRIDE_POLICIES = Resource(
    "policy.karmada.io", "v1alpha1", "clusteroverridepolicies", namespaced=False, kind="ClusterOverridePolicy"
)
POLICY_RESOURCES = (
    PROPAGATION_POLICIES,
    CLUSTER_PROPAGATION_POLICIES,
    OVERRIDE_POLICIES,
    CLUSTER_OVERRIDE_POLICIES,
)
