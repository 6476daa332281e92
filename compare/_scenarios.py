"""The differential harness' scenarios (issue #13) and the differences it found, each with its reason.

Each scenario works in its own namespace, applies KubeFed manifests with kubectl and records checkpoints,
each with the expected state that tells the harness the plane has acted on the step (a positive sign,
:meth:`compare._diff.Step.checkpoint`); :mod:`compare._diff` runs it on both planes at once and compares
the checkpoints. Scenarios marked ``fast`` form the CI subset (``python -m compare diff --fast``, and
tests/real/test_compare_fast.py in the real tier).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._diff import FED_GROUP, Explained, Scenario, Snapshot, Step
from ._planes import NS

ROOT = Path(__file__).resolve().parents[1]
SAMPLE1 = ROOT / "tests" / "data" / "kubefed-examples" / "sample1"
CONFIGMAPS = ("", "configmaps")
DEPLOYMENTS = ("apps", "deployments")


def _fed(kind: str, name: str, ns: str, spec: dict[str, Any], **meta: Any) -> str:
    return json.dumps(
        {
            "apiVersion": f"{FED_GROUP}/v1beta1",
            "kind": kind,
            "metadata": {"name": name, "namespace": ns, **meta},
            "spec": spec,
        }
    )


def _cm(name: str, ns: str, data: dict[str, str], placement: dict[str, Any], **meta: Any) -> str:
    return _fed("FederatedConfigMap", name, ns, {"template": {"data": data}, "placement": placement}, **meta)


def _clusters(*names: str) -> dict[str, Any]:
    return {"clusters": [{"name": n} for n in names]}


# ---- expectations: the positive sign each checkpoint waits for (compare._diff.Step.checkpoint) ----------
Expect = Callable[[Snapshot], bool]


def _all(*checks: Expect) -> Expect:
    return lambda snap: all(check(snap) for check in checks)


def _present(*keys: str) -> Expect:
    """These member objects exist (keys as in the snapshot: ``"<cluster> <plural> <name>"``)."""
    return lambda snap: all(snap["members"].get(k) is not None for k in keys)


def _absent(*keys: str) -> Expect:
    return lambda snap: all(snap["members"].get(k) is None for k in keys)


def _field(key: str, path: str, value: Any) -> Expect:
    """A member object's field (``data/k``, ``spec/replicas``, ``metadata/labels/x``) has this value."""

    def check(snap: Snapshot) -> bool:
        obj: Any = snap["members"].get(key)
        for part in path.split("/"):
            obj = obj.get(part.replace("~1", "/")) if isinstance(obj, dict) else None
        return bool(obj == value)

    return check


def _cluster_status(host_key: str, **statuses: str) -> Expect:
    """The federated object's per-cluster status is exactly this (cluster → status, "" for OK)."""

    def check(snap: Snapshot) -> bool:
        clusters = (snap["host"].get(host_key) or {}).get("clusters")
        return clusters is not None and {c["name"]: c.get("status", "") for c in clusters} == statuses

    return check


def _host_gone(*keys: str) -> Expect:
    return lambda snap: all(snap["host"].get(k) is None for k in keys)


def _replicas(name: str, **per_cluster: int) -> Expect:
    return _all(*(_field(f"{c} deployments {name}", "spec/replicas", n) for c, n in per_cluster.items()))


def _ready_fn(step: Step) -> None:
    step.federated_namespace()
    step.wait(
        "the namespace on every member",
        lambda: all(
            step.plane.fleet[c].get_object("", "namespaces", None, step.ns) for c in ("cluster1", "cluster2")
        ),
    )


