"""Service-account tokens as kube-apiserver issues them: JWTs signed with the cluster's key.

Clients decode these tokens (``exp`` to refresh before expiry, ``sub`` and ``kubernetes.io`` to know
who they are), so an opaque string is not enough. Two kinds, with the claims of
``pkg/serviceaccount/claims.go`` and ``legacy.go``:

* **TokenRequest** (``kubectl create token``, ``serviceaccounts/{name}/token``): ``iss``, ``sub``
  ``system:serviceaccount:<ns>:<name>``, ``aud``, ``exp``, ``iat``, ``nbf``, ``jti`` and
  ``kubernetes.io`` {``namespace``, ``serviceaccount`` {name, uid}, and the bound ``secret`` or
  ``pod`` {name, uid} when the request names one};
* **legacy Secret tokens** (the token controller's ``kubernetes.io/service-account-token`` Secrets):
  ``iss`` ``kubernetes/serviceaccount``, ``sub`` and the ``kubernetes.io/serviceaccount/...`` claims,
  no expiry and no audience.

Authentication is stateless, as in the apiserver: a valid RS256 signature by this cluster's key, a
live ``exp``/``nbf``, an audience the API accepts (TokenRequest tokens), and then the objects the
token names must still exist with the same uids (the service account; the bound Secret or Pod; for
a legacy token, the Secret still holding this very token). Deleting any of them revokes the token.

The RSA key (2048 bits, ~50 ms to make) is created on first use, so clusters that never issue a
token pay nothing; ``/openid/v1/jwks`` and ``/.well-known/openid-configuration`` publish it as
the ServiceAccountIssuerDiscovery endpoints do.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ._rbac import service_account_user

__all__ = ["API_AUDIENCE", "ISSUER", "LEGACY_ISSUER", "ServiceAccountIssuer"]

ISSUER = "https://kubernetes.default.svc.cluster.local"
API_AUDIENCE = ISSUER  # kube-apiserver's --api-audiences default to the issuer
LEGACY_ISSUER = "kubernetes/serviceaccount"
_LEGACY = "kubernetes.io/serviceaccount/"
_SA, _SECRETS, _PODS = ("", "serviceaccounts"), ("", "secrets"), ("", "pods")
_CACHE_LIMIT = 10_000


class ObjectSource(Protocol):
    def peek(self, gp: tuple[str, str], ns: str, name: str) -> dict[str, Any] | None: ...


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint(n: int) -> str:
    return _b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


class ServiceAccountIssuer:
    """Signs and authenticates one cluster's service-account JWTs."""

    __slots__ = ("_key", "_kid", "_verified")

    def __init__(self) -> None:
        self._key: rsa.RSAPrivateKey | None = None
        self._kid = ""
        self._verified: dict[str, dict[str, Any]] = {}  # signature checked once per token

    @property
    def key(self) -> rsa.RSAPrivateKey:
        if self._key is None:
            self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            der = self._key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            self._kid = _b64url(hashlib.sha256(der).digest())  # the apiserver's keyIDFromPublicKey
        return self._key

    @property
    def kid(self) -> str:
        _ = self.key
        return self._kid

    def jwks(self) -> dict[str, Any]:
        """``/openid/v1/jwks``."""
        numbers = self.key.public_key().public_numbers()
        return {
            "keys": [
                {
                    "use": "sig",
                    "kty": "RSA",
                    "kid": self.kid,
                    "alg": "RS256",
                    "n": _uint(numbers.n),
                    "e": _uint(numbers.e),
                }
            ]
        }

    @staticmethod
    def discovery(base_url: str) -> dict[str, Any]:
        """``/.well-known/openid-configuration``."""
        return {
            "issuer": ISSUER,
            "jwks_uri": f"{base_url}/openid/v1/jwks",
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def _sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})

    def request_token(
        self,
        sa: dict[str, Any],
        seconds: int,
        audiences: list[str],
        bound: dict[str, Any] | None = None,
        now: float | None = None,
    ) -> tuple[str, int]:
        """A TokenRequest token for ServiceAccount ``sa``; returns (token, exp)."""
        meta = sa["metadata"]
        iat = int(now if now is not None else time.time())
        private: dict[str, Any] = {
            "namespace": meta["namespace"],
            "serviceaccount": {"name": meta["name"], "uid": meta["uid"]},
        }
        if bound is not None:
            kind = "pod" if bound.get("kind") == "Pod" else "secret"
            private[kind] = {"name": bound["metadata"]["name"], "uid": bound["metadata"]["uid"]}
        claims = {
            "aud": list(audiences),
            "exp": iat + seconds,
            "iat": iat,
            "iss": ISSUER,
            "jti": str(uuid.uuid4()),
            "kubernetes.io": private,
            "nbf": iat,
            "sub": service_account_user(meta["namespace"], meta["name"])[0],
        }
        return self._sign(claims), iat + seconds

    def legacy_token(self, sa: dict[str, Any], secret_name: str) -> str:
        """The token a ``kubernetes.io/service-account-token`` Secret of ``sa`` gets."""
        meta = sa["metadata"]
        return self._sign(
            {
                "iss": LEGACY_ISSUER,
                f"{_LEGACY}namespace": meta["namespace"],
                f"{_LEGACY}secret.name": secret_name,
                f"{_LEGACY}service-account.name": meta["name"],
                f"{_LEGACY}service-account.uid": meta["uid"],
                "sub": service_account_user(meta["namespace"], meta["name"])[0],
            }
        )

    def _claims(self, token: str) -> dict[str, Any] | None:
        claims = self._verified.get(token)
        if claims is None:
            if self._key is None or token.count(".") != 2:
                return None  # no token was ever signed here
            try:
                claims = jwt.decode(
                    token,
                    self._key.public_key(),
                    algorithms=["RS256"],
                    options={
                        "verify_aud": False,
                        "verify_exp": False,
                        "verify_nbf": False,
                        "verify_iat": False,
                    },
                )
            except jwt.InvalidTokenError:
                return None
            if len(self._verified) >= _CACHE_LIMIT:
                self._verified.clear()
            self._verified[token] = claims
        return claims

    def authenticate(
        self, token: str, source: ObjectSource, now: float | None = None
    ) -> tuple[str, tuple[str, ...]] | None:
        """Who a token signed here is, or None when it is invalid, expired, foreign or revoked."""
        claims = self._claims(token)
        if claims is None:
            return None
        if claims.get("iss") == LEGACY_ISSUER:
            return _legacy_user(claims, token, source)
        t = now if now is not None else time.time()
        if not isinstance(claims.get("exp"), int) or t >= claims["exp"] or t < claims.get("nbf", 0):
            return None
        if API_AUDIENCE not in (claims.get("aud") or ()):
            return None
        private = claims.get("kubernetes.io") or {}
        ns, sa = private.get("namespace", ""), private.get("serviceaccount") or {}
        if not _has_uid(source.peek(_SA, ns, sa.get("name", "")), sa.get("uid")):
            return None
        for kind, gp in (("secret", _SECRETS), ("pod", _PODS)):
            ref = private.get(kind)
            if ref is not None and not _has_uid(source.peek(gp, ns, ref.get("name", "")), ref.get("uid")):
                return None
        return service_account_user(ns, sa.get("name", ""))


def _has_uid(obj: dict[str, Any] | None, uid: Any) -> bool:
    return (
        obj is not None and obj["metadata"].get("uid") == uid and not obj["metadata"].get("deletionTimestamp")
    )


def _legacy_user(
    claims: dict[str, Any], token: str, source: ObjectSource
) -> tuple[str, tuple[str, ...]] | None:
    ns = claims.get(f"{_LEGACY}namespace", "")
    name = claims.get(f"{_LEGACY}service-account.name", "")
    secret = source.peek(_SECRETS, ns, claims.get(f"{_LEGACY}secret.name", ""))
    if secret is None or secret["metadata"].get("deletionTimestamp"):
        return None
    stored = (secret.get("data") or {}).get("token")
    if not stored or base64.b64decode(stored) != token.encode():
        return None
    if not _has_uid(source.peek(_SA, ns, name), claims.get(f"{_LEGACY}service-account.uid")):
        return None
    return service_account_user(ns, name)
