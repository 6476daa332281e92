"""Real Kubernetes fleets for tests, benchmarks and the demo's real mode.

Upstream programs (kube-apiserver, kube-controller-manager, kube-scheduler, etcd, KWOK) are built from
pinned Go modules (``_binaries``) and launched as child processes (``_fleet``) with the same
kubeconfig layout as the simulator, so anything that runs against ``kubefed sim`` runs against
``kubefed sim --real``.
"""

from ._binaries import FLEET_PROGRAMS, PROGRAMS, MissingProgram, all_built, binary_path, build, locate
from ._fleet import RealCluster, RealFleet, run_real_fleet
from ._process import ProgramFailed

__all__ = [
    "FLEET_PROGRAMS",
    "PROGRAMS",
    "MissingProgram",
    "ProgramFailed",
    "RealCluster",
    "RealFleet",
    "all_built",
    "binary_path",
    "build",
    "locate",
    "run_real_fleet",
]
