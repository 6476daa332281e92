"""Per-kind defaulting, admission and validation done synchronously inside a write.

Defaults follow k8s.io/kubernetes ``pkg/apis/*/v1/defaults.go`` and the admission plugins a real
cluster runs on pods (ServiceAccount, DefaultTolerationSeconds, Priority), so that what a client
reads back after a write is what a real API server returns; they are applied on every create and
update, as the apiserver's decoder does. Validation returns ``causes`` (``sim._validation``) that
the store raises as one 422 together with the ObjectMeta ones. Kept apart from the store so the
store stays kind-agnostic.
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import random
from typing import Any

from ._errors import go_value, invalid
from ._registry import ResourceType
from ._selectors import match_label_selector
from ._validation import (
    Cause,
    dns1123_label,
    dns1123_subdomain,
    forbidden,
    name_rule,
    not_supported,
    qualified_name,
    required,
)
from ._validation import invalid as invalid_cause

Obj = dict[str, Any]
_GEN_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def validate_name(rt: ResourceType, name: str) -> None:
    """422 for an invalid ``metadata.name``, with the rule and messages of the real kind."""
    rule = name_rule(rt.group, rt.plural) if rt.builtin else dns1123_subdomain
    causes = [invalid_cause("metadata.name", name, m) for m in rule(name)]
    if causes:
        raise invalid(rt.kind, rt.group, name, causes)


def _image_pull_policy(image: str) -> str:
    """``Always`` for ``:latest`` or no tag, ``IfNotPresent`` otherwise (digests count as a tag)."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _container_defaults(c: Obj) -> None:
    if not isinstance(c, dict):
        return
    c.setdefault("imagePullPolicy", _image_pull_policy(str(c.get("image") or "")))
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("resources", {})
    for port in c.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for env in c.get("env") or []:
        ref = (env.get("valueFrom") or {}).get("fieldRef") if isinstance(env, dict) else None
        if isinstance(ref, dict):
            ref.setdefault("apiVersion", "v1")


def pod_spec_defaults(spec: Obj, restart_policy: bool = True) -> None:
    """``SetDefaults_PodSpec`` and its containers (pods and pod templates alike; a Job's template keeps
    no default restart policy: it must say OnFailure or Never)."""
    if restart_policy:
        spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    if spec.get("serviceAccountName") and "serviceAccount" not in spec:
        spec["serviceAccount"] = spec["serviceAccountName"]
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or []:
            _container_defaults(c)


def _template_defaults(obj: Obj, restart_policy: bool = True) -> Obj:
    spec: Obj = obj.setdefault("spec", {})
    template = spec.setdefault("template", {})
    if isinstance(template, dict):
        pod_spec_defaults(template.setdefault("spec", {}), restart_policy)
    return spec


_TOKEN_VOLUME_SECONDS = 3607


def _pod_admission(obj: Obj) -> None:
    """What the ServiceAccount, DefaultTolerationSeconds and Priority admission plugins add to a new pod."""
    spec = obj["spec"]
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    tolerations = spec.setdefault("tolerations", [])
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if not any(t.get("key") == key for t in tolerations if isinstance(t, dict)):
            tolerations.append(
                {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
            )
    if spec.get("automountServiceAccountToken") is False:
        return
    mount = "/var/run/secrets/kubernetes.io/serviceaccount"
    containers = [
        c for key in ("initContainers", "containers") for c in spec.get(key) or [] if isinstance(c, dict)
    ]
    if any(m.get("mountPath") == mount for c in containers for m in c.get("volumeMounts") or []):
        return
    name = "kube-api-access-" + "".join(random.choices(_GEN_CHARS, k=5))
    spec.setdefault("volumes", []).append(
        {
            "name": name,
            "projected": {
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": _TOKEN_VOLUME_SECONDS, "path": "token"}},
                    {
                        "configMap": {
                            "name": "kube-root-ca.crt",
                            "items": [{"key": "ca.crt", "path": "ca.crt"}],
                        }
                    },
                    {
                        "downwardAPI": {
                            "items": [
                                {
                                    "path": "namespace",
                                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                                }
                            ]
                        }
                    },
                ],
                "defaultMode": 420,
            },
        }
    )
    for c in containers:
        c.setdefault("volumeMounts", []).append({"name": name, "readOnly": True, "mountPath": mount})