# ---- scenarios -------------------------------------------------------------------------------------------
def sample1(step: Step) -> None:
    # sample1 has a FederatedClusterRoleBinding, a type neither plane enables by default: each enables it
    # with its own kubefedctl, as sample1's README says
    step.plane.kubefedctl("enable", "clusterrolebindings.rbac.authorization.k8s.io")
    step.kubectl("wait", "--for=condition=Established", "crd/federatedclusterrolebindings.types.kubefed.io")
    for name in ("namespace.yaml", "federatednamespace.yaml"):
        step.kubectl("apply", "-f", str(SAMPLE1 / name))
    for path in sorted(SAMPLE1.glob("federated*.yaml")):
        step.kubectl("apply", "-f", str(path))
    placed = [
        f"{c} {what}"
        for c in ("cluster1", "cluster2")
        for what in (
            "configmaps test-configmap",
            "secrets test-secret",
            "services test-service",
            "serviceaccounts test-serviceaccount",
            "deployments test-deployment",
            "jobs test-job",
            "clusterroles test-clusterrole",
            "clusterrolebindings test-clusterrolebinding",
        )
    ]
    step.checkpoint("applied", _present(*placed), timeout=120)
    step.kubectl(
        "patch",
        "federateddeployment",
        "test-deployment",
        "-n",
        step.ns,
        "--type=json",
        "-p",
        json.dumps([{"op": "replace", "path": "/spec/overrides/0/clusterOverrides/0/value", "value": 4}]),
    )
    step.kubectl(
        "patch",
        "federatedconfigmap",
        "test-configmap",
        "-n",
        step.ns,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"template": {"data": {"added": "later"}}}}),
    )
    step.checkpoint(
        "override and template changed",
        _all(
            _field("cluster2 deployments test-deployment", "spec/replicas", 4),
            _field("cluster1 configmaps test-configmap", "data/added", "later"),
        ),
    )


def placement(step: Step) -> None:
    _ready_fn(step)
    label = f"{step.ns}-env"
    step.apply(_cm("by-clusters", step.ns, {"k": "v"}, _clusters("cluster1")))
    step.apply(_cm("by-selector", step.ns, {"k": "v"}, {"clusterSelector": {"matchLabels": {label: "a"}}}))
    step.kubectl("label", "kubefedcluster", "cluster1", "-n", "kube-federation-system", f"{label}=a")
    # KubeFed re-places objects after a KubeFedCluster label change only once the changed cluster is
    # "available" again (controllerDuration.availableDelay, 20 s): the expectations wait for that
    step.checkpoint(
        "placed",
        _all(
            _present("cluster1 configmaps by-clusters", "cluster1 configmaps by-selector"),
            _absent("cluster2 configmaps by-clusters", "cluster2 configmaps by-selector"),
        ),
    )
    step.apply(_cm("by-clusters", step.ns, {"k": "v"}, _clusters("cluster2")))
    step.kubectl(
        "label", "--overwrite", "kubefedcluster", "cluster1", "-n", "kube-federation-system", f"{label}=b"
    )
    step.kubectl("label", "kubefedcluster", "cluster2", "-n", "kube-federation-system", f"{label}=a")
    step.checkpoint(
        "placement and labels changed",
        _all(
            _present("cluster2 configmaps by-clusters", "cluster2 configmaps by-selector"),
            _absent("cluster1 configmaps by-clusters", "cluster1 configmaps by-selector"),
        ),
    )
    for cluster in ("cluster1", "cluster2"):
        step.kubectl("label", "kubefedcluster", cluster, "-n", "kube-federation-system", f"{label}-")
    step.checkpoint(
        "labels removed",
        _all(
            _present("cluster2 configmaps by-clusters"),
            _absent("cluster1 configmaps by-selector", "cluster2 configmaps by-selector"),
        ),
    )


def namespace_narrowing(step: Step) -> None:
    step.federated_namespace(["cluster1", "cluster2"])
    step.apply(_cm("cm", step.ns, {"k": "v"}, _clusters("cluster1", "cluster2")))
    step.checkpoint("both clusters", _present("cluster1 configmaps cm", "cluster2 configmaps cm"))
    step.federated_namespace(["cluster1"])
    step.checkpoint(
        "namespace narrowed to cluster1",
        _all(
            _present("cluster1 configmaps cm", "cluster1 namespaces s-narrow"),
            _absent("cluster2 configmaps cm", "cluster2 namespaces s-narrow"),
        ),
    )


def _pre_existing(step: Step, name: str) -> None:
    step.apply(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": step.ns, "labels": {"origin": "member"}},
                "data": {"k": "member"},
            }
        ),
        context="cluster1",
    )


def adoption_enabled(step: Step) -> None:
    _ready_fn(step)
    _pre_existing(step, "pre")
    step.apply(_cm("pre", step.ns, {"k": "federated"}, _clusters("cluster1", "cluster2")))
    step.checkpoint(
        "adopted",
        _all(_field("cluster1 configmaps pre", "data/k", "federated"), _present("cluster2 configmaps pre")),
    )


