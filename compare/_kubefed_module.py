"""KubeFed v0.10.0's own manifests, copied from its Go module into the binary cache by ``make real-k8s``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sim.real._binaries import asset_dir


@dataclass(frozen=True)
class KubeFedManifests:
    crds: Path  # a folder: core types + RSP, and the Federated* types
    type_configs: Path
    config: Path


def kubefed_manifests(work: Path) -> KubeFedManifests:
    """KubeFed's files; its e2e KubeFedConfig's leader election (1.5 s lease, 1 s renew deadline) loses the
    lease on a loaded 2-core machine and the controller-manager exits, so the chart's defaults (15 s, 10 s,
    5 s) replace those three values and nothing else."""
    import yaml

    config = yaml.safe_load((asset_dir("controller-manager", "config") / "kubefedconfig.yaml").read_text())
    config["spec"]["leaderElect"].update(
        {"leaseDuration": "15s", "renewDeadline": "10s", "retryPeriod": "5s"}
    )
    work.mkdir(parents=True, exist_ok=True)
    (work / "kubefedconfig.yaml").write_text(yaml.safe_dump(config))
    crds = work / "crds"
    crds.mkdir(parents=True, exist_ok=True)
    for folder in ("crds-core", "crds-types"):
        (crds / f"{folder}.yaml").write_bytes(
            (asset_dir("controller-manager", folder) / "crds.yaml").read_bytes()
        )
    return KubeFedManifests(
        crds=crds,
        type_configs=asset_dir("controller-manager", "type-configs") / "federatedtypeconfig.yaml",
        config=work / "kubefedconfig.yaml",
    )
