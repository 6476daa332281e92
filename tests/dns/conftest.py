"""The DNS tests use the control-plane factory of the replica-scheduling tests."""

from tests.rsp.conftest import make_plane

__all__ = ["make_plane"]
