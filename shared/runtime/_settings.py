"""Settings shared by every service; each service embeds them in its own frozen Settings struct."""

from __future__ import annotations

import msgspec

from shared.bus import BusSettings

__all__ = ["CommonSettings"]


class CommonSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Where the host cluster and NATS are, where to serve probes, how long to drain on shutdown."""

    bus: BusSettings = BusSettings()
    kubeconfig: str | None = None
    context: str | None = None
    in_cluster: bool = False
    host_qps: float = 100.0  # host request budget (KubeFed's --rest-config-qps / --rest-config-burst)
    host_burst: int = 200
    kubefed_namespace: str = "kube-federation-system"
    http_host: str = "0.0.0.0"
    http_port: int = 8081
    grace_period: float = 30.0
    identity: str = ""
