"""kubectl conformance suite: the real kubectl binary against a TLS simulator.

Covers: discovery (`api-resources`, `api-versions`, `version`), client-side and server-side
`apply`, `get -o json` with label and field selectors, `get --watch`, `patch` of every type (415 for
strategic merge on a custom resource), `label`/`annotate`, `scale`, `wait --for=condition=Available`
(kubectl 1.37 streaming-list watch), `delete` with each cascade mode, CRD create then custom
resource CRUD (short names, validation, pruning, strict field validation), namespace deletion,
`create token`-free auth errors (wrong token -> Unauthorized); `apply -f` of a `kind: List` (what
`get -o yaml` writes) of built-in objects and of Federated custom resources, validated by kubectl
through `/openapi/v2` protobuf (unknown fields refused client side); `explain` of built-in and CRD
fields (Federated types included); `create token` as a signed JWT (header, claims, JWKS signature,
audience, minimum duration, bound to a Secret, used to authenticate, rejected elsewhere and once its
Secret or service account is deleted).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim import Fleet
from sim.testing import Kubectl

pytestmark = [pytest.mark.kubectl, pytest.mark.timeout(60)]

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: nginx, image: "nginx:1.25", ports: [{containerPort: 80}]}
"""

CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd], categories: [all]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Ready, type: string, jsonPath: ".status.conditions[?(@.type=='Ready')].status"}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer}
              color: {type: string}
          status:
            type: object
            properties:
              ready: {type: boolean}
              conditions:
                type: array
                items:
                  type: object
                  properties:
                    type: {type: string}
                    status: {type: string}
