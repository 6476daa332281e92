"""The probes of the differential conformance suite (``test_differential.py``), its normaliser, and
the differences it knows about: ``FIXED`` (found by this suite and fixed in the simulator) and
``ALLOWED`` (explained, each with its reason; mirrored in docs/simulator.md).

A probe is an async function of a :class:`Run` (one target, one fresh namespace named after the
probe). It sends requests through ``run.call(check, ...)``, which records the normalised answer under
the check's name; the runner compares the two targets' records check by check. Probes only record
what both servers must agree on: everything random (uids, resourceVersions, timestamps, generated
names, IPs) is dropped or replaced by a placeholder before it is recorded.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from sim.testing import Kubectl

JSON = "application/json"
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSONPATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"

# ---- known differences ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Allowed:
    """A difference the simulator keeps on purpose: ``path`` (glob) of ``check`` (glob) of ``probe``."""

    probe: str
    check: str
    path: str
    reason: str

    def as_json(self) -> dict[str, str]:
        return {"probe": self.probe, "check": self.check, "path": self.path, "reason": self.reason}


@dataclass(frozen=True)
class Fixed:
    """A difference this suite found and the simulator change that fixed it (the check proves it)."""

    probe: str
    check: str
    what: str
    change: str

    def as_json(self) -> dict[str, str]:
        return {"probe": self.probe, "check": self.check, "what": self.what, "change": self.change}


FIXED: list[Fixed] = [
    Fixed(
        "crud",
        "get-missing",
        "Status details carried an empty group (and name); Go omits them",
        "sim/_errors.py details()",
    ),
    Fixed(
        "crud",
        "create-no-name",
        "a 422 for a missing name carried an empty details.name",
        "sim/_errors.py details()",
    ),
    Fixed(
        "crud",
        "create-with-rv",
        "a resourceVersion on create is a 500 without a reason, not a 400",
        "sim/_store.py create(): err.internal",
    ),
    Fixed(
        "crud",
        "create-long-name",
        "a 254-character name fails on its length ('must be no more than 253 characters'), not the pattern",
        "sim/_validation.py dns1123_subdomain",
    ),
    Fixed("crud", "method-not-allowed", "405 Status has empty details", "sim/_errors.py method_not_allowed"),
    Fixed(
        "crud",
        "undecodable",
        "a malformed JSON body: the apiserver's 'object provided is unrecognized' message with Go's decoder "
        "wording",
        "sim/_http.py go_json_error",
    ),
    Fixed(
        "dry-run",
        "bad-dry-run",
        "dryRun=Some is a 422 CreateOptions.meta.k8s.io, not a real create",
        "sim/_http.py write_options",
    ),
    Fixed(
        "field-causes",
        "deployment-no-selector",
        "a missing selector also fails the template-labels match",
        "sim/_admission.py _workload_causes",
    ),
    Fixed(
        "field-causes",
        "deployment-selector-mismatch",
        'bad values are printed as JSON ({"app":"other"}), not Python reprs',
        "sim/_errors.py go_value",
    ),
    Fixed(
        "field-causes",
        "namespace-bad-name",
        "a dotted namespace name: 'must not contain dots'",
        "sim/_validation.py dns1123_label",
    ),
    Fixed(
        "field-causes",
        "negative-replicas",
        "negative replicas are a 422",
        "sim/_admission.py _workload_causes",
    ),
    Fixed(
        "field-causes",
        "service-name-starting-with-a-digit",
        "Service names are DNS-1123 labels (RelaxedServiceNameValidation), '1svc' is valid",
        "sim/_validation.py name_rule",
    ),
    Fixed(
        "selectors",
        "label-bad-syntax",
        "label-selector parse errors in apimachinery's words",
        "sim/_selectors.py _Parser (a port of labels/selector.go)",
    ),
    Fixed(
        "selectors",
        "label-bad-key",
        "an invalid selector key is reported with the label-key rule",
        "sim/_selectors.py _Parser",
    ),
    Fixed(
        "selectors",
        "label-bad-value",
        "a value with a space: \"found 'b', expected: ',' or 'end of string'\"",
        "sim/_selectors.py _Parser",
    ),
    Fixed(
        "selectors",
        "field-unsupported",
        'an unknown field selector on a kind without field labels: \'"data.k" is not a known field '
        "selector'",
        "sim/_selectors.py parse_field_selector",
    ),
    Fixed(
        "selectors",
        "label-empty",
        "every namespace holds the kube-root-ca.crt ConfigMap",
        "sim/_controllers/namespace.py _publish",
    ),
    Fixed(
        "pagination",
        "page1",
        "a chunk of an unfiltered list carries remainingItemCount",
        "sim/_store.py list()",
    ),
    Fixed(
        "pagination",
        "page3",
        "later chunks come from the first chunk's snapshot (an object created meanwhile is not listed)",
        "sim/_store.py list() and _state_at()",
    ),
    Fixed(
        "pagination",
        "bad-continue",
        "an undecodable continue token: 'invalid continue token: continue key is not valid: ...'",
        "sim/_store.py _decode_continue",
    ),
    Fixed("pagination", "bad-limit", "a bad limit: Go's strconv.ParseInt message", "sim/_http.py _list"),
    Fixed(
        "watch",
        "from-rv-selector",
        "leaving a selector is DELETED with the object as it was (at the event's resourceVersion)",
        "sim/_store.py Watcher.offer",
    ),
    Fixed(
        "watch",
        "initial-events-without-match",
        "sendInitialEvents without resourceVersionMatch=NotOlderThan is a 422 ListOptions",
        "sim/_http.py list_options",
    ),
    Fixed(
        "watch",
        "bad-rv",
        "a watch from a non-numeric resourceVersion is a 500 with strconv's message",
        "sim/_http.py _watch",
    ),
    Fixed(
        "patch",
        "json-test-fails",
        "a failing JSON patch: the one-sentence 422 with empty details",
        "sim/_patching.py json_patch",
    ),
    Fixed(
        "patch",
        "json-not-a-list",
        "'error decoding patch: json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp'",
        "sim/_patching.py json_patch",
    ),
    Fixed(
        "patch",
        "merge-a-list",
        "'error decoding patch: ...' for a merge patch that is not an object",
        "sim/_patching.py not_an_object",
    ),
    Fixed(
        "patch",
        "unknown-patch-type",
        "an unknown patch content type: '415: Unsupported Media Type'",
        "sim/_http.py _item",
    ),
    Fixed(
        "patch",
        "strategic-list-merge",
        "new items of a merged list come first, as apimachinery's mergeSortedSlice orders them",
        "sim/_patching.py _merge_list",
    ),
    Fixed(
        "patch",
        "merge-replaces-list",
        "containers of pod templates get their defaults (imagePullPolicy, terminationMessagePath...)",
        "sim/_admission.py pod_spec_defaults",
    ),
    Fixed(
        "patch",
        "strategic-finalizers",
        "finalizer names of built-in kinds must be qualified or standard",
        "sim/_validation.py object_meta",
    ),
    Fixed(
        "apply",
        "no-field-manager",
        "apply without fieldManager is a 422 PatchOptions",
        "sim/_store.py patch()",
    ),
    Fixed(
        "apply",
        "other-manager-conflict",
        "server-side apply conflicts: 409 with FieldManagerConflict causes",
        "sim/_ownership.py, sim/_store.py _apply",
    ),
    Fixed(
        "apply",
        "apply-after-update",
        "an update takes ownership of the fields it changes ('conflict with \"Python\" using v1')",
        "sim/_store.py _updated",
    ),
    Fixed(
        "apply",
        "same-value-shared",
        "applying a field another manager owns with the same value shares it",
        "sim/_store.py _apply",
    ),
    Fixed(
        "apply",
        "drop-owned-field",
        "a field dropped from an apply stays while another manager owns it",
        "sim/_store.py _apply",
    ),
    Fixed(
        "apply",
        "wrong-kind",
        "an apply body of another kind: 400 'invalid object type'",
        "sim/_store.py patch()",
    ),
    Fixed(
        "apply",
        "yaml-1.1-booleans",
        "YAML 1.1 as go-yaml reads it: an unquoted key y is true",
        "sim/_http.py _YamlLoader",
    ),
    Fixed(
        "apply",
        "deployment-create",
        "applied Deployments get pod template defaults",
        "sim/_admission.py _template_defaults",
    ),
    Fixed(
        "deletion",
        "bad-policy",
        "an unknown propagationPolicy is a 422 DeleteOptions",
        "sim/_http.py _delete_options",
    ),
    Fixed(
        "deletion",
        "both-policies",
        "orphanDependents with propagationPolicy is a 422",
        "sim/_http.py _delete_options",
    ),
    Fixed(
        "deletion",
        "precondition-uid",
        "precondition failures name the kind and say 'the UID in the precondition (...) does not match'",
        "sim/_store.py delete()",
    ),
    Fixed(
        "deletion",
        "add-finalizer-while-deleting",
        "the message lists the new finalizers ([]string{...})",
        "sim/_store.py _prepare_update",
    ),
    Fixed(
        "namespace",
        "create-in-terminating",
        "the 403 names the object being created, with its details",
        "sim/_store.py _check_namespace",
    ),
    Fixed(
        "namespace",
        "delete-default",
        "deleting a protected namespace: 403 with details",
        "sim/_store.py delete()",
    ),
    Fixed(
        "namespace",
        "finalize-path",
        "GET namespaces/x/finalize is 405 (PUT finalize is served)",
        "sim/_http.py _item",
    ),
    Fixed(
        "namespace",
        "terminating-conditions",
        "a terminating namespace reports NamespaceContentRemaining/FinalizersRemaining and the three others",
        "sim/_controllers/namespace.py _conditions",
    ),
    Fixed(
        "crd",
        "create",
        "a new CRD reads back with conversion None, names.listKind/singular, storedVersions and null "
        "conditions",
        "sim/_admission.py _crd_defaults, _crd",
    ),
    Fixed(
        "crd",
        "create-pruned",
        "unknown fields are warned about by default (fieldValidation unset means Warn)",
        "sim/_store.py _schema_check",
    ),
    Fixed(
        "crd",
        "invalid-bounds",
        "minimum/maximum: 'should be less than or equal to 10'",
        "sim/_schema.py _checks",
    ),
    Fixed(
        "crd",
        "invalid-max-items",
        "maxItems: FieldValueTooMany 'must have at most 2 items'",
        "sim/_schema.py _checks",
    ),
    Fixed(
        "crd",
        "invalid-pattern-and-length",
        "maxLength: FieldValueTooLong, and a string stops at its first failure",
        "sim/_schema.py _checks",
    ),
    Fixed(
        "crd",
        "invalid-wrong-type",
        "type errors: FieldValueTypeInvalid naming the actual type",
        "sim/_schema.py _walk",
    ),
    Fixed(
        "crd",
        "invalid-explicit-null",
        "a null for a non-nullable field is pruned, not refused",
        "sim/_schema.py _walk",
    ),
    Fixed(
        "crd",
        "invalid-int-or-string",
        "a fraction for an integer also fails the number validator's range check",
        "sim/_schema.py _walk",
    ),
    Fixed(
        "crd",
        "strict",
        "Strict: 'Widget in version \"v1\" cannot be handled as a Widget: strict decoding error: ...', "
        "sorted",
        "sim/_store.py _schema_check",
    ),
    Fixed(
        "crd",
        "bad-validation-value",
        "an unknown fieldValidation is a 422 CreateOptions",
        "sim/_http.py write_options",
    ),
    Fixed(
        "crd",
        "strategic-415",
        "strategic merge on a custom resource: the 415 without a prefix",
        "sim/_store.py patch()",
    ),
    Fixed(
        "crd",
        "cr-path-after",
        "paths of a deleted CRD's group get Go's '404 page not found'",
        "sim/_http.py page_not_found",
    ),
    Fixed(
        "crd-cluster-scoped",
        "discovery-resources",
        "custom resources list their verbs in the apiextensions order, with a storageVersionHash",
        "sim/_registry.py CR_VERBS, sim/_discovery.py storage_version_hash",
    ),
    Fixed(
        "crd-cluster-scoped",
        "namespaced-path",
        "a namespaced path of a cluster-scoped custom resource is Go's 404 page",
        "sim/_http.py _route",
    ),
    Fixed(
        "discovery",
        "resources core/v1",
        "namespaces have no deletecollection and a namespaces/finalize subresource; storageVersionHash",
        "sim/_registry.py, sim/_discovery.py",
    ),
    Fixed(
        "discovery",
        "resources apiextensions.k8s.io/v1",
        "CRDs are in the api-extensions category; hashes of kinds stored under another version",
        "sim/_registry.py, sim/_discovery.py _STORED_AS",
    ),
    Fixed(
        "discovery",
        "unknown-group",
        "an unknown API group is Go's '404 page not found', not a Status",
        "sim/_http.py page_not_found",
    ),
    Fixed(
        "table",
        "deployments",
        "server-side Tables carry the wide columns (Containers, Images, Selector)",
        "sim/_tables.py",
    ),
    Fixed("table", "services", "Service tables have the Selector column", "sim/_tables.py _svc_cells"),
    Fixed(
        "table",
        "secrets",
        "stringData is merged into data (the Data count)",
        "sim/_admission.py _secret_defaults",
    ),
    Fixed("table", "configmaps", "Data columns are typed string", "sim/_tables.py"),
    Fixed(
        "table",
        "roles-columns",
        "kinds without a printer get the default table (Name, Created At)",
        "sim/_tables.py _DEFAULT",
    ),
    Fixed(
        "table",
        "crd-columns",
        "CRDs get the apiextensions table (Scope, Versions, Established...)",
        "sim/_tables.py _crd_cells",
    ),
    Fixed("table", "events-columns", "Events get the event printer's columns", "sim/_tables.py _event_cells"),
    Fixed("table", "pods-columns", "pods: Nominated Node and Readiness Gates", "sim/_tables.py _pod_cells"),
    Fixed(
        "table",
        "ingresses-columns",
        "Ingresses: Class, Hosts, Address, Ports",
        "sim/_tables.py _ingress_cells",
    ),
    Fixed("table", "nodes-columns", "nodes: the wide node columns", "sim/_tables.py _node_cells"),
    Fixed(
        "openapi",
        "v2 io.k8s.api.core.v1.Container",
        "built-in schemas lacked their enums",
        "sim/openapi-v1.37.json cut from the real v1.37.2 document (sim/_openapi_source.py)",
    ),
    Fixed(
        "kubectl",
        "explain pod.spec.containers.imagePullPolicy",
        "kubectl explain printed no ENUM and no 'Possible enum values'",
        "sim/openapi-v1.37.json",
    ),
    Fixed(
        "kubectl",
        "apply List again",
        "re-applying a Secret with stringData reports configured (stringData is write-only)",
        "sim/_admission.py _secret_defaults",
    ),
    Fixed(
        "kubectl",
        "get deployment wide",
        "kubectl get -o wide showed no CONTAINERS/IMAGES/SELECTOR",
        "sim/_tables.py",
    ),
    Fixed(
        "kubectl", "get configmaps", "kube-root-ca.crt in every namespace", "sim/_controllers/namespace.py"
    ),
    Fixed(
        "service",
        "lb-to-clusterip",
        "leaving LoadBalancer drops the node ports and clears status.loadBalancer in the same update",
        "sim/_admission.py _drop_type_dependent_fields",
    ),
    Fixed(
        "service",
        "lb-status-written-by-a-client",
        "addresses with an IP that a client writes into a LoadBalancer status get ipMode: VIP",
        "sim/_admission.py _ip_mode",
    ),
    Fixed(
        "service",
        "create-lb",
        "LoadBalancer Services default allocateLoadBalancerNodePorts: true",
        "sim/_admission.py _service_type_defaults",
    ),
    Fixed(
        "service",
        "create-headless",
        "a headless Service without selector defaults to RequireDualStack",
        "sim/_admission.py _service_defaults",
    ),
    Fixed("service", "no-ports", "a Service without ports is a 422", "sim/_admission.py _service_causes"),
    Fixed(
        "service",
        "bad-port",
        "ports outside 1-65535 are a 422 (port and targetPort)",
        "sim/_admission.py _service_causes",
    ),
    Fixed(
        "service",
        "cluster-ip-immutable",
        "spec.clusterIPs[0] may not change once set",
        "sim/_admission.py _service_causes",
    ),
    Fixed(
        "service",
        "status-write",
        "status.loadBalancer.ingress only for LoadBalancer Services",
        "sim/_admission.py _service_status_causes",
    ),
    Fixed(
        "ingress",
        "sample1-template",
        "networking.k8s.io/v1 refuses KubeFed sample1's Ingress (no pathType; serviceName/servicePort are "
        "unknown fields, warned)",
        "sim/_admission.py _ingress_causes, sim/_schema.py prune_builtin",
    ),
    Fixed(
        "ingress",
        "several-errors",
        "Ingress path, pathType and backend validation",
        "sim/_admission.py _ingress_backend",
    ),
    Fixed(
        "ingress",
        "no-rules-no-backend",
        "an Ingress needs rules or a defaultBackend",
        "sim/_admission.py _ingress_causes",
    ),
    Fixed("ingress", "valid", "a new Ingress has status.loadBalancer {}", "sim/_admission.py _CREATE"),
    Fixed(
        "defaults",
        "pod",
        "pods get what the ServiceAccount, DefaultTolerationSeconds and Priority admission plugins add",
        "sim/_admission.py _pod_admission",
    ),
    Fixed(
        "defaults", "deployment", "pod template defaults of workloads", "sim/_admission.py _template_defaults"
    ),
    Fixed(
        "defaults",
        "statefulset",
        "StatefulSet defaults (maxUnavailable, PVC retention policy)",
        "sim/_admission.py _statefulset_defaults",
    ),
    Fixed(
        "defaults",
        "daemonset",
        "the deprecated.daemonset.template.generation annotation",
        "sim/_admission.py _daemonset",
    ),
    Fixed(
        "defaults",
        "job",
        "Job defaults (manualSelector, podReplacementPolicy) and labels",
        "sim/_admission.py _job_defaults, _job",
    ),
    Fixed("defaults", "secret", "stringData merged into data", "sim/_admission.py _secret_defaults"),
    Fixed(
        "defaults",
        "configmap",
        "empty data and binaryData are not stored (omitempty)",
        "sim/_admission.py _configmap_defaults",
    ),
    Fixed(
        "defaults",
        "endpoints",
        "port protocol default, and the Endpoints deprecation warning",
        "sim/_admission.py, sim/_http.py",
    ),
    Fixed(
        "defaults",
        "event",
        "core Events read back with their null timestamps and empty source",
        "sim/_admission.py _event_defaults",
    ),
    Fixed("defaults", "role", "an empty rules list reads back as null", "sim/_admission.py _role_defaults"),
    Fixed(
        "defaults",
        "rolebinding",
        "User subjects default their apiGroup",
        "sim/_admission.py _binding_defaults",
    ),
    Fixed(
        "auth",
        "no-token",
        "a request without a token is system:anonymous, refused by RBAC (403), not 401",
        "sim/_http.py _serve",
    ),
    Fixed(
        "auth",
        "wrong-token-healthz",
        "a bad token is refused on /healthz and /version too",
        "sim/_http.py _serve",
    ),
    Fixed(
        "auth",
        "token-request",
        "TokenRequest spec carries boundObjectRef: null",
        "sim/_http.py _token_request",
    ),
]

ALLOWED: list[Allowed] = [
    Allowed(
        "discovery",
        "resources core/v1",
        "body.resources.pods/*",
        "Pod subresources backed by a kubelet, the scheduler's binding or the eviction API (attach, "
        "binding, ephemeralcontainers, eviction, exec, log, portforward, proxy, resize) are not simulated, "
        "so not advertised",
    ),
    Allowed(
        "discovery",
        "resources core/v1",
        "body.resources.nodes/proxy",
        "Node proxying needs a kubelet: not simulated, not advertised",
    ),
    Allowed(
        "discovery",
        "resources core/v1",
        "body.resources.services/proxy",
        "Service proxying is not simulated, not advertised",
    ),
    Allowed(
        "openapi",
        "v2 patch configmap",
        "params",
        "The simulator's /openapi/v2 operations carry what kubectl reads (patch types, fieldValidation); "
        "the dryRun, fieldManager, force and body parameters are not published",
    ),
    Allowed(
        "crd",
        "invalid-crd",
        "body.message",
        "kube-apiserver prints its internal CustomResourceDefinitionVersion structs here (Go field names, "
        "every field); the simulator names the versions",
    ),
    Allowed(
        "crd", "invalid-crd", "body.details.causes[1].message", "the same internal-struct dump in the cause"
    ),
    Allowed(
        "auth",
        "token-request",
        "body.spec.audiences[0]",
        "The default audience is the server's --service-account-issuer: "
        "https://kubernetes.default.svc.cluster.local in the simulator, the cluster's URL in the real fleet "
        "(configuration, not behaviour)",
    ),
]


# ---- normaliser ----------------------------------------------------------------------------------
_UID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_PEM = re.compile(r"-----BEGIN ([A-Z ]+)-----\n[A-Za-z0-9+/=\n]+-----END \1-----\n?")
_API_ACCESS = re.compile(r"kube-api-access-[a-z0-9]{5}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
_VOLATILE_META = ("uid", "resourceVersion", "creationTimestamp", "managedFields", "selfLink")
_TIME_KEYS = frozenset(
    {
        "lastTransitionTime",
        "lastUpdateTime",
        "lastProbeTime",
        "lastHeartbeatTime",
        "startTime",
        "completionTime",
        "deletionTimestamp",
        "expirationTimestamp",
        "eventTime",
        "firstTimestamp",
        "lastTimestamp",
    }
)


def scrub(value: Any) -> Any:
    """Uids and timestamps replaced by placeholders, volatile metadata dropped (recursively)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in _TIME_KEYS and v is not None:
                out[k] = "<time>"
            elif k == "metadata" and isinstance(v, dict):
                out[k] = {mk: scrub(mv) for mk, mv in v.items() if mk not in _VOLATILE_META}
            else:
                out[k] = scrub(v)
        return out
    if isinstance(value, list):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        return _API_ACCESS.sub(
            "kube-api-access-<id>", _PEM.sub("<pem>", _TIME.sub("<time>", _UID.sub("<uid>", value)))
        )
    return value


