"""The pipeline suites run on the shared simulated control plane (tests/support)."""

from tests.support.fixtures import control_plane, running

__all__ = ["control_plane", "running"]
