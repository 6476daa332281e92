"""RBAC enforcement (``run_fleet(rbac=True)``): the pure authorizer of sim/_rbac.py, and kubectl with a
service-account token against an enforcing simulator (403 messages as kube-apiserver words them,
``kubectl auth can-i`` answered from the stored RBAC, the admin token bypassing it all)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim import run_fleet
from sim._rbac import (
    CLUSTERROLEBINDINGS,
    CLUSTERROLES,
    ROLEBINDINGS,
    ROLES,
    Attributes,
    authorize,
    forbidden,
    request_verb,
    service_account_user,
)
from sim.testing import Kubectl

pytestmark = pytest.mark.timeout(60)

RBAC = "rbac.authorization.k8s.io"


class Source:
    """A stand-in for the store: RBAC objects by (group, plural) → {(ns, name): obj}."""

    def __init__(self, *objs: dict[str, Any]) -> None:
        kinds = {
            "Role": ROLES,
            "ClusterRole": CLUSTERROLES,
            "RoleBinding": ROLEBINDINGS,
            "ClusterRoleBinding": CLUSTERROLEBINDINGS,
        }
        self.data: dict[tuple[str, str], dict[tuple[str, str], dict[str, Any]]] = {}
        for o in objs:
            meta = o["metadata"]
            self.data.setdefault(kinds[o["kind"]], {})[(meta.get("namespace", ""), meta["name"])] = o

    def iter_objects(self, gp: tuple[str, str], ns: str | None = None) -> Iterator[dict[str, Any]]:
        for (ons, _), o in (self.data.get(gp) or {}).items():
            if ns is None or ons == ns:
                yield o

    def peek(self, gp: tuple[str, str], ns: str, name: str) -> dict[str, Any] | None:
        return (self.data.get(gp) or {}).get((ns, name))


def role(name: str, rules: list[dict[str, Any]], ns: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if ns:
        meta["namespace"] = ns
    return {"kind": "Role" if ns else "ClusterRole", "metadata": meta, "rules": rules}


def binding(
    name: str, ref_kind: str, ref: str, subjects: list[dict[str, Any]], ns: str | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if ns:
        meta["namespace"] = ns
    return {
        "kind": "RoleBinding" if ns else "ClusterRoleBinding",
        "metadata": meta,
        "roleRef": {"apiGroup": RBAC, "kind": ref_kind, "name": ref},
        "subjects": subjects,
    }


SA = {"kind": "ServiceAccount", "name": "app", "namespace": "team"}
USER, GROUPS = service_account_user("team", "app")


def req(
    verb: str,
    resource: str = "",
    group: str = "",
    ns: str = "",
    name: str = "",
    sub: str = "",
    path: str | None = None,
    user: str = USER,
    groups: tuple[str, ...] = GROUPS,
) -> Attributes:
    return Attributes(user, groups, verb, group, resource, sub, ns, name, path)


# ---- the pure authorizer -------------------------------------------------------------------------
def test_service_account_identity_and_request_verbs() -> None:
    assert USER == "system:serviceaccount:team:app"
    assert GROUPS == ("system:serviceaccounts", "system:serviceaccounts:team", "system:authenticated")
    assert [
        request_verb("GET", True, False),
        request_verb("GET", False, False),
        request_verb("GET", False, True),
        request_verb("POST", False, False),
        request_verb("PUT", True, False),
        request_verb("PATCH", True, False),
        request_verb("DELETE", True, False),
        request_verb("DELETE", False, False),
    ] == ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]


def test_nothing_bound_denies_everything_but_discovery() -> None:
    src = Source()
    assert not authorize(src, req("get", "configmaps", ns="team", name="x"))
    assert not authorize(src, req("list", "namespaces"))
    for path in ("/api", "/api/v1", "/apis", "/apis/apps/v1", "/openapi/v3", "/version", "/healthz"):
        assert authorize(src, req("get", path=path)), path
    assert not authorize(src, req("post", path="/api"))
    assert not authorize(src, req("get", path="/metrics"))
    assert authorize(src, req("create", "selfsubjectaccessreviews", "authorization.k8s.io"))
    # discovery is for authenticated users only
    assert not authorize(src, req("get", path="/api", groups=()))


def test_role_binding_grants_only_in_its_namespace() -> None:
    src = Source(
        role("cm", [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}], "team"),
        binding("cm", "Role", "cm", [SA], "team"),
    )
    assert authorize(src, req("get", "configmaps", ns="team", name="x"))
    assert authorize(src, req("list", "configmaps", ns="team"))
    assert not authorize(src, req("watch", "configmaps", ns="team"))
    assert not authorize(src, req("get", "configmaps", ns="other", name="x"))
    assert not authorize(src, req("list", "configmaps"))  # all namespaces
    assert not authorize(src, req("get", "configmaps", "apps", ns="team", name="x"))  # other group
    assert not authorize(
        src, req("get", "configmaps", ns="team", name="x", user="system:serviceaccount:team:other")
    )


def test_role_binding_to_a_cluster_role_and_cluster_role_binding() -> None:
    rules = [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]}]
    src = Source(role("read-deploy", rules), binding("rb", "ClusterRole", "read-deploy", [SA], "team"))
    assert authorize(src, req("get", "deployments", "apps", ns="team", name="d"))
    assert not authorize(src, req("get", "deployments", "apps", ns="prod", name="d"))
    src = Source(role("read-deploy", rules), binding("crb", "ClusterRole", "read-deploy", [SA]))
    assert authorize(src, req("get", "deployments", "apps", ns="prod", name="d"))
    # a RoleBinding cannot name a Role of another namespace, nor a ClusterRoleBinding a Role
    src = Source(
        role("r", rules, "other"), binding("rb", "Role", "r", [SA], "team"), binding("crb", "Role", "r", [SA])
    )
    assert not authorize(src, req("get", "deployments", "apps", ns="team", name="d"))
    assert not authorize(src, req("get", "deployments", "apps", ns="other", name="d"))


def test_subjects_users_groups_and_defaulted_namespace() -> None:
    rules = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]
    for subject in (
        {"kind": "User", "name": USER},
        {"kind": "Group", "name": "system:serviceaccounts:team"},
        {"kind": "Group", "name": "system:authenticated"},
        {"kind": "ServiceAccount", "name": "app"},
    ):
        src = Source(role("p", rules, "team"), binding("p", "Role", "p", [subject], "team"))
        assert authorize(src, req("list", "pods", ns="team")), subject
    src = Source(
        role("p", rules),
        binding("p", "ClusterRole", "p", [{"kind": "Group", "name": "system:serviceaccounts:x"}]),
    )
    assert not authorize(src, req("list", "pods", ns="team"))


def test_wildcards_subresources_and_resource_names() -> None:
    src = Source(
        role(
            "r",
            [
                {"apiGroups": ["*"], "resources": ["*/status"], "verbs": ["update"]},
                {"apiGroups": ["types.kubefed.io"], "resources": ["federatedconfigmaps"], "verbs": ["*"]},
                {
                    "apiGroups": [""],
                    "resources": ["secrets"],
                    "resourceNames": ["member-token"],
                    "verbs": ["get", "list"],
                },
                {"apiGroups": ["batch"], "resources": ["*"], "verbs": ["get"]},
            ],
        ),
        binding("r", "ClusterRole", "r", [SA]),
    )
    assert authorize(src, req("update", "federateddeployments", "types.kubefed.io", "team", "d", "status"))
    assert authorize(src, req("update", "pods", "", "team", "p", "status"))
    assert not authorize(src, req("update", "federateddeployments", "types.kubefed.io", "team", "d"))
    # a resource rule does not cover the resource's subresources
    assert not authorize(src, req("update", "federatedconfigmaps", "types.kubefed.io", "team", "c", "scale"))
    assert authorize(src, req("deletecollection", "federatedconfigmaps", "types.kubefed.io", "team"))
    assert authorize(src, req("get", "secrets", ns="x", name="member-token"))
    assert not authorize(src, req("get", "secrets", ns="x", name="other"))
    assert not authorize(src, req("list", "secrets", ns="x"))  # a named rule never matches a list
    assert authorize(src, req("get", "jobs", "batch", "x", "j"))
    assert authorize(src, req("get", "jobs", "batch", "x", "j", "status"))  # "*" covers subresources too


def test_non_resource_urls() -> None:
    src = Source(
        role("m", [{"verbs": ["get"], "nonResourceURLs": ["/metrics", "/logs/*"]}]),
        binding("m", "ClusterRole", "m", [SA]),
    )
    assert authorize(src, req("get", path="/metrics"))
    assert authorize(src, req("get", path="/logs/kubelet.log"))
    assert not authorize(src, req("get", path="/metrics/extra"))
    assert not authorize(src, req("post", path="/metrics"))
    # a non-resource rule never grants resources
    assert not authorize(src, req("get", "configmaps", ns="team", name="x"))


def test_forbidden_messages_follow_kube_apiserver() -> None:
    e = forbidden(req("get", "configmaps", ns="team", name="x"))
    assert (e.code, e.reason) == (403, "Forbidden")
    assert e.message == (
        'configmaps "x" is forbidden: User "system:serviceaccount:team:app" cannot get resource '
        '"configmaps" in API group "" in the namespace "team"'
    )
    assert e.status()["details"] == {"name": "x", "kind": "configmaps"}  # Go omits the empty group
    e = forbidden(req("list", "federateddeployments", "types.kubefed.io"))
    assert e.message == (
        'federateddeployments.types.kubefed.io is forbidden: User "system:serviceaccount:team:app" '
        'cannot list resource "federateddeployments" in API group "types.kubefed.io" at the cluster scope'
    )
    e = forbidden(req("update", "federateddeployments", "types.kubefed.io", "team", "d", "status"))
    assert e.message.startswith('federateddeployments.types.kubefed.io "d" is forbidden: ')
    assert e.message.endswith(
        'cannot update resource "federateddeployments/status" in API group "types.kubefed.io" '
        'in the namespace "team"'
    )
    e = forbidden(req("create", "events", ns="team"))
    assert e.message.startswith("events is forbidden: User")
    assert (
        forbidden(req("get", path="/metrics")).message
        == 'forbidden: User "system:serviceaccount:team:app" cannot get path "/metrics"'
    )


# ---- against the simulator -----------------------------------------------------------------------
def _manifests() -> list[dict[str, Any]]:
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "app", "namespace": "team"}},
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/service-account-token",
            "metadata": {
                "name": "app-token",
                "namespace": "team",
                "annotations": {"kubernetes.io/service-account.name": "app"},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": "team"},
            "data": {"a": "1"},
        },
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "Role",
            "metadata": {"name": "cm", "namespace": "team"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}],
        },
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "cm", "namespace": "team"},
            "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "cm"},
            "subjects": [{"kind": "ServiceAccount", "name": "app", "namespace": "team"}],
        },
    ]


async def test_kubectl_with_a_service_account_token(tmp_path: Path) -> None:
    async with run_fleet(["host"], tls=True, rbac=True, kubeconfig_path=tmp_path / "kubeconfig") as fleet:
        host = fleet["host"]
        admin = Kubectl(fleet.kubeconfig_path, tmp_path / "cache-admin", context="host")
        await admin.run("apply", "-f", "-", input=yaml.safe_dump_all(_manifests()))
        secret = await host.wait_for(
            lambda c: (
                (s := c.get_object("", "secrets", "team", "app-token"))
                and (s.get("data") or {}).get("token")
                and s
            )
        )
        token = base64.b64decode(secret["data"]["token"]).decode()
        config = yaml.safe_load(fleet.kubeconfig_path.read_text())
        config["users"] = [{"name": "app", "user": {"token": token}}]
        config["contexts"] = [
            {"name": "app", "context": {"cluster": "host", "user": "app", "namespace": "team"}}
        ]
        config["current-context"] = "app"
        (tmp_path / "app.kubeconfig").write_text(yaml.safe_dump(config))
        app = Kubectl(tmp_path / "app.kubeconfig", tmp_path / "cache-app", context="app")

        # allowed by the Role (discovery and /version are open to every authenticated user)
        assert (await app.json("get", "configmap", "settings"))["data"] == {"a": "1"}
        assert "settings" in (await app.run("get", "configmaps")).stdout
        assert (await app.run("version", "-o", "json")).returncode == 0
        assert host.denied == []

        # denied: the exact kube-apiserver message, and a record of it
        r = await app.run("get", "secret", "app-token", check=False)
        assert r.returncode != 0
        assert (
            'secrets "app-token" is forbidden: User "system:serviceaccount:team:app" cannot get resource '
            '"secrets" in API group "" in the namespace "team"'
        ) in r.stderr
        r = await app.run("get", "namespaces", check=False)
        assert (
            'namespaces is forbidden: User "system:serviceaccount:team:app" cannot list resource '
            '"namespaces" '
            'in API group "" at the cluster scope'
        ) in r.stderr
        r = await app.run("delete", "configmap", "settings", check=False)
        assert 'cannot delete resource "configmaps"' in r.stderr
        assert host.get_object("", "configmaps", "team", "settings") is not None
        assert [(d.user, d.verb, d.resource, d.namespace, d.name) for d in host.denied] == [
            ("system:serviceaccount:team:app", "get", "secrets", "team", "app-token"),
            ("system:serviceaccount:team:app", "list", "namespaces", "", ""),
            ("system:serviceaccount:team:app", "delete", "configmaps", "team", "settings"),
        ]

        # kubectl auth can-i is answered from the stored RBAC (SelfSubjectAccessReview)
        assert (await app.run("auth", "can-i", "list", "configmaps")).stdout.strip() == "yes"
        r = await app.run("auth", "can-i", "delete", "configmaps", check=False)
        assert r.stdout.strip() == "no"
        r = await app.run("auth", "can-i", "get", "secrets", "-n", "team", check=False)
        assert r.stdout.strip() == "no"

        # a TokenRequest token (kubectl create token) is the same service account; a plain minted token is
        # admin
        requested = (await admin.run("create", "token", "app", "-n", "team")).stdout.strip()
        assert host.check_token(requested)
        assert host.identify(requested) == service_account_user("team", "app")
        assert host.identify(host.mint_token()[0]) is None
        assert host.identify(host.admin_token) is None

        # the admin context is cluster-admin; deleting the token Secret revokes the token (401)
        assert (await admin.run("get", "secrets", "-n", "team")).returncode == 0
        await admin.run("delete", "secret", "app-token", "-n", "team")
        await host.wait_for(lambda c: not c.check_token(token))
        r = await app.run("get", "configmaps", check=False)
        assert "Unauthorized" in r.stderr or "provide credentials" in r.stderr


def test_cli_has_the_rbac_switch() -> None:
    from click.testing import CliRunner

    from sim.cli import sim_command

    res = CliRunner().invoke(sim_command, ["--help"])
    assert res.exit_code == 0 and "--rbac / --no-rbac" in res.output