def get_path(obj: Any, path: str) -> Any:
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return _ABSENT
        cur = cur[part]
    return cur


_ABSENT = object()


def project(obj: Any, keep: list[str] | None) -> Any:
    """Only ``keep``'s dotted paths of an object (all of it when None), scrubbed."""
    if keep is None or not isinstance(obj, dict):
        return scrub(obj)
    out: dict[str, Any] = {}
    for path in keep:
        v = get_path(obj, path)
        if v is not _ABSENT:
            out[path] = scrub(v)
    return out


def _cause_order(message: str, causes: list[dict[str, Any]]) -> str:
    """A 422 message lists its causes in the order validation found them, which for a custom resource is Go's
    random map order: sort the list the message carries (only if it is exactly those causes)."""
    m = re.match(r"^(.* is invalid: )\[(.*)\]$", message, re.S)
    parts = [f"{c.get('field')}: {c.get('message')}" for c in causes]
    if m and len(parts) > 1 and sorted(m.group(2)) == sorted(", ".join(parts)):
        return m.group(1) + "[" + ", ".join(sorted(parts)) + "]"
    return message


def normalise_status(st: dict[str, Any]) -> dict[str, Any]:
    out = {k: scrub(st.get(k)) for k in ("status", "reason", "code", "message") if k in st}
    details = st.get("details")
    if isinstance(details, dict):
        d = {k: scrub(v) for k, v in details.items() if k not in ("uid", "causes")}
        if details.get("causes"):
            d["causes"] = sorted(
                (scrub(c) for c in details["causes"]),
                key=lambda c: (c.get("field", ""), c.get("reason", ""), c.get("message", "")),
            )
            if isinstance(out.get("message"), str):
                out["message"] = _cause_order(out["message"], d["causes"])
        out["details"] = d
    return out


def normalise_table(tab: dict[str, Any]) -> dict[str, Any]:
    cols = tab.get("columnDefinitions") or []
    ages = {i for i, c in enumerate(cols) if c.get("name") == "Age"}
    rows = []
    for row in tab.get("rows") or []:
        rows.append([("<age>" if i in ages else scrub(c)) for i, c in enumerate(row.get("cells") or [])])
    return {
        "kind": "Table",
        "columns": [{k: c.get(k) for k in ("name", "type", "format", "priority")} for c in cols],
        "rows": rows,
        "objects": [((r.get("object") or {}).get("kind")) for r in tab.get("rows") or []],
    }


def normalise_body(body: Any, keep: list[str] | None) -> Any:
    if not isinstance(body, dict):
        return body
    kind = body.get("kind")
    if kind == "Status":
        return normalise_status(body)
    if kind == "Table":
        return normalise_table(body)
    if isinstance(body.get("items"), list) and kind and kind.endswith("List"):
        meta = body.get("metadata") or {}
        lm = {"continue": bool(meta.get("continue"))}
        if "remainingItemCount" in meta:
            lm["remainingItemCount"] = meta["remainingItemCount"]
        return {
            "kind": kind,
            "apiVersion": body.get("apiVersion"),
            "metadata": lm,
            "items": [project(i, keep) for i in body["items"]],
        }
    return project(body, keep)


def normalise_warnings(headers: Any) -> list[str]:
    out = []
    for w in headers.getall("Warning", []) if headers is not None else []:
        m = re.match(r'^\d{3} \S+ "(.*)"$', w)
        out.append(scrub((m.group(1) if m else w).replace('\\"', '"')))
    return out


# ---- targets and runs ----------------------------------------------------------------------------
@dataclass
class Response:
    status: int
    body: Any
    headers: Any

    @property
    def rv(self) -> str:
        return str(((self.body or {}).get("metadata") or {}).get("resourceVersion", ""))


