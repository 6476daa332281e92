"""Decode the protobuf request bodies that kubectl >= 1.32 sends from its generator commands.

``kubectl create namespace|configmap|secret|serviceaccount`` and ``kubectl create token`` send
``application/vnd.kubernetes.protobuf``: the ``k8s\\x00`` magic, then a ``runtime.Unknown``
envelope (typeMeta = 1, raw = 2) whose ``raw`` is the typed object. No Python bindings of the
Kubernetes .proto files exist, so this hand-decodes exactly those five kinds (field numbers from
``k8s.io/api/core/v1/generated.proto``, ``authentication/v1`` and ``apimachinery/.../meta/v1``)
into the JSON shape the store uses. Anything else is answered 415 by the caller.
"""

from __future__ import annotations

import base64
from typing import Any

MAGIC = b"k8s\x00"


class ProtobufError(ValueError):
    pass


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if i >= len(buf):
            raise ProtobufError("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def fields(buf: bytes) -> list[tuple[int, Any]]:
    """(field number, value) pairs; length-delimited values stay bytes, varints become ints."""
    out: list[tuple[int, Any]] = []
    i = 0
    while i < len(buf):
        val: Any
        key, i = _varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            val, i = _varint(buf, i)
        elif wire == 2:
            n, i = _varint(buf, i)
            val, i = buf[i : i + n], i + n
        elif wire == 1:
            val, i = buf[i : i + 8], i + 8
        elif wire == 5:
            val, i = buf[i : i + 4], i + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        out.append((num, val))
    return out


def _map(entries: list[bytes], as_bytes: bool = False) -> dict[str, str]:
    out = {}
    for e in entries:
        f = dict(fields(e))
        key = f.get(1, b"").decode()
        value = f.get(2, b"")
        out[key] = base64.b64encode(value).decode() if as_bytes else value.decode()
    return out


def _group(buf: bytes) -> dict[int, list[Any]]:
    grouped: dict[int, list[Any]] = {}
    for num, val in fields(buf):
        grouped.setdefault(num, []).append(val)
    return grouped


def _object_meta(buf: bytes) -> dict[str, Any]:
    f = _group(buf)
    meta: dict[str, Any] = {}
    for num, name in ((1, "name"), (2, "generateName"), (3, "namespace"), (5, "uid"), (6, "resourceVersion")):
        if num in f and f[num][-1]:
            meta[name] = f[num][-1].decode()
    if 11 in f:
        meta["labels"] = _map(f[11])
    if 12 in f:
        meta["annotations"] = _map(f[12])
    if 14 in f:
        meta["finalizers"] = [v.decode() for v in f[14]]
    return meta


def _namespace(f: dict[int, list[Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    if 2 in f:
        spec = _group(f[2][-1])
        if 1 in spec:
            obj["spec"] = {"finalizers": [v.decode() for v in spec[1]]}
    return obj


def _configmap(f: dict[int, list[Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    if 2 in f:
        obj["data"] = _map(f[2])
    if 3 in f:
        obj["binaryData"] = _map(f[3], as_bytes=True)
    if 4 in f:
        obj["immutable"] = bool(f[4][-1])
    return obj


def _secret(f: dict[int, list[Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    if 2 in f:
        obj["data"] = _map(f[2], as_bytes=True)
    if 3 in f:
        obj["type"] = f[3][-1].decode()
    if 4 in f:
        obj["stringData"] = _map(f[4])
    if 5 in f:
        obj["immutable"] = bool(f[5][-1])
    return obj


def _service_account(f: dict[int, list[Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    if 2 in f:
        obj["secrets"] = [{"name": dict(fields(v)).get(3, b"").decode()} for v in f[2]]
    if 3 in f:
        obj["imagePullSecrets"] = [{"name": dict(fields(v)).get(1, b"").decode()} for v in f[3]]
    if 4 in f:
        obj["automountServiceAccountToken"] = bool(f[4][-1])
    return obj


def _token_request(f: dict[int, list[Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {"spec": {}}
    if 2 in f:
        spec = _group(f[2][-1])
        if 1 in spec:
            obj["spec"]["audiences"] = [v.decode() for v in spec[1]]
        if 3 in spec:  # boundObjectRef {kind=1, apiVersion=2, name=3, uid=4}
            ref = _group(spec[3][-1])
            obj["spec"]["boundObjectRef"] = {
                key: ref[num][-1].decode()
                for num, key in ((1, "kind"), (2, "apiVersion"), (3, "name"), (4, "uid"))
                if num in ref
            }
        if 4 in spec:
            obj["spec"]["expirationSeconds"] = spec[4][-1]
    return obj


_KINDS = {
    ("v1", "Namespace"): _namespace,
    ("v1", "ConfigMap"): _configmap,
    ("v1", "Secret"): _secret,
    ("v1", "ServiceAccount"): _service_account,
    ("authentication.k8s.io/v1", "TokenRequest"): _token_request,
}


def decode(body: bytes) -> dict[str, Any]:
    """The JSON-shaped object in a protobuf request body; ProtobufError if unsupported."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing k8s protobuf magic")
    envelope = dict(fields(body[len(MAGIC) :]))
    type_meta = dict(fields(envelope.get(1, b"")))
    api_version, kind = type_meta.get(1, b"").decode(), type_meta.get(2, b"").decode()
    fn = _KINDS.get((api_version, kind))
    if fn is None:
        raise ProtobufError(f"protobuf bodies of {api_version}/{kind} are not supported")
    f = _group(envelope.get(2, b""))
    obj = {"apiVersion": api_version, "kind": kind, **fn(f)}
    obj["metadata"] = _object_meta(f[1][-1]) if 1 in f else {}
    return obj


def encode_for_test(api_version: str, kind: str, raw: bytes) -> bytes:
    """Wrap ``raw`` in the runtime.Unknown envelope (used by tests)."""

    def ld(num: int, data: bytes) -> bytes:
        return _key(num, 2) + _uvarint(len(data)) + data

    type_meta = ld(1, api_version.encode()) + ld(2, kind.encode())
    return MAGIC + ld(1, type_meta) + ld(2, raw)


def _key(num: int, wire: int) -> bytes:
    return _uvarint(num << 3 | wire)


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)
