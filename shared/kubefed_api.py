"""KubeFed's own API types, their defaulting and their validation: one source of truth.

The ``msgspec`` Structs below are the Python side of the CRDs in ``deploy/crds/``:
``kubefedctl/_schema.py`` turns them into the CRDs' OpenAPI schemas (enums from ``Literal``,
``required`` from fields without a default, ``minimum``/``pattern`` from ``msgspec.Meta``), and a test
checks that the YAML on disk equals what the generator produces now, so schema and readers cannot drift.
Field names are the exact JSON names (camelCase on purpose) so no renaming layer can go wrong.

What a CRD schema cannot express (cross-field rules such as ``leaseDuration > renewDeadline``, the
FederatedTypeConfig name rule, feature-gate names) is checked by the pure validators here, which return
KubeFed's field-error strings (``spec.scope: Required value`` ...), as its admission webhook did
(``pkg/apis/core/v1beta1/validation/validation.go``). KubeFedConfig and FederatedTypeConfig defaulting
(``pkg/apis/core/v1beta1/defaults``) also lives here; both work on plain dicts (API objects stay dicts at
the edges) and never mutate their input. No I/O.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import msgspec

__all__ = [
    "DEFAULT_FEATURE_GATES",
    "DEFAULT_KUBEFED_CONFIG_SPEC",
    "decode_kubefed_config_spec",
    "effective_config_spec",
    "DEFAULT_KUBEFED_NAMESPACE",
    "KUBEFED_CONFIG_NAME",
    "APIResource",
    "ClusterCondition",
    "ClusterPreferences",
    "DNSEndpoint",
    "Domain",
    "FederatedTypeConfig",
    "IngressDNSRecord",
    "KubeFedCluster",
    "KubeFedConfig",
    "KubeFedConfigSpec",
    "PropagatedVersion",
    "ReplicaSchedulingPreference",
    "ServiceDNSRecord",
    "aggregate",
    "default_federated_type_config",
    "default_kubefed_config",
    "parse_duration",
    "validate_federated_type_config",
    "validate_kubefed_cluster",
    "validate_kubefed_config",
]

DEFAULT_KUBEFED_NAMESPACE = "kube-federation-system"
KUBEFED_CONFIG_NAME = "kubefed"

_DATE_TIME = msgspec.Meta(extra_json_schema={"format": "date-time"})
_INT64 = msgspec.Meta(extra_json_schema={"format": "int64"})
_INT32 = msgspec.Meta(extra_json_schema={"format": "int32"})
_PRESERVE = msgspec.Meta(extra_json_schema={"x-kubernetes-preserve-unknown-fields": True})

DateTime = Annotated[str, _DATE_TIME]
Int64 = Annotated[int, _INT64]
Int32 = Annotated[int, _INT32]
Scope = Literal["Cluster", "Namespaced"]
EnabledDisabled = Literal["Enabled", "Disabled"]


class _Struct(msgspec.Struct, kw_only=True, omit_defaults=True, frozen=True):
    """Base of every API struct: exact JSON names, unset fields omitted."""


# --- core.kubefed.io/v1beta1 KubeFedCluster -------------------------------------------------------
class LocalSecretReference(_Struct, frozen=True):
    """Name of a Secret in the KubeFed system namespace."""

    name: str


class ClusterCondition(_Struct, frozen=True):
    """One probe result (Ready, Offline or ConfigMalformed)."""

    type: Literal["Ready", "Offline", "ConfigMalformed"]
    status: Literal["True", "False", "Unknown"]
    lastProbeTime: DateTime
    lastTransitionTime: DateTime | None = None
    reason: str | None = None
    message: str | None = None


class KubeFedClusterSpec(_Struct, frozen=True):
    """How to reach a member cluster."""

    apiEndpoint: str
    secretRef: LocalSecretReference
    caBundle: bytes | None = None
    disabledTLSValidations: list[Literal["*", "SubjectName", "ValidityPeriod"]] | None = None
    proxyURL: Annotated[str, msgspec.Meta(pattern=r"^(https?|socks5)://")] | None = None


class KubeFedClusterStatus(_Struct, frozen=True):
    """Written by the cluster health checker."""

    conditions: list[ClusterCondition]
    zones: list[str] | None = None
    region: str | None = None
    kubernetesVersion: str | None = None


class KubeFedCluster(_Struct, frozen=True):
    """A member cluster known to the control plane."""

    spec: KubeFedClusterSpec
    status: KubeFedClusterStatus | None = None


# --- core.kubefed.io/v1alpha1 PropagatedVersion / ClusterPropagatedVersion -----------------------
class ClusterObjectVersion(_Struct, frozen=True):
    """The version of a member object last written or verified: ``gen:<generation>`` or ``rv:<resourceVersion>``."""  # noqa: E501 (the CRD's description, deploy/crds)

    clusterName: str
    version: str


class PropagatedVersionStatus(_Struct, frozen=True):
    templateVersion: str
    overridesVersion: str  # KubeFed's JSON name (its Go field is OverrideVersion)
    clusterVersions: list[ClusterObjectVersion] | None = None


class PropagatedVersion(_Struct, frozen=True):
    """KubeFed's record of what was propagated for one federated object (written only with the scheduler's
    ``--propagated-versions``; tools such as KubeFed's e2e suite read it)."""

    status: PropagatedVersionStatus | None = None


