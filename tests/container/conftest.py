"""The ``container`` tier: the Dockerfile built with podman and run (``pytest -m container``).

Every test here is marked ``container``. Needs podman, runc and debootstrap (Debian packages): installed
by the tier when root and ``CI=true``; missing tools fail the tier under CI and skip it elsewhere
(tests/support/tools.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.container import _podman
from tests.support.tools import require


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.container)


@pytest.fixture(scope="session")
def image() -> dict[str, float | str]:
    """The image built from the checkout (cached layers reused): tag, seconds spent, size in bytes."""
    require("podman", "runc", "debootstrap", tier="container")
    base_seconds = _podman.build_base()
    seconds = _podman.build_image()
    return {
        "tag": _podman.IMAGE,
        "base_seconds": base_seconds,
        "build_seconds": seconds,
        "size": _podman.image_size(_podman.IMAGE),
    }