# ---- validation of workloads and pods -------------------------------------------------------------------
def _pod_spec_causes(spec: Any, path: str) -> list[Cause]:
    if not isinstance(spec, dict):
        return []
    containers = spec.get("containers")
    if not containers:
        return [required(f"{path}.containers")]
    causes = []
    for i, c in enumerate(containers):
        if not isinstance(c, dict) or not c.get("name"):
            causes.append(required(f"{path}.containers[{i}].name"))
        if isinstance(c, dict) and not c.get("image"):
            causes.append(required(f"{path}.containers[{i}].image"))
    return causes


def _workload_causes(rt: ResourceType, obj: Obj) -> list[Cause]:
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    replicas = spec.get("replicas")
    if rt.plural != "daemonsets" and isinstance(replicas, int) and replicas < 0:
        causes.append(invalid_cause("spec.replicas", replicas, "must be greater than or equal to 0"))
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    selector = spec.get("selector")
    if rt.plural == "jobs":
        policy = (template.get("spec") or {}).get("restartPolicy")
        if not policy:
            causes.append(required("spec.template.spec.restartPolicy", 'valid values: "OnFailure", "Never"'))
        elif policy not in ("OnFailure", "Never"):
            causes.append(not_supported("spec.template.spec.restartPolicy", policy, ["OnFailure", "Never"]))
        return causes + _pod_spec_causes(template.get("spec"), "spec.template.spec")
    if selector is None:
        causes.append(required("spec.selector"))
    elif not (selector.get("matchLabels") or selector.get("matchExpressions")):
        causes.append(
            invalid_cause("spec.selector", selector, f"empty selector is invalid for {rt.kind.lower()}")
        )
    if not match_label_selector(selector, labels):
        causes.append(
            invalid_cause(
                "spec.template.metadata.labels", labels, "`selector` does not match template `labels`"
            )
        )
    return causes + _pod_spec_causes(template.get("spec"), "spec.template.spec")


# ---- services ---------------------------------------------------------------------------------------------
def _needs_cluster_ip(spec: Obj) -> bool:
    return spec.get("type") != "ExternalName"


def _needs_node_port(spec: Obj) -> bool:
    return spec.get("type") in ("NodePort", "LoadBalancer")


