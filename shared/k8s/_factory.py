"""Building :class:`KubeClient` instances: from a kubeconfig context, in-cluster, or a KubeFedCluster.

Member-cluster clients follow KubeFed's rules (``pkg/controller/util/cluster_util.go``): the bearer
token comes from key ``token`` of the Secret named by ``spec.secretRef`` (it must be non-empty), the CA
from ``spec.caBundle``, ``disabledTLSValidations: ["*"]`` turns verification off, ``SubjectName`` skips
the hostname check, ``proxyURL`` routes through a proxy. The token lives only in memory and in the
client's auth header; it is never logged.
"""

from __future__ import annotations

import base64
import functools
import os
import ssl
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio import config as k8s_config

from shared.errors import ConfigError
from shared.k8s._client import KubeClient

__all__ = [
    "MEMBERS_LATENCY_HOST",
    "client_for_member",
    "client_from_kubeconfig",
    "client_in_cluster",
    "kubeconfig_contexts",
    "kubeconfig_details",
]


def _load_kubeconfig(path: str | os.PathLike[str] | None) -> tuple[dict[str, Any], Path]:
    p = Path(path or os.environ.get("KUBECONFIG", "") or Path.home() / ".kube" / "config")
    try:
        doc = yaml.safe_load(p.read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read kubeconfig {p}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"kubeconfig {p} is not valid YAML: {exc}") from exc
    return doc, p


def kubeconfig_contexts(path: str | os.PathLike[str] | None = None) -> tuple[list[str], str]:
    """Context names in a kubeconfig and its current context."""
    doc, _ = _load_kubeconfig(path)
    names = [c["name"] for c in doc.get("contexts") or []]
    return names, str(doc.get("current-context") or "")


def kubeconfig_details(path: str | os.PathLike[str] | None, context: str | None) -> dict[str, Any]:
    """Server URL, CA data, TLS and proxy settings of a context (what ``kubefedctl join`` records)."""
    doc, p = _load_kubeconfig(path)
    ctx_name = context or doc.get("current-context")
    ctx = next((c for c in doc.get("contexts") or [] if c["name"] == ctx_name), None)
    if ctx is None:
        raise ConfigError(f'context "{ctx_name}" not found in kubeconfig {p}')
    cluster_name = ctx["context"]["cluster"]
    cluster = next((c["cluster"] for c in doc.get("clusters") or [] if c["name"] == cluster_name), None)
    if cluster is None:
        raise ConfigError(f'cluster "{cluster_name}" of context "{ctx_name}" not found in kubeconfig {p}')
    ca = cluster.get("certificate-authority-data")
    if ca is None and cluster.get("certificate-authority"):
        ca = base64.b64encode(Path(cluster["certificate-authority"]).read_bytes()).decode()
    return {
        "context": ctx_name,
        "server": cluster["server"],
        "caData": ca,
        "insecure": bool(cluster.get("insecure-skip-tls-verify")),
        "proxyURL": cluster.get("proxy-url"),
        "namespace": ctx["context"].get("namespace") or "default",
    }


async def client_from_kubeconfig(
    path: str | os.PathLike[str] | None = None,
    context: str | None = None,
    *,
    name: str | None = None,
    qps: float = 100.0,
    burst: int = 200,
) -> KubeClient:
    """A client for one kubeconfig context (the current one when ``context`` is None)."""
    _, p = _load_kubeconfig(path)
    try:
        api = await k8s_config.new_client_from_config(
            config_file=str(p), context=context, persist_config=False
        )
    except k8s_config.ConfigException as exc:
        raise ConfigError(f"kubeconfig {p}: {exc}") from exc
    return KubeClient(api, name=name or context or "default", qps=qps, burst=burst)


def client_in_cluster(*, name: str = "in-cluster", qps: float = 100.0, burst: int = 200) -> KubeClient:
    """A client from the pod's service-account token and CA."""
    cfg = k8s_client.Configuration()
    try:
        k8s_config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
    except k8s_config.ConfigException as exc:
        raise ConfigError(f"in-cluster config: {exc}") from exc
    return KubeClient(k8s_client.ApiClient(configuration=cfg), name=name, qps=qps, burst=burst)


