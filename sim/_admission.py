"""Per-kind defaulting and validation done synchronously inside a write, as admission does.

Only what clients read back is defaulted (Service ``type``/``clusterIP``, Deployment strategy, Pod
phase, Namespace finalizers...). Kept apart from the store so the store stays kind-agnostic.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from ._errors import invalid
from ._registry import ResourceType
from ._selectors import match_label_selector

DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation "
    "is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)


DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
    "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)


def validate_name(rt: ResourceType, name: str) -> None:
    """422 for invalid names, with the rule the real kind uses.

    Namespaces: DNS-1123 label; Services: DNS-1035 label; RBAC kinds: any path segment (so
    ``system:controller:x`` is fine); everything else: DNS-1123 subdomain.
    """
    if rt.group == "rbac.authorization.k8s.io":
        bad = [c for c in ("/", "%") if c in name]
        if name in (".", "..") or bad:
            msg = f"may not contain '{bad[0]}'" if bad else f"may not be '{name}'"
            raise invalid(rt.kind, rt.group, name, [{"reason": "FieldValueInvalid", "field": "metadata.name",
                                                     "message": f'Invalid value: "{name}": {msg}'}])
        return
    if rt.plural == "namespaces" and rt.group == "":
        ok, msg = bool(DNS1123_LABEL.match(name)) and len(name) <= 63, _LABEL_MSG
    elif rt.plural == "services" and rt.group == "":
        ok, msg = bool(DNS1035_LABEL.match(name)) and len(name) <= 63, _DNS1035_MSG
    else:
        ok, msg = bool(DNS1123_SUBDOMAIN.match(name)) and len(name) <= 253, _SUBDOMAIN_MSG
    if not ok:
        raise invalid(rt.kind, rt.group, name, [{"reason": "FieldValueInvalid", "field": "metadata.name",
                                                 "message": f'Invalid value: "{name}": {msg}'}])


class Admission:
    """Defaulting state of one cluster (service IP and node-port allocators)."""

    __slots__ = ("_next_ip", "_next_node_port")

    def __init__(self) -> None:
        self._next_ip = 10
        self._next_node_port = 30000

    def _cluster_ip(self) -> str:
        self._next_ip += 1
        return str(ipaddress.IPv4Address("10.96.0.0") + self._next_ip)

    def _node_port(self) -> int:
        self._next_node_port += 1
        return self._next_node_port

    def on_create(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        """Default and validate a new object in place."""
        fn = _CREATE.get(rt.gp)
        if fn is not None:
            fn(self, rt, obj)

    def on_update(self, rt: ResourceType, old: dict[str, Any], new: dict[str, Any]) -> None:
        """Default and validate an updated object in place (immutable fields kept)."""
        if rt.gp == ("", "services"):
            spec, ospec = new.setdefault("spec", {}), old.get("spec") or {}
            for f in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
                if f not in spec and f in ospec:
                    spec[f] = ospec[f]
            self._service_defaults(new)
        elif rt.gp == ("", "pods"):
            ospec = old.get("spec") or {}
            if "nodeName" in ospec:
                new.setdefault("spec", {}).setdefault("nodeName", ospec["nodeName"])
        elif rt.gp in _IMMUTABLE_SELECTOR:
            osel, nsel = (old.get("spec") or {}).get("selector"), (new.get("spec") or {}).get("selector")
            if osel is not None and nsel != osel:
                name = new["metadata"]["name"]
                raise invalid(rt.kind, rt.group, name, [{"reason": "FieldValueInvalid", "field": "spec.selector",
                                                          "message": f"Invalid value: {nsel!r}: field is immutable"}])
        fn = _VALIDATE.get(rt.gp)
        if fn is not None:
            fn(rt, new)

    def _service_defaults(self, obj: dict[str, Any]) -> None:
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec["type"] != "ExternalName":
            if "clusterIP" not in spec:
                spec["clusterIP"] = self._cluster_ip()
            spec.setdefault("clusterIPs", [spec["clusterIP"]] if spec["clusterIP"] != "None" else ["None"])
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
            spec.setdefault("internalTrafficPolicy", "Cluster")
        for port in spec.get("ports") or []:
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
            if spec["type"] in ("NodePort", "LoadBalancer") and "nodePort" not in port:
                port["nodePort"] = self._node_port()
        if spec["type"] in ("NodePort", "LoadBalancer"):
            spec.setdefault("externalTrafficPolicy", "Cluster")


def _namespace(adm: Admission, rt: ResourceType, obj: dict[str, Any]) -> None:
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj["status"] = {"phase": "Active"}
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]


def _service(adm: Admission, rt: ResourceType, obj: dict[str, Any]) -> None:
    adm._service_defaults(obj)
    obj["status"] = {"loadBalancer": {}}


def _pod(adm: Admission, rt: ResourceType, obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    _validate_pod_spec(rt, obj, spec, "spec")
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("securityContext", {})
    for c in spec.get("containers") or []:
        c.setdefault("imagePullPolicy", "IfNotPresent")
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        c.setdefault("resources", {})
    obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}


def _validate_pod_spec(rt: ResourceType, obj: dict[str, Any], spec: dict[str, Any], path: str) -> None:
    containers = spec.get("containers")
    if not containers:
        raise invalid(rt.kind, rt.group, obj["metadata"]["name"],
                      [{"reason": "FieldValueRequired", "field": f"{path}.containers", "message": "Required value"}])
    for i, c in enumerate(containers):
        if not isinstance(c, dict) or not c.get("name"):
            raise invalid(rt.kind, rt.group, obj["metadata"]["name"],
                          [{"reason": "FieldValueRequired", "field": f"{path}.containers[{i}].name",
                            "message": "Required value"}])


def _validate_workload(rt: ResourceType, obj: dict[str, Any]) -> None:
    spec = obj.get("spec") or {}
    name = obj["metadata"]["name"]
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    selector = spec.get("selector")
    if rt.plural == "jobs" and selector is None:
        return
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        raise invalid(rt.kind, rt.group, name, [{"reason": "FieldValueRequired", "field": "spec.selector",
                                                 "message": "Required value"}])
    if not match_label_selector(selector, labels):
        raise invalid(rt.kind, rt.group, name, [{
            "reason": "FieldValueInvalid", "field": "spec.template.metadata.labels",
            "message": f"Invalid value: {labels!r}: `selector` does not match template `labels`"}])
    _validate_pod_spec(rt, obj, template.get("spec") or {}, "spec.template.spec")


def _deployment(adm: Admission, rt: ResourceType, obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("strategy", {"type": "RollingUpdate",
                                 "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _validate_workload(rt, obj)
    obj["status"] = {}


def _replicaset(adm: Admission, rt: ResourceType, obj: dict[str, Any]) -> None:
    obj.setdefault("spec", {}).setdefault("replicas", 1)
    _validate_workload(rt, obj)
    obj["status"] = {"replicas": 0}


def _statefulset(adm: Admission, rt: ResourceType, obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
    spec.setdefault("revisionHistoryLimit", 10)
    _validate_workload(rt, obj)
    obj["status"] = {"replicas": 0, "availableReplicas": 0}


def _daemonset(adm: Admission, rt: ResourceType, obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("updateStrategy", {"type": "RollingUpdate",
                                       "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
    spec.setdefault("revisionHistoryLimit", 10)
    _validate_workload(rt, obj)
    obj["status"] = {"currentNumberScheduled": 0, "desiredNumberScheduled": 0, "numberMisscheduled": 0,
                     "numberReady": 0}


def _job(adm: Admission, rt: ResourceType, obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("completions", 1)
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    uid, name = obj["metadata"]["uid"], obj["metadata"]["name"]
    if not spec.get("selector"):
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        labels = spec.setdefault("template", {}).setdefault("metadata", {}).setdefault("labels", {})
        labels.update({"batch.kubernetes.io/controller-uid": uid, "controller-uid": uid,
                       "batch.kubernetes.io/job-name": name, "job-name": name})
    spec.setdefault("template", {}).setdefault("spec", {}).setdefault("restartPolicy", "Never")
    _validate_workload(rt, obj)
    obj["status"] = {}


def _secret(adm: Admission, rt: ResourceType, obj: dict[str, Any]) -> None:
    if not obj.get("type"):
        obj["type"] = "Opaque"


def _crd(adm: Admission, rt: ResourceType, obj: dict[str, Any]) -> None:
    validate_crd(rt, obj)
    obj["status"] = {"acceptedNames": {"kind": "", "plural": ""}, "conditions": [], "storedVersions": []}


def validate_crd(rt: ResourceType, obj: dict[str, Any]) -> None:
    spec = obj.get("spec") or {}
    name = obj["metadata"]["name"]
    names = spec.get("names") or {}
    causes = []
    if name != f"{names.get('plural')}.{spec.get('group')}":
        causes.append({"reason": "FieldValueInvalid", "field": "metadata.name",
                       "message": f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group'})
    if not names.get("kind"):
        causes.append({"reason": "FieldValueRequired", "field": "spec.names.kind", "message": "Required value"})
    versions = spec.get("versions") or []
    if sum(1 for v in versions if v.get("storage")) != 1:
        causes.append({"reason": "FieldValueInvalid", "field": "spec.versions",
                       "message": "Invalid value: []apiextensions.CustomResourceDefinitionVersion"
                                  "(nil): must have exactly one version marked as storage version"})
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append({"reason": "FieldValueNotSupported", "field": "spec.scope",
                       "message": f'Unsupported value: "{spec.get("scope")}": supported values: "Cluster", "Namespaced"'})
    if causes:
        raise invalid(rt.kind, rt.group, name, causes)


_CREATE = {
    ("", "namespaces"): _namespace,
    ("", "services"): _service,
    ("", "pods"): _pod,
    ("", "secrets"): _secret,
    ("apps", "deployments"): _deployment,
    ("apps", "replicasets"): _replicaset,
    ("apps", "statefulsets"): _statefulset,
    ("apps", "daemonsets"): _daemonset,
    ("batch", "jobs"): _job,
    ("apiextensions.k8s.io", "customresourcedefinitions"): _crd,
}
# apps/v1 made the label selector of workloads immutable (a real API server answers 422)
_IMMUTABLE_SELECTOR = frozenset({("apps", "deployments"), ("apps", "replicasets"), ("apps", "statefulsets"), ("apps", "daemonsets")})

_VALIDATE = {
    ("apps", "deployments"): _validate_workload,
    ("apps", "replicasets"): _validate_workload,
    ("apps", "statefulsets"): _validate_workload,
    ("apps", "daemonsets"): _validate_workload,
    ("apiextensions.k8s.io", "customresourcedefinitions"): validate_crd,
}
