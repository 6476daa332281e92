"""Build the project's image with podman, without a Docker engine or a registry.

How (the set-up of ``/work/shared/reference/containers.md``, made repeatable):

- every podman call gets ``--runtime runc --cgroup-manager cgroupfs`` (crun refuses the cgroup layout
  of our machines; ``KUBEFED_PODMAN_FLAGS`` overrides) and ``CONTAINERS_CONF`` pointing at
  ``hack/container/containers.conf`` (``default_ulimits = []``: setrlimit is refused here), so no file
  under /etc is changed;
- the base image ``localhost/kubefed-ng-base:bookworm`` is Debian bookworm made by ``debootstrap
  --variant=minbase`` with python3, python3-venv and ca-certificates from the mirror apt uses, trimmed
  of apt's caches, docs and locales, and ``podman import``-ed: built once per machine (about 80 s) and
  kept in podman's store;
- the Dockerfile is built with ``--build-arg BASE=<that image>`` and ``--network host``; this
  machine's CA bundle and ``/etc/pip.conf`` are mounted read-only into the RUN steps when they exist
  (our egress goes through a TLS proxy whose CA only the host trusts), so nothing of the machine ends
  up in the image. Podman's layer cache keeps the dependency layer until pyproject.toml changes.

``python -m tests.container._podman`` (``make image``) builds the image and prints its size.
"""

from __future__ import annotations

import fcntl
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTAINERS_CONF = ROOT / "hack" / "container" / "containers.conf"
BASE_IMAGE = "localhost/kubefed-ng-base:bookworm"
IMAGE = "localhost/kubefed-ng:test"
SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
# trimmed from the debootstrap tree before import: package caches and lists, docs, man pages, locales
TRIM = (
    "var/cache/apt/archives",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/locale",
    "usr/share/info",
)
HOST_TRUST = (Path("/etc/ssl/certs/ca-certificates.crt"), Path("/etc/pip.conf"))


def flags() -> list[str]:
    explicit = os.environ.get("KUBEFED_PODMAN_FLAGS")
    if explicit is not None:
        return shlex.split(explicit)
    return ["--runtime", "runc", "--cgroup-manager", "cgroupfs"] if shutil.which("runc") else []


def env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF", str(CONTAINERS_CONF))}


def command(*args: str) -> list[str]:
    return ["podman", *flags(), *args]


def podman(
    *args: str, check: bool = True, timeout: float = 600, input: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        command(*args),
        env=env(),
        capture_output=True,
        timeout=timeout,
        input=input.decode() if input is not None else None,
        text=True,
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def image_exists(ref: str) -> bool:
    return podman("image", "exists", ref, check=False).returncode == 0


def image_size(ref: str) -> int:
    return int(podman("image", "inspect", "--format", "{{.Size}}", ref).stdout.strip())


@contextmanager
def _lock(name: str) -> Iterator[None]:
    """One builder at a time per machine (parallel test runs share podman's store)."""
    path = Path(tempfile.gettempdir()) / f"kubefed-ng-{name}.lock"
    with path.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def debian_mirror() -> str:
    """The Debian mirror apt is configured with (deb822 or one-line sources), else deb.debian.org."""
    texts = []
    for p in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if p.is_file():
            texts.append(p.read_text(errors="replace"))
    for text in texts:
        for m in re.finditer(r"^\s*(?:URIs:|deb)\s+(?:\[[^]]*\]\s+)?(\S+)", text, re.M):
            uri = m.group(1)
            if uri.startswith("http") and "security" not in uri and uri.rstrip("/").endswith("debian"):
                return uri
    return "http://deb.debian.org/debian"


def build_base(*, log: bool = False) -> float:
    """Make BASE_IMAGE if podman does not have it; seconds spent (0 when cached)."""
    if image_exists(BASE_IMAGE):
        return 0.0
    with _lock("base"):
        if image_exists(BASE_IMAGE):
            return 0.0
        debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="kubefed-base-") as tmp:
            rootfs = Path(tmp) / "rootfs"
            proc = subprocess.run(
                [
                    debootstrap,
                    "--variant=minbase",
                    f"--include={','.join(BASE_PACKAGES)}",
                    SUITE,
                    str(rootfs),
                    debian_mirror(),
                ],
                capture_output=True,
                text=True,
                timeout=900,
            )
            if proc.returncode != 0:
                raise RuntimeError(f"debootstrap failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
            for rel in TRIM:
                target = rootfs / rel
                if target.is_dir():
                    for child in target.iterdir():
                        if child.is_dir() and not child.is_symlink():
                            shutil.rmtree(child)
                        elif child.name not in ("lock", "partial"):
                            child.unlink()
            tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
            imported = subprocess.run(
                command("import", "--change", 'CMD ["python3"]', "-", BASE_IMAGE),
                env=env(),
                stdin=tar.stdout,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert tar.stdout is not None
            tar.stdout.close()
            tar.wait()
            if imported.returncode != 0:
                raise RuntimeError(f"podman import failed:\n{imported.stderr[-3000:]}")
        seconds = time.monotonic() - started
        if log:
            print(f"base image {BASE_IMAGE} made in {seconds:.0f} s", file=sys.stderr)
        return seconds


def build_image(tag: str = IMAGE, *, extra: Sequence[str] = (), log: bool = False) -> float:
    """Build the repository's Dockerfile on BASE_IMAGE; seconds spent."""
    build_base(log=log)
    mounts = [f"--volume={p}:{p}:ro" for p in HOST_TRUST if p.is_file()]
    started = time.monotonic()
    with _lock("image"):
        podman(
            "build",
            "--network",
            "host",
            "--build-arg",
            f"BASE={BASE_IMAGE}",
            *mounts,
            *extra,
            "--tag",
            tag,
            "--file",
            str(ROOT / "Dockerfile"),
            str(ROOT),
            timeout=1800,
        )
    seconds = time.monotonic() - started
    if log:
        print(f"image {tag} built in {seconds:.0f} s, {image_size(tag) / 1e6:.0f} MB", file=sys.stderr)
    return seconds


if __name__ == "__main__":
    build_image(sys.argv[1] if len(sys.argv) > 1 else IMAGE, log=True)
