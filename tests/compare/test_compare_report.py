"""The differential harness' pure parts: normalisation, comparison, and the generated table in
docs/compatibility.md, which must be exactly what bench/results/compare-kubefed.json renders to."""

from __future__ import annotations

import json

from compare import _normalise as norm
from compare import _report
from compare._diff import Explained, unexplained


def test_member_objects_compare_without_run_specific_values() -> None:
    a = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "s",
            "uid": "0b7c5a6e-1111-2222-3333-444455556666",
            "resourceVersion": "12",
            "creationTimestamp": "2026-11-30T07:00:00Z",
            "managedFields": [{"manager": "x"}],
            "labels": {
                "kubefed.io/managed": "true",
                "controller-uid": "0b7c5a6e-1111-2222-3333-444455556666",
            },
        },
        "spec": {"clusterIP": "10.0.0.7", "ports": [{"port": 80, "nodePort": 31234}], "type": "NodePort"},
        "status": {"loadBalancer": {}},
    }
    b = json.loads(json.dumps(a))
    b["metadata"].update(uid="9a9a9a9a-1111-2222-3333-444455556666", resourceVersion="99")
    b["metadata"]["labels"]["controller-uid"] = "9a9a9a9a-1111-2222-3333-444455556666"
    b["spec"].update(clusterIP="10.0.0.9", ports=[{"port": 80, "nodePort": 30001}])
    assert norm.member_object(a) == norm.member_object(b)
    b["spec"]["ports"][0]["port"] = 81
    assert norm.differences(norm.member_object(a), norm.member_object(b)) == [("/spec/ports/0/port", 80, 81)]
    assert norm.member_object(None) is None


def test_host_status_keeps_reasons_and_drops_times() -> None:
    obj = {
        "metadata": {"name": "x"},
        "spec": {"placement": {"clusters": [{"name": "c1"}]}, "template": {"data": {"k": "v"}}},
        "status": {
            "conditions": [
                {
                    "type": "Propagation",
                    "status": "True",
                    "lastUpdateTime": "2026-11-30T07:00:00Z",
                    "reason": "",
                }
            ],
            "clusters": [
                {"name": "c2", "status": "ClusterNotReady"},
                {"name": "c1", "remoteStatus": {"a": 1}},
            ],
            "observedGeneration": 2,
        },
    }
    assert norm.host_status(obj) == {
        "conditions": [{"type": "Propagation", "status": "True"}],
        "clusters": [
            {"name": "c1", "remoteStatus": "<collected>"},
            {"name": "c2", "status": "ClusterNotReady"},
        ],
        "observedGeneration": 2,
        "placement": {"clusters": [{"name": "c1"}]},
    }


def test_event_reasons_are_distinct_and_sorted() -> None:
    events = [
        {"involvedObject": {"kind": "FederatedConfigMap", "name": "cm"}, "type": "Normal", "reason": r}
        for r in ("UpdateInCluster", "CreateInCluster", "CreateInCluster")
    ]
    assert norm.event_reasons(events) == [
        "FederatedConfigMap/cm Normal CreateInCluster",
        "FederatedConfigMap/cm Normal UpdateInCluster",
    ]


def test_explained_differences_are_not_unexplained() -> None:
    known = Explained("drift", r"^/members/cluster1 ", "why", "ours by design")
    assert known.matches("drift", "/members/cluster1 configmaps cm/data/k")
    assert not known.matches("sample1", "/members/cluster1 configmaps cm/data/k")
    report = {
        "scenarios": [
            {
                "scenario": "drift",
                "errors": {"ours": "boom"},
                "checkpoints": [
                    {
                        "label": "after",
                        "differences": [
                            {"path": "/a", "ours": 1, "kubefed": 2, "explained": "why", "verdict": "timing"},
                            {"path": "/b", "ours": 1, "kubefed": 2},
                        ],
                    }
                ],
            }
        ]
    }
    assert unexplained(report) == ["drift: error on ours: boom", "drift [after] /b: ours 1, kubefed 2"]


