"""Resolving load-balancer host names to addresses: injectable, so tests never touch the network.

KubeFed's DNSEndpoint controller turned load-balancer *host names* (e.g. AWS ELBs) into A-record
targets with a DNS lookup. A :data:`Resolver` is any coroutine function ``host → addresses``; the
default asks the system resolver for IPv4 addresses.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping

__all__ = ["Resolver", "StaticResolver", "system_resolver"]

Resolver = Callable[[str], Awaitable[list[str]]]


async def system_resolver(host: str) -> list[str]:
    """IPv4 addresses of ``host`` from the system resolver (raises ``OSError`` on failure)."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, None, family=socket.AF_INET, type=socket.SOCK_STREAM
    )
    return sorted({str(info[4][0]) for info in infos})


class StaticResolver:
    """A resolver answering from a fixed table (unknown names resolve to nothing)."""

    def __init__(self, table: Mapping[str, Iterable[str]]) -> None:
        self.table = {host: sorted(addrs) for host, addrs in table.items()}
        self.asked: list[str] = []

    async def __call__(self, host: str) -> list[str]:
        self.asked.append(host)
        return list(self.table.get(host, []))