class Target:
    """One cluster under test (simulated or real): raw HTTP with its admin token, and kubectl."""

    def __init__(self, name: str, cluster: Any, kubeconfig: Path, cache_dir: Path) -> None:
        self.name = name
        self.cluster = cluster
        self.url: str = cluster.url
        self.token: str = cluster.admin_token
        self.kubectl = Kubectl(kubeconfig, cache_dir, context=name)
        self._ssl = ssl.create_default_context(cadata=cluster.ca_pem.decode())
        self.session: aiohttp.ClientSession | None = None
        self.cache: dict[str, Any] = {}
        self.suffix = ""  # appended to every probe's namespace (re-runs against long-lived clusters)

    async def __aenter__(self) -> Target:
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self._ssl, limit=20))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.session is not None:
            await self.session.close()

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        ctype: str = JSON,
        accept: str = JSON,
        token: str | None = None,
        query: dict[str, str] | None = None,
        timeout: float = 15,
    ) -> Response:
        assert self.session is not None
        headers = {"Accept": accept}
        tok = self.token if token is None else token
        if tok:
            headers["Authorization"] = f"Bearer {tok}"
        data: bytes | None = None
        if body is not None:
            headers["Content-Type"] = ctype
            data = (
                body
                if isinstance(body, bytes)
                else (yaml.safe_dump(body).encode() if ctype == APPLY else json.dumps(body).encode())
            )
        async with self.session.request(
            method,
            self.url + path,
            data=data,
            headers=headers,
            params=query,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as resp:
            raw = await resp.read()
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = raw.decode(errors="replace")
            return Response(resp.status, parsed, resp.headers)

    async def watch(
        self,
        path: str,
        query: dict[str, str],
        *,
        until: Callable[[list[dict[str, Any]]], bool],
        timeout: float,
        token: str | None = None,
    ) -> list[dict[str, Any]]:
        """Watch events (raw) until ``until(events)``, the stream's end, or ``timeout``."""
        assert self.session is not None
        events: list[dict[str, Any]] = []
        headers = {"Accept": JSON, "Authorization": f"Bearer {token or self.token}"}
        try:
            async with self.session.get(
                self.url + path,
                params={**query, "watch": "true"},
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as resp:
                if resp.status != 200:
                    return [{"type": "HTTP", "object": json.loads(await resp.read())}]
                async for line in resp.content:
                    if line.strip():
                        events.append(json.loads(line))
                        if until(events):
                            break
        except TimeoutError:
            events.append({"type": "TIMEOUT"})
        return events


@dataclass
class Probe:
    name: str
    fn: Callable[[Run], Awaitable[None]]
    namespace: bool = True
    service_account: bool = False
    timeout: float = 60.0


PROBES: list[Probe] = []


def probe(
    name: str, **kw: Any
) -> Callable[[Callable[[Run], Awaitable[None]]], Callable[[Run], Awaitable[None]]]:
    def register(fn: Callable[[Run], Awaitable[None]]) -> Callable[[Run], Awaitable[None]]:
        PROBES.append(Probe(name, fn, **kw))
        return fn

    return register


@dataclass
class Run:
    """One probe on one target: its namespace, its records (check name -> normalised observation)."""

    target: Target
    probe: str
    obs: dict[str, Any] = field(default_factory=dict)
    cleanup: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)

    @property
    def ns(self) -> str:
        return f"dx-{self.probe}{self.target.suffix}"

    @property
    def real(self) -> bool:
        return self.target.name == "real"

    async def setup(self, p: Probe) -> None:
        if p.namespace:
            resp = await self.target.request("POST", "/api/v1/namespaces", {"metadata": {"name": self.ns}})
            assert resp.status == 201, (resp.status, resp.body)
            self.cleanup.append(lambda: self.target.request("DELETE", f"/api/v1/namespaces/{self.ns}"))
            # kube-controller-manager publishes the root CA ConfigMap shortly after: lists must not race it
            await self.until(
                lambda: self.target.request(
                    "GET", f"/api/v1/namespaces/{self.ns}/configmaps/kube-root-ca.crt"
                ),
                lambda r: r.status == 200,
            )
        if p.service_account:
            await self.until(
                lambda: self.target.request("GET", f"/api/v1/namespaces/{self.ns}/serviceaccounts/default"),
                lambda r: r.status == 200,
            )

    async def teardown(self) -> None:
        for fn in reversed(self.cleanup):
            try:
                await fn()
            except Exception:
                pass

    # ---- paths ---------------------------------------------------------------------------------
    def core(self, plural: str, name: str = "", *, namespaced: bool = True, sub: str = "") -> str:
        p = f"/api/v1/namespaces/{self.ns}/{plural}" if namespaced else f"/api/v1/{plural}"
        return p + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")

    def group(self, gv: str, plural: str, name: str = "", *, namespaced: bool = True, sub: str = "") -> str:
        p = f"/apis/{gv}/namespaces/{self.ns}/{plural}" if namespaced else f"/apis/{gv}/{plural}"
        return p + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")

    # ---- recording -----------------------------------------------------------------------------
    def record(self, check: str, value: Any) -> None:
        assert check not in self.obs, f"check {check} recorded twice"
        self.obs[check] = value

    async def call(
        self,
        check: str | None,
        method: str,
        path: str,
        body: Any = None,
        *,
        keep: list[str] | None = None,
        ctype: str = JSON,
        accept: str = JSON,
        query: dict[str, str] | None = None,
        token: str | None = None,
        post: Callable[[Any], Any] | None = None,
    ) -> Response:
        """Send one request; record its status code, normalised body and warnings under ``check``."""
        resp = await self.target.request(
            method, path, body, ctype=ctype, accept=accept, query=query, token=token
        )
        if check is not None:
            norm = normalise_body(resp.body, keep)
            if post is not None:
                norm = post(norm)
            self.record(
                check, {"code": resp.status, "body": norm, "warnings": normalise_warnings(resp.headers)}
            )
        return resp

    async def until(
        self, fetch: Callable[[], Awaitable[Response]], ok: Callable[[Response], bool], timeout: float = 30
    ) -> Response:
        """Poll ``fetch`` until ``ok`` (the last answer is returned either way)."""
        deadline = time.monotonic() + timeout
        while True:
            resp = await fetch()
            if ok(resp) or time.monotonic() > deadline:
                return resp
            await asyncio.sleep(0.1)

    async def kubectl(
        self,
        check: str | None,
        *args: str,
        input: str | None = None,
        post: Callable[[str], Any] | None = None,
    ) -> Any:
        res = await self.target.kubectl.run(*args, input=input, check=False)
        out = {
            "rc": res.returncode,
            "stdout": scrub(res.stdout),
            "stderr": scrub(re.sub(r"\S+\.kubeconfig|127\.0\.0\.1:\d+", "<addr>", res.stderr)),
        }
        if post is not None:
            out = post(out) if res.returncode == 0 else out
        if check is not None:
            self.record(check, out)
        return res


def cm(name: str, data: dict[str, str] | None = None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data or {"k": "v"}}


def deployment(name: str, labels: dict[str, str] | None = None, image: str = "nginx:1.25") -> dict[str, Any]:
    labels = labels or {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": image}]},
            },
        },
    }


CM_KEEP = [
    "metadata.name",
    "metadata.namespace",
    "metadata.labels",
    "metadata.annotations",
    "data",
    "kind",
    "apiVersion",
]


# ---- CRUD and its errors -------------------------------------------------------------------------
@probe("crud")
async def crud(r: Run) -> None:
    p = r.core("configmaps")
    created = await r.call("create", "POST", p, cm("a", labels={"x": "1"}), keep=None)
    await r.call("get", "GET", r.core("configmaps", "a"))
    await r.call("create-again", "POST", p, cm("a"))
    stale = dict(created.body)
    await r.call("update", "PUT", r.core("configmaps", "a"), {**stale, "data": {"k": "w"}})
    await r.call("update-stale", "PUT", r.core("configmaps", "a"), {**stale, "data": {"k": "x"}})
    unconditional = {**cm("a", {"k": "y"})}
    await r.call("update-unconditional", "PUT", r.core("configmaps", "a"), unconditional)
    await r.call("update-missing", "PUT", r.core("configmaps", "nope"), cm("nope"))
    await r.call("update-name-mismatch", "PUT", r.core("configmaps", "a"), cm("b"))
    await r.call("get-missing", "GET", r.core("configmaps", "nope"))
    await r.call("create-with-rv", "POST", p, {**cm("c"), "metadata": {"name": "c", "resourceVersion": "5"}})
    await r.call(
        "create-ns-mismatch", "POST", p, {**cm("c"), "metadata": {"name": "c", "namespace": "other"}}
    )
    await r.call("create-missing-ns", "POST", "/api/v1/namespaces/dx-nowhere/configmaps", cm("c"))
    await r.call("create-bad-name", "POST", p, cm("Bad_Name"))
    await r.call("create-no-name", "POST", p, {"data": {"a": "b"}})
    await r.call("create-long-name", "POST", p, cm("x" * 254))
    gen = await r.call(None, "POST", p, {"metadata": {"generateName": "gen-"}, "data": {}})
    r.record(
        "generate-name",
        {
            "code": gen.status,
            "prefix": gen.body["metadata"]["name"][:4],
            "length": len(gen.body["metadata"]["name"]),
            "generateName": gen.body["metadata"].get("generateName"),
        },
    )
    await r.call("delete", "DELETE", r.core("configmaps", "a"))
    await r.call("delete-missing", "DELETE", r.core("configmaps", "a"))
    await r.call("get-bad-path", "GET", f"/api/v1/namespaces/{r.ns}/nothings")
    await r.call("method-not-allowed", "PUT", r.core("configmaps"), cm("a"))
    await r.call("unsupported-media", "POST", p, b"x: y", ctype="text/plain")
    await r.call("undecodable", "POST", p, b"{not json", ctype=JSON)


@probe("dry-run")
async def dry_run(r: Run) -> None:
    p = r.core("configmaps")
    q = {"dryRun": "All"}
    await r.call("create", "POST", p, cm("a"), query=q, keep=CM_KEEP)
    await r.call("get-after-create", "GET", r.core("configmaps", "a"))
    await r.call(None, "POST", p, cm("a"))
    await r.call("update", "PUT", r.core("configmaps", "a"), cm("a", {"k": "dry"}), query=q, keep=CM_KEEP)
    await r.call(
        "patch",
        "PATCH",
        r.core("configmaps", "a"),
        {"data": {"k": "dry2"}},
        ctype=MERGE,
        query=q,
        keep=CM_KEEP,
    )
    await r.call("delete", "DELETE", r.core("configmaps", "a"), query=q, keep=CM_KEEP)
    await r.call("get-after", "GET", r.core("configmaps", "a"), keep=CM_KEEP)
    await r.call("bad-dry-run", "POST", p, cm("b"), query={"dryRun": "Some"})


@probe("field-causes", service_account=True)
async def field_causes(r: Run) -> None:
    bad = deployment("d", {"app": "d"})
    bad["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    await r.call("deployment-selector-mismatch", "POST", r.group("apps/v1", "deployments"), bad)
    nosel = deployment("e")
    del nosel["spec"]["selector"]
    await r.call("deployment-no-selector", "POST", r.group("apps/v1", "deployments"), nosel)
    await r.call(
        "pod-no-containers",
        "POST",
        r.core("pods"),
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": []}},
    )
    await r.call(
        "pod-container-no-name",
        "POST",
        r.core("pods"),
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {"containers": [{"image": "nginx"}]},
        },
    )
    await r.call(
        "service-name-starting-with-a-digit",
        "POST",
        r.core("services"),
        {"metadata": {"name": "1svc"}, "spec": {"ports": [{"port": 80}]}},
        post=_lb,
    )
    await r.call(
        "service-bad-name",
        "POST",
        r.core("services"),
        {"metadata": {"name": "svc.1"}, "spec": {"ports": [{"port": 80}]}},
        post=_lb,
    )
    await r.call("namespace-bad-name", "POST", "/api/v1/namespaces", {"metadata": {"name": "a.b"}})
    await r.call(
        "negative-replicas",
        "POST",
        r.group("apps/v1", "deployments"),
        {**deployment("f"), "spec": {**deployment("f")["spec"], "replicas": -1}},
    )
    await r.call(None, "POST", r.group("apps/v1", "deployments"), deployment("g"))

    async def change_selector() -> Response:  # the deployment controller may write in between: retry on 409
        good = await r.target.request("GET", r.group("apps/v1", "deployments", "g"))
        changed = dict(good.body)
        changed["spec"] = {**changed["spec"], "selector": {"matchLabels": {"app": "g", "x": "y"}}}
        changed["spec"]["template"] = {
            **changed["spec"]["template"],
            "metadata": {"labels": {"app": "g", "x": "y"}},
        }
        return await r.target.request("PUT", r.group("apps/v1", "deployments", "g"), changed)

    immutable = await r.until(change_selector, lambda x: x.status != 409, timeout=10)
    r.record(
        "deployment-selector-immutable",
        {"code": immutable.status, "body": normalise_body(immutable.body, None)},
    )
    await r.call(
        "rbac-name-colon",
        "POST",
        r.group("rbac.authorization.k8s.io/v1", "roles"),
        {"metadata": {"name": "system:x"}, "rules": []},
        keep=["metadata.name", "rules"],
    )


# ---- list: selectors and pagination --------------------------------------------------------------
@probe("selectors")
async def selectors(r: Run) -> None:
    for name, labels in (
        ("a", {"tier": "web", "env": "prod"}),
        ("b", {"tier": "db", "env": "prod"}),
        ("c", {"tier": "web"}),
        ("d", {}),
    ):
        await r.call(None, "POST", r.core("configmaps"), cm(name, labels=labels))
    keep = ["metadata.name"]
    for check, sel in (
        ("eq", "tier=web"),
        ("double-eq", "tier==web"),
        ("neq", "tier!=web"),
        ("in", "tier in (web,db)"),
        ("notin", "tier notin (web)"),
        ("exists", "env"),
        ("not-exists", "!env"),
        ("and", "tier=web,env=prod"),
        ("empty", ""),
        ("bad-syntax", "tier in web"),
        ("bad-value", "tier=a b"),
        ("bad-key", "-x=y"),
    ):
        await r.call(f"label-{check}", "GET", r.core("configmaps"), query={"labelSelector": sel}, keep=keep)
    for check, sel in (
        ("name", "metadata.name=b"),
        ("name-neq", "metadata.name!=b"),
        ("namespace", f"metadata.namespace={r.ns}"),
        ("unsupported", "data.k=v"),
        ("bad", "metadata.name"),
    ):
        await r.call(f"field-{check}", "GET", r.core("configmaps"), query={"fieldSelector": sel}, keep=keep)
    await r.call(
        "field-secret-type", "GET", r.core("secrets"), query={"fieldSelector": "type=Opaque"}, keep=keep
    )
    await r.call(
        "field-pod-phase", "GET", r.core("pods"), query={"fieldSelector": "status.phase=Running"}, keep=keep
    )
    await r.call("field-pod-bad", "GET", r.core("pods"), query={"fieldSelector": "spec.image=x"}, keep=keep)
    await r.call(
        "deletecollection", "DELETE", r.core("configmaps"), query={"labelSelector": "tier=web"}, keep=keep
    )
    await r.call("after-deletecollection", "GET", r.core("configmaps"), keep=keep)