def test_an_event_explanation_with_a_message_covers_only_that_message() -> None:
    path = "/events/FederatedDeployment/web Warning CreateInClusterFailed"
    known = Explained("rsp", "CreateInClusterFailed$", "why", "timing", message="instead of a creation")
    adopted = (
        'Failed to create Deployment "s/web": An update will be attempted instead of a creation due to x'
    )
    forbidden = 'Failed to create Deployment "s/web": deployments.apps "web" is forbidden: quota exceeded'
    assert known.matches("rsp", path, "cp", {"kubefed": [adopted]})
    assert not known.matches("rsp", path, "cp", {"kubefed": [adopted, forbidden]})
    assert not known.matches("rsp", path, "cp", {"kubefed": [forbidden]})
    assert not known.matches("rsp", path, "cp", None)  # no evidence: not explained
    report = {
        "scenarios": [
            {
                "scenario": "rsp",
                "errors": {},
                "checkpoints": [
                    {
                        "label": "cp",
                        "differences": [
                            {
                                "path": path,
                                "ours": None,
                                "kubefed": True,
                                "messages": {"kubefed": [forbidden]},
                            }
                        ],
                    }
                ],
            }
        ]
    }
    # the messages are the evidence a failing CI run prints
    assert unexplained(report) == [
        f"rsp [cp] {path}: ours None, kubefed True (messages: {{'kubefed': [{forbidden!r}]}})"
    ]


def test_the_compatibility_table_is_generated_from_the_last_report() -> None:
    report = json.loads(_report.REPORT.read_text())
    assert _report.current_block(_report.DOC.read_text()) == _report.render(report), (
        "docs/compatibility.md is out of date with bench/results/compare-kubefed.json: run `python "
        "-m compare doc`"
    )


def test_the_last_report_has_no_unexplained_difference() -> None:
    report = json.loads(_report.REPORT.read_text())
    assert report["summary"]["scenarios"] >= 10
    assert unexplained(report) == []


def test_settled_means_reconciled_at_the_current_generation() -> None:
    from compare._diff import unreconciled

    done = {
        "metadata": {"generation": 2},
        "status": {"observedGeneration": 2, "conditions": [{"type": "Propagation", "status": "False"}]},
    }
    assert unreconciled({"federatedconfigmaps a": done}) == []
    stale = {**done, "status": {**done["status"], "observedGeneration": 1}}
    removing = {
        **done,
        "status": {**done["status"], "clusters": [{"name": "c2", "status": "WaitingForRemoval"}]},
    }
    deleting = {**done, "metadata": {"generation": 2, "deletionTimestamp": "2026-11-30T10:00:00Z"}}
    assert unreconciled({"a": stale, "b": removing, "c": deleting, "d": {"metadata": {"generation": 1}}}) == [
        "a: observedGeneration 1, generation 2",
        "b: still removing from c2",
        "c: still being deleted",
        "d: observedGeneration None, generation 1",
        "d: no Propagation condition",
    ]
    # an object out of the control plane's scope must stay without status
    assert unreconciled({"x": {"metadata": {"generation": 1}}}, frozenset({"x"})) == []
    assert unreconciled({"x": done}, frozenset({"x"})) == ["x: has status, but is out of scope"]


def test_an_unsettled_checkpoint_is_a_finding_unless_explained() -> None:
    from compare._diff import explain_unsettled

    checkpoint = {
        "label": "after",
        "settled": {"ours": True, "kubefed": False},
        "settle_seconds": {"ours": 2.0, "kubefed": 90.0},
        "pending": {"kubefed": ["the checkpoint's expected state not reached"]},
        "differences": [],
    }
    report = {"scenarios": [{"scenario": "drift", "errors": {}, "checkpoints": [checkpoint]}]}
    assert unexplained(report) == [
        "drift [after] did not settle on kubefed in 90.0 s: the checkpoint's expected state not reached"
    ]
    explain_unsettled(
        "drift", checkpoint, [Explained("drift", r"^settle/kubefed$", "why", "KubeFed behaviour")]
    )
    assert checkpoint["unsettled_explained"] == {"kubefed": "why"}
    assert unexplained(report) == []
