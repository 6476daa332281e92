"""External programs the shipping tiers need (podman, Prometheus, ...), found or installed.

Tiers ``container`` and ``prometheus`` run Debian's packages. A missing program is installed with
``apt-get install -y`` when we are root and apt exists and either ``CI=true`` or
``KUBEFED_INSTALL_TOOLS=1`` (``make test-tools`` does the same by hand). Otherwise a test of the
tier FAILS under ``CI=true`` (CI must run every tier) and is skipped with the reason elsewhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

# program -> the Debian packages that provide it (and what it needs next to it)
APT_PACKAGES: dict[str, tuple[str, ...]] = {
    "podman": ("podman", "runc", "debootstrap"),
    "debootstrap": ("debootstrap",),
    "runc": ("runc",),
    "prometheus": ("prometheus",),
    "promtool": ("prometheus",),
}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _may_install() -> bool:
    return (
        (in_ci() or os.environ.get("KUBEFED_INSTALL_TOOLS") == "1")
        and os.geteuid() == 0
        and shutil.which("apt-get") is not None
    )


def install(programs: tuple[str, ...]) -> None:
    """apt-get install the packages of ``programs`` (root only); raises on failure."""
    packages = sorted({p for prog in programs for p in APT_PACKAGES[prog]})
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if (
        subprocess.run(["apt-get", "install", "-y", "-q", *packages], env=env, capture_output=True).returncode
        != 0
    ):
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-q", *packages], env=env, capture_output=True, check=True
        )


def missing_tool(message: str) -> None:
    """Fail under CI=true, skip elsewhere."""
    if in_ci():
        pytest.fail(f"CI=true: {message}", pytrace=False)
    pytest.skip(message)


def require(*programs: str, tier: str) -> dict[str, str]:
    """The paths of ``programs``; installs them when allowed, else fails (CI) or skips."""
    missing = [p for p in programs if shutil.which(p) is None]
    if missing and _may_install():
        install(tuple(missing))
        missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        packages = " ".join(sorted({p for m in missing for p in APT_PACKAGES.get(m, (m,))}))
        missing_tool(
            f"tier {tier!r} needs {', '.join(missing)} (apt-get install {packages}, or `make test-tools` as "
            "root)"
        )
    return {p: str(shutil.which(p)) for p in programs}
