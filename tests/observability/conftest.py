"""The observability tests build planes with the shared factory (tests/support)."""

from tests.support.fixtures import make_plane

__all__ = ["make_plane"]
