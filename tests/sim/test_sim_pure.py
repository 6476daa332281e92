"""Pure tests (no HTTP) of the store, selectors and patch functions.

Covers: resourceVersion per write and per-cluster offsets, uid/generation/timestamps, no-op writes,
409 Conflict/AlreadyExists, 404 namespace, 422 names, finalizers and deletionTimestamp, status
subresource isolation, label selector syntax (all operators, 400), field selectors, limit/continue,
watch replay from an RV and 410 after compaction, selector transitions, merge / JSON / strategic
merge patches with directives, CRD schema validation and pruning.
"""

from __future__ import annotations

import pytest

from sim import ApiError, Store
from sim._patching import JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, merge_patch, strategic_merge
from sim._protobuf import decode as decode_protobuf
from sim._protobuf import encode_for_test
from sim._registry import NAMESPACES, builtin, crd_resource_type
from sim._schema import validate
from sim._selectors import parse_field_selector, parse_label_selector

CM = builtin("", "configmaps")
DEPLOY = builtin("apps", "deployments")


def cm(name: str, labels: dict | None = None, data: dict | None = None) -> dict:
    return {"metadata": {"name": name, "labels": labels or {}}, "data": data or {}}


def test_create_sets_server_fields_and_rv_increases() -> None:
    s = Store(rv_start=500)
    a = s.create(CM, "default", cm("a"))
    b = s.create(CM, "default", cm("b"))
    assert a["apiVersion"] == "v1" and a["kind"] == "ConfigMap"
    assert int(a["metadata"]["resourceVersion"]) > 500
    assert int(b["metadata"]["resourceVersion"]) == int(a["metadata"]["resourceVersion"]) + 1
    assert len(a["metadata"]["uid"]) == 36 and a["metadata"]["creationTimestamp"].endswith("Z")
    assert "generation" not in a["metadata"]


def test_already_exists_not_found_and_namespace_missing() -> None:
    s = Store()
    s.create(CM, "default", cm("a"))
    with pytest.raises(ApiError) as e:
        s.create(CM, "default", cm("a"))
    assert e.value.code == 409 and e.value.reason == "AlreadyExists"
    assert e.value.message == 'configmaps "a" already exists'
    with pytest.raises(ApiError) as e:
        s.get(CM, "default", "zz")
    assert e.value.code == 404 and e.value.message == 'configmaps "zz" not found'
    with pytest.raises(ApiError) as e:
        s.create(CM, "nope", cm("a"))
    assert e.value.message == 'namespaces "nope" not found'
    with pytest.raises(ApiError) as e:
        s.create(CM, "default", cm("Bad_Name"))
    assert e.value.code == 422 and e.value.details["causes"][0]["field"] == "metadata.name"


def test_name_rules_per_kind() -> None:
    s = Store()
    s.create(
        builtin("rbac.authorization.k8s.io", "clusterroles"), "", {"metadata": {"name": "kubefed:member"}}
    )
    with pytest.raises(ApiError):
        s.create(builtin("rbac.authorization.k8s.io", "clusterroles"), "", {"metadata": {"name": "a/b"}})
    with pytest.raises(ApiError) as e:
        s.create(
            builtin("", "services"),
            "default",
            {"metadata": {"name": "svc_1"}, "spec": {"ports": [{"port": 1}]}},
        )
    assert "RFC 1123 label" in e.value.message  # RelaxedServiceNameValidation: "1svc" is a valid name now
    s.create(
        builtin("", "services"), "default", {"metadata": {"name": "1svc"}, "spec": {"ports": [{"port": 1}]}}
    )
    with pytest.raises(ApiError):
        s.create(builtin("", "namespaces"), "", {"metadata": {"name": "a.b"}})


def test_generate_name() -> None:
    s = Store()
    obj = s.create(CM, "default", {"metadata": {"generateName": "x-"}})
    assert obj["metadata"]["name"].startswith("x-") and len(obj["metadata"]["name"]) == 7


def test_update_conflict_and_noop() -> None:
    s = Store()
    a = s.create(CM, "default", cm("a", data={"k": "v"}))
    stale = dict(a)
    b = s.update(CM, "default", "a", {**a, "data": {"k": "w"}})
    assert b["metadata"]["resourceVersion"] != a["metadata"]["resourceVersion"]
    with pytest.raises(ApiError) as e:
        s.update(CM, "default", "a", {**stale, "data": {"k": "x"}})
    assert e.value.code == 409 and e.value.reason == "Conflict"
    assert "the object has been modified" in e.value.message
    rv = s.rv
    same = s.update(CM, "default", "a", b)
    assert same is b and s.rv == rv


