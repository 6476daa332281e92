"""The standalone simulator: ``python -m sim`` writes the kubeconfig, serves until SIGTERM, exits 0.

Covers: --clusters and --count/--prefix, --no-tls (anonymous kubectl access over plain HTTP),
the ready output, clean shutdown on SIGTERM and SIGINT, and the click command's options.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from sim.cli import sim_command
from sim.testing import Kubectl

pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parents[2]


async def _start(*args: str) -> tuple[asyncio.subprocess.Process, list[str]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sim",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    lines: list[str] = []
    assert proc.stdout is not None
    while True:
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().strip()
        assert line, "simulator exited before it was ready"
        lines.append(line)
        if line == "ready":
            return proc, lines


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_cli_serves_until_signal(tmp_path: Path, sig: signal.Signals) -> None:
    kc = tmp_path / "kc"
    proc, lines = await _start(
        "--clusters", "host,m1", "--kubeconfig", str(kc), "--no-tls", "--pod-ready-delay", "0.01"
    )
    try:
        assert lines[0] == f"kubeconfig: {kc}"
        assert any(line.startswith("cluster m1 http://127.0.0.1:") for line in lines)
        cfg = yaml.safe_load(kc.read_text())
        assert [c["name"] for c in cfg["contexts"]] == ["host", "m1"]
        res = await Kubectl(kc, tmp_path / "cache", context="m1").run("get", "nodes", "-o", "name")
        assert res.stdout.startswith("node/m1-node-0")
    finally:
        proc.send_signal(sig)
        assert await asyncio.wait_for(proc.wait(), 20) == 0


async def test_cli_count_with_tls(tmp_path: Path) -> None:
    kc = tmp_path / "kc"
    proc, lines = await _start("--count", "3", "--prefix", "member", "--kubeconfig", str(kc))
    try:
        assert sum(1 for line in lines if line.startswith("cluster member")) == 3
        assert any(line.startswith("cluster member3 https://") for line in lines)
        out = await Kubectl(kc, tmp_path / "cache", context="member2").run("get", "ns", "-o", "name")
        assert "namespace/kube-system" in out.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0


def test_cli_usage_errors() -> None:
    runner = CliRunner()
    res = runner.invoke(sim_command, ["--clusters", "a", "--count", "2", "--kubeconfig", "x"])
    assert res.exit_code != 0 and "either --clusters or --count" in res.output
    res = runner.invoke(sim_command, ["--help"])
    assert "--kubeconfig" in res.output and "--admin-port" in res.output