@probe("pagination")
async def pagination(r: Run) -> None:
    for i in range(5):
        await r.call(None, "POST", r.core("configmaps"), cm(f"c{i}"))
    keep = ["metadata.name"]
    page = await r.call("page1", "GET", r.core("configmaps"), query={"limit": "2"}, keep=keep)
    token = page.body["metadata"].get("continue", "")
    page = await r.call(
        "page2", "GET", r.core("configmaps"), query={"limit": "2", "continue": token}, keep=keep
    )
    token = page.body["metadata"].get("continue", "")
    await r.call(None, "POST", r.core("configmaps"), cm("c9"))  # created after the list began
    await r.call("page3", "GET", r.core("configmaps"), query={"limit": "2", "continue": token}, keep=keep)
    await r.call("bad-continue", "GET", r.core("configmaps"), query={"limit": "2", "continue": "garbage"})
    await r.call("bad-limit", "GET", r.core("configmaps"), query={"limit": "x"}, keep=keep)
    await r.call("limit-zero", "GET", r.core("configmaps"), query={"limit": "0"}, keep=keep)
    await r.call(
        "limit-selector",
        "GET",
        r.core("configmaps"),
        query={"limit": "1", "fieldSelector": "metadata.name=c3"},
        keep=keep,
    )
    start = page.body["metadata"]["resourceVersion"]
    await r.call(None, "DELETE", r.core("configmaps", "c0"))
    await r.call(
        "exact-rv",
        "GET",
        r.core("configmaps"),
        query={"resourceVersion": start, "resourceVersionMatch": "Exact"},
        keep=keep,
    )
    # NotOlderThan from a resourceVersion before the DELETE may be served by kube-apiserver's watch cache
    # with or without c0 (both are "not older"); from the list's own resourceVersion after the DELETE
    # the answer is the same on every server
    after = await r.call(None, "GET", r.core("configmaps"), keep=keep)
    await r.call(
        "not-older-than",
        "GET",
        r.core("configmaps"),
        query={
            "resourceVersion": after.body["metadata"]["resourceVersion"],
            "resourceVersionMatch": "NotOlderThan",
        },
        keep=keep,
    )
    await r.call("match-without-rv", "GET", r.core("configmaps"), query={"resourceVersionMatch": "Exact"})
    await r.call(
        "bad-match",
        "GET",
        r.core("configmaps"),
        query={"resourceVersion": "1", "resourceVersionMatch": "Newest"},
    )
    await r.call("bad-rv", "GET", r.core("configmaps"), query={"resourceVersion": "abc"})
    await r.call(
        "send-initial-events-on-list", "GET", r.core("configmaps"), query={"sendInitialEvents": "true"}
    )
    await r.call(
        None, "PATCH", r.core("configmaps", "c1"), {"metadata": {"labels": {"odd": "yes"}}}, ctype=MERGE
    )
    await r.call(
        None, "PATCH", r.core("configmaps", "c3"), {"metadata": {"labels": {"odd": "yes"}}}, ctype=MERGE
    )
    await r.call(
        "limit-label-selector",
        "GET",
        r.core("configmaps"),
        query={"limit": "1", "labelSelector": "odd"},
        keep=keep,
    )
    await r.call(
        "all-namespaces-limit",
        "GET",
        "/api/v1/configmaps",
        query={"limit": "1", "labelSelector": "none=here"},
        keep=keep,
    )


# ---- watch ---------------------------------------------------------------------------------------
def _events(events: list[dict[str, Any]], keep: list[str]) -> list[Any]:
    out: list[Any] = []
    for ev in events:
        obj = ev.get("object") or {}
        if ev.get("type") == "BOOKMARK":
            out.append(
                {
                    "type": "BOOKMARK",
                    "kind": obj.get("kind"),
                    "apiVersion": obj.get("apiVersion"),
                    "annotations": (obj.get("metadata") or {}).get("annotations"),
                    "rv": bool((obj.get("metadata") or {}).get("resourceVersion")),
                }
            )
        elif ev.get("type") in ("ERROR", "HTTP"):
            out.append({"type": ev["type"], "object": normalise_status(obj)})
        else:
            out.append({"type": ev.get("type"), "object": project(obj, keep)})
    return out


@probe("watch")
async def watch(r: Run) -> None:
    keep = ["kind", "apiVersion", "metadata.name", "metadata.labels", "data"]
    start = (await r.call(None, "GET", r.core("configmaps"))).rv
    await r.call(None, "POST", r.core("configmaps"), cm("w", labels={"sel": "yes"}))
    await r.call(None, "PATCH", r.core("configmaps", "w"), {"data": {"k": "2"}}, ctype=MERGE)
    await r.call(
        None, "PATCH", r.core("configmaps", "w"), {"metadata": {"labels": {"sel": "no"}}}, ctype=MERGE
    )
    await r.call(
        None, "PATCH", r.core("configmaps", "w"), {"metadata": {"labels": {"sel": "yes"}}}, ctype=MERGE
    )
    await r.call(None, "DELETE", r.core("configmaps", "w"))
    path = r.core("configmaps")
    evs = await r.target.watch(path, {"resourceVersion": start}, until=lambda e: len(e) >= 5, timeout=10)
    r.record("from-rv", _events(evs, keep))
    evs = await r.target.watch(
        path, {"resourceVersion": start, "labelSelector": "sel=yes"}, until=lambda e: len(e) >= 4, timeout=10
    )
    r.record("from-rv-selector", _events(evs, keep))
    evs = await r.target.watch(
        path,
        {"resourceVersion": start, "fieldSelector": "metadata.name=w"},
        until=lambda e: len(e) >= 5,
        timeout=10,
    )
    r.record("from-rv-field-selector", _events(evs, keep))
    await r.call(None, "POST", r.core("configmaps"), cm("x"))
    evs = await r.target.watch(
        path,
        {"sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan", "allowWatchBookmarks": "true"},
        until=lambda e: any(x.get("type") == "BOOKMARK" for x in e),
        timeout=10,
    )
    r.record("initial-events", _events(evs, keep))
    evs = await r.target.watch(
        path, {"sendInitialEvents": "true", "allowWatchBookmarks": "true"}, until=lambda e: True, timeout=10
    )
    r.record("initial-events-without-match", _events(evs, keep))
    evs = await r.target.watch(path, {"resourceVersion": "0"}, until=lambda e: len(e) >= 2, timeout=10)
    r.record("from-zero", sorted(_events(evs, keep), key=lambda e: e["object"]["metadata.name"]))
    evs = await r.target.watch(path, {"resourceVersion": "abc"}, until=lambda e: len(e) >= 1, timeout=10)
    r.record("bad-rv", _events(evs, keep))
    # (when a real apiserver sends periodic bookmarks depends on its watch cache's progress: not compared)
    latest = (await r.call(None, "GET", r.core("configmaps"))).rv
    evs = await r.target.watch(
        path,
        {"resourceVersion": latest, "allowWatchBookmarks": "true", "timeoutSeconds": "2"},
        until=lambda e: False,
        timeout=10,
    )
    r.record("quiet-watch-times-out", [e for e in _events(evs, keep) if e["type"] != "BOOKMARK"])


# ---- patch types and server-side apply -----------------------------------------------------------
DEPLOY_KEEP = ["metadata.name", "metadata.labels", "metadata.annotations", "metadata.generation", "spec"]


@probe("patch")
async def patch(r: Run) -> None:
    await r.call(None, "POST", r.core("configmaps"), cm("p", {"a": "1", "b": "2"}, labels={"l": "1"}))
    path = r.core("configmaps", "p")
    await r.call("merge", "PATCH", path, {"data": {"a": None, "c": "3"}}, ctype=MERGE, keep=CM_KEEP)
    await r.call(
        "json",
        "PATCH",
        path,
        [{"op": "add", "path": "/data/d", "value": "4"}, {"op": "remove", "path": "/data/b"}],
        ctype=JSONPATCH,
        keep=CM_KEEP,
    )
    await r.call(
        "json-test-fails",
        "PATCH",
        path,
        [{"op": "test", "path": "/data/d", "value": "5"}],
        ctype=JSONPATCH,
        keep=CM_KEEP,
    )
    await r.call(
        "json-remove-missing",
        "PATCH",
        path,
        [{"op": "remove", "path": "/data/zzz"}],
        ctype=JSONPATCH,
        keep=CM_KEEP,
    )
    await r.call(
        "json-bad-op", "PATCH", path, [{"op": "frob", "path": "/data/d"}], ctype=JSONPATCH, keep=CM_KEEP
    )
    await r.call("json-not-a-list", "PATCH", path, {"op": "add"}, ctype=JSONPATCH, keep=CM_KEEP)
    await r.call("merge-a-list", "PATCH", path, [1, 2], ctype=MERGE, keep=CM_KEEP)
    await r.call(
        "strategic",
        "PATCH",
        path,
        {"metadata": {"labels": {"m": "2"}}, "data": {"e": "5"}},
        ctype=STRATEGIC,
        keep=CM_KEEP,
    )
    await r.call("patch-missing", "PATCH", r.core("configmaps", "nope"), {"data": {}}, ctype=MERGE)
    await r.call("unknown-patch-type", "PATCH", path, {"data": {}}, ctype="application/x-frob")
    await r.call(
        "patch-stale-rv",
        "PATCH",
        path,
        {"metadata": {"resourceVersion": "1"}, "data": {"x": "y"}},
        ctype=MERGE,
        keep=CM_KEEP,
    )
    await r.call(
        "patch-name-change", "PATCH", path, {"metadata": {"name": "other"}}, ctype=MERGE, keep=CM_KEEP
    )
    d = deployment("web")
    d["spec"]["template"]["spec"]["containers"] = [
        {"name": "a", "image": "nginx", "env": [{"name": "X", "value": "1"}]},
        {"name": "b", "image": "busybox"},
    ]
    await r.call(None, "POST", r.group("apps/v1", "deployments"), d)
    dpath = r.group("apps/v1", "deployments", "web")
    await r.call(
        "strategic-list-merge",
        "PATCH",
        dpath,
        {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {"name": "a", "image": "nginx:2", "env": [{"name": "Y", "value": "2"}]}
                        ]
                    }
                }
            }
        },
        ctype=STRATEGIC,
        keep=["spec.template.spec.containers", "metadata.generation"],
    )
    await r.call(
        "strategic-delete-directive",
        "PATCH",
        dpath,
        {"spec": {"template": {"spec": {"containers": [{"name": "b", "$patch": "delete"}]}}}},
        ctype=STRATEGIC,
        keep=["spec.template.spec.containers"],
    )
    await r.call(
        "merge-replaces-list",
        "PATCH",
        dpath,
        {"spec": {"template": {"spec": {"containers": [{"name": "z", "image": "redis"}]}}}},
        ctype=MERGE,
        keep=["spec.template.spec.containers"],
    )
    await r.call(
        "json-patch-replicas",
        "PATCH",
        dpath,
        [{"op": "replace", "path": "/spec/replicas", "value": 3}],
        ctype=JSONPATCH,
        keep=["spec.replicas", "metadata.generation"],
    )
    await r.call("scale-get", "GET", dpath + "/scale", keep=["kind", "apiVersion", "metadata.name", "spec"])
    await r.call(
        "scale-patch",
        "PATCH",
        dpath + "/scale",
        {"spec": {"replicas": 2}},
        ctype=MERGE,
        keep=["kind", "spec"],
    )
    await r.call(
        "scale-negative",
        "PATCH",
        dpath + "/scale",
        {"spec": {"replicas": -2}},
        ctype=MERGE,
        keep=["kind", "spec"],
    )
    await r.call(
        "status-ignores-spec",
        "PATCH",
        dpath + "/status",
        {"spec": {"replicas": 9}, "status": {"observedGeneration": 99}},
        ctype=MERGE,
        keep=["spec.replicas", "status.observedGeneration"],
    )
    await r.call(None, "PATCH", path, {"metadata": {"finalizers": ["f1"]}}, ctype=MERGE)
    await r.call(
        "strategic-finalizers",
        "PATCH",
        path,
        {"metadata": {"finalizers": ["f2", "f1", "f3"]}},
        ctype=STRATEGIC,
        keep=["metadata.finalizers"],
    )
    await r.call(
        "strategic-delete-from-primitive-list",
        "PATCH",
        path,
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["f3"]}},
        ctype=STRATEGIC,
        keep=["metadata.finalizers"],
    )
    await r.call(
        "strategic-set-element-order",
        "PATCH",
        dpath,
        {
            "spec": {
                "template": {
                    "spec": {
                        "$setElementOrder/containers": [{"name": "z"}, {"name": "n"}],
                        "containers": [{"name": "n", "image": "nginx"}],
                    }
                }
            }
        },
        ctype=STRATEGIC,
        keep=["spec.template.spec.containers"],
    )
    await r.call(None, "PATCH", path, {"metadata": {"finalizers": None}}, ctype=MERGE)