def test_generation_only_on_spec_changes_and_status_isolated() -> None:
    s = Store()
    d = s.create(
        DEPLOY,
        "default",
        {
            "metadata": {"name": "d"},
            "spec": {
                "selector": {"matchLabels": {"a": "b"}},
                "template": {
                    "metadata": {"labels": {"a": "b"}},
                    "spec": {"containers": [{"name": "c", "image": "i"}]},
                },
            },
            "status": {"replicas": 9},
        },
    )
    assert d["metadata"]["generation"] == 1 and d["status"] == {}
    d2 = s.update(DEPLOY, "default", "d", {**d, "metadata": {**d["metadata"], "labels": {"x": "y"}}})
    assert d2["metadata"]["generation"] == 1
    d3, _ = s.patch(DEPLOY, "default", "d", MERGE_PATCH, {"spec": {"replicas": 3}})
    assert d3["metadata"]["generation"] == 2
    d4 = s.update(DEPLOY, "default", "d", {**d3, "status": {"replicas": 3}}, subresource="status")
    assert d4["metadata"]["generation"] == 2 and d4["status"] == {"replicas": 3}
    d5 = s.update(DEPLOY, "default", "d", {**d4, "status": {"replicas": 1}})
    assert d5["status"] == {"replicas": 3}


def test_finalizers_and_deletion() -> None:
    s = Store()
    s.create(CM, "default", {"metadata": {"name": "f", "finalizers": ["x/y"]}})
    obj, removed = s.delete(CM, "default", "f")
    assert not removed and obj["metadata"]["deletionTimestamp"]
    again, removed = s.delete(CM, "default", "f")
    assert again is obj and not removed
    s.patch(CM, "default", "f", MERGE_PATCH, {"metadata": {"finalizers": None}})
    assert s.peek(("", "configmaps"), "default", "f") is None


def test_delete_preconditions() -> None:
    s = Store()
    s.create(CM, "default", cm("p"))
    with pytest.raises(ApiError) as e:
        s.delete(CM, "default", "p", preconditions={"uid": "nope"})
    assert e.value.code == 409 and "the UID in the precondition (nope) does not match" in e.value.message


def test_protected_namespace() -> None:
    s = Store()
    with pytest.raises(ApiError) as e:
        s.delete(
            builtin("", "namespaces"),
            "",
            "default",
        )
    assert e.value.code == 403


def test_list_selectors_and_pagination() -> None:
    s = Store()
    for i in range(5):
        s.create(CM, "default", cm(f"c{i}", labels={"i": str(i), "even": str(i % 2 == 0).lower()}))
    items, _, _, _ = s.list(CM, "default", parse_label_selector("even=true"))
    assert [o["metadata"]["name"] for o in items] == ["c0", "c2", "c4"]
    items, rv1, token, _ = s.list(CM, "default", limit=2)
    assert [o["metadata"]["name"] for o in items] == ["c0", "c1"] and token
    s.create(CM, "default", cm("c22"))  # after the first chunk: not in this list's snapshot
    s.delete(CM, "default", "c3")
    items, rv2, token, remaining = s.list(CM, "default", limit=2, cont=token)
    assert [o["metadata"]["name"] for o in items] == ["c2", "c3"] and rv2 == rv1 and remaining == 1
    items, _, token, _ = s.list(CM, "default", limit=2, cont=token)
    assert [o["metadata"]["name"] for o in items] == ["c4"] and token is None
    items, _, _, _ = s.list(CM, "default", at=int(rv1))
    assert [o["metadata"]["name"] for o in items] == ["c0", "c1", "c2", "c3", "c4"]
    items, _, _, _ = s.list(CM, None, None, parse_field_selector("metadata.name=c2", ("", "configmaps")))
    assert len(items) == 1
    items, _, _, _ = s.list(CM, "nowhere")
    assert items == []


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("a=1", ["x"]),
        ("a==1", ["x"]),
        ("a!=1", ["y", "z"]),
        ("a in (1,2)", ["x", "y"]),
        ("a notin (1)", ["y", "z"]),
        ("a", ["x", "y"]),
        ("!a", ["z"]),
        ("a,b=q", ["y"]),
        ("a in (1, 2),!b", ["x"]),
    ],
)
def test_label_selector_syntax(selector: str, expected: list[str]) -> None:
    objs = {"x": {"a": "1"}, "y": {"a": "2", "b": "q"}, "z": {}}
    pred = parse_label_selector(selector)
    assert pred is not None
    assert [n for n, lab in objs.items() if pred({"metadata": {"labels": lab}})] == expected


