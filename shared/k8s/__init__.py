"""The only package that talks to the Kubernetes API (through kubernetes-asyncio).

Everything above it sees :class:`KubeClient` (a small dynamic client for any group/version/resource),
:class:`Resource`, plain dict objects and the error tree of :mod:`shared.errors`.
"""

# First: makes the kubernetes-asyncio import below skip its generated APIs and models (~35 MB), and
# gives every TLS connection of the process a 32 KiB instead of a 256 KiB read buffer.
from shared.k8s import _lazy_kubernetes, _tls_buffers  # noqa: F401
from shared.k8s._client import KubeClient, WatchEvent
from shared.k8s._factory import (
    MEMBERS_LATENCY_HOST,
    client_for_member,
    client_from_kubeconfig,
    client_in_cluster,
    kubeconfig_contexts,
    kubeconfig_details,
)
from shared.k8s._packed import pack_object, unpack_object
from shared.k8s._resources import (
    CLUSTER_OVERRIDE_POLICIES,
    CLUSTER_PROPAGATION_POLICIES,
    CRDS,
    EVENTS,
    FEDERATED_TYPE_CONFIGS,
    KUBEFED_CLUSTERS,
    KUBEFED_CONFIGS,
    LEASES,
    NAMESPACES,
    NODES,
    OVERRIDE_POLICIES,
    POLICY_RESOURCES,
    PROPAGATION_POLICIES,
    SECRETS,
    Resource,
)

__all__ = [
    "CLUSTER_OVERRIDE_POLICIES",
    "CLUSTER_PROPAGATION_POLICIES",
    "CRDS",
    "EVENTS",
    "FEDERATED_TYPE_CONFIGS",
    "KUBEFED_CLUSTERS",
    "KUBEFED_CONFIGS",
    "LEASES",
    "NAMESPACES",
    "NODES",
    "OVERRIDE_POLICIES",
    "POLICY_RESOURCES",
    "PROPAGATION_POLICIES",
    "SECRETS",
    "KubeClient",
    "Resource",
    "WatchEvent",
    "MEMBERS_LATENCY_HOST",
    "client_for_member",
    "client_from_kubeconfig",
    "client_in_cluster",
    "kubeconfig_contexts",
    "kubeconfig_details",
    "pack_object",
    "unpack_object",
]
