"""The sample application the demo federates (plain KubeFed manifests)."""

from __future__ import annotations

from typing import Any

NS = "demo-app"
MEMBERS = ("cluster1", "cluster2", "cluster3")
REGIONS = {
    "cluster1": ("eu-west", "eu-west-1a"),
    "cluster2": ("us-east", "us-east-1b"),
    "cluster3": ("ap-south", "ap-south-1c"),
}
CAPACITY = {"cluster1": 20, "cluster2": 4, "cluster3": 20}
TYPES = ("namespaces", "configmaps", "deployments.apps", "services")


def manifests() -> list[dict[str, Any]]:
    """Namespace, ConfigMap, Deployment with overrides, LoadBalancer Service, RSP, Domain +
    ServiceDNSRecord."""
    labels = {"app": "web"}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
        {
            "apiVersion": "types.kubefed.io/v1beta1",
            "kind": "FederatedNamespace",
            "metadata": {"name": NS, "namespace": NS},
            "spec": {"placement": {"clusterSelector": {}}},
        },
        {
            "apiVersion": "types.kubefed.io/v1beta1",
            "kind": "FederatedConfigMap",
            "metadata": {"name": "web-config", "namespace": NS},
            "spec": {
                "template": {"data": {"greeting": "hello from the host"}},
                "placement": {"clusterSelector": {}},
                "overrides": [
                    {
                        "clusterName": "cluster2",
                        "clusterOverrides": [{"path": "/data/greeting", "value": "hello, us-east"}],
                    }
                ],
            },
        },
        {
            "apiVersion": "types.kubefed.io/v1beta1",
            "kind": "FederatedDeployment",
            "metadata": {"name": "web", "namespace": NS},
            "spec": {
                "placement": {"clusterSelector": {}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "replicas": 3,
                        "selector": {"matchLabels": labels},
                        "template": {
                            "metadata": {"labels": labels},
                            "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
                        },
                    },
                },
                "overrides": [
                    {
                        "clusterName": "cluster3",
                        "clusterOverrides": [
                            {"path": "/spec/template/spec/containers/0/image", "value": "nginx:1.27-alpine"}
                        ],
                    }
                ],
            },
        },
        {
            "apiVersion": "types.kubefed.io/v1beta1",
            "kind": "FederatedService",
            "metadata": {"name": "web", "namespace": NS},
            "spec": {
                "placement": {"clusterSelector": {}},
                "template": {
                    "spec": {
                        "type": "LoadBalancer",
                        "selector": labels,
                        "ports": [{"name": "http", "port": 80}],
                    }
                },
            },
        },
        {
            "apiVersion": "scheduling.kubefed.io/v1alpha1",
            "kind": "ReplicaSchedulingPreference",
            "metadata": {"name": "web", "namespace": NS},
            "spec": {
                "targetKind": "FederatedDeployment",
                "totalReplicas": 12,
                "rebalance": True,
                "clusters": {"cluster1": {"weight": 1}, "cluster2": {"weight": 1}, "cluster3": {"weight": 1}},
            },
        },
        {
            "apiVersion": "multiclusterdns.kubefed.io/v1alpha1",
            "kind": "Domain",
            "metadata": {"name": "demo", "namespace": "kube-federation-system"},
            "domain": "example.com",
        },
        {
            "apiVersion": "multiclusterdns.kubefed.io/v1alpha1",
            "kind": "ServiceDNSRecord",
            "metadata": {"name": "web", "namespace": NS},
            "spec": {"domainRef": "demo", "recordTTL": 300},
        },
    ]
