"""Test credentials for nats-server: a CA with server and client certificates, nkeys, and operator-mode
JWTs written as ``.creds`` files (what ``nsc`` produces), with the permissions of
:mod:`shared.bus._permissions`.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import nkeys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shared.bus._permissions import permissions_for


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


class Pki:
    """A throw-away CA in ``folder``; certificates are written as ``<name>.pem`` / ``<name>-key.pem``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubefed-test-ca")])
        now = datetime.datetime.now(datetime.UTC)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.ca = folder / "ca.pem"
        self.ca.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, common_name: str, *, server: bool = False) -> tuple[Path, Path]:
        """(certificate, key) for ``CN=<common_name>``; server certificates are for 127.0.0.1/localhost."""
        import ipaddress

        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        cert = builder.sign(self._key, hashes.SHA256())
        cert_path, key_path = self.folder / f"{common_name}.pem", self.folder / f"{common_name}-key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(_key_pem(key))
        return cert_path, key_path


def new_nkey(prefix: int = nkeys.PREFIX_BYTE_USER) -> tuple[str, str]:
    """(seed, public key) of a fresh nkey; the prefix says what it is (user, account, operator)."""
    seed = nkeys.encode_seed(os.urandom(32), prefix).decode()
    return seed, nkeys.from_seed(seed.encode()).public_key.decode()


def write_seed(folder: Path, name: str, seed: str) -> Path:
    path = folder / f"{name}.nk"
    path.write_text(seed + "\n")
    path.chmod(0o600)
    return path


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _jwt(claims: dict[str, Any], signer_seed: str) -> str:
    """A NATS JWT (alg ed25519-nkey) of ``claims`` signed by ``signer_seed``."""
    body = dict(claims)
    body["iat"] = int(time.time())
    body["jti"] = (
        base64.b32encode(hashlib.sha256(json.dumps(body, sort_keys=True).encode()).digest())
        .decode()
        .rstrip("=")
    )
    body["iss"] = nkeys.from_seed(signer_seed.encode()).public_key.decode()
    signing_input = (
        _b64(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
        + "."
        + _b64(json.dumps(body).encode())
    )
    sig = nkeys.from_seed(signer_seed.encode()).sign(signing_input.encode())
    return signing_input + "." + _b64(sig)


_UNLIMITED = {"subs": -1, "data": -1, "payload": -1}


class Operator:
    """Operator mode: an operator, the system account, one account ``KUBEFED`` with JetStream, and
    users whose JWTs carry the permissions of :func:`permissions_for`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._op_seed, self.operator_pub = new_nkey(nkeys.PREFIX_BYTE_OPERATOR)
        self._sys_seed, self.system_pub = new_nkey(nkeys.PREFIX_BYTE_ACCOUNT)
        self._acc_seed, self.account_pub = new_nkey(nkeys.PREFIX_BYTE_ACCOUNT)
        self.operator_jwt = _jwt(
            {
                "name": "kubefed-test",
                "sub": self.operator_pub,
                "nats": {"type": "operator", "version": 2, "system_account": self.system_pub},
            },
            self._op_seed,
        )
        self.system_jwt = self._account("SYS", self.system_pub, jetstream=False)
        self.account_jwt = self._account("KUBEFED", self.account_pub, jetstream=True)

    def _account(self, name: str, pub: str, *, jetstream: bool) -> str:
        limits: dict[str, Any] = {
            **_UNLIMITED,
            "imports": -1,
            "exports": -1,
            "wildcards": True,
            "conn": -1,
            "leaf": -1,
        }
        if jetstream:
            limits.update(
                {
                    "mem_storage": -1,
                    "disk_storage": -1,
                    "streams": -1,
                    "consumer": -1,
                    "max_ack_pending": -1,
                    "mem_max_stream_bytes": -1,
                    "disk_max_stream_bytes": -1,
                    "max_bytes_required": False,
                }
            )
        return _jwt(
            {"name": name, "sub": pub, "nats": {"type": "account", "version": 2, "limits": limits}},
            self._op_seed,
        )

    def server_config(self) -> str:
        return (
            f"operator: {self.operator_jwt}\nsystem_account: {self.system_pub}\nresolver: "
            "MEMORY\nresolver_preload: "
            f"{{\n  {self.system_pub}: {self.system_jwt}\n  {self.account_pub}: {self.account_jwt}\n}}\n"
        )

    def creds(self, user: str, *, inbox_prefix: str | None = None) -> Path:
        """A ``.creds`` file for ``user`` (a name of ``shared.bus._permissions.USERS``)."""
        seed, pub = new_nkey()
        perms = permissions_for(user, inbox_prefix=inbox_prefix)
        claims = {
            "name": user,
            "sub": pub,
            "nats": {
                "type": "user",
                "version": 2,
                **_UNLIMITED,
                "pub": {"allow": list(perms.publish)},
                "sub": {"allow": list(perms.subscribe)},
            },
        }
        token = _jwt(claims, self._acc_seed)
        path = self.folder / f"{user}.creds"
        path.write_text(
            f"-----BEGIN NATS USER JWT-----\n{token}\n------END NATS USER JWT------\n\n"
            "************************* IMPORTANT *************************\n"
            "NKEY Seed printed below can be used to sign and prove identity.\n\n"
            f"-----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
        )
        path.chmod(0o600)
        return path
