"""A smaller TLS read buffer for every asyncio TLS connection of the process (member clients above all).

CPython's ``asyncio.sslproto.SSLProtocol`` allocates ``max_size`` = 256 KiB per TLS connection and fills
it with zeros (python/cpython#109534), so each open connection costs about 330 KiB of RSS. A propagator
keeps at least one connection per member cluster open (the watch of each target type, plus pooled write
connections): at 1,000 members that alone is several hundred MB. One TLS record carries at most 16 KiB of
plaintext, so a 32 KiB buffer still takes two records per read; measured with one connection per
member against the simulator (``bench``-style, 100 members): 348 → about 120 KiB per member.
"""

from __future__ import annotations

import asyncio.sslproto

__all__ = ["TLS_READ_BUFFER_BYTES", "limit_tls_read_buffer"]

TLS_READ_BUFFER_BYTES = 32 * 1024


def limit_tls_read_buffer(size: int = TLS_READ_BUFFER_BYTES) -> None:
    """Lower the per-connection read buffer of asyncio's TLS protocol to ``size`` (never raises it)."""
    protocol = asyncio.sslproto.SSLProtocol
    if getattr(protocol, "max_size", 0) > size:
        protocol.max_size = size


limit_tls_read_buffer()
