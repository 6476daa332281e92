"""Fault injection, through the Python API and the admin HTTP endpoint, and the request counter.

Covers: offline (connection refused, open watches end) and back online on the same port with the
state kept; unhealthy /healthz (500, non-ok body); latency; error rate with 429 + Retry-After and
500, optionally per path and per HTTP method; writes counted by (method, status); dropping open
watches; compacting history (next watch from an old RV gets an ERROR 410 event); request counters and
rate; each admin endpoint action.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sim import Fleet, run_fleet

pytestmark = pytest.mark.timeout(30)


def auth(c: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {c.admin_token}"}


async def test_offline_and_back_online(fleet: Fleet) -> None:
    c1 = fleet["c1"]
    port = c1.port
    async with aiohttp.ClientSession() as s:
        async with s.get(c1.url + "/api/v1/namespaces?watch=true", headers=auth(c1)) as watch_resp:
            await watch_resp.content.readline()
            await c1.go_offline()
            rest = await asyncio.wait_for(watch_resp.content.read(), 5)
            assert isinstance(rest, bytes)
        with pytest.raises(aiohttp.ClientConnectorError):
            async with s.get(c1.url + "/healthz"):
                pass
        assert not c1.online
        await c1.go_online()
        assert c1.port == port
        async with s.get(c1.url + "/api/v1/namespaces/default", headers=auth(c1)) as r:
            assert r.status == 200


async def test_unhealthy_latency_and_errors(fleet: Fleet) -> None:
    c2 = fleet["c2"]
    async with aiohttp.ClientSession() as s:
        c2.set_unhealthy(True)
        async with s.get(c2.url + "/healthz") as r:
            assert r.status == 500 and (await r.text()).lower() != "ok"
        c2.set_unhealthy(False)
        async with s.get(c2.url + "/healthz") as r:
            assert await r.text() == "ok"
        c2.set_latency(0.2)
        t0 = time.monotonic()
        async with s.get(c2.url + "/version") as r:
            assert r.status == 200
        assert time.monotonic() - t0 >= 0.2
        c2.set_latency(0)
        c2.set_error_rate(1.0, status=429)
        async with s.get(c2.url + "/api/v1/nodes", headers=auth(c2)) as r:
            assert r.status == 429 and r.headers["Retry-After"] == "1"
            body = await r.json()
            assert body["reason"] == "TooManyRequests" and body["details"]["retryAfterSeconds"] == 1
        async with s.get(c2.url + "/healthz") as r:
            assert r.status == 200
        c2.set_error_rate(1.0, status=500, path_prefix="/apis/apps")
        async with s.get(c2.url + "/api/v1/nodes", headers=auth(c2)) as r:
            assert r.status == 200
        async with s.get(c2.url + "/apis/apps/v1/deployments", headers=auth(c2)) as r:
            assert r.status == 500 and (await r.json())["reason"] == "InternalError"
        # only one HTTP method fails; writes are counted by (method, status), refusals included
        c2.set_error_rate(1.0, status=403, path_prefix="/api/v1/namespaces/default/configmaps", method="POST")
        before = dict(c2.writes_by_outcome)
        cm = {"metadata": {"name": "m"}, "data": {"k": "v"}}
        async with s.get(c2.url + "/api/v1/namespaces/default/configmaps", headers=auth(c2)) as r:
            assert r.status == 200
        async with s.post(c2.url + "/api/v1/namespaces/default/configmaps", json=cm, headers=auth(c2)) as r:
            assert r.status == 403
        c2.set_error_rate(0)
        async with s.post(c2.url + "/api/v1/namespaces/default/configmaps", json=cm, headers=auth(c2)) as r:
            assert r.status == 201
        async with s.post(c2.url + "/api/v1/namespaces/default/configmaps", json=cm, headers=auth(c2)) as r:
            assert r.status == 409
        counted = {k: n - before.get(k, 0) for k, n in c2.writes_by_outcome.items() if n != before.get(k, 0)}
        assert counted == {("POST", 403): 1, ("POST", 201): 1, ("POST", 409): 1}
        c2.set_error_rate(0.5, status=500)
        c2.faults.rng.seed(1)
        codes = []
        for _ in range(40):
            async with s.get(c2.url + "/api/v1/nodes", headers=auth(c2)) as r:
                codes.append(r.status)
        assert 5 < codes.count(500) < 35 and codes.count(200) > 5
        c2.set_error_rate(0)


async def test_drop_watches_and_compaction(fleet: Fleet) -> None:
    host = fleet["host"]
    async with aiohttp.ClientSession() as s:
        async with s.get(host.url + "/api/v1/namespaces", headers=auth(host)) as r:
            rv = (await r.json())["metadata"]["resourceVersion"]
        async with s.get(
            host.url + f"/api/v1/configmaps?watch=1&resourceVersion={rv}", headers=auth(host)
        ) as w:
            await asyncio.sleep(0.05)
            assert host.drop_watches() == 1
            assert await asyncio.wait_for(w.content.read(), 5) == b""
        host.store.create(
            host.store.registry.lookup("", "v1", "configmaps"), "default", {"metadata": {"name": "x"}}
        )
        host.compact_history()
        async with s.get(
            host.url + f"/api/v1/configmaps?watch=true&resourceVersion={rv}", headers=auth(host)
        ) as w:
            assert w.status == 200
            lines = (await w.read()).splitlines()
        event = json.loads(lines[0])
        assert event["type"] == "ERROR" and event["object"]["code"] == 410
        assert event["object"]["reason"] == "Expired"
        async with s.get(
            host.url + f"/api/v1/configmaps?resourceVersion={rv}&resourceVersionMatch=Exact",
            headers=auth(host),
        ) as r:
            assert r.status == 410


async def test_request_counter(fleet: Fleet) -> None:
    c1 = fleet["c1"]
    before = c1.request_count
    async with aiohttp.ClientSession() as s:
        for _ in range(5):
            async with s.get(c1.url + "/healthz"):
                pass
    assert c1.request_count == before + 5
    assert fleet.request_count >= 5
    await asyncio.sleep(1.1)
    assert fleet.stats()["perCluster"]["c1"]["requests"] == c1.request_count


async def test_admin_endpoint(tmp_path: Path) -> None:
    async with run_fleet(["a", "b"], tls=False, kubeconfig_path=tmp_path / "kc", admin_port=0) as fleet:
        admin = fleet.admin_url
        assert admin
        b = fleet["b"]
        async with aiohttp.ClientSession() as s:
            async with s.get(admin + "/clusters") as r:
                assert [c["name"] for c in await r.json()] == ["a", "b"]
            async with s.post(admin + "/clusters/b/offline") as r:
                assert (await r.json())["online"] is False
            with pytest.raises(aiohttp.ClientConnectorError):
                async with s.get(b.url + "/healthz"):
                    pass
            await s.post(admin + "/clusters/b/online")
            await s.post(admin + "/clusters/b/unhealthy?value=true")
            async with s.get(b.url + "/healthz") as r:
                assert r.status == 500
            await s.post(admin + "/clusters/b/unhealthy?value=false")
            await s.post(admin + "/clusters/b/errors?rate=1&status=503")
            async with s.get(b.url + "/api", headers=auth(b)) as r:
                assert r.status == 503 and r.headers["Retry-After"] == "1"
            await s.post(admin + "/clusters/b/reset")
            await s.post(admin + "/clusters/b/latency?seconds=0.01")
            assert b.faults.latency == 0.01
            await s.post(admin + "/clusters/b/capacity?pods=3")
            assert b.settings.capacity == 3
            await s.post(admin + "/clusters/b/node-labels", json={"zone": "z"})
            assert b.list_objects("", "nodes")[0]["metadata"]["labels"]["zone"] == "z"
            async with s.post(admin + "/clusters/b/drop-watches") as r:
                assert (await r.json())["result"] == 0
            await s.post(admin + "/clusters/b/compact")
            assert b.store.compacted_rv == b.store.rv
            async with s.get(admin + "/stats") as r:
                stats = await r.json()
            assert stats["clusters"] == 2 and stats["requests"] >= 2 and "requestsPerSecond" in stats
            async with s.post(admin + "/clusters/zz/offline") as r:
                assert r.status == 404


async def test_watch_ends_when_client_disconnects(fleet: Fleet) -> None:
    c1 = fleet["c1"]
    async with aiohttp.ClientSession() as s:
        resp = await s.get(c1.url + "/api/v1/configmaps?watch=true", headers=auth(c1))
        await asyncio.sleep(0.05)
        assert c1.store.watch_count == 1
        resp.close()
    await c1.wait_for(lambda c: c.store.watch_count == 0, timeout=5)


async def test_reset_restores_a_fresh_cluster(fleet: Fleet) -> None:
    c1 = fleet["c1"]
    cm = c1.store.registry.lookup("", "v1", "configmaps")
    c1.store.create(cm, "default", {"metadata": {"name": "gone"}})
    token, _ = c1.mint_token()
    c1.set_capacity(1)
    c1.set_unhealthy(True)
    rv = c1.store.rv
    await fleet.reset()
    assert c1.get_object("", "configmaps", "default", "gone") is None
    assert not c1.check_token(token) and c1.check_token(c1.admin_token)
    assert c1.settings.capacity == 10 and not c1.faults.unhealthy and c1.store.rv > rv
    assert c1.list_objects("", "nodes") and c1.get_object("", "namespaces", None, "kube-system")
    async with aiohttp.ClientSession() as s, s.get(c1.url + "/api/v1/namespaces", headers=auth(c1)) as r:
        assert r.status == 200
