"""Host objects the suites create again and again."""

from __future__ import annotations

from typing import Any

__all__ = ["namespace_federated_to_all"]


def namespace_federated_to_all(name: str = "fed") -> list[dict[str, Any]]:
    """A Namespace and its FederatedNamespace placed in every cluster (empty clusterSelector)."""
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
        {
            "apiVersion": "types.kubefed.io/v1beta1",
            "kind": "FederatedNamespace",
            "metadata": {"name": name, "namespace": name},
            "spec": {"placement": {"clusterSelector": {}}},
        },
    ]
