"""The same API behaviours through kubernetes-asyncio (ApiClient from the generated kubeconfig).

Covers: discovery with trailing slashes, CRUD, 409 Conflict on a stale update, 409 AlreadyExists,
404, strategic/JSON/merge patches (dict and list bodies), CustomObjectsApi (default JSON-patch
content type -> 400, merge patch OK), watch from a resourceVersion, 410 Expired after history
compaction, deletion with propagationPolicy in the query, raw HTTP: 403 for anonymous requests, 401 for bad
tokens,
open health endpoints and /version, Go ParseBool spellings, 405/404 on bad paths, 415 on unknown
content types, per-cluster resourceVersion offsets.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from sim import Fleet

pytestmark = pytest.mark.timeout(30)

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "gadgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Cluster",
        "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                },
            },
            {
                "name": "v1beta1",
                "served": True,
                "storage": False,
                "schema": {
                    "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                },
            },
        ],
    },
}


async def test_discovery_and_crud(api: Any) -> None:
    versions = await client.CoreApi(api).get_api_versions()
    assert versions.versions == ["v1"]
    groups = await client.ApisApi(api).get_api_versions()
    assert "apps" in [g.name for g in groups.groups]
    core = client.CoreV1Api(api)
    created = await core.create_namespaced_config_map(
        "default", {"metadata": {"name": "a"}, "data": {"k": "v"}}
    )
    assert created.metadata.uid and created.metadata.resource_version
    got = await core.read_namespaced_config_map("a", "default")
    got.data["k"] = "w"
    updated = await core.replace_namespaced_config_map("a", "default", got)
    assert updated.data == {"k": "w"}
    got.data["k"] = "stale"
    with pytest.raises(ApiException) as e:
        await core.replace_namespaced_config_map("a", "default", got)
    assert e.value.status == 409 and "the object has been modified" in e.value.body
    with pytest.raises(ApiException) as e:
        await core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    assert e.value.status == 409 and "AlreadyExists" in e.value.body
    with pytest.raises(ApiException) as e:
        await core.read_namespaced_config_map("missing", "default")
    assert e.value.status == 404
    listed = await core.list_config_map_for_all_namespaces()
    # every namespace also holds the root CA ConfigMap kube-controller-manager publishes
    assert [c.metadata.name for c in listed.items if c.metadata.name != "kube-root-ca.crt"] == ["a"]
    await core.delete_namespaced_config_map("a", "default")
    with pytest.raises(ApiException):
        await core.read_namespaced_config_map("a", "default")


async def test_patches(api: Any) -> None:
    apps = client.AppsV1Api(api)
    body = {
        "metadata": {"name": "d"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "d"}},
            "template": {
                "metadata": {"labels": {"app": "d"}},
                "spec": {"containers": [{"name": "a", "image": "x", "env": [{"name": "A", "value": "1"}]}]},
            },
        },
    }
    await apps.create_namespaced_deployment("default", body)
    patched = await apps.patch_namespaced_deployment(
        "d",
        "default",
        {
            "spec": {
                "template": {"spec": {"containers": [{"name": "a", "env": [{"name": "B", "value": "2"}]}]}}
            }
        },
    )
    # apimachinery puts the patch's new items first (mergeSortedSlice), as a real API server does
    assert [e.name for e in patched.spec.template.spec.containers[0].env] == ["B", "A"]
    assert patched.metadata.generation == 2
    patched = await apps.patch_namespaced_deployment(
        "d", "default", [{"op": "replace", "path": "/spec/replicas", "value": 2}]
    )
    assert patched.spec.replicas == 2
    patched = await apps.patch_namespaced_deployment(
        "d", "default", {"metadata": {"labels": {"x": "y"}}}, _content_type="application/merge-patch+json"
    )
    assert patched.metadata.labels == {"x": "y"} and patched.metadata.generation == 3
    core = client.CoreV1Api(api)
    cm = await core.create_namespaced_config_map(
        "default", {"metadata": {"name": "noop", "labels": {"x": "y"}}}
    )
    same = await core.patch_namespaced_config_map("noop", "default", {"metadata": {"labels": {"x": "y"}}})
    assert same.metadata.resource_version == cm.metadata.resource_version  # no-op: no new RV


async def test_custom_objects(api: Any, fleet: Fleet) -> None:
    ext = client.ApiextensionsV1Api(api)
    await ext.create_custom_resource_definition(CRD)
    c1 = fleet["c1"]

    def established(c: Any) -> bool:
        crd = c.get_object("apiextensions.k8s.io", "customresourcedefinitions", None, "gadgets.example.com")
        return any(
            x["type"] == "Established" and x["status"] == "True"
            for x in (crd.get("status") or {}).get("conditions") or ()
        )

    await c1.wait_for(established)
    co = client.CustomObjectsApi(api)
    obj = await co.create_cluster_custom_object(
        "example.com",
        "v1",
        "gadgets",
        {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}, "spec": {"n": 1}},
    )
    assert obj["metadata"]["generation"] == 1
    with pytest.raises(ApiException) as e:
        await co.patch_cluster_custom_object("example.com", "v1", "gadgets", "g", {"spec": {"n": 2}})
    assert e.value.status == 400 and "[]handlers.jsonPatchOp" in e.value.body
    obj = await co.patch_cluster_custom_object(
        "example.com", "v1", "gadgets", "g", {"spec": {"n": 2}}, _content_type="application/merge-patch+json"
    )
    assert obj["spec"]["n"] == 2 and obj["metadata"]["generation"] == 2
    beta = await co.get_cluster_custom_object("example.com", "v1beta1", "gadgets", "g")
    assert beta["apiVersion"] == "example.com/v1beta1" and beta["spec"]["n"] == 2
    await ext.delete_custom_resource_definition("gadgets.example.com")
    await c1.wait_for(lambda c: c.store.registry.lookup("example.com", "v1", "gadgets") is None)
    with pytest.raises(ApiException) as e:
        await co.get_cluster_custom_object("example.com", "v1", "gadgets", "g")
    assert e.value.status == 404


async def test_watch_from_resource_version_and_410(api: Any, fleet: Fleet) -> None:
    core = client.CoreV1Api(api)
    lst = await core.list_namespaced_config_map("default")
    rv = lst.metadata.resource_version
    for i in range(3):
        await core.create_namespaced_config_map("default", {"metadata": {"name": f"w{i}"}})
    await core.delete_namespaced_config_map("w0", "default")
    seen = []
    w = watch.Watch()
    async for ev in w.stream(
        core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=1
    ):
        seen.append((ev["type"], ev["object"].metadata.name))
        if len(seen) == 4:
            w.stop()
    assert seen == [("ADDED", "w0"), ("ADDED", "w1"), ("ADDED", "w2"), ("DELETED", "w0")]
    fleet["c1"].compact_history()
    with pytest.raises(ApiException) as e:
        async for _ in watch.Watch().stream(
            core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=1
        ):
            pass
    assert e.value.status == 410


async def test_delete_propagation_in_query(api: Any, fleet: Fleet) -> None:
    core = client.CoreV1Api(api)
    owner = await core.create_namespaced_config_map("default", {"metadata": {"name": "owner"}})
    await core.create_namespaced_config_map(
        "default",
        {
            "metadata": {
                "name": "dep",
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "name": "owner",
                        "uid": owner.metadata.uid,
                        "blockOwnerDeletion": True,
                    }
                ],
            }
        },
    )
    await core.delete_namespaced_config_map("owner", "default", propagation_policy="Foreground")
    c1 = fleet["c1"]
    await c1.wait_for(lambda c: c.get_object("", "configmaps", "default", "owner") is None)
    assert c1.get_object("", "configmaps", "default", "dep") is None


async def test_raw_http_semantics(fleet: Fleet) -> None:
    c1 = fleet["c1"]
    auth = {"Authorization": f"Bearer {c1.admin_token}"}
    async with aiohttp.ClientSession() as s:
        async with s.get(c1.url + "/api/v1/namespaces") as r:  # anonymous: authenticated, then not authorized
            assert r.status == 403 and (await r.json())["message"] == (
                'namespaces is forbidden: User "system:anonymous" cannot list resource "namespaces" in API '
                'group "" '
                "at the cluster scope"
            )
        async with s.get(c1.url + "/api/v1/namespaces", headers={"Authorization": "Bearer nope"}) as r:
            assert r.status == 401
        for path in ("/healthz", "/readyz", "/livez"):
            async with s.get(c1.url + path) as r:
                assert r.status == 200 and await r.text() == "ok"
        async with s.get(c1.url + "/version/") as r:
            assert (await r.json())["gitVersion"].startswith("v1.37")
        for spelling in ("True", "1", "t", "TRUE"):
            async with s.get(
                c1.url + f"/api/v1/namespaces?watch={spelling}&timeoutSeconds=0.2", headers=auth
            ) as r:
                lines = [line for line in (await r.text()).splitlines() if line]
                assert len(lines) == 4
        async with s.get(c1.url + "/api/v1/namespaces?watch=yes", headers=auth) as r:
            assert r.status == 400
        async with s.post(c1.url + "/api/v1/configmaps", json={"metadata": {"name": "x"}}, headers=auth) as r:
            assert r.status == 405
        async with s.get(c1.url + "/api/v1/configmaps/x", headers=auth) as r:
            assert r.status == 404
        async with s.get(c1.url + "/apis/nope.example.com/v1", headers=auth) as r:  # Go's NotFound, no Status
            assert r.status == 404 and await r.text() == "404 page not found\n"
        async with s.get(c1.url + "/apis/apps/v1/nothings", headers=auth) as r:
            assert (
                r.status == 404
                and (await r.json())["message"] == "the server could not find the requested resource"
            )
        async with s.post(
            c1.url + "/api/v1/namespaces/default/configmaps",
            data=b"\x00",
            headers={**auth, "Content-Type": "application/vnd.kubernetes.protobuf"},
        ) as r:
            assert r.status == 415
        async with s.patch(
            c1.url + "/api/v1/namespaces/default/configmaps/x",
            data=b"{}",
            headers={**auth, "Content-Type": "text/plain"},
        ) as r:
            assert r.status == 415
        async with s.post(
            c1.url + "/api/v1/namespaces/default/configmaps",
            headers=auth,
            data="metadata: {name: y}\ndata: {a: b}\n",
        ) as r:
            assert r.status == 415
        async with s.post(
            c1.url + "/api/v1/namespaces/default/configmaps",
            headers={**auth, "Content-Type": "application/yaml"},
            data="metadata: {name: yaml}\ndata: {a: b}\n",
        ) as r:
            assert r.status == 201


async def test_resource_versions_differ_per_cluster(fleet: Fleet) -> None:
    rvs = [c.store.rv for c in fleet]
    assert len({rv // 100_000 for rv in rvs}) == 3


async def test_send_initial_events_bookmark(fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    import sim._http

    monkeypatch.setattr(sim._http, "BOOKMARK_INTERVAL", 0.3)  # a minute on a real server
    c1 = fleet["c1"]
    auth = {"Authorization": f"Bearer {c1.admin_token}"}
    url = (
        c1.url + "/api/v1/namespaces?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
        "&allowWatchBookmarks=true&timeoutSeconds=1.5"
    )
    async with aiohttp.ClientSession() as s, s.get(url, headers=auth) as r:
        import json

        events = [json.loads(line) for line in (await r.text()).splitlines() if line]
    # initial state, the initial-events-end bookmark, then the first periodic bookmark (none at the timeout)
    assert [e["type"] for e in events] == ["ADDED"] * 4 + ["BOOKMARK", "BOOKMARK"]
    assert events[-2]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert events[-1]["object"]["metadata"] == {"resourceVersion": str(c1.store.rv)}
    await asyncio.sleep(0)


async def test_delete_collection_and_status_subresource(api: Any, fleet: Fleet) -> None:
    core = client.CoreV1Api(api)
    for i in range(4):
        await core.create_namespaced_config_map(
            "default", {"metadata": {"name": f"d{i}", "labels": {"g": str(i % 2)}}}
        )
    await core.delete_collection_namespaced_config_map("default", label_selector="g=0")
    left = await core.list_namespaced_config_map("default")
    assert [c.metadata.name for c in left.items if c.metadata.name != "kube-root-ca.crt"] == ["d1", "d3"]
    svc = await core.create_namespaced_service(
        "default", {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}}
    )
    assert svc.spec.cluster_ip and svc.spec.type == "ClusterIP"
    probe = {
        "type": "Probed",
        "status": "True",
        "reason": "Test",
        "message": "m",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }
    patched = await core.patch_namespaced_service_status(
        "s", "default", {"status": {"conditions": [probe]}, "spec": {"type": "NodePort"}}
    )
    assert patched.status.conditions[0].type == "Probed" and patched.spec.type == "ClusterIP"
    with pytest.raises(ApiException) as e:  # load-balancer addresses belong to LoadBalancer Services only
        await core.patch_namespaced_service_status(
            "s", "default", {"status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}}
        )
    assert e.value.status == 422 and "status.loadBalancer.ingress" in e.value.body
    replaced = await core.replace_namespaced_service(
        "s",
        "default",
        {
            "metadata": {"name": "s", "resourceVersion": patched.metadata.resource_version},
            "spec": {"ports": [{"port": 81}]},
            "status": {},
        },
    )
    assert replaced.status.conditions[0].type == "Probed"
    assert replaced.spec.cluster_ip == svc.spec.cluster_ip


async def test_watch_selector_transitions_over_http(fleet: Fleet) -> None:
    import json

    c1 = fleet["c1"]
    auth = {"Authorization": f"Bearer {c1.admin_token}"}
    url = c1.url + "/api/v1/namespaces/default/configmaps"
    async with aiohttp.ClientSession() as s:
        async with s.get(url + "?watch=true&labelSelector=team%3Da&timeoutSeconds=1", headers=auth) as w:
            async with s.post(url, json={"metadata": {"name": "t", "labels": {"team": "a"}}}, headers=auth):
                pass
            for team in ("b", "a"):
                async with s.patch(
                    url + "/t",
                    json={"metadata": {"labels": {"team": team}}},
                    headers={**auth, "Content-Type": "application/merge-patch+json"},
                ):
                    pass
            events = [json.loads(line) for line in (await w.read()).splitlines() if line]
    assert [e["type"] for e in events] == ["ADDED", "DELETED", "ADDED"]
    assert c1.store.watch_count == 0