@probe("apply")
async def apply(r: Run) -> None:
    path = r.core("configmaps", "s")
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "s"}, "data": {"a": "1", "b": "2"}}
    await r.call("create", "PATCH", path, body, ctype=APPLY, query={"fieldManager": "one"}, keep=CM_KEEP)
    await r.call("no-field-manager", "PATCH", path, body, ctype=APPLY, keep=CM_KEEP)
    await r.call(
        "other-manager-conflict",
        "PATCH",
        path,
        {**body, "data": {"a": "other"}},
        ctype=APPLY,
        query={"fieldManager": "two"},
        keep=CM_KEEP,
    )
    await r.call(
        "same-value-shared",
        "PATCH",
        path,
        {**body, "data": {"b": "2"}},
        ctype=APPLY,
        query={"fieldManager": "two"},
        keep=CM_KEEP,
    )
    await r.call(
        "force",
        "PATCH",
        path,
        {**body, "data": {"a": "forced"}},
        ctype=APPLY,
        query={"fieldManager": "two", "force": "true"},
        keep=CM_KEEP,
    )
    await r.call(
        "drop-owned-field",
        "PATCH",
        path,
        {**body, "data": {"b": "2"}},
        ctype=APPLY,
        query={"fieldManager": "one"},
        keep=CM_KEEP,
    )
    await r.call(
        "update-takes-ownership", "PUT", path, {**body, "data": {"a": "forced", "b": "3"}}, keep=CM_KEEP
    )
    await r.call(
        "apply-after-update",
        "PATCH",
        path,
        {**body, "data": {"b": "4"}},
        ctype=APPLY,
        query={"fieldManager": "two"},
        keep=CM_KEEP,
    )
    await r.call(
        "wrong-kind",
        "PATCH",
        path,
        {**body, "kind": "Secret"},
        ctype=APPLY,
        query={"fieldManager": "one"},
        keep=CM_KEEP,
    )
    await r.call(
        "no-kind",
        "PATCH",
        path,
        {"metadata": {"name": "s"}, "data": {"a": "1"}},
        ctype=APPLY,
        query={"fieldManager": "one"},
        keep=CM_KEEP,
    )
    d = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {
            "selector": {"matchLabels": {"app": "d"}},
            "template": {
                "metadata": {"labels": {"app": "d"}},
                "spec": {"containers": [{"name": "a", "image": "nginx"}, {"name": "b", "image": "redis"}]},
            },
        },
    }
    dpath = r.group("apps/v1", "deployments", "d")
    await r.call(
        "deployment-create",
        "PATCH",
        dpath,
        d,
        ctype=APPLY,
        query={"fieldManager": "one"},
        keep=["spec.template.spec.containers", "spec.replicas"],
    )
    d2 = json.loads(json.dumps(d))
    d2["spec"]["template"]["spec"]["containers"] = [{"name": "a", "image": "nginx:2"}]
    await r.call(
        "deployment-drop-container",
        "PATCH",
        dpath,
        d2,
        ctype=APPLY,
        query={"fieldManager": "one"},
        keep=["spec.template.spec.containers"],
    )
    await r.call(
        "dry-run-apply",
        "PATCH",
        r.core("configmaps", "t"),
        {**body, "metadata": {"name": "t"}},
        ctype=APPLY,
        query={"fieldManager": "one", "dryRun": "All"},
        keep=CM_KEEP,
    )
    yaml11 = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: yml}\ndata: {y: '1', n: '2', on: '3'}\n"
    await r.call(
        "yaml-1.1-booleans",
        "PATCH",
        r.core("configmaps", "yml"),
        yaml11,
        ctype=APPLY,
        query={"fieldManager": "one"},
        keep=CM_KEEP,
    )


# ---- deletion: propagation policies with real garbage collection, namespaces ------------------------
async def _owner_and_dependent(r: Run, suffix: str) -> tuple[str, str]:
    owner = await r.call(None, "POST", r.core("configmaps"), cm(f"owner-{suffix}"))
    ref = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": f"owner-{suffix}",
        "uid": owner.body["metadata"]["uid"],
        "blockOwnerDeletion": True,
    }
    dep = cm(f"dep-{suffix}")
    dep["metadata"]["ownerReferences"] = [ref]
    await r.call(None, "POST", r.core("configmaps"), dep)
    return r.core("configmaps", f"owner-{suffix}"), r.core("configmaps", f"dep-{suffix}")


def _no_rv_numbers(body: Any) -> Any:
    """resourceVersions inside messages differ between any two servers."""
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        body["message"] = re.sub(r"\((\d+)\)", "(<rv>)", body["message"])
    return body


def _gone(resp: Response) -> bool:
    return resp.status == 404


@probe("deletion", timeout=90)
async def deletion(r: Run) -> None:
    keep = ["metadata.name", "metadata.finalizers", "metadata.deletionTimestamp", "metadata.ownerReferences"]
    owner, dep = await _owner_and_dependent(r, "bg")
    await r.call("background", "DELETE", owner, {"propagationPolicy": "Background"}, keep=keep)
    last = await r.until(lambda: r.target.request("GET", dep), _gone)
    r.record("background-dependent", {"code": last.status})

    owner, dep = await _owner_and_dependent(r, "fg")
    blocker = await r.call(
        None, "PATCH", dep, {"metadata": {"finalizers": ["example.com/hold"]}}, ctype=MERGE
    )
    await r.call("foreground", "DELETE", owner, {"propagationPolicy": "Foreground"}, keep=keep)
    await r.call("foreground-owner-waits", "GET", owner, keep=keep)
    held = await r.until(
        lambda: r.target.request("GET", dep),
        lambda x: bool((x.body or {}).get("metadata", {}).get("deletionTimestamp")),
    )
    r.record("foreground-dependent-deleting", normalise_body(held.body, keep))
    assert blocker.status == 200
    await r.call(None, "PATCH", dep, {"metadata": {"finalizers": None}}, ctype=MERGE)
    last = await r.until(lambda: r.target.request("GET", owner), _gone)
    r.record("foreground-owner-gone", {"code": last.status})

    owner, dep = await _owner_and_dependent(r, "or")
    await r.call("orphan", "DELETE", owner, query={"propagationPolicy": "Orphan"}, keep=keep)
    await r.until(lambda: r.target.request("GET", owner), _gone)
    await r.call("orphan-dependent", "GET", dep, keep=keep)

    owner, dep = await _owner_and_dependent(r, "oq")
    await r.call("orphan-dependents-flag", "DELETE", owner, {"orphanDependents": True}, keep=keep)
    await r.until(lambda: r.target.request("GET", owner), _gone)
    await r.call("orphan-flag-dependent", "GET", dep, keep=keep)
    await r.call("bad-policy", "DELETE", dep, {"propagationPolicy": "Sometimes"})
    await r.call("both-policies", "DELETE", dep, {"propagationPolicy": "Orphan", "orphanDependents": False})

    c = await r.call(None, "POST", r.core("configmaps"), cm("pre"))
    await r.call(
        "precondition-uid",
        "DELETE",
        r.core("configmaps", "pre"),
        {"preconditions": {"uid": "00000000-0000-0000-0000-000000000000"}},
    )
    await r.call(
        "precondition-rv",
        "DELETE",
        r.core("configmaps", "pre"),
        {"preconditions": {"resourceVersion": "1"}},
        post=_no_rv_numbers,
    )
    await r.call(
        "precondition-ok",
        "DELETE",
        r.core("configmaps", "pre"),
        {"preconditions": {"uid": c.body["metadata"]["uid"]}},
    )

    fin = cm("fin")
    fin["metadata"]["finalizers"] = ["example.com/hold"]
    await r.call(None, "POST", r.core("configmaps"), fin)
    await r.call("with-finalizer", "DELETE", r.core("configmaps", "fin"), keep=keep)
    await r.call(
        "add-finalizer-while-deleting",
        "PATCH",
        r.core("configmaps", "fin"),
        {"metadata": {"finalizers": ["example.com/hold", "example.com/more"]}},
        ctype=MERGE,
        keep=keep,
    )
    await r.call("delete-again", "DELETE", r.core("configmaps", "fin"), keep=keep)
    await r.call(
        "release",
        "PATCH",
        r.core("configmaps", "fin"),
        {"metadata": {"finalizers": None}},
        ctype=MERGE,
        keep=keep,
    )
    await r.call("released-gone", "GET", r.core("configmaps", "fin"))

    dep = deployment("web")
    await r.call(None, "POST", r.group("apps/v1", "deployments"), dep)
    rs = await r.until(
        lambda: r.target.request("GET", r.group("apps/v1", "replicasets")),
        lambda x: bool((x.body or {}).get("items")),
    )
    r.record(
        "deployment-replicaset",
        [
            {
                "owner": [
                    (o["kind"], o["name"], o.get("controller"), o.get("blockOwnerDeletion"))
                    for o in i["metadata"].get("ownerReferences") or []
                ],
                "labels": sorted(i["metadata"].get("labels") or {}),
            }
            for i in rs.body["items"]
        ],
    )
    await r.call(
        "deployment-orphan",
        "DELETE",
        r.group("apps/v1", "deployments", "web"),
        {"propagationPolicy": "Orphan"},
        keep=["metadata.name", "metadata.finalizers"],
    )
    await r.until(lambda: r.target.request("GET", r.group("apps/v1", "deployments", "web")), _gone)
    rs = await r.call(None, "GET", r.group("apps/v1", "replicasets"))
    r.record("orphaned-replicasets", [i["metadata"].get("ownerReferences") for i in rs.body["items"]])


@probe("namespace", timeout=90)
async def namespace(r: Run) -> None:
    ns = f"{r.ns}-t"
    keep = [
        "metadata.name",
        "metadata.labels",
        "metadata.finalizers",
        "metadata.deletionTimestamp",
        "spec",
        "status.phase",
    ]
    await r.call("create", "POST", "/api/v1/namespaces", {"metadata": {"name": ns}}, keep=keep)
    held = cm("held")
    held["metadata"]["finalizers"] = ["example.com/hold"]
    await r.call(None, "POST", f"/api/v1/namespaces/{ns}/configmaps", held)
    await r.call("delete", "DELETE", f"/api/v1/namespaces/{ns}", keep=keep)
    await r.call("create-in-terminating", "POST", f"/api/v1/namespaces/{ns}/configmaps", cm("new"))
    await r.call("delete-again", "DELETE", f"/api/v1/namespaces/{ns}", keep=keep)
    got = await r.until(
        lambda: r.target.request("GET", f"/api/v1/namespaces/{ns}/configmaps/held"),
        lambda x: bool((x.body or {}).get("metadata", {}).get("deletionTimestamp")),
    )
    r.record("content-deleting", normalise_body(got.body, ["metadata.name", "metadata.deletionTimestamp"]))
    status = await r.until(
        lambda: r.target.request("GET", f"/api/v1/namespaces/{ns}"),
        lambda x: any(
            c.get("type") == "NamespaceFinalizersRemaining"
            for c in (x.body or {}).get("status", {}).get("conditions") or []
        ),
    )
    r.record(
        "terminating-conditions",
        sorted(
            (c["type"], c["status"], c.get("reason"), c.get("message"))
            for c in (status.body or {}).get("status", {}).get("conditions") or []
        ),
    )
    await r.call(
        None,
        "PATCH",
        f"/api/v1/namespaces/{ns}/configmaps/held",
        {"metadata": {"finalizers": None}},
        ctype=MERGE,
    )
    last = await r.until(lambda: r.target.request("GET", f"/api/v1/namespaces/{ns}"), _gone)
    r.record("gone", {"code": last.status})
    for name in ("default", "kube-system", "kube-public"):
        await r.call(f"delete-{name}", "DELETE", f"/api/v1/namespaces/{name}", query={"dryRun": "All"})
    await r.call("finalize-path", "GET", f"/api/v1/namespaces/{r.ns}/finalize")
    await r.call("status-path", "GET", f"/api/v1/namespaces/{r.ns}/status", keep=["metadata.name", "status"])


# ---- CRDs: establishment, validation, pruning, field validation, status, deletion -----------------
def widget_crd(group: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {
                "plural": "widgets",
                "singular": "widget",
                "kind": "Widget",
                "shortNames": ["wdx"],
                "categories": ["dx"],
            },
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                        {"name": "Color", "type": "string", "jsonPath": ".spec.color", "priority": 1},
                        {
                            "name": "Ready",
                            "type": "string",
                            "jsonPath": ".status.conditions[?(@.type=='Ready')].status",
                        },
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "required": ["size"],
                                    "properties": {
                                        "size": {"type": "integer", "minimum": 0, "maximum": 10},
                                        "color": {"type": "string", "enum": ["red", "blue"]},
                                        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
                                        "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 5},
                                        "free": {
                                            "type": "object",
                                            "x-kubernetes-preserve-unknown-fields": True,
                                        },
                                        "labels": {
                                            "type": "object",
                                            "additionalProperties": {"type": "string"},
                                        },
                                    },
                                },
                                "status": {
                                    "type": "object",
                                    "properties": {
                                        "ready": {"type": "boolean"},
                                        "conditions": {
                                            "type": "array",
                                            "items": {
                                                "type": "object",
                                                "properties": {
                                                    "type": {"type": "string"},
                                                    "status": {"type": "string"},
                                                },
                                            },
                                        },
                                    },
                                },
                            },
                        }
                    },
                }
            ],
        },
    }


