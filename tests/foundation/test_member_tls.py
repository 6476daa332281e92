"""Member clients over TLS: ``disabledTLSValidations: ["*"]`` members share one SSLContext (issue #18)."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest

from shared.errors import ApiUnavailableError
from shared.k8s import NAMESPACES, client_for_member
from sim import run_fleet

pytestmark = pytest.mark.timeout(30)


def _kfc(name: str, url: str, **spec: object) -> dict[str, object]:
    return {"metadata": {"name": name}, "spec": {"apiEndpoint": url, "secretRef": {"name": "t"}, **spec}}


def _secret(token: str) -> dict[str, object]:
    return {"data": {"token": base64.b64encode(token.encode()).decode()}}


async def test_unverified_members_share_one_tls_context_and_still_work(tmp_path: Path) -> None:
    async with run_fleet(["c1", "c2"], tls=True, kubeconfig_path=tmp_path / "kc", pod_ready_delay=0.02) as f:
        clients = [
            client_for_member(_kfc(n, f[n].url, disabledTLSValidations=["*"]), _secret(f[n].admin_token))
            for n in ("c1", "c2")
        ]
        try:
            for c in clients:
                items, _ = await c.list(NAMESPACES)
                assert {"default", "kube-system"} <= {o["metadata"]["name"] for o in items}
            sessions = [c._session for c in clients]
            assert all(s is not None for s in sessions)
            contexts = {id(s.connector._ssl) for s in sessions if s is not None and s.connector}  # type: ignore[attr-defined]
            assert len(contexts) == 1
        finally:
            for c in clients:
                await c.close()


async def test_verified_member_rejects_a_server_outside_its_ca(tmp_path: Path) -> None:
    async with run_fleet(["c1"], tls=True, kubeconfig_path=tmp_path / "kc", pod_ready_delay=0.02) as f:
        other_ca = base64.b64encode(await _other_ca(tmp_path)).decode()
        client = client_for_member(_kfc("c1", f["c1"].url, caBundle=other_ca), _secret(f["c1"].admin_token))
        try:
            with pytest.raises(ApiUnavailableError):
                await client.list(NAMESPACES)
        finally:
            await client.close()


async def _other_ca(tmp_path: Path) -> bytes:
    async with run_fleet(["x"], tls=True, kubeconfig_path=tmp_path / "kc2") as other:
        assert other.tls is not None
        return other.tls.ca_pem


async def test_a_response_body_that_stalls_is_an_unavailable_member_not_a_raw_timeout() -> None:
    """Headers arrive, the body does not: the caller gets ``ApiUnavailableError`` (retried as any
    unreachable member), not ``TimeoutError``. A raw TimeoutError from a slow host's 5,000-cluster list
    once escaped the propagator's refresh loop and ended the service."""
    from aiohttp import web

    body_started, release = asyncio.Event(), asyncio.Event()

    async def stalls(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = 1000
        await response.prepare(request)
        await response.write(b'{"kind": "NamespaceList", ')
        body_started.set()
        await release.wait()
        return response

    app = web.Application()
    app.router.add_get("/api/v1/namespaces", stalls)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    client = client_for_member(_kfc("slow", f"http://127.0.0.1:{port}"), _secret("t"), timeout=0.5)
    try:
        with pytest.raises(ApiUnavailableError, match="reading the response"):
            await client.list(NAMESPACES)
        assert body_started.is_set()
    finally:
        release.set()
        await client.close()
        await runner.cleanup()
