"""Each ``kubefed`` service sub-command, as a real process: starts, connects to NATS and the host
cluster (with the KubeFed CRDs installed), reports ready on ``/readyz``, serves ``/metrics`` and exits 0
on SIGTERM; without the CRDs a service says on ``/readyz`` what it is waiting for.

Also covers ``kubefed --help`` listing the service sub-commands.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from kubefed.ports import free_port
from sim import run_fleet

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]  # the services as processes

KUBEFED = str(Path(sys.executable).parent / "kubefed")
KUBECTL = str(Path(sys.executable).parent / "kubectl")
ROOT = Path(__file__).resolve().parents[2]


async def _install_kubefed_api(kubeconfig: Path, tmp: Path) -> None:
    for path in (ROOT / "deploy" / "crds", ROOT / "deploy" / "config"):
        proc = await asyncio.create_subprocess_exec(
            KUBECTL,
            "--kubeconfig",
            str(kubeconfig),
            "--context",
            "host",
            "--cache-dir",
            str(tmp / "kc"),
            "apply",
            "--server-side",
            "-f",
            str(path),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        await asyncio.sleep(0.3)  # CRDs become Established asynchronously


def test_help_lists_services() -> None:
    out = subprocess.run([KUBEFED, "--help"], capture_output=True, text=True, check=True).stdout
    for name in ("watcher", "scheduler", "propagator", "dns", "sim"):
        assert name in out


@pytest.mark.parametrize("service", ["watcher", "scheduler", "propagator", "dns"])
async def test_service_starts_reports_ready_and_stops_on_sigterm(
    service: str, nats_server, tmp_path: Path
) -> None:
    async with run_fleet(["host", "c1"], tls=True, kubeconfig_path=tmp_path / "kubeconfig") as fleet:
        await _install_kubefed_api(fleet.kubeconfig_path, tmp_path)
        port = free_port()
        proc = await asyncio.create_subprocess_exec(
            KUBEFED,
            service,
            "--nats",
            nats_server.url,
            "--kubeconfig",
            str(fleet.kubeconfig_path),
            "--context",
            "host",
            "--http-port",
            str(port),
            "--grace-period",
            "5",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
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
    async with run_fleet(["host", "c1"], tls=True, kubeconfig_path=tmp_path / "kubeconfig") as fleet:
        await _install_kubefed_api(fleet.kubeconfig_path, tmp_path)
        proc = await asyncio.create_subprocess_exec(
            KUBEFED,
            "up",
            "--kubeconfig",
            str(fleet.kubeconfig_path),
            "--context",
            "host",
            "--http-port",
            "0",
            "--grace-period",
            "5",
            "--data-dir",
            str(tmp_path / "data"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            announced: dict[str, int] = {}
            lines: list[str] = []
            assert proc.stdout is not None
            while len(announced) < 4:
                line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
                assert line, f"kubefed up exited early: {lines}"
                lines.append(line)
                if " ready, " in line:
                    announced[line.split()[0]] = int(line.rsplit(" ", 1)[1])
            assert set(announced) == {"watcher", "scheduler", "propagator", "dns"}
            assert any("embedded nats-server" in x for x in lines)
            async with aiohttp.ClientSession() as http:
                for name, port in announced.items():
                    for _ in range(300):  # a watcher starting new watches is briefly not ready again
                        async with http.get(f"http://127.0.0.1:{port}/readyz?verbose") as r:
                            body, status = await r.text(), r.status
                        if status == 200:
                            break
                        await asyncio.sleep(0.1)
                    assert status == 200, f"{name}: {body}"
                    assert "initialized ok" in body and len(body.splitlines()) > 3  # its own checks too
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 30) == 0
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


async def test_scheduler_without_crds_says_what_it_waits_for(nats_server, tmp_path: Path) -> None:
    async with run_fleet(["host"], tls=False, kubeconfig_path=tmp_path / "kubeconfig") as fleet:
        port = free_port()
        proc = await asyncio.create_subprocess_exec(
            KUBEFED,
            "scheduler",
            "--nats",
            nats_server.url,
            "--kubeconfig",
            str(fleet.kubeconfig_path),
            "--context",
            "host",
            "--http-port",
            str(port),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            body = ""
            async with aiohttp.ClientSession() as http:
                for _ in range(200):
                    try:
                        async with http.get(f"http://127.0.0.1:{port}/readyz?verbose") as r:
                            body = await r.text()
                            if "[-]host-state failed" in body:
                                assert r.status == 503
                                break
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.1)
            assert "[-]host-state failed" in body and "[+]nats ok" in body
        finally:
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 20) == 0