def adoption_disabled(step: Step) -> None:
    _ready_fn(step)
    step.plane.set_adopt_resources("Disabled")
    try:
        _pre_existing(step, "pre")
        step.apply(_cm("pre", step.ns, {"k": "federated"}, _clusters("cluster1", "cluster2")))
        step.checkpoint(
            "not adopted",
            _all(
                _cluster_status("federatedconfigmaps pre", cluster1="AlreadyExists", cluster2=""),
                _field("cluster2 configmaps pre", "data/k", "federated"),
            ),
            timeout=120,
        )
    finally:
        step.plane.set_adopt_resources("Enabled")
    # KubeFed reads adoptResources only when it starts: its restarted controller-manager first waits out
    # its predecessor's leader lease
    step.checkpoint(
        "adoption enabled again",
        _all(
            _field("cluster1 configmaps pre", "data/k", "federated"),
            _cluster_status("federatedconfigmaps pre", cluster1="", cluster2=""),
        ),
        timeout=120,
    )


def managed_false(step: Step) -> None:
    _ready_fn(step)
    step.apply(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "cm", "namespace": step.ns, "labels": {"kubefed.io/managed": "false"}},
                "data": {"k": "member"},
            }
        ),
        context="cluster1",
    )
    step.apply(_cm("cm", step.ns, {"k": "federated"}, _clusters("cluster1", "cluster2")))
    step.checkpoint(
        "applied",
        _all(
            _present("cluster2 configmaps cm"),
            _field("cluster1 configmaps cm", "data/k", "member"),
            lambda snap: (
                "cluster1"
                in {
                    c["name"]
                    for c in (snap["host"].get("federatedconfigmaps cm") or {}).get("clusters") or []
                }
            ),
        ),
    )


def drift(step: Step) -> None:
    _ready_fn(step)
    step.apply(_cm("cm", step.ns, {"k": "v"}, _clusters("cluster1", "cluster2")))
    step.checkpoint("propagated", _present("cluster1 configmaps cm", "cluster2 configmaps cm"))
    patch = json.dumps({"data": {"k": "drifted", "extra": "x"}, "metadata": {"labels": {"added": "by-hand"}}})
    step.kubectl("patch", "configmap", "cm", "-n", step.ns, "--type=merge", "-p", patch, context="cluster1")
    step.kubectl("delete", "configmap", "cm", "-n", step.ns, context="cluster2")
    # KubeFed corrects drift on a delayed retry (its member informer re-queues with a delay)
    step.checkpoint(
        "after drift",
        _all(
            _field("cluster1 configmaps cm", "data/k", "v"), _field("cluster2 configmaps cm", "data/k", "v")
        ),
    )


def deletion(step: Step) -> None:
    _ready_fn(step)
    both = _clusters("cluster1", "cluster2")
    step.apply(_cm("deleted", step.ns, {"k": "v"}, both))
    step.apply(_cm("orphaned", step.ns, {"k": "v"}, both, annotations={"kubefed.io/orphan": "true"}))
    deployment = {
        "template": {
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "keep-rs"}},
                "template": {
                    "metadata": {"labels": {"app": "keep-rs"}},
                    "spec": {"containers": [{"name": "c", "image": "nginx"}]},
                },
            }
        },
        "placement": both,
    }
    step.apply(
        _fed(
            "FederatedDeployment",
            "keep-rs",
            step.ns,
            deployment,
            annotations={"kubefed.io/deleteoption": json.dumps({"propagationPolicy": "Orphan"})},
        )
    )
    step.checkpoint(
        "propagated",
        _present(
            *(
                f"{c} {what}"
                for c in ("cluster1", "cluster2")
                for what in ("configmaps deleted", "configmaps orphaned", "deployments keep-rs")
            )
        ),
    )
    for kind, name in (
        ("federatedconfigmap", "deleted"),
        ("federatedconfigmap", "orphaned"),
        ("federateddeployment", "keep-rs"),
    ):
        step.kubectl("delete", kind, name, "-n", step.ns, "--wait=false")
    step.checkpoint(
        "deleted",
        _all(
            _host_gone(
                "federatedconfigmaps deleted", "federatedconfigmaps orphaned", "federateddeployments keep-rs"
            ),
            _absent(
                "cluster1 configmaps deleted",
                "cluster2 configmaps deleted",
                "cluster1 deployments keep-rs",
                "cluster2 deployments keep-rs",
            ),
            _present("cluster1 configmaps orphaned", "cluster2 configmaps orphaned"),
            _field("cluster1 configmaps orphaned", "metadata/labels/kubefed.io~1managed", None),
        ),
        timeout=120,
    )


