"""Flags shared by every service sub-command, each with an environment variable for Deployments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from shared.bus import BusSettings
from shared.runtime import CommonSettings

_COMMON: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
    click.option(
        "--nats",
        "nats_url",
        envvar="KUBEFED_NATS_URL",
        default="nats://127.0.0.1:4222",
        show_default=True,
        help="NATS server URL(s), comma-separated.",
    ),
    click.option("--nats-token", envvar="KUBEFED_NATS_TOKEN", default=None, help="NATS token."),
    click.option("--nats-user", envvar="KUBEFED_NATS_USER", default=None),
    click.option("--nats-password", envvar="KUBEFED_NATS_PASSWORD", default=None),
    click.option("--nats-creds", envvar="KUBEFED_NATS_CREDS", default=None, help="NATS .creds file."),
    click.option("--nats-nkey", envvar="KUBEFED_NATS_NKEY", default=None, help="NATS nkey seed file."),
    click.option("--nats-tls-ca", envvar="KUBEFED_NATS_TLS_CA", default=None),
    click.option("--nats-tls-cert", envvar="KUBEFED_NATS_TLS_CERT", default=None),
    click.option("--nats-tls-key", envvar="KUBEFED_NATS_TLS_KEY", default=None),
    click.option(
        "--nats-inbox-prefix",
        envvar="KUBEFED_NATS_INBOX_PREFIX",
        default=None,
        help="Inbox prefix for replies and deliveries (default _INBOX.<nats user>, else "
        "_INBOX.kubefed-<service>); NATS permissions allow each service only its own.",
    ),
    click.option(
        "--nats-hub-domain",
        envvar="KUBEFED_NATS_HUB_DOMAIN",
        default=None,
        help="Connected to a regional leaf node: the hub's JetStream domain (decisions are mirrored from "
        "it).",
    ),
    click.option(
        "--nats-regions",
        envvar="KUBEFED_NATS_REGIONS",
        default="",
        help="On the hub: comma-separated JetStream domains of regional leaf nodes whose reports the hub's "
        "streams source.",
    ),
    click.option(
        "--stream-replicas", envvar="KUBEFED_STREAM_REPLICAS", default=1, show_default=True, type=int
    ),
    click.option("--kubeconfig", envvar="KUBECONFIG", default=None, help="Kubeconfig of the host cluster."),
    click.option(
        "--context", "context", envvar="KUBEFED_HOST_CONTEXT", default=None, help="Host cluster context."
    ),
    click.option(
        "--in-cluster", is_flag=True, envvar="KUBEFED_IN_CLUSTER", help="Use the pod's service account."
    ),
    click.option(
        "--rest-config-qps",
        envvar="KUBEFED_REST_CONFIG_QPS",
        default=100.0,
        show_default=True,
        type=click.FloatRange(min=0.1),
        help="Request rate limit for the host cluster (KubeFed's flag and v0.9 default).",
    ),
    click.option(
        "--rest-config-burst",
        envvar="KUBEFED_REST_CONFIG_BURST",
        default=200,
        show_default=True,
        type=click.IntRange(min=1),
        help="Request burst for the host cluster.",
    ),
    click.option(
        "--kubefed-namespace", envvar="KUBEFED_NAMESPACE", default="kube-federation-system", show_default=True
    ),
    click.option(
        "--http-port",
        envvar="KUBEFED_HTTP_PORT",
        default=8081,
        show_default=True,
        type=int,
        help="Port of /healthz, /readyz, /metrics (0 = any).",
    ),
    click.option(
        "--grace-period",
        envvar="KUBEFED_GRACE_PERIOD",
        default=30.0,
        show_default=True,
        type=float,
        help="Seconds to finish in-flight work on SIGTERM.",
    ),
]


def common_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_COMMON):
        func = option(func)
    return func


def common_settings(kw: dict[str, Any]) -> CommonSettings:
    """Pop the common flags out of ``kw`` into a CommonSettings."""
    bus = BusSettings(
        url=kw.pop("nats_url"),
        token=kw.pop("nats_token"),
        user=kw.pop("nats_user"),
        password=kw.pop("nats_password"),
        creds_file=kw.pop("nats_creds"),
        nkey_seed_file=kw.pop("nats_nkey"),
        tls_ca_file=kw.pop("nats_tls_ca"),
        tls_cert_file=kw.pop("nats_tls_cert"),
        tls_key_file=kw.pop("nats_tls_key"),
        inbox_prefix=kw.pop("nats_inbox_prefix"),
        hub_domain=kw.pop("nats_hub_domain") or None,
        regions=tuple(r.strip() for r in kw.pop("nats_regions").split(",") if r.strip()),
        stream_replicas=kw.pop("stream_replicas"),
    )
    return CommonSettings(
        bus=bus,
        kubeconfig=kw.pop("kubeconfig"),
        context=kw.pop("context"),
        in_cluster=kw.pop("in_cluster"),
        host_qps=kw.pop("rest_config_qps"),
        host_burst=kw.pop("rest_config_burst"),
        kubefed_namespace=kw.pop("kubefed_namespace"),
        http_port=kw.pop("http_port"),
        grace_period=kw.pop("grace_period"),
    )
