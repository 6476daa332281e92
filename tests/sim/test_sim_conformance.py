"""What the differential suite (tests/real/test_differential*.py) made the simulator do, kept in the
default tier: it needs no real binaries.

Covers: server-side apply field ownership (a conflict with another apply manager, force, shared
values, an update manager taking fields over, dropped fields kept while another manager owns them);
apimachinery's label-selector messages; sample1's old-style Ingress refused with the apiserver's
422; a Service leaving LoadBalancer losing its node ports and load-balancer status in one update;
unknown fields of built-ins warned about and pruned (400 under Strict); ObjectMeta and name
validation messages; query options as ``<Kind>Options`` 422s; kube-root-ca.crt and the namespace
deletion conditions; the real printers' Table columns; Go's decoder wording for a malformed body.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from sim import Fleet, Store
from sim._errors import ApiError
from sim._http import go_json_error
from sim._patching import APPLY_PATCH, MERGE_PATCH
from sim._registry import builtin
from sim._selectors import parse_label_selector

pytestmark = pytest.mark.timeout(30)

CM = builtin("", "configmaps")


def _cm(data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "s"}, "data": data}


def test_apply_conflicts_force_and_shared_fields() -> None:
    s = Store()
    s.patch(CM, "default", "s", APPLY_PATCH, _cm({"a": "1", "b": "2"}), field_manager="one")
    with pytest.raises(ApiError) as e:
        s.patch(CM, "default", "s", APPLY_PATCH, _cm({"a": "other"}), field_manager="two")
    assert (e.value.code, e.value.reason) == (409, "Conflict")
    assert e.value.message == 'Apply failed with 1 conflict: conflict with "one": .data.a'
    assert e.value.details == {
        "causes": [{"reason": "FieldManagerConflict", "message": 'conflict with "one"', "field": ".data.a"}]
    }
    s.patch(CM, "default", "s", APPLY_PATCH, _cm({"b": "2"}), field_manager="two")  # same value: shared
    obj, _ = s.patch(CM, "default", "s", APPLY_PATCH, _cm({"a": "forced"}), field_manager="two", force=True)
    assert obj["data"] == {"a": "forced", "b": "2"}
    obj, _ = s.patch(CM, "default", "s", APPLY_PATCH, _cm({"b": "2"}), field_manager="one")
    assert obj["data"] == {"a": "forced", "b": "2"}  # one dropped a, but two owns it now
    s.update(CM, "default", "s", _cm({"a": "forced", "b": "3"}), field_manager="editor")
    with pytest.raises(ApiError) as e:
        s.patch(CM, "default", "s", APPLY_PATCH, _cm({"b": "4"}), field_manager="two")
    assert e.value.message == 'Apply failed with 1 conflict: conflict with "editor" using v1: .data.b'


def test_label_selector_messages_are_apimachinerys() -> None:
    for text, message in (
        ("tier in web", "unable to parse requirement: found 'web' expected: '('"),
        ("tier=a b", "found 'b', expected: ',' or 'end of string'"),
        (
            "x > a",
            "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' operators, the "
            "value must be an integer",
        ),
    ):
        with pytest.raises(ApiError) as e:
            parse_label_selector(text)
        assert (e.value.code, e.value.message) == (400, message)
    match = parse_label_selector("x>1,!y")
    assert match is not None and match({"metadata": {"labels": {"x": "2"}}})
    assert not match({"metadata": {"labels": {"x": "1"}}})


def test_old_ingress_is_refused_and_unknown_fields_warned() -> None:
    s = Store()
    ing = builtin("networking.k8s.io", "ingresses")
    body = {
        "metadata": {"name": "old"},
        "spec": {
            "rules": [
                {
                    "host": "a.example.com",
                    "http": {"paths": [{"path": "/", "backend": {"serviceName": "s", "servicePort": 80}}]},
                }
            ]
        },
    }
    with pytest.raises(ApiError) as e:
        s.create(ing, "default", body)
    assert e.value.code == 422 and e.value.message == (
        'Ingress.networking.k8s.io "old" is invalid: spec.rules[0].http.paths[0].pathType: Required value: '
        "pathType must be specified"
    )
    assert s.warnings == [
        'unknown field "spec.rules[0].http.paths[0].backend.serviceName"',
        'unknown field "spec.rules[0].http.paths[0].backend.servicePort"',
    ]
    s.warnings.clear()
    with pytest.raises(ApiError) as e:
        s.create(CM, "default", {"metadata": {"name": "x"}, "extra": 1}, validation="Strict")
    assert e.value.code == 400 and 'strict decoding error: unknown field "extra"' in e.value.message
    created = s.create(CM, "default", {"metadata": {"name": "x"}, "extra": 1, "data": {}})
    assert "extra" not in created and "data" not in created and s.warnings == ['unknown field "extra"']


def test_service_leaving_load_balancer_drops_node_ports_and_status() -> None:
    s = Store()
    svc = builtin("", "services")
    created = s.create(
        svc,
        "default",
        {"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}},
    )
    assert (
        created["spec"]["allocateLoadBalancerNodePorts"] is True and created["spec"]["ports"][0]["nodePort"]
    )
    s.update(
        svc,
        "default",
        "lb",
        {**created, "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}},
        subresource="status",
    )
    obj, _ = s.patch(svc, "default", "lb", MERGE_PATCH, {"spec": {"type": "ClusterIP"}})
    assert obj["status"] == {"loadBalancer": {}}
    assert "nodePort" not in obj["spec"]["ports"][0] and "allocateLoadBalancerNodePorts" not in obj["spec"]
    with pytest.raises(ApiError) as e:
        s.update(
            svc,
            "default",
            "lb",
            {**obj, "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}},
            subresource="status",
        )
    assert e.value.message.endswith(
        "status.loadBalancer.ingress: Forbidden: may only be used when `spec.type` is 'LoadBalancer'"
    )


def test_metadata_and_name_messages() -> None:
    s = Store()
    with pytest.raises(ApiError) as e:
        s.create(builtin("", "namespaces"), "", {"metadata": {"name": "a.b"}})
    assert (
        e.value.message
        == 'Namespace "a.b" is invalid: metadata.name: Invalid value: "a.b": must not contain dots'
    )
    with pytest.raises(ApiError) as e:
        s.create(CM, "default", {"metadata": {"name": "x", "finalizers": ["hold"]}})
    assert e.value.details["causes"][0]["message"] == (
        'Invalid value: "hold": name is neither a standard finalizer name nor is it fully qualified'
    )
    with pytest.raises(ApiError) as e:
        s.create(CM, "default", {"metadata": {"name": "x", "resourceVersion": "5"}})
    assert (e.value.code, e.value.status().get("reason")) == (500, None)


def test_go_json_errors() -> None:
    assert go_json_error(b"{not json") == "invalid character 'n' looking for beginning of object key string"
    assert go_json_error(b"[1 2]") == "invalid character '2' after array element"
    assert go_json_error(b'{"a":') == "unexpected end of JSON input"


async def test_over_http(fleet: Fleet) -> None:
    c1 = fleet["c1"]
    auth = {"Authorization": f"Bearer {c1.admin_token}"}
    base = c1.url + "/api/v1/namespaces/default"
    async with aiohttp.ClientSession() as s:
        async with s.post(
            base + "/configmaps?dryRun=Some", json={"metadata": {"name": "x"}}, headers=auth
        ) as r:
            body = await r.json()
        assert r.status == 422 and body["message"] == (
            'CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: ["Some"]: supported '
            'values: "All"'
        )
        async with s.get(base + "/configmaps/kube-root-ca.crt", headers=auth) as r:
            assert r.status == 200 and "ca.crt" in (await r.json())["data"]
        async with s.get(
            c1.url + "/api/v1/namespaces/default/configmaps",
            headers={**auth, "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
        ) as r:
            table = await r.json()
        assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Data", "Age"]
        async with s.get(
            c1.url + "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            headers={**auth, "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
        ) as r:
            table = await r.json()
        assert [(c["name"], c["type"]) for c in table["columnDefinitions"]] == [
            ("Name", "string"),
            ("Created At", "date"),
        ]
        await s.post(c1.url + "/api/v1/namespaces", json={"metadata": {"name": "going"}}, headers=auth)
        held = {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}
        await s.post(c1.url + "/api/v1/namespaces/going/configmaps", json=held, headers=auth)
        await s.delete(c1.url + "/api/v1/namespaces/going", headers=auth)
        for _ in range(50):
            async with s.get(c1.url + "/api/v1/namespaces/going", headers=auth) as r:
                conditions = {c["type"]: c for c in (await r.json())["status"].get("conditions") or []}
            if conditions:
                break
            await asyncio.sleep(0.05)
        assert conditions["NamespaceFinalizersRemaining"]["message"] == (
            "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
        )
        assert conditions["NamespaceContentRemaining"]["status"] == "True"