def offline(step: Step) -> None:
    _ready_fn(step)
    step.apply(_cm("cm", step.ns, {"k": "v1"}, _clusters("cluster1", "cluster2")))
    step.checkpoint("propagated", _present("cluster1 configmaps cm", "cluster2 configmaps cm"))
    step.plane.fleet["cluster2"].take_offline()
    try:
        # an unreachable cluster has no Ready condition at all in KubeFed (Offline=True instead)
        step.wait("cluster2 not Ready", lambda: step.cluster_ready("cluster2") is not True, timeout=150)
        step.apply(_cm("cm", step.ns, {"k": "v2"}, _clusters("cluster1", "cluster2")))
        step.checkpoint(
            "cluster2 offline, template changed",
            _all(
                _field("cluster1 configmaps cm", "data/k", "v2"),
                _cluster_status("federatedconfigmaps cm", cluster1="", cluster2="ClusterNotReady"),
            ),
            timeout=120,
        )
    finally:
        step.plane.fleet["cluster2"].bring_online()
    step.wait("cluster2 Ready", lambda: step.cluster_ready("cluster2") is True, timeout=150)
    step.checkpoint(
        "cluster2 back",
        _all(
            _field("cluster2 configmaps cm", "data/k", "v2"),
            _cluster_status("federatedconfigmaps cm", cluster1="", cluster2=""),
        ),
        timeout=120,
    )


def _rsp(step: Step, spec: dict[str, Any]) -> None:
    step.apply(
        json.dumps(
            {
                "apiVersion": "scheduling.kubefed.io/v1alpha1",
                "kind": "ReplicaSchedulingPreference",
                "metadata": {"name": "web", "namespace": step.ns},
                "spec": {"targetKind": "FederatedDeployment", **spec},
            }
        )
    )


def rsp(step: Step) -> None:
    _ready_fn(step)
    step.apply(
        _fed(
            "FederatedDeployment",
            "web",
            step.ns,
            {
                "template": {
                    "spec": {
                        "replicas": 1,
                        "selector": {"matchLabels": {"app": "web"}},
                        "template": {
                            "metadata": {"labels": {"app": "web"}},
                            "spec": {"containers": [{"name": "c", "image": "nginx"}]},
                        },
                    }
                },
                "placement": _clusters("cluster1", "cluster2"),
            },
        )
    )
    # the planners use the members' ready replicas as current and, without rebalance, keep them: both
    # planes must plan from the same state (one run planned 3/6 here and the other 4/5, from pods still
    # starting), so the RSP comes once both Deployments are ready
    step.wait(
        "the Deployments ready in both clusters",
        lambda: all(
            (
                (step.plane.fleet[c].get_object("apps", "deployments", step.ns, "web") or {}).get("status")
                or {}
            ).get("readyReplicas")
            == 1
            for c in ("cluster1", "cluster2")
        ),
    )
    _rsp(
        step,
        {
            "totalReplicas": 9,
            "rebalance": False,
            "clusters": {"cluster1": {"weight": 1}, "cluster2": {"weight": 2}},
        },
    )
    step.checkpoint("weights 1:2", _replicas("web", cluster1=3, cluster2=6))
    _rsp(
        step,
        {
            "totalReplicas": 9,
            "rebalance": False,
            "clusters": {
                "cluster1": {"weight": 1, "minReplicas": 5},
                "cluster2": {"weight": 2, "maxReplicas": 3},
            },
        },
    )
    step.checkpoint("min 5 on cluster1, max 3 on cluster2", _replicas("web", cluster1=6, cluster2=3))
    _rsp(
        step,
        {
            "totalReplicas": 12,
            "rebalance": True,
            "clusters": {"cluster1": {"weight": 3}, "cluster2": {"weight": 1}},
        },
    )
    step.checkpoint("rebalance, weights 3:1, 12 replicas", _replicas("web", cluster1=9, cluster2=3))
    # intersectWithClusterSelector narrows the RSP's clusters by the object's clusterSelector (not by its
    # clusters list): a selector that picks cluster1 and cluster2 leaves the host's weight out
    pick = f"{step.ns}-pick"
    for cluster in ("cluster1", "cluster2"):
        step.kubectl("label", "--overwrite", "kubefedcluster", cluster, "-n", NS, f"{pick}=yes")
    step.kubectl(
        "patch",
        "federateddeployment",
        "web",
        "-n",
        step.ns,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"placement": {"clusterSelector": {"matchLabels": {pick: "yes"}}}}}),
    )
    _rsp(
        step,
        {
            "totalReplicas": 12,
            "rebalance": True,
            "intersectWithClusterSelector": True,
            "clusters": {"cluster1": {"weight": 1}, "cluster2": {"weight": 1}, "host": {"weight": 1}},
        },
    )
    try:
        step.checkpoint(
            "intersectWithClusterSelector, three weighted clusters, the selector picks two",
            _replicas("web", cluster1=6, cluster2=6),
        )
    finally:
        for cluster in ("cluster1", "cluster2"):
            step.kubectl("label", "kubefedcluster", cluster, "-n", NS, f"{pick}-")


