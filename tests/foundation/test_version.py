"""One version source: pyproject.toml's ``version``, read at run time from the installed metadata.

Covers: ``shared.version.version()`` is ``importlib.metadata.version("kubefed-ng")`` and equals
pyproject.toml's; the literal copies other tools need (the Helm chart's ``version``/``appVersion``, the
Dockerfile's ``ARG VERSION`` default, every kustomization's ``newTag`` for the kubefed image) equal it;
no manifest under deploy/ pins the kubefed image to a tag of its own; no module repeats it.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import yaml

from shared.version import DISTRIBUTION, version

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
VERSION = PYPROJECT["project"]["version"]
PACKAGES = [p.rstrip(".*") for p in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]]


def test_the_code_reads_the_installed_metadata() -> None:
    assert DISTRIBUTION == PYPROJECT["project"]["name"]
    assert version() == metadata.version(DISTRIBUTION) == VERSION


def test_literal_copies_for_other_tools_agree() -> None:
    chart = yaml.safe_load((ROOT / "deploy" / "helm" / "kubefed-ng" / "Chart.yaml").read_text())
    assert chart["version"] == chart["appVersion"] == VERSION
    args = re.findall(r"^ARG VERSION=(\S+)$", (ROOT / "Dockerfile").read_text(), re.M)
    assert args == [VERSION]
    tags = {}
    for path in sorted((ROOT / "deploy" / "kustomize").rglob("kustomization.yaml")):
        for image in yaml.safe_load(path.read_text()).get("images") or []:
            if image.get("name") == "kubefed":
                tags[str(path.relative_to(ROOT))] = image.get("newTag")
    assert tags and set(tags.values()) == {VERSION}, tags


def test_no_manifest_pins_the_kubefed_image_itself() -> None:
    pinned = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in sorted((ROOT / "deploy").rglob("*.yaml"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.match(r"^\s*(-\s*)?image:\s*[\"']?kubefed:", line)
    ]
    assert pinned == []


def test_no_module_repeats_the_version() -> None:
    literal = re.compile(rf"[\"']v?{re.escape(VERSION)}[\"']")
    repeated = [
        str(f.relative_to(ROOT))
        for package in PACKAGES
        for f in sorted((ROOT / package).rglob("*.py"))
        if literal.search(f.read_text())
    ]
    assert repeated == []