@functools.cache
def _unverified_tls_context() -> ssl.SSLContext:
    """The one SSLContext of every member with ``disabledTLSValidations: ["*"]`` (no trust store loaded:
    nothing is verified). kubernetes-asyncio would build one per member with the system trust store,
    about 0.8 MB each."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _normalise_endpoint(endpoint: str) -> str:
    if "://" not in endpoint:
        endpoint = "https://" + endpoint
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https"):
        raise ConfigError(f'apiEndpoint "{endpoint}": scheme must be http or https')
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError as exc:
        raise ConfigError(f'apiEndpoint "{endpoint}": invalid port') from exc
    return endpoint.rstrip("/")


# the ``host`` of every member client's request-latency histogram: one histogram per verb for the whole
# fleet instead of one per member (17 series per member and verb; a propagator serving 2,500 members
# exported 240,716 series); requests are still counted per member (``rest_client_requests_total``)
MEMBERS_LATENCY_HOST = "members"


def client_for_member(
    cluster: Mapping[str, Any],
    secret: Mapping[str, Any] | None,
    *,
    qps: float = 20.0,
    burst: int = 30,
    timeout: float = 30.0,
) -> KubeClient:
    """A client for the member described by a KubeFedCluster object and its token Secret."""
    name = str((cluster.get("metadata") or {}).get("name") or "")
    spec = cluster.get("spec") or {}
    if not spec.get("apiEndpoint"):
        raise ConfigError(f'KubeFedCluster "{name}": spec.apiEndpoint is required')
    if secret is None:
        ref = (spec.get("secretRef") or {}).get("name")
        raise ConfigError(f'KubeFedCluster "{name}": secret "{ref}" not found')
    token_b64 = (secret.get("data") or {}).get("token") or ""
    try:
        token = base64.b64decode(token_b64).decode().strip()
    except ValueError as exc:
        raise ConfigError(f'KubeFedCluster "{name}": token in secret is not base64') from exc
    if not token:
        raise ConfigError(f'KubeFedCluster "{name}": the secret has no "token" key or it is empty')
    cfg = k8s_client.Configuration()
    cfg.host = _normalise_endpoint(str(spec["apiEndpoint"]))
    cfg.api_key = {"BearerToken": f"Bearer {token}"}
    disabled = set(spec.get("disabledTLSValidations") or [])
    cleanup = None
    shared_tls: ssl.SSLContext | None = None
    if "*" in disabled:
        cfg.verify_ssl = False
        shared_tls = _unverified_tls_context()
    else:
        if spec.get("caBundle"):
            try:
                ca_pem = base64.b64decode(spec["caBundle"])
            except ValueError as exc:
                raise ConfigError(f'KubeFedCluster "{name}": caBundle is not base64') from exc
            fd, ca_path = tempfile.mkstemp(prefix=f"kubefed-ca-{name}-", suffix=".pem")
            with os.fdopen(fd, "wb") as fh:
                fh.write(ca_pem)
            cfg.ssl_ca_cert = ca_path

            def cleanup() -> None:
                try:
                    os.unlink(ca_path)
                except OSError:
                    pass

        if "SubjectName" in disabled:
            cfg.assert_hostname = False
            cfg.tls_server_name = None
        if "ValidityPeriod" in disabled:
            cfg.disable_strict_ssl_verification = True
    if spec.get("proxyURL"):
        cfg.proxy = str(spec["proxyURL"])
    api = k8s_client.ApiClient(configuration=cfg)
    api.user_agent = "kubefed-controller"
    return KubeClient(
        api,
        name=name,
        qps=qps,
        burst=burst,
        timeout=timeout,
        cleanup=cleanup,
        ssl_context=shared_tls,
        latency_host=MEMBERS_LATENCY_HOST,
    )
