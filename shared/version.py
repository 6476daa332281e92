"""The project's version, from its one source: the installed distribution's metadata.

``version`` in pyproject.toml is the only place the version is written by hand; the build (and
``pip install -e .``, which ``make`` re-runs whenever pyproject.toml changes) puts it into the
distribution's metadata, and everything reads it from there: ``kubefed --version``,
``kubefedctl version`` and ``kubefed_build_info``. The copies that other tools need to carry literally
(the Helm chart, the Dockerfile's default, the kustomize image tags) are checked against it by
``tests/foundation/test_version.py``.
"""

from __future__ import annotations

import functools
from importlib import metadata

__all__ = ["DISTRIBUTION", "version"]

DISTRIBUTION = "kubefed-ng"


@functools.cache
def version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # imported from a checkout that was never installed
        return "0+unknown"