def test_bad_selectors_are_400() -> None:
    with pytest.raises(ApiError) as e:
        parse_label_selector("a in (b")
    assert e.value.code == 400
    with pytest.raises(ApiError) as e:
        parse_field_selector("spec.foo=1", ("", "configmaps"))
    assert e.value.code == 400 and '"spec.foo" is not a known field selector' in e.value.message
    with pytest.raises(ApiError) as e:
        parse_field_selector(
            "spec.foo=1", ("", "pods")
        )  # kinds with their own field labels say it differently
    assert e.value.message == "field label not supported: spec.foo"
    assert parse_field_selector("status.phase=Running", ("", "pods")) is not None


async def test_watch_replay_transitions_and_expiry() -> None:
    s = Store(history=10)
    a = s.create(CM, "default", cm("a", labels={"x": "1"}))
    start = a["metadata"]["resourceVersion"]
    w = s.watch(CM, "default", parse_label_selector("x=1"), None, start)
    s.patch(CM, "default", "a", MERGE_PATCH, {"metadata": {"labels": {"x": "2"}}})
    s.patch(CM, "default", "a", MERGE_PATCH, {"metadata": {"labels": {"x": "1"}}})
    s.delete(CM, "default", "a")
    types = [w.queue.get_nowait()[0] for _ in range(3)]
    assert types == ["DELETED", "ADDED", "DELETED"]
    for i in range(12):
        s.create(CM, "default", cm(f"n{i}"))
    with pytest.raises(ApiError) as e:
        s.watch(CM, None, None, None, start)
    assert e.value.code == 410 and e.value.message.startswith("too old resource version")
    s.compact()
    with pytest.raises(ApiError):
        s.watch(CM, None, None, None, str(s.rv - 1))
    w2 = s.watch(CM, "default", None, None, "0", send_initial_events=True)
    events = []
    while not w2.queue.empty():
        events.append(w2.queue.get_nowait())
    assert [t for t, _ in events][-1] == "BOOKMARK" and len(events) == 13


def test_merge_patch() -> None:
    assert merge_patch({"a": 1, "b": {"c": 2, "d": 3}, "l": [1]}, {"b": {"c": None}, "l": [2]}) == {
        "a": 1,
        "b": {"d": 3},
        "l": [2],
    }


def test_strategic_merge_lists_and_directives() -> None:
    pod = {
        "spec": {
            "containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}],
            "tolerations": [{"key": "x"}],
        },
        "metadata": {"finalizers": ["f1"]},
    }
    out = strategic_merge(
        pod,
        {
            "spec": {
                "containers": [{"name": "b", "image": "3"}, {"name": "c", "image": "4"}],
                "tolerations": [{"key": "y"}],
            },
            "metadata": {"finalizers": ["f2"]},
        },
        "Pod",
    )
    assert [(c["name"], c["image"]) for c in out["spec"]["containers"]] == [
        ("a", "1"),
        ("b", "3"),
        ("c", "4"),
    ]
    assert out["spec"]["tolerations"] == [{"key": "y"}]
    assert out["metadata"]["finalizers"] == ["f2", "f1"]  # as apimachinery orders a merged primitive list
    out = strategic_merge(pod, {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}, "Pod")
    assert [c["name"] for c in out["spec"]["containers"]] == ["b"]
    out = strategic_merge(
        pod,
        {
            "spec": {
                "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                "containers": [{"name": "a", "image": "9"}],
            }
        },
        "Pod",
    )
    assert [(c["name"], c["image"]) for c in out["spec"]["containers"]] == [("b", "2"), ("a", "9")]
    out = strategic_merge(pod, {"spec": {"$patch": "replace", "containers": []}}, "Pod")
    assert out["spec"] == {"containers": []}
    svc = {"spec": {"ports": [{"port": 80, "name": "http"}]}}
    out = strategic_merge(svc, {"spec": {"ports": [{"port": 443, "name": "https"}]}}, "Service")
    assert [p["port"] for p in out["spec"]["ports"]] == [443, 80]
    out = strategic_merge(
        {"metadata": {"finalizers": ["a", "b"]}}, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}
    )
    assert out["metadata"]["finalizers"] == ["b"]


def test_json_patch_and_strategic_on_custom_resource() -> None:
    s = Store()
    s.create(CM, "default", cm("j", data={"a": "1"}))
    out, _ = s.patch(CM, "default", "j", JSON_PATCH, [{"op": "add", "path": "/data/b", "value": "2"}])
    assert out["data"] == {"a": "1", "b": "2"}
    with pytest.raises(ApiError) as e:
        s.patch(CM, "default", "j", JSON_PATCH, {"data": {}})
    assert e.value.code == 400 and "[]handlers.jsonPatchOp" in e.value.message
    crd = _crd()
    rt = crd_resource_type(crd)
    s.registry.add_crd(rt)
    s.create(
        rt,
        "default",
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1}},
    )
    with pytest.raises(ApiError) as e:
        s.patch(rt, "default", "w", STRATEGIC_PATCH, {"spec": {"size": 2}})
    assert e.value.code == 415
    assert e.value.message == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    )


