"""The real-cluster tier's precondition: the programs ``make real-k8s`` builds."""

from __future__ import annotations

import pytest

from sim.real import all_built, binary_path

__all__ = ["require_programs"]


def require_programs() -> None:
    if not all_built():
        pytest.fail(
            f"real Kubernetes programs are not built (e.g. {binary_path('kube-apiserver')}): run `make "
            "real-k8s`"
        )