def _service_causes(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    headless = spec.get("clusterIP") == "None"
    ports = spec.get("ports") or []
    if not ports and not headless and spec.get("type") != "ExternalName":
        causes.append(required("spec.ports"))
    if spec.get("type") not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
        causes.append(
            not_supported(
                "spec.type", spec.get("type"), ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
            )
        )
    for i, port in enumerate(ports):
        path = f"spec.ports[{i}]"
        if len(ports) > 1 and not port.get("name"):
            causes.append(required(f"{path}.name"))
        number = port.get("port")
        if not isinstance(number, int) or not 1 <= number <= 65535:
            causes.append(invalid_cause(f"{path}.port", number, "must be between 1 and 65535, inclusive"))
        target = port.get("targetPort")
        if isinstance(target, int) and not 1 <= target <= 65535:
            causes.append(
                invalid_cause(f"{path}.targetPort", target, "must be between 1 and 65535, inclusive")
            )
        if spec.get("type") == "ClusterIP" and port.get("nodePort"):
            causes.append(forbidden(f"{path}.nodePort", "may not be used when `type` is 'ClusterIP'"))
    if old is not None:
        ospec = old.get("spec") or {}
        if _needs_cluster_ip(ospec) and _needs_cluster_ip(spec):
            new_ips, old_ips = spec.get("clusterIPs") or [], ospec.get("clusterIPs") or []
            if new_ips[:1] != old_ips[:1] and old_ips:
                causes.append(invalid_cause("spec.clusterIPs[0]", new_ips, "may not change once set"))
    return causes


def _service_status_causes(obj: Obj) -> list[Cause]:
    ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress")
    if ingress and (obj.get("spec") or {}).get("type") != "LoadBalancer":
        return [
            forbidden("status.loadBalancer.ingress", "may only be used when `spec.type` is 'LoadBalancer'")
        ]
    return []


def _drop_type_dependent_fields(new: Obj, old: Obj) -> None:
    """The service registry's ``dropTypeDependentFields``: what a type change no longer needs goes in the
    same update (node ports, the load-balancer status...), unless the user also changed it."""
    spec, ospec = new.setdefault("spec", {}), old.get("spec") or {}
    ports, oports = spec.get("ports") or [], ospec.get("ports") or []
    if _needs_cluster_ip(ospec) and not _needs_cluster_ip(spec):
        if spec.get("clusterIPs") == ospec.get("clusterIPs"):
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
        for f in ("ipFamilies", "ipFamilyPolicy"):
            if spec.get(f) == ospec.get(f):
                spec.pop(f, None)
    same_node_ports = [p.get("nodePort") for p in ports] == [p.get("nodePort") for p in oports]
    if _needs_node_port(ospec) and not _needs_node_port(spec) and same_node_ports:
        spec["ports"] = [{k: v for k, v in p.items() if k != "nodePort"} for p in ports]
    if ospec.get("type") == "LoadBalancer" and spec.get("type") != "LoadBalancer":
        if spec.get("allocateLoadBalancerNodePorts") == ospec.get("allocateLoadBalancerNodePorts"):
            spec.pop("allocateLoadBalancerNodePorts", None)
        if spec.get("healthCheckNodePort") == ospec.get("healthCheckNodePort"):
            spec.pop("healthCheckNodePort", None)
    if (
        _needs_node_port(ospec)
        and not _needs_node_port(spec)
        and spec.get("externalTrafficPolicy") == ospec.get("externalTrafficPolicy")
    ):
        spec.pop("externalTrafficPolicy", None)
    if spec.get("type") != "LoadBalancer":
        new["status"] = {**(new.get("status") or {}), "loadBalancer": {}}


# ---- ingresses
# ----------------------------------------------------------------------------------------------
_PATH_TYPES = ["Exact", "ImplementationSpecific", "Prefix"]


def _port_name(name: str) -> list[str]:
    errs = []
    if len(name) > 15:
        errs.append("must be no more than 15 characters")
    if not all(c.isdigit() or ("a" <= c <= "z") or c == "-" for c in name):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not any("a" <= c <= "z" for c in name):
        errs.append("must contain at least one letter (a-z)")
    if "--" in name:
        errs.append("must not contain consecutive hyphens")
    if name and (name[0] == "-" or name[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def _ingress_backend(backend: Any, path: str) -> list[Cause]:
    backend = backend if isinstance(backend, dict) else {}
    resource, service = backend.get("resource"), backend.get("service")
    if resource is not None and service is not None:
        return [invalid_cause(path, "", "cannot set both resource and service backends")]
    causes: list[Cause] = []
    if resource is not None:
        if not resource.get("kind"):
            causes.append(required(f"{path}.resource.kind"))
        if not resource.get("name"):
            causes.append(required(f"{path}.resource.name"))
        return causes
    if service is None:
        return [invalid_cause(path, "", "resource or service backend is required")]
    name = service.get("name") or ""
    if not name:
        causes.append(required(f"{path}.service.name"))
    else:
        causes += [invalid_cause(f"{path}.service.name", name, m) for m in dns1123_label(name)]
    port = service.get("port") or {}
    port_name, number = port.get("name") or "", port.get("number") or 0
    if port_name and number:
        causes.append(invalid_cause(path, "", "cannot set both port name & port number"))
    elif port_name:
        causes += [invalid_cause(f"{path}.service.port.name", port_name, m) for m in _port_name(port_name)]
    elif number:
        if not 1 <= number <= 65535:
            causes.append(
                invalid_cause(f"{path}.service.port.number", number, "must be between 1 and 65535, inclusive")
            )
    else:
        causes.append(required(path, "port name or number is required"))
    return causes


def _ingress_causes(obj: Obj) -> list[Cause]:
    """``ValidateIngressSpec`` of networking.k8s.io/v1 (what rejects the old ``serviceName`` backends)."""
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    rules = spec.get("rules") or []
    if not rules and spec.get("defaultBackend") is None:
        causes.append(
            invalid_cause("spec", spec.get("rules"), "either `defaultBackend` or `rules` must be specified")
        )
    if spec.get("defaultBackend") is not None:
        causes += _ingress_backend(spec["defaultBackend"], "spec.defaultBackend")
    for i, rule in enumerate(rules):
        rpath = f"spec.rules[{i}]"
        host = rule.get("host") or ""
        if host:
            try:
                ipaddress.ip_address(host)
                causes.append(invalid_cause(f"{rpath}.host", host, "must be a DNS name, not an IP address"))
            except ValueError:
                pass
            check = host[2:] if host.startswith("*.") else host
            causes += [invalid_cause(f"{rpath}.host", host, m) for m in dns1123_subdomain(check)]
        http = rule.get("http")
        if http is None:
            continue
        paths = http.get("paths") or []
        if not paths:
            causes.append(required(f"{rpath}.http.paths"))
        for j, p in enumerate(paths):
            ppath = f"{rpath}.http.paths[{j}]"
            path_type, value = p.get("pathType"), p.get("path") or ""
            if path_type is None:
                causes.append(required(f"{ppath}.pathType", "pathType must be specified"))
                continue
            if path_type in ("Exact", "Prefix"):
                if not value.startswith("/"):
                    causes.append(invalid_cause(f"{ppath}.path", value, "must be an absolute path"))
                for seq in ("//", "/./", "/../", "%2f", "%2F"):
                    if seq in value:
                        causes.append(invalid_cause(f"{ppath}.path", value, f"must not contain '{seq}'"))
                for suffix in ("/..", "/."):
                    if value.endswith(suffix):
                        causes.append(invalid_cause(f"{ppath}.path", value, f"cannot end with '{suffix}'"))
            elif path_type == "ImplementationSpecific":
                if value and not value.startswith("/"):
                    causes.append(invalid_cause(f"{ppath}.path", value, "must be an absolute path"))
            else:
                causes.append(not_supported(f"{ppath}.pathType", path_type, _PATH_TYPES))
            causes += _ingress_backend(p.get("backend"), f"{ppath}.backend")
    for i, tls in enumerate(spec.get("tls") or []):
        for j, host in enumerate(tls.get("hosts") or []):
            check = host[2:] if host.startswith("*.") else host
            causes += [invalid_cause(f"spec.tls[{i}].hosts[{j}]", host, m) for m in dns1123_subdomain(check)]
        if tls.get("secretName"):
            causes += [
                invalid_cause(f"spec.tls[{i}].secretName", tls["secretName"], m)
                for m in dns1123_subdomain(tls["secretName"])
            ]
    if spec.get("ingressClassName") is not None:
        causes += [
            invalid_cause("spec.ingressClassName", spec["ingressClassName"], m)
            for m in dns1123_subdomain(spec["ingressClassName"])
        ]
    return causes


# ---- the per-cluster admission
# ------------------------------------------------------------------------------
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

    def on_create(self, rt: ResourceType, obj: Obj) -> list[Cause]:
        """Default a new object in place; return its validation causes."""
        _DEFAULTS.get(rt.gp, _no_defaults)(obj)
        fn = _CREATE.get(rt.gp)
        causes = fn(self, rt, obj) if fn is not None else []
        validate = _VALIDATE.get(rt.gp)
        return causes + (validate(rt, obj) if validate is not None else [])

    def on_update(self, rt: ResourceType, old: Obj, new: Obj, subresource: str | None = None) -> list[Cause]:
        """Default an updated object in place (immutable fields kept); return its validation causes."""
        if subresource == "status":
            if rt.gp != ("", "services"):
                return []
            _ip_mode(new)
            return _service_status_causes(new)
        _DEFAULTS.get(rt.gp, _no_defaults)(new)
        causes: list[Cause] = []
        if rt.gp == ("", "services"):
            spec, ospec = new.setdefault("spec", {}), old.get("spec") or {}
            _drop_type_dependent_fields(new, old)
            if _needs_cluster_ip(spec) and _needs_cluster_ip(ospec):
                for f in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
                    if f not in spec and f in ospec:
                        spec[f] = ospec[f]
                if (
                    "clusterIP" in spec
                    and spec.get("clusterIPs", [None])[:1] != [spec["clusterIP"]]
                    and spec.get("clusterIPs") == ospec.get("clusterIPs")
                ):
                    spec["clusterIPs"] = [spec["clusterIP"]]
            self._service_defaults(new)
            causes += _service_causes(new, old)
        elif rt.gp == ("", "pods"):
            ospec = old.get("spec") or {}
            if "nodeName" in ospec:
                new.setdefault("spec", {}).setdefault("nodeName", ospec["nodeName"])
        elif rt.gp in _IMMUTABLE_SELECTOR:
            osel, nsel = (old.get("spec") or {}).get("selector"), (new.get("spec") or {}).get("selector")
            if osel is not None and nsel != osel:
                causes.append(invalid_cause("spec.selector", nsel, "field is immutable"))
        if rt.gp == ("apps", "daemonsets") and (new.get("spec") or {}).get("template") != (
            old.get("spec") or {}
        ).get("template"):
            annotations = new["metadata"]["annotations"] = dict(new["metadata"].get("annotations") or {})
            generation = int((old["metadata"].get("annotations") or {}).get(_DS_GENERATION, "1"))
            annotations[_DS_GENERATION] = str(generation + 1)
        validate = _VALIDATE.get(rt.gp)
        return causes + (validate(rt, new) if validate is not None else [])

    def _service_defaults(self, obj: Obj) -> None:
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec["type"] != "ExternalName":
            if "clusterIP" not in spec:
                spec["clusterIP"] = self._cluster_ip()
            headless = spec["clusterIP"] == "None"
            spec.setdefault("clusterIPs", [spec["clusterIP"]])
            if headless and not spec.get("selector"):
                # a headless Service without a selector gets every family the cluster could serve
                spec.setdefault("ipFamilyPolicy", "RequireDualStack")
                spec.setdefault("ipFamilies", ["IPv4", "IPv6"])
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
        if spec["type"] == "LoadBalancer":
            spec.setdefault("allocateLoadBalancerNodePorts", True)


# ---- defaults applied on every write (pkg/apis/*/v1/defaults.go) ------------------------------------------
def _no_defaults(obj: Obj) -> None:
    pass


def _service_type_defaults(obj: Obj) -> None:
    """``SetDefaults_Service`` (allocations - cluster IPs, node ports - come after validation)."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
    if spec["type"] != "ExternalName":
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if spec["type"] == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    _ip_mode(obj)


def _ip_mode(obj: Obj) -> None:
    """A LoadBalancer's addresses with an IP default to ``ipMode: VIP`` (whoever writes them)."""
    if (obj.get("spec") or {}).get("type") != "LoadBalancer":
        return
    ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if any(isinstance(i, dict) and i.get("ip") and "ipMode" not in i for i in ingress):
        obj["status"] = {
            **obj["status"],
            "loadBalancer": {
                **obj["status"]["loadBalancer"],
                "ingress": [
                    {**i, "ipMode": "VIP"} if isinstance(i, dict) and i.get("ip") and "ipMode" not in i else i
                    for i in ingress
                ],
            },
        }


def _pod_defaults(obj: Obj) -> None:
    pod_spec_defaults(obj.setdefault("spec", {}))


def _deployment_defaults(obj: Obj) -> None:
    spec = _template_defaults(obj)
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)


def _replicaset_defaults(obj: Obj) -> None:
    _template_defaults(obj).setdefault("replicas", 1)


def _statefulset_defaults(obj: Obj) -> None:
    spec = _template_defaults(obj)
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = spec.setdefault("updateStrategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("partition", 0)
        rolling.setdefault("maxUnavailable", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"})


def _daemonset_defaults(obj: Obj) -> None:
    spec = _template_defaults(obj)
    strategy = spec.setdefault("updateStrategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", 1)
        rolling.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)


def _job_defaults(obj: Obj) -> None:
    spec = _template_defaults(obj, restart_policy=False)
    spec.setdefault("parallelism", 1)
    if spec.get("completionMode", "NonIndexed") == "NonIndexed":
        spec.setdefault("completions", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("manualSelector", False)
    spec.setdefault(
        "podReplacementPolicy", "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed"
    )


def _secret_defaults(obj: Obj) -> None:
    """``stringData`` is write-only: merged into ``data`` (base64) and never stored."""
    if not obj.get("type"):
        obj["type"] = "Opaque"
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = dict(obj.get("data") or {})
        for k, v in string_data.items():
            data[k] = base64.b64encode(str(v).encode()).decode()
        obj["data"] = data
    _drop_empty(obj, "data")


def _drop_empty(obj: Obj, *fields: str) -> None:
    """Go's ``omitempty``: an empty map or list is not stored."""
    for f in fields:
        if f in obj and not obj[f]:
            del obj[f]


def _configmap_defaults(obj: Obj) -> None:
    _drop_empty(obj, "data", "binaryData")


def _endpoints_defaults(obj: Obj) -> None:
    for subset in obj.get("subsets") or []:
        for port in subset.get("ports") or []:
            port.setdefault("protocol", "TCP")


def _event_defaults(obj: Obj) -> None:
    for f in ("eventTime", "firstTimestamp", "lastTimestamp"):  # no omitempty on these
        obj.setdefault(f, None)
    obj.setdefault("reportingComponent", "")
    obj.setdefault("reportingInstance", "")
    obj.setdefault("source", {})


def _events_v1_defaults(obj: Obj) -> None:
    obj.setdefault("deprecatedFirstTimestamp", None)
    obj.setdefault("deprecatedLastTimestamp", None)
    obj.setdefault("deprecatedSource", {})


def _role_defaults(obj: Obj) -> None:
    if not obj.get("rules"):
        obj["rules"] = None  # `json:"rules"` without omitempty: an empty list reads back as null


def _binding_defaults(obj: Obj) -> None:
    for s in obj.get("subjects") or []:
        if isinstance(s, dict) and s.get("kind") in ("User", "Group"):
            s.setdefault("apiGroup", "rbac.authorization.k8s.io")


def _crd_defaults(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("conversion", {"strategy": "None"})
    names = spec.setdefault("names", {})
    if names.get("kind"):
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", names["kind"] + "List")


_DEFAULTS = {
    ("", "services"): _service_type_defaults,
    ("", "pods"): _pod_defaults,
    ("", "secrets"): _secret_defaults,
    ("", "configmaps"): _configmap_defaults,
    ("", "endpoints"): _endpoints_defaults,
    ("", "events"): _event_defaults,
    ("events.k8s.io", "events"): _events_v1_defaults,
    ("apps", "deployments"): _deployment_defaults,
    ("apps", "replicasets"): _replicaset_defaults,
    ("apps", "statefulsets"): _statefulset_defaults,
    ("apps", "daemonsets"): _daemonset_defaults,
    ("batch", "jobs"): _job_defaults,
    ("rbac.authorization.k8s.io", "roles"): _role_defaults,
    ("rbac.authorization.k8s.io", "clusterroles"): _role_defaults,
    ("rbac.authorization.k8s.io", "rolebindings"): _binding_defaults,
    ("rbac.authorization.k8s.io", "clusterrolebindings"): _binding_defaults,
    ("apiextensions.k8s.io", "customresourcedefinitions"): _crd_defaults,
}


# ---- what only a create does (allocations, status, admission plugins)
# ----------------------------------------
def _namespace(adm: Admission, rt: ResourceType, obj: Obj) -> list[Cause]:
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj["status"] = {"phase": "Active"}
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
    return []


def _service(adm: Admission, rt: ResourceType, obj: Obj) -> list[Cause]:
    causes = _service_causes(obj, None)
    if causes:
        return causes
    adm._service_defaults(obj)
    obj["status"] = {"loadBalancer": {}}
    return []


def _pod(adm: Admission, rt: ResourceType, obj: Obj) -> list[Cause]:
    causes = _pod_spec_causes(obj.get("spec"), "spec")
    if causes:
        return causes
    _pod_admission(obj)
    obj["metadata"].setdefault("generation", 1)
    obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
    return []


def _status(value: Obj) -> Any:
    def create(adm: Admission, rt: ResourceType, obj: Obj) -> list[Cause]:
        obj["status"] = copy.deepcopy(value)
        return []

    return create


_DS_GENERATION = "deprecated.daemonset.template.generation"


def _daemonset(adm: Admission, rt: ResourceType, obj: Obj) -> list[Cause]:
    obj["metadata"].setdefault("annotations", {})[_DS_GENERATION] = "1"
    obj["status"] = {
        "currentNumberScheduled": 0,
        "desiredNumberScheduled": 0,
        "numberMisscheduled": 0,
        "numberReady": 0,
    }
    return []


def _job(adm: Admission, rt: ResourceType, obj: Obj) -> list[Cause]:
    spec = obj["spec"]
    uid, name = obj["metadata"]["uid"], obj["metadata"]["name"]
    if not spec.get("selector") and not spec.get("manualSelector"):
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        generated = {
            "batch.kubernetes.io/controller-uid": uid,
            "controller-uid": uid,
            "batch.kubernetes.io/job-name": name,
            "job-name": name,
        }
        spec.setdefault("template", {}).setdefault("metadata", {}).setdefault("labels", {}).update(generated)
    if not obj["metadata"].get("labels"):  # a Job without labels takes its template's
        obj["metadata"]["labels"] = dict((spec.get("template") or {}).get("metadata", {}).get("labels") or {})
    obj["status"] = {}
    return []


def _crd(adm: Admission, rt: ResourceType, obj: Obj) -> list[Cause]:
    storage = [v.get("name") for v in (obj.get("spec") or {}).get("versions") or [] if v.get("storage")]
    obj["status"] = {
        "acceptedNames": {"kind": "", "plural": ""},
        "conditions": None,
        "storedVersions": storage[:1] or None,
    }
    return []


def validate_crd(rt: ResourceType, obj: Obj) -> list[Cause]:
    spec = obj.get("spec") or {}
    name = obj["metadata"]["name"]
    names = spec.get("names") or {}
    causes: list[Cause] = []
    if name != f"{names.get('plural')}.{spec.get('group')}":
        causes.append(invalid_cause("metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
    if not names.get("kind"):
        causes.append(required("spec.names.kind"))
    versions = spec.get("versions") or []
    if sum(1 for v in versions if v.get("storage")) != 1:
        # Go prints the internal version structs here; the simulator names the versions instead
        causes.append(
            invalid_cause(
                "spec.versions",
                [v.get("name") for v in versions],
                "must have exactly one version marked as storage version",
            )
        )
        causes.append(invalid_cause("status.storedVersions", None, "must have at least one stored version"))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(not_supported("spec.scope", spec.get("scope"), ["Cluster", "Namespaced"]))
    return causes


def _validate_workload(rt: ResourceType, obj: Obj) -> list[Cause]:
    return _workload_causes(rt, obj)


def _validate_ingress(rt: ResourceType, obj: Obj) -> list[Cause]:
    return _ingress_causes(obj)


_CREATE = {
    ("", "namespaces"): _namespace,
    ("", "services"): _service,
    ("", "pods"): _pod,
    ("apps", "deployments"): _status({}),
    ("apps", "replicasets"): _status({"replicas": 0}),
    ("apps", "statefulsets"): _status({"replicas": 0, "availableReplicas": 0}),
    ("apps", "daemonsets"): _daemonset,
    ("batch", "jobs"): _job,
    ("networking.k8s.io", "ingresses"): _status({"loadBalancer": {}}),
    ("apiextensions.k8s.io", "customresourcedefinitions"): _crd,
}
# apps/v1 made the label selector of workloads immutable (a real API server answers 422)
_IMMUTABLE_SELECTOR = frozenset(
    {("apps", "deployments"), ("apps", "replicasets"), ("apps", "statefulsets"), ("apps", "daemonsets")}
)

_VALIDATE = {
    ("apps", "deployments"): _validate_workload,
    ("apps", "replicasets"): _validate_workload,
    ("apps", "statefulsets"): _validate_workload,
    ("apps", "daemonsets"): _validate_workload,
    ("batch", "jobs"): _validate_workload,
    ("networking.k8s.io", "ingresses"): _validate_ingress,
    ("apiextensions.k8s.io", "customresourcedefinitions"): validate_crd,
}

__all__ = ["Admission", "go_value", "qualified_name", "validate_name"]
