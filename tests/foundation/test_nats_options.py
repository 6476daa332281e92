"""The services' NATS credential flags reach the bus settings (what deploy/ sets as environment).

Covers: ``KUBEFED_NATS_CREDS``, ``KUBEFED_NATS_NKEY``, ``KUBEFED_NATS_TLS_CA/CERT/KEY``,
``KUBEFED_NATS_USER/PASSWORD`` and ``KUBEFED_NATS_INBOX_PREFIX`` become the :class:`BusSettings`
fields that ``tests/bus_cluster/test_permissions.py`` proves against a real nats-server (``.creds`` in
operator mode, nkey seeds, client certificates mapped to users); a flag works like its variable, and
an unset one stays unset.
"""

from __future__ import annotations

from typing import Any

import click
from click.testing import CliRunner

from kubefed._options import common_options, common_settings
from shared.bus import BusSettings


def _bus(env: dict[str, str], *args: str) -> BusSettings:
    seen: list[BusSettings] = []

    @click.command()
    @common_options
    def probe(**kw: Any) -> None:
        seen.append(common_settings(kw).bus)

    result = CliRunner().invoke(probe, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return seen[0]


def test_credential_environment_reaches_the_bus_settings() -> None:
    bus = _bus(
        {
            "KUBEFED_NATS_URL": "tls://nats:4222",
            "KUBEFED_NATS_CREDS": "/etc/kubefed/nats/user.creds",
            "KUBEFED_NATS_NKEY": "/etc/kubefed/nats/seed.nk",
            "KUBEFED_NATS_TLS_CA": "/etc/kubefed/nats-tls/ca.crt",
            "KUBEFED_NATS_TLS_CERT": "/etc/kubefed/nats-tls/tls.crt",
            "KUBEFED_NATS_TLS_KEY": "/etc/kubefed/nats-tls/tls.key",
            "KUBEFED_NATS_USER": "kubefed-dns",
            "KUBEFED_NATS_PASSWORD": "secret",
            "KUBEFED_NATS_INBOX_PREFIX": "_INBOX.kubefed-dns",
        }
    )
    assert (bus.url, bus.creds_file, bus.nkey_seed_file) == (
        "tls://nats:4222",
        "/etc/kubefed/nats/user.creds",
        "/etc/kubefed/nats/seed.nk",
    )
    assert (bus.tls_ca_file, bus.tls_cert_file, bus.tls_key_file) == (
        "/etc/kubefed/nats-tls/ca.crt",
        "/etc/kubefed/nats-tls/tls.crt",
        "/etc/kubefed/nats-tls/tls.key",
    )
    assert (bus.user, bus.password, bus.inbox_prefix) == ("kubefed-dns", "secret", "_INBOX.kubefed-dns")


def test_flags_and_defaults() -> None:
    bus = _bus({}, "--nats-creds", "/x.creds", "--nats-tls-cert", "/c.crt", "--nats-tls-key", "/c.key")
    assert (bus.creds_file, bus.tls_cert_file, bus.tls_key_file) == ("/x.creds", "/c.crt", "/c.key")
    assert bus.nkey_seed_file is None and bus.user is None and bus.tls_ca_file is None