@probe("crd", timeout=60)
async def crd(r: Run) -> None:
    group = f"{r.ns}.example.com"
    crd_path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.{group}"
    r.cleanup.append(lambda: r.target.request("DELETE", crd_path))
    await r.call(
        "create",
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        widget_crd(group),
        keep=["metadata.name", "spec", "status"],
    )
    est = await r.until(
        lambda: r.target.request("GET", crd_path),
        lambda x: any(
            c.get("type") == "Established" and c.get("status") == "True"
            for c in (x.body or {}).get("status", {}).get("conditions") or []
        ),
    )
    r.record("established", normalise_body(est.body, ["status", "metadata.finalizers"]))
    bad = widget_crd(group)
    bad["metadata"]["name"] = "wrong.example.com"
    bad["spec"]["versions"][0]["storage"] = False
    await r.call("invalid-crd", "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", bad)
    gv = f"{group}/v1"
    await r.until(lambda: r.target.request("GET", r.group(gv, "widgets")), lambda x: x.status == 200)
    w = {
        "apiVersion": gv,
        "kind": "Widget",
        "metadata": {"name": "w1"},
        "spec": {"size": 3, "color": "red", "extra": 1, "free": {"any": {"thing": 1}}, "labels": {"a": "b"}},
        "status": {"ready": True},
        "other": "x",
    }
    await r.call("create-pruned", "POST", r.group(gv, "widgets"), w)
    for check, spec in (
        ("missing-required", {"color": "red"}),
        ("wrong-type", {"size": "three"}),
        ("enum", {"size": 1, "color": "green"}),
        ("bounds", {"size": 11}),
        ("max-items", {"size": 1, "tags": ["a", "b", "c"]}),
        ("pattern-and-length", {"size": 1, "name": "ABCDEFG"}),
        ("map-values", {"size": 1, "labels": {"a": 1}}),
        ("several", {"size": -1, "color": "green", "tags": "x"}),
        ("explicit-null", {"size": 1, "color": None}),
        ("int-or-string", {"size": 1.5}),
    ):
        await r.call(
            f"invalid-{check}",
            "POST",
            r.group(gv, "widgets"),
            {"apiVersion": gv, "kind": "Widget", "metadata": {"name": check}, "spec": spec},
        )
    body = {
        "apiVersion": gv,
        "kind": "Widget",
        "metadata": {"name": "w2"},
        "spec": {"size": 1, "extra": 1},
        "bogus": True,
    }
    await r.call("strict", "POST", r.group(gv, "widgets"), body, query={"fieldValidation": "Strict"})
    await r.call(
        "warn",
        "POST",
        r.group(gv, "widgets"),
        body,
        query={"fieldValidation": "Warn"},
        keep=["spec", "bogus"],
    )
    await r.call(
        "ignore",
        "POST",
        r.group(gv, "widgets"),
        {**body, "metadata": {"name": "w3"}},
        query={"fieldValidation": "Ignore"},
        keep=["spec"],
    )
    await r.call(
        "bad-validation-value",
        "POST",
        r.group(gv, "widgets"),
        {**body, "metadata": {"name": "w4"}},
        query={"fieldValidation": "Loud"},
        keep=["spec"],
    )
    item = r.group(gv, "widgets", "w1")
    await r.call("strategic-415", "PATCH", item, {"spec": {"size": 2}}, ctype=STRATEGIC)
    await r.call(
        "merge", "PATCH", item, {"spec": {"size": 2}}, ctype=MERGE, keep=["spec", "metadata.generation"]
    )
    await r.call("merge-invalid", "PATCH", item, {"spec": {"size": 20}}, ctype=MERGE)
    await r.call(
        "status-update",
        "PATCH",
        item + "/status",
        {
            "spec": {"size": 5},
            "status": {"ready": False, "conditions": [{"type": "Ready", "status": "True"}]},
        },
        ctype=MERGE,
        keep=["spec", "status", "metadata.generation"],
    )
    await r.call(
        "main-ignores-status",
        "PATCH",
        item,
        {"status": {"ready": True}},
        ctype=MERGE,
        keep=["status", "metadata.generation"],
    )
    await r.call(
        "metadata-only-keeps-generation",
        "PATCH",
        item,
        {"metadata": {"labels": {"x": "y"}}},
        ctype=MERGE,
        keep=["metadata.generation", "metadata.labels"],
    )
    await r.call("table", "GET", r.group(gv, "widgets"), accept=TABLE)
    await r.call(
        "table-wide", "GET", r.group(gv, "widgets", "w1"), accept=TABLE, query={"includeObject": "None"}
    )
    await r.call(
        "cluster-wide-list", "GET", f"/apis/{gv}/widgets", keep=["metadata.name", "metadata.namespace"]
    )
    await r.call("delete-crd", "DELETE", crd_path, keep=["metadata.finalizers", "metadata.deletionTimestamp"])
    gone = await r.until(lambda: r.target.request("GET", crd_path), _gone)
    r.record("crd-gone", {"code": gone.status})
    await r.until(
        lambda: r.target.request("GET", r.group(gv, "widgets")), lambda x: x.status == 404, timeout=10
    )
    await r.call("cr-path-after", "GET", r.group(gv, "widgets"))


@probe("crd-cluster-scoped", timeout=60)
async def crd_cluster_scoped(r: Run) -> None:
    group = f"{r.ns}.example.com"
    crd_body = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"gadgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Cluster",
            "names": {"plural": "gadgets", "kind": "Gadget"},
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
    crd_path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.{group}"
    r.cleanup.append(lambda: r.target.request("DELETE", crd_path))
    await r.call(
        "create", "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd_body, keep=["spec"]
    )
    await r.until(lambda: r.target.request("GET", f"/apis/{group}/v1/gadgets"), lambda x: x.status == 200)
    await r.call("discovery-group", "GET", f"/apis/{group}")
    await r.call("discovery-resources", "GET", f"/apis/{group}/v1")
    await r.call(
        "create-v1beta1",
        "POST",
        f"/apis/{group}/v1beta1/gadgets",
        {"apiVersion": f"{group}/v1beta1", "kind": "Gadget", "metadata": {"name": "g"}, "anything": [1]},
        keep=None,
    )
    await r.call("read-v1", "GET", f"/apis/{group}/v1/gadgets/g", keep=None)
    await r.call("namespaced-path", "GET", f"/apis/{group}/v1/namespaces/{r.ns}/gadgets")
    await r.call("table-default-columns", "GET", f"/apis/{group}/v1/gadgets", accept=TABLE)


# ---- discovery, Table output, OpenAPI ------------------------------------------------------------
def _resources(doc: Any, names: set[str] | None = None) -> Any:
    if not isinstance(doc, dict) or "resources" not in doc:
        return doc
    out = {}
    for res in doc["resources"]:
        if names is not None and res["name"].split("/")[0] not in names:
            continue
        out[res["name"]] = {k: v for k, v in res.items() if k != "name"}
    return {"groupVersion": doc.get("groupVersion"), "kind": doc.get("kind"), "resources": out}


# The kinds and groups the simulator serves (everything else of a real server is listed as not simulated).
SIM_GROUPS = {
    "": (
        "v1",
        {
            "namespaces",
            "configmaps",
            "secrets",
            "services",
            "endpoints",
            "serviceaccounts",
            "pods",
            "nodes",
            "events",
        },
    ),
    "apps": ("v1", {"deployments", "replicasets", "statefulsets", "daemonsets"}),
    "batch": ("v1", {"jobs"}),
    "networking.k8s.io": ("v1", {"ingresses"}),
    "rbac.authorization.k8s.io": ("v1", {"roles", "rolebindings", "clusterroles", "clusterrolebindings"}),
    "coordination.k8s.io": ("v1", {"leases"}),
    "apiextensions.k8s.io": ("v1", {"customresourcedefinitions"}),
    "events.k8s.io": ("v1", {"events"}),
    "authorization.k8s.io": (
        "v1",
        {"selfsubjectaccessreviews", "subjectaccessreviews", "localsubjectaccessreviews"},
    ),
}


@probe("discovery", namespace=False)
async def discovery(r: Run) -> None:
    api = await r.call(None, "GET", "/api")
    r.record("api", {"kind": api.body.get("kind"), "versions": api.body.get("versions")})
    groups = await r.call(None, "GET", "/apis")
    served = {g["name"]: g for g in groups.body["groups"]}
    r.record("apis", {name: served.get(name) for name in sorted(SIM_GROUPS) if name})
    for group, (version, names) in SIM_GROUPS.items():
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        await r.call(
            f"resources {group or 'core'}/{version}", "GET", path, post=lambda b, n=names: _resources(b, n)
        )
        if group:
            await r.call(f"group {group}", "GET", f"/apis/{group}")
    await r.call("trailing-slash", "GET", "/apis/apps/v1/", post=lambda b: _resources(b, {"deployments"}))
    await r.call("unknown-group", "GET", "/apis/nothing.example.com")
    await r.call("unknown-group-version", "GET", "/apis/nothing.example.com/v1")
    await r.call("unknown-group-resource", "GET", "/apis/nothing.example.com/v1/things")
    await r.call("unknown-version", "GET", "/apis/apps/v9")
    await r.call("unknown-version-resource", "GET", "/apis/apps/v9/deployments")
    await r.call("unknown-resource", "GET", "/apis/apps/v1/things")
    await r.call("unknown-core-resource", "GET", "/api/v1/things")
    await r.call("unknown-root", "GET", "/nothing")
    await r.call("cluster-scoped-in-namespace", "GET", "/api/v1/namespaces/default/nodes")
    await r.call("namespaced-item-without-namespace", "GET", "/api/v1/configmaps/x")
    await r.call("too-deep", "GET", "/api/v1/namespaces/default/configmaps/x/y/z")
    await r.call("version", "GET", "/version", post=lambda b: sorted(b) if isinstance(b, dict) else b)
    for path in ("/healthz", "/livez", "/readyz"):
        await r.call(path, "GET", path, accept="*/*")


async def _wait_pod_running(r: Run, name: str) -> Response:
    return await r.until(
        lambda: r.target.request("GET", r.core("pods", name)),
        lambda x: (
            (x.body or {}).get("status", {}).get("phase") == "Running"
            and any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in x.body["status"].get("conditions") or []
            )
        ),
    )


@probe("table", service_account=True, timeout=60)
async def table(r: Run) -> None:
    await r.call(None, "POST", r.core("configmaps"), cm("t", {"a": "1", "b": "2"}))
    await r.call(None, "POST", r.core("secrets"), {"metadata": {"name": "s"}, "stringData": {"x": "y"}})
    await r.call(
        None,
        "POST",
        r.core("services"),
        {
            "metadata": {"name": "svc"},
            "spec": {
                "selector": {"app": "web"},
                "ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https", "protocol": "TCP"}],
            },
        },
    )
    await r.call(None, "POST", r.group("apps/v1", "deployments"), deployment("web"))
    await r.call(
        None,
        "POST",
        r.group("batch/v1", "jobs"),
        {
            "metadata": {"name": "job"},
            "spec": {
                "template": {
                    "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}
                }
            },
        },
    )
    await r.until(
        lambda: r.target.request("GET", r.group("apps/v1", "deployments", "web")),
        lambda x: (x.body or {}).get("status", {}).get("availableReplicas") == 1,
    )
    ip = lambda cell: "<ip>" if isinstance(cell, str) and re.match(r"^\d+\.\d+\.\d+\.\d+$", cell) else cell  # noqa: E731

    def cells(b: Any) -> Any:
        if isinstance(b, dict) and "rows" in b:
            b["rows"] = [[ip(c) for c in row] for row in b["rows"]]
        return b

    for plural in ("configmaps", "secrets", "services"):
        await r.call(plural, "GET", r.core(plural), accept=TABLE, post=cells)
    await r.call("deployments", "GET", r.group("apps/v1", "deployments"), accept=TABLE, post=cells)
    await r.call(
        "jobs-columns", "GET", r.group("batch/v1", "jobs"), accept=TABLE, post=lambda b: b.get("columns")
    )
    await r.call("namespaces", "GET", f"/api/v1/namespaces/{r.ns}", accept=TABLE)
    await r.call(
        "include-object",
        "GET",
        r.core("configmaps", "t"),
        accept=TABLE,
        query={"includeObject": "Object"},
        post=lambda b: {**b, "rows": b.get("rows")},
    )
    await r.call(
        "replicasets-columns",
        "GET",
        r.group("apps/v1", "replicasets"),
        accept=TABLE,
        post=lambda b: b.get("columns"),
    )
    await r.call("pods-columns", "GET", r.core("pods"), accept=TABLE, post=lambda b: b.get("columns"))
    await r.call("nodes-columns", "GET", "/api/v1/nodes", accept=TABLE, post=lambda b: b.get("columns"))
    await r.call(
        "roles-columns",
        "GET",
        r.group("rbac.authorization.k8s.io/v1", "roles"),
        accept=TABLE,
        post=lambda b: b.get("columns"),
    )
    await r.call(
        "leases-columns",
        "GET",
        r.group("coordination.k8s.io/v1", "leases"),
        accept=TABLE,
        post=lambda b: b.get("columns"),
    )
    await r.call(
        "ingresses-columns",
        "GET",
        r.group("networking.k8s.io/v1", "ingresses"),
        accept=TABLE,
        post=lambda b: b.get("columns"),
    )
    await r.call(
        "serviceaccounts-columns",
        "GET",
        r.core("serviceaccounts"),
        accept=TABLE,
        post=lambda b: b.get("columns"),
    )
    await r.call(
        "statefulsets-columns",
        "GET",
        r.group("apps/v1", "statefulsets"),
        accept=TABLE,
        post=lambda b: b.get("columns"),
    )
    await r.call(
        "daemonsets-columns",
        "GET",
        r.group("apps/v1", "daemonsets"),
        accept=TABLE,
        post=lambda b: b.get("columns"),
    )
    await r.call("events-columns", "GET", r.core("events"), accept=TABLE, post=lambda b: b.get("columns"))
    await r.call(
        "crd-columns",
        "GET",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        accept=TABLE,
        post=lambda b: b.get("columns"),
    )
    await r.call(
        "endpoints-columns", "GET", r.core("endpoints"), accept=TABLE, post=lambda b: b.get("columns")
    )


