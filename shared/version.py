"""The project's version, from its one place: ``version`` in pyproject.toml.

A checkout reads pyproject.toml next to the packages (so an editable install never reports a stale
version); an installed distribution (wheel, sdist, the image) reads its own metadata, which the
build took from the same field. ``kubefed --version``, ``kubefedctl version`` and
``kubefed_build_info`` all come from here; the Helm chart and the Dockerfile's default are checked
against it by the tests.
"""

from __future__ import annotations

import functools
import tomllib
from importlib import metadata
from pathlib import Path

__all__ = ["DISTRIBUTION", "version"]

DISTRIBUTION = "kubefed-ng"


@functools.cache
def version() -> str:
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    if pyproject.is_file():
        project = tomllib.loads(pyproject.read_text()).get("project") or {}
        if project.get("name") == DISTRIBUTION and project.get("version"):
            return str(project["version"])
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "0+unknown"
