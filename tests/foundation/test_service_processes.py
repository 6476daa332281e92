"""Each ``kubefed`` service sub-command, as a real process: starts, connects to NATS and the host
cluster, reports ready on ``/readyz``, serves ``/metrics`` and exits 0 on SIGTERM.

Also covers ``kubefed --help`` listing the service sub-commands.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from sim import run_fleet

pytestmark = pytest.mark.timeout(90)

KUBEFED = str(Path(sys.executable).parent / "kubefed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_help_lists_services() -> None:
    out = subprocess.run([KUBEFED, "--help"], capture_output=True, text=True, check=True).stdout
    for name in ("watcher", "scheduler", "propagator", "dns", "sim"):
        assert name in out


@pytest.mark.parametrize("service", ["watcher", "scheduler", "propagator", "dns"])
async def test_service_starts_reports_ready_and_stops_on_sigterm(service: str, nats_server, tmp_path: Path) -> None:
    async with run_fleet(["host", "c1"], tls=False, kubeconfig_path=tmp_path / "kubeconfig") as fleet:
        port = _free_port()
        proc = await asyncio.create_subprocess_exec(
            KUBEFED, service, "--nats", nats_server.url, "--kubeconfig", str(fleet.kubeconfig_path),
            "--context", "host", "--http-port", str(port), "--grace-period", "5",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        try:
            ready = False
            async with aiohttp.ClientSession() as http:
                for _ in range(300):
                    try:
                        async with http.get(f"http://127.0.0.1:{port}/readyz") as r:
                            if r.status == 200:
                                ready = True
                                break
                    except aiohttp.ClientError:
                        pass
                    if proc.returncode is not None:
                        break
                    await asyncio.sleep(0.1)
                assert ready, f"{service} never became ready"
                async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                    assert r.status == 200 and await r.text() == "ok"
                async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
                    body = await r.text()
                    assert "controller_runtime_reconcile_total" in body
            proc.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(proc.wait(), 20)
            stderr = (await proc.stderr.read()).decode()  # type: ignore[union-attr]
            assert code == 0, stderr[-2000:]
            assert "Stopped service" in stderr
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


async def test_up_runs_every_service_with_embedded_nats(tmp_path: Path) -> None:
    async with run_fleet(["host", "c1"], tls=False, kubeconfig_path=tmp_path / "kubeconfig") as fleet:
        base = _free_port()
        while any(_port_busy(base + i) for i in range(4)):
            base = _free_port()
        proc = await asyncio.create_subprocess_exec(
            KUBEFED, "up", "--kubeconfig", str(fleet.kubeconfig_path), "--context", "host",
            "--http-port", str(base), "--grace-period", "5", "--data-dir", str(tmp_path / "data"),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with aiohttp.ClientSession() as http:
                ready: set[int] = set()
                for _ in range(600):
                    for i in range(4):
                        try:
                            async with http.get(f"http://127.0.0.1:{base + i}/readyz") as r:
                                if r.status == 200:
                                    ready.add(i)
                        except aiohttp.ClientError:
                            pass
                    if len(ready) == 4 or proc.returncode is not None:
                        break
                    await asyncio.sleep(0.1)
            assert ready == {0, 1, 2, 3}
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 30) == 0
            out = (await proc.stdout.read()).decode()  # type: ignore[union-attr]
            assert "embedded nats-server" in out
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


def _port_busy(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
