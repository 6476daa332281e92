"""PropagatedVersion records as KubeFed writes them: its template and override hashes (vectors computed by
KubeFed v0.10.0's own ``sync.GetTemplateHash`` / ``sync.GetOverrideHash`` on these objects), and the merge
of per-cluster versions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.scheduler._versions import (
    go_json,
    merge_cluster_versions,
    override_hash,
    propagated_version_name,
    template_hash,
)
from shared.messages import ClusterOutcome, ObjectKey

DATA = Path(__file__).resolve().parents[1] / "data"

# (file, KubeFed's template hash, KubeFed's override hash)
KUBEFED_VECTORS = [
    ("kubefed-hash-deployment.json", "ee901ef5537975c9702fd8576852222e", "89c24e9dbe052073498734f886cb19f6"),
    ("kubefed-hash-configmap.json", "86d7340b476552a96d857c5b58aace45", "2979b7538b527abe06492021841caf47"),
]


@pytest.mark.parametrize(("name", "template", "overrides"), KUBEFED_VECTORS)
def test_hashes_equal_kubefeds(name: str, template: str, overrides: str) -> None:
    fed = json.loads((DATA / name).read_text())
    assert template_hash(fed) == template
    assert override_hash(fed) == overrides


def test_go_json_escapes_like_go() -> None:
    assert (
        go_json({"b": "<&>", "a": [1, 0.5, None, True]})
        == b'{"b":"\\u003c\\u0026\\u003e","a":[1,0.5,null,true]}\n'
    )


def test_without_template_or_spec_the_hashes_are_empty() -> None:
    assert template_hash({"spec": {}}) == ""
    assert override_hash({}) == ""


def _outcome(cluster: str, op: str, version: str = "", status: str = "") -> ClusterOutcome:
    return ClusterOutcome(
        key=ObjectKey(resource="r", namespace="n", name="x"),
        cluster=cluster,
        op=op,
        version=version,
        status=status,
    )


def test_merge_sets_successes_drops_removals_keeps_failures_and_sorts() -> None:
    old = [
        {"clusterName": "c3", "version": "rv:9"},
        {"clusterName": "c2", "version": "gen:1"},
        {"clusterName": "c4", "version": "rv:1"},
    ]
    merged = merge_cluster_versions(
        old,
        {
            "c1": _outcome("c1", "created", "rv:5"),
            "c2": _outcome("c2", "failed", status="UpdateFailed"),  # keeps the last good version
            "c3": _outcome("c3", "deleted"),
        },
        placed={"c1", "c2", "c3"},
    )  # c4 is no longer placed
    assert merged == [{"clusterName": "c1", "version": "rv:5"}, {"clusterName": "c2", "version": "gen:1"}]


def test_record_name_is_the_lowercased_target_kind_and_name() -> None:
    assert propagated_version_name("ConfigMap", "web") == "configmap-web"