OUTSIDE = "s-outside"


def namespaced_scope(step: Step) -> None:
    """KubeFedConfig ``scope: Namespaced``: only federated objects in the KubeFed namespace are propagated
    (into that namespace of each member); one in another namespace is left alone although its namespace
    exists in every member, so propagating it would succeed."""
    step.plane.set_scope("Namespaced")
    try:
        step.apply(f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {OUTSIDE}\n")
        for cluster in ("cluster1", "cluster2"):
            step.apply(f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {OUTSIDE}\n", context=cluster)
        both = _clusters("cluster1", "cluster2")
        # the out-of-scope object first: by the time the in-scope one is propagated, a plane that wrongly
        # handled the other namespace would have propagated it too
        step.apply(_cm("outside", OUTSIDE, {"k": "v"}, both))
        step.apply(_cm("inside", step.ns, {"k": "v"}, both))
        # KubeFed's restarted controller-manager first waits out its predecessor's leader lease
        step.checkpoint(
            "Namespaced: applied",
            _all(
                _present("cluster1 configmaps inside", "cluster2 configmaps inside"),
                _absent(*(f"{c} configmaps outside ({OUTSIDE})" for c in ("host", "cluster1", "cluster2"))),
            ),
            timeout=150,
        )
        step.apply(_cm("inside", step.ns, {"k": "v2"}, _clusters("cluster1")))
        step.checkpoint(
            "Namespaced: template and placement changed",
            _all(_field("cluster1 configmaps inside", "data/k", "v2"), _absent("cluster2 configmaps inside")),
        )
        step.kubectl("delete", "federatedconfigmap", "inside", "-n", step.ns, "--wait=false")
        step.checkpoint(
            "Namespaced: deleted",
            _all(_host_gone("federatedconfigmaps inside"), _absent("cluster1 configmaps inside")),
        )
    finally:
        step.kubectl(
            "delete", "federatedconfigmap", "outside", "-n", OUTSIDE, "--ignore-not-found", "--wait=false"
        )
        step.plane.set_scope("Cluster")


def unjoin(step: Step) -> None:
    _ready_fn(step)
    step.apply(_cm("cm", step.ns, {"k": "v"}, _clusters("cluster1", "cluster2")))
    step.checkpoint("propagated", _present("cluster1 configmaps cm", "cluster2 configmaps cm"))
    step.plane.kubefedctl("unjoin", "cluster2", "--cluster-context", "cluster2")
    step.checkpoint(
        "cluster2 unjoined",
        _all(
            lambda snap: snap["host"].get("kubefedclusters cluster2") is None,
            _cluster_status("federatedconfigmaps cm", cluster1=""),
        ),
    )


NS_TYPES = (CONFIGMAPS,)
SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "sample1",
        sample1,
        "test-namespace",
        members=(
            CONFIGMAPS,
            ("", "secrets"),
            ("", "services"),
            ("", "serviceaccounts"),
            DEPLOYMENTS,
            ("batch", "jobs"),
            ("networking.k8s.io", "ingresses"),
        ),
        federated=(
            "federatedconfigmaps",
            "federatedsecrets",
            "federatedservices",
            "federatedserviceaccounts",
            "federateddeployments",
            "federatedjobs",
            "federatedingresses",
            "federatednamespaces",
        ),
        cluster_scoped=(
            ("", "namespaces", "test-namespace"),
            ("rbac.authorization.k8s.io", "clusterroles", "test-clusterrole"),
            ("rbac.authorization.k8s.io", "clusterrolebindings", "test-clusterrolebinding"),
            (FED_GROUP, "federatedclusterroles", "test-clusterrole"),
            (FED_GROUP, "federatedclusterrolebindings", "test-clusterrolebinding"),
        ),
        covers="every sample1 type with overrides; an override and the template changed",
    ),
    Scenario(
        "placement",
        placement,
        "s-placement",
        members=NS_TYPES,
        federated=("federatedconfigmaps",),
        covers="placement by clusters and by clusterSelector; a placement and a KubeFedCluster label change",
    ),
    Scenario(
        "namespace-narrowing",
        namespace_narrowing,
        "s-narrow",
        members=NS_TYPES,
        federated=("federatedconfigmaps", "federatednamespaces"),
        cluster_scoped=(("", "namespaces", "s-narrow"),),
        covers="FederatedNamespace placement narrowed under a placed FederatedConfigMap",
    ),
    Scenario(
        "adoption-enabled",
        adoption_enabled,
        "s-adopt",
        members=NS_TYPES,
        federated=("federatedconfigmaps",),
        fast=True,
        covers="a pre-existing member object with adoptResources: Enabled",
    ),
    Scenario(
        "adoption-disabled",
        adoption_disabled,
        "s-noadopt",
        members=NS_TYPES,
        federated=("federatedconfigmaps",),
        covers="a pre-existing member object with adoptResources: Disabled, then Enabled again",
    ),
    Scenario(
        "managed-false",
        managed_false,
        "s-unmanaged",
        members=NS_TYPES,
        federated=("federatedconfigmaps",),
        fast=True,
        covers="a member object labelled kubefed.io/managed=false",
    ),
    Scenario(
        "drift",
        drift,
        "s-drift",
        members=NS_TYPES,
        federated=("federatedconfigmaps",),
        fast=True,
        covers="a member object edited and another deleted by hand",
    ),
    Scenario(
        "deletion",
        deletion,
        "s-delete",
        members=(CONFIGMAPS, DEPLOYMENTS, ("apps", "replicasets")),
        federated=("federatedconfigmaps", "federateddeployments"),
        covers="deletion: plain, kubefed.io/orphan, kubefed.io/deleteoption propagationPolicy Orphan",
    ),
    Scenario(
        "rsp",
        rsp,
        "s-rsp",
        members=(DEPLOYMENTS,),
        federated=("federateddeployments",),
        fast=True,
        covers="RSP: weights, min/max, rebalance false and true, intersectWithClusterSelector",
    ),
    Scenario(
        "offline",
        offline,
        "s-offline",
        members=NS_TYPES,
        federated=("federatedconfigmaps",),
        kubefed_clusters=True,
        covers="a member going offline (template changed meanwhile) and back",
    ),
    Scenario(
        "namespaced-scope",
        namespaced_scope,
        NS,
        members=NS_TYPES,
        federated=("federatedconfigmaps",),
        also=(OUTSIDE,),
        names=("inside", "outside"),
        unwatched=(f"federatedconfigmaps outside ({OUTSIDE})",),
        covers="KubeFedConfig scope: Namespaced (both planes restarted with it): an object in the KubeFed "
        "namespace propagated, changed and deleted; one in another namespace left alone",
    ),
    Scenario(
        "unjoin",
        unjoin,
        "s-unjoin",
        members=NS_TYPES,
        federated=("federatedconfigmaps",),
        kubefed_clusters=True,
        covers="unjoin of a member with a propagated object (each plane's own kubefedctl)",
    ),
)

