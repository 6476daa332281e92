"""Test helpers: a simulated fleet served from a background thread, and runners for kubefedctl and kubectl.

kubefedctl runs ``asyncio.run`` per command, so the simulator cannot share the test's event loop; it
runs in its own thread and loop, and tests call the CLI in-process through click's ``CliRunner``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from kubefedctl.cli import cli

KUBECTL = str(Path(sys.executable).parent / "kubectl")


class FleetThread:
    """``sim.run_fleet`` in a daemon thread; ``call`` runs a coroutine function on the fleet's loop."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.fleet: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="sim-fleet", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # surfaced by start()
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        run_fleet = _import_run_fleet()

        _allow_rbac_path_segment_names()

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with run_fleet(self.names, tls=True) as fleet:
            self.fleet = fleet
            self._ready.set()
            await self._stop.wait()

    def start(self) -> FleetThread:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def call(self, fn: Callable[[], Awaitable[Any]], timeout: float = 30) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(_wrap(fn), self._loop).result(timeout)

    @property
    def kubeconfig(self) -> str:
        return str(self.fleet.kubeconfig_path)

    def get(
        self, cluster: str, group: str, plural: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        return self.fleet[cluster].get_object(group, plural, namespace, name)

    def list(
        self, cluster: str, group: str, plural: str, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        return self.fleet[cluster].list_objects(group, plural, namespace)


def _import_run_fleet() -> Any:
    """``sim.run_fleet``, even when the editable install still maps ``sim`` as a namespace package.

    The editable finder was generated before ``sim/__init__.py`` existed, so ``import sim`` yields an
    empty namespace package; putting the repository first on ``sys.path`` finds the real package.
    """
    root = str(Path(__file__).resolve().parents[2])
    sim = sys.modules.get("sim")
    if sim is not None and getattr(sim, "__file__", None) is None:
        for name in [m for m in sys.modules if m == "sim" or m.startswith("sim.")]:
            del sys.modules[name]
    if root not in sys.path:
        sys.path.insert(0, root)
    import sim

    return sim.run_fleet


def _allow_rbac_path_segment_names() -> None:
    """Simulator workaround (tests only): RBAC objects accept any path-segment name, including ':'.

    The real API server validates Role/ClusterRole/binding names with ``ValidatePathSegmentName``
    (``kubefed-controller-manager:<sa>`` is KubeFed's own name); the simulator applies DNS-1123 to
    every kind. Until it is fixed there, RBAC names skip its check in our tests.
    """
    import sim._store as store

    original = store.validate_name
    if getattr(original, "_rbac_exempt", False):
        return

    def validate_name(rt: Any, name: str) -> None:
        if rt.group == "rbac.authorization.k8s.io" and name and "/" not in name and name not in (".", ".."):
            return
        original(rt, name)

    validate_name._rbac_exempt = True  # type: ignore[attr-defined]
    store.validate_name = validate_name


async def _wrap(fn: Callable[[], Awaitable[Any]]) -> Any:
    return await fn()


def kubefedctl(kubeconfig: str, *args: str, input: str | None = None) -> Result:
    """Run kubefedctl in-process; stdout and stderr are kept apart."""
    runner = CliRunner()
    return runner.invoke(cli, [*args, "--kubeconfig", kubeconfig], input=input, catch_exceptions=False)


class Kubectl:
    """The real kubectl against the fleet, with a private discovery cache."""

    def __init__(self, kubeconfig: str) -> None:
        self.kubeconfig = kubeconfig
        self.cache = tempfile.mkdtemp(prefix="kubectl-cache-")

    def __call__(
        self, *args: str, context: str = "host", check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        argv = [
            KUBECTL,
            "--kubeconfig",
            self.kubeconfig,
            "--cache-dir",
            self.cache,
            "--context",
            context,
            *args,
        ]
        env = {
            k: v
            for k, v in os.environ.items()
            if k.upper() not in ("KUBECONFIG", "HTTPS_PROXY", "HTTP_PROXY")
        }
        env["NO_PROXY"] = "127.0.0.1,localhost"
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr}")
        return proc