# --- core.kubefed.io/v1beta1 KubeFedConfig ------------------------------------------------------
Duration = Annotated[str, msgspec.Meta(pattern=r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")]
PositiveInt = Annotated[int, msgspec.Meta(ge=1, extra_json_schema={"format": "int64"})]


class DurationConfig(_Struct, frozen=True):
    availableDelay: Duration | None = None
    unavailableDelay: Duration | None = None
    cacheSyncTimeout: Duration | None = None


class LeaderElectConfig(_Struct, frozen=True):
    leaseDuration: Duration | None = None
    renewDeadline: Duration | None = None
    retryPeriod: Duration | None = None
    resourceLock: Literal["configmaps", "endpoints"] | None = None


class FeatureGatesConfig(_Struct, frozen=True):
    name: str
    configuration: EnabledDisabled


class ClusterHealthCheckConfig(_Struct, frozen=True):
    period: Duration | None = None
    failureThreshold: PositiveInt | None = None
    successThreshold: PositiveInt | None = None
    timeout: Duration | None = None


class SyncControllerConfig(_Struct, frozen=True):
    maxConcurrentReconciles: PositiveInt | None = None
    adoptResources: EnabledDisabled | None = None


class StatusControllerConfig(_Struct, frozen=True):
    maxConcurrentReconciles: PositiveInt | None = None


# Read it through the accessors below, which fall back to KubeFed's defaults for anything unset
# (effective_config_spec returns it defaulted anyway). No docstring: it would become the CRD's description.
class KubeFedConfigSpec(_Struct, frozen=True):
    scope: Scope
    controllerDuration: DurationConfig | None = None
    leaderElect: LeaderElectConfig | None = None
    featureGates: list[FeatureGatesConfig] | None = None
    clusterHealthCheck: ClusterHealthCheckConfig | None = None
    syncController: SyncControllerConfig | None = None
    statusController: StatusControllerConfig | None = None

    @property
    def namespaced(self) -> bool:
        """The control plane is ``Namespaced``: it handles only its system namespace."""
        return self.scope == "Namespaced"

    def feature_enabled(self, gate: str) -> bool:
        """Whether a feature gate is ``Enabled``; a gate not listed has KubeFed's default."""
        for entry in self.featureGates or []:
            if entry.name == gate:
                return entry.configuration == "Enabled"
        return DEFAULT_FEATURE_GATES.get(gate) == "Enabled"

    @property
    def adopt_resources(self) -> bool:
        """``syncController.adoptResources``: member objects not created by us may be adopted."""
        sync = self.syncController or SyncControllerConfig()
        return (sync.adoptResources or _CONFIG_DEFAULTS["syncController"]["adoptResources"]) == "Enabled"

    @property
    def sync_concurrency(self) -> int:
        """``syncController.maxConcurrentReconciles``."""
        sync = self.syncController or SyncControllerConfig()
        return int(
            sync.maxConcurrentReconciles or _CONFIG_DEFAULTS["syncController"]["maxConcurrentReconciles"]
        )

    @property
    def available_delay(self) -> float:
        """``controllerDuration.availableDelay`` in seconds."""
        return _seconds(
            "controllerDuration",
            "availableDelay",
            (self.controllerDuration or DurationConfig()).availableDelay,
        )

    @property
    def unavailable_delay(self) -> float:
        """``controllerDuration.unavailableDelay`` in seconds."""
        return _seconds(
            "controllerDuration",
            "unavailableDelay",
            (self.controllerDuration or DurationConfig()).unavailableDelay,
        )

    @property
    def cache_sync_timeout(self) -> float:
        """``controllerDuration.cacheSyncTimeout`` in seconds."""
        return _seconds(
            "controllerDuration",
            "cacheSyncTimeout",
            (self.controllerDuration or DurationConfig()).cacheSyncTimeout,
        )

    @property
    def lease_duration(self) -> float:
        """``leaderElect.leaseDuration`` in seconds."""
        return _seconds(
            "leaderElect", "leaseDuration", (self.leaderElect or LeaderElectConfig()).leaseDuration
        )

    @property
    def renew_deadline(self) -> float:
        """``leaderElect.renewDeadline`` in seconds."""
        return _seconds(
            "leaderElect", "renewDeadline", (self.leaderElect or LeaderElectConfig()).renewDeadline
        )

    @property
    def retry_period(self) -> float:
        """``leaderElect.retryPeriod`` in seconds."""
        return _seconds("leaderElect", "retryPeriod", (self.leaderElect or LeaderElectConfig()).retryPeriod)

    @property
    def health_check_period(self) -> float:
        """``clusterHealthCheck.period`` in seconds."""
        return _seconds(
            "clusterHealthCheck", "period", (self.clusterHealthCheck or ClusterHealthCheckConfig()).period
        )

    @property
    def health_check_timeout(self) -> float:
        """``clusterHealthCheck.timeout`` in seconds."""
        return _seconds(
            "clusterHealthCheck", "timeout", (self.clusterHealthCheck or ClusterHealthCheckConfig()).timeout
        )

    @property
    def failure_threshold(self) -> int:
        """``clusterHealthCheck.failureThreshold``."""
        check = self.clusterHealthCheck or ClusterHealthCheckConfig()
        return int(check.failureThreshold or _CONFIG_DEFAULTS["clusterHealthCheck"]["failureThreshold"])

    @property
    def success_threshold(self) -> int:
        """``clusterHealthCheck.successThreshold``."""
        check = self.clusterHealthCheck or ClusterHealthCheckConfig()
        return int(check.successThreshold or _CONFIG_DEFAULTS["clusterHealthCheck"]["successThreshold"])


class KubeFedConfig(_Struct, frozen=True):
    """Control-plane settings; only ``<system namespace>/kubefed`` is read."""

    spec: KubeFedConfigSpec


# --- core.kubefed.io/v1beta1 FederatedTypeConfig ----------------------------------------------------
_DNS1035 = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"


class APIResource(_Struct, frozen=True):
    """Group, version, kind, plural and scope of one type."""

    kind: str
    pluralName: Annotated[str, msgspec.Meta(pattern=_DNS1035)]
    scope: Scope
    version: Annotated[str, msgspec.Meta(pattern=_DNS1035)]
    group: str | None = None


class FederatedTypeConfigSpec(_Struct, frozen=True):
    targetType: APIResource
    federatedType: APIResource
    propagation: EnabledDisabled
    statusType: APIResource | None = None
    statusCollection: EnabledDisabled | None = None


class FederatedTypeConfigStatus(_Struct, frozen=True):
    observedGeneration: Annotated[int, msgspec.Meta(ge=0, extra_json_schema={"format": "int64"})]
    propagationController: Literal["Running", "NotRunning"]
    statusController: Literal["Running", "NotRunning"] | None = None


class FederatedTypeConfig(_Struct, frozen=True):
    """Enables propagation of one target type through its ``Federated<Kind>`` type."""

    spec: FederatedTypeConfigSpec
    status: FederatedTypeConfigStatus | None = None


# --- scheduling.kubefed.io/v1alpha1 ReplicaSchedulingPreference --------------------------------------
class ClusterPreferences(_Struct, frozen=True):
    minReplicas: Int64 | None = None
    maxReplicas: Int64 | None = None
    weight: Int64 | None = None


class ReplicaSchedulingPreferenceSpec(_Struct, frozen=True):
    targetKind: str
    totalReplicas: Int32
    rebalance: bool | None = None
    intersectWithClusterSelector: bool | None = None
    clusters: dict[str, ClusterPreferences] | None = None
    # Beyond KubeFed (opt-in, absent from KubeFed manifests): replicas a full cluster cannot run go to
    # the others instead of piling up there as overflow (docs/compatibility.md).
    capacityAware: bool | None = None


class ReplicaSchedulingPreferenceStatus(_Struct, frozen=True):
    """Never written (as in KubeFed)."""


class ReplicaSchedulingPreference(_Struct, frozen=True):
    """Spreads a FederatedDeployment/ReplicaSet's replicas over clusters by weight."""

    spec: ReplicaSchedulingPreferenceSpec
    status: ReplicaSchedulingPreferenceStatus | None = None


# --- multiclusterdns.kubefed.io/v1alpha1 ------------------------------------------------------------
class Domain(_Struct, frozen=True):
    """A DNS zone; its name is the federation label in DNS names (no spec, top-level fields)."""

    domain: str
    nameServer: str | None = None


class LoadBalancerIngress(_Struct, frozen=True):
    ip: str | None = None
    hostname: str | None = None


class LoadBalancerStatus(_Struct, frozen=True):
    ingress: list[LoadBalancerIngress] | None = None


class ClusterDNS(_Struct, frozen=True):
    cluster: str
    loadBalancer: LoadBalancerStatus | None = None
    zones: list[str] | None = None
    region: str | None = None


class ServiceDNSRecordSpec(_Struct, frozen=True):
    domainRef: str
    recordTTL: Int64 | None = None
    dnsPrefix: str | None = None
    externalName: str | None = None
    allowServiceWithoutEndpoints: bool | None = None


class ServiceDNSRecordStatus(_Struct, frozen=True):
    domain: str | None = None
    dns: list[ClusterDNS] | None = None


class ServiceDNSRecord(_Struct, frozen=True):
    """DNS records for the Service of the same name in every member."""

    spec: ServiceDNSRecordSpec | None = None
    status: ServiceDNSRecordStatus | None = None


class ClusterIngressDNS(_Struct, frozen=True):
    cluster: str
    loadBalancer: LoadBalancerStatus | None = None


class IngressDNSRecordSpec(_Struct, frozen=True):
    hosts: list[str] | None = None
    recordTTL: Int64 | None = None


class IngressDNSRecordStatus(_Struct, frozen=True):
    dns: list[ClusterIngressDNS] | None = None


class IngressDNSRecord(_Struct, frozen=True):
    """DNS records for the Ingress of the same name in every member."""

    spec: IngressDNSRecordSpec | None = None
    status: IngressDNSRecordStatus | None = None


class DNSEndpointItem(_Struct, frozen=True):
    dnsName: str | None = None
    targets: list[str] | None = None
    recordType: str | None = None
    recordTTL: Int64 | None = None
    labels: dict[str, str] | None = None


class DNSEndpointSpec(_Struct, frozen=True):
    endpoints: list[DNSEndpointItem] | None = None


class DNSEndpointStatus(_Struct, frozen=True):
    observedGeneration: Int64 | None = None


class DNSEndpoint(_Struct, frozen=True):
    """Endpoints for external-dns (``--source=crd``)."""

    spec: DNSEndpointSpec | None = None
    status: DNSEndpointStatus | None = None


# --- durations --------------------------------------------------------------------------------------
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Seconds in a Go duration string (``1m30s``, ``500ms``); ValueError if malformed."""
    if text in ("0", ""):
        return 0.0
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text):
        raise ValueError(f'time: invalid duration "{text}"')
    return total


# --- defaulting -------------------------------------------------------------------------------------
DEFAULT_FEATURE_GATES: Mapping[str, str] = {
    "CrossClusterServiceDiscovery": "Disabled",
    "FederatedIngress": "Disabled",
    "PushReconciler": "Enabled",
    "RawResourceStatusCollection": "Disabled",
    "SchedulerPreferences": "Enabled",
}
_CONFIG_DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    "controllerDuration": {"availableDelay": "20s", "unavailableDelay": "1m0s", "cacheSyncTimeout": "5m0s"},
    "leaderElect": {
        "leaseDuration": "15s",
        "renewDeadline": "10s",
        "retryPeriod": "5s",
        "resourceLock": "configmaps",
    },
    "clusterHealthCheck": {"period": "10s", "failureThreshold": 3, "successThreshold": 1, "timeout": "3s"},
    "syncController": {"maxConcurrentReconciles": 1, "adoptResources": "Enabled"},
    "statusController": {"maxConcurrentReconciles": 1},
}


def default_kubefed_config(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a KubeFedConfig with KubeFed's defaults filled in (gates completed and sorted)."""
    out: dict[str, Any] = copy.deepcopy(dict(obj))
    spec = out.setdefault("spec", {})
    for section, defaults in _CONFIG_DEFAULTS.items():
        current = spec.get(section)
        if not isinstance(current, dict):
            current = {}
        for key, value in defaults.items():
            if current.get(key) in (None, ""):
                current[key] = value
        spec[section] = current
    gates = [g for g in spec.get("featureGates") or [] if isinstance(g, dict)]
    present = {g.get("name") for g in gates}
    gates += [{"name": n, "configuration": c} for n, c in DEFAULT_FEATURE_GATES.items() if n not in present]
    spec["featureGates"] = sorted(gates, key=lambda g: str(g.get("name", "")))
    return out


def default_federated_type_config(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of an FTC with targetType plural/group taken from the name and statusType completed."""
    out: dict[str, Any] = copy.deepcopy(dict(obj))
    name = str((out.get("metadata") or {}).get("name") or "")
    spec = out.setdefault("spec", {})
    target = spec.setdefault("targetType", {})
    plural, _, group = name.partition(".")
    if not target.get("pluralName") and plural:
        target["pluralName"] = plural
    if not target.get("group") and group:
        target["group"] = group
    status_type = spec.get("statusType")
    if isinstance(status_type, dict):
        fed = spec.get("federatedType") or {}
        status_type.setdefault("group", fed.get("group"))
        status_type.setdefault("version", fed.get("version"))
        if not status_type.get("pluralName") and status_type.get("kind"):
            status_type["pluralName"] = str(status_type["kind"]).lower() + "s"
    return out


# --- validation -------------------------------------------------------------------------------------
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1035_LABEL = re.compile(_DNS1035)
_DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
    "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
_DNS1123_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
    "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
KNOWN_FEATURE_GATES = frozenset(DEFAULT_FEATURE_GATES)


def _required(path: str) -> str:
    return f"{path}: Required value"


def _invalid(path: str, value: Any, detail: str) -> str:
    return f'{path}: Invalid value: "{value}": {detail}'


def _enum(path: str, value: Any, accepted: tuple[str, ...]) -> list[str]:
    if value in (None, ""):
        return [_required(path)]
    if value not in accepted:
        shown = ", ".join(f'"{a}"' for a in accepted)
        return [f'{path}: Unsupported value: "{value}": supported values: {shown}']
    return []


def aggregate(errors: list[str]) -> str:
    """Kubernetes' aggregated error text: the error itself, or ``[e1, e2]``."""
    return errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"


def _positive_duration(path: str, value: Any) -> tuple[list[str], float]:
    if value in (None, ""):
        return [_required(path)], 0.0
    try:
        seconds = parse_duration(str(value))
    except ValueError as exc:
        return [_invalid(path, value, str(exc))], 0.0
    if seconds <= 0:
        return [_invalid(path, value, "duration must be greater than 0")], 0.0
    return [], seconds


def _positive_int(path: str, value: Any) -> list[str]:
    if value is None:
        return [_required(path)]
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return [_invalid(path, value, "should be greater than 0")]
    return []


def validate_kubefed_config(obj: Mapping[str, Any], old: Mapping[str, Any] | None = None) -> list[str]:
    """KubeFed's KubeFedConfig admission rules on an already defaulted object; empty list = valid."""
    errs: list[str] = []
    spec = obj.get("spec") or {}
    errs += _enum("spec.scope", spec.get("scope"), ("Cluster", "Namespaced"))
    if old is not None and (old.get("spec") or {}).get("scope") != spec.get("scope"):
        errs.append(_invalid("spec.scope", spec.get("scope"), "cannot modify scope"))
    section = spec.get("controllerDuration")
    if not isinstance(section, Mapping):
        errs.append(_required("spec.controllerDuration"))
    else:
        for key in ("availableDelay", "unavailableDelay", "cacheSyncTimeout"):
            errs += _positive_duration(f"spec.controllerDuration.{key}", section.get(key))[0]
    section = spec.get("leaderElect")
    if not isinstance(section, Mapping):
        errs.append(_required("spec.leaderElect"))
    else:
        path = "spec.leaderElect"
        e1, lease = _positive_duration(f"{path}.leaseDuration", section.get("leaseDuration"))
        e2, renew = _positive_duration(f"{path}.renewDeadline", section.get("renewDeadline"))
        e3, retry = _positive_duration(f"{path}.retryPeriod", section.get("retryPeriod"))
        errs += e1 + e2 + e3
        if not (e1 or e2) and lease <= renew:
            errs.append(
                _invalid(
                    f"{path}.leaseDuration",
                    section["leaseDuration"],
                    "leaseDuration must be greater than renewDeadline",
                )
            )
        if not (e2 or e3) and renew <= 1.2 * retry:
            errs.append(
                _invalid(
                    f"{path}.renewDeadline",
                    section["renewDeadline"],
                    "renewDeadline must be greater than retryPeriod*JitterFactor(1.2)",
                )
            )
        errs += _enum(f"{path}.resourceLock", section.get("resourceLock"), ("configmaps", "endpoints"))
    gates = spec.get("featureGates")
    if gates is None:
        errs.append(_required("spec.featureGates"))
    else:
        seen: set[str] = set()
        for i, gate in enumerate(gates):
            path = f"spec.featureGates[{i}]"
            name = (gate or {}).get("name")
            if name in seen:
                errs.append(f'{path}.name: Duplicate value: "{name}"')
            elif name not in KNOWN_FEATURE_GATES:
                shown = ", ".join(f'"{g}"' for g in sorted(KNOWN_FEATURE_GATES))
                errs.append(f'{path}.name: Unsupported value: "{name}": supported values: {shown}')
            seen.add(str(name))
            errs += _enum(f"{path}.configuration", (gate or {}).get("configuration"), ("Enabled", "Disabled"))
    section = spec.get("clusterHealthCheck")
    if not isinstance(section, Mapping):
        errs.append(_required("spec.clusterHealthCheck"))
    else:
        path = "spec.clusterHealthCheck"
        errs += _positive_duration(f"{path}.period", section.get("period"))[0]
        errs += _positive_int(f"{path}.failureThreshold", section.get("failureThreshold"))
        errs += _positive_int(f"{path}.successThreshold", section.get("successThreshold"))
        errs += _positive_duration(f"{path}.timeout", section.get("timeout"))[0]
    section = spec.get("syncController")
    if not isinstance(section, Mapping):
        errs.append(_required("spec.syncController"))
    else:
        errs += _positive_int(
            "spec.syncController.maxConcurrentReconciles", section.get("maxConcurrentReconciles")
        )
        errs += _enum(
            "spec.syncController.adoptResources", section.get("adoptResources"), ("Enabled", "Disabled")
        )
    section = spec.get("statusController")
    if not isinstance(section, Mapping):
        errs.append(_required("spec.statusController"))
    else:
        errs += _positive_int(
            "spec.statusController.maxConcurrentReconciles", section.get("maxConcurrentReconciles")
        )
    return errs


def _validate_api_resource(path: str, res: Any, *, federated: bool) -> list[str]:
    if not isinstance(res, Mapping):
        return [_required(path)]
    errs: list[str] = []
    group = res.get("group") or ""
    if federated and not group:
        errs.append(_required(f"{path}.group"))
    elif group and not _DNS1123_SUBDOMAIN.match(group):
        errs.append(_invalid(f"{path}.group", group, _DNS1123_MSG))
    elif federated and "." not in group:
        errs.append(_invalid(f"{path}.group", group, "should be a domain with at least one dot"))
    for key, value in (
        ("version", res.get("version")),
        ("kind", str(res.get("kind") or "").lower()),
        ("pluralName", res.get("pluralName")),
    ):
        if not value:
            errs.append(_required(f"{path}.{key}"))
        elif not _DNS1035_LABEL.match(str(value)) or len(str(value)) > 63:
            errs.append(_invalid(f"{path}.{key}", value, _DNS1035_MSG))
    errs += _enum(f"{path}.scope", res.get("scope"), ("Cluster", "Namespaced"))
    return errs


def validate_federated_type_config(obj: Mapping[str, Any]) -> list[str]:
    """KubeFed's FederatedTypeConfig admission rules (spec and status) on a defaulted object."""
    errs: list[str] = []
    name = str((obj.get("metadata") or {}).get("name") or "")
    spec = obj.get("spec") or {}
    target = spec.get("targetType") or {}
    expected = target.get("pluralName") or ""
    if target.get("group"):
        expected = f"{expected}.{target['group']}"
    if name != expected:
        errs.append(_invalid("name", name, f"name must be {expected}"))
    errs += _validate_api_resource("spec.targetType", spec.get("targetType"), federated=False)
    errs += _validate_api_resource("spec.federatedType", spec.get("federatedType"), federated=True)
    if spec.get("statusType") is not None:
        errs += _validate_api_resource("spec.statusType", spec.get("statusType"), federated=True)
    errs += _enum("spec.propagation", spec.get("propagation"), ("Enabled", "Disabled"))
    if spec.get("statusCollection") is not None:
        errs += _enum("spec.statusCollection", spec.get("statusCollection"), ("Enabled", "Disabled"))
    status = obj.get("status")
    if isinstance(status, Mapping):
        gen = status.get("observedGeneration")
        if not isinstance(gen, int) or gen < 0:
            errs.append(_invalid("status.observedGeneration", gen, "must be greater than or equal to 0"))
        errs += _enum(
            "status.propagationController", status.get("propagationController"), ("Running", "NotRunning")
        )
        if status.get("statusController") is not None:
            errs += _enum(
                "status.statusController", status.get("statusController"), ("Running", "NotRunning")
            )
    return errs


def _validate_url(
    path: str, value: str, schemes: tuple[str, ...], *, default_scheme: str | None
) -> list[str]:
    text = value if "://" in value or default_scheme is None else f"{default_scheme}://{value}"
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises on an invalid port
    except ValueError:
        return [_invalid(path, value, "invalid port")]
    if parts.scheme not in schemes:
        return [_invalid(path, value, f"scheme must be one of {', '.join(schemes)}")]
    if not parts.hostname:
        return [_invalid(path, value, "host must be set")]
    return []


def validate_kubefed_cluster(obj: Mapping[str, Any]) -> list[str]:
    """KubeFed's KubeFedCluster admission rules (spec and status)."""
    errs: list[str] = []
    spec = obj.get("spec") or {}
    endpoint = spec.get("apiEndpoint")
    if not endpoint:
        errs.append(_required("spec.apiEndpoint"))
    else:
        errs += _validate_url("spec.apiEndpoint", str(endpoint), ("http", "https"), default_scheme="https")
    ref = (spec.get("secretRef") or {}).get("name")
    if not ref:
        errs.append(_required("spec.secretRef.name"))
    elif not _DNS1123_SUBDOMAIN.match(str(ref)) or len(str(ref)) > 253:
        errs.append(_invalid("spec.secretRef.name", ref, _DNS1123_MSG))
    disabled = spec.get("disabledTLSValidations") or []
    for i, item in enumerate(disabled):
        errs += _enum(f"spec.disabledTLSValidations[{i}]", item, ("*", "SubjectName", "ValidityPeriod"))
    if "*" in disabled and len(disabled) > 1:
        errs.append(
            _invalid(
                "spec.disabledTLSValidations",
                ", ".join(map(str, disabled)),
                "* must be the only field in disabledTLSValidations",
            )
        )
    if spec.get("proxyURL"):
        errs += _validate_url(
            "spec.proxyURL", str(spec["proxyURL"]), ("http", "https", "socks5"), default_scheme=None
        )
    for i, cond in enumerate((obj.get("status") or {}).get("conditions") or []):
        path = f"status.conditions[{i}]"
        errs += _enum(f"{path}.type", cond.get("type"), ("Ready", "Offline", "ConfigMalformed"))
        errs += _enum(f"{path}.status", cond.get("status"), ("True", "False", "Unknown"))
        if not cond.get("lastProbeTime"):
            errs.append(_required(f"{path}.lastProbeTime"))
    return errs


def _seconds(section: str, field: str, value: str | None) -> float:
    """A KubeFedConfig duration in seconds, KubeFed's default when it is unset."""
    return parse_duration(value or str(_CONFIG_DEFAULTS[section][field]))


def decode_kubefed_config_spec(spec: Mapping[str, Any]) -> KubeFedConfigSpec:
    """A KubeFedConfig ``spec`` (a plain dict from the API) as the typed :class:`KubeFedConfigSpec`.

    Raises :class:`ValueError` naming the offending field (``spec.leaderElect.leaseDuration: Expected
    `str` matching regex ...``) when a field has the wrong type or format.
    """
    try:
        return msgspec.convert(spec, KubeFedConfigSpec)
    except msgspec.ValidationError as exc:
        message, _, where = str(exc).rpartition(" - at `")
        path = where.rstrip("`").replace("$", "spec", 1) if message else "spec"
        raise ValueError(f"{path}: {message or exc}") from exc


def effective_config_spec(
    obj: Mapping[str, Any] | None, previous: KubeFedConfigSpec | None = None
) -> tuple[KubeFedConfigSpec, list[str]]:
    """The spec a service runs with: the KubeFedConfig defaulted and decoded, or ``previous`` (else
    KubeFed's defaults) if it is invalid.

    Returns ``(spec, errors)``: KubeFed's admission errors, or a decoding error naming the field; a
    missing config means all defaults (scope ``Cluster``).
    """
    candidate = default_kubefed_config(obj or {"spec": {"scope": "Cluster"}})
    candidate.setdefault("spec", {}).setdefault("scope", "Cluster")
    errors = validate_kubefed_config(candidate)
    if not errors:
        try:
            return decode_kubefed_config_spec(candidate["spec"]), []
        except ValueError as exc:
            errors = [str(exc)]
    return (previous if previous is not None else DEFAULT_KUBEFED_CONFIG_SPEC), errors


DEFAULT_KUBEFED_CONFIG_SPEC: KubeFedConfigSpec = decode_kubefed_config_spec(
    default_kubefed_config({"spec": {"scope": "Cluster"}})["spec"]
)
