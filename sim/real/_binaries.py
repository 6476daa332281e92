"""Pinned upstream programs (kube-apiserver, etcd, KWOK, ...) built from Go modules into a cache.

Each family is one small consumer module under ``hack/realk8s/<family>/`` (go.mod, go.sum and a
``tools.go`` that blank-imports the main packages). Binaries land in
``$KUBEFED_NG_CACHE`` (default ``${XDG_CACHE_HOME:-~/.cache}/kubefed-ng``) under
``bin/<family>-<version>/<program>``, outside the checkout, so fresh clones and CI reuse them. Go is
used only here, to build these programs; nothing of ours is Go.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

KUBERNETES_VERSION = "v1.37.2"


@dataclass(frozen=True)
class Program:
    name: str  # binary name
    family: str  # consumer module folder under hack/realk8s
    version: str  # cache key and the pinned version of the family's module
    package: str  # Go main package
    ldflags: tuple[str, ...] = ()
    test_binary: bool = False  # built with `go test -c`
    # data files the program needs at run time, copied from the module (never into the repo) to
    # bin/<family>-<version>/<folder>/: (module path, folder in the module, target folder)
    assets: tuple[tuple[str, str, str], ...] = ()

    @property
    def key(self) -> str:
        return f"{self.family}-{self.version}"


def _k8s_ldflags(version: str) -> tuple[str, ...]:
    major, minor, _ = version.lstrip("v").split(".")
    pkg = "k8s.io/component-base/version"
    return (
        "-s",
        "-w",
        f"-X {pkg}.gitVersion={version}",
        f"-X {pkg}.gitMajor={major}",
        f"-X {pkg}.gitMinor={minor}",
        f"-X {pkg}.gitTreeState=clean",
    )


PROGRAMS: dict[str, Program] = {
    p.name: p
    for p in (
        Program(
            "kube-apiserver",
            "kubernetes",
            KUBERNETES_VERSION,
            "k8s.io/kubernetes/cmd/kube-apiserver",
            _k8s_ldflags(KUBERNETES_VERSION),
        ),
        Program(
            "kube-controller-manager",
            "kubernetes",
            KUBERNETES_VERSION,
            "k8s.io/kubernetes/cmd/kube-controller-manager",
            _k8s_ldflags(KUBERNETES_VERSION),
        ),
        Program(
            "kube-scheduler",
            "kubernetes",
            KUBERNETES_VERSION,
            "k8s.io/kubernetes/cmd/kube-scheduler",
            _k8s_ldflags(KUBERNETES_VERSION),
        ),
        Program("etcd", "etcd", "v3.6.16", "go.etcd.io/etcd/server/v3", ("-s", "-w")),
        Program(
            "kwok",
            "kwok",
            "v0.8.0",
            "sigs.k8s.io/kwok/cmd/kwok",
            ("-s", "-w"),
            assets=(
                # the stages kwokctl uses by default: nodes become Ready and keep a lease, pods run and finish
                ("sigs.k8s.io/kwok", "kustomize/stage/node/fast", "stages"),
                ("sigs.k8s.io/kwok", "kustomize/stage/node/heartbeat-with-lease", "stages"),
                ("sigs.k8s.io/kwok", "kustomize/stage/pod/fast", "stages"),
            ),
        ),
        # KubeFed itself, the oracle (its leader-election e2e spec runs `controller-manager` from PATH)
        Program(
            "controller-manager",
            "kubefed",
            "v0.10.0",
            "sigs.k8s.io/kubefed/cmd/controller-manager",
            ("-s", "-w"),
            assets=(  # KubeFed's own CRDs, default FederatedTypeConfigs and complete KubeFedConfig
                ("sigs.k8s.io/kubefed", "charts/kubefed/charts/controllermanager/crds", "crds-core"),
                ("sigs.k8s.io/kubefed", "charts/kubefed/crds", "crds-types"),
                ("sigs.k8s.io/kubefed", "charts/kubefed/templates", "type-configs"),
                ("sigs.k8s.io/kubefed", "config", "config"),
            ),
        ),
        Program("webhook", "kubefed", "v0.10.0", "sigs.k8s.io/kubefed/cmd/webhook", ("-s", "-w")),
        Program("kubefedctl", "kubefed", "v0.10.0", "sigs.k8s.io/kubefed/cmd/kubefedctl", ("-s", "-w")),
        Program(
            "e2e.test", "kubefed", "v0.10.0", "sigs.k8s.io/kubefed/test/e2e", ("-s", "-w"), test_binary=True
        ),
        Program("coredns", "coredns", "v1.15.0", "github.com/coredns/coredns", ("-s", "-w")),
        Program(
            "external-dns",
            "externaldns",
            "v0.22.0",
            "sigs.k8s.io/external-dns",
            ("-s", "-w"),
            assets=(
                # its own DNSEndpoint CRD: the CRD source resolves it even when reading another group's
                # DNSEndpoints
                ("sigs.k8s.io/external-dns", "config/crd/standard", "crds"),
            ),
        ),
        Program("helm", "helm", "v3.22.0", "helm.sh/helm/v3/cmd/helm", ("-s", "-w")),
        # Jaeger v2 (module tag v1.76.0): in-memory storage, OTLP receivers, query API (tests/observability)
        Program("jaeger", "jaeger", "v1.76.0", "github.com/jaegertracing/jaeger/cmd/jaeger", ("-s", "-w")),
    )
}

KUBEFED_PROGRAMS = ("controller-manager", "webhook", "kubefedctl", "e2e.test")

# What a real fleet needs (kubefed sim --real).
FLEET_PROGRAMS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


class MissingProgram(RuntimeError):
    """A pinned program is neither built nor buildable here."""


def cache_dir() -> Path:
    explicit = os.environ.get("KUBEFED_NG_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kubefed-ng"


def binary_path(name: str) -> Path:
    program = PROGRAMS[name]
    return cache_dir() / "bin" / program.key / program.name


def locate(name: str) -> Path:
    """The cached binary of ``name``, or a :class:`MissingProgram` that says how to build it."""
    path = binary_path(name)
    if not is_built(name):
        raise MissingProgram(
            f"{name} {PROGRAMS[name].version} is not built ({path} missing): run `make real-k8s`"
        )
    return path


def asset_dir(name: str, folder: str) -> Path:
    return binary_path(name).parent / folder


def _assets_present(program: Program) -> bool:
    return all(
        any(asset_dir(program.name, target).glob("*.yaml"))
        if asset_dir(program.name, target).is_dir()
        else False
        for _, _, target in program.assets
    )


def is_built(name: str) -> bool:
    return os.access(binary_path(name), os.X_OK) and _assets_present(PROGRAMS[name])


def all_built(names: Iterable[str] = FLEET_PROGRAMS) -> bool:
    return all(is_built(n) for n in names)


def go_available() -> bool:
    return shutil.which("go") is not None


def modules_root() -> Path:
    """hack/realk8s of the checkout this package was imported from."""
    root = Path(__file__).resolve().parents[2] / "hack" / "realk8s"
    if not root.is_dir():
        raise MissingProgram(
            f"{root} not found: building the pinned programs needs a checkout of the project"
        )
    return root


@dataclass
class BuildReport:
    built: dict[str, float] = field(default_factory=dict)  # program -> seconds
    cached: list[str] = field(default_factory=list)


def build(names: Iterable[str], *, log: Callable[[str], None] = print, force: bool = False) -> BuildReport:
    """Build every named program that is not cached yet (idempotent), one line of progress each."""
    if not go_available():
        raise MissingProgram("go is not on PATH: the pinned programs are built with the Go toolchain")
    report = BuildReport()
    wanted = list(dict.fromkeys(names))
    for index, name in enumerate(wanted, 1):
        program = PROGRAMS[name]
        out = binary_path(name)
        if is_built(name) and not force:
            log(f"[{index}/{len(wanted)}] {name} {program.version}: cached at {out}")
            report.cached.append(name)
            continue
        log(f"[{index}/{len(wanted)}] {name} {program.version}: building (a cold build takes minutes) ...")
        started = time.monotonic()
        if force or not os.access(out, os.X_OK):
            _go_build(program, out)
        _copy_assets(program)
        seconds = time.monotonic() - started
        report.built[name] = seconds
        log(f"[{index}/{len(wanted)}] {name} {program.version}: built in {seconds:.0f} s -> {out}")
    return report


def _go_build(program: Program, out: Path) -> None:
    module = modules_root() / program.family
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    env = {**os.environ, "GOTOOLCHAIN": "local", "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod -buildvcs=false"}
    verb = ["test", "-c"] if program.test_binary else ["build"]
    cmd = ["go", *verb, "-trimpath", "-ldflags", " ".join(program.ldflags), "-o", str(tmp), program.package]
    proc = subprocess.run(cmd, cwd=module, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-20:])
        raise MissingProgram(f"building {program.name} {program.version} failed:\n{tail}")
    tmp.chmod(0o755)
    tmp.replace(out)


def _copy_assets(program: Program) -> None:
    if not program.assets:
        return
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"}
    for module, folder, target in program.assets:
        proc = subprocess.run(
            ["go", "list", "-m", "-f", "{{.Dir}}", module],
            cwd=modules_root() / program.family,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        source = Path(proc.stdout.strip()) / folder
        dest = asset_dir(program.name, target)
        dest.mkdir(parents=True, exist_ok=True)
        for f in sorted(source.glob("*.yaml")):
            if f.name != "kustomization.yaml":
                shutil.copyfile(f, dest / f.name)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    force = "--force" in args
    names = [a for a in args if not a.startswith("--")] or list(PROGRAMS)  # default: every pinned program
    unknown = [n for n in names if n not in PROGRAMS]
    if unknown:
        print(f"unknown program(s) {', '.join(unknown)}; known: {', '.join(PROGRAMS)}", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        report = build(names, force=force)
    except MissingProgram as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"{len(report.built)} built, {len(report.cached)} cached in {time.monotonic() - started:.0f} s; "
        f"cache {cache_dir() / 'bin'}"
    )
    return 0
