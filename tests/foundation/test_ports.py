"""Loopback ports for started servers come from below the ephemeral range (outgoing connections never take
them between the probe and the server's bind) and are never handed out twice by one process."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from kubefed.ports import ephemeral_range, free_port


def test_ports_are_below_the_ephemeral_range_distinct_and_bindable() -> None:
    low, _ = ephemeral_range()
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    assert all(1024 <= p < low for p in ports), [p for p in ports if p >= low][:5]
    with socket.socket() as s:
        s.bind(("127.0.0.1", ports[-1]))  # nobody took it


def test_a_port_someone_listens_on_is_not_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    import kubefed.ports as ports

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        taken = busy.getsockname()[1]
        busy.listen()
        picks = iter([taken, taken, 20001 if taken != 20001 else 20002])
        monkeypatch.setattr("kubefed.ports.random.randint", lambda a, b: next(picks))
        monkeypatch.setattr(ports, "_handed_out", set())
        monkeypatch.setattr(ports, "ephemeral_range", lambda: (32768, 60999))
        assert ports.free_port() != taken


def test_the_kernel_range_is_read_and_defaults_when_unreadable(tmp_path: Path) -> None:
    f = tmp_path / "range"
    f.write_text("40000\t50000\n")
    assert ephemeral_range(f) == (40000, 50000)
    assert ephemeral_range(tmp_path / "missing") == (32768, 60999)