@probe("openapi", namespace=False, timeout=60)
async def openapi(r: Run) -> None:
    doc = (await r.target.request("GET", "/openapi/v2", timeout=60)).body
    defs = doc.get("definitions") or {}
    for name in (
        "io.k8s.api.core.v1.ConfigMap",
        "io.k8s.api.apps.v1.DeploymentSpec",
        "io.k8s.api.core.v1.Container",
        "io.k8s.api.networking.v1.IngressBackend",
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
    ):
        d = defs.get(name) or {}
        r.record(
            f"v2 {name}",
            {
                "required": sorted(d.get("required") or []),
                "type": d.get("type"),
                "properties": {
                    k: {kk: vv for kk, vv in v.items() if kk != "description"}
                    for k, v in sorted((d.get("properties") or {}).items())
                },
                "gvk": d.get("x-kubernetes-group-version-kind"),
            },
        )
    paths = doc.get("paths") or {}
    op = (paths.get("/api/v1/namespaces/{namespace}/configmaps/{name}") or {}).get("patch") or {}
    params = [p.get("name") or p.get("$ref", "").rsplit("/", 1)[-1] for p in op.get("parameters") or []]
    r.record(
        "v2 patch configmap",
        {
            "consumes": op.get("consumes"),
            "params": sorted(params),
            "gvk": op.get("x-kubernetes-group-version-kind"),
        },
    )
    index = (await r.target.request("GET", "/openapi/v3")).body
    r.record("v3 index has apps/v1", "apis/apps/v1" in (index.get("paths") or {}))


# ---- authentication and RBAC ---------------------------------------------------------------------
@probe("auth", service_account=True)
async def auth(r: Run) -> None:
    await r.call("no-token", "GET", r.core("configmaps"), token="")
    await r.call("wrong-token", "GET", r.core("configmaps"), token="not-a-token")
    await r.call(
        "wrong-token-version",
        "GET",
        "/version",
        token="not-a-token",
        post=lambda b: sorted(b) if isinstance(b, dict) and "major" in b else b,
    )
    await r.call("wrong-token-healthz", "GET", "/healthz", token="not-a-token", accept="*/*")
    await r.call(None, "POST", r.core("serviceaccounts"), {"metadata": {"name": "app"}})
    await r.call(
        None,
        "POST",
        r.group("rbac.authorization.k8s.io/v1", "roles"),
        {
            "metadata": {"name": "read-cm"},
            "rules": [
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]},
                {
                    "apiGroups": [""],
                    "resources": ["configmaps"],
                    "resourceNames": ["named"],
                    "verbs": ["update"],
                },
            ],
        },
    )
    await r.call(
        None,
        "POST",
        r.group("rbac.authorization.k8s.io/v1", "rolebindings"),
        {
            "metadata": {"name": "app-read-cm"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-cm"},
            "subjects": [{"kind": "ServiceAccount", "name": "app", "namespace": r.ns}],
        },
    )
    await r.call(None, "POST", r.core("configmaps"), cm("named"))
    tr = await r.call(
        "token-request",
        "POST",
        r.core("serviceaccounts", "app", sub="token"),
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}},
        keep=["kind", "apiVersion", "spec.audiences", "spec.expirationSeconds", "spec.boundObjectRef"],
    )
    await r.call(
        "token-request-too-short",
        "POST",
        r.core("serviceaccounts", "app", sub="token"),
        {"spec": {"expirationSeconds": 60}},
    )
    await r.call(
        "token-request-missing-sa", "POST", r.core("serviceaccounts", "nobody", sub="token"), {"spec": {}}
    )
    token = tr.body["status"]["token"]
    # RBAC of a freshly created binding can take a moment to reach a real authorizer's cache
    await r.until(
        lambda: r.target.request("GET", r.core("configmaps", "named"), token=token),
        lambda x: x.status == 200,
        timeout=10,
    )
    await r.call("allowed-get", "GET", r.core("configmaps", "named"), token=token, keep=["metadata.name"])
    await r.call(
        "allowed-list",
        "GET",
        r.core("configmaps"),
        token=token,
        keep=["metadata.name"],
        post=lambda b: b.get("code") or "list" if isinstance(b, dict) else b,
    )
    await r.call(
        "allowed-update-named",
        "PUT",
        r.core("configmaps", "named"),
        cm("named", {"k": "2"}),
        token=token,
        keep=["data"],
    )
    await r.call("denied-create", "POST", r.core("configmaps"), cm("x"), token=token)
    await r.call("denied-delete", "DELETE", r.core("configmaps", "named"), token=token)
    await r.call("denied-other-namespace", "GET", "/api/v1/namespaces/default/configmaps", token=token)
    await r.call("denied-cluster-list", "GET", "/api/v1/configmaps", token=token)
    await r.call("denied-secrets", "GET", r.core("secrets", "s"), token=token)
    await r.call("denied-group", "GET", r.group("apps/v1", "deployments"), token=token)
    await r.call("denied-cluster-scoped", "GET", "/api/v1/nodes", token=token)
    await r.call("denied-namespace-get", "GET", f"/api/v1/namespaces/{r.ns}", token=token)
    await r.call("denied-watch", "GET", r.core("configmaps"), query={"watch": "true"}, token=token)
    await r.call(
        "denied-subresource", "GET", r.group("apps/v1", "deployments", "d", sub="scale"), token=token
    )
    await r.call(
        "allowed-discovery",
        "GET",
        "/api",
        token=token,
        post=lambda b: b.get("kind") if isinstance(b, dict) else b,
    )
    await r.call(
        "self-review",
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"namespace": r.ns, "verb": "list", "resource": "configmaps"}},
        },
        token=token,
        keep=["kind", "status.allowed", "status.denied"],
    )
    await r.call(
        "self-review-denied",
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"namespace": r.ns, "verb": "delete", "resource": "configmaps"}},
        },
        token=token,
        keep=["kind", "status.allowed", "status.denied"],
    )
    await r.call(None, "DELETE", r.core("serviceaccounts", "app"))
    await r.until(
        lambda: r.target.request("GET", r.core("configmaps", "named"), token=token),
        lambda x: x.status == 401,
        timeout=10,
    )
    await r.call("revoked", "GET", r.core("configmaps", "named"), token=token)


# ---- Services, Ingresses ------------------------------------------------------------------------
def _lb(body: Any) -> Any:
    if isinstance(body, dict) and "status.loadBalancer" in body:
        for ing in (body["status.loadBalancer"] or {}).get("ingress") or []:
            if "ip" in ing:
                ing["ip"] = "<ip>"
    if isinstance(body, dict) and "spec" in body:
        spec = body["spec"]
        for k in ("clusterIP",):
            if spec.get(k) not in (None, "None"):
                spec[k] = "<ip>"
        if spec.get("clusterIPs"):
            spec["clusterIPs"] = ["<ip>" if x != "None" else x for x in spec["clusterIPs"]]
        for p in spec.get("ports") or []:
            if "nodePort" in p:
                p["nodePort"] = "<port>"
        if "healthCheckNodePort" in spec:
            spec["healthCheckNodePort"] = "<port>"
    return body


@probe("service")
async def service(r: Run) -> None:
    keep = ["spec", "status.loadBalancer", "metadata.name"]
    await r.call(
        "create-clusterip",
        "POST",
        r.core("services"),
        {"metadata": {"name": "plain"}, "spec": {"ports": [{"port": 80, "targetPort": "http"}]}},
        keep=keep,
        post=_lb,
    )
    await r.call(
        "create-headless",
        "POST",
        r.core("services"),
        {"metadata": {"name": "headless"}, "spec": {"clusterIP": "None", "ports": [{"port": 80}]}},
        keep=keep,
        post=_lb,
    )
    await r.call(
        "create-externalname",
        "POST",
        r.core("services"),
        {"metadata": {"name": "ext"}, "spec": {"type": "ExternalName", "externalName": "example.com"}},
        keep=keep,
        post=_lb,
    )
    await r.call(
        "create-nodeport",
        "POST",
        r.core("services"),
        {"metadata": {"name": "np"}, "spec": {"type": "NodePort", "ports": [{"port": 80}]}},
        keep=keep,
        post=_lb,
    )
    await r.call(
        "create-lb",
        "POST",
        r.core("services"),
        {"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}},
        keep=keep,
        post=_lb,
    )
    got = await r.until(
        lambda: r.target.request("GET", r.core("services", "lb")),
        lambda x: bool((x.body or {}).get("status", {}).get("loadBalancer", {}).get("ingress")),
    )
    r.record("lb-address", _lb(normalise_body(got.body, keep)))
    await r.call(
        "lb-status-written-by-a-client",
        "PATCH",
        r.core("services", "lb", sub="status"),
        {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.250"}, {"hostname": "lb.example.com"}]}}},
        ctype=MERGE,
        keep=["status.loadBalancer"],
    )
    await r.call(
        "lb-to-clusterip",
        "PATCH",
        r.core("services", "lb"),
        {
            "spec": {
                "type": "ClusterIP",
                "externalTrafficPolicy": None,
                "ports": [{"port": 80, "nodePort": None}],
            }
        },
        ctype=MERGE,
        keep=keep,
        post=_lb,
    )
    await r.call("no-ports", "POST", r.core("services"), {"metadata": {"name": "noports"}, "spec": {}})
    await r.call(
        "bad-port",
        "POST",
        r.core("services"),
        {"metadata": {"name": "badport"}, "spec": {"ports": [{"port": 70000}]}},
    )
    await r.call(
        "cluster-ip-immutable",
        "PATCH",
        r.core("services", "plain"),
        {"spec": {"clusterIP": "10.0.0.250"}},
        ctype=MERGE,
        post=_lb,
    )
    await r.call(
        "status-write",
        "PATCH",
        r.core("services", "plain", sub="status"),
        {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.99"}]}}},
        ctype=MERGE,
        keep=keep,
        post=_lb,
    )
    await r.call(None, "POST", r.core("pods"), {"metadata": {"name": "p"}, "spec": {"containers": []}})


@probe("ingress")
async def ingress(r: Run) -> None:
    keep = ["spec", "status", "metadata.name", "metadata.generation"]
    old_style = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "old"},
        "spec": {
            "rules": [
                {
                    "host": "test.example.com",
                    "http": {"paths": [{"path": "/", "backend": {"serviceName": "s", "servicePort": 80}}]},
                }
            ]
        },
    }
    await r.call(
        "sample1-template", "POST", r.group("networking.k8s.io/v1", "ingresses"), old_style, keep=keep
    )
    no_backend = json.loads(json.dumps(old_style))
    no_backend["spec"]["rules"][0]["http"]["paths"][0] = {"path": "/", "pathType": "Prefix", "backend": {}}
    await r.call("empty-backend", "POST", r.group("networking.k8s.io/v1", "ingresses"), no_backend, keep=keep)
    both = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "both"},
        "spec": {
            "rules": [
                {
                    "http": {
                        "paths": [
                            {"path": "rel", "pathType": "Exact", "backend": {"service": {"name": "s"}}},
                            {
                                "path": "/x",
                                "pathType": "Weird",
                                "backend": {"service": {"name": "S", "port": {"number": 0}}},
                            },
                            {
                                "path": "/y",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "s", "port": {"number": 80, "name": "http"}}},
                            },
                        ]
                    }
                }
            ]
        },
    }
    await r.call("several-errors", "POST", r.group("networking.k8s.io/v1", "ingresses"), both, keep=keep)
    good = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "good"},
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": ["a.example.com"], "secretName": "tls"}],
            "rules": [
                {
                    "host": "a.example.com",
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "s", "port": {"number": 80}}},
                            },
                            {
                                "path": "/api",
                                "pathType": "ImplementationSpecific",
                                "backend": {"service": {"name": "api", "port": {"name": "http"}}},
                            },
                        ]
                    },
                }
            ],
            "defaultBackend": {"service": {"name": "d", "port": {"number": 8080}}},
        },
    }
    await r.call("valid", "POST", r.group("networking.k8s.io/v1", "ingresses"), good, keep=keep)
    await r.call(
        "status",
        "PATCH",
        r.group("networking.k8s.io/v1", "ingresses", "good", sub="status"),
        {
            "status": {
                "loadBalancer": {"ingress": [{"ip": "192.0.2.7", "ports": [{"port": 80, "protocol": "TCP"}]}]}
            }
        },
        ctype=MERGE,
        keep=keep,
    )
    await r.call(
        "main-ignores-status",
        "PATCH",
        r.group("networking.k8s.io/v1", "ingresses", "good"),
        {"status": {"loadBalancer": {}}, "metadata": {"labels": {"a": "b"}}},
        ctype=MERGE,
        keep=keep,
    )
    await r.call(
        "spec-change-bumps-generation",
        "PATCH",
        r.group("networking.k8s.io/v1", "ingresses", "good"),
        {"spec": {"ingressClassName": "other"}},
        ctype=MERGE,
        keep=["metadata.generation"],
    )
    await r.call(
        "resource-backend",
        "POST",
        r.group("networking.k8s.io/v1", "ingresses"),
        {
            "metadata": {"name": "res"},
            "spec": {
                "defaultBackend": {"resource": {"apiGroup": "example.com", "kind": "Bucket", "name": "b"}}
            },
        },
        keep=keep,
    )
    await r.call(
        "no-rules-no-backend",
        "POST",
        r.group("networking.k8s.io/v1", "ingresses"),
        {"metadata": {"name": "empty"}, "spec": {}},
        keep=keep,
    )


