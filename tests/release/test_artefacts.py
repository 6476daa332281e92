"""Release artefacts (tier ``release``): ``python -m build`` gives an sdist and a wheel that install and
run in clean virtual environments.

The build runs on a copy of the checkout's files (tracked and new, ignoring what .gitignore ignores),
as a fresh clone would have them, in an isolated build environment. Then, for the wheel and for the
sdist, a new venv (no site packages) gets ``pip install <artefact>`` and, run from a folder outside
the checkout: ``kubefed --version``, ``kubefedctl version`` and ``kubectl-kubefed version`` print the
version of pyproject.toml, read from the installed metadata. The wheel holds every module and data
file of the shipped packages and nothing else (no tests). The version has one source,
pyproject.toml: the code reads it (shared/version.py), the Helm chart and the Dockerfile's default
must agree with it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.release, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
VERSION = PROJECT["version"]
PACKAGES = [
    p.rstrip(".*")
    for p in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"][
        "include"
    ]
]


def _checkout_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [f for f in out if (ROOT / f).is_file()]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("release")
    clone = tmp / "src"
    for rel in _checkout_files():
        (clone / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, clone / rel)
    out = tmp / "dist"
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(out), str(clone)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return {"wheel": wheel, "sdist": sdist, "tmp": tmp}


def test_artefact_names_carry_the_version(dist: dict[str, Path]) -> None:
    assert dist["wheel"].name == f"kubefed_ng-{VERSION}-py3-none-any.whl"
    assert dist["sdist"].name == f"kubefed_ng-{VERSION}.tar.gz"


def test_the_wheel_holds_every_module_and_data_file_and_no_tests(dist: dict[str, Path]) -> None:
    with zipfile.ZipFile(dist["wheel"]) as z:
        names = set(z.namelist())
        entry_points = z.read(f"kubefed_ng-{VERSION}.dist-info/entry_points.txt").decode()
        meta = z.read(f"kubefed_ng-{VERSION}.dist-info/METADATA").decode()
    tracked = subprocess.run(
        ["git", "ls-files", *PACKAGES], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    wanted = {f for f in tracked if f.endswith((".py", ".yaml", ".json"))}
    assert wanted and wanted <= names, sorted(wanted - names)[:10]
    assert not [n for n in names if n.startswith(("tests/", "bench/", "deploy/", "hack/"))]
    for script in (
        "kubefed = kubefed.cli:main",
        "kubefedctl = kubefedctl.cli:main",
        "kubectl-kubefed = kubefedctl.cli:main",
    ):
        assert script in entry_points
    assert f"Version: {VERSION}" in meta
    with tarfile.open(dist["sdist"]) as tar:
        members = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert {"pyproject.toml", "README.md"} <= members and wanted <= members


@pytest.mark.parametrize("artefact", ["wheel", "sdist"])
def test_installs_and_runs_in_a_clean_venv(dist: dict[str, Path], artefact: str) -> None:
    venv = dist["tmp"] / f"venv-{artefact}"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-compile",
            str(dist[artefact]),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert pip.returncode == 0, pip.stdout[-3000:] + pip.stderr[-3000:]
    elsewhere = dist["tmp"] / "elsewhere"
    elsewhere.mkdir(exist_ok=True)

    def run(*cmd: str) -> str:
        proc = subprocess.run(
            [str(venv / "bin" / cmd[0]), *cmd[1:]],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=elsewhere,
            env={"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(elsewhere)},
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    assert run("kubefed", "--version") == f"kubefed, version {VERSION}"
    assert f'Version:"v{VERSION}"' in run("kubefedctl", "version")
    assert f'Version:"v{VERSION}"' in run("kubectl-kubefed", "version")
    # from the installed metadata, not a checkout
    where = run("python", "-c", "import shared.version as v; print(v.__file__, v.version())")
    path, version = where.split()
    assert str(ROOT) not in path and version == VERSION
    assert "Run watcher, scheduler, propagator and dns" in run("kubefed", "--help")


def test_the_version_has_one_source() -> None:
    from shared.version import version

    assert version() == VERSION
    chart = (ROOT / "deploy" / "helm" / "kubefed-ng" / "Chart.yaml").read_text()
    assert re.search(rf"^version: {re.escape(VERSION)}$", chart, re.M) and f'appVersion: "{VERSION}"' in chart
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"ARG VERSION={VERSION}" in dockerfile
    # no other literal copy of the version in the code
    for package in PACKAGES:
        for f in (ROOT / package).rglob("*.py"):
            text = f.read_text()
            assert not re.search(rf'["\']v?{re.escape(VERSION)}["\']', text), f"{f} repeats the version"