NOT_COVERED: dict[str, str] = {}

# Differences the harness found and that are explained; anything else fails `make compare` and CI. Event
# differences are one path per event ("/events/<Kind>/<name> <type> <reason>"); the report keeps the
# messages of each differing event as evidence. Explanations of differences that are gone (fixed in ours,
# or timing that the positive-sign settle rule no longer compares: KubeFed's availableDelay after a label
# change, its delayed deletion and adoption after a restart) were removed with the run of 2026-11-30 11:20;
# docs/compatibility.md lists the fixes.
EXPLAINED: list[Explained] = [
    Explained(
        "sample1",
        r"^/events/Federated\w+/test-[a-z]+ Warning CreateInClusterFailed$",
        "KubeFed creates sample1's namespaced objects in parallel with the namespace its FederatedNamespace "
        "creates in each member, and some creates fail first ('namespaces \"test-namespace\" not found', "
        "the messages the report keeps) and succeed on its retry; which objects fail varies by run. Ours "
        "recorded none in the same runs; member objects and host status are equal",
        "KubeFed behaviour (timing)",
        message=r'namespaces "[^"]+" not found',
    ),
    Explained(
        "rsp",
        r"^/events/FederatedDeployment/web Warning CreateInClusterFailed$",
        "a Warning CreateInClusterFailed on web by KubeFed only, in all four checkpoints of one CI run (the "
        "event stays in the namespace) and in none of four local runs, three with CPU burners; that run did "
        "not print the messages. The namespace exists in both members before web is created (the scenario "
        "waits for it), which rules out sample1's cause; KubeFed records this Warning on a healthy member "
        "when it creates an object that is already there, when a reconcile runs before its informer of the "
        "member has seen its own create: the member answers AlreadyExists, KubeFed records 'An update will "
        "be attempted instead of a creation due to an existing resource' (dispatch/managed.go) and updates "
        "instead. Only that message is explained: any other fails the comparison, which now prints the "
        "messages. Ours creates once; member objects and host status were equal",
        "KubeFed behaviour (timing)",
        message=r"An update will be attempted instead of a creation due to an existing resource",
    ),
    Explained(
        "sample1|rsp",
        r"^/events/FederatedDeployment/(test-deployment|web) (Normal UpdateInCluster|Warning "
        "UpdateInClusterFailed)$",
        "KubeFed updates the Deployment once right after creating it and may hit a write conflict with the "
        "member's deployment controller (Warning UpdateInClusterFailed, retried); ours writes it once; "
        "member "
        "objects are equal",
        "KubeFed behaviour",
    ),
    Explained(
        "rsp",
        r"^/host/federateddeployments web/observedGeneration$",
        "the same final replicas, reached with more writes of the FederatedDeployment by ours in some runs "
        "(generation 4 against 2 at the first checkpoint of one CI-subset run; equal in the full run). Both "
        "plan with the members' ready replicas as current (KubeFed clustersReplicaState), so a plan made "
        "while pods are still starting can differ from the final one: KubeFed re-plans on a member change "
        "only after its worker's 10 s retry delay (EnqueueForRetry, RetryDelay), coalescing the intermediate "
        "states; ours re-plans on each WorkloadObservation at once and may write an intermediate plan",
        "timing (ours re-plans at once)",
    ),
    Explained(
        "placement",
        r"^/events/FederatedConfigMap/by-selector Normal DeleteInCluster$",
        "ours removed by-selector from cluster1 as KubeFed did (member objects equal) but recorded no "
        "DeleteInCluster in one run: the two label changes gave two decisions in quick succession, the "
        "propagator's 'deleted' report carried the first decision's hash, and the status writer records "
        "events only for reports of the current decision; the report under the second found the object "
        "absent (no event). KubeFed records the event when it dispatches the delete. Open: events of "
        "superseded decisions' writes are not recorded",
        "difference in ours, open",
        checkpoint="placement and labels changed",
    ),
    Explained(
        "offline",
        r"^/events/FederatedNamespace/s-offline Warning ClusterNotReady$",
        "a Warning ClusterNotReady on the FederatedNamespace, which nobody changed during the outage, "
        "depends on whether a plane happens to re-check it while cluster2 is not Ready. In the run of "
        "11:20 ours recorded one and KubeFed not: our member cache relisted as cluster2 came back, before "
        "the health probe said Ready, and re-checked every object (a bug: fixed, "
        "tests/pipeline/test_faults.py). In the re-run of 11:29 KubeFed recorded one (message 'Cluster not "
        "ready') while cluster2 was offline and ours not; what made KubeFed re-check the namespace then is "
        "not "
        "identified (its re-check of every object comes unavailableDelay, 60 s, after the cluster went "
        "unavailable, later than that checkpoint). Host status (ClusterNotReady, then OK) and member "
        "objects are equal in all three checkpoints",
        "timing (KubeFed), trigger not identified",
    ),
]
