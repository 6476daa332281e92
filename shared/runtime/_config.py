"""Reading the KubeFedConfig every service runs with."""

from __future__ import annotations

from shared.k8s import KUBEFED_CONFIGS, KubeClient
from shared.kubefed_api import KUBEFED_CONFIG_NAME, KubeFedConfigSpec, effective_config_spec
from shared.telemetry import get_logger

__all__ = ["read_kubefed_config"]

log = get_logger(__name__)


async def read_kubefed_config(
    host: KubeClient, namespace: str, previous: KubeFedConfigSpec | None = None
) -> KubeFedConfigSpec:
    """The KubeFedConfig spec, defaulted and decoded; an invalid one is logged with the offending
    fields and ``previous`` (or KubeFed's defaults) stays in force. Raises
    :class:`~shared.errors.KubefedError` when the host cannot be read."""
    obj = await host.get_or_none(KUBEFED_CONFIGS, KUBEFED_CONFIG_NAME, namespace)
    spec, errors = effective_config_spec(obj, previous)
    if errors:
        log.error(
            "Ignored invalid KubeFedConfig",
            kubefedconfig=f"{namespace}/{KUBEFED_CONFIG_NAME}",
            err="; ".join(errors),
        )
    return spec