# ---- kubectl: explain, apply of a List, create token, get ---------------------------------------
def _claims(out: dict[str, Any]) -> dict[str, Any]:
    token = out["stdout"].strip()
    header, payload = (
        json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))) for p in token.split(".")[:2]
    )
    k8s = payload.get("kubernetes.io") or {}
    return {
        "rc": out["rc"],
        "alg": header.get("alg"),
        "has_kid": bool(header.get("kid")),
        "claims": sorted(payload),
        "sub": payload.get("sub"),
        "lifetime": payload["exp"] - payload["iat"],
        "kubernetes.io": {k: (sorted(v) if isinstance(v, dict) else v) for k, v in k8s.items()},
    }


@probe("kubectl", service_account=True, timeout=90)
async def kubectl(r: Run) -> None:
    for field_path in (
        "deployment.spec.replicas",
        "configmap.data",
        "service.spec.type",
        "ingress.spec.rules.http",
        "pod.spec.containers.imagePullPolicy",
        "namespace",
        "deployment.spec.strategy",
    ):
        await r.kubectl(f"explain {field_path}", "explain", field_path)
    await r.kubectl("explain --recursive", "explain", "configmap", "--recursive")
    await r.kubectl("explain unknown", "explain", "configmap.nothing")
    listing = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "l1", "namespace": r.ns},
                "data": {"a": "1"},
            },
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "l2", "namespace": r.ns},
                "stringData": {"b": "2"},
            },
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "l3", "namespace": r.ns},
                "spec": {
                    "selector": {"matchLabels": {"app": "l3"}},
                    "template": {
                        "metadata": {"labels": {"app": "l3"}},
                        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
                    },
                },
            },
        ],
    }
    await r.kubectl("apply List", "apply", "-f", "-", input=yaml.safe_dump(listing))
    await r.kubectl("apply List again", "apply", "-f", "-", input=yaml.safe_dump(listing))
    bad = json.loads(json.dumps(listing))
    bad["items"][0]["spec"] = {"x": 1}
    await r.kubectl("apply List with unknown field", "apply", "-f", "-", input=yaml.safe_dump(bad))
    await r.kubectl("apply server-side", "apply", "--server-side", "-f", "-", input=yaml.safe_dump(listing))
    await r.kubectl("get secret", "get", "secret", "l2", "-n", r.ns, "-o", "jsonpath={.data.b}")
    await r.kubectl(
        "get configmaps", "get", "configmaps", "-n", r.ns, "-o", "custom-columns=NAME:.metadata.name"
    )
    await r.kubectl(
        "get deployment wide",
        "get",
        "deployment",
        "l3",
        "-n",
        r.ns,
        "-o",
        "wide",
        "--no-headers",
        post=lambda o: {**o, "stdout": o["stdout"].split()[5:]},
    )  # after NAME..AGE
    await r.kubectl(None, "create", "serviceaccount", "robot", "-n", r.ns)
    await r.kubectl("create token", "create", "token", "robot", "-n", r.ns, "--duration", "20m", post=_claims)
    await r.kubectl("create token too short", "create", "token", "robot", "-n", r.ns, "--duration", "1m")
    await r.kubectl("create token missing", "create", "token", "nobody", "-n", r.ns)
    await r.kubectl("get missing", "get", "configmap", "nothing", "-n", r.ns)
    await r.kubectl("get unknown type", "get", "frobnicators")
    await r.kubectl("create namespace", "create", "namespace", f"{r.ns}-k")
    await r.kubectl("delete namespace", "delete", "namespace", f"{r.ns}-k", "--wait=false")
    await r.kubectl(
        "create configmap",
        "create",
        "configmap",
        "from-literal",
        "-n",
        r.ns,
        "--from-literal=a=b",
        "-o",
        "jsonpath={.data}",
    )
    await r.kubectl(
        "create secret",
        "create",
        "secret",
        "generic",
        "gen",
        "-n",
        r.ns,
        "--from-literal=a=b",
        "-o",
        "jsonpath={.type} {.data}",
    )
    await r.kubectl("auth can-i", "auth", "can-i", "list", "configmaps", "-n", r.ns)
    await r.kubectl("label", "label", "configmap", "l1", "-n", r.ns, "x=y")
    await r.kubectl("label overwrite refused", "label", "configmap", "l1", "-n", r.ns, "x=z")
    await r.kubectl("annotate", "annotate", "configmap", "l1", "-n", r.ns, "note=hi")
    await r.kubectl(
        "patch strategic on configmap", "patch", "configmap", "l1", "-n", r.ns, "-p", '{"data":{"c":"3"}}'
    )
    await r.kubectl("scale", "scale", "deployment", "l3", "-n", r.ns, "--replicas=2")
    await r.kubectl("delete", "delete", "configmap", "l1", "-n", r.ns)
    await r.kubectl("delete missing", "delete", "configmap", "l1", "-n", r.ns)


# ---- what a create returns: defaults of every served kind -----------------------------------------
def _template(labels: dict[str, str], image: str = "nginx:1.25") -> dict[str, Any]:
    return {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": image}]}}


DEFAULTS: dict[str, tuple[str, dict[str, Any]]] = {
    "configmap": (
        "/api/v1/namespaces/{ns}/configmaps",
        {"metadata": {"name": "x"}, "data": {}, "binaryData": {}},
    ),
    "secret": (
        "/api/v1/namespaces/{ns}/secrets",
        {"metadata": {"name": "x"}, "stringData": {"a": "b"}, "data": {"c": "ZA=="}},
    ),
    "serviceaccount": ("/api/v1/namespaces/{ns}/serviceaccounts", {"metadata": {"name": "x"}}),
    "endpoints": (
        "/api/v1/namespaces/{ns}/endpoints",
        {
            "metadata": {"name": "x"},
            "subsets": [{"addresses": [{"ip": "10.1.2.3"}], "ports": [{"port": 80}]}],
        },
    ),
    "event": (
        "/api/v1/namespaces/{ns}/events",
        {
            "metadata": {"name": "x"},
            "involvedObject": {"kind": "ConfigMap", "name": "c", "namespace": "{ns}"},
            "reason": "Tested",
            "message": "m",
            "type": "Normal",
        },
    ),
    "events.k8s.io": (
        "/apis/events.k8s.io/v1/namespaces/{ns}/events",
        {
            "metadata": {"name": "y"},
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "reportingController": "x/y",
            "reportingInstance": "i",
            "action": "Test",
            "reason": "Tested",
            "type": "Normal",
            "regarding": {"kind": "ConfigMap", "name": "c", "namespace": "{ns}"},
        },
    ),
    "pod": (
        "/api/v1/namespaces/{ns}/pods",
        {
            "metadata": {"name": "x"},
            "spec": {
                "containers": [
                    {"name": "c", "image": "nginx"},
                    {"name": "d", "image": "nginx:1.25", "ports": [{"containerPort": 80}]},
                ]
            },
        },
    ),
    "deployment": (
        "/apis/apps/v1/namespaces/{ns}/deployments",
        {
            "metadata": {"name": "x"},
            "spec": {"selector": {"matchLabels": {"a": "x"}}, "template": _template({"a": "x"})},
        },
    ),
    "replicaset": (
        "/apis/apps/v1/namespaces/{ns}/replicasets",
        {
            "metadata": {"name": "x"},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"a": "rs"}},
                "template": _template({"a": "rs"}),
            },
        },
    ),
    "statefulset": (
        "/apis/apps/v1/namespaces/{ns}/statefulsets",
        {
            "metadata": {"name": "x"},
            "spec": {
                "replicas": 0,
                "serviceName": "x",
                "selector": {"matchLabels": {"a": "sts"}},
                "template": _template({"a": "sts"}),
            },
        },
    ),
    "daemonset": (
        "/apis/apps/v1/namespaces/{ns}/daemonsets",
        {
            "metadata": {"name": "x"},
            "spec": {
                "selector": {"matchLabels": {"a": "ds"}},
                "template": {
                    **_template({"a": "ds"}),
                    "spec": {
                        "nodeSelector": {"none": "here"},
                        "containers": [{"name": "c", "image": "nginx:latest"}],
                    },
                },
            },
        },
    ),
    "job": (
        "/apis/batch/v1/namespaces/{ns}/jobs",
        {
            "metadata": {"name": "x"},
            "spec": {
                "suspend": True,
                "template": {
                    "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}
                },
            },
        },
    ),
    "ingress": (
        "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses",
        {
            "metadata": {"name": "x"},
            "spec": {"defaultBackend": {"service": {"name": "s", "port": {"number": 80}}}},
        },
    ),
    "role": (
        "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
        {"metadata": {"name": "x"}, "rules": []},
    ),
    "rolebinding": (
        "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
        {
            "metadata": {"name": "x"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "x"},
            "subjects": [{"kind": "User", "name": "u"}, {"kind": "ServiceAccount", "name": "s"}],
        },
    ),
    "lease": (
        "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases",
        {"metadata": {"name": "x"}, "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15}},
    ),
    "namespace": ("/api/v1/namespaces", {"metadata": {"name": "{ns}-n"}}),
}


@probe("defaults", service_account=True)
async def defaults(r: Run) -> None:
    for check, (path, body) in DEFAULTS.items():
        text = json.dumps(body).replace("{ns}", r.ns)
        resp = await r.call(None, "POST", path.format(ns=r.ns), json.loads(text))
        obj = normalise_body(resp.body, None)
        if isinstance(obj, dict):
            obj.pop("status", None) if check in (
                "pod",
                "deployment",
                "replicaset",
                "statefulset",
                "daemonset",
                "job",
            ) else None
            meta = obj.get("metadata") or {}
            if check == "job":  # the generated selector label carries the uid (scrubbed)
                meta.pop("labels", None)
        r.record(check, {"code": resp.status, "body": obj, "warnings": normalise_warnings(resp.headers)})
    await r.call(None, "DELETE", f"/api/v1/namespaces/{r.ns}-n")


# ---- the same through kubernetes-asyncio (the client library of the simulator's asyncio suite) ---------
@probe("kubernetes-asyncio", timeout=60)
async def kubernetes_asyncio(r: Run) -> None:
    from kubernetes_asyncio import client, watch
    from kubernetes_asyncio.client.exceptions import ApiException

    from sim.testing import new_api_client

    api = await new_api_client(r.target.kubectl.kubeconfig, r.target.name)

    async def outcome(check: str, call: Awaitable[Any], keep: Callable[[Any], Any] = lambda o: o) -> Any:
        try:
            result = await call
        except ApiException as exc:
            r.record(check, {"status": exc.status, "body": normalise_status(json.loads(exc.body))})
            return None
        r.record(check, {"status": 200, "result": keep(result)})
        return result

    try:
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        made = await outcome(
            "create",
            core.create_namespaced_config_map(r.ns, {"metadata": {"name": "a"}, "data": {"k": "v"}}),
            lambda o: o.data,
        )
        start = made.metadata.resource_version
        made.data["k"] = "w"
        await outcome("replace", core.replace_namespaced_config_map("a", r.ns, made), lambda o: o.data)
        made.data["k"] = "stale"
        await outcome("replace-stale", core.replace_namespaced_config_map("a", r.ns, made))
        await outcome("create-again", core.create_namespaced_config_map(r.ns, {"metadata": {"name": "a"}}))
        await outcome("read-missing", core.read_namespaced_config_map("missing", r.ns))
        await outcome(
            "patch-strategic-default",
            core.patch_namespaced_config_map("a", r.ns, {"metadata": {"labels": {"x": "y"}}}),
            lambda o: o.metadata.labels,
        )
        await outcome(
            "list-label-selector",
            core.list_namespaced_config_map(r.ns, label_selector="x=y"),
            lambda o: [i.metadata.name for i in o.items],
        )
        dep = {
            "metadata": {"name": "d"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "d"}},
                "template": {
                    "metadata": {"labels": {"app": "d"}},
                    "spec": {
                        "containers": [{"name": "a", "image": "x", "env": [{"name": "A", "value": "1"}]}]
                    },
                },
            },
        }
        await outcome(
            "create-deployment",
            apps.create_namespaced_deployment(r.ns, dep),
            lambda o: (o.spec.template.spec.containers[0].image_pull_policy, o.metadata.generation),
        )
        await outcome(
            "patch-deployment-env",
            apps.patch_namespaced_deployment(
                "d",
                r.ns,
                {
                    "spec": {
                        "template": {
                            "spec": {"containers": [{"name": "a", "env": [{"name": "B", "value": "2"}]}]}
                        }
                    }
                },
            ),
            lambda o: [e.name for e in o.spec.template.spec.containers[0].env],
        )
        await outcome(
            "patch-deployment-json",
            apps.patch_namespaced_deployment(
                "d", r.ns, [{"op": "replace", "path": "/spec/replicas", "value": 2}]
            ),
            lambda o: o.spec.replicas,
        )
        await core.delete_namespaced_config_map("a", r.ns)
        seen: list[tuple[str, str]] = []
        w = watch.Watch()
        async for ev in w.stream(
            core.list_namespaced_config_map, r.ns, resource_version=start, timeout_seconds=5
        ):
            if ev["object"].metadata.name != "kube-root-ca.crt":
                seen.append((ev["type"], ev["object"].metadata.name))
            if len(seen) == 3:
                w.stop()
        r.record("watch-from-rv", seen)
        await outcome("delete-missing", core.delete_namespaced_config_map("a", r.ns))
    finally:
        await api.close()
