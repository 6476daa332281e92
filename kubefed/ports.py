"""Loopback ports for the servers the demo, the tests and the benchmarks start (nats-server, etcd,
kube-apiserver, the simulator).

A port the kernel hands out for ``bind(0)`` comes from the ephemeral range, the same range it hands out to
outgoing connections: between closing the probe socket and the server binding the port, any client on the
machine may take it as its local port, and the server then exits with "address already in use" (seen in a
differential run: nats-server on 127.0.0.1:49261). The ports here come from below the ephemeral range, which
no outgoing connection uses, and a process never hands out the same port twice.
"""

from __future__ import annotations

import random
import socket
import threading
from pathlib import Path

_LOW = 20000  # above the well-known and the usual registered service ports
_handed_out: set[int] = set()
_lock = threading.Lock()


def ephemeral_range(path: Path = Path("/proc/sys/net/ipv4/ip_local_port_range")) -> tuple[int, int]:
    """The kernel's range for outgoing connections' local ports (Linux's default when unknown)."""
    try:
        low, high = (int(x) for x in path.read_text().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A loopback TCP port outside the ephemeral range that nobody listens on now and that this process
    has not handed out before."""
    low, _ = ephemeral_range()
    high = low - 1
    start = _LOW if high - _LOW > 1000 else 1024
    with _lock:
        for _ in range(200):
            port = random.randint(start, high)
            if port not in _handed_out and _bindable(port):
                _handed_out.add(port)
                return port
    # a machine whose ephemeral range leaves nothing below it: the kernel's choice
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
