"""One upstream program as a child process: log file, death with its parent, clear errors.

A program that exits, or does not become ready in time, raises :class:`ProgramFailed` naming the
program and quoting its last log lines; that is the one error a user of ``kubefed sim --real`` sees.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path


class ProgramFailed(RuntimeError):
    pass


def _die_with_parent() -> None:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.strip().splitlines()[-lines:]) or "(empty log)"


class Program:
    """A started (or startable) upstream program; ``label`` names it in errors (``kube-apiserver[m1]``)."""

    def __init__(
        self, label: str, argv: Sequence[str], log: Path, env: Mapping[str, str] | None = None
    ) -> None:
        self.label = label
        self.argv = list(argv)
        self.log = log
        self.env = {**os.environ, **env} if env else None
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Program:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = self.log.open("ab")
        try:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        except OSError as exc:
            raise ProgramFailed(f"{self.label}: cannot start {self.argv[0]}: {exc}") from exc
        finally:
            out.close()
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise ProgramFailed(
                f"{self.label} exited with code {self.proc.returncode}; last log lines "
                f"({self.log}):\n{tail(self.log)}"
            )

    def wait_ready(self, probe: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if probe():
                return
            time.sleep(0.1)
        raise ProgramFailed(
            f"{self.label} not ready after {timeout:.0f} s; last log lines ({self.log}):\n{tail(self.log)}"
        )

    def stop(self, grace: float = 10.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