"""


async def test_discovery(kubectl: Kubectl) -> None:
    out = (await kubectl.run("api-resources")).stdout
    for name in (
        "deployments",
        "configmaps",
        "customresourcedefinitions",
        "leases",
        "ingresses",
        "clusterrolebindings",
        "jobs",
        "events",
    ):
        assert name in out
    versions = (await kubectl.run("api-versions")).stdout.split()
    assert "v1" in versions and "apps/v1" in versions and "apiextensions.k8s.io/v1" in versions
    version = (await kubectl.run("version", "-o", "json")).json()
    assert version["serverVersion"]["minor"] == "37"


async def test_apply_client_side_then_server_side(kubectl: Kubectl, tls_fleet: Fleet) -> None:
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: default}\ndata: {a: '1'}\n"
    assert "created" in (await kubectl.run("apply", "-f", "-", input=manifest)).stdout
    assert (
        "configured" in (await kubectl.run("apply", "-f", "-", input=manifest.replace("'1'", "'2'"))).stdout
    )
    assert "unchanged" in (await kubectl.run("apply", "-f", "-", input=manifest.replace("'1'", "'2'"))).stdout
    obj = await kubectl.json("get", "configmap", "cfg")
    assert obj["data"] == {"a": "2"}
    assert "kubectl.kubernetes.io/last-applied-configuration" in obj["metadata"]["annotations"]
    await kubectl.run("apply", "-f", "-", input=DEPLOYMENT)
    changed = DEPLOYMENT.replace("nginx:1.25", "nginx:1.26")
    await kubectl.run("apply", "-f", "-", input=changed)
    dep = await kubectl.json("get", "deployment", "web")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26"
    assert dep["metadata"]["generation"] == 2
    ssa = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa, namespace: default}\ndata: {x: y}\n"
    assert "serverside-applied" in (await kubectl.run("apply", "--server-side", "-f", "-", input=ssa)).stdout
    await kubectl.run("apply", "--server-side", "-f", "-", input=ssa.replace("x: y", "x: z, w: v"))
    assert tls_fleet["c1"].get_object("", "configmaps", "default", "ssa")["data"] == {"x": "z", "w": "v"}
    await kubectl.run("apply", "--server-side", "-f", "-", input=ssa.replace("x: y", "w: v"))
    assert tls_fleet["c1"].get_object("", "configmaps", "default", "ssa")["data"] == {"w": "v"}


async def test_get_with_selectors(kubectl: Kubectl) -> None:
    docs = "\n---\n".join(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: "
        f"{{name: s{i}, namespace: default, labels: {{env: {env}}}}}"
        for i, env in enumerate(["prod", "dev", "prod", "test"])
    )
    await kubectl.run("apply", "-f", "-", input=docs)
    names = [o["metadata"]["name"] for o in (await kubectl.json("get", "cm", "-l", "env=prod"))["items"]]
    assert names == ["s0", "s2"]
    names = [
        o["metadata"]["name"] for o in (await kubectl.json("get", "cm", "-l", "env in (dev,test)"))["items"]
    ]
    assert names == ["s1", "s3"]
    names = [o["metadata"]["name"] for o in (await kubectl.json("get", "cm", "-l", "env!=prod,env"))["items"]]
    assert names == ["s1", "s3"]
    got = await kubectl.json("get", "cm", "--field-selector", "metadata.name=s3")
    assert [o["metadata"]["name"] for o in got["items"]] == ["s3"]
    got = await kubectl.json("get", "cm", "-A", "--field-selector", "metadata.namespace=default", "-l", "env")
    assert len(got["items"]) == 4 and got["kind"] == "List"
    res = await kubectl.run("get", "cm", "--field-selector", "data.x=1", check=False)
    assert res.returncode != 0 and '"data.x" is not a known field selector' in res.stderr


async def test_get_watch(kubectl: Kubectl, tls_fleet: Fleet) -> None:
    async def later() -> None:
        await asyncio.sleep(0.8)
        for i in range(3):
            await kubectl.run(
                "apply", "-f", "-", input=f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: w{i}}}\n"
            )

    task = asyncio.create_task(later())
    res = await kubectl.run("get", "configmaps", "--watch", "-o", "name", timeout=6, check=False)
    await task
    for i in range(3):
        assert f"configmap/w{i}" in res.stdout

    async def create_during_the_watch() -> None:
        await asyncio.sleep(1.0)
        await kubectl.run("apply", "-f", "-", input="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: w3}\n")

    task = asyncio.create_task(create_during_the_watch())
    res = await kubectl.run(
        "get", "configmaps", "--watch-only", "-o", "name", "--request-timeout=3s", timeout=7, check=False
    )
    await task
    assert "configmap/w3" in res.stdout  # the watch ran: an object created during it was seen
    assert "configmap/w0" not in res.stdout  # existing objects are not listed

    async def touch() -> None:
        await asyncio.sleep(0.8)
        await kubectl.run("label", "configmap", "w1", "x=y")

    task = asyncio.create_task(touch())
    res = await kubectl.run("get", "configmaps", "-w", timeout=4, check=False)  # server-side Table events
    await task
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["NAME", "DATA", "AGE"] and sum(1 for x in lines if x.startswith("w1 ")) == 2


async def test_patch_types(kubectl: Kubectl, tls_fleet: Fleet) -> None:
    await kubectl.run("apply", "-f", "-", input=DEPLOYMENT)
    await kubectl.run(
        "patch",
        "deployment",
        "web",
        "-p",
        '{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox"}]}}}}',
    )
    dep = await kubectl.json("get", "deployment", "web")
    assert [c["name"] for c in dep["spec"]["template"]["spec"]["containers"]] == ["sidecar", "nginx"]
    await kubectl.run(
        "patch", "deployment", "web", "--type=merge", "-p", '{"metadata":{"labels":{"tier":"fe"}}}'
    )
    await kubectl.run(
        "patch",
        "deployment",
        "web",
        "--type=json",
        "-p",
        '[{"op":"replace","path":"/spec/replicas","value":3}]',
    )
    dep = await kubectl.json("get", "deployment", "web")
    assert dep["metadata"]["labels"]["tier"] == "fe" and dep["spec"]["replicas"] == 3
    bad = await kubectl.run(
        "patch",
        "deployment",
        "web",
        "--type=json",
        "-p",
        '[{"op":"remove","path":"/spec/nothing"}]',
        check=False,
    )
    assert bad.returncode != 0
    await kubectl.run("apply", "-f", "-", input=CRD)
    await kubectl.run("wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=10s")
    await kubectl.run(
        "apply",
        "-f",
        "-",
        input="apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 1}\n",
    )
    res = await kubectl.run("patch", "widget", "w1", "-p", '{"spec":{"size":2}}', check=False)
    assert res.returncode != 0
    assert (
        "application/strategic-merge-patch+json is not supported by example.com/v1, Kind=Widget" in res.stderr
    )
    await kubectl.run("patch", "widget", "w1", "--type=merge", "-p", '{"spec":{"size":2}}')
    assert (await kubectl.json("get", "wd", "w1"))["spec"]["size"] == 2


async def test_label_annotate_scale_and_wait(kubectl: Kubectl, tls_fleet: Fleet) -> None:
    await kubectl.run("apply", "-f", "-", input=DEPLOYMENT)
    await kubectl.run("label", "deployment", "web", "team=a")
    await kubectl.run("annotate", "deployment", "web", "note=hi")
    await kubectl.run("label", "deployment", "web", "team-")
    dep = await kubectl.json("get", "deployment", "web")
    assert "team" not in dep["metadata"]["labels"] and dep["metadata"]["annotations"]["note"] == "hi"
    await kubectl.run("wait", "--for=condition=Available", "deployment/web", "--timeout=15s")
    await kubectl.run("scale", "deployment", "web", "--replicas=4")
    await kubectl.run("rollout", "status", "deployment/web", "--timeout=15s")
    dep = await kubectl.json("get", "deployment", "web")
    assert dep["status"]["availableReplicas"] == 4 and dep["status"]["readyReplicas"] == 4
    pods = await kubectl.json("get", "pods", "-l", "app=web")
    assert len(pods["items"]) == 4 and all(p["status"]["phase"] == "Running" for p in pods["items"])
    await kubectl.run("scale", "deployment", "web", "--replicas=1")
    c1 = tls_fleet["c1"]
    await c1.wait_for(lambda c: len(c.list_objects("", "pods", "default")) == 1)


async def test_delete_cascade_modes(kubectl: Kubectl, tls_fleet: Fleet) -> None:
    c1 = tls_fleet["c1"]
    await kubectl.run("apply", "-f", "-", input=DEPLOYMENT)
    await kubectl.run("wait", "--for=condition=Available", "deployment/web", "--timeout=15s")
    await kubectl.run("delete", "deployment", "web", "--cascade=orphan")
    rs = c1.list_objects("apps", "replicasets", "default")
    assert len(rs) == 1 and not rs[0]["metadata"].get("ownerReferences")
    rs_name = rs[0]["metadata"]["name"]
    await kubectl.run("delete", "replicaset", rs_name, "--cascade=foreground")
    assert c1.list_objects("", "pods", "default") == []
    await kubectl.run("apply", "-f", "-", input=DEPLOYMENT)
    await kubectl.run("wait", "--for=condition=Available", "deployment/web", "--timeout=15s")
    await kubectl.run("delete", "deployment", "web")
    await c1.wait_for(
        lambda c: (
            not c.list_objects("", "pods", "default") and not c.list_objects("apps", "replicasets", "default")
        )
    )
    res = await kubectl.run("get", "deployment", "web", check=False)
    assert res.returncode != 0 and 'deployments.apps "web" not found' in res.stderr


async def test_crd_and_custom_resource_crud(kubectl: Kubectl, tls_fleet: Fleet) -> None:
    await kubectl.run("apply", "-f", "-", input=CRD)
    await kubectl.run("wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=10s")
    assert "widgets" in (await kubectl.run("api-resources", "--api-group=example.com")).stdout
    cr = (
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1, labels: {a: b}}\nspec: {size: 3, "
        "color: red}\n"
    )
    await kubectl.run("apply", "-f", "-", input=cr)
    got = await kubectl.json("get", "widgets.example.com", "w1")
    assert got["spec"] == {"size": 3, "color": "red"} and got["metadata"]["generation"] == 1
    await kubectl.run("apply", "-f", "-", input=cr.replace("size: 3", "size: 4"))
    got = await kubectl.json("get", "wd", "-l", "a=b")
    assert got["items"][0]["spec"]["size"] == 4 and got["items"][0]["metadata"]["generation"] == 2
    await kubectl.run(
        "patch",
        "widget",
        "w1",
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status":{"conditions":[{"type":"Ready","status":"True"}]}}',
    )
    assert (await kubectl.json("get", "wd", "w1"))["metadata"]["generation"] == 2
    table = (await kubectl.run("get", "widgets")).stdout.splitlines()
    assert table[0].split() == ["NAME", "SIZE", "READY", "AGE"] and table[1].split()[:3] == [
        "w1",
        "4",
        "True",
    ]
    bad = await kubectl.run(
        "apply", "-f", "-", input=cr.replace("size: 3", "size: big").replace("w1", "w2"), check=False
    )
    assert bad.returncode != 0 and "spec.size" in bad.stderr
    unknown = await kubectl.run(
        "apply",
        "-f",
        "-",
        input=cr.replace("color: red", "color: red, extra: 1").replace("w1", "w3"),
        check=False,
    )
    assert unknown.returncode != 0 and 'unknown field "spec.extra"' in unknown.stderr
    warned = await kubectl.run(
        "apply",
        "--validate=warn",
        "-f",
        "-",
        input=cr.replace("color: red", "color: red, extra: 1").replace("w1", "w5"),
    )
    assert 'Warning: unknown field "spec.extra"' in warned.stderr
    await kubectl.run(
        "apply",
        "--validate=false",
        "-f",
        "-",
        input=cr.replace("color: red", "color: red, extra: 1").replace("w1", "w4"),
    )
    assert "extra" not in (await kubectl.json("get", "wd", "w4"))["spec"]
    await kubectl.run("delete", "widget", "w4")
    await kubectl.run("delete", "crd", "widgets.example.com")
    await tls_fleet["c1"].wait_for(
        lambda c: (
            c.get_object("apiextensions.k8s.io", "customresourcedefinitions", None, "widgets.example.com")
            is None
        )
    )
    fresh = Kubectl(kubectl.kubeconfig, context="c1")
    res = await fresh.run("get", "widgets", check=False)
    assert res.returncode != 0


async def test_namespace_deletion(kubectl: Kubectl, tls_fleet: Fleet) -> None:
    await kubectl.run("apply", "-f", "-", input="apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n")
    await kubectl.run("apply", "-f", "-", input=DEPLOYMENT.replace("namespace: default", "namespace: team"))
    await kubectl.run(
        "apply",
        "-n",
        "team",
        "-f",
        "-",
        input="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, finalizers: [example.com/hold]}\n",
    )
    await tls_fleet["c1"].wait_for(lambda c: c.get_object("", "serviceaccounts", "team", "default"))

    async def release() -> None:
        await tls_fleet["c1"].wait_for(
            lambda c: c.get_object("", "namespaces", None, "team")["metadata"].get("deletionTimestamp")
        )
        await asyncio.sleep(0.2)
        ns = await kubectl.json("get", "namespace", "team")
        assert ns["status"]["phase"] == "Terminating"
        await kubectl.run(
            "patch",
            "configmap",
            "x",
            "-n",
            "team",
            "--type=merge",
            "-p",
            json.dumps({"metadata": {"finalizers": None}}),
        )

    task = asyncio.create_task(release())
    await kubectl.run("delete", "namespace", "team", "--timeout=20s")
    await task
    res = await kubectl.run("get", "namespace", "team", check=False)
    assert 'namespaces "team" not found' in res.stderr
    res = await kubectl.run("delete", "namespace", "default", check=False)
    assert "forbidden" in res.stderr


async def test_wrong_token_is_unauthorized(tls_fleet: Fleet, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = yaml.safe_load(tls_fleet.kubeconfig_path.read_text())
    for u in cfg["users"]:
        u["user"]["token"] = "wrong"
    bad = tmp_path / "bad-kubeconfig"
    bad.write_text(yaml.safe_dump(cfg))
    res = await Kubectl(bad, tmp_path / "c2", context="c1").run("get", "pods", check=False)
    assert res.returncode != 0 and "You must be logged in to the server" in res.stderr


async def test_generator_commands_send_protobuf(kubectl: Kubectl, tls_fleet: Fleet) -> None:
    await kubectl.run("create", "namespace", "gen")
    await kubectl.run("create", "configmap", "cm", "-n", "gen", "--from-literal=a=b")
    await kubectl.run("create", "secret", "generic", "s", "-n", "gen", "--from-literal=p=q")
    await kubectl.run("create", "serviceaccount", "bot", "-n", "gen")
    token = (await kubectl.run("create", "token", "bot", "-n", "gen")).stdout.strip()
    assert tls_fleet["c1"].check_token(token)
    c1 = tls_fleet["c1"]
    assert c1.get_object("", "configmaps", "gen", "cm")["data"] == {"a": "b"}
    secret = c1.get_object("", "secrets", "gen", "s")
    assert secret["data"] == {"p": "cQ=="} and secret["type"] == "Opaque"
    res = await kubectl.run("create", "deployment", "d", "--image=x", check=False)
    assert res.returncode != 0 and "unknown format" in res.stderr


async def test_table_output_describe_and_diff(kubectl: Kubectl) -> None:
    await kubectl.run("apply", "-f", "-", input=DEPLOYMENT)
    await kubectl.run("wait", "--for=condition=Available", "deployment/web", "--timeout=15s")
    out = (await kubectl.run("get", "deployments")).stdout.splitlines()
    assert out[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert out[1].split()[:4] == ["web", "2/2", "2", "2"]
    out = (await kubectl.run("get", "pods", "-o", "wide")).stdout.splitlines()
    assert out[0].split() == [
        "NAME",
        "READY",
        "STATUS",
        "RESTARTS",
        "AGE",
        "IP",
        "NODE",
        "NOMINATED",
        "NODE",
        "READINESS",
        "GATES",
    ]
    assert all(" Running " in line for line in out[1:]) and len(out) == 3
    described = (await kubectl.run("describe", "deployment", "web")).stdout
    assert "Replicas:" in described and "web" in described
    res = await kubectl.run(
        "diff", "-f", "-", input=DEPLOYMENT.replace("replicas: 2", "replicas: 5"), check=False
    )
    assert res.returncode == 1 and "replicas: 5" in res.stdout
    assert (await kubectl.json("get", "deployment", "web"))["spec"]["replicas"] == 2


# ---- issue #11 (4): a List through /openapi/v2, explain, TokenRequest JWTs ------------------------
FEDERATED_CRDS = Path(__file__).resolve().parents[2] / "deploy" / "crds" / "types.kubefed.io.yaml"


def _edit_list(dumped: str, edit: Any) -> str:
    doc = yaml.safe_load(dumped)
    assert doc["kind"] == "List" and doc["items"]
    doc["items"] = [i for i in doc["items"] if i["metadata"]["name"] != "kube-root-ca.crt"]
    for item in doc["items"]:
        edit(item)
    return yaml.safe_dump(doc)


async def test_apply_a_list_of_builtin_objects(kubectl: Kubectl) -> None:
    await kubectl.run("create", "namespace", "backup")
    await kubectl.run(
        "apply",
        "-n",
        "backup",
        "-f",
        "-",
        input=DEPLOYMENT.replace("namespace: default", "namespace: backup")
        + "---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
        "spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}\n"
        + "".join(
            f"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm{i}}}\ndata: {{k: v{i}}}\n"
            for i in range(2)
        ),
    )
    await kubectl.run("wait", "-n", "backup", "--for=condition=Available", "deployment/web", "--timeout=15s")
    dumped = (
        await kubectl.run("get", "configmaps,deployments,services", "-n", "backup", "-o", "yaml")
    ).stdout

    def edit(item: dict[str, Any]) -> None:
        if item["kind"] == "ConfigMap":
            item["data"]["k"] += "-restored"

    # kubectl validates every item of a List against GET /openapi/v2 (protobuf) before applying
    applied = await kubectl.run("apply", "-f", "-", input=_edit_list(dumped, edit))
    assert "configmap/cm0 configured" in applied.stdout and "deployment.apps/web" in applied.stdout
    assert (await kubectl.json("get", "configmap", "cm1", "-n", "backup"))["data"] == {"k": "v1-restored"}
    bad = _edit_list(
        dumped, lambda item: item.update(dta={"x": "y"}) if item["kind"] == "ConfigMap" else None
    )
    refused = await kubectl.run("apply", "-f", "-", input=bad, check=False)
    assert refused.returncode != 0
    assert 'unknown field "dta" in io.k8s.api.core.v1.ConfigMap' in refused.stderr, refused.stderr


async def test_apply_a_list_of_federated_custom_resources(kubectl: Kubectl) -> None:
    await kubectl.run("apply", "-f", str(FEDERATED_CRDS))
    await kubectl.run(
        "wait", "--for=condition=Established", "crd/federatedconfigmaps.types.kubefed.io", "--timeout=10s"
    )
    await kubectl.run("create", "namespace", "x")
    for i in range(2):
        await kubectl.run(
            "apply",
            "-n",
            "x",
            "-f",
            "-",
            input=(
                "apiVersion: types.kubefed.io/v1beta1\nkind: FederatedConfigMap\nmetadata: "
                f"{{name: fcm{i}}}\nspec:\n  template: {{data: {{k: v{i}}}}}\n  placement: "
                "{clusters: [{name: c1}]}\n"
            ),
        )
    dumped = (await kubectl.run("get", "federatedconfigmaps", "-n", "x", "-o", "yaml")).stdout

    def edit(item: dict[str, Any]) -> None:
        item["spec"]["placement"]["clusters"].append({"name": "c2"})

    applied = await kubectl.run("apply", "-f", "-", input=_edit_list(dumped, edit))
    assert "federatedconfigmap.types.kubefed.io/fcm1 configured" in applied.stdout
    got = await kubectl.json("get", "federatedconfigmap", "fcm0", "-n", "x")
    assert got["spec"]["placement"]["clusters"] == [{"name": "c1"}, {"name": "c2"}]
    bad = _edit_list(dumped, lambda item: item["spec"].update(placemnt={}))
    refused = await kubectl.run("apply", "-f", "-", input=bad, check=False)
    assert refused.returncode != 0 and 'unknown field "placemnt"' in refused.stderr, refused.stderr


async def test_explain_builtin_and_custom_resource_fields(kubectl: Kubectl) -> None:
    data = (await kubectl.run("explain", "configmap.data")).stdout
    assert "KIND:       ConfigMap" in data and "FIELD: data <map[string]string>" in data
    assert "Data contains the configuration data." in data
    replicas = (await kubectl.run("explain", "deployments.spec.replicas", "--api-version=apps/v1")).stdout
    assert "GROUP:      apps" in replicas and "<integer>" in replicas
    await kubectl.run("apply", "-f", str(FEDERATED_CRDS))
    await kubectl.run(
        "wait", "--for=condition=Established", "crd/federateddeployments.types.kubefed.io", "--timeout=10s"
    )
    placement = (await kubectl.run("explain", "federateddeployment.spec.placement")).stdout
    assert "KIND:       FederatedDeployment" in placement and "FIELD: placement <Object>" in placement
    assert "clusterSelector\t<Object>" in placement and "clusters\t<[]Object>" in placement
    await kubectl.run("apply", "-f", "-", input=CRD)
    await kubectl.run("wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=10s")
    size = (await kubectl.run("explain", "widget.spec.size")).stdout
    assert "FIELD: size <integer>" in size
    meta = (await kubectl.run("explain", "widget.metadata.labels")).stdout
    assert "<map[string]string>" in meta


async def test_create_token_is_a_signed_jwt(kubectl: Kubectl, tls_fleet: Fleet, tmp_path: Path) -> None:
    import jwt

    c1 = tls_fleet["c1"]
    await kubectl.run("create", "serviceaccount", "bot", "-n", "default")
    token = (await kubectl.run("create", "token", "bot", "-n", "default", "--duration=1h")).stdout.strip()
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256" and header["kid"]
    config = json.loads((await kubectl.run("get", "--raw", "/.well-known/openid-configuration")).stdout)
    jwks = json.loads((await kubectl.run("get", "--raw", "/openid/v1/jwks")).stdout)
    (jwk,) = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    claims = jwt.decode(
        token,
        jwt.PyJWK(jwk).key,
        algorithms=["RS256"],
        audience="https://kubernetes.default.svc.cluster.local",
        issuer=config["issuer"],
    )
    sa = c1.get_object("", "serviceaccounts", "default", "bot")
    assert sa is not None and claims["sub"] == "system:serviceaccount:default:bot"
    assert claims["kubernetes.io"] == {
        "namespace": "default",
        "serviceaccount": {"name": "bot", "uid": sa["metadata"]["uid"]},
    }
    assert claims["exp"] - claims["iat"] == 3600 and claims["nbf"] == claims["iat"] and claims["jti"]
    # the token authenticates (as the service account) at the cluster that signed it, and only while
    # its service account exists; a token for another audience does not authenticate
    kubeconfig = yaml.safe_load(tls_fleet.kubeconfig_path.read_text())
    kubeconfig["users"] = [{"name": u["name"], "user": {"token": token}} for u in kubeconfig["users"]]
    as_bot = tmp_path / "bot-kubeconfig"
    as_bot.write_text(yaml.safe_dump(kubeconfig))
    bot = Kubectl(as_bot, tmp_path / "bot-cache", context="c1")
    assert (await bot.run("get", "configmaps", "-n", "default", "-o", "name")).returncode == 0
    assert c1.identify(token) == (
        "system:serviceaccount:default:bot",
        ("system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"),
    )
    elsewhere = await bot.run("get", "configmaps", context="host", check=False)
    assert "You must be logged in to the server" in elsewhere.stderr
    vault = (await kubectl.run("create", "token", "bot", "--audience=vault")).stdout.strip()
    assert jwt.decode(vault, options={"verify_signature": False})["aud"] == ["vault"]
    assert not c1.check_token(vault)
    short = await kubectl.run("create", "token", "bot", "--duration=5m", check=False)
    assert (
        "spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes"
        in short.stderr
    )
    await kubectl.run("create", "secret", "generic", "anchor")
    anchored = (
        await kubectl.run(
            "create", "token", "bot", "--bound-object-kind=Secret", "--bound-object-name=anchor"
        )
    ).stdout.strip()
    secret = c1.get_object("", "secrets", "default", "anchor")
    assert secret is not None and jwt.decode(anchored, options={"verify_signature": False})["kubernetes.io"][
        "secret"
    ] == {"name": "anchor", "uid": secret["metadata"]["uid"]}
    assert c1.check_token(anchored)
    await kubectl.run("delete", "secret", "anchor")
    assert not c1.check_token(anchored) and c1.check_token(token)
    await kubectl.run("delete", "serviceaccount", "bot", "-n", "default")
    await c1.wait_for(lambda c: not c.check_token(token))
    gone = await bot.run("get", "configmaps", check=False)
    assert "You must be logged in to the server" in gone.stderr