def _crd() -> dict:
    return {
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "required": ["size"],
                                    "properties": {
                                        "size": {"type": "integer"},
                                        "free": {
                                            "type": "object",
                                            "x-kubernetes-preserve-unknown-fields": True,
                                        },
                                    },
                                },
                                "status": {"type": "object", "properties": {"ok": {"type": "boolean"}}},
                            },
                        }
                    },
                }
            ],
        },
    }


def test_schema_validation_and_pruning() -> None:
    schema = _crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    pruned, causes, unknown = validate(
        {
            "apiVersion": "x",
            "kind": "W",
            "metadata": {},
            "spec": {"size": 1, "junk": 1, "free": {"any": 1}},
            "top": 1,
        },
        schema,
    )
    assert causes == [] and sorted(unknown) == ["spec.junk", "top"]
    assert pruned["spec"] == {"size": 1, "free": {"any": 1}} and "top" not in pruned
    _, causes, _ = validate({"spec": {"size": "big"}}, schema)
    assert causes[0]["field"] == "spec.size" and "must be of type integer" in causes[0]["message"]
    _, causes, _ = validate({"spec": {}}, schema)
    assert causes[0] == {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.size"}


def _ld(num: int, data: bytes) -> bytes:
    return bytes([num << 3 | 2, len(data)]) + data


def test_protobuf_configmap_body() -> None:
    meta = _ld(1, b"cm") + _ld(3, b"default") + _ld(11, _ld(1, b"app") + _ld(2, b"web"))
    raw = _ld(1, meta) + _ld(2, _ld(1, b"k") + _ld(2, b"v"))
    obj = decode_protobuf(encode_for_test("v1", "ConfigMap", raw))
    assert obj == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "data": {"k": "v"},
        "metadata": {"name": "cm", "namespace": "default", "labels": {"app": "web"}},
    }
    with pytest.raises(ValueError):
        decode_protobuf(encode_for_test("apps/v1", "Deployment", b""))


def test_server_side_apply_removes_what_the_manager_stopped_applying() -> None:
    from sim._patching import APPLY_PATCH

    s = Store()
    base = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "labels": {"a": "1", "b": "2"}},
        "spec": {
            "selector": {"matchLabels": {"x": "y"}},
            "template": {
                "metadata": {"labels": {"x": "y"}},
                "spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}]},
            },
        },
    }
    obj, created = s.patch(DEPLOY, "default", "d", APPLY_PATCH, base, field_manager="me")
    assert created and obj["metadata"]["labels"] == {"a": "1", "b": "2"}
    s.patch(DEPLOY, "default", "d", MERGE_PATCH, {"metadata": {"labels": {"other": "kept"}}})
    second = {**base, "metadata": {"name": "d", "labels": {"a": "1"}}}
    second["spec"] = {
        **base["spec"],
        "template": {
            "metadata": {"labels": {"x": "y"}},
            "spec": {"containers": [{"name": "a", "image": "1"}]},
        },
    }
    obj, _ = s.patch(DEPLOY, "default", "d", APPLY_PATCH, second, field_manager="me")
    assert obj["metadata"]["labels"] == {"a": "1", "other": "kept"}
    assert [c["name"] for c in obj["spec"]["template"]["spec"]["containers"]] == ["a"]
    with pytest.raises(ApiError) as e:
        s.patch(DEPLOY, "default", "d", APPLY_PATCH, second)
    assert e.value.code == 422 and "fieldManager" in e.value.message


def test_paginated_lists_equal_the_whole_list_with_writes_between_chunks() -> None:
    s = Store(history=10_000)
    namespaces = ["default", "ns1", "ns2"]
    for ns in namespaces[1:]:
        s.create(NAMESPACES, "", {"metadata": {"name": ns}})
    for i in range(300):
        s.create(CM, namespaces[i % 3], cm(f"c{i:03d}"))
    for ns in ("default", None):
        whole, rv, _, _ = s.list(CM, ns)
        paged, token = [], None
        while True:
            items, page_rv, token, _ = s.list(CM, ns, limit=7, cont=token)
            paged += items
            assert page_rv == rv  # every chunk from the first chunk's snapshot
            s.create(CM, "default", cm(f"late-{len(paged)}-{ns or 'all'}"))  # not in this list
            if token is None:
                break
        assert [o["metadata"]["uid"] for o in paged] == [o["metadata"]["uid"] for o in whole]
